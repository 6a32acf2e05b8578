"""The write-behind keeping the stream log (issue 15), against a real SQLite store: entries go
in with the position they follow, through a spill file too; an entry logged between two bridge
events goes with the position before it; a log left from before a gap is replaced; nothing is
written while `may_write` says no, and everything once it says yes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from orchestrator.eventlog import EventLog
from orchestrator.state import State
from orchestrator.store.sqlite import SqliteStore
from orchestrator.wire import Position
from orchestrator.writebehind import StoredLog, WriteBehind

SESSION = "default"


def writer(tmp_path: Path, store: SqliteStore, **options: object) -> WriteBehind:
    settings: dict[str, object] = {"max_pending": 1000, "flush_interval": 0.05, **options}
    return WriteBehind(
        store, State(window=10, max_messages=100), spill_path=tmp_path / "spill.jsonl",
        stored_log=StoredLog(100, 3600.0), **settings,  # type: ignore[arg-type]
    )  # fmt: skip


def record(w: WriteBehind, log: EventLog, seq: int) -> list[tuple[str, bytes]]:
    entries = log.append([(f"e:{seq}:{k}", "chat_update", "c", {"k": k}) for k in "01"], SESSION)
    w.record([], Position("e", seq), entries[-1].id, entries)
    return [(e.id, e.json) for e in entries]


def test_entries_go_in_with_their_position_and_come_back_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "store.sqlite3")
        log = EventLog(max_entries=1000, max_age=3600.0)
        w = writer(tmp_path, store)
        expected = record(w, log, 1)
        assert await w.flush()
        expected += record(w, log, 2)
        # A helpdesk event between two bridge events: stored with the position before it.
        announced = log.append([("e:2:m1", "chat_assigned", "c", {"to": "x"})], SESSION)
        w.log_entries(announced)
        expected += [(announced[0].id, announced[0].json)]
        assert await w.flush()
        w.log_entries(log.append([("e:2:m2", "chat_assigned", "c", {})], SESSION))
        assert await w.flush()  # no bridge event since: the position row is written again
        snapshot = await store.load(10)
        assert [(e.id, e.json) for e in snapshot.entries][:-1] == expected
        assert snapshot.entries[-1].id == "e:2:m2" and snapshot.stream_id == "e:2:m2"
        assert snapshot.position == Position("e", 2)
        ords = [e.ord for e in snapshot.entries]
        assert ords == sorted(set(ords))
        await store.close()

    asyncio.run(scenario())


def test_entries_survive_a_store_outage_through_the_spill_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "store.sqlite3"
        store = SqliteStore(path)
        log = EventLog(max_entries=1000, max_age=3600.0)
        w = writer(tmp_path, store, max_pending=1)
        await store.open()
        holder = sqlite3.connect(path, isolation_level=None, timeout=0)
        holder.execute("BEGIN EXCLUSIVE")  # the store is down: SQLite's write lock is taken
        expected = record(w, log, 1) + record(w, log, 2)
        try:
            assert not await asyncio.wait_for(w.flush(), 30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert w.stats.spilled_batches == 1 and w.pending == 0  # all of it in the spill file
        assert await w.flush()
        snapshot = await store.load(10)
        assert [(e.id, e.json) for e in snapshot.entries] == expected
        await store.close()

    asyncio.run(scenario())


def test_a_log_from_before_a_gap_is_replaced(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "store.sqlite3")
        log = EventLog(max_entries=1000, max_age=3600.0)
        w = writer(tmp_path, store)
        record(w, log, 1)
        assert await w.flush()
        # A run with the setting off: the position goes on without the log.
        off = WriteBehind(
            store, State(window=10, max_messages=100), spill_path=tmp_path / "off.jsonl",
            max_pending=1000, flush_interval=0.05,
        )  # fmt: skip
        off.record([], Position("e", 5), "e:5:0", [])
        assert await off.flush()
        # On again, after a restart: what it stores from now on replaces what was there.
        again = writer(tmp_path, store)
        again.loaded(await store.load(10))
        expected = record(again, log, 6)
        assert await again.flush()
        assert [(e.id, e.json) for e in (await store.load(10)).entries] == expected
        await store.close()

    asyncio.run(scenario())


def test_nothing_is_written_while_may_write_says_no(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "store.sqlite3")
        log = EventLog(max_entries=1000, max_age=3600.0)
        allowed = [False]
        w = writer(tmp_path, store, may_write=lambda: allowed[0])
        expected = record(w, log, 1) + record(w, log, 2)
        assert not await w.flush()
        assert w.pending == len(expected) and w.stats.batches == 0
        allowed[0] = True
        assert await w.flush()
        snapshot = await store.load(10)
        assert [(e.id, e.json) for e in snapshot.entries] == expected
        assert snapshot.position == Position("e", 2)
        await store.close()

    asyncio.run(scenario())
