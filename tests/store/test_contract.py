"""One contract, every store backend (the `store` fixture is parametrized over them)."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator import domain as d
from orchestrator.state import Chat, Contact, State
from orchestrator.store import Store, WriteBatch
from orchestrator.store.rows import (
    chat_from_row,
    chat_row,
    contact_row,
    message_from_row,
    message_row,
)
from orchestrator.wire import Position

pytestmark = pytest.mark.anyio

CHAT = "5511912345678@s.whatsapp.net"
LID = "99887766554433@lid"


def message(message_id: str, ts: int, chat: str = CHAT, **fields: object) -> d.Message:
    base = d.Message(
        id=message_id, chat_id=chat, chat_alt=None, from_me=False, sender=chat, sender_alt=None,
        sender_name="Ana", timestamp=ts, type="image", text="caption ü 😀", quoted_id="Q1",
        media=d.Media("image/jpeg", None, 123456789012, None), ack=d.ACK_DELIVERED,
        reactions=(d.Reaction("👍", "x@s.whatsapp.net"),),
        raw=b'{"key":{"id":"' + message_id.encode() + b'"},"message":{"$bytes":"AAE="}}',
    )  # fmt: skip
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def batch(*messages: d.Message, position: Position | None = None, **extra: object) -> WriteBatch:
    chats = {m.chat_id: chat_row(Chat(m.chat_id, False, "Ana", 2, m.timestamp)) for m in messages}
    result = WriteBatch(
        chats=chats,
        messages={(m.chat_id, m.id): message_row(m) for m in messages},
        position=position,
    )
    for name, value in extra.items():
        setattr(result, name, value)
    return result


async def test_rows_round_trip_exactly(store: Store) -> None:
    original = message("m1", 100)
    contact = Contact(CHAT, "Ana", "ana", None)
    await store.write(
        batch(original, position=Position("e1", 7), contacts={CHAT: contact_row(contact)},
              aliases={LID: CHAT})
    )  # fmt: skip
    snapshot = await store.load(window=10)
    assert [message_from_row(r) for r in snapshot.messages] == [original]
    assert message_from_row(snapshot.messages[0]).raw == original.raw
    assert [chat_from_row(r).id for r in snapshot.chats] == [CHAT]
    assert chat_from_row(snapshot.chats[0]).unread_count == 2
    assert snapshot.contacts[0]["notify"] == "ana"
    assert snapshot.aliases == {LID: CHAT}
    assert snapshot.position == Position("e1", 7)


async def test_an_empty_store_loads_empty(store: Store) -> None:
    snapshot = await store.load(window=10)
    assert (snapshot.chats, snapshot.messages, snapshot.position) == ([], [], None)


async def test_upserts_keep_the_latest_and_never_duplicate(store: Store) -> None:
    await store.write(batch(message("m1", 100)))
    await store.write(batch(message("m1", 100, ack=d.ACK_READ, edited=True, text="new")))
    await store.write(batch(message("m1", 100, ack=d.ACK_READ, edited=True, text="new")))
    [row] = (await store.load(window=10)).messages
    assert (row["ack"], bool(row["edited"]), row["body"]) == (d.ACK_READ, True, "new")


async def test_load_keeps_the_newest_window_per_chat(store: Store) -> None:
    other = "5511900000001@s.whatsapp.net"
    await store.write(batch(*(message(f"a{i:02d}", 100 + i) for i in range(12))))
    await store.write(batch(*(message(f"b{i:02d}", 100 + i, chat=other) for i in range(3))))
    messages = (await store.load(window=5)).messages
    assert sorted(r["id"] for r in messages if r["chat_id"] == CHAT) == [
        f"a{i:02d}" for i in range(7, 12)
    ]
    assert len([r for r in messages if r["chat_id"] == other]) == 3


async def test_paging_backwards(store: Store) -> None:
    # Two messages share a timestamp: order is (ts, id), as in RAM.
    await store.write(batch(*(message(f"m{i:02d}", 100 + i // 2) for i in range(10))))
    newest = await store.messages_before(CHAT, None, 3)
    assert newest is not None and [r["id"] for r in newest] == ["m09", "m08", "m07"]
    older = await store.messages_before(CHAT, "m07", 4)
    assert older is not None and [r["id"] for r in older] == ["m06", "m05", "m04", "m03"]
    assert await store.messages_before(CHAT, "m00", 4) == []
    assert await store.messages_before(CHAT, "nope", 4) is None


async def test_a_renamed_chat_keeps_its_history_under_the_new_id(store: Store) -> None:
    await store.write(batch(message("old", 100, chat=LID)))
    await store.write(batch(message("new", 200), renamed_chats={LID: CHAT}))
    snapshot = await store.load(window=10)
    assert [r["id"] for r in snapshot.chats] == [CHAT]
    assert sorted((r["chat_id"], r["id"]) for r in snapshot.messages) == [
        (CHAT, "new"), (CHAT, "old"),
    ]  # fmt: skip


async def test_deleted_chats_go_with_their_messages(store: Store) -> None:
    await store.write(batch(message("m1", 100)))
    await store.write(WriteBatch(deleted_chats={CHAT}, position=Position("e1", 9)))
    snapshot = await store.load(window=10)
    assert (snapshot.chats, snapshot.messages, snapshot.position) == ([], [], Position("e1", 9))


async def test_messages_of_one_second_page_in_arrival_order(store: Store) -> None:
    """WhatsApp timestamps are seconds and ids are random: arrival orders a burst."""
    burst = [message(f"m{9 - i}", 100, arrival=1000 + i) for i in range(5)]  # ids reversed
    await store.write(batch(*burst, message("older", 99, arrival=5000)))
    newest_first = ["m5", "m6", "m7", "m8", "m9", "older"]
    page = await store.messages_before(CHAT, None, 10)
    assert page is not None and [r["id"] for r in page] == newest_first
    after_cursor = await store.messages_before(CHAT, "m7", 10)
    assert after_cursor is not None and [r["id"] for r in after_cursor] == newest_first[3:]
    snapshot = await store.load(window=3)
    assert sorted(r["id"] for r in snapshot.messages) == ["m5", "m6", "m7"]
    assert [message_from_row(r).arrival for r in page] == [1004, 1003, 1002, 1001, 1000, 5000]


GROUP = "120363040000000001@g.us"
BOB = "5511977776666@s.whatsapp.net"


async def test_group_members_survive_a_restart(store: Store) -> None:
    """Members and roles go from the state to the store and back into a new state, in order;
    a 1:1 chat (and a group whose members were never seen) stores none."""
    state = State(window=10, max_messages=100)
    state.apply(
        [
            d.ChatSeen(GROUP, True, name="Support", participants=(
                d.Participant(BOB, "superadmin"), d.Participant(LID, "admin"),
                d.Participant(CHAT),
            )),
            d.ChatSeen(CHAT, False, name="Ana"),
            d.ChatSeen("120363040000000002@g.us", True, name="Quiet"),
        ]
    )  # fmt: skip
    await store.write(WriteBatch(chats={c.id: chat_row(c) for c in state.chats.values()}))

    restarted = State(window=10, max_messages=100)
    snapshot = await store.load(window=10)
    restarted.load((chat_from_row(r) for r in snapshot.chats), [], [], snapshot.aliases)
    group = restarted.chats[GROUP].participants
    assert group is not None and list(group.items()) == [
        (BOB, "superadmin"), (LID, "admin"), (CHAT, None),
    ]  # fmt: skip
    assert restarted.chats[CHAT].participants is None
    assert restarted.chats["120363040000000002@g.us"].participants is None

    # changed, then emptied: the latest row wins, and an empty group is not an unknown one
    state.apply([d.ParticipantsChanged(GROUP, (d.Participant(LID),), "demote")])
    await store.write(WriteBatch(chats={GROUP: chat_row(state.chats[GROUP])}))
    [row] = [r for r in (await store.load(window=10)).chats if r["id"] == GROUP]
    assert chat_from_row(row).participants == {BOB: "superadmin", LID: None, CHAT: None}
    state.apply([d.ChatSeen(GROUP, True, participants=())])
    await store.write(WriteBatch(chats={GROUP: chat_row(state.chats[GROUP])}))
    [row] = [r for r in (await store.load(window=10)).chats if r["id"] == GROUP]
    assert chat_from_row(row).participants == {}
