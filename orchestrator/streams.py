"""SSE, WebSocket and long-poll endpoints over the event log.

A client names the last id it saw (SSE `Last-Event-ID` or `?lastEventId=`, `?since=`); it gets
exactly what came after, or, when that position is no longer retained, a `resync` envelope first
and then the live stream: never a partial replay. A client holds only an offset into the shared
log; each write sends everything it has pending in one go, under a timeout, so a client that
stops reading is dropped instead of slowing anyone else.

On shutdown (`shutdown`, on SIGTERM) every stream ends at once, so that the server can stop:
SSE clients get a `retry:` hint and the end of the response, WebSocket clients close code 1012
(service restart), long-polls their answer. Each resumes from its last id on the next server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestrator.calls import Call
from orchestrator.errors import BadPosition, BadRequest, Code
from orchestrator.eventlog import EVENT_ID, Entry, EventLog, envelope_json
from orchestrator.principal import Principal

log = logging.getLogger("orchestrator.streams")

BATCH = 500
DEFAULT_POLL_TIMEOUT = 25.0
SERVICE_RESTART = 1012  # WebSocket close code: the server is going away, reconnect
RETRY_AFTER_SHUTDOWN_MS = 3000
Filter = Callable[[Entry], bool]


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
        # Client task -> deadline of the write it is blocked in. `run` cancels overdue ones:
        # one sweep a tick instead of a timer per write, which at hundreds of clients and
        # hundreds of events a second is a large share of the fan-out cost.
        self._writing: dict[asyncio.Task[Any], float] = {}
        self._overdue: set[asyncio.Task[Any]] = set()
        self.closing = False
        self._deletions = itertools.count(1)

    def session_deleted(self, session_id: str, purged: bool) -> None:
        """The last envelope of a deleted session."""
        self.log.append(
            [(f"deleted:{next(self._deletions)}:r", "session_deleted", None,
              {"sessionId": session_id, "purged": purged})],
            session_id,
        )  # fmt: skip

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

    async def wait(self, offset: int, gone: asyncio.Future[None]) -> bool:
        """Wait for an entry at `offset` or later (True), the ping tick (False), or the client
        going away (False). The log's future is awaited directly and `gone` resolves it: no
        task, timer or asyncio.wait per wake-up. A shutdown releases every waiter."""
        if self.closing:
            return False
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

    def start_offset(self, last_id: str | None) -> tuple[int, bool]:
        """Where to start, and whether a resync must come first. Raises BadPosition.

        None: from now on. "": from the very first event (a client that bootstrapped while the
        log was empty); a resync if anything has been evicted since."""
        if last_id is None:
            return self.log.head, False
        if last_id == "":
            if self.log.first > 0 or not self.log.from_the_start:
                self.stats.resyncs += 1
                return self.log.head, True
            return 0, False
        if not EVENT_ID.fullmatch(last_id):
            raise BadPosition(f"not a stream position: {last_id[:80]!r}")
        offset = self.log.offset_after(last_id)
        if offset is None:
            self.stats.resyncs += 1
            return self.log.head, True
        return offset, False

    def resync_envelope(self) -> tuple[str, bytes]:
        event_id = self.log.last_id or ""
        return event_id, envelope_json(event_id, "resync", {"reason": "position_not_retained"})

    def pending(self, offset: int, keep: Filter) -> tuple[int, list[Entry], bool]:
        """Entries from `offset` that pass `keep`, the next offset, and whether the client fell
        so far behind that its position was evicted (it then needs a resync)."""
        if offset < self.log.first:
            self.stats.resyncs += 1
            return self.log.head, [], True
        entries = self.log.read(offset, BATCH)
        next_offset = entries[-1].offset + 1 if entries else offset
        return next_offset, [e for e in entries if keep(e)], False

    # ---- SSE ----------------------------------------------------------------------------

    def sse_response(self, last_id: str | None, keep: Filter) -> EventStreamResponse:
        offset, resync = self.start_offset(last_id)
        return EventStreamResponse(self, offset, resync, keep)

    # ---- WebSocket ----------------------------------------------------------------------

    async def serve_websocket(
        self, websocket: WebSocket, last_id: str | None, keep: Filter
    ) -> None:
        """Serve an accepted WebSocket until it closes, or the server does."""
        offset, resync = self.start_offset(last_id)
        self.stats.websocket += 1
        reader = asyncio.create_task(_drain_incoming(websocket))
        code = 1000
        try:
            if resync:
                await self._ws_send(websocket, [self.resync_envelope()[1]])
            while not reader.done():
                if self.closing:
                    code = SERVICE_RESTART
                    break
                if self.log.head <= offset:
                    await self.wait(offset, reader)
                    continue
                offset, entries, fell_behind = self.pending(offset, keep)
                if fell_behind:
                    await self._ws_send(websocket, [self.resync_envelope()[1]])
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

    async def poll(self, since: str | None, timeout_param: str | None, keep: Filter) -> Response:
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
        if since is None:
            # No position yet: the client starts here, after fetching the REST snapshots.
            return poll_response([], self.log.last_id or "")
        offset, resync = self.start_offset(since)
        if resync:
            event_id, resync_json = self.resync_envelope()
            return poll_response([resync_json], event_id)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            offset, entries, fell_behind = self.pending(offset, keep)
            if fell_behind:
                event_id, resync_json = self.resync_envelope()
                return poll_response([resync_json], event_id)
            if entries:
                return poll_response([e.json for e in entries], entries[-1].id)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.closing:
                # Nothing for this client: it resumes from the last entry it was shown, or
                # from where it asked if filtered entries were all it missed.
                passed = self.log.read(offset - 1, 1) if offset > 0 else []
                return poll_response([], passed[0].id if passed else since)
            await self.log.wait(offset, remaining)  # False (timeout, ping tick): look again


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

    def __init__(self, streams: Streams, offset: int, resync: bool, keep: Filter) -> None:
        self.streams = streams
        self.offset = offset
        self.resync = resync
        self.keep = keep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        offset = self.offset
        try:
            # retry: how long EventSource waits before reconnecting (ms)
            first = b"retry: 2000\n\n" + (self._resync_frame() if self.resync else b"")
            await self._write(send, first)
            while not disconnected.done():
                if streams.closing:
                    await self._write(send, b"retry: %d\n\n" % RETRY_AFTER_SHUTDOWN_MS)
                    break
                if streams.log.head <= offset:
                    if not await streams.wait(offset, disconnected) and not disconnected.done():
                        await self._write(send, b": ping\n\n")
                    continue
                offset, entries, fell_behind = streams.pending(offset, self.keep)
                if fell_behind:
                    await self._write(send, self._resync_frame())
                elif entries:
                    await self._write(send, b"".join(e.sse for e in entries))
        except (TimeoutError, OSError):
            pass
        finally:
            streams.stats.sse -= 1
            disconnected.cancel()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _resync_frame(self) -> bytes:
        event_id, payload = self.streams.resync_envelope()
        return b"id: %s\nevent: resync\ndata: %s\n\n" % (event_id.encode(), payload)

    async def _write(self, send: Send, chunk: bytes) -> None:
        message = {"type": "http.response.body", "body": chunk, "more_body": True}
        await self.streams.timed_write(send(message), "SSE")


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


Visibility = Callable[[Principal, str, str | None], bool]  # (principal, session, chat id)
ChatResolver = Callable[[str, str, Principal], str]  # (session, raw chat id, principal)


class StreamRoutes:
    """The stream routes: what each principal may see of the log (an agent: the chats they
    may see, and the QR only for staff)."""

    def __init__(
        self,
        streams: Streams,
        can_see: Visibility,
        chat_id: ChatResolver,
        sessions: Callable[[], Collection[str]],
    ) -> None:
        self.streams = streams
        self._can_see = can_see
        self._chat_id = chat_id
        self._sessions = sessions

    def _filter(
        self, principal: Principal, chat_id: str | None = None, session: str | None = None
    ) -> Filter:
        can_see = self._can_see

        def keep(entry: Entry) -> bool:
            if session is not None and entry.session != session:
                return False
            if chat_id is not None and entry.chat_id != chat_id:
                return False
            if not principal.may_use(entry.session):
                return False
            if entry.chat_id is None:
                return entry.type != "qr" or principal.is_staff
            return can_see(principal, entry.session, entry.chat_id)

        return keep

    async def events(self, call: Call[None]) -> EventStreamResponse:
        last_id = call.connection.headers.get("last-event-id")
        if last_id is None:
            last_id = call.query("lastEventId")
        return self.streams.sse_response(last_id, self._filter(call.user))

    async def poll(self, call: Call[None]) -> Response:
        since = call.query("since")
        if since is None:
            since = call.query("lastEventId")
        return await self.streams.poll(since, call.query("timeout"), self._filter(call.user))

    async def websocket(self, call: Call[None]) -> None:
        await self._serve(call, self._filter(call.user))

    async def websocket_chat(self, call: Call[None]) -> None:
        chat_id = self._chat_id(call.session, call.path("chatId"), call.user)
        await self._serve(call, self._filter(call.user, chat_id, call.session))

    async def _serve(self, call: Call[None], keep: Filter) -> None:
        last_id = call.query("lastEventId")
        if last_id is None:
            last_id = call.query("since")
        await self.streams.serve_websocket(call.websocket, last_id, keep)
