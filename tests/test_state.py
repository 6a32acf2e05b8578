from __future__ import annotations

import dataclasses

from orchestrator import domain as d
from orchestrator.state import Change, Chat, State

PN = "5511912345678@s.whatsapp.net"
LID = "123456789012345@lid"


def message(
    message_id: str, chat: str = PN, ts: int = 100, *, alt: str | None = None, **fields: object
) -> d.Message:
    base = d.Message(
        id=message_id, chat_id=chat, chat_alt=alt, from_me=False, sender=chat, sender_alt=None,
        sender_name="Ana", timestamp=ts, type="text", text=f"text {message_id}", quoted_id=None,
        media=None, ack=d.ACK_DELIVERED, raw=b"{}",
    )  # fmt: skip
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def seen(m: d.Message, live: bool = True) -> d.MessageSeen:
    return d.MessageSeen(m, live=live)


def test_applying_a_fact_twice_changes_nothing_the_second_time() -> None:
    state = State(window=10, max_messages=100)
    facts: list[d.Fact] = [
        d.ChatSeen(PN, False, name="Ana", unread_count=0, timestamp=50),
        seen(message("a")),
        d.MessageChanged(PN, "a", ack=d.ACK_READ),
        d.ReactionSet(PN, "a", "x@s.whatsapp.net", "👍"),
        d.ContactSeen(PN, name="Ana"),
        d.SyncProgress(50, 2, False),
        d.PresenceSeen(PN, {PN: {"lastKnownPresence": "available"}}),
        d.ChatSeen(GROUP, True, participants=(d.Participant(PN, "admin"),)),
        d.ParticipantsChanged(GROUP, (d.Participant(LID),), "add"),
    ]
    first = []
    for fact in facts:
        first += state.apply([fact])
        assert state.apply([fact]) == [], fact
    assert [c.type for c in first] == [
        "new_chat", "new_message", "message_ack", "message_update", "contact_update",
        "sync_progress", "presence", "new_chat", "chat_update",
    ]  # fmt: skip
    assert state.chats[PN].unread_count == 1


def test_a_repeated_composing_is_news_a_repeated_available_is_not() -> None:
    # WhatsApp repeats composing while the contact keeps typing; clients time the indicator out.
    state = State(window=10, max_messages=100)
    composing = d.PresenceSeen(PN, {PN: {"lastKnownPresence": "composing"}})
    available = d.PresenceSeen(PN, {PN: {"lastKnownPresence": "available"}})
    assert [c.type for c in state.apply([composing, composing])] == ["presence", "presence"]
    assert [c.type for c in state.apply([available, available])] == ["presence"]


def test_a_lid_chat_merges_into_the_phone_chat_once_the_mapping_is_known() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(message("a", LID, 100))])
    assert list(state.chats) == [LID]
    changes = state.apply([d.JidAlias(lid=LID, pn=PN), seen(message("b", LID, 200))])
    assert [c.type for c in changes] == ["chat_deleted", "new_chat", "new_message"]
    assert changes[0].data == {"id": LID, "mergedInto": PN}
    chat = state.chats[PN]
    assert list(state.chats) == [PN]
    assert [m.id for m in chat.messages.values()] == ["a", "b"]
    assert all(m.chat_id == PN for m in chat.messages.values())
    assert state.resolve(LID) == PN


def test_the_alt_jid_on_a_key_is_enough_to_merge() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(message("a", PN, 100))])
    state.apply([seen(message("b", LID, 200, alt=PN))])
    assert list(state.chats) == [PN]
    assert len(state.chats[PN].messages) == 2


def test_acks_only_go_up_except_that_a_pending_message_can_fail() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(message("a", ack=d.ACK_PENDING, from_me=True))])
    state.apply([d.MessageChanged(PN, "a", ack=d.ACK_READ)])
    state.apply([d.MessageChanged(PN, "a", ack=d.ACK_DELIVERED)])
    assert state.chats[PN].get("a").ack == d.ACK_READ  # type: ignore[union-attr]
    state.apply([d.MessageChanged(PN, "a", ack=d.ACK_ERROR)])
    assert state.chats[PN].get("a").ack == d.ACK_READ  # type: ignore[union-attr]
    state.apply([seen(message("b", ack=d.ACK_PENDING, from_me=True))])
    [change] = state.apply([seen(message("b", ack=d.ACK_ERROR, from_me=True), live=False)])
    assert change.data.ack == d.ACK_ERROR


