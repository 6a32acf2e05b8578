"""How the orchestrator talks to a bridge: an event source and a command channel.

`zmq` is the implementation, `memory` an in-process one for tests; the protocols here are what
the rest of the orchestrator sees, so nothing above the transport imports zmq or sees its
exceptions.
"""

from __future__ import annotations

from typing import Any, Protocol


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

    def close(self) -> None: ...


class CommandChannel(Protocol):
    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Run one bridge command; raises CommandError (with the bridge's code), CommandTimeout."""
        ...

    async def call_idempotent(self, method: str, params: Any = None) -> Any:
        """Like `call`, retried on timeout: only for commands that are safe to repeat."""
        ...

    def close(self) -> None: ...
