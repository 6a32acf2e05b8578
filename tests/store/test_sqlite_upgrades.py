"""A data directory written by an earlier version opens with this one: the numbered upgrades
run on it, and what it held is still there."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from orchestrator.store.rows import message_from_row
from orchestrator.store.sqlite import UPGRADES, SqliteStore

CHAT = "5511912345678@s.whatsapp.net"


def test_a_store_from_before_arrival_ordering_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:-1], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO wa_chats (id) VALUES (?)", (CHAT,))
    for message_id in ("b", "a"):
        db.execute(
            "INSERT INTO wa_messages (chat_id, id, from_me, ts, type, ack) "
            "VALUES (?, ?, 0, 100, 'text', 3)",
            (CHAT, message_id),
        )
    db.close()

    async def read() -> tuple[list[str], list[int], int]:
        store = SqliteStore(path)
        await store.open()
        rows = await store.messages_before(CHAT, None, 10) or []
        await store.close()
        with contextlib.closing(sqlite3.connect(path)) as check:
            version = check.execute("PRAGMA user_version").fetchone()[0]
        return [r["id"] for r in rows], [message_from_row(r).arrival for r in rows], version

    ids, arrivals, version = asyncio.run(read())
    assert version == len(UPGRADES)
    assert ids == ["b", "a"] and arrivals == [0, 0]  # rows from before keep the id order