def test_edits_revokes_and_reactions() -> None:
    state = State(window=10, max_messages=100)
    state.apply([seen(message("a"))])
    state.apply([d.MessageChanged(PN, "a", text="new", edited=True)])
    state.apply([d.ReactionSet(PN, "a", "x@s.whatsapp.net", "👍")])
    state.apply([d.ReactionSet(PN, "a", "x@s.whatsapp.net", "❤️")])
    state.apply([d.ReactionSet(PN, "a", "y@s.whatsapp.net", "👍")])
    state.apply([d.ReactionSet(PN, "a", "y@s.whatsapp.net", None)])
    edited = state.chats[PN].get("a")
    assert edited is not None and edited.text == "new" and edited.edited
    assert edited.reactions == (d.Reaction("❤️", "x@s.whatsapp.net"),)
    state.apply([d.MessageChanged(PN, "a", deleted=True)])
    assert state.apply([d.MessageChanged(PN, "a", text="again", edited=True)]) == []
    revoked = state.chats[PN].get("a")
    assert revoked is not None and revoked.deleted and revoked.text is None


def test_history_is_stored_but_not_announced_and_not_unread() -> None:
    state = State(window=10, max_messages=100)
    changes = state.apply([d.MessageSeen(message("h"), live=False, history=True)])
    assert [c.type for c in changes] == ["new_chat", "history_message"]
    assert state.chats[PN].unread_count == 0 and len(state.chats[PN].messages) == 1


def test_chats_are_ordered_by_activity_and_paged() -> None:
    state = State(window=10, max_messages=100)
    jids = [f"55119000000{i:02d}@s.whatsapp.net" for i in range(5)]
    for i, jid in enumerate(jids):
        state.apply([seen(message(f"m{i}", jid, 100 + i))])
    state.apply([seen(message("late", jids[0], 500))])
    order = [c.id for c in state.chats_by_activity()]
    assert order == [jids[0], jids[4], jids[3], jids[2], jids[1]]
    assert [c.id for c in state.chat_page(2, before=jids[4])] == [jids[3], jids[2]]


def test_windows_and_the_global_bound_evict_oldest_first() -> None:
    state = State(window=3, max_messages=5)
    a, b = PN, "5511900000001@s.whatsapp.net"
    for i in range(5):
        state.apply([seen(message(f"a{i}", a, 100 + i))])
    assert [m.id for m in state.chats[a].messages.values()] == ["a2", "a3", "a4"]
    for i in range(3):
        state.apply([seen(message(f"b{i}", b, 200 + i))])
    # 6 > 5: the least recently active chat (a) gives up its oldest message.
    assert [m.id for m in state.chats[a].messages.values()] == ["a3", "a4"]
    assert len(state.chats[b].messages) == 3 and state.stats.messages == 5


def test_unknown_targets_are_counted_not_fatal() -> None:
    state = State(window=3, max_messages=5)
    assert (
        state.apply([d.MessageChanged(PN, "nope", ack=4), d.ReactionSet(PN, "x", "y", "z")]) == []
    )
    assert state.stats.orphan_updates == 2
    state.apply([d.Unreadable("messages.upsert", "bad")])
    assert state.stats.unreadable == 1


def test_a_chat_is_complete_only_while_ram_provably_holds_all_its_messages() -> None:
    """`complete` lets a short page skip the store; claiming it wrongly would hide history."""
    other = "5511988887777@s.whatsapp.net"
    unread = State(window=3, max_messages=100)  # the store was never read (it was down)
    unread.apply([seen(message("a"))])
    assert not unread.chats[PN].complete

    state = State(window=3, max_messages=100)
    stored = [message(f"s{i}", other, ts=i) for i in range(3)]  # a full window: maybe more
    state.load([], [message("a", ts=1), *stored], [], {})
    assert state.chats[PN].complete and not state.chats[other].complete
    state.apply([seen(message("n", LID, 5))])  # a chat the store did not hold
    assert state.chats[LID].complete
    state.apply([seen(message(m, ts=t)) for m, t in (("b", 2), ("c", 3), ("d", 4))])
    assert [m.id for m in state.chats[PN].messages.values()] == ["b", "c", "d"]
    assert not state.chats[PN].complete, "a message left the window"
    state.apply([d.JidAlias(lid=LID, pn=PN)])  # a complete chat merged into an incomplete one
    assert not state.chats[PN].complete


