"""A stand-in for the bridge on NATS, speaking the contract of issue #15 with nats-py: it
publishes envelopes to JetStream (`<prefix>.<session>.events`, `Nats-Msg-Id: <epoch>:<seq>`,
`Wa-Lease: <term>`), heartbeats as core messages, and answers `<prefix>.<session>.cmd`.

It is a real NATS client behind the same subjects as the Node bridge (not a patch of the
orchestrator's code): what the orchestrator's JetStream transport sees is what it would see from
the bridge. `handler(method, params)` answers commands (a result, or CommandFailed for an error
reply); without one, every command is refused with `replay_mode`, as a replaying bridge does.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tests.natsserver import Names

Handler = Callable[[str, Any], Any]


class CommandFailed(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def stream_config(names: Names, max_age: int = 604_800) -> dict[str, Any]:
    """The contract's stream, as the JetStream API takes it (written out here, not imported
    from the orchestrator: the test checks that both sides agree)."""
    return {
        "name": names.stream,
        "subjects": [f"{names.prefix}.*.events"],
        "storage": "file",
        "retention": "limits",
        "max_age": max_age * 1_000_000_000,
        "max_bytes": 1_073_741_824,
        "num_replicas": 1,
        "discard": "old",
        "duplicate_window": 120 * 1_000_000_000,
        "allow_direct": True,
    }


class StandInBridge:
    def __init__(
        self,
        url: str,
        names: Names,
        session: str = "default",
        *,
        epoch: str | None = None,
        term: int = 0,
        handler: Handler | None = None,
        answer_commands: bool = True,
    ) -> None:
        self.url = url
        self.names = names
        self.session = session
        self.epoch = epoch or f"e{secrets.token_hex(6)}"
        self.seq = 0
        self.term = term
        self.handler = handler
        self.answer_commands = answer_commands
        self.commands: list[tuple[str, Any]] = []
        self.client: Client | None = None
        self._cmd: Subscription | None = None
        self._heartbeats: asyncio.Task[None] | None = None

    def subject(self, kind: str) -> str:
        return f"{self.names.prefix}.{self.session}.{kind}"

    async def start(self, *, heartbeat_every: float | None = 0.2) -> StandInBridge:
        self.client = await nats.connect(
            self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2
        )
        try:
            await ensure_stream(self.client, self.names)
        except BaseException:
            await self.client.close()  # a start that fails leaves no connection behind
            raise
        if self.answer_commands:
            await self.listen()
        if heartbeat_every is not None:
            self._heartbeats = asyncio.create_task(self._beat(heartbeat_every))
        return self

    async def listen(self) -> None:
        assert self.client is not None
        self._cmd = await self.client.subscribe(self.subject("cmd"), cb=self._answer)

    async def stop_listening(self) -> None:
        if self._cmd is not None:
            await self._cmd.unsubscribe()
            self._cmd = None

    async def close(self) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeats
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()

    def new_epoch(self) -> None:
        """A bridge restart: a new epoch, seqs from 1 again."""
        self.epoch, self.seq = f"e{secrets.token_hex(6)}", 0

    def envelope(self, event: str, data: Any, seq: int | None = None) -> bytes:
        return orjson.dumps(
            {
                "v": 1,
                "epoch": self.epoch,
                "seq": self.seq if seq is None else seq,
                "ts": int(time.time() * 1000),
                "event": event,
                "data": data,
            }
        )

    async def publish(self, event: str, data: Any, *, term: int | None = None) -> int:
        """One event, acknowledged by JetStream (retried until it is, as the bridge does while
        NATS is away); its stream sequence."""
        assert self.client is not None
        self.seq += 1
        raw = self.envelope(event, data)
        headers = {"Nats-Msg-Id": f"{self.epoch}:{self.seq}", "Wa-Lease": str(term or self.term)}
        js = self.client.jetstream(timeout=2)
        while True:
            try:
                ack = await js.publish(self.subject("events"), raw, headers=headers)
                return ack.seq
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(0.1)

    async def publish_many(self, count: int, event: str = "test.event") -> list[int]:
        """`count` events, published concurrently in windows (order kept: one connection, and
        each window is awaited before the next)."""
        assert self.client is not None
        sequences: list[int] = []
        window = 200
        for start in range(0, count, window):
            batch = [
                self.publish(event, {"i": i}) for i in range(start, min(start + window, count))
            ]
            # gather keeps submission order on one connection: seq n is published before n+1.
            sequences += await asyncio.gather(*batch)
        return sequences

    async def heartbeat(self, data: dict[str, Any] | None = None) -> None:
        assert self.client is not None
        raw = self.envelope("bridge.heartbeat", data or {"connection": "close", "mode": "replay"})
        with contextlib.suppress(nats.errors.Error):
            await self.client.publish(
                self.subject("heartbeat"), raw, headers={"Wa-Lease": str(self.term)}
            )

    async def _beat(self, every: float) -> None:
        while True:
            await self.heartbeat()
            await asyncio.sleep(every)

    async def _answer(self, msg: Msg) -> None:
        request = orjson.loads(msg.data)
        method, params = request["method"], request.get("params")
        self.commands.append((method, params))
        try:
            if self.handler is None:
                raise CommandFailed("replay_mode", "the stand-in bridge has no WhatsApp")
            result = self.handler(method, params)
            if asyncio.iscoroutine(result):
                result = await result
            reply = {"id": request["id"], "ok": True, "result": result}
        except CommandFailed as exc:
            reply = {
                "id": request["id"],
                "ok": False,
                "error": {"code": exc.code, "message": exc.message},
            }
        await msg.respond(orjson.dumps(reply))


async def ensure_stream(client: Client, names: Names) -> None:
    """Create the contract's stream (or leave it as it is, when the orchestrator made it)."""
    body = orjson.dumps(stream_config(names))
    reply = await client.request(f"$JS.API.STREAM.CREATE.{names.stream}", body, timeout=5)
    answer = orjson.loads(reply.data)
    error = answer.get("error")
    if error and error.get("err_code") == 10065:  # subjects overlap: lost a race to create it?
        info = await client.request(f"$JS.API.STREAM.INFO.{names.stream}", b"", timeout=5)
        if "error" not in orjson.loads(info.data):
            return
    if error and error.get("err_code") != 10058:  # exists with another config: the test's
        raise RuntimeError(f"cannot create stream {names.stream}: {error}")


class Threaded:
    """A stand-in bridge on an event loop of its own, in a thread: for tests that drive real
    processes with blocking calls. `run(coroutine_fn)` runs `coroutine_fn(bridge)` there."""

    def __init__(self, bridge: StandInBridge) -> None:
        self.bridge = bridge
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Callable[[StandInBridge], Any], timeout: float = 120.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(work(self.bridge), self._loop)
        return future.result(timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(lambda b: b.close(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextlib.contextmanager
def threaded_bridge(bridge: StandInBridge, **start: Any) -> Iterator[Threaded]:
    threaded = Threaded(bridge)
    try:
        threaded.run(lambda b: b.start(**start))
        yield threaded
    finally:
        threaded.close()
