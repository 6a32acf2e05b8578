"""Labels through the write-behind against real SQLite stores: a store that is down spills them
with the rest of the batch, and the spill file brings them in once a store is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from orchestrator import domain as d
from orchestrator.state import State
from orchestrator.store.rows import chat_from_row, label_from_row
from orchestrator.store.sqlite import SqliteStore
from orchestrator.wire import Position
from orchestrator.writebehind import WriteBehind

PN = "5511912345678@s.whatsapp.net"


def test_labels_spilled_while_the_store_is_down_reach_it_later(tmp_path: Path) -> None:
    spill = tmp_path / "spill.jsonl"

    async def scenario() -> tuple[bool, list[str], tuple[str, ...]]:
        state = State(window=10, max_messages=100)
        # A directory where the file should be: every write fails, as with a store that is down.
        (tmp_path / "down").mkdir()
        down = SqliteStore(tmp_path / "down")
        writer = WriteBehind(down, state, spill_path=spill, max_pending=100, flush_interval=0.2)
        changes = state.apply(
            [
                d.LabelEdited("5", "VIP", 3, False),
                d.LabelEdited("6", "Old", 1, True),
                d.ChatLabelled(PN, "5", True),
            ]
        )
        writer.record(changes, Position("e", 3))
        assert not await writer.flush()
        await writer.close(timeout=1)
        spilled = spill.exists()

        up = SqliteStore(tmp_path / "store.sqlite3")
        await up.open()
        assert await WriteBehind(
            up, State(window=10, max_messages=100), spill_path=spill, max_pending=100,
            flush_interval=0.2,
        ).flush()  # fmt: skip
        snapshot = await up.load(window=10)
        await up.close()
        stored = map(label_from_row, snapshot.labels)
        labels = sorted(f"{x.id}:{x.name}:{x.deleted}" for x in stored)
        [chat] = [chat_from_row(r) for r in snapshot.chats]
        return spilled, labels, chat.labels

    spilled, labels, chat_labels = asyncio.run(scenario())
    assert spilled
    assert labels == ["5:VIP:False", "6:Old:True"]
    assert chat_labels == ("5",)


def test_a_spill_file_from_before_labels_is_drained(tmp_path: Path) -> None:
    """A spill line written by the previous release: chat rows without `labels`, no `labels`
    batch field. It goes in, with no label."""
    spill = tmp_path / "spill.jsonl"
    chat = {
        "id": PN, "name": "Ana", "is_group": False, "unread_count": 1, "last_activity": 100,
        "archived": False, "pinned": False, "muted": False, "participants": None,
    }  # fmt: skip
    line = {"chats": [chat], "messages": [], "contacts": [], "aliases": {}, "renamed": {},
            "deleted": [], "position": ["e", 7]}  # fmt: skip
    spill.write_bytes(orjson.dumps(line) + b"\n")

    async def scenario() -> tuple[str | None, tuple[str, ...]]:
        store = SqliteStore(tmp_path / "store.sqlite3")
        await store.open()
        writer = WriteBehind(
            store, State(window=10, max_messages=100), spill_path=spill, max_pending=100,
            flush_interval=0.2,
        )  # fmt: skip
        assert await writer.flush()
        snapshot = await store.load(window=10)
        await store.close()
        [stored] = [chat_from_row(r) for r in snapshot.chats]
        return stored.name, stored.labels

    assert asyncio.run(scenario()) == ("Ana", ())
    assert not spill.exists() or spill.read_bytes() == b""
