"""The WhatsApp connection as the orchestrator sees it, and when to ask the bridge to reconnect.

The bridge never reconnects by itself: after a close its socket is dead and it waits for a
`connect` command. Which closes deserve one, and how soon, is decided here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import CommandError
from orchestrator.transport import CommandChannel
from orchestrator.wire import Envelope, Position

log = logging.getLogger("orchestrator.lifecycle")

# Disconnect reasons (Baileys' DisconnectReason) after which reconnecting on our own would be
# wrong: the user must act (re-link the phone, or decide which session wins).
TERMINAL_REASONS = {
    401: ("logged_out", "logged out from the phone: link the device again"),
    440: ("replaced", "another session replaced this one"),
    403: ("stopped", "forbidden by WhatsApp"),
    411: ("stopped", "multi-device mismatch"),
}
RESTART_REQUIRED = 515
NETWORK_ERROR = re.compile(
    r"\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ECONNRESET)\b"
)


@dataclass(frozen=True, slots=True)
class CloseReason:
    status_code: int | None
    message: str
    unreachable: bool

    @classmethod
    def from_update(cls, update: dict[str, Any]) -> CloseReason:
        last = update.get("lastDisconnect")
        error = last.get("error") if isinstance(last, dict) else None
        encoded = error.get("$error") if isinstance(error, dict) else None
        if not isinstance(encoded, dict):
            return cls(None, "connection closed", False)
        code = encoded.get("statusCode")
        message = str(encoded.get("message") or "connection closed")
        return cls(
            code if type(code) is int else None, message, bool(NETWORK_ERROR.search(message))
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "statusCode": self.status_code,
            "message": self.message,
            "unreachable": self.unreachable,
        }


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, initial * 2**attempt)]."""
    return rng.uniform(0, min(cap, initial * 2 ** min(attempt, 30)))


class ConnectionLifecycle:
    """Consumes `connection.update`s; schedules `connect` commands with backoff."""

    def __init__(
        self,
        commands: CommandChannel,
        *,
        reconnect_initial: float,
        reconnect_max: float,
        rng: random.Random | None = None,
    ) -> None:
        self._commands = commands
        self._initial = reconnect_initial
        self._max = reconnect_max
        self._rng = rng or random.Random()
        self.state = "connecting"
        self.qr: str | None = None
        self.me: dict[str, Any] | None = None
        self.last_close: CloseReason | None = None
        self.attempt = 0
        self.next_retry_at: float | None = None
        self.reconnects = 0
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self.state == "open"

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "state": self.state,
            "reason": self.last_close.as_json() if self.last_close else None,
            "attempt": self.attempt,
            "nextRetryAt": self.next_retry_at,
            "me": self.me,
        }

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> None:
        for envelope in batch:
            if envelope.event == "connection.update" and isinstance(envelope.data, dict):
                self._on_update(envelope.data, live=not replayed)
            elif envelope.event == "creds.update" and isinstance(envelope.data, dict):
                me = envelope.data.get("me")
                if isinstance(me, dict):
                    self.me = me
            elif envelope.event == "bridge.started":
                # A new bridge process: its socket starts over (auto-connect), so does our count.
                self._cancel_retry()
                self.state = "connecting"

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        """Connection state is re-read from every event, so a lost stretch needs nothing here."""

    def _on_update(self, update: dict[str, Any], *, live: bool) -> None:
        if isinstance(update.get("qr"), str):
            self.qr = update["qr"]
            self.state = "qr"
        connection = update.get("connection")
        if connection == "connecting":
            self.state = "connecting"
        elif connection == "open":
            self.state, self.qr, self.attempt = "open", None, 0
            self.last_close = None
            self._cancel_retry()
            log.info("WhatsApp connection open")
        elif connection == "close":
            self.last_close = CloseReason.from_update(update)
            self._on_close(self.last_close, live=live)

    def _on_close(self, reason: CloseReason, *, live: bool) -> None:
        terminal = TERMINAL_REASONS.get(reason.status_code or 0)
        if terminal is not None:
            self.state = terminal[0]
            self._cancel_retry()
            log.warning("WhatsApp connection closed (%s): %s", reason.status_code, terminal[1])
            return
        self.state = "close"
        if not live:
            return  # history, not news: the bridge's current state decides (see reconcile)
        if reason.status_code == RESTART_REQUIRED:
            delay = 0.0
        else:
            delay = backoff_delay(self.attempt, self._initial, self._max, self._rng)
        self.attempt += 1
        what = "WhatsApp unreachable" if reason.unreachable else "WhatsApp connection closed"
        log.warning(
            "%s (%s: %s); reconnect attempt %d in %.1fs",
            what,
            reason.status_code,
            reason.message,
            self.attempt,
            delay,
        )
        self._schedule_connect(delay)

    def reconcile(self, bridge_connection: str | None, bridge_mode: str | None) -> None:
        """Act on the bridge's current state (from its heartbeats), not on replayed history:
        a bridge whose socket is down and that nobody is about to reconnect gets a `connect`."""
        if bridge_mode != "live" or bridge_connection not in ("close", "idle"):
            return
        if self.state in {state for state, _ in TERMINAL_REASONS.values()}:
            return
        if self._retry is None and not self._tasks:
            self.state = "close"
            self._schedule_connect(backoff_delay(self.attempt, self._initial, self._max, self._rng))

    def _schedule_connect(self, delay: float) -> None:
        self._cancel_retry()
        loop = asyncio.get_running_loop()
        self.next_retry_at = time.time() + delay
        self._retry = loop.call_later(delay, self._start_connect)

    def _start_connect(self) -> None:
        self._retry = None
        self.next_retry_at = None
        task = asyncio.get_running_loop().create_task(self._connect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        self.reconnects += 1
        try:
            await self._commands.call("connect")
        except CommandError as exc:
            log.warning("bridge refused connect: %s", exc)

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.next_retry_at = None