def test_activity_order_holds_when_chats_move_merge_and_leave_within_one_apply() -> None:
    """Chats are re-filed by activity once per apply: removals and merges in the same batch
    must still find them where they are filed."""
    other = "5511988887777@s.whatsapp.net"
    state = State(window=10, max_messages=100)
    state.apply([seen(message("a", PN, 100)), seen(message("b", other, 200))])
    state.apply(
        [
            seen(message("c", PN, 300)),  # PN moves ahead of `other`...
            d.ChatRemoved(PN),  # ...and leaves in the same batch
            seen(message("d", LID, 400)),
            seen(message("e", LID, 500)),
            d.JidAlias(lid=LID, pn=PN),  # a chat that moved twice merges into a new one
        ]
    )
    assert [c.id for c in state.chats_by_activity()] == [PN, other]
    assert state.chats[PN].timestamp == 500
    assert state.chat_page(10, None) == [state.chats[PN], state.chats[other]]


def test_messages_of_one_second_keep_the_order_they_arrived_in() -> None:
    ticks = iter(range(1, 100))
    state = State(window=10, max_messages=100, clock_us=lambda: next(ticks))
    burst = ["z", "a", "m"]  # one second, ids in no useful order
    state.apply([seen(message(m, ts=100)) for m in burst] + [seen(message("x", ts=99))])
    chat = state.chats[PN]
    assert [m.id for m in state.message_page(chat, 10, None)] == ["x", *burst]
    assert state.message_page(chat, 2, "m") == [chat.get("z"), chat.get("a")]
    # Seen again (history after the live append) or edited: the message keeps its place.
    state.apply([seen(message("z", ts=100), live=False), d.MessageChanged(PN, "a", text="b")])
    assert [m.id for m in state.message_page(chat, 10, None)] == ["x", *burst]
    # From the store, messages keep the arrival they were stored with.
    restored = State(window=10, max_messages=100, clock_us=lambda: 10**9)
    restored.load([], list(chat.messages.values()), [], {})
    assert [m.id for m in restored.message_page(restored.chats[PN], 10, None)] == ["x", *burst]


# ---- group members ----------------------------------------------------------------------

GROUP = "120363040000000001@g.us"
ME_PN, ME_LID = "5511900000001@s.whatsapp.net", "100000000000001@lid"
BOB_PN, BOB_LID = "5511977776666@s.whatsapp.net", "300000000000003@lid"
P = d.Participant


def members(*participants: d.Participant) -> d.ChatSeen:
    return d.ChatSeen(GROUP, True, name="Support", participants=participants)


def test_members_and_their_roles_come_from_the_group_metadata() -> None:
    state = State(window=10, max_messages=100)
    metadata = members(P(ME_LID, "superadmin", alt=ME_PN), P(BOB_PN), P(LID, "admin"))
    [change] = state.apply([metadata])
    chat = state.chats[GROUP]
    assert change == Change("new_chat", GROUP, chat)
    # ids are canonical: the LID a member object pairs with a phone jid resolves to it
    assert chat.participants == {ME_PN: "superadmin", BOB_PN: None, LID: "admin"}
    assert state.resolve(ME_LID) == ME_PN
    assert state.apply([metadata]) == []
    assert state.apply([members(P(BOB_PN), P(LID, "admin"), P(ME_PN, "superadmin"))]) == []
    assert state.apply([d.ChatSeen(GROUP, True, name="Support (EU)")]) == [
        Change("chat_update", GROUP, chat)
    ]
    assert chat.participants == {ME_PN: "superadmin", BOB_PN: None, LID: "admin"}
    # the whole list replaces what was there
    assert state.apply([members(P(ME_PN, "superadmin"), P(LID))]) == [
        Change("chat_update", GROUP, chat)
    ]
    assert chat.participants == {ME_PN: "superadmin", LID: None}
    # a 1:1 chat has none, whatever an event says
    state.apply([d.ChatSeen(PN, False, participants=(P(BOB_PN),))])
    assert state.chats[PN].participants is None


