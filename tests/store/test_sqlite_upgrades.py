"""A data directory written by an earlier version opens with this one: the numbered upgrades
run on it, and what it held is still there."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from orchestrator.store import Row
from orchestrator.store.rows import chat_from_row, message_from_row
from orchestrator.store.sqlite import UPGRADES, SqliteStore

CHAT = "5511912345678@s.whatsapp.net"
GROUP = "120363040000000001@g.us"


def test_a_store_from_before_arrival_ordering_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:2], start=1):  # the arrival column is #3
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


def test_chats_from_before_group_members_load_with_none_known(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:3], start=1):  # the members column is #4
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO wa_chats (id, name, is_group) VALUES (?, 'Support', 1)", (GROUP,))
    db.close()

    async def read() -> list[Row]:
        store = SqliteStore(path)
        await store.open()
        chats = (await store.load(window=10)).chats
        await store.close()
        return chats

    [row] = asyncio.run(read())
    chat = chat_from_row(row)
    assert (chat.id, chat.is_group, chat.name, chat.participants) == (GROUP, True, "Support", None)
