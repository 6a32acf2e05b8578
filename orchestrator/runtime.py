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
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

from orchestrator.admin import Admin
from orchestrator.api import Api, ApiSettings
from orchestrator.app import create_app
from orchestrator.applied_log import AppliedLog
from orchestrator.auth import FailureLimiter, Gate
from orchestrator.callpolicy import CallCollector, CallPolicy
from orchestrator.commands import Bridge
from orchestrator.config import Settings
from orchestrator.console import Console
from orchestrator.errors import MediaStoreConfigError, MediaStoreError, StoreError
from orchestrator.eventlog import EventLog
from orchestrator.follower import BridgeFollower, Consumer
from orchestrator.helpdesk import Helpdesk
from orchestrator.helpdesk_api import HelpdeskApi
from orchestrator.lifecycle import ConnectionLifecycle, LifecycleSettings
from orchestrator.medialinks import MediaLinks
from orchestrator.mediastore import LocalMediaStore, MediaStore, S3MediaStore, S3Settings
from orchestrator.metrics import Measured, build_registry
from orchestrator.normalize.filters import Normalizer
from orchestrator.openapi import document_bytes
from orchestrator.pacing import Pacer
from orchestrator.pipeline import Pipeline
from orchestrator.presence import PresenceApi, PresenceSubscriptions
from orchestrator.principal import Authenticator
from orchestrator.qr_terminal import TerminalQr
from orchestrator.shapes import EventType
from orchestrator.state import State
from orchestrator.store import Store
from orchestrator.store.rows import (
    chat_from_row,
    contact_from_row,
    label_from_row,
    message_from_row,
)
from orchestrator.store.sqlite import SqliteStore
from orchestrator.store.supabase import SupabaseStore
from orchestrator.streams import StreamRoutes, Streams, StreamSettings
from orchestrator.supervisor import BridgeSupervisor, bridge_environment
from orchestrator.transport import BridgeLink
from orchestrator.transport.zmq import ZmqLink, curve_keys
from orchestrator.views import Views
from orchestrator.writebehind import WriteBehind

log = logging.getLogger("orchestrator.runtime")

MEDIA_SWEEP_INTERVAL = 3600.0


