"""How the orchestrator talks to a bridge: an event source and a command channel.

`zmq` is the embedded default, `nats` the JetStream one (ORCH_NATS_URL), `memory` an in-process
one for tests; the protocols here are what the rest of the orchestrator sees, so nothing above
the transport imports zmq or nats or sees their exceptions. What both wire transports share
(reading a reply, retrying an idempotent command) is here, once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from orchestrator.errors import CommandError, CommandTimeout
from orchestrator.shapes import TransportReport

IDEMPOTENT_ATTEMPTS = 3


class EventSource(Protocol):
    async def recv_batch(self, max_items: int) -> list[bytes]:
        """Wait for one raw envelope, then return it with all that is already queued."""
        ...

    def close(self) -> None: ...


class BridgeLink(Protocol):
    """Both ends of the link to one bridge."""

    @property
    def events(self) -> EventSource: ...

    @property
    def commands(self) -> CommandChannel: ...

    def report(self) -> TransportReport:
        """What /admin/bridge shows of the link: `kind` ("zmq", "nats", ...) and its state."""
        ...

    def close(self) -> None: ...


class CommandChannel(Protocol):
    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Run one bridge command; raises CommandError (with the bridge's code), CommandTimeout."""
        ...

    async def call_idempotent(self, method: str, params: Any = None) -> Any:
        """Like `call`, retried on timeout: only for commands that are safe to repeat."""
        ...

    def close(self) -> None: ...


def answer(method: str, message: dict[str, Any]) -> Any:
    """The result of a bridge reply `{"id","ok":true,"result"}`; CommandError for
    `{"id","ok":false,"error":{"code","message",...}}` (the extra keys go to `extra`)."""
    if message.get("ok"):
        return message.get("result")
    error = message.get("error") or {}
    extra = {k: v for k, v in error.items() if k not in ("code", "message")}
    raise CommandError(
        method, str(error.get("code", "failed")), str(error.get("message", "")), extra
    )


async def retried_on_timeout(call: Callable[[], Awaitable[Any]]) -> Any:
    """`call()`, again on CommandTimeout, a few times with jittered waits: `call_idempotent`."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(IDEMPOTENT_ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.2, max=2),
        retry=retry_if_exception_type(CommandTimeout),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
