"""Domain facts: what a raw Baileys event means, independent of how Baileys shaped it.

The normalizer turns raw events into these (pure, no state); `state` applies them to RAM and
decides what changed. Ids are WhatsApp jids as they arrived: `state` folds `@lid` and phone
jids of one person into one canonical id, using the `JidAlias` facts and the `*_alt` fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# ack values on the wire and in the API; Baileys' WebMessageInfo.Status
ACK_ERROR, ACK_PENDING, ACK_SENT, ACK_DELIVERED, ACK_READ, ACK_PLAYED = range(6)
ACK_NAMES = ("error", "pending", "sent", "delivered", "read", "played")
# Message.type of a message Baileys could not decrypt: its content may arrive later, same key
WAITING = "waiting"


@dataclass(frozen=True, slots=True)
class Media:
    mimetype: str | None
    file_name: str | None
    size: int | None
    seconds: int | None


@dataclass(frozen=True, slots=True)
class Reaction:
    emoji: str
    sender: str


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    chat_id: str
    chat_alt: str | None  # key.remoteJidAlt: the same chat under its other id (LID or phone)
    from_me: bool
    sender: str | None  # author jid: the participant in groups, the chat in 1:1, None for own
    sender_alt: str | None  # key.participantAlt
    sender_name: str | None  # pushName
    timestamp: int  # unix seconds, the message's own time (never a receipt's)
    type: str  # text image video audio document sticker location contact poll reaction unknown
    text: str | None  # body or caption
    quoted_id: str | None
    media: Media | None
    ack: int
    raw_kind: str | None = None  # for type "unknown": the message field we did not understand
    edited: bool = False
    deleted: bool = False
    reactions: tuple[Reaction, ...] = ()
    raw: bytes = field(default=b"", compare=False, repr=False)
    """The wire-encoded `{key, message, messageTimestamp}` as compact JSON: enough to download
    the media, quote or react, without keeping the Baileys object."""
    arrival: int = field(default=0, compare=False, repr=False)
    """When we first saw it (microseconds, increasing): orders messages of the same second,
    which WhatsApp's timestamps cannot. 0 until the state takes it in."""


def with_arrival(message: Message, arrival: int) -> Message:
    """`message`, stamped with its arrival. Only for a Message nothing else holds yet (fresh
    from the normalizer): it is set in place, because dataclasses.replace on every message of
    a 100,000-message history sync costs a quarter of a second."""
    object.__setattr__(message, "arrival", arrival)
    return message


@dataclass(frozen=True, slots=True)
class MessageSeen:
    """messages.upsert / history: a message exists (new, or again)."""

    message: Message
    live: bool  # a 'notify' upsert: just arrived, so it counts as unread
    history: bool = False  # from a history sync: stored, not announced one by one on the streams


@dataclass(frozen=True, slots=True)
class MessageChanged:
    """messages.update / message-receipt.update / edits / revokes. Only the fields set change."""

    chat_id: str
    message_id: str
    ack: int | None = None
    text: str | None = None  # the new text of an edit
    edited: bool = False
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class MessagesRemoved:
    chat_id: str
    message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChatRemovedAllMessages:
    chat_id: str


@dataclass(frozen=True, slots=True)
class ReactionSet:
    chat_id: str
    message_id: str
    sender: str
    emoji: str | None  # None: removed


AdminRole = Literal["admin", "superadmin"]  # a group member's role; None: not an admin
ParticipantAction = Literal["add", "remove", "promote", "demote", "modify"]
PARTICIPANT_ACTIONS: tuple[ParticipantAction, ...] = get_args(ParticipantAction)


@dataclass(frozen=True, slots=True)
class Participant:
    """A member of a group and its admin role (None: not an admin)."""

    id: str
    admin: AdminRole | None = None
    alt: str | None = None  # the same person's other jid (LID or phone), when the event names it


@dataclass(frozen=True, slots=True)
class ChatSeen:
    """chats.upsert/update, groups.upsert/update, history chats. None = not in this event."""

    id: str
    is_group: bool
    name: str | None = None
    unread_count: int | None = None
    timestamp: int | None = None
    archived: bool | None = None
    pinned: bool | None = None
    muted: bool | None = None
    participants: tuple[Participant, ...] | None = None  # a group's whole membership


@dataclass(frozen=True, slots=True)
class ChatRemoved:
    id: str


@dataclass(frozen=True, slots=True)
class ContactSeen:
    id: str
    name: str | None = None
    notify: str | None = None
    verified_name: str | None = None
    alt: str | None = None  # the same person's other jid, when the event names it


@dataclass(frozen=True, slots=True)
class JidAlias:
    """A LID and the phone-number jid of the same person (lid-mapping.update, lidPnMappings)."""

    lid: str
    pn: str


@dataclass(frozen=True, slots=True)
class PresenceSeen:
    chat_id: str
    presences: dict[str, Any]  # participant jid -> {"lastKnownPresence", "lastSeen"}


@dataclass(frozen=True, slots=True)
class ParticipantsChanged:
    """group-participants.update: `action` done to some members of a group. `admin` of each
    participant is what the event said (Baileys sends null for most actions)."""

    chat_id: str
    participants: tuple[Participant, ...]
    action: ParticipantAction


@dataclass(frozen=True, slots=True)
class SyncProgress:
    progress: int | None
    sync_type: int | None
    is_latest: bool | None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Part of an event that could not be read: counted, logged at debug, never raised."""

    event: str
    reason: str


Fact = (
    MessageSeen
    | MessageChanged
    | MessagesRemoved
    | ChatRemovedAllMessages
    | ReactionSet
    | ChatSeen
    | ChatRemoved
    | ContactSeen
    | JidAlias
    | PresenceSeen
    | ParticipantsChanged
    | SyncProgress
    | Unreadable
)
