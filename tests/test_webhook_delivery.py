"""The webhook dispatcher against a real HTTP receiver on loopback, in the test's event loop:
order per chat under failures, the concurrency bound, Retry-After, dead letters past the
horizon, 410, a restart's backlog from a real SQLite store; and the pure parts (filters,
backoff, signatures checked by the `standardwebhooks` package's verify)."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from orchestrator.errors import StoreError
from orchestrator.eventlog import Entry, envelope_json
from orchestrator.store import Row, WriteBatch
from orchestrator.store.sqlite import SqliteStore
from orchestrator.webhook_delivery import Delivery, DeliverySettings, OutboxEvent, Webhooks
from orchestrator.webhook_endpoints import Endpoint, chat_type, created, new_secret
from orchestrator.webhook_sender import client, headers, post, retry_after

pytestmark = pytest.mark.anyio

A = "5511900000001@s.whatsapp.net"
B = "5511900000002@s.whatsapp.net"
GROUP = "120363000000000001@g.us"


# ---- a real receiver -----------------------------------------------------------------------


@dataclass
class Arrival:
    id: str
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """HTTP/1.1 on 127.0.0.1: records each request, answers what `answer` says for it."""

    answer: Callable[[Arrival], tuple[int, dict[str, str]]] = lambda a: (200, {})
    arrivals: list[Arrival] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    hold: asyncio.Event | None = None  # set: answer; clear: wait
    delay: float = 0.0  # before each answer
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                sent = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
                body = await reader.readexactly(int(sent.get("content-length", "0")))
                arrival = Arrival(sent["webhook-id"], body, sent, time.monotonic())
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                self.arrivals.append(arrival)
                if self.hold is not None:
                    await self.hold.wait()
                await asyncio.sleep(self.delay)
                status, extra = self.answer(arrival)
                self.in_flight -= 1
                more = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n{more}\r\n".encode() + b"ok"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()  # the client went, or the test ends

    async def until(self, what: str, done: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait for a condition of the receiver or the dispatcher (both in this loop)."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.005)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    server = await asyncio.start_server(r.serve, "127.0.0.1", 0)
    r.port = server.sockets[0].getsockname()[1]
    yield r
    if r.hold is not None:
        r.hold.set()
    server.close()


class Sink:
    """Stands in for a session's write-behind: keeps the latest item of each key, and reads
    their rows as a flush would."""

    def __init__(self) -> None:
        self._events: dict[str, OutboxEvent] = {}
        self._deliveries: dict[tuple[str, str], Delivery] = {}

    def webhook_event(self, event: OutboxEvent) -> None:
        self._events[event.key] = event

    def webhook_delivery(self, delivery: Delivery) -> None:
        self._deliveries[delivery.key] = delivery

    @property
    def events(self) -> dict[str, Row]:
        return {key: event.row() for key, event in self._events.items()}

    @property
    def deliveries(self) -> dict[tuple[str, str], Row]:
        return {key: delivery.row() for key, delivery in self._deliveries.items()}


class Saved:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    async def __call__(self, endpoint: Endpoint) -> None:
        self.endpoints.append(endpoint)


def entries(chats: list[str | None], start: int = 1, session: str = "default") -> list[Entry]:
    made = []
    for n, chat in enumerate(chats, start):
        event_id = f"ep:{n}:0"
        data = {"chatId": chat, "n": n}
        made.append(
            Entry(n, event_id, "new_message", chat, session,
                  envelope_json(event_id, "new_message", session, data), b"", 0.0)
        )  # fmt: skip
    return made


def endpoint(url: str, **body: Any) -> Endpoint:
    return created({"url": url, **body}, 4, time.time())  # type: ignore[typeddict-item]


def dispatcher(
    settings: DeliverySettings | None = None, save: Saved | None = None, store: Any = None
) -> tuple[Webhooks, Sink]:
    """A dispatcher with the default session attached to a recording sink (and `store`, for
    a restart's backlog)."""
    sink = Sink()
    webhooks = Webhooks(
        settings or DeliverySettings(timeout=2, retry_initial=0.02, retry_max=0.1),
        save_endpoint=save or Saved(),
        rng=random.Random(7),
    )
    webhooks.attach("default", store, sink, lambda: True)
    return webhooks, sink


def attempted(sink: Sink, key: tuple[str, str]) -> bool:
    return bool(sink.deliveries[key]["attempts"])


def first_arrivals(receiver: Receiver) -> list[str]:
    seen: dict[str, None] = {}
    for arrival in receiver.arrivals:
        seen.setdefault(arrival.id, None)
    return list(seen)


# ---- order, concurrency, retries -----------------------------------------------------------


async def test_each_chat_arrives_in_order_through_failures_and_the_bound_holds(
    receiver: Receiver,
) -> None:
    tries: dict[str, int] = {}

    def flaky(arrival: Arrival) -> tuple[int, dict[str, str]]:
        tries[arrival.id] = tries.get(arrival.id, 0) + 1
        n = int(arrival.id.split(":")[1])
        return (500, {}) if n % 3 == 0 and tries[arrival.id] < 3 else (200, {})

    receiver.answer, receiver.delay = flaky, 0.005
    webhooks, sink = dispatcher()
    hook = replace(endpoint(receiver.url), concurrency=3)
    webhooks.put(hook)
    chats: list[str | None] = [A, B, GROUP, None] * 30
    webhooks.offer("default", entries(chats))
    await receiver.until("every event", lambda: len(set(a.id for a in receiver.arrivals)) == 120)
    await receiver.until("the last one acked", lambda: webhooks.health(hook.id)["pending"] == 0)
    order = first_arrivals(receiver)
    for chat in (A, B, GROUP, None):
        mine = [f"ep:{n}:0" for n, c in enumerate(chats, 1) if c == chat]
        assert [i for i in order if i in mine] == mine
    assert receiver.most_in_flight <= 3
    assert receiver.most_in_flight >= 2  # lanes do run side by side
    health = webhooks.health(hook.id)
    assert (health["delivered"], health["failed"], health["deadLetters"]) == (120, 80, 0)
    assert {row["status"] for row in sink.deliveries.values()} == {"delivered"}
    assert len(sink.events) == 120
    await webhooks.close()


async def test_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.answer = lambda a: (
        (503, {"retry-after": "1"}) if len(receiver.arrivals) == 1 else (200, {})
    )
    webhooks, _ = dispatcher()
    webhooks.put(endpoint(receiver.url))
    webhooks.offer("default", entries([A]))
    await receiver.until("the retry", lambda: len(receiver.arrivals) == 2)
    first, second = receiver.arrivals
    assert second.at - first.at >= 0.99  # the jitter alone would wait at most 0.02 s
    await webhooks.close()


async def test_past_the_horizon_deliveries_die_and_the_endpoint_is_disabled(
    receiver: Receiver,
) -> None:
    receiver.answer = lambda a: (500, {})
    save = Saved()
    settings = DeliverySettings(timeout=2, retry_initial=0.05, retry_max=0.1, horizon=0.6)
    webhooks, sink = dispatcher(settings, save=save)
    hook = endpoint(receiver.url)
    webhooks.put(hook)
    webhooks.offer("default", entries([A, A, B]))
    await receiver.until("disabled", lambda: not webhooks.endpoints[hook.id].enabled, 30)
    after = webhooks.endpoints[hook.id]
    assert after.disabled_reason and after.disabled_reason.startswith("failed every delivery")
    assert save.endpoints[-1].enabled is False  # stored, so a restart keeps it disabled
    assert {row["status"] for row in sink.deliveries.values()} == {"dead"}
    assert webhooks.health(hook.id)["deadLetters"] == 3
    arrivals = len(receiver.arrivals)
    webhooks.offer("default", entries([A], start=9))  # disabled: no delivery, the event kept
    assert "ep:9:0" in sink.events and (hook.id, "ep:9:0") not in sink.deliveries
    assert len(receiver.arrivals) == arrivals
    await webhooks.close()


async def test_410_disables_at_once_and_what_waited_is_dead(receiver: Receiver) -> None:
    receiver.answer = lambda a: (410, {})
    webhooks, sink = dispatcher()
    hook = replace(endpoint(receiver.url), concurrency=1)
    webhooks.put(hook)
    webhooks.offer("default", entries([A, B, A]))
    await receiver.until("disabled", lambda: not webhooks.endpoints[hook.id].enabled)
    assert len(receiver.arrivals) == 1
    assert "410" in (webhooks.endpoints[hook.id].disabled_reason or "")
    assert [row["status"] for row in sink.deliveries.values()] == ["dead"] * 3
    await webhooks.close()


async def test_a_hanging_receiver_times_out_and_holds_only_its_own_endpoint(
    receiver: Receiver,
) -> None:
    receiver.hold = asyncio.Event()
    other = Receiver()
    server = await asyncio.start_server(other.serve, "127.0.0.1", 0)
    other.port = server.sockets[0].getsockname()[1]
    settings = DeliverySettings(timeout=0.3, retry_initial=0.02, retry_max=0.05)
    webhooks, sink = dispatcher(settings)
    stuck, fine = endpoint(receiver.url), endpoint(other.url)
    webhooks.put(stuck)
    webhooks.put(fine)
    webhooks.offer("default", entries([A, B, GROUP, None] * 5))
    await other.until("the healthy endpoint's 20", lambda: len(other.arrivals) == 20)
    await receiver.until("a retry after a timeout", lambda: len(receiver.arrivals) > 4)
    assert sink.deliveries[(stuck.id, "ep:1:0")]["error"] == "timeout"
    receiver.hold.set()
    await receiver.until(
        "the stuck one catches up", lambda: len(set(a.id for a in receiver.arrivals)) == 20
    )
    server.close()
    await webhooks.close()


# ---- a restart -----------------------------------------------------------------------------


async def test_a_restart_delivers_the_stored_backlog_in_order(
    receiver: Receiver, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    hook = endpoint(receiver.url)
    await store.save_webhook(hook.row())
    # What a crashed run left: three deliveries owed (one mid-retry), one made.
    made = entries([A, B, A, A])
    events = {
        e.id: {"id": e.id, "ord": 1000 + e.offset, "type": e.type, "chat_id": e.chat_id,
               "json": e.json.decode(), "at": time.time()}
        for e in made
    }  # fmt: skip
    owed = {
        (hook.id, e.id): {
            "webhook_id": hook.id, "event_id": e.id, "ord": 1000 + e.offset,
            "status": {1: "delivered", 3: "retrying"}.get(e.offset, "pending"),
            "attempts": 2 if e.offset == 3 else 0, "created_at": time.time(),
            "last_attempt_at": None, "next_attempt_at": None, "status_code": None,
            "latency_ms": None, "error": None, "response_excerpt": None,
        }
        for e in made
    }  # fmt: skip
    await store.write(WriteBatch(webhook_events=events, webhook_deliveries=owed))
    webhooks, sink = dispatcher(store=store)
    with pytest.raises(StoreError):  # the endpoints unread (a store down at start): not yet,
        await webhooks.recover("default")  # else their rows would look like a deleted one's
    webhooks.load(await store.list_webhooks())
    await webhooks.recover("default")
    await receiver.until("the backlog", lambda: len(receiver.arrivals) == 3)
    assert [a.id for a in receiver.arrivals] == ["ep:2:0", "ep:3:0", "ep:4:0"]
    assert orjson.loads(receiver.arrivals[0].body)["data"]["chatId"] == B
    webhooks.offer("default", entries([A], start=5))  # new events come after
    await receiver.until("the new one", lambda: len(receiver.arrivals) == 4)
    assert sink.deliveries[(hook.id, "ep:5:0")]["ord"] > events["ep:4:0"]["ord"]
    await webhooks.close()
    await store.close()


# ---- pure parts ----------------------------------------------------------------------------


def test_filters() -> None:
    hook = endpoint("https://x.example", events=["new_message"], chatTypes=["group"])
    assert hook.takes("default", "new_message", GROUP)
    assert not hook.takes("default", "new_message", A)
    assert not hook.takes("default", "new_message", None)
    assert not hook.takes("default", "chat_update", GROUP)
    every = endpoint("https://x.example", sessions=["sales"])
    assert every.takes("sales", "connection_status", None)
    assert not every.takes("default", "new_message", A)
    assert not endpoint("https://x.example").takes("default", "resync", None)
    assert [chat_type(c) for c in (A, "1@lid", GROUP, "status@broadcast", None)] == [
        "direct", "direct", "group", None, None,
    ]  # fmt: skip


def test_signatures_verify_with_the_standard_library_and_both_secrets_during_a_rotation() -> None:
    hook = endpoint("https://x.example")
    body = envelope_json("ep:1:0", "new_message", "default", {"text": "olá"})
    now = time.time()
    rotated = hook.rotated(now, overlap=60)
    sent = headers(rotated.signing_secrets(now), "ep:1:0", body, now)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (hook.secret, rotated.secret):
        assert Webhook(secret).verify(body, sent)["data"]["text"] == "olá"
    later = now + 61
    sent = headers(rotated.signing_secrets(later), "ep:1:0", body, time.time())
    assert Webhook(rotated.secret).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(hook.secret).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(rotated.secret).verify(body.replace(b"ol", b"al"), sent)


def test_backoff_is_full_jitter_under_the_ceiling_and_never_below_retry_after() -> None:
    webhooks = Webhooks(
        DeliverySettings(retry_initial=1, retry_max=60),
        save_endpoint=Saved(),
        rng=random.Random(1),
    )
    for attempt, ceiling in ((1, 1), (2, 2), (4, 8), (7, 60), (40, 60), (500, 60)):
        waits = [webhooks.backoff(attempt, None) for _ in range(400)]
        assert min(waits) >= 0 and max(waits) <= ceiling
        assert max(waits) > ceiling * 0.8  # spread over the whole range, not fixed
    assert all(webhooks.backoff(1, 30) >= 30 for _ in range(50))


def test_retry_after_reads_seconds_and_dates() -> None:
    now = 1_800_000_000.0
    assert retry_after("120", now) == 120
    assert retry_after(" 5 ", now) == 5
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 90))
    assert retry_after(date, now) == pytest.approx(90)
    assert retry_after("Mon, 01 Jan 2001 00:00:00 GMT", now) == 0
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None
    assert retry_after("-3", now) is None


