"""The composition root: builds the transport, follower, state, streams and supervisor from
Settings, and runs them for as long as the app lives."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import zmq.asyncio

from orchestrator.admin import Admin
from orchestrator.api import Api, ApiSettings
from orchestrator.applied_log import AppliedLog
from orchestrator.config import Settings
from orchestrator.errors import StoreError
from orchestrator.eventlog import EventLog
from orchestrator.follower import BridgeFollower, Consumer
from orchestrator.helpdesk import Helpdesk
from orchestrator.helpdesk_api import HelpdeskApi
from orchestrator.lifecycle import ConnectionLifecycle, LifecycleSettings
from orchestrator.metrics import build_registry
from orchestrator.normalize import normalize
from orchestrator.pacing import Pacer
from orchestrator.pipeline import Pipeline
from orchestrator.principal import Authenticator
from orchestrator.qr_terminal import TerminalQr
from orchestrator.state import State
from orchestrator.store import Store
from orchestrator.store.rows import chat_from_row, contact_from_row, message_from_row
from orchestrator.store.sqlite import SqliteStore
from orchestrator.store.supabase import SupabaseStore
from orchestrator.streams import Streams, StreamSettings
from orchestrator.supervisor import BridgeSupervisor, bridge_environment
from orchestrator.transport.zmq import ZmqCommandChannel, ZmqEventSource, curve_keys
from orchestrator.writebehind import WriteBehind

log = logging.getLogger("orchestrator.runtime")


class Runtime:
    def __init__(self, settings: Settings, api_token: str) -> None:
        self.settings = settings
        self._context = zmq.asyncio.Context()
        secret = settings.curve_secret_key
        curve = curve_keys(
            settings.bridge_curve_server_key,
            settings.curve_public_key,
            secret.get_secret_value() if secret else None,
        )
        self.commands = ZmqCommandChannel(
            self._context, settings.bridge_router, settings.command_timeout, curve
        )
        self.events = ZmqEventSource(self._context, settings.bridge_pub, curve=curve)
        self.lifecycle = ConnectionLifecycle(
            self.commands,
            LifecycleSettings(
                reconnect_initial=settings.reconnect_initial,
                reconnect_max=settings.reconnect_max,
                stable_after=settings.reconnect_stable_after,
                qr_rounds=settings.qr_rounds,
                qr_viewer_window=settings.qr_viewer_window,
            ),
            viewers=lambda: self.streams.stats.sse + self.streams.stats.websocket,
        )
        self.state = State(window=settings.chat_window, max_messages=settings.max_messages)
        self.store = open_store(settings)
        self.helpdesk = Helpdesk(self.store, self.announce)
        secret = settings.supabase_jwt_secret
        self.authenticator = Authenticator(
            api_token,
            jwt_secret=secret.get_secret_value() if secret else None,
            jwks_url=settings.user_jwks_url,
            profile=self.helpdesk.profile,
        )
        self._announced = itertools.count(1)
        self.writebehind = WriteBehind(
            self.store,
            self.state,
            spill_path=settings.data_dir / "store-spill.jsonl",
            max_pending=settings.store_max_pending,
            flush_interval=settings.store_flush_interval,
        )
        self.event_log = EventLog(
            max_entries=settings.stream_retention, max_age=settings.stream_retention_seconds
        )
        # The lifecycle first: the pipeline streams the connection state it computes.
        consumers: list[Consumer] = [
            self.lifecycle,
            Pipeline(
                normalize,
                self.state,
                self.event_log,
                self.lifecycle,
                self.writebehind.record,
                self.helpdesk.chat_extras,
            ),
        ]
        draw_qr = settings.qr_terminal if settings.qr_terminal is not None else sys.stderr.isatty()
        if draw_qr:
            consumers.append(TerminalQr())
        self.follower = BridgeFollower(
            self.events,
            self.commands,
            AppliedLog(settings.data_dir / "applied.log"),
            consumers,
            heartbeat_timeout=settings.bridge_heartbeat_timeout,
            replay_page=settings.replay_page,
        )
        self.streams = Streams(
            self.event_log,
            StreamSettings(
                ping_interval=settings.sse_ping_interval,
                send_timeout=settings.stream_send_timeout,
                poll_max_timeout=settings.poll_max_timeout,
            ),
        )
        self.pacer = Pacer(settings.send_rate, settings.send_burst, settings.send_queue)
        self.registry, send_latency = build_registry(self)
        self.api = Api(
            self.state,
            self.lifecycle,
            self.commands,
            self.store,
            self.helpdesk,
            self.pacer,
            ApiSettings(
                media_dir=settings.data_dir / "media",
                media_max_bytes=settings.media_max_bytes,
                picture_ttl=settings.picture_ttl,
                media_url_allowlist=frozenset(
                    h.strip().lower() for h in settings.media_url_allowlist.split(",") if h.strip()
                ),
            ),
            observe_send=send_latency.observe,
        )
        self.admin = Admin(self, self.registry)
        self.helpdesk_api = HelpdeskApi(self.helpdesk, self.api)
        self.supervisor: BridgeSupervisor | None = None
        if settings.spawn_bridge:
            self.supervisor = BridgeSupervisor(
                settings.bridge_command,
                bridge_environment(
                    os.environ,
                    {
                        "BRIDGE_PUB": settings.bridge_pub,
                        "BRIDGE_ROUTER": settings.bridge_router,
                        "BRIDGE_DATA_DIR": str(settings.bridge_data_dir),
                    },
                ),
                respawn_initial=settings.respawn_initial,
                respawn_max=settings.respawn_max,
            )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self._recover()
        tasks = [
            asyncio.create_task(self.writebehind.run(), name="writebehind"),
            asyncio.create_task(self.follower.run(), name="follower"),
            asyncio.create_task(self._reconcile_forever(), name="reconcile"),
            asyncio.create_task(self.streams.run(), name="streams"),
        ]
        if self.supervisor is not None:
            tasks.append(asyncio.create_task(self.supervisor.run(), name="supervisor"))
        for task in tasks:
            task.add_done_callback(_report_crash)
        try:
            await self._wait_for_first_catch_up()
            yield
        finally:
            if self.supervisor is not None:
                await self.supervisor.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.writebehind.close(timeout=10.0)
            await self.store.close()
            self.events.close()
            self.commands.close()
            self.follower.close()
            self._context.term()

    async def _recover(self) -> None:
        """Load what the store holds and follow the bridge from the position it reached.
        A store that is down is not fatal: the bridge journal still has recent history."""
        try:
            await self.store.open()
            await self.writebehind.flush()  # a spill file left by the last run goes in first
            snapshot = await self.store.load(self.settings.chat_window)
            await self.helpdesk.load()
        except StoreError as exc:
            log.error("store unavailable at start (%s); starting from the bridge journal", exc)
            return
        self.state.load(
            (chat_from_row(r) for r in snapshot.chats),
            (message_from_row(r) for r in snapshot.messages),
            (contact_from_row(r) for r in snapshot.contacts),
            snapshot.aliases,
        )
        self.follower.position = snapshot.position
        self.event_log.from_the_start = snapshot.position is None
        # What was loaded lives as long as the process: keep the collector from rescanning it.
        gc.collect()
        gc.freeze()
        log.info(
            "loaded %d chats and %d messages from the store, at %s",
            len(snapshot.chats), len(snapshot.messages), snapshot.position,
        )  # fmt: skip

    def announce(self, event_type: str, chat_id: str | None, data: dict[str, Any]) -> None:
        """Put a helpdesk event (not a WhatsApp one) on the streams, positioned after the
        bridge event last applied."""
        position = self.follower.position
        prefix = f"{position.epoch}:{position.seq}" if position else "start:0"
        self.event_log.append([(f"{prefix}:m{next(self._announced)}", event_type, chat_id, data)])

    async def _wait_for_first_catch_up(self) -> None:
        """Serve once the state holds what the bridge holds, so a restart never serves half a
        picture; but do not wait for a bridge that is not there."""
        try:
            async with asyncio.timeout(self.settings.startup_timeout):
                await self.follower.first_attempt_done.wait()
        except TimeoutError:
            pass
        if not self.follower.ready.is_set():
            log.warning("the bridge is not answering; serving now, catching up when it does")

    async def _reconcile_forever(self) -> None:
        """Once a heartbeat period: act on what the bridge's heartbeats say right now."""
        while True:
            await asyncio.sleep(self.settings.bridge_heartbeat_timeout)
            self.watch()

    def watch(self) -> None:
        stats, lifecycle = self.follower.stats, self.lifecycle
        silence = self.follower.silence or 0.0
        if self.follower.alive:
            lifecycle.reconcile(stats.bridge_connection, stats.bridge_mode)
            frame_age = (stats.bridge_frame_age_ms or 0) / 1000
            if lifecycle.connected and frame_age > self.settings.watchdog_timeout:
                # Baileys' keep-alive should have noticed; this is the backstop.
                lifecycle.request_reconnect(f"open, but WhatsApp silent for {frame_age:.0f}s")
        elif (
            self.supervisor is not None
            and silence > self.settings.watchdog_timeout
            # A bridge that is running but says nothing (hung): start a new one.
            and self.supervisor.restart(f"no heartbeat for {silence:.0f}s")
        ):
            self.follower.forget_silence()

    def bridge_report(self) -> dict[str, Any]:
        stats = self.follower.stats
        silence = self.follower.silence
        position = self.follower.position
        return {
            "alive": self.follower.alive,
            "epoch": stats.bridge_epoch,
            "seq": stats.bridge_seq,
            "connection": stats.bridge_connection,
            "mode": stats.bridge_mode,
            "applied": {"epoch": position.epoch, "seq": position.seq} if position else None,
            "lastHeartbeatAgeMs": None if silence is None else round(silence * 1000),
            "received": stats.received,
            "appliedEvents": stats.applied,
            "duplicates": stats.duplicates,
            "malformed": stats.malformed,
            "gaps": stats.gaps,
            "replays": stats.replays,
            "replayed": stats.replayed,
            "epochChanges": stats.epoch_changes,
            "positionsLost": stats.positions_lost,
            "reconnects": self.lifecycle.reconnects,
            "lastFrameAgeMs": stats.bridge_frame_age_ms,
            "store": {
                "up": self.writebehind.stats.store_up,
                "pendingRows": self.writebehind.pending,
                "lagSeconds": round(self.writebehind.lag_seconds, 3),
                "lastError": self.writebehind.stats.last_error,
            },
            "spawned": None
            if self.supervisor is None
            else {
                "pid": self.supervisor.pid,
                "restarts": self.supervisor.restarts,
                "nextStartAt": self.supervisor.next_start_at,
            },
        }


def _report_crash(task: asyncio.Task[Any]) -> None:
    """A background task must never end by itself; if one does, say so loudly."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped: %r", task.get_name(), task.exception(), exc_info=task.exception())


def open_store(settings: Settings) -> Store:
    """Supabase when it is configured; otherwise the embedded SQLite file."""
    key = settings.supabase_service_role_key
    if settings.supabase_url and key:
        return SupabaseStore(settings.supabase_url, key.get_secret_value())
    return SqliteStore(settings.data_dir / "store.sqlite3")
