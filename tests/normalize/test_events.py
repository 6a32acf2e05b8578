"""Every fixture case -> exactly the facts it means."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from orchestrator.domain import (
    ACK_DELIVERED,
    ACK_ERROR,
    ACK_PENDING,
    ACK_PLAYED,
    ACK_READ,
    ACK_SENT,
    ChatRemoved,
    ChatRemovedAllMessages,
    ChatSeen,
    ContactSeen,
    Fact,
    JidAlias,
    Media,
    Message,
    MessageChanged,
    MessageSeen,
    MessagesRemoved,
    Participant,
    ParticipantsChanged,
    PresenceSeen,
    Reaction,
    ReactionSet,
    SyncProgress,
    Unreadable,
)
from orchestrator.normalize import SELF, normalize
from tests.normalize.conftest import (
    ANA_LID,
    ANA_PN,
    BIG,
    BOB_LID,
    BOB_NEW_PN,
    BOB_PN,
    GROUP,
    GROUP2,
    ME_LID,
    ME_PN,
    UINT64_MAX,
    Cases,
    T,
)


def ana(id: str, **fields: Any) -> Message:
    """A message from Ana in her 1:1 chat (phone jid, LID as the alternate), as most cases."""
    values: dict[str, Any] = {
        "id": id,
        "chat_id": ANA_PN,
        "chat_alt": ANA_LID,
        "from_me": False,
        "sender": ANA_PN,
        "sender_alt": ANA_LID,
        "sender_name": None,
        "timestamp": T,
        "type": "text",
        "text": None,
        "quoted_id": None,
        "media": None,
        "ack": ACK_DELIVERED,
    }
    values.update(fields)
    return Message(**values)


def bob_in_group(id: str, **fields: Any) -> Message:
    values: dict[str, Any] = {
        "chat_id": GROUP,
        "chat_alt": None,
        "sender": BOB_LID,
        "sender_alt": BOB_PN,
    }
    values.update(fields)
    return ana(id, **values)


def own(id: str, **fields: Any) -> Message:
    values: dict[str, Any] = {"from_me": True, "sender": None, "sender_alt": None, "ack": ACK_SENT}
    values.update(fields)
    return ana(id, **values)


def seen(message: Message, live: bool = True, history: bool = False) -> MessageSeen:
    return MessageSeen(message, live=live, history=history)


def chat(id: str, **fields: Any) -> ChatSeen:
    return ChatSeen(id=id, is_group=id.endswith("@g.us"), **fields)


EXPECTED: dict[str, list[Fact]] = {
    "upsert_text_1to1": [seen(ana("TXT1", text="hello there", sender_name="Ana"))],
    "upsert_group_lid_quoted": [
        seen(
            bob_in_group(
                "GRP1", text="replying", quoted_id="TXT0", sender_name="Bob", timestamp=T + 1
            )
        )
    ],
    "upsert_append_own_and_offline": [
        seen(own("OWN1", text="on my way", ack=ACK_PENDING, timestamp=T + 2), live=False),
        seen(own("OWN2", text="hi all", chat_id=GROUP, chat_alt=None, timestamp=T + 3), live=False),
        seen(
            ana("OFF1", text="sent while you were away", sender_name="Ana", timestamp=T + 4),
            live=False,
        ),
    ],
    "upsert_media_wrapped": [
        seen(
            ana(
                "IMG1",
                type="image",
                text="the receipt",
                media=Media("image/jpeg", None, 52344, None),
            )
        ),
        seen(ana("VID1", type="video", media=Media("video/mp4", None, 1048576, 12))),
        seen(ana("PTV1", type="video", media=Media("video/mp4", None, 2000, 5))),
        seen(ana("AUD1", type="audio", media=Media("audio/ogg; codecs=opus", None, 9000, 7))),
        seen(
            ana(
                "DOC1",
                type="document",
                text="invoice attached",
                quoted_id="TXT1",
                media=Media("application/pdf", "invoice.pdf", BIG, None),
            )
        ),
        seen(ana("STK1", type="sticker", media=Media("image/webp", None, 3000, None))),
    ],
    "upsert_location_contact_poll": [
        seen(ana("LOC1", type="location", text="Office")),
        seen(ana("LOC2", type="location", text="-23.5,-46.25")),
        seen(ana("LIV1", type="location", text="coming")),
        seen(ana("VCF1", type="contact", text="Carol")),
        seen(ana("VCF2", type="contact", text="Dan, Eve")),
        seen(bob_in_group("POL1", type="poll", text="Lunch?")),
        seen(bob_in_group("POL2", type="poll", text="Old poll")),
    ],
    "upsert_unknown_kinds": [
        seen(ana("UNK1", type="unknown", raw_kind="groupInviteMessage")),
        seen(ana("UNK2", type="unknown", raw_kind="eventMessage")),
    ],
    "upsert_big_longs": [
        seen(
            ana(
                "BIG1",
                chat_alt=None,
                sender_alt=None,
                timestamp=BIG,
                type="document",
                media=Media("application/zip", "huge.zip", UINT64_MAX, None),
            )
        )
    ],
    # the target is in the chat the revoke arrived in, not in protocolMessage.key.remoteJid
    "upsert_revoke": [
        MessageChanged(ANA_PN, "TXT1", deleted=True),
        MessageChanged(GROUP, "GRP1", deleted=True),
    ],
    "upsert_edit": [
        MessageChanged(ANA_PN, "TXT1", text="hello there (edited)", edited=True),
        MessageChanged(GROUP, "GRP1", text="new caption", edited=True),
    ],
    "upsert_not_visible": [],
    "upsert_reactions": [
        ReactionSet(ANA_PN, "OWN1", ANA_PN, "👍"),
        ReactionSet(GROUP, "GRP1", BOB_LID, "❤️"),
        ReactionSet(GROUP, "GRP1", BOB_LID, None),
        ReactionSet(GROUP, "GRP1", SELF, "😂"),
    ],
    "upsert_hidden_chats": [],
    "upsert_buffer_merged": [
        seen(
            ana(
                "MRG1",
                text="second version",
                sender_name="Ana",
                ack=ACK_READ,
                edited=True,
                reactions=(Reaction("🎉", ANA_PN), Reaction("👌", SELF)),
            )
        ),
        MessageChanged(ANA_PN, "MRG2", deleted=True),
    ],
    "history_set": [
        JidAlias(ANA_LID, ANA_PN),
        JidAlias(BOB_LID, BOB_PN),
        chat(
            GROUP,
            name="Support team",
            unread_count=3,
            timestamp=T + 10,
            archived=False,
            pinned=True,
            muted=True,
            participants=(
                Participant(ME_LID, "superadmin"),
                Participant(BOB_LID, "admin"),
                Participant(ANA_LID),
            ),
        ),
        chat(GROUP2, name="Old group", timestamp=T),  # no members in this chunk: None, not ()
        chat(ANA_LID, name="Ana", unread_count=0, timestamp=T + 9, archived=True),
        chat(BOB_PN, timestamp=BIG, pinned=False, muted=False),
        ContactSeen(ANA_LID, name="Ana", alt=ANA_PN),
        ContactSeen(BOB_PN, alt=BOB_LID),
        ContactSeen(GROUP, name="Support team"),
        seen(
            ana(
                "H1",
                chat_id=ANA_LID,
                chat_alt=None,
                sender=ANA_LID,
                sender_alt=None,
                sender_name="Ana",
                timestamp=T - 100,
                text="old message",
                ack=ACK_READ,
            ),
            live=False,
            history=True,
        ),
        seen(
            own(
                "H2",
                chat_id=ANA_LID,
                chat_alt=None,
                timestamp=T - 90,
                type="image",
                media=Media("image/png", None, 100, None),
                ack=ACK_PLAYED,
            ),
            live=False,
            history=True,
        ),
        MessageChanged(ANA_LID, "H3", deleted=True),
        seen(
            bob_in_group(
                "H5",
                sender_alt=None,
                timestamp=T - 60,
                text="hi team",
                reactions=(Reaction("👋", ANA_LID),),
            ),
            live=False,
            history=True,
        ),
        SyncProgress(progress=42, sync_type=0, is_latest=True),
    ],
    "history_push_names": [
        ContactSeen(ANA_LID, notify="Ana P."),
        ContactSeen(BOB_PN, notify="Bob"),
        SyncProgress(progress=None, sync_type=4, is_latest=False),
    ],
    # update.messageTimestamp (the receipt's time) is not part of any fact
    "update_acks": [
        MessageChanged(ANA_PN, "OWN1", ack=ACK_DELIVERED),
        MessageChanged(ANA_PN, "OWN1", ack=ACK_READ),
        MessageChanged(ANA_PN, "AUD9", ack=ACK_PLAYED),
        MessageChanged(ANA_PN, "ERR1", ack=ACK_ERROR),
    ],
    "update_edit": [MessageChanged(ANA_PN, "TXT1", text="hello again", edited=True)],
    "update_edit_protocol": [MessageChanged(GROUP, "GRP1", text="group fix", edited=True)],
    "update_revoke": [MessageChanged(ANA_PN, "TXT1", deleted=True)],
    "update_combined": [
        MessageChanged(ANA_PN, "OWN1", ack=ACK_READ, text="fixed typo", edited=True)
    ],
    "update_ignored": [],
    "delete_keys": [
        MessagesRemoved(ANA_PN, ("TXT1", "OWN1")),
        MessagesRemoved(GROUP, ("GRP1",)),
    ],
    "delete_all": [ChatRemovedAllMessages(ANA_PN)],
    # the chat is the carrier's (reaction.key): the target key is the reactor's view
    "reaction_events": [
        ReactionSet(ANA_PN, "OWN1", ANA_PN, "👍"),
        ReactionSet(GROUP, "GRP1", BOB_LID, "❤️"),
        ReactionSet(GROUP, "GRP1", BOB_LID, None),
        ReactionSet(GROUP, "GRP1", SELF, "😂"),
    ],
    "receipts_group": [
        MessageChanged(GROUP, "OWN2", ack=ACK_DELIVERED),
        MessageChanged(GROUP, "OWN2", ack=ACK_READ),
        MessageChanged(GROUP, "OWN3", ack=ACK_READ),
        MessageChanged(GROUP, "AUD2", ack=ACK_PLAYED),
    ],
    "chats_upsert": [
        chat(BOB_PN, unread_count=1, timestamp=T + 50),
        chat(GROUP, name="Support team", unread_count=0, timestamp=T + 51, archived=False),
    ],
    # a field absent from the update stays None; present as null means cleared
    "chats_update": [
        chat(ANA_PN, archived=True),
        chat(ANA_PN, pinned=True),
        chat(BOB_PN, pinned=False),
        chat(GROUP, muted=True),
        chat(BOB_PN, muted=False),
        chat(ANA_PN, unread_count=0, timestamp=T + 70),
        chat(ANA_LID, name="Ana Paula"),
    ],
    "chats_delete": [ChatRemoved(BOB_PN), ChatRemoved(GROUP)],
    "contacts_upsert": [
        ContactSeen(ANA_LID, name="Ana", notify="Ana P.", alt=ANA_PN),
        ContactSeen(BOB_PN, verified_name="Bob Ltd", alt=BOB_LID),
    ],
    "contacts_update": [ContactSeen(ANA_LID, notify="Ana Paula"), ContactSeen(BOB_PN)],
    "groups_upsert": [
        chat(
            GROUP,
            name="Support team",
            participants=(
                Participant(ME_LID, "superadmin", alt=ME_PN),
                Participant(BOB_LID, None, alt=BOB_PN),
            ),
        )
    ],
    # a partial update has no participants: None (not in this event), not () (nobody)
    "groups_update": [chat(GROUP, name="Support team (EU)"), chat(GROUP)],
    "groups_update_full": [
        chat(
            GROUP,
            name="Support team",
            participants=(
                Participant(ME_LID, "superadmin", alt=ME_PN),
                Participant(ANA_LID, "admin", alt=ANA_PN),
                Participant(BOB_PN, None, alt=BOB_LID),
            ),
        )
    ],
    "group_participants_objects": [
        ParticipantsChanged(
            GROUP, (Participant(ANA_LID, alt=ANA_PN), Participant(ME_LID, alt=ME_PN)), "add"
        )
    ],
    "group_participants_strings": [ParticipantsChanged(GROUP, (Participant(ANA_LID),), "promote")],
    "group_participants_promote": [
        ParticipantsChanged(GROUP, (Participant(ANA_LID, alt=ANA_PN),), "promote")
    ],
    "group_participants_demote": [
        ParticipantsChanged(GROUP, (Participant(BOB_PN, alt=BOB_LID),), "demote")
    ],
    "group_participants_remove": [
        ParticipantsChanged(
            GROUP, (Participant(ANA_LID, alt=ANA_PN), Participant(BOB_LID)), "remove"
        )
    ],
    "group_participants_modify": [ParticipantsChanged(GROUP, (Participant(BOB_NEW_PN),), "modify")],
    "presence": [
        PresenceSeen(
            GROUP,
            {
                ANA_LID: {"lastKnownPresence": "composing"},
                BOB_LID: {"lastKnownPresence": "unavailable", "lastSeen": T},
            },
        )
    ],
    "lid_mapping": [JidAlias(BOB_LID, BOB_PN)],
    "ignored_connection": [],
    "ignored_creds": [],
    "ignored_history_status": [],
    "ignored_call": [],
    "ignored_blocklist": [],
    "ignored_labels": [],
    "ignored_newsletter": [],
    "ignored_settings": [],
    "ignored_bridge": [],
    # waiting messages (CIPHERTEXT stubs), and what follows them under the same key
    "waiting_stub_1to1": [seen(ana("WAIT1", type="waiting", sender_name="Ana", timestamp=T + 10))],
    "waiting_stub_group": [
        seen(bob_in_group("WAIT2", type="waiting", sender_name="Bob", timestamp=T + 11))
    ],
    "waiting_stubs_more": [
        seen(ana(id, type="waiting", sender_name="Ana", timestamp=T + 12 + n))
        for n, id in enumerate(("WAIT3", "WAIT4", "WAIT5"))
    ],
    "waiting_resend_requested": [],  # the resend's request id: it still waits
    "waiting_content_retry": [
        seen(ana("WAIT1", text="sent again, readable now", sender_name="Ana", timestamp=T + 10))
    ],
    "waiting_content_pdo": [
        seen(
            bob_in_group(
                "WAIT2",
                type="image",
                text="the photo",
                media=Media("image/jpeg", None, 2048, None),
                sender_name="Bob",
                timestamp=T + 11,
            )
        )
    ],
    "waiting_content_pdo_uncached": [
        seen(
            ana(
                "WAIT3",
                chat_alt=None,
                sender_alt=None,
                text="resent by the phone",
                sender_name="Ana",
                timestamp=T + 12,
            )
        )
    ],
    "waiting_edit": [MessageChanged(ANA_PN, "WAIT4", text="edited while waiting", edited=True)],
    "waiting_revoke": [MessageChanged(ANA_PN, "WAIT5", deleted=True)],
    "waiting_content_after_revoke": [
        seen(ana("WAIT5", text="regretted", sender_name="Ana", timestamp=T + 14))
    ],
}


def test_every_case_has_an_expectation(cases: Cases) -> None:
    assert set(cases) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case(cases: Cases, name: str) -> None:
    case = cases[name]
    assert normalize(case["event"], case["data"]) == EXPECTED[name]


def messages_of(facts: list[Fact]) -> dict[str, Message]:
    return {f.message.id: f.message for f in facts if isinstance(f, MessageSeen)}


def test_raw_is_the_wire_key_message_and_time(cases: Cases) -> None:
    """Message.raw is excluded from equality, so check it here: exactly the original wire
    values of key, message and messageTimestamp, nothing else."""
    for name in ("upsert_media_wrapped", "upsert_big_longs", "upsert_buffer_merged"):
        data = cases[name]["data"]
        by_id = messages_of(normalize(cases[name]["event"], data))
        for info in data["messages"]:
            if info["key"]["id"] not in by_id:
                continue
            expected = {k: info[k] for k in ("key", "message", "messageTimestamp")}
            # byte-exact: compact JSON, fields in wire order
            assert by_id[info["key"]["id"]].raw == orjson.dumps(expected), name


def test_raw_keeps_what_a_download_needs(cases: Cases) -> None:
    case = cases["upsert_media_wrapped"]
    image = messages_of(normalize(case["event"], case["data"]))["IMG1"]
    raw = orjson.loads(image.raw)
    node = raw["message"]["ephemeralMessage"]["message"]["imageMessage"]
    assert base64.b64decode(node["mediaKey"]["$bytes"]) == bytes([7]) * 32
    assert raw["key"]["remoteJidAlt"] == ANA_LID
    big = messages_of(normalize("messages.upsert", cases["upsert_big_longs"]["data"]))["BIG1"]
    # Longs stay tagged so the bridge decodes them back into Longs
    assert orjson.loads(big.raw)["messageTimestamp"] == {"$long": str(BIG)}


def test_raw_has_no_other_fields(cases: Cases) -> None:
    case = cases["history_set"]
    for message in messages_of(normalize(case["event"], case["data"])).values():
        assert set(orjson.loads(message.raw)) == {"key", "message", "messageTimestamp"}


def test_a_group_whose_members_cannot_be_read_costs_only_that_group(cases: Cases) -> None:
    full = cases["groups_update_full"]["data"][0]
    other = {**full, "id": "120363040000000009@g.us", "participants": []}
    admins: list[Any] = ["owner", {}, 1]
    for admin in admins:
        odd_role = {**full, "participants": [{**full["participants"][0], "admin": admin}]}
        [unreadable, fact] = normalize("groups.update", [odd_role, other])
        assert unreadable == Unreadable(
            "groups.update", "groups[0]: participant.admin: not null, 'admin' or 'superadmin'"
        )
    assert fact == chat(other["id"], name="Support team", participants=())  # really nobody

    history = cases["history_set"]["data"]
    group = {**history["chats"][0], "participant": [{"userJid": ME_LID, "rank": 7}]}
    facts = normalize("messaging-history.set", {**history, "chats": [group]})
    assert [f.reason for f in facts if isinstance(f, Unreadable)] == [
        "chats[0]: chat.participant[].rank: unknown rank"
    ]


def test_an_unknown_participant_action_is_unreadable(cases: Cases) -> None:
    data = {**cases["group_participants_objects"]["data"], "action": "invite"}
    [fact] = normalize("group-participants.update", data)
    assert isinstance(fact, Unreadable) and "data.action" in fact.reason


def test_a_waiting_message_keeps_its_wire_key_and_time(cases: Cases) -> None:
    """A waiting message has no content to keep: raw is its key (to mark it read) and time."""
    for name in ("waiting_stub_1to1", "waiting_stub_group"):
        data = cases[name]["data"]
        (info,) = data["messages"]
        (message,) = messages_of(normalize("messages.upsert", data)).values()
        assert message.raw == orjson.dumps({k: info[k] for k in ("key", "messageTimestamp")})
