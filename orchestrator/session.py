"""One WhatsApp number ("session"): its bridge link, connection lifecycle, RAM state, follower,
write-behind, send pacing and the per-number routes. Sessions share only what the hub hands
them (the metadata store and helpdesk, the stream log, the media store and link signer), so one
number's crash, ban, logout or memory blow-up leaves the others alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchestrator.admin import Admin
from orchestrator.agentpresence import AgentPresence
from orchestrator.api import Api, ApiSettings
from orchestrator.applied_log import AppliedLog
from orchestrator.bridgeid import IdentityCheck
from orchestrator.callpolicy import CallPolicy
from orchestrator.commands import Bridge
from orchestrator.config import Settings
from orchestrator.desksettings import SettingsApi, SettingsBook
from orchestrator.domain import Message
from orchestrator.errors import CommandError, StoreError, TransportError
from orchestrator.eventlog import AnnouncementNumbers, Entry, EventLog
from orchestrator.follower import BridgeFollower, Consumer
from orchestrator.helpdesk import SessionHelpdesk
from orchestrator.helpdesk_api import HelpdeskApi
from orchestrator.lifecycle import ConnectionLifecycle, LifecycleSettings, backoff_delay
from orchestrator.medialinks import MediaLinks
from orchestrator.mediastore import MediaStore
from orchestrator.normalize.filters import Normalizer
from orchestrator.pacing import Pacer
from orchestrator.pipeline import Pipeline
from orchestrator.presence import PresenceApi, PresenceSubscriptions
from orchestrator.qr_terminal import TerminalQr
from orchestrator.rules import OnlineAgents, Rules
from orchestrator.search_api import SearchApi
from orchestrator.shapes import DEFAULT_SESSION, EventType
from orchestrator.state import Change, State
from orchestrator.store import Snapshot, Store
from orchestrator.store.rows import (
    chat_from_row,
    contact_from_row,
    label_from_row,
    message_from_row,
)
from orchestrator.store.sqlite import SqliteStore
from orchestrator.supervisor import BridgeSupervisor, bridge_environment
from orchestrator.transport import BridgeLink
from orchestrator.transport.zmq import ZmqLink, curve_keys
from orchestrator.urlguard import allowlist
from orchestrator.views import Views
from orchestrator.webhook_delivery import Webhooks
from orchestrator.windowfill import WindowFill
from orchestrator.wire import Position
from orchestrator.writebehind import StoredLog, StreamMark, WriteBehind

if TYPE_CHECKING:  # imported where used: nats-py and supabase take 0.8 s to import
    from orchestrator.sharedpace import SharedBucket
    from orchestrator.transport.nats import NatsHub
    from orchestrator.writerlease import WriterLease

log = logging.getLogger("orchestrator.session")

# A start loads each chat's newest message (what the chat list shows) and serves; the rest of
# every window follows (orchestrator.windowfill). 200,000 stored messages: 3.2 s to serve
# when the start loaded every window.
START_PAGE = 1
LEASE_WATCH = 1.0  # seconds between looks at whether this replica holds the writer lease

IPC_PATH_MAX = 100  # a Unix socket path has room for 107 bytes; keep a margin


@dataclass(frozen=True)
class SessionSpec:
    """What a session is made of. `pub`/`router` None: the orchestrator spawns the bridge at
    endpoints of its own (spawn mode); set: the bridge runs elsewhere, there."""

    id: str
    name: str
    pub: str | None = None
    router: str | None = None
    # May hold credentials: never logged (not even in a repr), never answered.
    proxy: str | None = field(default=None, repr=False)

    @property
    def external(self) -> bool:
        return self.pub is not None

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "bridge_pub": self.pub,
            "bridge_router": self.router,
            "proxy": self.proxy,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SessionSpec:
        return cls(
            id=row["id"],
            name=row.get("name") or row["id"],
            pub=row.get("bridge_pub"),
            router=row.get("bridge_router"),
            proxy=row.get("proxy"),
        )

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SessionSpec:
        """From what POST /sessions and ORCH_SESSIONS say: {id, name?, bridge?, proxy?}."""
        bridge = body.get("bridge")
        return cls(
            id=body["id"],
            name=body.get("name") or body["id"],
            pub=bridge["pub"] if bridge else None,
            router=bridge["router"] if bridge else None,
            proxy=body.get("proxy"),
        )


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def proxy_problem(proxy: str) -> str | None:
    """What the bridge would refuse in a proxy URL (it would not start), or None."""
    try:
        parts = urlsplit(proxy)
        port = parts.port
    except ValueError as exc:
        return f"not a URL the bridge can use: {exc}"
    if parts.scheme not in PROXY_SCHEMES:
        return f"the scheme must be one of {', '.join(PROXY_SCHEMES)}"
    if not parts.hostname:
        return "a host is required"
    if port == 0:
        return "port 0"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "only scheme://[user:pass@]host:port"
    return None


def proxy_without_credentials(proxy: str | None) -> str | None:
    """scheme://host:port: what may be shown of a proxy."""
    if proxy is None:
        return None
    parts = urlsplit(proxy)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Shared:
    """What the hub lends every session."""

    settings: Settings
    metadata_store: Store  # the default session's store: it also holds the helpdesk metadata
    event_log: EventLog
    media_store: MediaStore
    links: MediaLinks
    viewers: Callable[[], int]  # stream clients connected: they would see a new QR
    announce_counter: AnnouncementNumbers
    observe_send: Callable[[str, float], None]  # (session id, seconds): the send histogram
    nats: NatsHub | None = None  # ORCH_NATS_URL: every session's link goes through it
    agent_presence: AgentPresence | None = None  # who of the helpdesk is online, typing
    # Every session's helpdesk settings (on the metadata store), and who is online to take
    # chats: (session) -> user ids (the runtime gives AgentPresence.online).
    desk_settings: SettingsBook | None = None
    online_agents: OnlineAgents = lambda session: []
    webhooks: Webhooks | None = None  # every session's stream entries go to the endpoints


