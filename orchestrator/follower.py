"""Follows the bridge's event stream and applies every event exactly once, in order.

The ZeroMQ guide's Clone pattern with Centrifugo-style epoch+offset recovery: live events come
over PUB/SUB, which drops messages when we are away or slow; the bridge journals every envelope,
so on start, on a seq gap, on a new epoch (bridge restart) and when a heartbeat names a seq we have
not seen, we ask the bridge to `replay` from the last applied position. Anything at or below that
position is discarded, so replays and live traffic can overlap freely.

On start the follower resumes from `position`: the one stored with the data the runtime
loaded, or None (an empty store) to replay everything the bridge still holds. The applied log,
the audit record of every applied event, must not record an event twice: until a replay
passes the position it last recorded, batches go to the consumers only.

With an `identity` check (bridgeid.py) nothing is applied from a bridge that is not the one
expected: heartbeats and `bridge.started` say who published them, the `state` reply who answers
commands, checked before every catch-up. An event of a bridge run not identified yet is left
to the journal and fetched by the next catch-up, once the bridge answering it is checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.applied_log import AppliedLog
from orchestrator.bridgeid import Identity, IdentityCheck, announced
from orchestrator.commands import Bridge, ReplayPage
from orchestrator.errors import CommandError, MalformedEnvelope, TransportError
from orchestrator.sessionlog import SessionLog
from orchestrator.transport import EventSource
from orchestrator.wire import Envelope, Position, Verdict, classify, is_behind, parse_envelope

log = logging.getLogger("orchestrator.follower")

LIVE_BATCH = 1000
# The first catch-up is tried once, briefly: a bridge that is down must not hold up startup;
# its first heartbeat, when it comes, brings the catch-up back.
FIRST_ATTEMPT_TIMEOUT = 2.0
STARTED = "bridge.started"  # the first event of every bridge run: it says who the bridge is


BeforeApply = Callable[[Sequence[Envelope]], Awaitable[None]]
"""Awaited before a batch is applied (the window fill: what the batch touches must be in RAM)."""


class Consumer(Protocol):
    """What the follower feeds. `apply` must not raise and must not block on I/O; what it
    returns to await (a history sync applied in slices) is awaited before the next batch."""

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> Awaitable[None] | None: ...

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        """The bridge no longer holds what came after `last_applied`: those events are lost."""
        ...


@dataclass
class FollowerStats:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    malformed: int = 0
    gaps: int = 0
    replays: int = 0
    replayed: int = 0
    epoch_changes: int = 0
    positions_lost: int = 0
    refused: int = 0  # envelopes of a bridge that is not the one expected
    bridge_epoch: str | None = None
    bridge_seq: int | None = None
    bridge_connection: str | None = None
    bridge_mode: str | None = None
    bridge_frame_age_ms: int | None = None  # since the bridge last heard from WhatsApp


class BridgeFollower:
    def __init__(
        self,
        events: EventSource,
        bridge: Bridge,
        applied_log: AppliedLog,
        consumers: Sequence[Consumer],
        *,
        heartbeat_timeout: float,
        replay_page: int,
        clock: Callable[[], float] = time.monotonic,
        session: str = "default",
        identity: IdentityCheck | None = None,
        before_apply: BeforeApply | None = None,
    ) -> None:
        self._log = SessionLog(log, session)
        self._before_apply = before_apply
        self._identity = identity
        self.found: Identity | None = None  # what the bridge at our endpoints last announced
        self._verified: set[str] = set()  # epochs of the expected bridge
        self._pub_problem: str | None = None  # why the bridge publishing events is refused
        self._router_problem: str | None = None  # ... the one answering commands
        self._events = events
        self._bridge = bridge
        self._applied_log = applied_log
        self._consumers = consumers
        self._heartbeat_timeout = heartbeat_timeout
        self._replay_page = replay_page
        self._clock = clock
        self.stats = FollowerStats()
        self.position: Position | None = None  # the last event accepted (being applied, or done)
        # The last event every consumer has applied: `position` moves first, and a batch may be
        # applied in steps (a window fill, a history sync in slices).
        self.applied: Position | None = None
        self.alive = False
        self._last_seen: float | None = None
        self._applying_since: float | None = None
        self._catch_up_reason: str | None = "start"
        self._recorded_through: Position | None = None
        self.ready = asyncio.Event()  # set once the first catch-up has finished
        self.first_attempt_done = asyncio.Event()

    @property
    def wrong_bridge(self) -> str | None:
        """Why the bridge at our endpoints is refused (not the one expected), or None."""
        return self._pub_problem or self._router_problem

    @property
    def silence(self) -> float | None:
        """Seconds the bridge has said nothing while we listened (None: never heard from it).
        The time spent applying what it said does not count: what it says meanwhile waits in
        the socket, and a long apply (a history sync, a window fill) is not a dead bridge."""
        if self._last_seen is None:
            return None
        now = self._clock() if self._applying_since is None else self._applying_since
        return now - self._last_seen

    async def run(self) -> None:
        """Follow from `self.position` (None: from the oldest event the bridge holds)."""
        self._recorded_through = self._applied_log.open()
        self._log.info("following the bridge; applied log at %s", self._recorded_through or "start")
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._watch_heartbeats(), name="bridge-watchdog")
            tasks.create_task(self._follow(), name="bridge-follower")

    async def _follow(self) -> None:
        while True:
            if self._catch_up_reason is not None:
                # When the bridge does not answer, its next heartbeat brings us back here.
                await self._catch_up(self._catch_up_reason)
            try:
                raws = await self._events.recv_batch(LIVE_BATCH)
            except TransportError as exc:
                self._log.error("event stream failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            await self._handle_live(raws)
            # A burst keeps the socket readable, so the awaits above need not suspend: let
            # the stream clients and the API run between two batches.
            await asyncio.sleep(0)

    async def _handle_live(self, raws: list[bytes]) -> None:
        pending: list[Envelope] = []
        for raw in raws:
            self.stats.received += 1
            try:
                envelope = parse_envelope(raw)
            except MalformedEnvelope as exc:
                self.stats.malformed += 1
                self._log.warning("malformed envelope skipped: %s", exc)
                continue
            if not self._admit(envelope):
                continue
            self._heard(envelope)
            if envelope.is_heartbeat:
                self._note_heartbeat(envelope)
                if is_behind(self.position, envelope):
                    self._catch_up_reason = self._catch_up_reason or "heartbeat"
                continue
            verdict = classify(self.position, envelope)
            if verdict in (Verdict.GAP, Verdict.NEW_EPOCH):
                await self._apply(pending, replayed=False)
                pending = []
                self._note_jump(verdict, envelope)
                # Up to this event, not through it: it is here already, and it may be large.
                if not await self._catch_up(verdict.value, until=envelope.position):
                    return  # the rest of this batch is in the journal; the next catch-up gets it
                verdict = classify(self.position, envelope)
            if verdict is Verdict.APPLY:
                pending.append(envelope)
                self.position = envelope.position
            elif verdict is Verdict.DUPLICATE:
                self.stats.duplicates += 1
            else:  # the journal did not lead up to it: take it from there too
                await self._apply(pending, replayed=False)
                pending = []
                if not await self._catch_up(verdict.value):
                    return
        await self._apply(pending, replayed=False)

    def _note_jump(self, verdict: Verdict, envelope: Envelope) -> None:
        if verdict is Verdict.GAP:
            assert self.position is not None
            self.stats.gaps += 1
            self._log.warning(
                "gap in epoch %s: expected seq %d, got %d; replaying",
                envelope.epoch,
                self.position.seq + 1,
                envelope.seq,
            )
        elif self.position is not None:
            self._log.info(
                "bridge restarted: epoch %s (was %s)", envelope.epoch, self.position.epoch
            )

    async def _catch_up(self, reason: str, until: Position | None = None) -> bool:
        """Replay from the last applied position until the bridge has nothing newer, or up to
        (not including) `until`."""
        self.stats.replays += 1
        if self._identity is not None:
            try:
                await self._check_router()
            except (CommandError, TransportError) as exc:
                return self._catch_up_failed(reason, exc)
            if self.wrong_bridge is not None:
                self._catch_up_reason = reason  # asked again on the next batch: it may change
                self.first_attempt_done.set()
                return False
        if self._recorded_through is not None and not self.ready.is_set():
            try:
                await self._check_recorded_position()
            except (CommandError, TransportError) as exc:
                return self._catch_up_failed(reason, exc)
        filled = 0
        while True:
            try:
                result = await self._replay(self.position, self._replay_page, until)
            except CommandError as exc:
                if exc.code == "position_gone":
                    self._position_gone(exc.extra.get("oldest"))
                    continue
                return self._catch_up_failed(reason, exc)
            except TransportError as exc:
                return self._catch_up_failed(reason, exc)
            self._heard()  # it answered: alive, even while no PUB arrives
            batch = self._accept_replayed(result["events"])
            await self._apply(batch, replayed=True)
            filled += len(batch)
            if not result["more"] or not result["events"]:
                break
        self._catch_up_reason = None
        self.ready.set()
        self.first_attempt_done.set()
        self.stats.replayed += filled
        if reason == "heartbeat" and filled:
            self.stats.gaps += 1  # a lost tail that only the heartbeat revealed
        if filled or reason != "heartbeat":
            self._log.info(
                "caught up (%s): %d events replayed, now at %s", reason, filled, self.position
            )
        return True

    def _accept_replayed(self, raws: list[Any]) -> list[Envelope]:
        batch: list[Envelope] = []
        for raw in raws:
            try:
                envelope = parse_envelope(raw)
            except MalformedEnvelope as exc:
                self.stats.malformed += 1
                self._log.warning("malformed replayed envelope skipped: %s", exc)
                continue
            self._verified.add(envelope.epoch)  # the journal of the bridge checked just before
            position = self.position
            if position is not None and envelope.epoch != position.epoch:
                self.stats.epoch_changes += 1
            if position is not None and envelope.epoch == position.epoch:
                if envelope.seq <= position.seq:
                    self.stats.duplicates += 1
                    continue
                if envelope.seq != position.seq + 1:
                    self._log.error(
                        "bridge journal has a hole in epoch %s: %d follows %d",
                        envelope.epoch,
                        envelope.seq,
                        position.seq,
                    )
            batch.append(envelope)
            self.position = envelope.position
        return batch

    async def _replay(
        self, after: Position | None, limit: int, until: Position | None = None
    ) -> ReplayPage:
        if self.ready.is_set():
            return await self._bridge.replay(after, limit, until=until)
        return await self._bridge.replay(after, limit, until=until, timeout=FIRST_ATTEMPT_TIMEOUT)

    async def _check_recorded_position(self) -> None:
        """If the bridge no longer holds the recorded position, all it holds is new to the log."""
        position = self._recorded_through
        assert position is not None
        try:
            await self._replay(position, 1)
        except CommandError as exc:
            if exc.code != "position_gone":
                raise
            self._log.warning("applied log position %s is gone from the bridge journal", position)
            self._recorded_through = None

    # ---- which bridge ---------------------------------------------------------------------

    def _admit(self, envelope: Envelope) -> bool:
        """Whether a live envelope may be used: its bridge is the one expected."""
        if self._identity is None:
            return True
        if envelope.is_heartbeat or envelope.event == STARTED:
            self._pub_problem = self._checked(
                announced(envelope.data), envelope.epoch, "publishing events", self._pub_problem
            )
        if self.wrong_bridge is not None:
            self.stats.refused += 1
            return False
        if envelope.is_heartbeat or envelope.epoch in self._verified:
            return True
        # Its bridge.started went by before we listened: the journal keeps the event for the
        # catch-up, which checks the bridge first.
        self._catch_up_reason = self._catch_up_reason or "unidentified"
        return False

    async def _check_router(self) -> None:
        timeout = None if self.ready.is_set() else FIRST_ATTEMPT_TIMEOUT
        state = await self._bridge.state(timeout=timeout)
        epoch = state.get("epoch")
        self._router_problem = self._checked(
            announced(state), epoch if isinstance(epoch, str) else None,
            "answering commands", self._router_problem,
        )  # fmt: skip

    def _checked(
        self, identity: Identity | None, epoch: str | None, role: str, before: str | None
    ) -> str | None:
        """Check one announcement; log when the verdict changes. Returns the problem."""
        assert self._identity is not None
        problem = self._identity.problem(identity)
        self.found = identity
        if problem is None and epoch is not None:
            self._verified.add(epoch)
        if problem != before:
            if problem is not None:
                self._log.error("refusing the bridge %s: %s", role, problem)
            elif before is not None:
                self._log.info("the bridge %s is %s again; catching up", role, identity)
                self._catch_up_reason = self._catch_up_reason or "identified"
        return problem

    def _catch_up_failed(self, reason: str, exc: Exception) -> bool:
        self._catch_up_reason = reason
        self.first_attempt_done.set()
        self._log.warning(
            "replay from %s failed (%s); retrying when the bridge answers", self.position, exc
        )
        return False

    def _position_gone(self, oldest: dict[str, Any] | None) -> None:
        self.stats.positions_lost += 1
        self._log.error(
            "position %s is no longer in the bridge journal (oldest retained: %s): "
            "events after it were lost; continuing from the oldest retained event",
            self.position,
            oldest,
        )
        for consumer in self._consumers:
            consumer.position_lost(self.position, oldest)
        self.position = self.applied = None

    async def _apply(self, batch: list[Envelope], *, replayed: bool) -> None:
        if not batch:
            return
        started = self._applying_since = self._clock()
        try:
            if self._before_apply is not None:
                await self._before_apply(batch)
            for consumer in self._consumers:
                slices = consumer.apply(batch, replayed=replayed)
                if slices is not None:
                    await slices
        finally:
            self._applying_since = None
            if self._last_seen is not None:  # the silence clock stood still meanwhile
                now = self._clock()
                self._last_seen = min(self._last_seen + now - started, now)
        self._applied_log.append(self._not_yet_recorded(batch))
        self.stats.applied += len(batch)
        self.applied = batch[-1].position

    def _not_yet_recorded(self, batch: list[Envelope]) -> list[Envelope]:
        through = self._recorded_through
        if through is None:
            return batch
        for i, envelope in enumerate(batch):
            if envelope.epoch == through.epoch and envelope.seq >= through.seq:
                self._recorded_through = None
                return batch[i + 1 :] if envelope.seq == through.seq else batch[i:]
        return []

    def close(self) -> None:
        self._applied_log.close()

    def forget_silence(self) -> None:
        """Start the silence clock over (after acting on it, so we do not act twice)."""
        self._last_seen = self._clock()

    def _heard(self, envelope: Envelope | None = None) -> None:
        """The bridge said something: `envelope`, or an answer to a command."""
        self._last_seen = self._clock()
        if not self.alive:
            self.alive = True
            if envelope is None:
                self._log.info("bridge is up: it answers")
            else:
                self._log.info("bridge is up: epoch %s, seq %d", envelope.epoch, envelope.seq)

    def _note_heartbeat(self, heartbeat: Envelope) -> None:
        self.stats.bridge_epoch = heartbeat.epoch
        self.stats.bridge_seq = heartbeat.seq
        data = heartbeat.data if isinstance(heartbeat.data, dict) else {}
        self.stats.bridge_connection = data.get("connection")
        self.stats.bridge_mode = data.get("mode")
        age = data.get("lastFrameAgeMs")
        self.stats.bridge_frame_age_ms = age if type(age) is int else None

    async def _watch_heartbeats(self) -> None:
        interval = min(0.25, self._heartbeat_timeout / 4)
        while True:
            await asyncio.sleep(interval)
            self._applied_log.retry()  # records a full disk held back, once it takes them
            silence = self.silence
            if self.alive and silence is not None and silence > self._heartbeat_timeout:
                self.alive = False
                self._log.warning("bridge declared dead: silent for %.1fs", silence)
