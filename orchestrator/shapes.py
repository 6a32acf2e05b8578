"""Every JSON shape of the API and of the streams, defined once.

The views build these as plain dicts (a TypedDict costs nothing at run time: no validation on
the event path); mypy checks that they build them right; pydantic's TypeAdapter turns them
into the JSON schemas of the OpenAPI document (`openapi.py`), from which the JS client's types
are generated. Request bodies are shapes too: the HTTP layer validates them with the same
TypeAdapters, so what is documented is what is checked.

Field names are camelCase, as DESIGN.md fixes them. A field typed `X | None` is always present
and may be null; `NotRequired` marks a field that may be absent.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, with_config
from typing_extensions import TypedDict

from orchestrator.domain import AdminRole, CallDirection, CallKind, CallOutcome

AckStatus = Literal["error", "pending", "sent", "delivered", "read", "played"]
MessageType = Literal[
    "text", "image", "video", "audio", "document", "sticker", "location", "contact", "poll",
    "reaction", "unknown", "call",
    "waiting",  # could not be decrypted (yet): text null; becomes its content in place
]  # fmt: skip
MediaKind = Literal["image", "video", "audio", "document", "sticker"]
ConnectionState = Literal["connecting", "open", "close", "qr", "logged_out", "replaced", "stopped"]
Role = Literal["admin", "supervisor", "agent"]
ChatStatus = Literal["open", "pending", "resolved"]
CHAT_STATUSES: tuple[ChatStatus, ...] = ("open", "pending", "resolved")

# ---- WhatsApp objects ----------------------------------------------------------------------


class Media(TypedDict):
    mimetype: str | None
    fileName: str | None
    size: int | None
    seconds: int | None
    url: Annotated[
        str | None,
        Field(
            description="a signed link to the bytes (no token needed) that expires after "
            "ORCH_MEDIA_LINK_TTL; null on a message still pending"
        ),
    ]


class Reaction(TypedDict):
    emoji: str
    sender: str


class CallInfo(TypedDict):
    direction: Annotated[
        CallDirection,
        Field(description="incoming: made to this number (Baileys reports no other kind yet)"),
    ]
    kind: CallKind
    outcome: Annotated[
        CallOutcome,
        Field(
            description="ringing; accepted (answered on one of the account's devices); "
            "rejected (declined there, or by ORCH_REJECT_CALLS); missed (nobody answered: it "
            "timed out or the caller hung up first; counts as unread)"
        ),
    ]
    isGroup: bool


class Message(TypedDict):
    id: Annotated[str, Field(description="WhatsApp's key.id")]
    chatId: str
    fromMe: bool
    sender: Annotated[str | None, Field(description="author jid; null for your own")]
    senderName: str | None
    timestamp: Annotated[int, Field(description="unix seconds, the message's own time")]
    type: MessageType
    rawKind: Annotated[str | None, Field(description="for unknown: WhatsApp's message kind")]
    text: Annotated[str | None, Field(description="body or caption")]
    quotedId: str | None
    media: Media | None
    ack: Annotated[int, Field(ge=0, le=5, description="0 error .. 5 played")]
    status: AckStatus | None
    edited: bool
    deleted: bool
    reactions: list[Reaction]
    call: NotRequired[
        Annotated[CallInfo, Field(description='on type "call" only: the call and its outcome')]
    ]


class Participant(TypedDict):
    id: str
    admin: Annotated[AdminRole | None, Field(description="null for a plain member")]


class Assignment(TypedDict):
    agentId: str
    agentName: str | None
    assignedBy: str | None
    assignedAt: str


class Tag(TypedDict):
    id: int
    name: str
    color: str | None


class Label(TypedDict):
    id: Annotated[str, Field(description="WhatsApp's label id")]
    name: str
    color: Annotated[int, Field(description="WhatsApp's label colour: its palette index, 0-19")]


class Chat(TypedDict):
    id: Annotated[str, Field(description="jid")]
    name: str | None
    isGroup: bool
    unreadCount: int
    timestamp: Annotated[int, Field(description="last activity, unix seconds")]
    lastMessage: Message | None
    archived: bool
    pinned: bool
    muted: bool
    assignment: Assignment | None
    tags: list[Tag]
    participants: Annotated[
        list[Participant] | None, Field(description="a group's members; null for a person")
    ]
    labels: Annotated[list[Label], Field(description="WhatsApp Business labels on the chat")]
    status: Annotated[
        ChatStatus,
        Field(description="the conversation's helpdesk status; a customer's message reopens it"),
    ]


class Contact(TypedDict):
    id: str
    name: str | None
    notify: Annotated[str | None, Field(description="push name")]
    verifiedName: str | None


# ---- the connection ------------------------------------------------------------------------


class CloseReason(TypedDict):
    statusCode: Annotated[int | None, Field(description="Baileys' DisconnectReason")]
    message: str
    unreachable: Annotated[bool, Field(description="a network error: WhatsApp not reached")]
    hint: Annotated[str | None, Field(description="what an operator can do about it")]


class BridgeIdentity(TypedDict):
    bridgeId: Annotated[str, Field(description="the id of the bridge's data dir")]
    session: Annotated[str, Field(description="the session the bridge says it serves")]


class BridgeStatus(TypedDict):
    state: Annotated[
        Literal["ok", "down", "wrong_bridge"],
        Field(
            description="ok: ours, heard from; down: not heard from; wrong_bridge: another "
            "bridge holds our endpoints, and nothing of it is applied or sent to it"
        ),
    ]
    error: Annotated[str | None, Field(description="why the bridge is refused, for people")]
    identity: Annotated[
        BridgeIdentity | None,
        Field(description="what the bridge at our endpoints last said it is; null before"),
    ]
    alive: Annotated[bool, Field(description="its heartbeats arrive")]
    epoch: Annotated[str | None, Field(description="names one bridge process run")]
    restarts: Annotated[
        int | None, Field(description="restarts of the spawned bridge; null when not spawned")
    ]
    nextStartAt: Annotated[
        float | None, Field(description="unix time the spawned bridge starts again, if down")
    ]


class ConnectionStatus(TypedDict):
    connected: bool
    state: ConnectionState
    reason: CloseReason | None


class Status(ConnectionStatus):
    attempt: Annotated[int, Field(description="reconnect attempts since the last stable open")]
    nextRetryAt: Annotated[float | None, Field(description="unix time of the next reconnect")]
    qrRounds: Annotated[int, Field(description="QR codes shown unscanned in a row")]
    me: Annotated[dict[str, Any] | None, Field(description="the linked account (id, name)")]
    bridge: BridgeStatus
    sync: Annotated[
        SyncProgress | None,
        Field(description="the last history-sync progress WhatsApp reported; null before any"),
    ]


# ---- helpdesk ------------------------------------------------------------------------------


class Note(TypedDict):
    id: int
    chatId: str
    authorId: str | None
    body: str
    createdAt: str


class QuickReply(TypedDict):
    id: int
    shortcut: str
    body: str


class Activity(TypedDict):
    id: int
    actorId: str | None
    action: str
    chatId: str | None
    details: Any
    createdAt: str


class Profile(TypedDict):
    id: str
    displayName: str | None
    role: Role
    sessions: Annotated[
        list[str], Field(description="the sessions (WhatsApp numbers) they work on")
    ]


AgentState = Literal["viewing", "typing"]


class AgentActivity(TypedDict):
    chatId: str
    state: AgentState


class Agent(TypedDict):
    id: str
    name: str | None
    role: Role
    online: Annotated[
        bool, Field(description="holds a stream connection (SSE, WebSocket or long-poll) now")
    ]
    activity: Annotated[
        list[AgentActivity],
        Field(description="the chats (of those the caller may see) they view or type in now"),
    ]


class Me(TypedDict):
    userId: Annotated[str | None, Field(description="null for the API token")]
    role: Role
    name: str | None
    sessions: Annotated[
        list[str],
        Field(description="the sessions their profile lists (a narrowed stream token: its own)"),
    ]
    allSessions: Annotated[
        bool,
        Field(description="staff: every session, listed or not (not with a narrowed token)"),
    ]


# ---- stream events: `data` of each envelope type -------------------------------------------


class Qr(TypedDict):
    qr: str


class MessageAck(TypedDict):
    chatId: str
    messageId: str
    ack: Annotated[int, Field(ge=0, le=5)]
    status: AckStatus


class ChatDeleted(TypedDict):
    id: str
    mergedInto: NotRequired[
        Annotated[str, Field(description="a LID chat merged into this phone-number chat")]
    ]


class Presence(TypedDict):
    chatId: str
    presences: Annotated[
        dict[str, dict[str, Any]],
        Field(description="participant jid -> {lastKnownPresence, lastSeen?}"),
    ]


class SyncProgress(TypedDict):
    progress: int | None
    syncType: int | None
    isLatest: bool | None


# Functional form: "from" is a Python keyword.
CallEvent = TypedDict(
    "CallEvent",
    {
        "id": Annotated[str, Field(description="the call id, also the id of its call Message")],
        "chatId": Annotated[str, Field(description="the caller's chat, or the group's")],
        "from": Annotated[str, Field(description="the caller's jid")],
        "direction": CallDirection,
        "kind": CallKind,
        "isGroup": bool,
        "status": Annotated[
            str,
            Field(
                description="this step, as Baileys named it: offer, ringing, preaccept, "
                "transport, relaylatency, accept, reject, timeout, terminate"
            ),
        ],
        "outcome": CallOutcome,
        "timestamp": Annotated[int, Field(description="unix seconds of this step")],
        "offline": Annotated[bool, Field(description="delivered while the number was offline")],
    },
)


class Resync(TypedDict):
    reason: Annotated[str, Field(description="refetch the REST snapshots, then carry on")]


class SessionDeleted(TypedDict):
    sessionId: str
    purged: Annotated[bool, Field(description="its helpdesk data (and stored chats) deleted too")]


class AssignmentChanged(TypedDict):
    chatId: str
    assignment: Assignment | None
    previousAgentId: Annotated[
        str | None, Field(description="who had the chat before (null: it was unassigned)")
    ]


class TagsChanged(TypedDict):
    chatId: str
    tags: list[Tag]


class NoteAdded(TypedDict):
    chatId: str
    note: Note


class AgentPresence(TypedDict):
    userId: str
    name: str | None
    online: bool
    chatId: Annotated[str | None, Field(description="null: the agent as a whole (online or not)")]
    state: Annotated[
        AgentState | None,
        Field(description="what they do in chatId now; null: nothing (a state ended or lapsed)"),
    ]


class LabelUpdate(Label):
    deleted: bool
    predefinedId: Annotated[str | None, Field(description="one of WhatsApp's predefined labels")]


EVENT_DATA: dict[str, Any] = {
    "connection_status": ConnectionStatus,
    "qr": Qr,
    "new_message": Message,
    "message_update": Message,
    "message_ack": MessageAck,
    "new_chat": Chat,
    "chat_update": Chat,
    "chat_deleted": ChatDeleted,
    "contact_update": Contact,
    "presence": Presence,
    "sync_progress": SyncProgress,
    "resync": Resync,
    "assignment_changed": AssignmentChanged,
    "tags_changed": TagsChanged,
    "note_added": NoteAdded,
    "label_update": LabelUpdate,
    "call": CallEvent,
    "session_deleted": SessionDeleted,
    "agent_presence": AgentPresence,
}
"""Each stream event type and the shape of its `data`: the one list of event types."""

EventType = Literal[
    "connection_status", "qr", "new_message", "message_update", "message_ack", "new_chat",
    "chat_update", "chat_deleted", "contact_update", "presence", "sync_progress", "resync",
    "assignment_changed", "tags_changed", "note_added", "label_update", "call",
    "session_deleted", "agent_presence",
]  # fmt: skip
"""The same names, for mypy (a test checks the two agree)."""

# ---- responses -----------------------------------------------------------------------------


class Health(TypedDict):
    status: Literal["ok"]


class ErrorDetail(TypedDict):
    code: str
    message: Annotated[str, Field(description="for people")]


class Error(TypedDict):
    error: ErrorDetail


class ChatList(TypedDict):
    chats: list[Chat]


class MessageList(TypedDict):
    messages: list[Message]


class SearchResults(TypedDict):
    messages: list[Message]  # best match first
    nextOffset: int | None  # the offset of the next page; null: this is the last


class ContactList(TypedDict):
    contacts: list[Contact]


class Picture(TypedDict):
    url: str | None


class QrText(TypedDict):
    qr: str | None


class SendAccepted(TypedDict):
    message: Annotated[
        Message,
        Field(
            description="status pending; the rest on the streams. For an edit or a delete: "
            "the target as it will look once applied"
        ),
    ]
    sendId: Annotated[
        str | None,
        Field(description="the id of the message that goes out; null for a delete for you only"),
    ]
    targetId: Annotated[str | None, Field(description="the message an edit or delete changes")]


class ReadReceipts(TypedDict):
    chatId: str
    receipts: int


class Poll(TypedDict):
    events: list[Any]  # envelopes: the document gives them the Envelope schema
    lastEventId: str


class ChatAssignment(TypedDict):
    chatId: str
    assignment: Assignment | None


class ChatTags(TypedDict):
    chatId: str
    tags: list[Tag]


class ChatStatusChange(TypedDict):
    chatId: str
    status: ChatStatus


class StatusCounts(TypedDict):
    open: int
    pending: int
    resolved: int


class InboxCounts(TypedDict):
    mine: Annotated[int, Field(description="assigned to the caller")]
    unassigned: int
    all: Annotated[int, Field(description="every chat the caller may see")]
    statuses: Annotated[
        StatusCounts, Field(description="per status (whatever `status` the request names)")
    ]
    tags: Annotated[dict[str, int], Field(description="tag id -> chats carrying it")]


class NoteList(TypedDict):
    notes: list[Note]


class TagList(TypedDict):
    tags: list[Tag]


class LabelList(TypedDict):
    labels: list[Label]


class QuickReplyList(TypedDict):
    quickReplies: list[QuickReply]


class ActivityList(TypedDict):
    activity: list[Activity]


class AgentList(TypedDict):
    agents: list[Agent]


class PairingCode(TypedDict):
    code: str


class Restarting(TypedDict):
    restarting: Literal[True]


class Applied(TypedDict):
    epoch: str
    seq: int


class StoreReport(TypedDict):
    up: bool
    pendingRows: int
    lagSeconds: float
    lastError: str | None


class SpawnedBridge(TypedDict):
    pid: int | None
    restarts: int
    nextStartAt: float | None


Count = Annotated[int, Field(ge=0)]


class TransportReport(TypedDict):
    """How this orchestrator reaches the bridge: `zmq` (the embedded default) or `nats`
    (JetStream), with, for NATS, the connection, the stream and the last stream sequence
    delivered, and the events dropped as published under an outdated lease."""

    kind: Literal["zmq", "nats", "memory"]
    connected: bool | None
    stream: str | None
    lastStreamSeq: int | None
    fenced: Count | None


class BridgeReport(TypedDict):
    alive: bool
    epoch: str | None
    seq: int | None
    connection: str | None
    mode: str | None
    applied: Applied | None
    lastHeartbeatAgeMs: int | None
    received: Count
    appliedEvents: Count
    duplicates: Count
    malformed: Count
    gaps: Count
    replays: Count
    replayed: Count
    epochChanges: Count
    positionsLost: Count
    refused: Annotated[Count, Field(description="envelopes of a bridge that is not ours")]
    reconnects: Count
    lastFrameAgeMs: int | None
    store: StoreReport
    spawned: SpawnedBridge | None
    transport: TransportReport


# ---- request bodies ------------------------------------------------------------------------


MAX_TEXT = 65_536  # what WhatsApp accepts in one message
MAX_NOTE = 10_000

# Strings that are not blank once trimmed (they are trimmed), of at most so many characters.
Trimmed20 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Trimmed50 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Trimmed100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TrimmedNote = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NOTE)
]
Trimmed255 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]

MAX_SHARED_CONTACTS = 50  # contact cards in one message
MIN_POLL_OPTIONS, MAX_POLL_OPTIONS = 2, 12  # what WhatsApp's poll composer allows


class MediaBody(TypedDict):
    type: MediaKind
    base64: NotRequired[Annotated[str, Field(description="the bytes (or give url)")]]
    url: NotRequired[
        Annotated[str, Field(pattern=r"^https?://", description="fetched by the server")]
    ]
    mimetype: NotRequired[Annotated[str, Field(max_length=255)]]
    fileName: NotRequired[Annotated[str, Field(max_length=255)]]
    ptt: NotRequired[Annotated[bool, Field(description="an audio sent as a voice note")]]


class ReactionBody(TypedDict):
    messageId: str
    emoji: Annotated[str, Field(description="one emoji; '' removes your reaction")]


class LocationBody(TypedDict):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    name: NotRequired[Trimmed255]
    address: NotRequired[Trimmed255]


class ContactCardBody(TypedDict):
    name: Trimmed255
    phone: Annotated[str, Field(description="international format, in any usual notation")]


class PollBody(TypedDict):
    name: Trimmed255
    options: Annotated[
        list[Trimmed100], Field(description=f"{MIN_POLL_OPTIONS}..{MAX_POLL_OPTIONS}, distinct")
    ]
    selectableCount: NotRequired[
        Annotated[int, Field(ge=0, description="how many a voter may pick; 0 any, default 1")]
    ]


class ForwardBody(TypedDict):
    messageId: Annotated[str, Field(description="a message in any chat you may see")]


class EditBody(TypedDict):
    messageId: Annotated[str, Field(description="one of your own text messages in the chat")]
    text: Annotated[str, Field(max_length=MAX_TEXT)]


class DeleteBody(TypedDict):
    messageId: str
    forEveryone: Annotated[
        bool, Field(description="revoke it for everyone; false deletes it for this account only")
    ]


class SendBody(TypedDict):
    chatId: Annotated[str, Field(description="a jid, or a phone number in any usual notation")]
    text: NotRequired[Annotated[str, Field(max_length=MAX_TEXT)]]
    quotedId: NotRequired[str]
    media: NotRequired[MediaBody]
    reaction: NotRequired[ReactionBody]
    location: NotRequired[LocationBody]
    contacts: NotRequired[
        Annotated[list[ContactCardBody], Field(min_length=1, max_length=MAX_SHARED_CONTACTS)]
    ]
    poll: NotRequired[PollBody]
    forward: NotRequired[ForwardBody]
    edit: NotRequired[EditBody]
    delete: NotRequired[DeleteBody]


class AssignBody(TypedDict):
    agentId: Trimmed100


class TagBody(TypedDict):
    name: Trimmed50
    color: NotRequired[Trimmed20]


class ChatTagBody(TypedDict):
    tagId: int


class StatusBody(TypedDict):
    status: ChatStatus


class NoteBody(TypedDict):
    body: TrimmedNote


class QuickReplyBody(TypedDict):
    shortcut: Trimmed50
    body: TrimmedNote


SESSION_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
DEFAULT_SESSION = "default"
"""The number ORCH_BRIDGE_PUB/ROUTER describe; every route without /sessions/{id} is its."""
SessionId = Annotated[
    str,
    Field(
        pattern=SESSION_ID_PATTERN,
        description="a slug: lowercase letters, digits, '-' and '_', at most 40",
    ),
]
MAX_PROFILE_SESSIONS = 100


class ProfileBody(TypedDict):
    role: Role
    displayName: NotRequired[Trimmed100]
    sessions: NotRequired[
        Annotated[
            list[SessionId],
            Field(
                max_length=MAX_PROFILE_SESSIONS,
                description="the sessions an agent works on (absent: unchanged; a new profile "
                'gets ["default"]); ids of sessions not created yet are kept',
            ),
        ]
    ]


class PairingBody(TypedDict):
    phone: Annotated[str, Field(description="the number in international format")]


# ---- helpdesk settings (GET/PUT /settings) ------------------------------------------------

MAX_AUTO_REPLY = 4096
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # in weekday() order
ClockTime = Annotated[
    str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour, local")
]
EndTime = Annotated[
    str,
    Field(
        pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        description="HH:MM, 24-hour, local; 24:00 is the end of the day",
    ),
]


def _ordered(interval: Interval) -> Interval:
    if interval["start"] >= interval["end"]:  # HH:MM strings order as the times do
        raise ValueError(f"start {interval['start']} is not before end {interval['end']}")
    return interval


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _known_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown time zone {name[:64]!r} (an IANA name, e.g. America/Sao_Paulo)")
    return name


def _not_blank_when_enabled(reply: AutoReply) -> AutoReply:
    if reply["enabled"] and not reply["text"].strip():
        raise ValueError("text must not be blank when the reply is enabled")
    return reply


class Interval(TypedDict):
    start: ClockTime
    end: EndTime


DayHours = Annotated[
    list[Annotated[Interval, AfterValidator(_ordered)]],
    Field(max_length=8, description="open intervals, start < end; [] closed all day"),
]


@with_config(ConfigDict(extra="forbid"))
class Week(TypedDict):
    mon: DayHours
    tue: DayHours
    wed: DayHours
    thu: DayHours
    fri: DayHours
    sat: DayHours
    sun: DayHours


class BusinessHours(TypedDict):
    enabled: Annotated[bool, Field(description="false: always open (no away message)")]
    timezone: Annotated[
        str,
        Field(min_length=1, max_length=64, description="an IANA time zone, e.g. America/Sao_Paulo"),
        AfterValidator(_known_zone),
    ]
    week: Week


class AutoReply(TypedDict):
    enabled: bool
    text: Annotated[str, Field(max_length=MAX_AUTO_REPLY, description="not blank when enabled")]


CheckedReply = Annotated[AutoReply, AfterValidator(_not_blank_when_enabled)]


class AssignmentSettings(TypedDict):
    rule: Annotated[
        Literal["none", "round_robin"],
        Field(
            description="round_robin: an unassigned chat a customer writes to goes to the "
            "next online agent"
        ),
    ]


class HelpdeskSettings(TypedDict):
    """A session's automatic behaviour, applied when a customer writes: the whole document is
    read and written at once."""

    businessHours: BusinessHours
    awayMessage: Annotated[
        CheckedReply, Field(description="sent outside business hours, once per conversation")
    ]
    greeting: Annotated[
        CheckedReply, Field(description="sent on a customer's first message in a chat")
    ]
    assignment: AssignmentSettings


# ---- presence (POST /chats/{chatId}/presence) -----------------------------------------------

PresenceState = Literal["composing", "recording", "paused", "available", "unavailable"]


class PresenceBody(TypedDict):
    state: Annotated[
        PresenceState,
        Field(
            description="composing, recording (audio) or paused in this chat; available or "
            "unavailable: the whole account online or not"
        ),
    ]


class PresenceSent(TypedDict):
    chatId: str
    state: PresenceState
    subscribed: Annotated[
        bool,
        Field(description="a presence subscribe to the chat went first (once per connection)"),
    ]


# ---- agent presence (POST /chats/{chatId}/agent-presence) ----------------------------------


class AgentPresenceBody(TypedDict):
    state: Annotated[
        Literal["viewing", "typing", "idle"],
        Field(
            description="viewing lapses after about 60 s, typing after about 6 s, unless "
            "posted again; idle ends both at once"
        ),
    ]


class AgentPresenceSet(TypedDict):
    chatId: str
    state: Annotated[AgentState | None, Field(description="the state now (idle: null)")]


class SupabaseAuthConfig(TypedDict):
    url: str
    anonKey: Annotated[str, Field(description="the project's public (anon) key")]


class ConsoleConfig(TypedDict):
    supabase: Annotated[
        SupabaseAuthConfig | None,
        Field(description="where the console signs users in; null: API tokens only"),
    ]


# ---- sessions (one per WhatsApp number) ----------------------------------------------------

BridgeEndpoint = Annotated[
    str, StringConstraints(pattern=r"^(tcp|ipc)://\S{1,200}$", max_length=206)
]
ProxyUrl = Annotated[
    str,
    StringConstraints(pattern=r"^(https?|socks5h?)://\S{1,300}$", max_length=310),
    Field(description="http://, https://, socks5:// or socks5h://, with user:pass@ if needed"),
]


class SessionBridgeBody(TypedDict):
    pub: Annotated[
        BridgeEndpoint, Field(description="the bridge's PUB endpoint (tcp:// or ipc://)")
    ]
    router: Annotated[BridgeEndpoint, Field(description="the bridge's ROUTER endpoint")]


class SessionBody(TypedDict):
    id: SessionId
    name: NotRequired[Trimmed100]
    bridge: NotRequired[
        Annotated[
            SessionBridgeBody,
            Field(description="a bridge running elsewhere; without it, one is spawned"),
        ]
    ]
    proxy: NotRequired[
        Annotated[ProxyUrl, Field(description="the outbound proxy of this number's connection")]
    ]


class SessionBridge(TypedDict):
    alive: Annotated[bool, Field(description="its heartbeats arrive")]
    spawned: Annotated[bool, Field(description="the orchestrator runs it")]
    pid: Annotated[int | None, Field(description="the spawned process, while it runs")]
    restarts: Annotated[int | None, Field(description="restarts of a spawned bridge")]


class Session(TypedDict):
    id: str
    name: str
    connected: bool
    state: Annotated[str, Field(description="the connection's state, as in /status")]
    me: Annotated[dict[str, Any] | None, Field(description="the linked account (id, name)")]
    bridge: SessionBridge
    proxy: Annotated[str | None, Field(description="scheme://host:port; never credentials")]
    unread: Annotated[int, Field(description="unread messages in the chats the caller may see")]


class SessionList(TypedDict):
    sessions: list[Session]


# ---- stream tokens (POST /auth/stream-token) -----------------------------------------------

MIN_STREAM_TOKEN_TTL = 30
MAX_STREAM_TOKEN_TTL = 86_400
UserId = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class StreamTokenBody(TypedDict):
    userId: NotRequired[
        Annotated[
            UserId | None,
            Field(
                description="the helpdesk user whose view the token carries (their role and "
                "sessions, read from their profile each time the token is used); absent or "
                "null: the caller's (the API token's: the operator's)"
            ),
        ]
    ]
    sessions: NotRequired[
        Annotated[
            list[SessionId] | None,
            Field(
                min_length=1,
                max_length=MAX_PROFILE_SESSIONS,
                description="narrow the token to these sessions (each one the user may use); "
                "absent or null: every session the user may use",
            ),
        ]
    ]
    ttlSeconds: NotRequired[
        Annotated[
            int,
            Field(
                ge=MIN_STREAM_TOKEN_TTL,
                le=MAX_STREAM_TOKEN_TTL,
                description="how long the token lives (default 900)",
            ),
        ]
    ]


class StreamToken(TypedDict):
    token: Annotated[
        str,
        Field(
            description="a read-only bearer token (also `?access_token=`): GET routes and the "
            "streams the user may read; never writes nor admin routes (403 read_only_token)"
        ),
    ]
    expiresAt: Annotated[int, Field(description="unix seconds; then 401 (ask for a new one)")]
    userId: Annotated[str | None, Field(description="whose view; null: the operator's")]
    sessions: Annotated[
        list[str] | None, Field(description="the sessions it is narrowed to; null: not narrowed")
    ]


# ---- webhooks ------------------------------------------------------------------------------

WEBHOOK_CHAT_TYPES = ("direct", "group")
WebhookChatType = Literal["direct", "group"]
DELIVERY_STATUSES = ("pending", "retrying", "delivered", "dead")
DeliveryStatus = Literal["pending", "retrying", "delivered", "dead"]
MAX_WEBHOOK_URL = 2048
MAX_WEBHOOK_CONCURRENCY = 64
WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_WEBHOOK_URL),
    Field(
        description="http(s); it must resolve to public addresses unless its host is in "
        "ORCH_MEDIA_URL_ALLOWLIST"
    ),
]
WebhookEvents = Annotated[
    list[EventType] | None,
    Field(
        min_length=1,
        max_length=len(EVENT_DATA),
        description="deliver only these stream event types (never `resync`); null: all",
    ),
]
WebhookSessions = Annotated[
    list[SessionId] | None,
    Field(
        min_length=1,
        max_length=MAX_PROFILE_SESSIONS,
        description="only these sessions' events (registered sessions); null: every session",
    ),
]
WebhookChatTypes = Annotated[
    list[WebhookChatType] | None,
    Field(
        min_length=1,
        max_length=2,
        description="only events of these chats (group: @g.us; direct: a person); events "
        "without a chat then do not match; null: every event",
    ),
]
WebhookDescription = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=500)]
WebhookConcurrency = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_WEBHOOK_CONCURRENCY,
        description="requests in flight at most (one per chat at a time); default "
        "ORCH_WEBHOOK_CONCURRENCY",
    ),
]


class WebhookBody(TypedDict):
    url: WebhookUrl
    events: NotRequired[WebhookEvents]
    sessions: NotRequired[WebhookSessions]
    chatTypes: NotRequired[WebhookChatTypes]
    description: NotRequired[WebhookDescription]
    enabled: NotRequired[bool]
    concurrency: NotRequired[WebhookConcurrency]


class WebhookPatch(TypedDict):
    """Any of the fields; the others are kept. `enabled: true` clears a disabled reason."""

    url: NotRequired[WebhookUrl]
    events: NotRequired[WebhookEvents]
    sessions: NotRequired[WebhookSessions]
    chatTypes: NotRequired[WebhookChatTypes]
    description: NotRequired[WebhookDescription]
    enabled: NotRequired[bool]
    concurrency: NotRequired[WebhookConcurrency]


class WebhookHealth(TypedDict):
    pending: Annotated[int, Field(description="deliveries not made yet, retrying ones included")]
    retrying: Annotated[int, Field(description="deliveries that failed and wait to retry")]
    deadLetters: Annotated[int, Field(description="deliveries given up (replay them)")]
    delivered: Annotated[int, Field(description="deliveries made since the process started")]
    failed: Annotated[int, Field(description="failed attempts since the process started")]
    lastSuccessAt: str | None
    lastFailureAt: str | None
    lastError: str | None
    oldestPendingSeconds: float | None


class Webhook(TypedDict):
    id: str
    url: str
    events: list[EventType] | None
    sessions: list[str] | None
    chatTypes: list[WebhookChatType] | None
    description: str | None
    enabled: bool
    concurrency: int
    disabledReason: Annotated[
        str | None, Field(description="why it was disabled (by an admin, a 410, failing)")
    ]
    disabledAt: str | None
    createdAt: str
    updatedAt: str
    previousSecretExpiresAt: Annotated[
        str | None, Field(description="until then the rotated-out secret signs too")
    ]
    health: WebhookHealth


class WebhookCreated(Webhook):
    secret: Annotated[
        str,
        Field(description="whsec_...: verify deliveries with it (Standard Webhooks); shown once"),
    ]


class WebhookList(TypedDict):
    webhooks: list[Webhook]


class WebhookSecret(TypedDict):
    secret: str
    previousSecretExpiresAt: str | None


class WebhookDelivery(TypedDict):
    eventId: Annotated[str, Field(description="the stream id, sent as webhook-id")]
    session: str
    type: str
    chatId: str | None
    status: DeliveryStatus
    attempts: int
    createdAt: str
    lastAttemptAt: str | None
    nextAttemptAt: str | None
    statusCode: int | None
    latencyMs: float | None
    error: str | None
    responseExcerpt: str | None


class WebhookDeliveryList(TypedDict):
    deliveries: list[WebhookDelivery]


class ReplayBody(TypedDict):
    since: NotRequired[
        Annotated[
            str,
            Field(
                max_length=200,
                description="a stream id: every stored event after it, in order",
            ),
        ]
    ]
    deadLetters: NotRequired[
        Annotated[bool, Field(description="true: the endpoint's dead letters, in order")]
    ]


class ReplayQueued(TypedDict):
    queued: int