class Session:
    """`link`: how to reach the bridge; by default NATS when the hub has a connection to it
    (ORCH_NATS_URL), else ZeroMQ at the spec's (or spawn) endpoints."""

    def __init__(
        self,
        spec: SessionSpec,
        shared: Shared,
        helpdesk: SessionHelpdesk,
        link: BridgeLink | None = None,
    ) -> None:
        settings = shared.settings
        self.spec = spec
        self.id = spec.id
        self.shared = shared
        self.directory = session_directory(settings.data_dir, spec.id)
        self.pub, self.router = endpoints(spec, settings, self.directory)
        # Whether the bridge at the link's end is ours (bridgeid.py): only a ZeroMQ link can
        # reach another orchestrator's bridge; a NATS one is the session's by its subjects.
        spawned = settings.spawn_bridge and not spec.external
        environment = bridge_environment(os.environ, *self.bridge_variables()) if spawned else {}
        identity: IdentityCheck | None = None
        if link is None:
            nats = shared.nats
            link = nats.link(spec.id) if nats else zmq_link(settings, self.pub, self.router)
            if nats is None:
                identity = (
                    # The bridge we start, in the data dir we give it, under the session we name.
                    IdentityCheck.spawned(
                        Path(environment["BRIDGE_DATA_DIR"]),
                        environment.get("BRIDGE_SESSION") or DEFAULT_SESSION,
                    )
                    if spawned
                    else IdentityCheck.learned_in(self.directory)
                )
        self.link = link
        self.bridge = Bridge(self.link.commands, refuse=lambda: self.follower.wrong_bridge)
        self.lifecycle = ConnectionLifecycle(
            self.bridge,
            LifecycleSettings(
                reconnect_initial=settings.reconnect_initial,
                reconnect_max=settings.reconnect_max,
                stable_after=settings.reconnect_stable_after,
                qr_rounds=settings.qr_rounds,
                qr_viewer_window=settings.qr_viewer_window,
            ),
            viewers=shared.viewers,
            session=spec.id,
        )
        self.state = State(window=settings.chat_window, max_messages=settings.max_messages)
        self.store = (
            shared.metadata_store if spec.id == DEFAULT_SESSION else open_store(settings, spec.id)
        )
        self.window_fill = WindowFill(self.state, self.store, session=spec.id)
        self.helpdesk = helpdesk
        self.links = shared.links.for_session(spec.id)
        self.views = Views(self.state, self.links, helpdesk.chat_extras, helpdesk.chat_status)
        helpdesk.bind_chat_view(self._chat_json)
        stored_log = (
            StoredLog(settings.stream_retention, settings.stream_retention_seconds)
            if settings.stream_log_stored
            else None
        )
        # Replicas sharing one store (Supabase, on NATS) write a number's history only while
        # they hold its writer lease: one writer, so an older state never overwrites a newer.
        self.writer_lease: WriterLease | None = None
        self._shares_store = shared.nats is not None and settings.supabase_url is not None
        self.writebehind = WriteBehind(
            self.store,
            self.state,
            may_write=self._holds_writer_lease if self._shares_store else None,
            spill_path=self.directory / "store-spill.jsonl",
            # The stored log supersedes the mark: the position row holds the stream id too.
            mark_path=None if stored_log else self.directory / "stream-mark.json",
            max_pending=settings.store_max_pending,
            flush_interval=settings.store_flush_interval,
            stored_log=stored_log,
        )
        if shared.webhooks is not None:
            shared.webhooks.attach(
                spec.id,
                self.store,
                self.writebehind,
                # With replicas, only the writer delivers (the others would post it again).
                self._holds_writer_lease if self._shares_store else lambda: True,
            )
        self.pacer = Pacer(
            settings.send_rate,
            settings.send_burst,
            settings.send_queue,
            shared=shared_pace(shared.nats, settings, spec.id),
        )
        self.calls = CallPolicy(
            self.bridge,
            self.pacer,
            reject=settings.reject_calls,
            message=settings.call_reject_message,
            resolve=self.state.resolve,
        )
        self.normalizer = Normalizer(settings.normalize_options, time.time)
        self.presence_subscriptions = PresenceSubscriptions()
        # The lifecycle first: the pipeline streams the connection state it computes.
        consumers: list[Consumer] = [
            self.lifecycle,
            Pipeline(
                self.normalizer,
                self.state,
                shared.event_log,
                self.lifecycle,
                self._record,
                self.views,
                session=spec.id,
                customer_wrote=self._customer_wrote,
            ),
            self.calls,
            self.presence_subscriptions,
        ]
        if settings.qr_terminal if settings.qr_terminal is not None else sys.stderr.isatty():
            consumers.append(TerminalQr())
        self.follower = BridgeFollower(
            self.link.events,
            self.bridge,
            AppliedLog(self.directory / "applied.log"),
            consumers,
            heartbeat_timeout=settings.bridge_heartbeat_timeout,
            replay_page=settings.replay_page,
            session=spec.id,
            identity=identity,
            before_apply=self.window_fill.before_apply,
        )
        self.supervisor: BridgeSupervisor | None = None
        if spawned:
            self.supervisor = BridgeSupervisor(
                settings.bridge_command,
                environment,
                respawn_initial=settings.respawn_initial,
                respawn_max=settings.respawn_max,
                name=spec.id,
            )
        self.api = Api(
            self.state,
            self.lifecycle,
            self.bridge,
            self.store,
            helpdesk,
            self.pacer,
            self.views,
            self.links,
            ApiSettings(
                media_max_bytes=settings.media_max_bytes,
                ignored_kind=self.normalizer.ignored_kind,
                picture_ttl=settings.picture_ttl,
                media_url_allowlist=allowlist(settings.media_url_allowlist),
                session=spec.id,
            ),
            shared.media_store,
            observe_send=lambda seconds: shared.observe_send(spec.id, seconds),
            window_fill=self.window_fill,
            written=self.writebehind.written,
        )
        book = shared.desk_settings or SettingsBook(shared.metadata_store)
        self.rules = Rules(
            spec.id,
            book,
            shared.metadata_store,
            helpdesk,
            self.state,
            self.api.send_text,
            shared.online_agents,
            helpdesk.conversation,
        )
        self.admin = Admin(
            self.lifecycle,
            self.follower,
            self.writebehind,
            self.supervisor,
            self.bridge,
            sync=self.state.sync_progress,
            transport=self.link.report,
        )
        # The handlers of the per-number routes, found by class (app.bind).
        self.handlers: list[object] = [
            self.api,
            self.admin,
            HelpdeskApi(helpdesk, self.api, shared.agent_presence),
            PresenceApi(self.api, self.bridge, self.lifecycle, self.presence_subscriptions),
            SearchApi(self.api),
            SettingsApi(book, spec.id),
        ]
        self._tasks: list[asyncio.Task[Any]] = []

    def _record(
        self,
        changes: list[Change],
        position: Position,
        stream_id: str | None,
        entries: Sequence[Entry],
    ) -> None:
        """The pipeline's changes to the store, and its stream entries to the webhooks (whose
        outbox rows go with the same batch)."""
        self.writebehind.record(changes, position, stream_id, entries)
        if self.shared.webhooks is not None:
            self.shared.webhooks.offer(self.id, entries)

    def _chat_json(self, chat_id: str) -> Any:
        chat = self.state.chats.get(chat_id)
        return None if chat is None else self.views.chat(chat)

    def _customer_wrote(self, chat_id: str, message: Message) -> None:
        """The one seam for the helpdesk's rules on a customer's new message (live, or
        delivered late; never history): each rule decides for itself and must not block.
        Replicas sharing a store each apply the message: only the writer writes."""
        writes = not self._shares_store or self._holds_writer_lease()
        self.helpdesk.customer_wrote(chat_id, message, persist=writes)  # reopens: first
        if writes:  # the rules record their runs in the store: the writer acts for all
            self.rules.customer_wrote(chat_id, message)

    def bridge_variables(self) -> tuple[dict[str, str], dict[str, str]]:
        """What a spawned bridge is told on top of the orchestrator's environment: the settings
        an operator's BRIDGE_* variable may override, and what is the session's own whatever
        the environment says (another session's endpoints or data would be a disaster)."""
        settings = self.shared.settings
        derived = {
            "BRIDGE_MARK_ONLINE_ON_CONNECT": "true" if settings.mark_online_on_connect else "false",
            "BRIDGE_HISTORY": settings.history_policy.bridge_mode,
        }
        own = {
            "BRIDGE_PUB": self.pub,
            "BRIDGE_ROUTER": self.router,
            "BRIDGE_DATA_DIR": str(bridge_data_directory(settings, self.id)),
            # Announced with its data dir's id (bridgeid.py): which session it serves.
            "BRIDGE_SESSION": self.id,
        }
        if settings.nats_url:
            # The same stream and subjects as ours, and this session's subjects.
            derived["BRIDGE_NATS_URL"] = settings.nats_url
            own |= {
                "BRIDGE_NATS_STREAM": settings.nats_stream,
                "BRIDGE_NATS_PREFIX": settings.nats_prefix,
                "BRIDGE_NATS_MAX_AGE_S": str(settings.nats_max_age_s),
                "BRIDGE_NATS_MAX_BYTES": str(settings.nats_max_bytes),
                "BRIDGE_NATS_REPLICAS": str(settings.nats_replicas),
            }
        if self.spec.proxy:
            own["BRIDGE_PROXY"] = self.spec.proxy
        if self.id == DEFAULT_SESSION:  # as before sessions: the environment may say otherwise
            return {**own, **derived}, {}
        return derived, own

    # ---- running ------------------------------------------------------------------------

    async def start(self) -> None:
        """Load what the store holds, then follow the bridge from the position it reached."""
        self.directory.mkdir(parents=True, exist_ok=True)
        await self._recover()
        # Before the follower: what it replays is offered after what was owed.
        owed = self.shared.webhooks is not None and not await self._resume_webhooks()
        self._tasks = [
            asyncio.create_task(self.writebehind.run(), name=f"writebehind[{self.id}]"),
            asyncio.create_task(self.follower.run(), name=f"follower[{self.id}]"),
            asyncio.create_task(self.window_fill.run(), name=f"window-fill[{self.id}]"),
            asyncio.create_task(self._reconcile_forever(), name=f"reconcile[{self.id}]"),
        ]
        if self.supervisor is not None:
            self._tasks.append(
                asyncio.create_task(self.supervisor.run(), name=f"supervisor[{self.id}]")
            )
        if owed:  # the store was down: what it owes is resumed once it answers
            self._tasks.append(
                asyncio.create_task(self._resume_webhooks_later(), name=f"webhooks[{self.id}]")
            )
        if self._shares_store:
            self._tasks.append(
                asyncio.create_task(self._hold_writer_lease(), name=f"writer-lease[{self.id}]")
            )
            if self.shared.webhooks is not None:
                self._tasks.append(
                    asyncio.create_task(
                        self._deliver_while_writer(self.shared.webhooks),
                        name=f"webhooks[{self.id}]",
                    )
                )
        for task in self._tasks:
            task.add_done_callback(report_crash)

    def _holds_writer_lease(self) -> bool:
        return self.writer_lease is not None and self.writer_lease.held

    async def _hold_writer_lease(self) -> None:
        assert self.shared.nats is not None
        client = await self.shared.nats.connection()  # NATS may come up after we do
        settings = self.shared.settings
        from orchestrator.writerlease import WriterLease

        self.writer_lease = WriterLease(
            client.jetstream(),
            prefix=settings.nats_prefix,
            session=self.id,
            replica=settings.replica_id,
        )
        await self.writer_lease.run()

    async def _resume_webhooks(self) -> bool:
        assert self.shared.webhooks is not None
        try:
            await self.shared.webhooks.recover(self.id)
        except StoreError as exc:
            log.error("session %s: webhook outbox unreadable (retrying): %s", self.id, exc)
            return False
        return True

    async def _resume_webhooks_later(self) -> None:
        attempt = 0
        while not await self._resume_webhooks():
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, 1.0, 30.0, random.Random()))

    async def _deliver_while_writer(self, webhooks: Webhooks) -> None:
        """With replicas, the writer delivers: taking the lease over, it resumes what the
        store says is owed; losing it, it stops (the new writer resumes the same)."""
        delivering = False
        while True:
            if self._holds_writer_lease() and not delivering:
                delivering = await self._resume_webhooks()
            elif delivering and not self._holds_writer_lease():
                webhooks.release(self.id)
                delivering = False
            await asyncio.sleep(LEASE_WATCH)

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.shared.webhooks is not None:  # what it posted is stored below; the rest waits
            self.shared.webhooks.detach(self.id)
        await self.calls.close()
        await self.rules.close()
        await self.helpdesk.flush()
        await self.writebehind.close(timeout=10.0)
        if self.writer_lease is not None:  # after the last write: the next writer starts now
            await self.writer_lease.release()
        if self.store is not self.shared.metadata_store:
            await self.store.close()
        self.link.close()
        self.follower.close()

    async def retire(self) -> None:
        """Before a delete: a bridge running elsewhere is not ours to stop, but its WhatsApp
        connection is closed, so the number stops receiving for a session that is gone."""
        if self.spec.external and self.follower.alive:
            try:
                await self.bridge.disconnect()
            except (CommandError, TransportError) as exc:
                log.warning("session %s: could not close its bridge's connection: %s", self.id, exc)
        await self.stop()

    async def wait_for_first_catch_up(self, timeout: float) -> None:
        """Serve once the state holds what the bridge holds, so a restart never serves half a
        picture; but do not wait for a bridge that is not there."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.follower.first_attempt_done.wait()
        if self.follower.wrong_bridge is not None:
            log.error(
                "session %s: serving without a bridge: the one at its endpoints is not its own",
                self.id,
            )
        elif not self.follower.ready.is_set():
            log.warning(
                "session %s: the bridge is not answering; serving now, catching up when it does",
                self.id,
            )

    def purge_files(self) -> None:
        """Delete what this session keeps on disk (the default session keeps its data dir)."""
        if self.id != DEFAULT_SESSION:
            shutil.rmtree(self.directory, ignore_errors=True)
            shutil.rmtree(bridge_data_directory(self.shared.settings, self.id), ignore_errors=True)

    async def _recover(self) -> None:
        """A store that is down is not fatal: the bridge journal still has recent history."""
        try:
            if self.store is not self.shared.metadata_store:
                await self.store.open()
            await self.writebehind.flush()  # a spill file left by the last run goes in first
            snapshot = await self.store.load(START_PAGE)
        except StoreError as exc:
            log.error(
                "session %s: store unavailable at start (%s); starting from the bridge journal",
                self.id, exc,
            )  # fmt: skip
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
            page=START_PAGE,
        )
        self.follower.position = self.follower.applied = snapshot.position
        self.writebehind.loaded(snapshot)
        if snapshot.position is not None:
            self._resume_stream_log(snapshot)
        log.info(
            "session %s: loaded %d chats, %d messages and %d stream entries from the store, at %s",
            self.id, len(snapshot.chats), len(snapshot.messages), len(snapshot.entries),
            snapshot.position,
        )  # fmt: skip

    def _resume_stream_log(self, snapshot: Snapshot) -> None:
        """The stream log as it stood at the stored position: its stored entries (the follower
        goes on after them with the same ids), or, when none is stored, the session's last id
        there, from which a client resumes with the first entry the follower adds."""
        event_log = self.shared.event_log
        event_log.from_the_start = False  # the log began before what is stored of it
        if self.writebehind.stored_log is not None and snapshot.entries:
            entries = [(e.id, e.type, e.chat_id, e.json, e.at) for e in snapshot.entries]
            event_log.preload(self.id, entries, time.time())
            self.shared.announce_counter.skip_past([e.id for e in snapshot.entries])
            return
        stream_id = snapshot.stream_id
        if stream_id is None:  # a store written before the position held it: the mark file
            mark = StreamMark.read(self.directory / "stream-mark.json")
            if mark is not None and mark.position == snapshot.position:
                stream_id = mark.stream_id
        if stream_id is not None:
            event_log.resumable(self.id, stream_id)

    def announce(self, event_type: EventType, chat_id: str | None, data: Any) -> None:
        """Put a helpdesk event (not a WhatsApp one) on the streams, positioned after the
        bridge event last applied."""
        entries = self.shared.event_log.append(
            [(self.announcement_id(), event_type, chat_id, data)], session=self.id
        )
        self.writebehind.log_entries(entries)
        if self.shared.webhooks is not None:
            self.shared.webhooks.offer(self.id, entries)

    def announcement_id(self) -> str:
        """A stream id after the bridge event last applied, unique in the process."""
        position = self.follower.position
        prefix = f"{position.epoch}:{position.seq}" if position else "start:0"
        return f"{prefix}:m{next(self.shared.announce_counter)}"

    async def _reconcile_forever(self) -> None:
        """Once a heartbeat period: act on what the bridge's heartbeats say right now."""
        while True:
            await asyncio.sleep(self.shared.settings.bridge_heartbeat_timeout)
            self.watch()

    def watch(self) -> None:
        settings, stats, lifecycle = self.shared.settings, self.follower.stats, self.lifecycle
        silence = self.follower.silence or 0.0
        if self.follower.alive:
            lifecycle.reconcile(stats.bridge_connection, stats.bridge_mode)
            frame_age = (stats.bridge_frame_age_ms or 0) / 1000
            if lifecycle.connected and frame_age > settings.watchdog_timeout:
                # Baileys' keep-alive should have noticed; this is the backstop.
                lifecycle.request_reconnect(f"open, but WhatsApp silent for {frame_age:.0f}s")
        elif (
            self.supervisor is not None
            and silence > settings.watchdog_timeout
            # A bridge that is running but says nothing (hung): start a new one.
            and self.supervisor.restart(f"no heartbeat for {silence:.0f}s")
        ):
            self.follower.forget_silence()


