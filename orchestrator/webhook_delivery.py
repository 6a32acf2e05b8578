"""Webhook delivery: every stream event an endpoint takes becomes a delivery, recorded in the
outbox by the session's write-behind (with the history, before the position it follows), and
posted at once from RAM.

Why it loses nothing: a delivery is in the store before the store's position passes its event,
so after a crash either its row is there (pending: delivered again) or the bridge replays the
event and it is offered again under the same id. Receivers de-duplicate on `webhook-id`.

Order: per endpoint, one lane per (session, chat); a lane posts one event at a time, so a
chat's events arrive in stream order, retries included, while other chats go on. Lanes share
the endpoint's concurrency; a lane that has posted goes to the back of the line.

Retries wait with full jitter, at least the receiver's Retry-After. A delivery still failing
`horizon` seconds after its event was offered goes to the dead letters; an endpoint that failed
everything for the whole horizon, or answered 410, is disabled.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator import shapes as s
from orchestrator.errors import StoreError
from orchestrator.eventlog import Entry
from orchestrator.lifecycle import backoff_delay
from orchestrator.store import Row, Store
from orchestrator.webhook_endpoints import Endpoint, iso, optional_float

if TYPE_CHECKING:  # the sender is imported once a delivery is made: aiohttp takes 0.14 s
    import aiohttp

    from orchestrator.webhook_sender import Outcome

log = logging.getLogger("orchestrator.webhooks")

LaneKey = tuple[str, str | None]  # (session, chat id): None for events of no chat
PRUNE_INTERVAL = 3600.0
RECENT = 10_000  # finished deliveries kept per endpoint for the listing (~300 B each)


@dataclass(frozen=True)
class DeliverySettings:
    timeout: float = 10.0
    retry_initial: float = 1.0
    retry_max: float = 3600.0
    horizon: float = 86_400.0
    retention: float = 7 * 86_400.0
    allowed_hosts: frozenset[str] = frozenset()  # ORCH_MEDIA_URL_ALLOWLIST: may be private


class OutboxSink(Protocol):
    """Where a session's outbox goes: its write-behind, which stores each item's row (as it
    is then) with its next batch; the event path only hands the objects over."""

    def webhook_event(self, event: OutboxEvent) -> None: ...

    def webhook_delivery(self, delivery: Delivery) -> None: ...


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A stream entry some endpoint takes, as the outbox keeps it (for restarts, replays)."""

    id: str
    ord: int
    type: str
    chat_id: str | None
    json: bytes
    at: float

    @property
    def key(self) -> str:
        return self.id

    @classmethod
    def from_row(cls, row: Row) -> OutboxEvent:
        return cls(
            row["id"], int(row["ord"]), row["type"], row.get("chat_id"), row["json"].encode(),
            float(row.get("at") or 0.0),
        )  # fmt: skip

    def row(self) -> Row:
        return {
            "id": self.id,
            "ord": self.ord,
            "type": self.type,
            "chat_id": self.chat_id,
            "json": self.json.decode(),
            "at": self.at,
        }


@dataclass(slots=True)
class Delivery:
    webhook_id: str
    session: str
    event_id: str
    ord: int
    type: str
    chat_id: str | None
    body: bytes
    created_at: float
    status: str = "pending"
    attempts: int = 0
    last_attempt_at: float | None = None
    next_attempt_at: float | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    response_excerpt: str | None = None

    @property
    def lane(self) -> LaneKey:
        return (self.session, self.chat_id)

    @property
    def key(self) -> tuple[str, str]:
        return (self.webhook_id, self.event_id)

    def row(self) -> Row:
        return {
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "ord": self.ord,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "last_attempt_at": self.last_attempt_at,
            "next_attempt_at": self.next_attempt_at,
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "response_excerpt": self.response_excerpt,
        }

    @classmethod
    def of(cls, event: OutboxEvent, webhook_id: str, session: str, now: float) -> Delivery:
        """A new delivery of the event to the endpoint."""
        return cls(
            webhook_id, session, event.id, event.ord, event.type, event.chat_id, event.json, now
        )

    def event(self) -> OutboxEvent:
        return OutboxEvent(self.event_id, self.ord, self.type, self.chat_id, self.body, 0.0)

    def json(self) -> s.WebhookDelivery:
        return delivery_json(
            self.session, {**self.row(), "type": self.type, "chat_id": self.chat_id}
        )

    @classmethod
    def from_rows(cls, session: str, row: Row, event: Row) -> Delivery:
        return cls(
            webhook_id=row["webhook_id"],
            session=session,
            event_id=row["event_id"],
            ord=int(row["ord"]),
            type=event["type"],
            chat_id=event.get("chat_id"),
            body=event["json"].encode(),
            created_at=float(row["created_at"]),
            status=row["status"],
            attempts=int(row["attempts"]),
            last_attempt_at=optional_float(row.get("last_attempt_at")),
            next_attempt_at=optional_float(row.get("next_attempt_at")),
            status_code=row.get("status_code"),
            latency_ms=optional_float(row.get("latency_ms")),
            error=row.get("error"),
            response_excerpt=row.get("response_excerpt"),
        )


