"""WhatsApp Business labels in the state: label edits and chat associations, in any order,
and what each announces."""

from __future__ import annotations

from orchestrator import domain as d
from orchestrator.medialinks import MediaLinks
from orchestrator.state import Label, State
from orchestrator.views import Views

PN = "5511912345678@s.whatsapp.net"
LID = "123456789012345@lid"
OTHER = "5511955554444@s.whatsapp.net"


def views(state: State) -> Views:
    return Views(state, MediaLinks("k" * 32, ttl=60))


def test_an_association_shows_the_label_on_the_chat_and_applying_it_twice_does_nothing() -> None:
    state = State(window=10, max_messages=100)
    state.apply([d.ChatSeen(PN, False, name="Ana")])
    changes = state.apply([d.LabelEdited("5", "VIP", 3, False)])
    assert [c.type for c in changes] == ["label_update"]
    assert changes[0].data == Label("5", "VIP", 3)
    changes = state.apply([d.ChatLabelled(PN, "5", True)])
    assert [(c.type, c.chat_id) for c in changes] == [("chat_update", PN)]
    assert views(state).chat(state.chats[PN])["labels"] == [{"id": "5", "name": "VIP", "color": 3}]
    assert state.apply([d.ChatLabelled(PN, "5", True)]) == []
    assert state.apply([d.LabelEdited("5", "VIP", 3, False)]) == []


def test_an_association_before_its_label_shows_once_the_label_is_known() -> None:
    state = State(window=10, max_messages=100)
    changes = state.apply([d.ChatLabelled(PN, "9", True)])  # a chat we had not seen
    assert [c.type for c in changes] == ["new_chat"]
    assert views(state).chat(state.chats[PN])["labels"] == []
    changes = state.apply([d.LabelEdited("9", "Paid", 7, False)])
    assert [(c.type, c.chat_id) for c in changes] == [("label_update", None), ("chat_update", PN)]
    assert views(state).chat(state.chats[PN])["labels"] == [{"id": "9", "name": "Paid", "color": 7}]


def test_a_rename_or_deletion_updates_every_chat_that_carries_the_label() -> None:
    state = State(window=10, max_messages=100)
    state.apply(
        [
            d.LabelEdited("1", "New", 0, False),
            d.LabelEdited("2", "Lead", 1, False),
            d.ChatLabelled(PN, "1", True),
            d.ChatLabelled(OTHER, "1", True),
            d.ChatLabelled(OTHER, "2", True),
        ]
    )
    changes = state.apply([d.LabelEdited("1", "Old", 4, False)])
    assert [(c.type, c.chat_id) for c in changes] == [
        ("label_update", None), ("chat_update", PN), ("chat_update", OTHER),
    ]  # fmt: skip
    v = views(state)
    assert v.chat(state.chats[OTHER])["labels"] == [
        {"id": "1", "name": "Old", "color": 4}, {"id": "2", "name": "Lead", "color": 1},
    ]  # fmt: skip
    changes = state.apply([d.LabelEdited("1", "Old", 4, True)])
    assert [c.type for c in changes] == ["label_update", "chat_update", "chat_update"]
    assert v.change(changes[0]) == {
        "id": "1", "name": "Old", "color": 4, "deleted": True, "predefinedId": None,
    }  # fmt: skip
    assert v.chat(state.chats[PN])["labels"] == []
    assert v.chat(state.chats[OTHER])["labels"] == [{"id": "2", "name": "Lead", "color": 1}]
    assert v.labels() == [{"id": "2", "name": "Lead", "color": 1}]


def test_removal_takes_the_label_off_and_removing_an_absent_one_is_silent() -> None:
    state = State(window=10, max_messages=100)
    state.apply([d.LabelEdited("1", "New", 0, False), d.ChatLabelled(PN, "1", True)])
    changes = state.apply([d.ChatLabelled(PN, "1", False)])
    assert [c.type for c in changes] == ["chat_update"]
    assert state.chats[PN].labels == ()
    assert state.apply([d.ChatLabelled(PN, "1", False)]) == []
    assert state.apply([d.ChatLabelled(PN, "2", False)]) == []


def test_labels_follow_a_lid_chat_into_its_phone_chat() -> None:
    state = State(window=10, max_messages=100)
    state.apply(
        [
            d.LabelEdited("1", "New", 0, False),
            d.LabelEdited("2", "Lead", 1, False),
            d.ChatLabelled(LID, "1", True),
            d.ChatLabelled(PN, "2", True),
        ]
    )
    state.apply([d.JidAlias(lid=LID, pn=PN)])
    assert list(state.chats) == [PN]
    assert state.chats[PN].labels == ("2", "1")
    # an association naming the LID now lands on the phone chat
    state.apply([d.ChatLabelled(LID, "1", False)])
    assert state.chats[PN].labels == ("2",)


def test_labels_listed_by_name_without_the_deleted() -> None:
    state = State(window=10, max_messages=100)
    state.apply(
        [
            d.LabelEdited("3", "b", 0, False),
            d.LabelEdited("1", "a", 1, False),
            d.LabelEdited("2", "gone", 2, True),
        ]
    )
    assert [label["id"] for label in views(state).labels()] == ["1", "3"]
