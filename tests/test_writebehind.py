"""The write-behind against a real SQLite store: a large batch is encoded a slice at a time,
and whatever happens between two slices (a chat merged, a shutdown) loses nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from orchestrator import domain as d
from orchestrator.state import State
from orchestrator.store.sqlite import SqliteStore
from orchestrator.wire import Position
from orchestrator.writebehind import ENCODE_SLICE, WriteBehind

PN = "5511912345678@s.whatsapp.net"
LID = "123456789012345@lid"
COUNT = 3 * ENCODE_SLICE


def seen(message_id: str, chat: str, ts: int) -> d.MessageSeen:
    message = d.Message(
        id=message_id, chat_id=chat, chat_alt=None, from_me=False, sender=chat, sender_alt=None,
        sender_name="Ana", timestamp=ts, type="text", text=f"text {message_id}", quoted_id=None,
        media=None, ack=d.ACK_DELIVERED, raw=b"{}",
    )  # fmt: skip
    return d.MessageSeen(message, live=False, history=True)


async def stored_ids(store: SqliteStore, chat_id: str) -> list[str]:
    rows = await store.messages_before(chat_id, None, 10 * COUNT) or []
    return sorted(r["id"] for r in rows)


def setup(tmp_path: Path) -> tuple[SqliteStore, State, WriteBehind]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    state = State(window=10 * COUNT, max_messages=10 * COUNT)
    writer = WriteBehind(
        store, state, spill_path=tmp_path / "spill.jsonl", max_pending=10 * COUNT,
        flush_interval=0.2,
    )  # fmt: skip
    return store, state, writer


def test_a_chat_merged_while_its_rows_are_encoded_is_stored_under_the_merged_chat(
    tmp_path: Path,
) -> None:
    """A new contact's first messages come under its LID, the mapping right after: the LID
    chat merges into the phone chat while the write-behind is halfway through its rows."""

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        store, state, writer = setup(tmp_path)
        await store.open()
        ids = [f"m{i:05}" for i in range(COUNT)]
        writer.record(state.apply([seen(m, LID, i) for i, m in enumerate(ids)]), Position("e", 1))
        flush = asyncio.create_task(writer.flush())
        await asyncio.sleep(0)  # the flush has encoded one slice and let the loop run
        assert writer._encoding, "the flush was not between two slices"
        writer.record(state.apply([d.JidAlias(lid=LID, pn=PN)]), Position("e", 2))
        assert await flush
        assert await writer.flush()
        in_ram = sorted(m.id for m in state.chats[PN].messages.values())
        result = await stored_ids(store, PN), await stored_ids(store, LID), in_ram
        await store.close()
        return result

    under_pn, under_lid, in_ram = asyncio.run(scenario())
    assert under_lid == []
    assert len(under_pn) == COUNT and under_pn == in_ram


def test_a_flush_cancelled_between_slices_keeps_what_it_had_not_encoded(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        store, state, writer = setup(tmp_path)
        await store.open()
        messages = [seen(f"m{i:05}", PN, i) for i in range(COUNT)]
        writer.record(state.apply(messages), Position("e", 1))
        flush = asyncio.create_task(writer.flush())
        await asyncio.sleep(0)
        flush.cancel()  # a shutdown between two slices
        await asyncio.gather(flush, return_exceptions=True)
        newer = dataclasses.replace(messages[-1].message, text="edited", edited=True)
        writer.record(state.apply([d.MessageSeen(newer, live=False)]), Position("e", 2))
        assert writer.pending >= COUNT - ENCODE_SLICE
        assert await writer.flush()
        rows = await store.messages_before(PN, None, 10 * COUNT) or []
        await store.close()
        assert [r["body"] for r in rows if r["id"] == newer.id] == ["edited"]
        return sorted(r["id"] for r in rows)

    assert asyncio.run(scenario()) == [f"m{i:05}" for i in range(COUNT)]