def report_crash(task: asyncio.Task[Any]) -> None:
    """A background task must never end by itself; if one does, say so loudly."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped: %r", task.get_name(), task.exception(), exc_info=task.exception())


def session_directory(data_dir: Path, session_id: str) -> Path:
    """The default session keeps the data dir's top level (as before sessions existed)."""
    return data_dir if session_id == DEFAULT_SESSION else data_dir / "sessions" / session_id


def bridge_data_directory(settings: Settings, session_id: str) -> Path:
    if session_id == DEFAULT_SESSION:
        return settings.bridge_data_dir
    return settings.data_dir / "sessions" / session_id / "bridge"


def endpoints(spec: SessionSpec, settings: Settings, directory: Path) -> tuple[str, str]:
    """The default session's are the configured ones; a spawned session's are Unix sockets in
    its directory (loopback TCP on free ports when that path is too long for a socket)."""
    if spec.pub is not None and spec.router is not None:
        return spec.pub, spec.router
    if spec.id == DEFAULT_SESSION:
        return settings.bridge_pub, settings.bridge_router
    base = directory.resolve()
    pub, router = base / "bridge-pub.sock", base / "bridge-router.sock"
    if len(str(router)) <= IPC_PATH_MAX:
        return f"ipc://{pub}", f"ipc://{router}"
    return f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def zmq_link(settings: Settings, pub: str, router: str) -> ZmqLink:
    secret = settings.curve_secret_key
    curve = curve_keys(
        settings.bridge_curve_server_key,
        settings.curve_public_key,
        secret.get_secret_value() if secret else None,
    )
    return ZmqLink(pub, router, settings.command_timeout, curve)


def shared_pace(nats: NatsHub | None, settings: Settings, session_id: str) -> SharedBucket | None:
    """With NATS, replicas may send for this number together: its pace is shared by them."""
    if nats is None:
        return None
    from orchestrator.sharedpace import SharedBucket, bucket_opener

    opener = bucket_opener(nats.connection, settings.nats_prefix)
    hub = nats
    return SharedBucket(
        opener,
        session_id,
        settings.send_rate,
        settings.send_burst,
        connected=lambda: hub.connected,
    )


def open_store(settings: Settings, session_id: str = DEFAULT_SESSION) -> Store:
    """A session's store: its rows in Supabase when that is configured; otherwise its own
    SQLite file (the default session's also holds the helpdesk metadata)."""
    key = settings.supabase_service_role_key
    if settings.supabase_url and key:
        from orchestrator.store.supabase import SupabaseStore

        return SupabaseStore(settings.supabase_url, key.get_secret_value(), session=session_id)
    return SqliteStore(session_directory(settings.data_dir, session_id) / "store.sqlite3")
