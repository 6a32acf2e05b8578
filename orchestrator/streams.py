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
from collections.abc import Callable
from dataclasses import dataclass

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
                offset, entries, fell_behind = self.pending(offset, keep)
                if fell_behind:
                    await self._ws_send(websocket, [self.resync_envelope()[1]])
                elif entries:
                    await self._ws_send(websocket, [e.json for e in entries])
                else:
                    await self._wait_or_disconnect(offset, reader)
        except (WebSocketDisconnect, TimeoutError, OSError):
            pass
        finally:
            self.stats.websocket -= 1
            reader.cancel()
            with contextlib.suppress(Exception):
                await websocket.close()

    async def _ws_send(self, websocket: WebSocket, frames: list[bytes]) -> None:
        try:
            async with asyncio.timeout(self.settings.send_timeout):
                for frame in frames:
                    await websocket.send_text(frame.decode())
        except TimeoutError:
            self.stats.dropped_slow += 1
            log.warning("websocket client too slow; dropped")
            raise

    async def _wait_or_disconnect(self, offset: int, reader: asyncio.Task[None]) -> None:
        waiter = asyncio.create_task(self.log.wait(offset, self.settings.ping_interval))
        await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()

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
            if remaining <= 0 or not await self.log.wait(offset, remaining):
                # Nothing for this client: it resumes from the last entry it was shown, or
                # from where it asked if filtered entries were all it missed.
                passed = self.log.read(offset - 1, 1) if offset > 0 else []
                return poll_response([], passed[0].id if passed else since)


def poll_response(envelopes: list[bytes], last_id: str) -> Response:
    # The envelopes are already JSON: splice them in rather than decode and re-encode.
    body = b'{"events":[' + b",".join(envelopes) + b'],"lastEventId":"' + last_id.encode() + b'"}'
    return Response(body, media_type="application/json")


def bad_position(exc: BadPosition) -> Response:
    return JSONResponse({"error": {"code": "bad_event_id", "message": str(exc)}}, status_code=400)


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
                offset, entries, fell_behind = streams.pending(offset, self.keep)
                if fell_behind:
                    await self._write(send, self._resync_frame())
                elif entries:
                    await self._write(send, b"".join(e.sse for e in entries))
                else:
                    waiter = asyncio.create_task(
                        streams.log.wait(offset, streams.settings.ping_interval)
                    )
                    await asyncio.wait({waiter, disconnected}, return_when=asyncio.FIRST_COMPLETED)
                    if waiter.done() and not waiter.result():
                        await self._write(send, b": ping\n\n")
                    waiter.cancel()
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
        try:
            async with asyncio.timeout(self.streams.settings.send_timeout):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except TimeoutError:
            self.streams.stats.dropped_slow += 1
            log.warning("SSE client too slow; dropped")
            raise


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
