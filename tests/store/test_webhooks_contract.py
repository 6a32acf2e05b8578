"""Issue 18's webhooks, the store half, on every backend: endpoint rows round-trip whole, the
outbox (events and deliveries) goes in with a batch and comes back as a backlog, listings,
lookups and replays read it, pruning keeps what is still owed, and each session's outbox is its
own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.eventlog import envelope_json
from orchestrator.store import Row, Store, WriteBatch
from orchestrator.store.sqlite import SqliteStore
from orchestrator.store.supabase import SupabaseStore
from orchestrator.wire import Position
from tests.postgrest.conftest import token

pytestmark = pytest.mark.anyio

BASE = 1_800_000_000_000_000  # ords: wall-clock microseconds, as the stream log's
CHAT = "5511912345678@s.whatsapp.net"
GROUP = "120363040000000001@g.us"


def endpoint(webhook_id: str, created_at: float, **fields: object) -> Row:
    return {
        "id": webhook_id, "url": f"https://hooks.example/{webhook_id}", "events": None,
        "sessions": None, "chat_types": None, "description": None, "enabled": True,
        "concurrency": 4, "secret": "whsec_" + "A" * 43 + "=", "previous_secret": None,
        "previous_secret_until": None, "disabled_reason": None, "disabled_at": None,
        "created_at": created_at, "updated_at": created_at, **fields,
    }  # fmt: skip


def event(n: int, chat_id: str | None = CHAT, at: float = 1000.0, session: str = "default") -> Row:
    event_id = f"e1:{n}:0"
    kind = "new_message" if chat_id else "connection"
    data = {"chatId": chat_id, "text": "ü 😀", "n": n}
    return {
        "id": event_id, "ord": BASE + n, "type": kind, "chat_id": chat_id,
        "json": envelope_json(event_id, kind, session, data).decode(), "at": at,
    }  # fmt: skip


def delivery(webhook_id: str, ev: Row, status: str = "pending", **fields: object) -> Row:
    return {
        "webhook_id": webhook_id, "event_id": ev["id"], "ord": ev["ord"], "status": status,
        "attempts": 0, "created_at": ev["at"], "last_attempt_at": None, "next_attempt_at": None,
        "status_code": None, "latency_ms": None, "error": None, "response_excerpt": None,
        **fields,
    }  # fmt: skip


def outbox(events: list[Row], deliveries: list[Row], position: int | None = None) -> WriteBatch:
    return WriteBatch(
        webhook_events={e["id"]: e for e in events},
        webhook_deliveries={(d["webhook_id"], d["event_id"]): d for d in deliveries},
        position=None if position is None else Position("e1", position),
    )


@pytest.fixture
async def sales(
    store: Store, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Store]:
    """The store of another session, "sales": its own file on SQLite (as Session builds it),
    the same tables scoped by session on Supabase."""
    other: Store
    if isinstance(store, SupabaseStore):
        _, url = request.getfixturevalue("supabase_rest")
        other = SupabaseStore(url, token("service_role"), session="sales", prune_interval=0)
    else:
        other = SqliteStore(tmp_path / "sales" / "store.sqlite3")
    await other.open()
    yield other
    await other.close()


async def test_endpoint_rows_round_trip_oldest_first(store: Store) -> None:
    assert await store.list_webhooks() == []
    second = endpoint("wh_00000000000000b2", 1_800_000_100.25)
    first = endpoint(
        "wh_00000000000000a1", 1_800_000_000.5, events=["new_message", "chat_update"],
        sessions=["default", "sales"], chat_types=["group"], description="CRM ✨",
        concurrency=1, previous_secret="whsec_old", previous_secret_until=1_800_086_400.5,
    )  # fmt: skip
    await store.save_webhook(second)
    await store.save_webhook(first)
    assert await store.list_webhooks() == [first, second]  # lists kept, None kept
    disabled = first | {
        "enabled": False, "disabled_reason": "HTTP 410", "disabled_at": 1_800_000_200.0,
        "events": None, "updated_at": 1_800_000_200.0,
    }  # fmt: skip
    await store.save_webhook(disabled)  # an upsert by id
    assert await store.list_webhooks() == [disabled, second]
    assert await store.delete_webhook(first["id"]) is True
    assert await store.delete_webhook(first["id"]) is False
    assert await store.list_webhooks() == [second]


async def test_a_batch_writes_the_outbox_and_the_latest_delivery_wins(store: Store) -> None:
    e1, e2 = event(1), event(2, None)
    await store.write(outbox([e1, e2], [delivery("wh_a", e1), delivery("wh_a", e2)], 2))
    retried = delivery(
        "wh_a", e1, "retrying", attempts=1, last_attempt_at=1001.5, next_attempt_at=1003.0,
        status_code=500, latency_ms=12.5, error="HTTP 500", response_excerpt="oops",
    )  # fmt: skip
    await store.write(outbox([], [retried]))
    assert await store.webhook_events([e1["id"]]) == {e1["id"]: e1}
    assert await store.webhook_events([e2["id"]]) == {e2["id"]: e2}
    assert await store.webhook_events(["e1:99:0"]) == {}
    rows = await store.webhook_deliveries("wh_a", None, 10)
    assert rows == [
        delivery("wh_a", e2) | {"type": "connection", "chat_id": None},
        retried | {"type": "new_message", "chat_id": CHAT},
    ]
    assert (await store.load(window=10)).position == Position("e1", 2)


async def test_the_backlog_is_what_is_owed_in_stream_order(store: Store) -> None:
    backlog = await store.webhook_backlog()
    assert (backlog.deliveries, backlog.events, backlog.last_ord, backlog.dead) == ([], {}, 0, {})
    events = [event(n) for n in range(1, 7)]
    e1, e2, e3, e4, e5, e6 = events
    rows = [
        delivery("wh_b", e3, "retrying", attempts=2, next_attempt_at=1010.0),
        delivery("wh_a", e1, "delivered", attempts=1, last_attempt_at=1001.0, status_code=200),
        delivery("wh_a", e2, "pending"),
        delivery("wh_a", e3, "dead", attempts=9, last_attempt_at=1005.0),
        delivery("wh_b", e4, "dead", attempts=9, last_attempt_at=1005.0),
        delivery("wh_a", e4, "dead", attempts=9, last_attempt_at=1005.0),
        delivery("wh_a", e5, "pending"),
    ]
    await store.write(outbox(events, rows))  # e6 is stored with no delivery (no endpoint matched)
    backlog = await store.webhook_backlog()
    owed = [(d["webhook_id"], d["event_id"], d["status"]) for d in backlog.deliveries]
    assert owed == [("wh_a", e2["id"], "pending"), ("wh_b", e3["id"], "retrying"),
                    ("wh_a", e5["id"], "pending")]  # fmt: skip
    assert backlog.deliveries[1] == rows[0]
    assert backlog.events == {e["id"]: e for e in (e2, e3, e5)}
    assert backlog.last_ord == e6["ord"]
    assert backlog.dead == {"wh_a": 2, "wh_b": 1}


async def test_deliveries_by_status_newest_first_up_to_the_limit(store: Store) -> None:
    events = [event(n, GROUP if n % 2 else CHAT) for n in range(1, 8)]
    statuses = ["delivered", "dead", "pending", "delivered", "retrying", "delivered", "pending"]
    rows = [delivery("wh_a", e, s) for e, s in zip(events, statuses, strict=True)]
    rows.append(delivery("wh_other", events[6], "delivered"))
    await store.write(outbox(events, rows))

    def ids(found: list[Row]) -> list[int]:
        return [int(r["event_id"].split(":")[1]) for r in found]

    assert ids(await store.webhook_deliveries("wh_a", None, 100)) == [7, 6, 5, 4, 3, 2, 1]
    assert ids(await store.webhook_deliveries("wh_a", None, 3)) == [7, 6, 5]
    assert ids(await store.webhook_deliveries("wh_a", "delivered", 100)) == [6, 4, 1]
    assert ids(await store.webhook_deliveries("wh_a", "delivered", 2)) == [6, 4]
    assert ids(await store.webhook_deliveries("wh_a", "pending", 100)) == [7, 3]
    assert ids(await store.webhook_deliveries("wh_a", "dead", 100)) == [2]
    assert await store.webhook_deliveries("wh_none", None, 100) == []
    [seventh] = await store.webhook_deliveries("wh_other", "delivered", 100)
    assert (seventh["type"], seventh["chat_id"]) == ("new_message", GROUP)
    assert "session" not in seventh


async def test_events_after_an_ord_in_order(store: Store) -> None:
    events = [event(n, at=1000.0 + n) for n in range(1, 6)]
    await store.write(outbox(events[3:], []))
    await store.write(outbox(events[:3], []))
    assert await store.webhook_events_after(0, 100) == events
    assert await store.webhook_events_after(events[1]["ord"], 100) == events[2:]
    assert await store.webhook_events_after(events[1]["ord"], 2) == events[2:4]
    assert await store.webhook_events_after(events[4]["ord"], 100) == []


async def test_dropping_a_webhooks_deliveries_leaves_the_others(store: Store) -> None:
    e1, e2 = event(1), event(2)
    rows = [delivery("wh_a", e1), delivery("wh_a", e2, "dead"), delivery("wh_b", e1)]
    await store.write(outbox([e1, e2], rows))
    await store.drop_webhook_deliveries("wh_a")
    assert await store.webhook_deliveries("wh_a", None, 100) == []
    assert len(await store.webhook_deliveries("wh_b", None, 100)) == 1
    backlog = await store.webhook_backlog()
    assert [d["webhook_id"] for d in backlog.deliveries] == ["wh_b"] and backlog.dead == {}
    assert await store.webhook_events([e2["id"]]) == {e2["id"]: e2}  # events go by pruning only


async def test_pruning_keeps_what_is_owed_and_the_events_it_names(store: Store) -> None:
    old = [event(n, at=100.0 + n) for n in range(1, 7)]
    new = event(7, at=5000.0)
    e1, e2, e3, e4, e5, _ = old
    rows = [
        delivery("wh_a", e1, "delivered", last_attempt_at=101.0),  # pruned, and so its event
        delivery("wh_a", e2, "dead", last_attempt_at=4000.0),  # attempted late: kept
        delivery("wh_a", e3, "pending"),  # owed: kept, with its event
        delivery("wh_a", e4, "retrying", last_attempt_at=104.0),  # owed: kept
        delivery("wh_a", e5, "dead"),  # never attempted, created early: pruned
        delivery("wh_a", new, "delivered", last_attempt_at=5001.0),
    ]
    await store.write(outbox([*old, new], rows))  # e6: no delivery, old: pruned
    await store.prune_webhooks(1000.0)
    left = await store.webhook_deliveries("wh_a", None, 100)
    assert [r["event_id"] for r in left] == [new["id"], e4["id"], e3["id"], e2["id"]]
    kept = await store.webhook_events_after(0, 100)
    assert kept == [e2, e3, e4, new]
    assert (await store.webhook_backlog()).last_ord == new["ord"]


async def test_sessions_keep_their_own_outbox_and_a_purge_takes_the_sessions(
    store: Store, sales: Store
) -> None:
    mine, theirs = event(1), event(1, session="sales") | {"ord": BASE + 50}
    await store.write(outbox([mine], [delivery("wh_a", mine)]))
    await sales.write(outbox([theirs, event(2, session="sales")], [delivery("wh_a", theirs)]))
    assert await store.webhook_events([mine["id"]]) == {mine["id"]: mine}  # one id, two sessions
    assert await sales.webhook_events([theirs["id"]]) == {theirs["id"]: theirs}
    assert (await store.webhook_backlog()).last_ord == mine["ord"]
    assert [e["id"] for e in await store.webhook_events_after(0, 100)] == [mine["id"]]
    [own] = await store.webhook_deliveries("wh_a", None, 100)
    assert own["ord"] == mine["ord"]

    await store.purge_session("sales")
    assert await store.webhook_events([mine["id"]]) == {mine["id"]: mine}
    assert len((await store.webhook_backlog()).deliveries) == 1
    if isinstance(store, SupabaseStore):
        # One database for every session: the purge took sales' outbox. (On SQLite it lives in
        # the session's own file, which the session's purge deletes.)
        gone = await sales.webhook_backlog()
        assert (gone.deliveries, gone.last_ord) == ([], 0)
        assert await sales.webhook_events([theirs["id"]]) == {}


async def test_reads_span_more_than_one_page(store: Store) -> None:
    """A PostgREST response holds at most 1000 rows: longer reads come a page at a time."""
    events = [event(n) for n in range(1, 1206)]
    await store.write(outbox(events, [delivery("wh_a", e) for e in events]))
    backlog = await store.webhook_backlog()
    assert [d["ord"] for d in backlog.deliveries] == [e["ord"] for e in events]
    assert len(backlog.events) == len(events)
    assert await store.webhook_events_after(events[1]["ord"], 1100) == events[2:1102]
    newest = await store.webhook_deliveries("wh_a", "pending", 1001)
    assert [d["ord"] for d in newest] == [e["ord"] for e in reversed(events)][:1001]
