"""The WhatsApp connection as the orchestrator sees it, and what to do when it closes.

The bridge never reconnects by itself: after a close its socket is dead and it waits for a
`connect` command. Every decision is in `POLICY`, one row per disconnect reason (Baileys'
`DisconnectReason`); the README documents the same table.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator import shapes as s
from orchestrator.commands import Bridge
from orchestrator.errors import CommandError, TransportError
from orchestrator.sessionlog import SessionLog
from orchestrator.wire import Envelope, Position

log = logging.getLogger("orchestrator.lifecycle")


class Reaction(enum.Enum):
    RECONNECT_NOW = "reconnect now"
    BACKOFF = "reconnect with backoff"
    RELINK = "wipe the credentials and show a new QR"
    STOP = "stop until an operator acts"


@dataclass(frozen=True, slots=True)
class Rule:
    reaction: Reaction
    state: s.ConnectionState
    explanation: str


PROXY_REFUSED = 407  # the bridge's outbound proxy (BRIDGE_PROXY) refused its credentials
POLICY: dict[int, Rule] = {
    515: Rule(Reaction.RECONNECT_NOW, "connecting", "restart required (normal after pairing)"),
    401: Rule(Reaction.RELINK, "logged_out", "logged out from the phone: scan the new QR"),
    440: Rule(Reaction.STOP, "replaced", "replaced by another session; POST /admin/reconnect"),
    403: Rule(Reaction.STOP, "stopped", "forbidden by WhatsApp"),
    411: Rule(Reaction.STOP, "stopped", "multi-device mismatch: POST /admin/logout, link again"),
    # Retrying cannot fix credentials: stop, and say so, instead of backing off for ever.
    PROXY_REFUSED: Rule(
        Reaction.STOP,
        "stopped",
        "the number's proxy refused its credentials: fix the session's proxy, then POST "
        "/admin/connect",
    ),
}
OTHERWISE = Rule(Reaction.BACKOFF, "close", "connection lost")  # 428, 408, 500, 503, unknown
QR_TIMED_OUT = 408  # Baileys ends a QR session that nobody scanned with 408
BAD_SESSION = 500
BAD_SESSION_REPEATS = 3
STOPPED_STATES = {"logged_out", "replaced", "stopped"}
RECONCILE_GRACE = 10.0  # seconds after a connect during which heartbeats saying "close" are stale
PROXY_AUTH_FAILED = re.compile(r"Socks5? Authentication failed|Proxy Authentication Required", re.I)
NETWORK_ERROR = re.compile(
    r"\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ECONNRESET)\b"
)


@dataclass(frozen=True, slots=True)
class CloseReason:
    status_code: int | None
    message: str
    unreachable: bool
    hint: str | None = None

    @classmethod
    def from_update(cls, update: dict[str, Any]) -> CloseReason:
        last = update.get("lastDisconnect")
        error = last.get("error") if isinstance(last, dict) else None
        encoded = error.get("$error") if isinstance(error, dict) else None
        if not isinstance(encoded, dict):
            return cls(None, "connection closed", False)
        code = encoded.get("statusCode")
        message = str(encoded.get("message") or "connection closed")
        status_code = code if type(code) is int else None
        if PROXY_AUTH_FAILED.search(message):
            # An HTTP proxy's 407 comes as is; a SOCKS proxy's refusal as a 500 with this text.
            status_code = PROXY_REFUSED
        return cls(status_code, message, bool(NETWORK_ERROR.search(message)))

    def as_json(self) -> s.CloseReason:
        return {
            "statusCode": self.status_code,
            "message": self.message,
            "unreachable": self.unreachable,
            "hint": self.hint,
        }


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, initial * 2**attempt)]."""
    return rng.uniform(0, min(cap, initial * 2 ** min(attempt, 30)))


@dataclass(frozen=True)
class LifecycleSettings:
    reconnect_initial: float
    reconnect_max: float
    stable_after: float  # an open that lasts this long resets the backoff
    qr_rounds: int  # QR sessions shown before we stop issuing new ones
    qr_viewer_window: float  # someone "is looking" if they fetched the QR this recently


