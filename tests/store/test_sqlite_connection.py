"""The SQLite store's one connection, used from a worker thread: a call cancelled by its caller
(a shutdown cancels the write-behind mid-write) still owns the connection until its work is
done. It used to hand it over at once: the next call began a transaction inside the cancelled
one's ("cannot start a transaction within a transaction"), and its batch was spilled."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from orchestrator.store import WriteBatch
from orchestrator.store.sqlite import SqliteStore
from orchestrator.wire import Position

pytestmark = pytest.mark.anyio


async def test_a_cancelled_call_keeps_the_connection_until_its_work_is_done(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    inside, release = threading.Event(), threading.Event()

    def long_write(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        inside.set()
        release.wait(30)  # held open until the test has cancelled us and queued the next write
        db.execute("INSERT OR REPLACE INTO wa_sync_state (id, epoch, seq) VALUES ('x', 'e', 1)")
        db.execute("COMMIT")

    first = asyncio.create_task(store._run(long_write))
    assert await asyncio.to_thread(inside.wait, 30), "the first call never began"
    first.cancel()
    second = asyncio.create_task(store.write(WriteBatch(position=Position("e", 2))))
    await asyncio.sleep(0)  # the second call is waiting for the connection, not on it
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second  # raised StoreError (a transaction within a transaction) before
    snapshot = await store.load(10)
    await store.close()
    assert snapshot.position == Position("e", 2)
