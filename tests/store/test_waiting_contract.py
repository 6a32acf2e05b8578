"""Waiting (undecryptable) messages in every store backend: all of them load on start, in a
chat's window or not, so that their content can still resolve them and /metrics counts them."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from orchestrator import domain as d
from orchestrator.state import State
from orchestrator.store import Store
from orchestrator.store.rows import message_from_row
from orchestrator.store.sqlite import SqliteStore
from tests.store.test_contract import CHAT, batch, message

pytestmark = pytest.mark.anyio

OTHER = "5511900000001@s.whatsapp.net"


def waiting(message_id: str, ts: int, chat: str = CHAT, **fields: object) -> d.Message:
    return message(
        message_id, ts, chat, type=d.WAITING, text=None, quoted_id=None, media=None,
        reactions=(), raw=b'{"key":{"id":"' + message_id.encode() + b'"}}', **fields,
    )  # fmt: skip


async def test_every_waiting_message_loads_whatever_the_window(store: Store) -> None:
    old = waiting("w-old", 100)
    other = waiting("w-other", 150, OTHER)
    revoked = waiting("w-revoked", 160, deleted=True)
    newer = [message(f"m{i}", 200 + i) for i in range(3)]
    await store.write(batch(old, other, revoked, *newer))
    snapshot = await store.load(window=2)
    in_window = {r["id"] for r in snapshot.messages if r["chat_id"] == CHAT}
    assert in_window == {"m1", "m2"}  # no waiting one of this chat
    loaded = sorted((message_from_row(r) for r in snapshot.waiting), key=lambda m: m.id)
    assert loaded == [old, other, revoked]  # revoked: kept so that its content stays away


async def test_a_resolved_message_is_one_row_and_no_longer_waiting(store: Store) -> None:
    stub = waiting("w1", 100)
    await store.write(batch(stub))
    content = dataclasses.replace(message("w1", 100), arrival=stub.arrival)
    await store.write(batch(content))
    snapshot = await store.load(window=10)
    assert snapshot.waiting == []
    assert [message_from_row(r) for r in snapshot.messages] == [content]


async def test_the_waiting_count_survives_a_restart(store: Store) -> None:
    """State -> rows -> store -> a new State: the gauge counts what was waiting, and the
    content arriving then still resolves the message out of the window in place."""
    before = State(window=1, max_messages=100)
    changes = before.apply(
        [
            d.MessageSeen(waiting("w1", 100), live=True),
            d.MessageSeen(waiting("w2", 101), live=True),
            d.MessageSeen(message("m", 102), live=True),
        ]
    )
    await store.write(batch(*(c.data for c in changes if isinstance(c.data, d.Message))))
    snapshot = await store.load(window=1)
    after = State(window=1, max_messages=100)
    after.load([], map(message_from_row, snapshot.messages), [], {},
               map(message_from_row, snapshot.waiting))  # fmt: skip
    assert after.waiting.count == before.waiting.count == 2
    resolved = after.apply([d.MessageSeen(message("w1", 100), live=True)])
    assert [c.type for c in resolved] == ["message_update"]
    assert after.waiting.count == 1 and after.waiting.resolved == 1


async def test_sqlite_reads_them_through_their_own_index(tmp_path: Path) -> None:
    """Read on every start from a table of millions: a partial index, not a scan."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "store.sqlite3")) as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM wa_messages WHERE type = 'waiting'"
        ).fetchall()
    assert "wa_messages_waiting" in str(plan)
