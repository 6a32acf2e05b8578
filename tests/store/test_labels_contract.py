"""WhatsApp Business labels in every store backend: the labels and each chat's label ids go
from the state to the store and back into a new state (a restart)."""

from __future__ import annotations

import pytest

from orchestrator import domain as d
from orchestrator.state import State
from orchestrator.store import Store, WriteBatch
from orchestrator.store.rows import chat_from_row, chat_row, label_from_row, label_row

pytestmark = pytest.mark.anyio

ANA = "5511912345678@s.whatsapp.net"
BOB = "5511977776666@s.whatsapp.net"


async def restart(store: Store) -> State:
    state = State(window=10, max_messages=100)
    snapshot = await store.load(window=10)
    state.load(
        (chat_from_row(r) for r in snapshot.chats), [], [], snapshot.aliases,
        labels=(label_from_row(r) for r in snapshot.labels),
    )  # fmt: skip
    return state


def everything(state: State) -> WriteBatch:
    return WriteBatch(
        chats={c.id: chat_row(c) for c in state.chats.values()},
        labels={label.id: label_row(label) for label in state.labels.values()},
    )


async def test_labels_and_associations_survive_a_restart(store: Store) -> None:
    state = State(window=10, max_messages=100)
    state.apply(
        [
            d.LabelEdited("1", "New customer", 0, False, "1"),
            d.LabelEdited("12", "VIP ü 😀", 19, False),
            d.LabelEdited("13", "Gone", 5, True),
            d.ChatSeen(BOB, False, name="Bob"),
            d.ChatLabelled(ANA, "12", True),
            d.ChatLabelled(ANA, "1", True),
        ]
    )
    await store.write(everything(state))
    restarted = await restart(store)
    assert restarted.labels == state.labels
    assert restarted.chats[ANA].labels == ("12", "1")
    assert restarted.chats[BOB].labels == ()

    # a rename and a removal: the latest rows win
    state.apply([d.LabelEdited("12", "VIP+", 2, False), d.ChatLabelled(ANA, "12", False)])
    await store.write(everything(state))
    restarted = await restart(store)
    assert restarted.labels["12"].name == "VIP+"
    assert restarted.labels["12"].color == 2
    assert restarted.chats[ANA].labels == ("1",)
    assert len(restarted.labels) == 3


async def test_an_empty_store_has_no_labels(store: Store) -> None:
    assert (await store.load(window=10)).labels == []