def delivery_json(session: str, row: Row) -> s.WebhookDelivery:
    return {
        "eventId": row["event_id"],
        "session": session,
        "type": row.get("type") or "",
        "chatId": row.get("chat_id"),
        "status": row["status"],
        "attempts": int(row["attempts"]),
        "createdAt": iso(float(row["created_at"])) or "",
        "lastAttemptAt": iso(optional_float(row.get("last_attempt_at"))),
        "nextAttemptAt": iso(optional_float(row.get("next_attempt_at"))),
        "statusCode": row.get("status_code"),
        "latencyMs": optional_float(row.get("latency_ms")),
        "error": row.get("error"),
        "responseExcerpt": row.get("response_excerpt"),
    }


@dataclass
class EndpointStats:
    delivered: int = 0
    failed: int = 0
    dead: int = 0  # gone to the dead letters since the start
    dead_letters: int = 0  # held now (stored ones counted at start, replays taken off)
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None


class Lanes:
    """One endpoint's deliveries: its lanes, the line of lanes ready to post, and the posts in
    flight (at most the endpoint's concurrency)."""

    def __init__(self, endpoint: Endpoint, dispatcher: Webhooks) -> None:
        self.endpoint = endpoint
        self.stats = dispatcher.stats.setdefault(endpoint.id, EndpointStats())
        self._dispatcher = dispatcher
        self._lanes: dict[LaneKey, deque[Delivery]] = {}
        self._ready: deque[LaneKey] = deque()
        self._timers: dict[LaneKey, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0  # posts started and not finished (a task's own count, not _tasks')
        self._client: aiohttp.ClientSession | None = None
        self._keys: set[str] = set()  # event ids held, so a replay does not queue one twice

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def holds(self, event_id: str) -> bool:
        return event_id in self._keys

    def deliveries(self) -> Iterable[Delivery]:
        for lane in self._lanes.values():
            yield from lane

    def add(self, delivery: Delivery) -> None:
        lane = self._lanes.get(delivery.lane)
        if lane is None:
            lane = self._lanes[delivery.lane] = deque()
        lane.append(delivery)
        self._keys.add(delivery.event_id)
        if len(lane) == 1:
            self._schedule(delivery.lane, delivery.next_attempt_at)

    def retrying(self) -> int:
        return sum(1 for lane in self._lanes.values() if lane and lane[0].status == "retrying")

    def oldest(self) -> float | None:
        heads = [lane[0].created_at for lane in self._lanes.values() if lane]
        return min(heads) if heads else None

    def _schedule(self, key: LaneKey, at: float | None) -> None:
        wait = 0.0 if at is None else at - self._dispatcher.clock()
        if wait <= 0:
            self._ready.append(key)
            self._pump()
        else:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(wait, self._due, key)

    def _due(self, key: LaneKey) -> None:
        self._timers.pop(key, None)
        self._ready.append(key)
        self._pump()

    def _pump(self) -> None:
        while self._ready and self._in_flight < self.endpoint.concurrency:
            key = self._ready.popleft()
            lane = self._lanes.get(key)
            if not lane:
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._attempt(key, lane[0]), name=f"webhook-{key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def changed(self, endpoint: Endpoint) -> None:
        """New settings (filters, URL, concurrency): the lanes stay."""
        if endpoint.concurrency != self.endpoint.concurrency:
            self._dispatcher.close_client(self._client)  # sized for the old concurrency
            self._client = None
        self.endpoint = endpoint
        self._pump()

    async def _attempt(self, key: LaneKey, delivery: Delivery) -> None:
        try:
            await self._post(key, delivery)
        finally:
            self._in_flight -= 1
        self._pump()

    async def _post(self, key: LaneKey, delivery: Delivery) -> None:
        from orchestrator.webhook_sender import client, headers, post

        dispatcher, endpoint = self._dispatcher, self.endpoint
        if self._client is None:
            settings = dispatcher.settings
            self._client = client(settings.timeout, endpoint.concurrency, settings.allowed_hosts)
        now = dispatcher.clock()
        sent = headers(endpoint.signing_secrets(now), delivery.event_id, delivery.body, now)
        outcome = await post(self._client, endpoint.url, delivery.body, sent, now)
        if self._lanes.get(key) is None or self._lanes[key][0] is not delivery:
            return  # dropped meanwhile (the endpoint deleted, disabled, the session gone)
        dispatcher.observe(endpoint.id, outcome.latency)
        self._record(delivery, outcome, now)
        if outcome.delivered:
            self._succeeded(key, delivery, now)
        elif outcome.gone:
            dispatcher.disable(endpoint.id, "the receiver answered 410 Gone")
        else:
            self._failed(key, delivery, outcome, now)

    def _record(self, delivery: Delivery, outcome: Outcome, now: float) -> None:
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.status_code = outcome.status_code
        delivery.latency_ms = round(outcome.latency * 1000, 3)
        delivery.error = outcome.error
        delivery.response_excerpt = outcome.excerpt

    def _succeeded(self, key: LaneKey, delivery: Delivery, now: float) -> None:
        delivery.status, delivery.next_attempt_at = "delivered", None
        self.stats.delivered += 1
        self.stats.last_success_at = now
        self._done(key, delivery)

    def _failed(self, key: LaneKey, delivery: Delivery, outcome: Outcome, now: float) -> None:
        dispatcher, stats = self._dispatcher, self.stats
        stats.failed += 1
        stats.last_failure_at, stats.last_error = now, outcome.error
        horizon = dispatcher.settings.horizon
        if now - delivery.created_at >= horizon:
            log.warning(
                "webhook %s: event %s undelivered after %.0f s (%s): dead letter",
                self.endpoint.id, delivery.event_id, horizon, outcome.error,
            )  # fmt: skip
            self._dead(delivery)
            self._done(key, delivery)
            if stats.last_success_at is None or stats.last_success_at < delivery.created_at:
                # Nothing went through for the whole horizon: stop trying the rest.
                dispatcher.disable(
                    self.endpoint.id, f"failed every delivery for {horizon:.0f} s: {outcome.error}"
                )
            return
        wait = dispatcher.backoff(delivery.attempts, outcome.retry_after)
        wait = min(wait, max(0.0, delivery.created_at + horizon - now))
        delivery.status, delivery.next_attempt_at = "retrying", now + wait
        dispatcher.persist(delivery)
        self._schedule(key, delivery.next_attempt_at)

    def _dead(self, delivery: Delivery) -> None:
        delivery.status, delivery.next_attempt_at = "dead", None
        self.stats.dead += 1
        self.stats.dead_letters += 1

    def _done(self, key: LaneKey, delivery: Delivery) -> None:
        self._dispatcher.persist(delivery)
        self._dispatcher.finished(delivery)
        lane = self._lanes[key]
        lane.popleft()
        self._keys.discard(delivery.event_id)
        if lane:
            self._schedule(key, lane[0].next_attempt_at)
        else:
            del self._lanes[key]

    def drop_session(self, session: str) -> None:
        for key in [k for k in self._lanes if k[0] == session]:
            for delivery in self._lanes.pop(key):
                self._keys.discard(delivery.event_id)
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()

    def stop(self, *, dead: bool) -> aiohttp.ClientSession | None:
        """Stop posting. `dead`: what is queued goes to the dead letters (a disabled endpoint's,
        for a replay once it is enabled again); otherwise it is just forgotten here. Returns
        the HTTP client for the caller to close."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        lanes, self._lanes = self._lanes, {}
        self._ready.clear()
        self._keys.clear()
        if dead:
            for lane in lanes.values():
                for delivery in lane:
                    self._dead(delivery)
                    self._dispatcher.persist(delivery)
                    self._dispatcher.finished(delivery)
        client, self._client = self._client, None
        return client


@dataclass
class Attached:
    store: Store
    sink: OutboxSink
    may_deliver: Callable[[], bool]


@dataclass
class Webhooks:
    """Every endpoint's lanes, fed by every session's stream entries."""

    settings: DeliverySettings
    save_endpoint: Callable[[Endpoint], Awaitable[None]]
    observe: Callable[[str, float], None] = lambda webhook_id, seconds: None
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    stats: dict[str, EndpointStats] = field(default_factory=dict)
    sessions: dict[str, Attached] = field(default_factory=dict)
    loaded: bool = False  # the stored endpoints have been read
    _lanes: dict[str, Lanes] = field(default_factory=dict)
    _last_ord: int = 0
    _recent: dict[str, deque[Delivery]] = field(default_factory=dict)
    _counted: set[str] = field(default_factory=set)  # sessions whose stored dead letters count
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    # ---- endpoints ------------------------------------------------------------------------

    def load(self, rows: Iterable[Row]) -> None:
        """The stored endpoints (at start: until then nothing is offered nor resumed)."""
        for row in rows:
            endpoint = Endpoint.from_row(row)
            self.endpoints[endpoint.id] = endpoint
            self.stats.setdefault(endpoint.id, EndpointStats())
        self.loaded = True

    def put(self, endpoint: Endpoint) -> None:
        """A new or changed endpoint: enabled, it posts; disabled, what it held is dead."""
        self.endpoints[endpoint.id] = endpoint
        lanes = self._lanes.get(endpoint.id)
        if endpoint.enabled and lanes is not None:
            lanes.changed(endpoint)
        elif not endpoint.enabled and lanes is not None:
            del self._lanes[endpoint.id]
            self.close_client(lanes.stop(dead=True))
        elif endpoint.enabled:
            self._lanes_of(endpoint)

    def remove(self, webhook_id: str) -> None:
        self.endpoints.pop(webhook_id, None)
        self.stats.pop(webhook_id, None)
        self._recent.pop(webhook_id, None)
        lanes = self._lanes.pop(webhook_id, None)
        if lanes is not None:
            self.close_client(lanes.stop(dead=False))

    def disable(self, webhook_id: str, reason: str) -> None:
        endpoint = self.endpoints.get(webhook_id)
        if endpoint is None or not endpoint.enabled:
            return
        log.warning("webhook %s disabled: %s", webhook_id, reason)
        endpoint = endpoint.disabled(reason, self.clock())
        self.put(endpoint)
        self._in_background(self.save_endpoint(endpoint))

    def _lanes_of(self, endpoint: Endpoint) -> Lanes:
        lanes = self._lanes.get(endpoint.id)
        if lanes is None:
            lanes = self._lanes[endpoint.id] = Lanes(endpoint, self)
        return lanes

    # ---- sessions -------------------------------------------------------------------------

    def attach(
        self, session: str, store: Store, sink: OutboxSink, may_deliver: Callable[[], bool]
    ) -> None:
        self.sessions[session] = Attached(store, sink, may_deliver)

    def detach(self, session: str) -> None:
        self.sessions.pop(session, None)
        self.release(session)

    def release(self, session: str) -> None:
        """Stop posting the session's deliveries (they stay owed in its store)."""
        for lanes in self._lanes.values():
            lanes.drop_session(session)

    async def recover(self, session: str) -> None:
        """What the session's store still had to deliver, before the follower applies
        anything (its events come after these). Raises StoreError."""
        if not self.loaded:  # its rows would look like those of deleted endpoints
            raise StoreError("the webhook endpoints could not be read yet")
        attached = self.sessions[session]
        backlog = await attached.store.webhook_backlog()
        self._last_ord = max(self._last_ord, backlog.last_ord)
        if not attached.may_deliver():  # another replica writes and delivers
            return
        if session not in self._counted:  # once: a replica may take its lease over again
            self._counted.add(session)
            for webhook_id, count in backlog.dead.items():
                if webhook_id in self.stats:
                    self.stats[webhook_id].dead_letters += count
        # An endpoint deleted while its rows were still on their way to the store.
        for webhook_id in {row["webhook_id"] for row in backlog.deliveries} - set(self.endpoints):
            await attached.store.drop_webhook_deliveries(webhook_id)
        for row in backlog.deliveries:
            endpoint = self.endpoints.get(row["webhook_id"])
            event = backlog.events.get(row["event_id"])
            if endpoint is None or not endpoint.enabled or event is None:
                continue
            self._lanes_of(endpoint).add(Delivery.from_rows(session, row, event))
        if backlog.deliveries:
            log.info(
                "session %s: %d webhook deliveries to resume", session, len(backlog.deliveries)
            )

    # ---- the event path -------------------------------------------------------------------

    def offer(self, session: str, entries: Sequence[Entry]) -> None:
        """Stream entries just logged: each endpoint that takes one gets a delivery. Called on
        the event path: records and schedules, never waits."""
        if not self.endpoints or not entries:
            return
        attached = self.sessions.get(session)
        if attached is None or not attached.may_deliver():
            return
        now = self.clock()
        for entry in entries:
            takers = [
                e for e in self.endpoints.values() if e.takes(session, entry.type, entry.chat_id)
            ]
            if not takers:
                continue
            event = OutboxEvent(
                entry.id, self._next_ord(now), entry.type, entry.chat_id, entry.json, now
            )
            attached.sink.webhook_event(event)
            for endpoint in takers:
                if endpoint.enabled:
                    delivery = Delivery.of(event, endpoint.id, session, now)
                    attached.sink.webhook_delivery(delivery)
                    self._lanes_of(endpoint).add(delivery)

    def _next_ord(self, now: float) -> int:
        """Increasing, from the wall clock in microseconds: after a restart, and across
        sessions, later events get higher ords."""
        self._last_ord = max(int(now * 1_000_000), self._last_ord + 1)
        return self._last_ord

    def persist(self, delivery: Delivery) -> None:
        attached = self.sessions.get(delivery.session)
        if attached is not None:
            attached.sink.webhook_delivery(delivery)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """After the `attempt`th failure: full jitter up to min(retry_max, retry_initial *
        2^(attempt-1)), and at least Retry-After."""
        settings = self.settings
        wait = backoff_delay(attempt - 1, settings.retry_initial, settings.retry_max, self.rng)
        return max(wait, retry_after or 0.0)

    # ---- replay ---------------------------------------------------------------------------

    def requeue(self, endpoint: Endpoint, session: str, event: OutboxEvent) -> bool:
        """Deliver an event again (a replay): False if it is queued already."""
        lanes = self._lanes_of(endpoint)
        if lanes.holds(event.id):
            return False
        attached = self.sessions.get(session)
        if attached is None:
            return False
        delivery = Delivery.of(event, endpoint.id, session, self.clock())
        attached.sink.webhook_delivery(delivery)
        lanes.add(delivery)
        return True

    # ---- reading --------------------------------------------------------------------------

    def finished(self, delivery: Delivery) -> None:
        """Keep the newest finished deliveries a while: the listing reads them here until the
        write-behind has stored their final state (RECENT per endpoint at most)."""
        recent = self._recent.get(delivery.webhook_id)
        if recent is None:
            recent = self._recent[delivery.webhook_id] = deque(maxlen=RECENT)
        recent.append(delivery)

    def in_memory(self, webhook_id: str) -> list[Delivery]:
        """The endpoint's queued deliveries and its newest finished ones, oldest first (a
        replayed event's newer delivery after its older one)."""
        lanes = self._lanes.get(webhook_id)
        queued = [] if lanes is None else list(lanes.deliveries())
        return [*self._recent.get(webhook_id, ()), *queued]

    def health(self, webhook_id: str) -> s.WebhookHealth:
        stats = self.stats.get(webhook_id) or EndpointStats()
        lanes = self._lanes.get(webhook_id)
        oldest = lanes.oldest() if lanes is not None else None
        return {
            "pending": len(lanes) if lanes is not None else 0,
            "retrying": lanes.retrying() if lanes is not None else 0,
            "deadLetters": stats.dead_letters,
            "delivered": stats.delivered,
            "failed": stats.failed,
            "lastSuccessAt": iso(stats.last_success_at),
            "lastFailureAt": iso(stats.last_failure_at),
            "lastError": stats.last_error,
            "oldestPendingSeconds": None if oldest is None else round(self.clock() - oldest, 3),
        }

    # ---- background -----------------------------------------------------------------------

    async def prune_forever(self, interval: float = PRUNE_INTERVAL) -> None:
        """Delivered and dead rows, and the events no delivery needs, past the retention;
        every `interval`, the first an interval after the start."""
        while True:
            await asyncio.sleep(interval)
            before = self.clock() - self.settings.retention
            for session, attached in list(self.sessions.items()):
                if not attached.may_deliver():  # the writer prunes
                    continue
                try:
                    await attached.store.prune_webhooks(before)
                except StoreError as exc:  # the next round tries again
                    log.warning("session %s: pruning the webhook outbox failed: %s", session, exc)

    def close_client(self, client: aiohttp.ClientSession | None) -> None:
        if client is not None:
            self._in_background(client.close())

    async def close(self) -> None:
        for lanes in self._lanes.values():
            client = lanes.stop(dead=False)
            if client is not None:
                await client.close()
        self._lanes.clear()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _in_background(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("webhook background work failed")

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
