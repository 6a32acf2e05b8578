"""The stored stream log (issue 15), on every store backend: its entries come back exactly, in
order, up to the position stored with them, and pruning keeps the retention plus the newest
entry past it."""

from __future__ import annotations

import pytest

from orchestrator.eventlog import envelope_json
from orchestrator.store import Retention, Store, StoredEntry, WriteBatch
from orchestrator.wire import Position

pytestmark = pytest.mark.anyio

BASE = 1_800_000_000_000_000  # ords: wall-clock microseconds


def entry(n: int, at: float = 1000.0) -> StoredEntry:
    event_id = f"e1:{n}:0"
    data = {"chatId": "c@s.whatsapp.net", "text": "ü 😀", "n": n}
    return StoredEntry(
        BASE + n, event_id, "new_message", "c@s.whatsapp.net",
        envelope_json(event_id, "new_message", "default", data), at,
    )  # fmt: skip


def logged(entries: list[StoredEntry], position: Position, **extra: object) -> WriteBatch:
    return WriteBatch(
        position=position,
        stream_id=entries[-1].id if entries else None,
        entries=entries,
        stream_ord=entries[-1].ord if entries else None,
        **extra,  # type: ignore[arg-type]
    )


async def test_entries_come_back_exactly_with_their_position(store: Store) -> None:
    first, second = [entry(n) for n in range(1, 4)], [entry(n, 2000.5) for n in range(4, 6)]
    await store.write(logged(first, Position("e1", 3, stream=17)))
    await store.write(logged(second, Position("e1", 5, stream=19)))
    snapshot = await store.load(window=10)
    assert snapshot.entries == first + second  # the envelope's bytes, its time, its order
    assert snapshot.position == Position("e1", 5)
    assert snapshot.position is not None and snapshot.position.stream == 19
    assert snapshot.stream_id == "e1:5:0"


async def test_a_position_without_a_stream_sequence_stays_none(store: Store) -> None:
    await store.write(WriteBatch(position=Position("e1", 3), stream_id="e1:3:0"))
    snapshot = await store.load(window=10)
    assert snapshot.position is not None and snapshot.position.stream is None
    assert snapshot.entries == [] and snapshot.stream_id == "e1:3:0"


async def test_entries_past_the_stored_position_are_not_loaded(store: Store) -> None:
    """A backend without transactions may store a batch's entries and then fail before its
    position: those entries belong to no stored position yet, and a load leaves them out."""
    kept = [entry(n) for n in range(1, 4)]
    await store.write(logged(kept, Position("e1", 3)))
    await store.write(WriteBatch(entries=[entry(4), entry(5)]))  # cut short: no position
    assert (await store.load(window=10)).entries == kept


async def test_entries_are_not_loaded_when_the_log_was_not_stored(store: Store) -> None:
    await store.write(logged([entry(1)], Position("e1", 1)))
    await store.write(WriteBatch(position=Position("e1", 2), stream_id="e1:2:0"))  # setting off
    snapshot = await store.load(window=10)
    assert snapshot.entries == [] and snapshot.stream_id == "e1:2:0"


async def test_pruning_keeps_the_retention_and_the_newest_entry_past_it(store: Store) -> None:
    entries = [entry(n) for n in range(1, 21)]
    await store.write(logged(entries, Position("e1", 20), retention=Retention(5, 0)))
    assert (await store.load(window=10)).entries == entries[-6:]  # by count
    aged = [entry(n) for n in range(21, 31)]
    # Stored before the horizon: up to #26; the newest of those stays, as the evicted one.
    retention = Retention(100, horizon=BASE + 27)
    await store.write(logged(aged, Position("e1", 30), retention=retention))
    assert (await store.load(window=10)).entries == aged[5:]


async def test_entries_from_before_a_gap_go_below_the_floor(store: Store) -> None:
    """The log was stored, then not (the setting off), then again: what was stored before the
    gap must not be resumed from across it."""
    await store.write(logged([entry(n) for n in range(1, 4)], Position("e1", 3)))
    await store.write(WriteBatch(position=Position("e1", 9), stream_id="e1:9:0"))  # off
    assert (await store.load(window=10)).stream_ord is None
    again = [entry(n) for n in range(10, 12)]
    retention = Retention(100, 0, floor=again[0].ord)
    await store.write(logged(again, Position("e1", 11), retention=retention))
    snapshot = await store.load(window=10)
    assert snapshot.entries == again and snapshot.stream_ord == again[-1].ord
