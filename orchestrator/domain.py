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


CallDirection = Literal["incoming", "outgoing"]
CallKind = Literal["voice", "video"]
CallOutcome = Literal["ringing", "accepted", "rejected", "missed"]
"""ringing: offered, not answered yet; accepted: answered on one of the account's devices
(stays accepted when the call ends); rejected: declined on one of them (or by
ORCH_REJECT_CALLS); missed: nobody answered (timed out, or the caller hung up first)."""


CALL_ENDS: dict[str, CallOutcome] = {
    "accept": "accepted",
    "reject": "rejected",
    "timeout": "missed",
    "terminate": "missed",  # the caller hung up before anyone answered
}
"""The Baileys statuses that end the ringing, and the outcome each gives."""


def call_outcome(current: CallOutcome | None, status: str) -> CallOutcome:
    """The outcome of a call at `current` after a step with Baileys' `status`. Only ringing
    moves: an outcome once reached stays (a terminate after an accept is the end of an
    answered call, a late signalling step changes nothing)."""
    if current is not None and current != "ringing":
        return current
    return CALL_ENDS.get(status, "ringing")


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What a `type: "call"` Message says about its call."""

    direction: CallDirection
    kind: CallKind
    outcome: CallOutcome
    is_group: bool
    status: str  # the last status Baileys reported (WACallUpdateType: offer, timeout, ...)


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
    call: CallInfo | None = None  # for type "call"


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
class LabelEdited:
    """labels.edit: a WhatsApp Business label was created, renamed, recoloured or deleted.
    `color` is WhatsApp's palette index (0-19)."""

    id: str
    name: str
    color: int
    deleted: bool
    predefined_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChatLabelled:
    """labels.association of type label_jid: a label put on (`on`) or taken off a chat."""

    chat_id: str
    label_id: str
    on: bool


@dataclass(frozen=True, slots=True)
class CallSeen:
    """call: one signalling step of a call (Baileys' WACallEvent). The state files it as a
    Message `type: "call"` with id = the call id, and updates that message on later steps."""

    id: str  # the call id
    chat_id: str  # the group of a group call, else the caller
    caller: str  # `from`: who placed the call (a LID or a phone jid)
    caller_alt: str | None  # `callerPn`: the caller's phone jid when `from` is a LID
    status: str  # offer ringing preaccept transport relaylatency timeout reject accept terminate
    timestamp: int  # unix seconds of this step
    offline: bool  # delivered while the account was offline
    video: bool | None  # None: not said (a step whose offer Baileys did not see)
    is_group: bool | None
    direction: CallDirection = "incoming"


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
    | LabelEdited
    | ChatLabelled
    | CallSeen
)
