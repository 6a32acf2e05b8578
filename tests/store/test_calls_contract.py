"""A call message's `call` survives the store, on every backend (the SQLite upgrade that adds
`wa_messages.call`, and supabase/migrations/20261205120200_message_call.sql), and a restarted
state updates it in place."""

from __future__ import annotations

import pytest

from orchestrator import domain as d
from orchestrator.state import Chat, State
from orchestrator.store import Store, WriteBatch
from orchestrator.store.rows import chat_from_row, chat_row, message_from_row, message_row

pytestmark = pytest.mark.anyio

ANA = "5511988887777@s.whatsapp.net"
OFFER = d.CallSeen(
    id="CALL1", chat_id=ANA, caller=ANA, caller_alt=None, status="offer", timestamp=1_700_000_000,
    offline=False, video=True, is_group=False,
)  # fmt: skip


async def save(store: Store, state: State) -> None:
    await store.write(
        WriteBatch(
            chats={c.id: chat_row(c) for c in state.chats.values()},
            messages={
                (m.chat_id, m.id): message_row(m)
                for c in state.chats.values()
                for m in c.messages.values()
            },
        )
    )


async def restart(store: Store) -> State:
    snapshot = await store.load(window=10)
    state = State(window=10, max_messages=100)
    state.load(
        (chat_from_row(r) for r in snapshot.chats),
        (message_from_row(r) for r in snapshot.messages),
        [],
        snapshot.aliases,
    )
    return state


async def test_a_call_message_round_trips_and_is_updated_after_a_restart(store: Store) -> None:
    state = State(window=10, max_messages=100)
    state.apply([OFFER])
    await save(store, state)
    restarted = await restart(store)
    message = restarted.chats[ANA].get("CALL1")
    assert message == state.chats[ANA].get("CALL1")
    assert message is not None and message.call == d.CallInfo(
        "incoming", "video", "ringing", False, "offer"
    )
    # The timeout arrives after the restart: the stored message is updated, not doubled.
    changes = restarted.apply(
        [d.CallSeen("CALL1", ANA, ANA, None, "timeout", 1_700_000_045, False, True, False)]
    )
    assert [c.type for c in changes] == ["message_update", "chat_update", "call"]
    await save(store, restarted)
    again = await restart(store)
    [stored] = again.chats[ANA].messages.values()
    assert stored.call == d.CallInfo("incoming", "video", "missed", False, "timeout")
    assert again.chats[ANA].unread_count == 1


async def test_other_messages_store_no_call(store: Store) -> None:
    text = d.Message(
        id="T1", chat_id=ANA, chat_alt=None, from_me=False, sender=ANA, sender_alt=None,
        sender_name=None, timestamp=1, type="text", text="hi", quoted_id=None, media=None,
        ack=d.ACK_DELIVERED,
    )  # fmt: skip
    row = message_row(text)
    assert row["call"] is None
    chats = {ANA: chat_row(Chat(ANA, False))}
    await store.write(WriteBatch(chats=chats, messages={(ANA, "T1"): row}))
    [loaded] = (await store.load(window=10)).messages
    assert loaded.get("call") is None and message_from_row(loaded) == text
