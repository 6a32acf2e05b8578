"""ZeroMQ transport: SUB for the bridge's events, DEALER for its ROUTER command socket."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from dataclasses import dataclass
from typing import Any

import orjson
import zmq
import zmq.asyncio

from orchestrator.errors import CommandTimeout, TransportError
from orchestrator.shapes import TransportReport
from orchestrator.transport import answer, retried_on_timeout

log = logging.getLogger("orchestrator.transport")

# Replay pages can be several MiB; the default SUB queue of 1000 messages overflows under bursts,
# which the follower survives (gap -> replay) but costs a round trip, so keep a deeper queue.
SUB_HWM = 100_000


@dataclass(frozen=True)
class CurveKeys:
    """CURVE client keys (Z85): the bridge's public key, and our own pair."""

    server_key: str
    public_key: str
    secret_key: str

    def apply(self, socket: zmq.asyncio.Socket) -> None:
        socket.curve_serverkey = self.server_key.encode()
        socket.curve_publickey = self.public_key.encode()
        socket.curve_secretkey = self.secret_key.encode()


def curve_keys(
    server_key: str | None, public_key: str | None, secret: str | None
) -> CurveKeys | None:
    """Keys for the link, when configured; a client pair is made up if none was given (the
    link is then encrypted, and the bridge authenticated, but not we to it)."""
    if not server_key:
        return None
    if not (public_key and secret):
        made_public, made_secret = zmq.curve_keypair()
        public_key, secret = made_public.decode(), made_secret.decode()
    return CurveKeys(server_key, public_key, secret)


class ZmqEventSource:
    def __init__(
        self,
        context: zmq.asyncio.Context,
        endpoint: str,
        hwm: int = SUB_HWM,
        curve: CurveKeys | None = None,
    ) -> None:
        self.endpoint = endpoint
        try:
            self._socket = context.socket(zmq.SUB)
            if curve is not None:
                curve.apply(self._socket)
            self._socket.setsockopt(zmq.RCVHWM, hwm)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.setsockopt(zmq.SUBSCRIBE, b"")
            self._socket.connect(endpoint)
        except zmq.ZMQError as exc:
            raise TransportError(f"cannot subscribe to {endpoint}: {exc}") from exc

    async def recv_batch(self, max_items: int) -> list[bytes]:
        try:
            batch: list[bytes] = [await self._socket.recv()]
            while len(batch) < max_items:
                try:
                    # A DONTWAIT receive on an asyncio socket completes at once (or raises Again).
                    batch.append(await self._socket.recv(zmq.DONTWAIT))
                except zmq.Again:
                    break
        except zmq.ZMQError as exc:
            raise TransportError(f"receiving from {self.endpoint} failed: {exc}") from exc
        return batch

    def close(self) -> None:
        self._socket.close(linger=0)


class ZmqCommandChannel:
    """Requests carry an id; one reader task matches replies to the waiting callers."""

    def __init__(
        self,
        context: zmq.asyncio.Context,
        endpoint: str,
        default_timeout: float,
        curve: CurveKeys | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.default_timeout = default_timeout
        self._ids = itertools.count(1)
        self._prefix = f"o{os.getpid()}-"
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        try:
            self._socket = context.socket(zmq.DEALER)
            if curve is not None:
                curve.apply(self._socket)
            self._socket.setsockopt(zmq.LINGER, 0)
            # Without IMMEDIATE a request sent while the bridge is away waits in the queue and is
            # delivered, long after its caller gave up, to the next bridge that comes up.
            self._socket.setsockopt(zmq.IMMEDIATE, 1)
            self._socket.connect(endpoint)
        except zmq.ZMQError as exc:
            raise TransportError(f"cannot connect to {endpoint}: {exc}") from exc

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_replies(), name="bridge-replies")
        seconds = self.default_timeout if timeout is None else timeout
        request_id = f"{self._prefix}{next(self._ids)}"
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        request = {"id": request_id, "method": method, "params": {} if params is None else params}
        try:
            async with asyncio.timeout(seconds):
                await self._socket.send(orjson.dumps(request))
                message = await reply
        except TimeoutError:
            raise CommandTimeout(method, seconds) from None
        except zmq.ZMQError as exc:
            raise TransportError(f"sending {method!r} to {self.endpoint} failed: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)
        return answer(method, message)

    async def call_idempotent(self, method: str, params: Any = None) -> Any:
        return await retried_on_timeout(lambda: self.call(method, params))

    async def _read_replies(self) -> None:
        while True:
            try:
                frames = await self._socket.recv_multipart()
            except zmq.ZMQError as exc:
                if exc.errno == zmq.ENOTSOCK:
                    return
                log.error("reading bridge replies from %s failed: %s", self.endpoint, exc)
                await asyncio.sleep(0.1)
                continue
            try:
                message = orjson.loads(frames[-1])
                waiter = self._pending.get(str(message.get("id")))
            except (orjson.JSONDecodeError, AttributeError):
                log.warning("unreadable reply from bridge at %s skipped", self.endpoint)
                continue
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self._socket.close(linger=0)


class ZmqLink:
    """The event subscription and the command channel to one bridge, on one context."""

    def __init__(
        self, pub: str, router: str, command_timeout: float, curve: CurveKeys | None
    ) -> None:
        self._context = zmq.asyncio.Context()
        self.events = ZmqEventSource(self._context, pub, curve=curve)
        self.commands = ZmqCommandChannel(self._context, router, command_timeout, curve)

    def report(self) -> TransportReport:
        return {
            "kind": "zmq",
            "connected": None,
            "stream": None,
            "lastStreamSeq": None,
            "fenced": None,
        }

    def close(self) -> None:
        self.events.close()
        self.commands.close()
        self._context.term()
