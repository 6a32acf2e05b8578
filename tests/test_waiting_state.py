"""Waiting (undecryptable) messages in the state: shown at once, resolved in place when their
content comes, whether RAM's window still holds them or not."""

from __future__ import annotations

import dataclasses

from orchestrator import domain as d
from orchestrator.state import State
from tests.test_state import LID, PN, message, seen

OTHER = "5511900000001@s.whatsapp.net"


def stub(message_id: str, chat: str = PN, ts: int = 100) -> d.Message:
    return message(message_id, chat, ts, type=d.WAITING, text=None)


def types(changes: list[object]) -> list[str]:
    return [c.type for c in changes]  # type: ignore[attr-defined]


def test_a_waiting_message_is_a_new_unread_message_and_the_chats_last() -> None:
    state = State(window=10, max_messages=100)
    changes = state.apply([seen(message("a", ts=90)), seen(stub("w"))])
    assert types(changes) == ["new_chat", "new_message", "new_message"]
    chat = state.chats[PN]
    assert chat.unread_count == 2
    assert chat.last_message is not None and chat.last_message.type == d.WAITING
    assert chat.last_message.text is None
    assert state.waiting.count == 1 and state.waiting.resolved == 0


def test_its_content_replaces_it_in_place_once() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(stub("w"))])
    before = state.chats[PN].get("w")
    content = message("w", media=d.Media("image/jpeg", None, 10, None), type="image")
    changes = state.apply([seen(content)])
    assert types(changes) == ["message_update"]
    resolved = changes[0].data
    assert resolved.id == "w" and resolved.type == "image" and resolved.text == "text w"
    assert before is not None and resolved.arrival == before.arrival  # the same place
    chat = state.chats[PN]
    assert len(chat.messages) == 1 and state.stats.messages == 1
    assert chat.unread_count == 1  # counted when it arrived, not again
    assert chat.last_message == resolved
    assert state.waiting.count == 0 and state.waiting.resolved == 1
    assert state.apply([seen(content)]) == []
    assert state.waiting.resolved == 1


def test_a_message_out_of_the_window_is_resolved_where_the_store_holds_it() -> None:
    state = State(window=2, max_messages=100)
    state.apply([seen(stub("w", ts=100)), seen(message("b", ts=101)), seen(message("c", ts=102))])
    chat = state.chats[PN]
    assert chat.get("w") is None and state.waiting.count == 1  # evicted, still waiting
    changes = state.apply([seen(message("w", ts=100, text="late"))])
    assert types(changes) == ["message_update"]  # not a second new_message
    assert changes[0].data.text == "late" and changes[0].data.chat_id == PN
    assert chat.unread_count == 3
    assert [m.id for m in chat.messages.values()] == ["b", "c"]  # no gap in the window
    assert state.waiting.count == 0 and state.waiting.resolved == 1


def test_after_a_restart_the_stored_waiting_messages_are_known() -> None:
    state = State(window=1, max_messages=100)
    waiting = dataclasses.replace(stub("w", ts=50), arrival=7)
    newest = message("n", ts=60)
    chat = State(window=1, max_messages=100)
    chat.apply([d.ChatSeen(PN, False, unread_count=2, timestamp=60)])
    state.load([chat.chats[PN]], [newest], [], {}, waiting=[waiting])
    assert state.waiting.count == 1
    assert state.waiting.newest(10) == [waiting]
    changes = state.apply([seen(message("w", ts=50, text="at last"))])
    assert types(changes) == ["message_update"]
    assert changes[0].data.arrival == 7 and changes[0].data.text == "at last"
    assert state.chats[PN].unread_count == 2 and state.waiting.count == 0


def test_an_edit_gives_it_text_and_a_revoke_deletes_it_for_good() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(stub("e")), seen(stub("r"))])
    (edit,) = state.apply([d.MessageChanged(PN, "e", text="fixed", edited=True)])
    assert edit.type == "message_update"
    assert (edit.data.type, edit.data.text, edit.data.edited) == ("text", "fixed", True)
    (revoke,) = state.apply([d.MessageChanged(PN, "r", deleted=True)])
    assert (revoke.data.type, revoke.data.deleted, revoke.data.text) == (d.WAITING, True, None)
    assert state.waiting.count == 0 and state.waiting.resolved == 1
    # the content of the revoked one comes after all: it stays deleted
    assert state.apply([seen(message("r"))]) == []
    assert state.chats[PN].get("r") == revoke.data
    assert state.waiting.resolved == 1


def test_edits_and_revokes_reach_a_waiting_message_out_of_the_window() -> None:
    state = State(window=2, max_messages=100)
    state.apply([seen(stub("e", ts=90)), seen(stub("r", ts=91))])
    state.apply([seen(message("b", ts=101)), seen(message("c", ts=102))])
    (edit,) = state.apply([d.MessageChanged(PN, "e", text="fixed", edited=True)])
    assert (edit.type, edit.data.type, edit.data.text) == ("message_update", "text", "fixed")
    (revoke,) = state.apply([d.MessageChanged(PN, "r", deleted=True)])
    assert revoke.data.deleted and state.waiting.count == 0
    assert state.apply([seen(message("r", ts=91))]) == []  # revoked for good, held or not
    assert state.stats.orphan_updates == 0


def test_a_late_stub_of_a_message_we_can_read_takes_nothing_away() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(message("a"))])
    assert state.apply([seen(stub("a"))]) == []
    assert state.chats[PN].get("a").type == "text"  # type: ignore[union-attr]
    assert state.waiting.count == 0
    # and a stub seen twice is one waiting message
    state.apply([seen(stub("w")), seen(stub("w"))])
    assert state.waiting.count == 1 and state.chats[PN].unread_count == 2


def test_the_resend_request_id_update_keeps_it_waiting() -> None:
    """messages.update {messageStubParameters: [..., requestId]} normalizes to nothing."""
    state = State(window=10, max_messages=100)
    state.apply([seen(stub("w"))])
    assert state.apply([d.MessageChanged(PN, "w")]) == []
    assert state.waiting.count == 1


def test_waiting_messages_are_listed_newest_first_across_chats() -> None:
    state = State(window=10, max_messages=100)
    state.apply(
        [seen(stub("w1", PN, 100)), seen(stub("w2", OTHER, 300)), seen(stub("w3", PN, 200))]
    )
    assert [m.id for m in state.waiting.newest(10)] == ["w2", "w3", "w1"]
    assert [m.id for m in state.waiting.newest(2)] == ["w2", "w3"]


def test_deleted_messages_and_chats_stop_waiting() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(stub("w1")), seen(stub("w2")), seen(stub("w3", OTHER))])
    state.apply([d.MessagesRemoved(PN, ("w1",))])
    assert [m.id for m in state.waiting.newest(10)] == ["w3", "w2"]
    state.apply([d.ChatRemovedAllMessages(PN)])
    state.apply([d.ChatRemoved(OTHER)])
    assert state.waiting.count == 0


def test_a_lid_chat_merged_into_the_phone_chat_takes_its_waiting_messages() -> None:
    state = State(window=1, max_messages=100)
    state.apply([seen(stub("w", LID, 100)), seen(message("b", LID, 101))])  # w evicted
    state.apply([d.JidAlias(lid=LID, pn=PN)])
    (moved,) = state.waiting.newest(10)
    assert moved.chat_id == PN
    changes = state.apply([seen(message("w", LID, 100, alt=PN, text="here"))])
    assert types(changes) == ["message_update"] and changes[0].data.chat_id == PN
    assert state.waiting.count == 0
