"""SSE, WebSocket and long-poll endpoints over the event log.

A client names the last id it saw (SSE `Last-Event-ID` or `?lastEventId=`, `?since=`); it gets
exactly what came after, or, when that position is no longer retained, a `resync` envelope first
and then the live stream: never a partial replay. A client holds only an offset into the shared
log; each write sends everything it has pending in one go, under a timeout, so a client that
stops reading is dropped instead of slowing anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestrator.eventlog import EVENT_ID, Entry, EventLog, envelope_json

log = logging.getLogger("orchestrator.streams")

BATCH = 500
DEFAULT_POLL_TIMEOUT = 25.0
Filter = Callable[[Entry], bool]


class BadPosition(ValueError):
    pass


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
        task, timer or asyncio.wait per wake-up."""
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

    def sse_response(self, request: Request, keep: Filter) -> Response | EventStreamResponse:
        last_id = request.headers.get("last-event-id")
        if last_id is None:
            last_id = request.query_params.get("lastEventId")
        try:
            offset, resync = self.start_offset(last_id)
        except BadPosition as exc:
            return bad_position(exc)
        return EventStreamResponse(self, offset, resync, keep)

    # ---- WebSocket ----------------------------------------------------------------------

    async def serve_websocket(self, websocket: WebSocket, keep: Filter) -> None:
        params = websocket.query_params
        last_id = params.get("lastEventId", params.get("since"))
        try:
            offset, resync = self.start_offset(last_id)
        except BadPosition as exc:
            await websocket.close(code=4400, reason=str(exc)[:120])
            return
        await websocket.accept()
        self.stats.websocket += 1
        reader = asyncio.create_task(_drain_incoming(websocket))
        try:
            if resync:
                await self._ws_send(websocket, [self.resync_envelope()[1]])
            while not reader.done():
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
                await websocket.close()

    async def _ws_send(self, websocket: WebSocket, frames: list[bytes]) -> None:
        await self.timed_write(_send_frames(websocket, frames), "websocket")

    # ---- long-poll ----------------------------------------------------------------------

    async def poll(self, request: Request, keep: Filter) -> Response:
        params = request.query_params
        try:
            default = min(DEFAULT_POLL_TIMEOUT, self.settings.poll_max_timeout)
            timeout = float(params.get("timeout", default))
        except ValueError:
            timeout = -1
        if not 0 <= timeout <= self.settings.poll_max_timeout:
            return JSONResponse(
                {"error": {"code": "bad_timeout", "message": "timeout must be seconds "
                           f"between 0 and {self.settings.poll_max_timeout:g}"}},
                status_code=400,
            )  # fmt: skip
        since = params.get("since", params.get("lastEventId"))
        if since is None:
            # No position yet: the client starts here, after fetching the REST snapshots.
            return poll_response([], self.log.last_id or "")
        try:
            offset, resync = self.start_offset(since)
        except BadPosition as exc:
            return bad_position(exc)
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
            if remaining <= 0:
                # Nothing for this client: it resumes from the last entry it was shown, or
                # from where it asked if filtered entries were all it missed.
                passed = self.log.read(offset - 1, 1) if offset > 0 else []
                return poll_response([], passed[0].id if passed else since)
            await self.log.wait(offset, remaining)  # False (timeout, ping tick): look again


def poll_response(envelopes: list[bytes], last_id: str) -> Response:
    # The envelopes are already JSON: splice them in rather than decode and re-encode.
    body = b'{"events":[' + b",".join(envelopes) + b'],"lastEventId":"' + last_id.encode() + b'"}'
    return Response(body, media_type="application/json")


def bad_position(exc: BadPosition) -> Response:
    return JSONResponse({"error": {"code": "bad_event_id", "message": str(exc)}}, status_code=400)


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
