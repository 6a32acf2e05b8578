"""Calls in the state: one Message `type: "call"` per call (id = the call id), updated in
place by its later steps, a `call` stream change for each step that changed something, and
a missed incoming call counted as unread."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator import domain as d
from orchestrator.medialinks import MediaLinks
from orchestrator.state import Change, State
from orchestrator.views import Views

ANA = "5511988887777@s.whatsapp.net"
BOB_LID = "300000000000003@lid"
BOB = "5511977776666@s.whatsapp.net"
GROUP = "120363040000000001@g.us"
T = 1_700_000_000

OFFER = d.CallSeen(
    id="CALL1", chat_id=ANA, caller=ANA, caller_alt=None, status="offer", timestamp=T,
    offline=False, video=False, is_group=False,
)  # fmt: skip


def step(call: d.CallSeen, status: str, dt: int, **fields: Any) -> d.CallSeen:
    return dataclasses.replace(call, status=status, timestamp=call.timestamp + dt, **fields)


def types(changes: list[Change]) -> list[str]:
    return [c.type for c in changes]


def only(changes: list[Change], kind: str) -> Any:
    [data] = [c.data for c in changes if c.type == kind]
    return data


def test_an_unanswered_call_rings_then_is_missed_and_unread() -> None:
    state = State(window=10, max_messages=100)
    first = state.apply([OFFER])
    assert types(first) == ["new_chat", "new_message", "call"]
    message = only(first, "new_message")
    assert (message.id, message.chat_id, message.type, message.sender, message.from_me) == (
        "CALL1", ANA, "call", ANA, False,
    )  # fmt: skip
    assert message.call == d.CallInfo("incoming", "voice", "ringing", False, "offer")
    assert only(first, "call") == {
        "id": "CALL1", "chatId": ANA, "from": ANA, "direction": "incoming", "kind": "voice",
        "isGroup": False, "status": "offer", "outcome": "ringing", "timestamp": T,
        "offline": False,
    }  # fmt: skip
    chat = state.chats[ANA]
    assert chat.unread_count == 0 and chat.timestamp == T and chat.last_message == message

    latency = state.apply([step(OFFER, "relaylatency", 1)])
    assert types(latency) == ["message_update", "call"]  # still ringing, a new step
    timeout = state.apply([step(OFFER, "timeout", 45)])
    assert types(timeout) == ["message_update", "chat_update", "call"]
    missed = only(timeout, "message_update")
    assert missed.call.outcome == "missed" and missed.call.status == "timeout"
    assert missed.timestamp == T  # the call's time is when it rang
    assert only(timeout, "call")["timestamp"] == T + 45
    assert chat.unread_count == 1
    assert [m.id for m in chat.messages.values()] == ["CALL1"]  # one message, never two
    assert state.stats.messages == 1

    # Again, or a late signalling step after the end: nothing changes.
    assert state.apply([OFFER, step(OFFER, "timeout", 45), step(OFFER, "transport", 50)]) == []
    # The caller's terminate after the timeout: the step is news, the outcome stays.
    end = state.apply([step(OFFER, "terminate", 46)])
    assert types(end) == ["message_update", "call"]
    assert only(end, "message_update").call.outcome == "missed"
    assert chat.unread_count == 1


def test_a_caller_hanging_up_first_is_a_missed_call() -> None:
    state = State(window=10, max_messages=100)
    state.apply([OFFER, step(OFFER, "terminate", 5, video=None, is_group=None)])
    message = state.chats[ANA].get("CALL1")
    assert message is not None and message.call is not None
    assert (message.call.outcome, message.call.kind) == ("missed", "voice")
    assert state.chats[ANA].unread_count == 1


def test_a_group_video_call_answered_elsewhere_is_one_message_in_the_group() -> None:
    """Later steps of a group call name the caller (a LID) and not the group: the message is
    found by the call id. An answered call stays accepted when it ends, and is not unread."""
    state = State(window=10, max_messages=100)
    offer = d.CallSeen(
        id="G1", chat_id=GROUP, caller=BOB_LID, caller_alt=BOB, status="offer", timestamp=T,
        offline=False, video=True, is_group=True,
    )  # fmt: skip
    changes = state.apply([offer])
    message = only(changes, "new_message")
    assert message.chat_id == GROUP and message.sender == BOB  # the LID's phone jid, learned
    assert message.call == d.CallInfo("incoming", "video", "ringing", True, "offer")
    accept = step(offer, "accept", 2, chat_id=BOB_LID)
    end = step(offer, "terminate", 60, chat_id=BOB_LID, video=None, is_group=None)
    changes = state.apply([accept, end])
    assert types(changes) == ["message_update", "call", "message_update", "call"]
    assert [c.chat_id for c in changes] == [GROUP] * 4
    final = changes[-2].data
    assert final.call == d.CallInfo("incoming", "video", "accepted", True, "terminate")
    assert changes[-1].data["outcome"] == "accepted" and changes[-1].data["kind"] == "video"
    assert BOB_LID not in state.chats and BOB not in state.chats
    assert state.chats[GROUP].unread_count == 0


def test_our_reject_makes_it_rejected_not_unread() -> None:
    """bridge.call_rejected names only the id and the caller: the kind stays the offer's."""
    state = State(window=10, max_messages=100)
    video = dataclasses.replace(OFFER, video=True)
    state.apply([video])
    changes = state.apply([step(video, "reject", 1, video=None, is_group=None)])
    assert only(changes, "message_update").call == d.CallInfo(
        "incoming", "video", "rejected", False, "reject"
    )
    assert only(changes, "call")["outcome"] == "rejected"
    assert state.chats[ANA].unread_count == 0
    # A timeout after the reject changes the step, not the outcome.
    later = state.apply([step(video, "timeout", 30)])
    assert only(later, "message_update").call.outcome == "rejected"