class Runtime:
    """`link`: how to reach the bridge; by default ZeroMQ at the configured endpoints."""

    def __init__(self, settings: Settings, api_token: str, link: BridgeLink | None = None) -> None:
        self.settings = settings
        self.link = link or zmq_link(settings)
        self.events = self.link.events
        self.bridge = Bridge(self.link.commands)
        self.lifecycle = ConnectionLifecycle(
            self.bridge,
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
        self.links = MediaLinks(api_token, settings.media_link_ttl)
        self.views = Views(self.state, self.links, self.helpdesk.chat_extras)
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
        self.pacer = Pacer(settings.send_rate, settings.send_burst, settings.send_queue)
        self.calls = CallPolicy(
            self.bridge,
            self.pacer,
            reject=settings.reject_calls,
            message=settings.call_reject_message,
            resolve=self.state.resolve,
        )
        self.normalizer = Normalizer(settings.normalize_options, time.time)
        # The lifecycle first: the pipeline streams the connection state it computes.
        consumers: list[Consumer] = [
            self.lifecycle,
            Pipeline(
                self.normalizer,
                self.state,
                self.event_log,
                self.lifecycle,
                self.writebehind.record,
                self.views,
            ),
            self.calls,
        ]
        self.presence_subscriptions = PresenceSubscriptions()
        consumers.append(self.presence_subscriptions)
        draw_qr = settings.qr_terminal if settings.qr_terminal is not None else sys.stderr.isatty()
        if draw_qr:
            consumers.append(TerminalQr())
        self.follower = BridgeFollower(
            self.events,
            self.bridge,
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
        self.media_store = open_media_store(settings)
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
                        "BRIDGE_MARK_ONLINE_ON_CONNECT": (
                            "true" if settings.mark_online_on_connect else "false"
                        ),
                        "BRIDGE_HISTORY": settings.history_policy.bridge_mode,
                    },
                ),
                respawn_initial=settings.respawn_initial,
                respawn_max=settings.respawn_max,
            )
        self.registry, send_latency = build_registry(
            Measured(
                self.follower, self.supervisor, self.lifecycle, self.streams, self.event_log,
                self.pacer, self.writebehind, self.state,
                normalizer=self.normalizer,
            )
        )  # fmt: skip
        self.registry.register(CallCollector(self.calls))
        self.api = Api(
            self.state,
            self.lifecycle,
            self.bridge,
            self.store,
            self.helpdesk,
            self.pacer,
            self.views,
            self.links,
            ApiSettings(
                media_max_bytes=settings.media_max_bytes,
                ignored_kind=self.normalizer.ignored_kind,
                picture_ttl=settings.picture_ttl,
                media_url_allowlist=frozenset(
                    h.strip().lower() for h in settings.media_url_allowlist.split(",") if h.strip()
                ),
            ),
            self.media_store,
            observe_send=send_latency.observe,
        )
        self.admin = Admin(
            self.lifecycle, self.follower, self.writebehind, self.supervisor, self.bridge,
            self.registry,
            sync=self.state.sync_progress,
        )  # fmt: skip
        self.gate = Gate(
            self.authenticator,
            FailureLimiter(settings.auth_failures_per_minute),
            self.links,
        )

    def app(self) -> Starlette:
        """The HTTP application over this runtime; it runs the runtime for as long as it lives."""
        handlers: list[object] = [
            Console(document_bytes()),
            self.api,
            self.admin,
            HelpdeskApi(self.helpdesk, self.api),
            PresenceApi(self.api, self.bridge, self.lifecycle, self.presence_subscriptions),
            StreamRoutes(
                self.streams,
                lambda principal, session, chat_id: self.helpdesk.can_see(principal, chat_id),
                lambda session, raw_id, principal: self.api.chat(raw_id, principal).id,
                lambda: ("default",),
            ),
        ]
        return create_app(
            handlers,
            self.gate,
            max_body=self.settings.max_body_bytes,
            cors_origins=self.settings.cors_origins,
            lifespan=self.lifespan,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.running():
            yield

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # First: a media store configured wrong stops the start, before anything else runs.
        try:
            await self.media_store.open()
        except MediaStoreConfigError as exc:
            log.critical("not starting: %s", exc)
            raise
        await self._recover()
        tasks = [
            asyncio.create_task(self.writebehind.run(), name="writebehind"),
            asyncio.create_task(self.follower.run(), name="follower"),
            asyncio.create_task(self._reconcile_forever(), name="reconcile"),
            asyncio.create_task(self.streams.run(), name="streams"),
        ]
        if self.supervisor is not None:
            tasks.append(asyncio.create_task(self.supervisor.run(), name="supervisor"))
        if self.settings.media_s3_retention_days is not None:
            tasks.append(asyncio.create_task(self._sweep_media_forever(), name="media-sweep"))
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
            await self.calls.close()
            await self.writebehind.close(timeout=10.0)
            await self.store.close()
            self.link.close()
            self.follower.close()

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
        # Rows stored before ORCH_IGNORE named their kind stay in the store, but not in RAM.
        keep = self.normalizer.keeps
        self.state.load(
            (c for c in map(chat_from_row, snapshot.chats) if keep(c.id)),
            (m for m in map(message_from_row, snapshot.messages) if keep(m.chat_id)),
            (c for c in map(contact_from_row, snapshot.contacts) if keep(c.id)),
            snapshot.aliases,
            (m for m in map(message_from_row, snapshot.waiting) if keep(m.chat_id)),
            (label_from_row(r) for r in snapshot.labels),
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

    def announce(self, event_type: EventType, chat_id: str | None, data: Any) -> None:
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

    async def _sweep_media_forever(self) -> None:
        """Media retention: at start, then hourly (a day's retention is kept to the hour)."""
        while True:
            try:
                deleted = await self.media_store.sweep(time.time())
                if deleted:
                    log.info("media retention: deleted %d objects", deleted)
            except MediaStoreError as exc:
                log.warning("media retention sweep failed (next in an hour): %s", exc)
            await asyncio.sleep(MEDIA_SWEEP_INTERVAL)

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


def _report_crash(task: asyncio.Task[Any]) -> None:
    """A background task must never end by itself; if one does, say so loudly."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped: %r", task.get_name(), task.exception(), exc_info=task.exception())


def zmq_link(settings: Settings) -> ZmqLink:
    secret = settings.curve_secret_key
    curve = curve_keys(
        settings.bridge_curve_server_key,
        settings.curve_public_key,
        secret.get_secret_value() if secret else None,
    )
    return ZmqLink(settings.bridge_pub, settings.bridge_router, settings.command_timeout, curve)


def open_store(settings: Settings) -> Store:
    """Supabase when it is configured; otherwise the embedded SQLite file."""
    key = settings.supabase_service_role_key
    if settings.supabase_url and key:
        return SupabaseStore(settings.supabase_url, key.get_secret_value())
    return SqliteStore(settings.data_dir / "store.sqlite3")


def open_media_store(settings: Settings) -> MediaStore:
    """The S3-compatible bucket when ORCH_MEDIA_S3_URL is set; otherwise data_dir/media."""
    if settings.media_s3_url is None or settings.media_s3_bucket is None:
        return LocalMediaStore(settings.data_dir / "media")
    secret = settings.media_s3_secret_key
    return S3MediaStore(
        S3Settings(
            endpoint=settings.media_s3_url,
            bucket=settings.media_s3_bucket,
            access_key=settings.media_s3_access_key,
            secret_key=secret.get_secret_value() if secret else None,
            region=settings.media_s3_region,
            presign=settings.media_s3_presign,
            public_endpoint=settings.media_s3_public_url,
            retention_days=settings.media_s3_retention_days,
        )
    )
