"""SSE, WebSocket and long-poll endpoints over the event log.

A client names the last id it saw (SSE `Last-Event-ID` or `?lastEventId=`, `?since=`), or the
last id it saw of each session, comma-separated (a composite position); it gets exactly what came
after, or, when that position is no longer retained, a `resync` envelope first and then the live
stream: never a partial replay. A composite stays exact after an orchestrator restart, which
rebuilds each session's sequence but interleaves the sessions differently: each session resumes
after its own id, and a session it does not name from the earliest named position.

A client holds only an offset into the shared log; each write sends everything it has pending in
one go, under a timeout, so a client that stops reading is dropped instead of slowing anyone
else. When a session is deleted its readers get a final `session_deleted` envelope, and a
stream that named only deleted sessions (`?session=`) ends after it.

On shutdown (`shutdown`, on SIGTERM) every stream ends at once, so that the server can stop:
SSE clients get a `retry:` hint and the end of the response, WebSocket clients close code 1012
(service restart), long-polls their answer. Each resumes from its last id on the next server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestrator.calls import Call
from orchestrator.ephemeral import EphemeralFeed
from orchestrator.errors import BadPosition, BadRequest, Code, NotFound
from orchestrator.eventlog import EVENT_ID, Entry, EventLog, envelope_json
from orchestrator.principal import Principal

log = logging.getLogger("orchestrator.streams")

BATCH = 500
DEFAULT_POLL_TIMEOUT = 25.0
# A client resuming on a replica that is behind the one it came from (just restarted, or
# lagging) waits this long for the replica to reach its position, instead of a resync.
REACH_TIMEOUT = 5.0
SERVICE_RESTART = 1012  # WebSocket close code: the server is going away, reconnect
RETRY_AFTER_SHUTDOWN_MS = 3000
MAX_POSITIONS = 64  # ids in a composite position: more sessions than a deployment runs
Filter = Callable[[Entry], bool]


@dataclass(frozen=True, slots=True)
class Selection:
    """What one client reads: `keep` decides per entry (sessions, chats, the QR); `only` is the
    set of sessions it reads (None: every session), `named` the sessions `?session=` named,
    whose deletion ends the stream (None: it named none, and never ends for a deletion)."""

    keep: Filter
    only: frozenset[str] | None = None
    named: frozenset[str] | None = None
    ephemeral: bool = False  # `?ephemeral=true`: agent presence too (see ephemeral.py)

    def wants(self, session: str) -> bool:
        return self.only is None or session in self.only


class Cursor:
    """One client's place in the log: the next offset to read and, for a composite position
    until every named session has caught up (`until`), the offset each session resumes from.
    `ids` is the last id of each session the client has passed (a poll answers with them);
    `ephemeral` its offset in the ephemeral feed (set by `Streams.start`)."""

    __slots__ = ("ephemeral", "floors", "ids", "offset", "remaining", "until")

    def __init__(
        self,
        offset: int,
        selection: Selection,
        floors: dict[str, int] | None = None,
        ids: dict[str, str] | None = None,
    ) -> None:
        self.offset = offset
        self.floors = floors or {}
        self.until = max(self.floors.values(), default=0)
        self.ids = ids or {}
        self.remaining = set(selection.named) if selection.named is not None else None
        self.ephemeral = 0

    @property
    def ended(self) -> bool:
        """Every session the client named has been deleted."""
        return self.remaining is not None and not self.remaining

    @property
    def position(self) -> str:
        return ",".join(self.ids.values())


def parse_position(position: str) -> list[str]:
    """The ids of a position, one or a comma-separated list. Raises BadPosition."""
    ids = position.split(",")
    if len(ids) > MAX_POSITIONS:
        raise BadPosition(f"a position names at most {MAX_POSITIONS} ids, one per session")
    for event_id in ids:
        if not EVENT_ID.fullmatch(event_id):
            raise BadPosition(f"not a stream position: {event_id[:80]!r}")
    return ids


@dataclass
class StreamStats:
    sse: int = 0
    websocket: int = 0
    dropped_slow: int = 0
    resyncs: int = 0


@dataclass(frozen=True)
class StreamSettings:
    ping_interval: float
    send_timeout: float
    poll_max_timeout: float


class Streams:
    def __init__(self, event_log: EventLog, settings: StreamSettings) -> None:
        self.log = event_log
        self.settings = settings
        self.stats = StreamStats()
        # Agent presence: to the clients connected now, never into the log (ephemeral.py).
        self.ephemeral = EphemeralFeed(event_log.nudge)
        # Client task -> deadline of the write it is blocked in. `run` cancels overdue ones:
        # one sweep a tick instead of a timer per write, which at hundreds of clients and
        # hundreds of events a second is a large share of the fan-out cost.
        self._writing: dict[asyncio.Task[Any], float] = {}
        self._overdue: set[asyncio.Task[Any]] = set()
        self.closing = False

    def shutdown(self) -> None:
        """End every stream now, and every stream opened from now on."""
        self.closing = True
        self.log.release_waiters()

    async def run(self) -> None:
        """Ping idle clients every ping interval and drop clients whose write is overdue."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        tick = min(1.0, settings.send_timeout / 4, settings.ping_interval)
        next_ping = loop.time() + settings.ping_interval
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for task, deadline in list(self._writing.items()):
                if deadline <= now and task not in self._overdue:
                    self._overdue.add(task)
                    task.cancel()
            if now >= next_ping:
                self.log.release_waiters()
                next_ping = now + settings.ping_interval

    async def timed_write(self, write: Awaitable[None], kind: str) -> None:
        """Await `write`; raise TimeoutError (counted, logged) if it outlasts the send timeout."""
        task = asyncio.current_task()
        assert task is not None
        self._writing[task] = asyncio.get_running_loop().time() + self.settings.send_timeout
        try:
            await write
        except asyncio.CancelledError:
            if task not in self._overdue:
                raise  # a shutdown, not a slow client
            self._overdue.discard(task)
            task.uncancel()
            self.stats.dropped_slow += 1
            log.warning("%s client too slow; dropped", kind)
            raise TimeoutError from None
        finally:
            del self._writing[task]

    async def wait(
        self, offset: int, gone: asyncio.Future[None], ephemeral: int | None = None
    ) -> bool:
        """Wait for an entry at `offset` or later, or an ephemeral envelope at `ephemeral` or
        later (True), the ping tick (False), or the client going away (False). The log's future
        is awaited directly and `gone` resolves it: no task, timer or asyncio.wait per wake-up.
        A shutdown releases every waiter."""
        if self.closing:
            return False
        if ephemeral is not None and self.ephemeral.head > ephemeral:
            return True
        waiter = self.log.waiter(offset)
        if waiter.done():
            return waiter.result()
        if gone.done():
            waiter.cancel()
            return False

        def wake(_: object) -> None:
            if not waiter.done():
                waiter.set_result(False)

        gone.add_done_callback(wake)
        try:
            return await waiter
        finally:
            gone.remove_done_callback(wake)

    def start(self, position: str | None, selection: Selection) -> tuple[Cursor, bool]:
        """Where a client starts, and whether a resync must come first. Raises BadPosition.
        In the ephemeral feed it starts now (`greeting` gives it the state first)."""
        cursor, resync = self._start(position, selection)
        cursor.ephemeral = self.ephemeral.head
        return cursor, resync

    def greeting(self, selection: Selection) -> list[Entry]:
        """The ephemeral state now (who is online, viewing, typing) that the client reads."""
        if not selection.ephemeral:
            return []
        keep = selection.keep
        return [e for e in self.ephemeral.current() if keep(e)]

    def ephemera(self, cursor: Cursor, selection: Selection) -> list[Entry]:
        """The ephemeral envelopes published since the cursor's last look, that it reads."""
        if not selection.ephemeral:
            return []
        entries, cursor.ephemeral = self.ephemeral.read(cursor.ephemeral)
        keep = selection.keep
        return [e for e in entries if keep(e)]

    def _start(self, position: str | None, selection: Selection) -> tuple[Cursor, bool]:
        """Where the client starts in the log, and whether a resync must come first.

        None: from now on. "": from the very first event (a client that bootstrapped while the
        log was empty); a resync if anything it reads has been evicted since. Otherwise one id,
        or one per session: each session resumes after its own id."""
        log = self.log
        if position is None:
            return Cursor(log.head, selection, ids=self.now(selection)), False
        if position == "":
            cursor = Cursor(0, selection)
            if not log.from_the_start:
                return self.resynced(selection), True
        else:
            floors: dict[str, int] = {}
            ids: dict[str, str] = {}
            retained = True
            for event_id in parse_position(position):
                located = log.locate(event_id)
                if located is None:
                    retained = False
                    continue
                session, offset = located
                if session in floors:
                    raise BadPosition("a position names at most one id per session")
                floors[session], ids[session] = offset, event_id
            if not retained:
                return self.resynced(selection), True
            cursor = Cursor(min(floors.values()), selection, floors, ids)
        if self._missed(cursor, selection):
            return self.resynced(selection), True
        cursor.offset = max(cursor.offset, log.first)
        return cursor, False

    async def reach(self, position: str | None) -> None:
        """Replicas name every event alike, but one may be behind another: when an id of
        `position` is an event this log has not reached yet (its session's last entry is of the
        same bridge epoch, with a lower seq), wait until it has, at most REACH_TIMEOUT; `start`
        then finds it, or answers resync."""
        if not position:
            return
        try:
            ids = parse_position(position)
        except BadPosition:
            return  # `start` says what is wrong with it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REACH_TIMEOUT
        while not self.closing and any(self._ahead(event_id) for event_id in ids):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self.log.wait(self.log.head, remaining)

    def _ahead(self, event_id: str) -> bool:
        if self.log.locate(event_id) is not None:
            return False
        epoch, seq = event_id.split(":", 2)[:2]
        for last in self.log.last_ids.values():
            last_epoch, last_seq = last.split(":", 2)[:2]
            if last_epoch == epoch:
                return int(last_seq) < int(seq)
        return False

    def _missed(self, cursor: Cursor, selection: Selection) -> bool:
        """Whether an entry the client reads was evicted before it got there. Per session: its
        newest evicted entry against where the client resumes that session."""
        if cursor.offset >= self.log.first:
            return False
        floors = cursor.floors
        return any(
            evicted.offset >= floors.get(session, cursor.offset) and selection.wants(session)
            for session, evicted in self.log.evicted.items()
        )

    def now(self, selection: Selection) -> dict[str, str]:
        """The position of the head for this client: the last id of each session it reads.
        When it reads none that has one yet, the log's last id (any position before the next
        entry will do), so that it is never sent back to the start."""
        ids = {s: i for s, i in self.log.last_ids.items() if selection.wants(s)}
        if not ids and self.log.last_id is not None:
            label = min(selection.named) if selection.named else "default"
            ids[label] = self.log.last_id
        return ids

    def resynced(self, selection: Selection, cursor: Cursor | None = None) -> Cursor:
        """A cursor at the head (`cursor` moved there, keeping what it knows of deleted
        sessions), for a client that must refetch its snapshots."""
        self.stats.resyncs += 1
        if cursor is None:
            return Cursor(self.log.head, selection, ids=self.now(selection))
        cursor.offset, cursor.floors, cursor.until = self.log.head, {}, 0
        cursor.ids = self.now(selection)
        return cursor

    def resync_envelopes(self, cursor: Cursor) -> list[tuple[str, bytes, bytes]]:
        """(id, JSON, SSE frame) of the resync envelopes a client gets before it goes on from
        `cursor` (a `resynced` one): one per session it reads, carrying that session's last id,
        so a client keeping an id per session knows where each now stands."""
        ids = cursor.ids or {"default": ""}
        frames = []
        for session, event_id in ids.items():
            payload = envelope_json(
                event_id, "resync", session, {"reason": "position_not_retained"}
            )
            sse = b"id: %s\nevent: resync\ndata: %s\n\n" % (event_id.encode(), payload)
            frames.append((event_id, payload, sse))
        return frames

    def pending(
        self, cursor: Cursor, selection: Selection, track: bool = False
    ) -> tuple[list[Entry], bool]:
        """The entries from the cursor that the client reads (the cursor moves past them), and
        whether it fell so far behind that what it reads was evicted (it then needs a resync).
        `track`: keep `cursor.ids` current (a poll answers with them)."""
        log = self.log
        offset = cursor.offset
        if offset < log.first:
            if self._missed(cursor, selection):
                return [], True
            offset = log.first
        entries = log.read(offset, BATCH)
        if not entries:
            return [], False
        cursor.offset = entries[-1].offset + 1
        keep = selection.keep
        if offset < cursor.until:
            # Catching up a composite position: each named session from its own offset.
            floors = cursor.floors
            entries = [e for e in entries if e.offset >= floors.get(e.session, 0)]
        if track:
            ids, wants = cursor.ids, selection.wants
            for entry in entries:
                if wants(entry.session):
                    ids[entry.session] = entry.id
        kept = [e for e in entries if keep(e)]
        if cursor.remaining and log.deleted_at >= offset:
            for entry in kept:
                if entry.type == "session_deleted":
                    cursor.remaining.discard(entry.session)
        return kept, False

    def session_deleted(self, session_id: str, purged: bool, event_id: str) -> None:
        """A session is gone: its readers get a final `session_deleted` envelope, and the
        streams that read only deleted sessions end after it (SSE ends, WebSocket closes 1000,
        a long-poll answers)."""
        data = {"sessionId": session_id, "purged": purged}
        self.log.append([(event_id, "session_deleted", None, data)], session_id)

    # ---- SSE ----------------------------------------------------------------------------

    def sse_response(
        self,
        position: str | None,
        selection: Selection,
        holding: AbstractContextManager[None] | None = None,
    ) -> EventStreamResponse:
        """`holding` is entered for as long as the client stays connected (agent presence)."""
        cursor, resync = self.start(position, selection)
        return EventStreamResponse(self, cursor, resync, selection, holding or nullcontext())

    # ---- WebSocket ----------------------------------------------------------------------

    async def serve_websocket(
        self,
        websocket: WebSocket,
        position: str | None,
        selection: Selection,
        holding: AbstractContextManager[None] | None = None,
    ) -> None:
        """Serve an accepted WebSocket until it closes, or the server does. `holding` is
        entered for as long as it is connected (agent presence)."""
        with holding or nullcontext():
            await self._serve_websocket(websocket, position, selection)

    async def _serve_websocket(
        self, websocket: WebSocket, position: str | None, selection: Selection
    ) -> None:
        cursor, resync = self.start(position, selection)
        self.stats.websocket += 1
        reader = asyncio.create_task(_drain_incoming(websocket))
        code = 1000
        try:
            if resync:
                await self._ws_send(websocket, [r[1] for r in self.resync_envelopes(cursor)])
            greeting = self.greeting(selection)
            if greeting:
                await self._ws_send(websocket, [e.json for e in greeting])
            while not reader.done() and not cursor.ended:
                if self.closing:
                    code = SERVICE_RESTART
                    break
                ephemera = self.ephemera(cursor, selection)
                if ephemera:
                    await self._ws_send(websocket, [e.json for e in ephemera])
                if self.log.head <= cursor.offset:
                    await self.wait(cursor.offset, reader, _ephemeral(cursor, selection))
                    continue
                entries, fell_behind = self.pending(cursor, selection)
                if fell_behind:
                    cursor = self.resynced(selection, cursor)
                    await self._ws_send(websocket, [r[1] for r in self.resync_envelopes(cursor)])
                elif entries:
                    await self._ws_send(websocket, [e.json for e in entries])
        except (WebSocketDisconnect, TimeoutError, OSError):
            pass
        finally:
            self.stats.websocket -= 1
            reader.cancel()
            with contextlib.suppress(Exception):
                await websocket.close(code)

    async def _ws_send(self, websocket: WebSocket, frames: list[bytes]) -> None:
        await self.timed_write(_send_frames(websocket, frames), "websocket")

    # ---- long-poll ----------------------------------------------------------------------

    async def poll(
        self,
        since: str | None,
        timeout_param: str | None,
        selection: Selection,
        holding: AbstractContextManager[None] | None = None,
    ) -> Response:
        """What came after `since`; `lastEventId` is the last id passed of each session the
        client reads (one id when it reads one session, a composite otherwise). Ephemeral
        envelopes published while it waits come too (between polls they are missed: a
        polling client refetches GET /agents when it needs the state). `holding` is entered
        for the poll's duration (agent presence)."""
        with holding or nullcontext():
            return await self._poll(since, timeout_param, selection)

    async def _poll(
        self, since: str | None, timeout_param: str | None, selection: Selection
    ) -> Response:
        try:
            default = min(DEFAULT_POLL_TIMEOUT, self.settings.poll_max_timeout)
            timeout = default if timeout_param is None else float(timeout_param)
        except ValueError:
            timeout = -1
        if not 0 <= timeout <= self.settings.poll_max_timeout:
            raise BadRequest(
                Code.BAD_TIMEOUT,
                f"timeout must be seconds between 0 and {self.settings.poll_max_timeout:g}",
            )
        await self.reach(since)
        # No position yet: the client starts here, after fetching the REST snapshots.
        cursor, resync = self.start(since, selection)
        if since is None:
            return poll_response([], cursor.position)
        if resync:
            return self._resync_answer(cursor)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            entries, fell_behind = self.pending(cursor, selection, track=True)
            if fell_behind:
                return self._resync_answer(self.resynced(selection))
            entries += self.ephemera(cursor, selection)
            remaining = deadline - asyncio.get_running_loop().time()
            if entries or remaining <= 0 or self.closing:
                # With nothing for this client, it still resumes from the last entry it
                # passed, or from where it asked if filtered entries were all it missed.
                return poll_response([e.json for e in entries], cursor.position or since)
            news = selection.ephemeral and self.ephemeral.head > cursor.ephemeral
            if self.log.head <= cursor.offset and not news:
                await self.log.wait(cursor.offset, remaining)  # False (timeout, tick): look again

    def _resync_answer(self, cursor: Cursor) -> Response:
        return poll_response([r[1] for r in self.resync_envelopes(cursor)], cursor.position)


