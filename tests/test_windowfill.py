"""A start loads each chat's newest message and serves; the rest of every window follows
(orchestrator.windowfill). Nothing may be lost in between: events about messages not in RAM
yet wait for their chat's window, and pages read what RAM lacks from the store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from orchestrator import domain as d
from orchestrator.errors import StoreError
from orchestrator.normalize import normalize
from orchestrator.state import State, jids_named
from orchestrator.store.rows import message_from_row
from orchestrator.store.sqlite import SqliteStore
from orchestrator.windowfill import WindowFill
from tests.bench.fill_store import fill, fill_store_chat
from tests.harness import metric, stack, wait_for

STORED = 120  # per chat: more than a page, less than a window


def message_id(chat: int, number: int) -> str:
    return f"3EB0{chat:08d}{number:08d}"  # as tests.bench.fill_store names them


async def loaded(path: Path, window: int = 500) -> tuple[State, SqliteStore]:
    store = SqliteStore(path)
    await store.open()
    snapshot = await store.load(1)
    state = State(window=window, max_messages=1_000_000)
    state.load([], map(message_from_row, snapshot.messages), [], snapshot.aliases, page=1)
    return state, store


def test_a_start_holds_the_newest_message_and_a_fill_brings_the_window(tmp_path: Path) -> None:
    async def run() -> None:
        await fill(tmp_path / "store.sqlite3", STORED * 3, 3)
        state, store = await loaded(tmp_path / "store.sqlite3", window=100)
        chats = [fill_store_chat(c) for c in range(3)]
        assert state.unfilled == set(chats)
        assert all(len(state.chats[c].messages) == 1 for c in chats)
        newest = state.chats[chats[0]].last_message
        assert newest is not None and newest.id == message_id(0, STORED - 1)

        await WindowFill(state, store).run()
        assert state.unfilled == set()
        for number, chat_id in enumerate(chats):
            chat = state.chats[chat_id]
            # The newest window (100 of 120), oldest first; a window that is full may have more.
            ids = [m.id for m in chat.messages.values()]
            assert ids == [message_id(number, i) for i in range(STORED - 100, STORED)]
            assert not chat.complete
        await store.close()

    asyncio.run(run())


def test_an_event_about_a_message_not_in_ram_waits_for_its_window(tmp_path: Path) -> None:
    """An ack for an older message, right after a start: its chat is filled first, so the ack
    lands (without the fill it was an orphan update, dropped)."""

    async def run() -> None:
        await fill(tmp_path / "store.sqlite3", STORED * 2, 2)
        state, store = await loaded(tmp_path / "store.sqlite3")
        chat_id, old = fill_store_chat(1), message_id(1, 3)  # i % 3 == 0: from us
        update = [{"key": {"remoteJid": chat_id, "fromMe": True, "id": old},
                   "update": {"status": 4}}]  # fmt: skip
        facts = normalize("messages.update", update)
        assert chat_id in jids_named(facts[0])
        window_fill = WindowFill(state, store)
        await window_fill.ensure(state.unfilled_among(j for f in facts for j in jids_named(f)))
        assert state.unfilled == {fill_store_chat(0)}  # only the chat the event touches
        changes = state.apply(facts)
        assert [(c.type, c.data["messageId"], c.data["ack"]) for c in changes] == [
            ("message_ack", old, d.ACK_READ)
        ]
        await store.close()

    asyncio.run(run())


def swap_for_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def test_a_store_that_fails_a_fill_leaves_the_chat_as_loaded(tmp_path: Path) -> None:
    async def run() -> None:
        await fill(tmp_path / "store.sqlite3", STORED, 1)
        state, store = await loaded(tmp_path / "store.sqlite3")
        await store.close()
        # A directory where the file was: the store cannot open it again.
        await asyncio.to_thread(swap_for_directory, tmp_path / "store.sqlite3")
        chat_id = fill_store_chat(0)
        try:
            await store.newest_messages([chat_id], 10)
        except StoreError:
            pass
        else:
            raise AssertionError("the store answered without its file")
        await WindowFill(state, store).ensure([chat_id])
        assert state.unfilled == set()
        assert len(state.chats[chat_id].messages) == 1 and not state.chats[chat_id].complete

    asyncio.run(run())


def test_after_a_restart_pages_serve_at_once_and_late_events_find_their_messages(
    tmp_path: Path,
) -> None:
    """Real processes: a store of two chats (120 messages each), then a bridge whose journal
    holds an ack and an edit of older messages and a new message."""
    chats = [fill_store_chat(0), fill_store_chat(1)]
    acked, edited = message_id(0, 6), message_id(1, 9)  # from us (i % 3 == 0)
    capture = tmp_path / "capture.jsonl"
    edit = {
        "protocolMessage": {
            "key": {"remoteJid": chats[1], "fromMe": True, "id": edited},
            "type": 14,
            "editedMessage": {"conversation": "fixed"},
        }
    }
    lines = [
        ("messages.update", [{"key": {"remoteJid": chats[0], "fromMe": True, "id": acked},
                              "update": {"status": 4}}]),
        ("messages.update", [{"key": {"remoteJid": chats[1], "fromMe": True, "id": edited},
                              "update": {"message": {"editedMessage": {"message": edit}}}}]),
        ("messages.upsert", {"type": "notify", "messages": [
            {"key": {"remoteJid": chats[1], "fromMe": False, "id": "NEW1"},
             "message": {"conversation": "still there?"}, "messageTimestamp": 1_800_000_000}]}),
    ]  # fmt: skip
    capture.write_text(
        "".join(json.dumps({"event": e, "data": data, "ts": 1}) + "\n" for e, data in lines)
    )
    with stack(tmp_path, capture=capture, orchestrator=False) as s:
        asyncio.run(fill(s.data / "store.sqlite3", STORED * 2, 2))
        orchestrator = s.start_orchestrator()
        s.applied(timeout=60)

        def page(chat_id: str, **params: str | int) -> list[dict[str, object]]:
            answer = orchestrator.http.get(f"/chats/{chat_id}/messages", params=params)
            assert answer.status_code == 200, answer.text
            messages: list[dict[str, object]] = answer.json()["messages"]
            return messages

        first = page(chats[0], limit=50)
        assert [m["id"] for m in first] == [message_id(0, i) for i in range(70, STORED)]
        whole = page(chats[0], limit=200)
        assert [m["id"] for m in whole] == [message_id(0, i) for i in range(STORED)]
        assert next(m for m in whole if m["id"] == acked)["status"] == "read"
        second = page(chats[1], limit=200)
        assert [m["id"] for m in second] == [message_id(1, i) for i in range(STORED)] + ["NEW1"]
        changed = next(m for m in second if m["id"] == edited)
        assert (changed["text"], changed["edited"]) == ("fixed", True)

        wait_for(
            "every window in RAM",
            lambda: metric(orchestrator, "wa_state_messages") >= 2 * STORED + 1,
            timeout=30,
        )
        wait_for("the store", lambda: orchestrator.bridge_report()["store"]["pendingRows"] == 0, 30)
        with sqlite3.connect(s.data / "store.sqlite3") as db:
            ack = db.execute("SELECT ack FROM wa_messages WHERE id = ?", (acked,)).fetchone()[0]
            body = db.execute("SELECT body FROM wa_messages WHERE id = ?", (edited,)).fetchone()[0]
        assert (ack, body) == (d.ACK_READ, "fixed")


def test_a_caller_that_goes_away_does_not_take_the_read_from_the_others(tmp_path: Path) -> None:
    """A client hanging up mid-request cancels its wait, not the store read the follower also
    waits for."""

    async def run() -> None:
        await fill(tmp_path / "store.sqlite3", STORED, 1)
        state, store = await loaded(tmp_path / "store.sqlite3")
        window_fill, chat_id = WindowFill(state, store), fill_store_chat(0)
        client = asyncio.create_task(window_fill.ensure([chat_id]))
        follower = asyncio.create_task(window_fill.ensure([chat_id]))
        await asyncio.sleep(0)  # both wait on the one read
        client.cancel()
        await follower
        assert client.cancelled() and state.unfilled == set()
        assert len(state.chats[chat_id].messages) == STORED
        await store.close()

    asyncio.run(run())