class ConnectionLifecycle:
    """Consumes `connection.update`s; decides, and sends the bridge its commands."""

    def __init__(
        self,
        bridge: Bridge,
        settings: LifecycleSettings,
        *,
        viewers: Callable[[], int] = lambda: 0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        session: str = "default",
    ) -> None:
        self._log = SessionLog(log, session)
        self._bridge = bridge
        self.settings = settings
        self._viewers = viewers  # stream clients: they would see a new QR too
        self._rng = rng or random.Random()
        self._clock = clock
        self.state: s.ConnectionState = "connecting"
        self.qr: str | None = None
        self.me: dict[str, Any] | None = None
        self.last_close: CloseReason | None = None
        self.attempt = 0
        self.next_retry_at: float | None = None
        self.reconnects = 0
        self.closes: Counter[int | None] = Counter()
        self.qr_rounds = 0
        self._qr_viewed_at: float | None = None
        self._opened_at: float | None = None
        self._bad_sessions = 0
        self._last_connect: float | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self.state == "open"

    def connection_status(self) -> s.ConnectionStatus:
        return {
            "connected": self.connected,
            "state": self.state,
            "reason": self.last_close.as_json() if self.last_close else None,
        }

    # ---- events -------------------------------------------------------------------------

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> None:
        for envelope in batch:
            if envelope.event == "connection.update" and isinstance(envelope.data, dict):
                self._on_update(envelope.data, live=not replayed)
            elif envelope.event == "creds.update" and isinstance(envelope.data, dict):
                me = envelope.data.get("me")
                if isinstance(me, dict):
                    self.me = me
            elif envelope.event == "bridge.started":
                # A new bridge process: its socket starts over (it connects at boot).
                self._cancel_retry()
                if self.state not in STOPPED_STATES:
                    self.state = "connecting"

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        """Connection state is re-read from every event, so a lost stretch needs nothing here."""

    def _on_update(self, update: dict[str, Any], *, live: bool) -> None:
        if isinstance(update.get("qr"), str):
            self.qr = update["qr"]
            if self.state != "logged_out":  # stays logged_out until the new QR is scanned
                self.state = "qr"
        connection = update.get("connection")
        if connection == "connecting" and self.state not in ("qr", "logged_out"):
            self.state = "connecting"
        elif connection == "open":
            self.state, self.qr, self.last_close = "open", None, None
            self.qr_rounds = 0
            self._opened_at = self._clock()
            self._cancel_retry()
            self._log.info("WhatsApp connection open")
        elif connection == "close":
            reason = CloseReason.from_update(update)
            showing_qr = self.qr is not None
            self.qr = None
            self.closes[reason.status_code] += 1
            if live:
                self._on_close(reason, showing_qr)
            else:
                # History, not news: the bridge's current state decides (see reconcile).
                self.last_close = reason
                self.state = POLICY.get(reason.status_code or 0, OTHERWISE).state

    def _on_close(self, reason: CloseReason, showing_qr: bool) -> None:
        if (
            self._opened_at is not None
            and self._clock() - self._opened_at >= self.settings.stable_after
        ):
            self.attempt = 0  # it was a stable connection: this is a fresh failure
        self._opened_at = None
        if showing_qr and reason.status_code == QR_TIMED_OUT:
            self._on_qr_expired(reason)
            return
        self._bad_sessions = self._bad_sessions + 1 if reason.status_code == BAD_SESSION else 0
        if self._bad_sessions >= BAD_SESSION_REPEATS:
            reason = _with_hint(
                reason, "repeated 500: possibly a bad session; POST /admin/logout to link again"
            )
        rule = POLICY.get(reason.status_code or 0, OTHERWISE)
        self.last_close = reason
        self.state = rule.state
        self._cancel_retry()
        what = "WhatsApp unreachable" if reason.unreachable else "WhatsApp connection closed"
        if rule.reaction is Reaction.STOP:
            self._log.warning(
                "%s (%s: %s): %s", what, reason.status_code, reason.message, rule.explanation
            )
        elif rule.reaction is Reaction.RELINK:
            self._log.warning("%s (%s): %s", what, reason.status_code, rule.explanation)
            self._run(self._relink())
        else:
            delay = 0.0
            if rule.reaction is Reaction.BACKOFF:
                delay = backoff_delay(
                    self.attempt,
                    self.settings.reconnect_initial,
                    self.settings.reconnect_max,
                    self._rng,
                )
            self.attempt += 1
            self._log.warning(
                "%s (%s: %s); reconnect attempt %d in %.1fs",
                what, reason.status_code, reason.message, self.attempt, delay,
            )  # fmt: skip
            self._schedule_connect(delay)

    def _on_qr_expired(self, reason: CloseReason) -> None:
        self.qr_rounds += 1
        looking = self.someone_is_looking()
        if self.qr_rounds < self.settings.qr_rounds and looking:
            self.state = "connecting"
            self._log.info("QR expired unscanned; issuing new ones (round %d)", self.qr_rounds + 1)
            self._schedule_connect(0.0)
            return
        why = "nobody is looking at it" if not looking else f"{self.qr_rounds} rounds unscanned"
        self.state = "stopped"
        self.last_close = _with_hint(
            reason, f"QR not scanned ({why}); open /qr or POST /admin/connect for a new one"
        )
        self._log.warning("stopped issuing QR codes: %s", why)

    # ---- what people do -----------------------------------------------------------------

    def qr_viewed(self) -> None:
        """Someone fetched the QR. If we had stopped issuing them, start again."""
        self._qr_viewed_at = self._clock()
        if (
            self.state == "stopped"
            and self.last_close
            and self.last_close.status_code == QR_TIMED_OUT
        ):
            self.request_connect()

    def someone_is_looking(self) -> bool:
        recent = self._qr_viewed_at is not None and (
            self._clock() - self._qr_viewed_at < self.settings.qr_viewer_window
        )
        return recent or self._viewers() > 0

    def request_connect(self) -> None:
        """An operator asks: connect again, whatever stopped us, with a fresh backoff."""
        self.attempt, self.qr_rounds, self._bad_sessions = 0, 0, 0
        self.state = "connecting"
        self._schedule_connect(0.0)

    def request_reconnect(self, why: str) -> None:
        """Drop the current socket and open a new one (operator, or the watchdog)."""
        self._log.warning("reconnecting: %s", why)
        self.attempt = 0
        self.state = "connecting"
        self._cancel_retry()
        self._run(self._disconnect_then_connect())

    async def logout(self) -> None:
        """Log out and wipe the credentials; a new QR follows."""
        self._cancel_retry()
        self.state, self.me, self.qr = "logged_out", None, None
        await self._bridge.logout(wipe=True)
        await self._bridge.connect()

    # ---- reconciling with the bridge ----------------------------------------------------

    def reconcile(self, bridge_connection: str | None, bridge_mode: str | None) -> None:
        """Act on the bridge's current state (from its heartbeats), not on replayed history:
        a bridge whose socket is down and that nobody is about to reconnect gets a `connect`;
        one that is open while we think otherwise (we restarted past its connection.update:
        the store's position is newer) is taken as open, with the account it is linked to."""
        if bridge_mode == "live" and bridge_connection == "open":
            if self.state not in ("open", *STOPPED_STATES) and not self._tasks:
                self._run(self._adopt_open())
            return
        if bridge_mode != "live" or bridge_connection not in ("close", "idle"):
            return
        if self._retry is not None or self._tasks:
            return
        if self._last_connect is not None and self._clock() - self._last_connect < RECONCILE_GRACE:
            return  # a heartbeat sent before our last connect: not news
        if self.state == "logged_out" and self.last_close and self.last_close.status_code == 401:
            # The 401 came while we were catching up (a replay acts on nothing): the bridge
            # still holds the removed device's credentials. Relink, as a live 401 would.
            self._log.warning("logged out from the phone while we caught up: relinking")
            self._run(self._relink())
            return
        if self.state in STOPPED_STATES:
            return
        self.state = "close"
        self._schedule_connect(
            backoff_delay(
                self.attempt,
                self.settings.reconnect_initial,
                self.settings.reconnect_max,
                self._rng,
            )
        )

    # ---- commands -----------------------------------------------------------------------

    def _schedule_connect(self, delay: float) -> None:
        self._cancel_retry()
        self.next_retry_at = time.time() + delay
        self._retry = asyncio.get_running_loop().call_later(delay, self._start_connect)

    def _start_connect(self) -> None:
        self._retry = None
        self.next_retry_at = None
        self._run(self._connect())

    def _run(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        self.reconnects += 1
        self._last_connect = self._clock()
        try:
            await self._bridge.connect()
        except (CommandError, TransportError) as exc:
            self._log.warning("bridge refused connect: %s", exc)

    async def _disconnect_then_connect(self) -> None:
        try:
            await self._bridge.disconnect()
        except (CommandError, TransportError) as exc:
            self._log.warning("bridge refused disconnect: %s", exc)
        await self._connect()

    async def _adopt_open(self) -> None:
        try:
            bridge_state = await self._bridge.state()
        except (CommandError, TransportError) as exc:
            self._log.warning("bridge state unavailable: %s", exc)
            return
        if bridge_state.get("connection") != "open" or self.state == "open":
            return
        me = bridge_state.get("me")
        if isinstance(me, dict):
            self.me = me
        self.state, self.qr, self.last_close = "open", None, None
        self._opened_at = self._clock()
        self._cancel_retry()
        self._log.info("WhatsApp connection open (as the bridge reports it)")

    async def _relink(self) -> None:
        try:
            await self._bridge.logout(wipe=True)
        except (CommandError, TransportError) as exc:
            self._log.error("could not wipe the logged-out credentials: %s", exc)
            return
        await self._connect()

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.next_retry_at = None


def _with_hint(reason: CloseReason, hint: str) -> CloseReason:
    return CloseReason(reason.status_code, reason.message, reason.unreachable, hint)