async def test_an_attempt_that_cannot_connect_says_so_plainly() -> None:
    with socket.socket() as unused:  # a port nobody listens on once this closes
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    session = client(timeout=2, concurrency=1, allowed_hosts=frozenset())
    outcome = await post(session, f"http://127.0.0.1:{port}/hook", b"{}", {}, time.time())
    await session.close()
    assert (outcome.status_code, outcome.error, outcome.delivered) == (
        None, "connection refused", False,
    )  # fmt: skip


async def test_a_host_that_resolves_to_a_private_address_when_posted_to_is_refused(
    receiver: Receiver,
) -> None:
    """The URL was public when it was saved (here: not checked at all); at each connection
    the addresses it resolves to are checked again, unless its host is allowlisted."""
    url = receiver.url.replace("127.0.0.1", "localhost")
    for allowed, expect in ((frozenset(), "localhost resolves to a non-public address"),
                            (frozenset({"localhost"}), None)):  # fmt: skip
        settings = DeliverySettings(timeout=2, retry_initial=5, allowed_hosts=allowed)
        webhooks, sink = dispatcher(settings)
        hook = endpoint(url)
        webhooks.put(hook)
        webhooks.offer("default", entries([A]))
        key = (hook.id, "ep:1:0")
        await receiver.until("the first attempt", lambda: attempted(sink, key))  # noqa: B023
        assert sink.deliveries[key]["error"] == expect
        await webhooks.close()
    assert len(receiver.arrivals) == 1  # the allowlisted one only
