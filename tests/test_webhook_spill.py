"""The webhook outbox through the write-behind's spill file (issue 18): a batch's events and
deliveries are kept in a spilled line, come back whole, and reach the store once it is up; a
line from before webhooks still drains, with an empty outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from orchestrator.state import State
from orchestrator.store import Row, WriteBatch
from orchestrator.store.sqlite import SqliteStore
from orchestrator.wire import Position
from orchestrator.writebehind import WriteBehind, _decode_batch, _encode_batch

EVENT: Row = {
    "id": "e1:3:0", "ord": 1_800_000_000_000_003, "type": "new_message",
    "chat_id": "5511912345678@s.whatsapp.net",
    "json": '{"id":"e1:3:0","type":"new_message","session":"default","data":{"text":"ü 😀"}}',
    "at": 1_800_000_000.25,
}  # fmt: skip
DELIVERY: Row = {
    "webhook_id": "wh_00000000000000a1", "event_id": "e1:3:0", "ord": 1_800_000_000_000_003,
    "status": "retrying", "attempts": 2, "created_at": 1_800_000_000.25,
    "last_attempt_at": 1_800_000_001.5, "next_attempt_at": 1_800_000_004.0, "status_code": 503,
    "latency_ms": 8.25, "error": "HTTP 503", "response_excerpt": "busy",
}  # fmt: skip


def spilled() -> WriteBatch:
    return WriteBatch(
        position=Position("e1", 3),
        webhook_events={EVENT["id"]: EVENT},
        webhook_deliveries={(DELIVERY["webhook_id"], DELIVERY["event_id"]): DELIVERY},
    )


def writer(store: SqliteStore, spill: Path) -> WriteBehind:
    return WriteBehind(
        store, State(window=10, max_messages=100), spill_path=spill, max_pending=100,
        flush_interval=0.2,
    )  # fmt: skip


def test_a_spilled_line_keeps_the_outbox() -> None:
    batch = spilled()
    line = orjson.dumps(_encode_batch(batch))
    again = _decode_batch(orjson.loads(line))
    assert again == batch
    assert len(again) == 2  # the outbox counts in the batch's rows


def test_a_spilled_outbox_reaches_the_store(tmp_path: Path) -> None:
    spill = tmp_path / "spill.jsonl"
    spill.write_bytes(orjson.dumps(_encode_batch(spilled())) + b"\n")

    async def scenario() -> None:
        store = SqliteStore(tmp_path / "store.sqlite3")
        await store.open()
        assert await writer(store, spill).flush()
        backlog = await store.webhook_backlog()
        assert backlog.deliveries == [DELIVERY]
        assert backlog.events == {EVENT["id"]: EVENT}
        assert (await store.load(window=10)).position == Position("e1", 3)
        await store.close()

    asyncio.run(scenario())
    assert not spill.exists()


def test_a_spill_line_from_before_webhooks_drains_with_no_outbox(tmp_path: Path) -> None:
    line: dict[str, object] = {
        "chats": [], "messages": [], "contacts": [], "aliases": {}, "renamed": {}, "deleted": [],
        "position": ["e1", 7, None], "labels": [], "streamId": "e1:7:0", "entries": [],
        "streamOrd": None, "retention": None,
    }  # fmt: skip
    batch = _decode_batch(line)
    assert (batch.webhook_events, batch.webhook_deliveries) == ({}, {})
    spill = tmp_path / "spill.jsonl"
    spill.write_bytes(orjson.dumps(line) + b"\n")

    async def scenario() -> None:
        store = SqliteStore(tmp_path / "store.sqlite3")
        await store.open()
        assert await writer(store, spill).flush()
        assert (await store.load(window=10)).position == Position("e1", 7)
        assert (await store.webhook_backlog()).last_ord == 0
        await store.close()

    asyncio.run(scenario())