def _ephemeral(cursor: Cursor, selection: Selection) -> int | None:
    """Where the client is in the ephemeral feed, if it reads it."""
    return cursor.ephemeral if selection.ephemeral else None


def poll_response(envelopes: list[bytes], last_id: str) -> Response:
    # The envelopes are already JSON: splice them in rather than decode and re-encode.
    body = b'{"events":[' + b",".join(envelopes) + b'],"lastEventId":"' + last_id.encode() + b'"}'
    return Response(body, media_type="application/json")


async def _send_frames(websocket: WebSocket, frames: list[bytes]) -> None:
    for frame in frames:
        await websocket.send_text(frame.decode())


async def _drain_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so its close is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


class EventStreamResponse:
    """`text/event-stream` written straight to ASGI, so each write can carry a timeout."""

    def __init__(
        self,
        streams: Streams,
        cursor: Cursor,
        resync: bool,
        selection: Selection,
        holding: AbstractContextManager[None],
    ) -> None:
        self.streams = streams
        self.cursor = cursor
        self.resync = resync
        self.selection = selection
        self.holding = holding

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self.holding:
            await self._serve(receive, send)

    async def _serve(self, receive: Receive, send: Send) -> None:
        streams = self.streams
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        disconnected = asyncio.create_task(_wait_disconnect(receive))
        streams.stats.sse += 1
        cursor, selection = self.cursor, self.selection
        try:
            # retry: how long EventSource waits before reconnecting (ms)
            first = b"retry: 2000\n\n" + (self._resync_frames(cursor) if self.resync else b"")
            first += b"".join(e.sse for e in streams.greeting(selection))
            await self._write(send, first)
            while not disconnected.done() and not cursor.ended:
                if streams.closing:
                    await self._write(send, b"retry: %d\n\n" % RETRY_AFTER_SHUTDOWN_MS)
                    break
                ephemera = streams.ephemera(cursor, selection)
                if ephemera:
                    await self._write(send, b"".join(e.sse for e in ephemera))
                if streams.log.head <= cursor.offset:
                    if (
                        not await streams.wait(
                            cursor.offset, disconnected, _ephemeral(cursor, selection)
                        )
                        and not disconnected.done()
                    ):
                        await self._write(send, b": ping\n\n")
                    continue
                entries, fell_behind = streams.pending(cursor, selection)
                if fell_behind:
                    cursor = streams.resynced(selection, cursor)
                    await self._write(send, self._resync_frames(cursor))
                elif entries:
                    await self._write(send, b"".join(e.sse for e in entries))
        except (TimeoutError, OSError):
            pass
        finally:
            streams.stats.sse -= 1
            disconnected.cancel()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _resync_frames(self, cursor: Cursor) -> bytes:
        return b"".join(r[2] for r in self.streams.resync_envelopes(cursor))

    async def _write(self, send: Send, chunk: bytes) -> None:
        message = {"type": "http.response.body", "body": chunk, "more_body": True}
        await self.streams.timed_write(send(message), "SSE")


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