def test_a_step_without_its_offer_still_makes_a_call_message() -> None:
    """After a restart Baileys no longer knows the offer (nor, here, the state: the call is
    not in the store yet): the step makes the message, with what it says."""
    state = State(window=10, max_messages=100)
    changes = state.apply([step(OFFER, "timeout", 45, video=None, is_group=None)])
    assert types(changes) == ["new_chat", "new_message", "chat_update", "call"]
    message = only(changes, "new_message")
    assert message.call == d.CallInfo("incoming", "voice", "missed", False, "timeout")
    assert message.timestamp == T + 45
    assert state.chats[ANA].unread_count == 1


def test_an_offline_call_counts_like_a_live_one() -> None:
    state = State(window=10, max_messages=100)
    offline = dataclasses.replace(OFFER, offline=True)
    changes = state.apply([offline, step(offline, "timeout", 45)])
    assert [c.data["offline"] for c in changes if c.type == "call"] == [True, True]
    assert state.chats[ANA].unread_count == 1


def test_a_message_with_the_calls_id_is_left_alone() -> None:
    state = State(window=10, max_messages=100)
    text = d.Message(
        id="CALL1", chat_id=ANA, chat_alt=None, from_me=False, sender=ANA, sender_alt=None,
        sender_name=None, timestamp=T, type="text", text="hi", quoted_id=None, media=None,
        ack=d.ACK_DELIVERED,
    )  # fmt: skip
    state.apply([d.MessageSeen(text, live=False)])
    assert state.apply([OFFER]) == []
    assert state.chats[ANA].get("CALL1") == text


def test_the_view_shows_the_call_only_on_call_messages() -> None:
    state = State(window=10, max_messages=100)
    state.apply([OFFER, step(OFFER, "timeout", 45)])
    views = Views(state, MediaLinks("secret", 3600))
    chat = views.chat(state.chats[ANA])
    last = chat["lastMessage"]
    assert last is not None and last["type"] == "call" and last["text"] is None
    assert last["call"] == {
        "direction": "incoming", "kind": "voice", "outcome": "missed", "isGroup": False,
    }  # fmt: skip
    assert chat["unreadCount"] == 1
    text = d.Message(
        id="T1", chat_id=ANA, chat_alt=None, from_me=False, sender=ANA, sender_alt=None,
        sender_name=None, timestamp=T + 50, type="text", text="hi", quoted_id=None, media=None,
        ack=d.ACK_DELIVERED,
    )  # fmt: skip
    assert "call" not in views.message(text)
