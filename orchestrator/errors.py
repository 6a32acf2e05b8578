"""The orchestrator's errors, one tree. Foreign errors (zmq, OS) are translated where they occur.

OrchestratorError
├── MalformedEnvelope      an envelope from the bridge that breaks the wire contract
├── TransportError         the ZeroMQ link failed (closed socket, bad endpoint)
├── StoreError             the store could not read or write (down, full, locked, corrupt)
│   └── ConflictError      a write broke a uniqueness rule (a tag or shortcut that exists)
└── CommandError           the bridge answered a command with an error (has `code`)
    └── CommandTimeout     no answer in time (bridge down, busy or unreachable)
"""

from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    pass


class MalformedEnvelope(OrchestratorError):
    pass


class TransportError(OrchestratorError):
    pass


class StoreError(OrchestratorError):
    pass


class ConflictError(StoreError):
    """`code` is stable ("tag_exists", "quick_reply_exists"); `message` names the value in
    conflict and never carries SQL or driver text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CommandError(OrchestratorError):
    def __init__(self, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extra = extra or {}


class CommandTimeout(CommandError):
    def __init__(self, method: str, seconds: float) -> None:
        super().__init__("timeout", f"bridge did not answer {method!r} within {seconds:g}s")