Visibility = Callable[[Principal, str, str], bool]  # (principal, session, chat id)
ChatResolver = Callable[[str, str, Principal], str]  # (session, raw chat id, principal) -> id
SessionIds = Callable[[], Collection[str]]


def _ephemeral_param(call: Call[None]) -> bool:
    """`?ephemeral=true`: the client also reads the ephemeral envelopes (agent_presence),
    which carry the id "" (no position); it asks for them, so older clients never see one."""
    value = call.query("ephemeral")
    if value not in (None, "true", "false"):
        raise BadRequest(Code.BAD_REQUEST, "ephemeral must be true or false")
    return value == "true"


class Watchers(Protocol):
    """Who holds a stream (agent presence): entered for as long as a client is connected."""

    def connected(self, principal: Principal) -> AbstractContextManager[None]: ...

    def polling(self, principal: Principal) -> AbstractContextManager[None]: ...


class StreamRoutes:
    """The stream routes: what each principal may see of the log. `?session=a,b` picks
    sessions (each must exist, 404, and be one the caller may use, 403); without it, every
    session the caller may use. Within those: an agent sees the chats they may see, and the QR
    only staff."""

    def __init__(
        self,
        streams: Streams,
        can_see: Visibility,
        chat_id: ChatResolver,
        sessions: SessionIds,
        watchers: Watchers | None = None,
    ) -> None:
        self.streams = streams
        self._can_see = can_see
        self._chat_id = chat_id
        self._sessions = sessions
        self._watchers = watchers

    def _connected(self, principal: Principal) -> AbstractContextManager[None] | None:
        return None if self._watchers is None else self._watchers.connected(principal)

    def _selection(self, call: Call[None]) -> Selection:
        principal = call.user
        raw = call.query("session")
        ephemeral = _ephemeral_param(call)
        if raw is None:
            # Staff read every session, also one created later; an agent their memberships; a
            # narrowed stream token its sessions among those.
            only = principal.session_limit
            return Selection(self._filter(principal, only), only, ephemeral=ephemeral)
        existing = self._sessions()
        named = frozenset(raw.split(","))
        for session_id in sorted(named):
            if session_id not in existing:
                raise NotFound(Code.SESSION_NOT_FOUND, f"no session {session_id[:80]!r}")
            principal.require(session_id)
        return Selection(self._filter(principal, named), named, named, ephemeral)

    def _filter(
        self, principal: Principal, only: frozenset[str] | None, chat_id: str | None = None
    ) -> Filter:
        can_see, staff = self._can_see, principal.is_staff

        def keep(entry: Entry) -> bool:
            if only is not None and entry.session not in only:
                return False
            if chat_id is not None and entry.chat_id != chat_id:
                return False
            if entry.chat_id is None:
                return entry.type != "qr" or staff
            if entry.type == "assignment_changed" and not staff:
                seen = _seen_around(entry, principal)
                if seen is not None:
                    return seen
            return staff or can_see(principal, entry.session, entry.chat_id)  # staff see all

        return keep

    async def events(self, call: Call[None]) -> EventStreamResponse:
        last_id = call.connection.headers.get("last-event-id")
        if last_id is None:
            last_id = call.query("lastEventId")
        selection = self._selection(call)
        await self.streams.reach(last_id)
        return self.streams.sse_response(last_id, selection, self._connected(call.user))

    async def poll(self, call: Call[None]) -> Response:
        since = call.query("since")
        if since is None:
            since = call.query("lastEventId")
        selection = self._selection(call)
        # A poll without `since` only asks for the position: no stream held.
        watchers = self._watchers if since is not None else None
        holding = None if watchers is None else watchers.polling(call.user)
        return await self.streams.poll(since, call.query("timeout"), selection, holding)

    async def websocket(self, call: Call[None]) -> None:
        await self._serve(call, self._selection(call))

    async def websocket_chat(self, call: Call[None]) -> None:
        """One chat of the session the route names (the app checked the caller is in it)."""
        principal = call.user
        chat_id = self._chat_id(call.session, call.path("chatId"), principal)
        only = frozenset({call.session})
        selection = Selection(
            self._filter(principal, only, chat_id), only, ephemeral=_ephemeral_param(call)
        )
        await self._serve(call, selection)

    async def _serve(self, call: Call[None], selection: Selection) -> None:
        last_id = call.query("lastEventId")
        if last_id is None:
            last_id = call.query("since")
        await self.streams.reach(last_id)
        await self.streams.serve_websocket(
            call.websocket, last_id, selection, self._connected(call.user)
        )


def _seen_around(entry: Entry, principal: Principal) -> bool | None:
    """Whether an agent (of the entry's session: their selection keeps to it) could see the
    chat of an `assignment_changed` just before or just after the change (unassigned, or
    theirs): decided from the entry, not from the chat's state when it is read. can_see, read
    after the change, would hide it from the agents who lose the chat (taken by another), who
    must hear of it to drop it from their lists. None for an entry from before
    `previousAgentId`: can_see decides."""
    around = _assignees_around(entry.json)
    if around is None:
        return None
    return any(agent is None or agent == principal.user_id for agent in around)


@functools.lru_cache(maxsize=64)
def _assignees_around(envelope: bytes) -> tuple[str | None, str | None] | None:
    """(before, after) of an `assignment_changed` envelope: decoded once, not once per agent
    client that reads it."""
    data = orjson.loads(envelope).get("data") or {}
    if "previousAgentId" not in data:
        return None
    return data["previousAgentId"], (data.get("assignment") or {}).get("agentId")