def test_each_participant_action_changes_the_group_once() -> None:
    state = State(window=10, max_messages=100)
    state.apply([members(P(ME_PN, "superadmin"))])
    chat = state.chats[GROUP]
    steps: list[tuple[d.ParticipantAction, d.Participant, dict[str, d.AdminRole | None]]] = [
        ("add", P(BOB_PN), {ME_PN: "superadmin", BOB_PN: None}),
        ("promote", P(BOB_PN), {ME_PN: "superadmin", BOB_PN: "admin"}),
        ("demote", P(BOB_PN), {ME_PN: "superadmin", BOB_PN: None}),
        ("promote", P(BOB_PN, "superadmin"), {ME_PN: "superadmin", BOB_PN: "superadmin"}),
        ("demote", P(ME_PN), {ME_PN: None, BOB_PN: "superadmin"}),
        ("remove", P(BOB_PN), {ME_PN: None}),
        ("modify", P(PN), {ME_PN: None, PN: None}),  # a new number joins under it
        ("remove", P(ME_PN), {PN: None}),
        ("remove", P(PN), {}),
    ]
    for action, participant, expected in steps:
        fact = d.ParticipantsChanged(GROUP, (participant,), action)
        assert state.apply([fact]) == [Change("chat_update", GROUP, chat)], (action, participant)
        assert chat.participants == expected, (action, participant)
        assert state.apply([fact]) == [], f"{action} applied twice"
        assert chat.participants == expected
    # a member added again keeps the role he has
    state.apply([d.ParticipantsChanged(GROUP, (P(BOB_PN, "admin"),), "add")])
    assert state.apply([d.ParticipantsChanged(GROUP, (P(BOB_PN),), "add")]) == []
    assert chat.participants == {BOB_PN: "admin"}


def test_participant_events_for_a_group_never_seen_start_its_member_list() -> None:
    state = State(window=10, max_messages=100)
    [change] = state.apply([d.ParticipantsChanged(GROUP, (P(BOB_PN),), "promote")])
    assert change.type == "new_chat" and state.chats[GROUP].participants == {BOB_PN: "admin"}
    other = "120363040000000002@g.us"
    [change] = state.apply([d.ParticipantsChanged(other, (P(BOB_PN),), "remove")])
    assert change.type == "new_chat" and state.chats[other].participants is None
    assert state.apply([d.ParticipantsChanged(PN, (P(BOB_PN),), "add")]) == []  # not a group
    assert PN not in state.chats


def test_members_under_a_lid_are_filed_again_under_the_phone_jid() -> None:
    state = State(window=10, max_messages=100)
    state.apply([members(P(ME_PN, "superadmin"), P(BOB_LID, "admin"), P(LID))])
    chat = state.chats[GROUP]
    # a participant event carrying the pair learns it, and names the member once
    changes = state.apply([d.ParticipantsChanged(GROUP, (P(BOB_LID, alt=BOB_PN),), "demote")])
    assert changes == [Change("chat_update", GROUP, chat)]
    assert chat.participants == {ME_PN: "superadmin", LID: None, BOB_PN: None}
    # a mapping learned on its own re-files, and says so
    changes = state.apply([d.JidAlias(lid=LID, pn=PN)])
    assert changes == [Change("chat_update", GROUP, chat)]
    assert chat.participants == {ME_PN: "superadmin", BOB_PN: None, PN: None}
    assert state.apply([d.JidAlias(lid=LID, pn=PN)]) == []
    # events naming the LID now land on the phone jid
    state.apply([d.ParticipantsChanged(GROUP, (P(LID),), "promote")])
    assert chat.participants == {ME_PN: "superadmin", BOB_PN: None, PN: "admin"}


def test_stored_members_are_canonical_once_loaded() -> None:
    state = State(window=10, max_messages=100)
    stored = Chat(GROUP, True, "Support", participants={LID: "admin", BOB_LID: None})
    state.load([stored], [], [], {LID: PN})
    chat = state.chats[GROUP]
    assert chat.participants == {PN: "admin", BOB_LID: None}
    state.apply([d.JidAlias(lid=BOB_LID, pn=BOB_PN)])
    assert chat.participants == {PN: "admin", BOB_PN: None}
