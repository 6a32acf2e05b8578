"""The route table: every operation of the API, declared once.

Each entry names its method and path, the handler, who may call it, its parameters, its body
and answer shapes (`shapes`), and the error codes it can answer with. `app.py` builds the
Starlette routes from it (authentication, role checks, body validation, encoding), and
`openapi.py` the OpenAPI document. The codes that come with an entry's form are added to its
list, not repeated here: a credential's (401/403/429) on every non-public route, `forbidden`
on staff and admin routes, a JSON body's (invalid_json, body_too_large, bad_<field>), each
parameter's own, and `read_only_token` on every write and admin route (a stream token's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from orchestrator import shapes as s
from orchestrator.admin import Admin
from orchestrator.agentpresence import AgentPresenceApi
from orchestrator.api import Api
from orchestrator.auth import Access
from orchestrator.console import Console
from orchestrator.desksettings import SettingsApi
from orchestrator.errors import Code
from orchestrator.helpdesk_api import HelpdeskApi
from orchestrator.metrics import MetricsApi
from orchestrator.presence import PresenceApi
from orchestrator.search import MAX_QUERY
from orchestrator.search_api import MAX_OFFSET, SearchApi
from orchestrator.sessions import SessionsApi
from orchestrator.streams import StreamRoutes
from orchestrator.streamtoken_api import StreamTokenApi
from orchestrator.webhook_api import WebhookApi

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    errors: tuple[Code, ...] = ()


@dataclass(frozen=True)
class Operation:
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    name: str  # the operationId
    summary: str
    handler: Handler  # a method of one of the handler classes, unbound
    tag: str
    access: Access = Access.USER
    params: tuple[Param, ...] = ()
    body: Any = None  # a shape; None: no body
    answer: Any = None  # a shape (JSON); None: no JSON body (see `content`)
    status: int = 200
    content: str = "application/json"
    errors: tuple[Code, ...] = ()
    websocket: bool = False
    per_session: bool = False
    """A route of one WhatsApp number: served for `default` here, and for any session under
    `/sessions/{sessionId}` (`scoped`), by that session's handlers; an agent must belong to it."""


DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
CHAT_ID = Param(
    "chatId",
    "path",
    "a jid, or a phone number in any usual notation",
    errors=(Code.INVALID_CHAT_ID, Code.FORBIDDEN),
)
LIMIT = Param(
    "limit",
    "query",
    "page size (default 50)",
    {"type": "integer", "minimum": 1, "maximum": 500},
    errors=(Code.BAD_LIMIT,),
)
LAST_EVENT_ID = Param(
    "lastEventId",
    "query",
    "resume after this stream id ('' = from the start), or after the last id of each session "
    "(comma-separated, at most one per session, at most 64)",
    errors=(Code.BAD_EVENT_ID,),
)
SINCE = Param("since", "query", "the same as lastEventId", errors=(Code.BAD_EVENT_ID,))
EPHEMERAL = Param(
    "ephemeral",
    "query",
    "true: agent_presence envelopes too, the current state first (ephemeral: id '', no "
    "position, never replayed)",
    {"type": "string", "enum": ["true", "false"]},
    (Code.BAD_REQUEST,),
)
SESSIONS = Param(
    "session",
    "query",
    "only these sessions, comma-separated (default: every session the caller may use)",
    errors=(Code.SESSION_NOT_FOUND, Code.FORBIDDEN),
)
ASSIGNED = Param(
    "assigned",
    "query",
    "only chats assigned to `me`, to nobody (`none`), or to the agent with this id "
    "(empty: anyone's)",
    errors=(Code.BAD_ASSIGNED,),
)
TAG = Param(
    "tag", "query", "only chats carrying this tag (its id; empty: any)", errors=(Code.BAD_TAG,)
)
STATUS = Param(
    "status",
    "query",
    "only chats in this status (empty: any)",
    {"type": "string", "enum": list(s.CHAT_STATUSES)},
    (Code.BAD_STATUS,),
)
REPLY_ID = Param("replyId", "path", "the quick reply's id", DIGITS, (Code.BAD_REPLY_ID,))
SESSION_PREFIX = "/sessions/{sessionId}"
SESSION_ID = Param(
    "sessionId",
    "path",
    "the session (WhatsApp number): a slug such as `sales`",
    errors=(Code.SESSION_NOT_FOUND, Code.FORBIDDEN),
)
STATUS_ERRORS = (Code.STORE_UNAVAILABLE,)
WEBHOOK_ID = Param(
    "webhookId", "path", "the endpoint's id (wh_...)", errors=(Code.UNKNOWN_WEBHOOK,)
)
WEBHOOK_WRITE_ERRORS = (Code.WEBHOOK_URL_FORBIDDEN, *STATUS_ERRORS)
WEBSOCKET_CLOSES = (
    "A refusal is an accepted connection closed at once with 4000 + the HTTP status (4400 bad "
    "lastEventId, 4401 no or wrong token, 4403 forbidden or no profile, 4404 no such chat or "
    "session, 4429 too many failed sign-ins) and a JSON reason {code, message}. On a server "
    "shutdown: 1012, then reconnect and resume. When every session `?session=` named is "
    "deleted: 1000, after the session_deleted envelope."
)

# The table is laid out by hand, an operation a few lines: the formatter would give each
# argument a line of its own.
# fmt: off
NUMBER_OPERATIONS: tuple[Operation, ...] = (
    # ---- public ------------------------------------------------------------------------
    Operation(
        "GET", "/health", "health", "liveness", Console.health, "meta", access=Access.PUBLIC,
        answer=s.Health,
    ),
    Operation(
        "GET", "/openapi.json", "openapi", "this document", Console.openapi, "meta",
        access=Access.PUBLIC, answer=dict[str, Any],
    ),
    Operation(
        "GET", "/", "console", "the operator console", Console.page, "console",
        access=Access.PUBLIC, content="text/html",
    ),
    Operation(
        "GET", "/wa-client.js", "clientScript", "the dependency-free stream client (ES module)",
        Console.client_script, "console", access=Access.PUBLIC, content="text/javascript",
    ),
    Operation(
        "GET", "/console/config", "consoleConfig",
        "how the console signs users in: Supabase Auth's URL and anon key, or null",
        Console.config, "console", access=Access.PUBLIC, answer=s.ConsoleConfig,
    ),
    Operation(
        "GET", "/static/{file}", "staticFile", "the console's files", Console.static_file,
        "console", access=Access.PUBLIC, content="*/*", errors=(Code.NOT_FOUND,),
        params=(Param("file", "path", "a file of the console, e.g. app.js"),),
    ),
    # ---- the connection ----------------------------------------------------------------
    Operation(
        "GET", "/status", "status", "the WhatsApp connection and the bridge", Admin.status,
        "connection", answer=s.Status, per_session=True,
    ),
    Operation(
        "GET", "/qr", "qr", "the current QR code text", Admin.qr, "connection",
        access=Access.STAFF, answer=s.QrText, per_session=True,
    ),
    Operation(
        "GET", "/qr.svg", "qrSvg", "the QR code as SVG", Admin.qr_svg, "connection",
        access=Access.STAFF, content="image/svg+xml", errors=(Code.NO_QR,), per_session=True,
    ),
    Operation(
        "GET", "/qr.png", "qrPng", "the QR code as PNG", Admin.qr_png, "connection",
        access=Access.STAFF, content="image/png", errors=(Code.NO_QR,), per_session=True,
    ),
    Operation(
        "POST", "/admin/pairing-code", "pairingCode", "link by phone number instead of QR",
        Admin.pairing_code, "connection", access=Access.ADMIN, body=s.PairingBody,
        answer=s.PairingCode, errors=(Code.NOT_CONNECTED, Code.BRIDGE_ERROR), per_session=True,
    ),
    # ---- people ------------------------------------------------------------------------
    Operation(
        "GET", "/me", "me", "who the token names", HelpdeskApi.me, "people", answer=s.Me,
    ),
    Operation(
        "GET", "/agents", "agents", "everyone with a helpdesk profile (an assign-to picker)",
        HelpdeskApi.agents, "people", answer=s.AgentList, per_session=True,
    ),
    Operation(
        "POST", "/chats/{chatId}/agent-presence", "agentPresence",
        "show the other agents that you view or type in this chat (agent_presence on the "
        "streams; typing lapses after ~6 s, viewing after ~60 s unless posted again; idle "
        "ends both). The API token is no agent (403)",
        AgentPresenceApi.set_state, "people", params=(CHAT_ID,), body=s.AgentPresenceBody,
        answer=s.AgentPresenceSet, status=202, errors=(Code.CHAT_NOT_FOUND,), per_session=True,
    ),
    Operation(
        "PUT", "/admin/profiles/{userId}", "saveProfile", "set a user's role",
        HelpdeskApi.save_profile, "people", access=Access.ADMIN, body=s.ProfileBody,
        answer=s.Profile, errors=STATUS_ERRORS,
        params=(Param("userId", "path", "the Supabase user id",
                      {"type": "string", "maxLength": 100}, (Code.BAD_USER_ID,)),),
    ),
    Operation(
        "POST", "/auth/stream-token", "streamToken",
        "mint a short-lived, read-only token for a browser: the app's server asks with the API "
        "token (or an admin's JWT) and hands the token on, so the long-lived one never reaches "
        "the browser. It may call GET routes and open the streams (SSE, WebSocket, long-poll) "
        "with the user's view, narrowed to `sessions` if given; a write or an admin route is "
        "403 read_only_token, and once expired it is 401",
        StreamTokenApi.mint, "people", access=Access.ADMIN, body=s.StreamTokenBody,
        answer=s.StreamToken, status=201, errors=(Code.UNKNOWN_USER,),
    ),
    # ---- chats and messages ------------------------------------------------------------
    Operation(
        "GET", "/chats", "listChats",
        "chats, newest activity first; the inbox filters combine (and page with before)",
        Api.list_chats, "chats", answer=s.ChatList, errors=(Code.CHAT_NOT_FOUND,),
        params=(LIMIT, Param("before", "query", "the last chat id of the previous page",
                             errors=(Code.INVALID_CHAT_ID, Code.FORBIDDEN)),
                ASSIGNED, TAG, STATUS), per_session=True,
    ),
    Operation(
        "GET", "/chats/{chatId}", "getChat", "one chat", Api.get_chat, "chats", params=(CHAT_ID,),
        answer=s.Chat, errors=(Code.CHAT_NOT_FOUND,), per_session=True,
    ),
    *(
        Operation(
            "GET", path, name, "a chat's messages, oldest first", Api.list_messages, "chats",
            answer=s.MessageList,
            errors=(Code.CHAT_NOT_FOUND, Code.UNKNOWN_MESSAGE, *STATUS_ERRORS),
            params=(CHAT_ID, LIMIT,
                    Param("before", "query", "the oldest message id of the previous page")),
            per_session=True,
        )
        for path, name in (("/chats/{chatId}/messages", "listMessages"),
                           ("/messages/{chatId}", "listMessagesShort"))
    ),
    Operation(
        "GET", "/chats/{chatId}/messages/{messageId}", "getMessage",
        "one message of the chat, from RAM or from the store (e.g. a quoted message not loaded)",
        SearchApi.get_message, "chats", answer=s.Message,
        params=(CHAT_ID, Param("messageId", "path", "the message's id")),
        errors=(Code.CHAT_NOT_FOUND, Code.MESSAGE_NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "GET", "/search", "search",
        "full-text search of the stored messages' text in the chats the caller may see: every "
        "word of q must occur (accents and case aside; the last word also as a prefix), best "
        "match first, newest first among equals. Words are only text (no operators). The store "
        "is written behind: messages of the last moments may not be found yet",
        SearchApi.search, "chats", answer=s.SearchResults,
        params=(
            Param("q", "query", "the words to find (required)",
                  {"type": "string", "minLength": 1, "maxLength": MAX_QUERY}, (Code.BAD_Q,)),
            Param("chatId", "query", "only this chat's messages",
                  errors=(Code.INVALID_CHAT_ID, Code.FORBIDDEN)),
            LIMIT,
            Param("offset", "query", "how many results to skip: the nextOffset of the last page",
                  {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, (Code.BAD_OFFSET,)),
        ),
        errors=(Code.CHAT_NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "POST", "/send", "send",
        "send a message (text, media, location, contacts, poll, forward), a reaction, an edit "
        "or a delete: 202 with it pending; the rest comes on the streams",
        Api.send, "chats", body=s.SendBody, answer=s.SendAccepted, status=202,
        errors=(Code.INVALID_CHAT_ID, Code.FORBIDDEN, Code.CHAT_NOT_FOUND, Code.EMPTY_MESSAGE,
                Code.CHAT_IGNORED,
                Code.BLANK_TEXT, Code.TEXT_TOO_LONG, Code.UNKNOWN_MESSAGE, Code.REACTION_NOT_EMOJI,
                Code.MEDIA_SOURCE_CONFLICT, Code.MEDIA_URL_FORBIDDEN, Code.MEDIA_TOO_LARGE,
                Code.NOT_CONNECTED, Code.SEND_QUEUE_FULL, Code.BRIDGE_ERROR,
                Code.ONE_KIND_PER_SEND, Code.INVALID_CONTACT_PHONE, Code.BAD_POLL_OPTIONS,
                Code.BAD_POLL_SELECTABLE_COUNT, Code.NOT_FORWARDABLE, Code.NOT_EDITABLE,
                Code.NOT_YOUR_MESSAGE, Code.ALREADY_DELETED, Code.APP_STATE_NOT_READY),
        per_session=True,
    ),
    Operation(
        "POST", "/chats/{chatId}/read", "markRead",
        "send read receipts for the chat's unread messages; unreadCount goes to 0 on the "
        "streams (chat_update) once they are sent",
        Api.mark_read, "chats", params=(CHAT_ID,), answer=s.ReadReceipts,
        errors=(Code.CHAT_NOT_FOUND, Code.NOT_CONNECTED, Code.BRIDGE_ERROR), per_session=True,
    ),
    Operation(
        "POST", "/chats/{chatId}/presence", "sendPresence",
        "show the contact that we are typing (composing, recording, paused), subscribing to "
        "its presence first once per connection; or the account online or not (available, "
        "unavailable)",
        PresenceApi.send, "chats", params=(CHAT_ID,), body=s.PresenceBody,
        answer=s.PresenceSent, status=202,
        errors=(Code.NO_PUSH_NAME, Code.NOT_CONNECTED, Code.BRIDGE_ERROR), per_session=True,
    ),
    Operation(
        "GET", "/contacts", "listContacts", "contacts", Api.list_contacts, "chats",
        answer=s.ContactList, per_session=True,
    ),
    Operation(
        "GET", "/waiting-messages", "waitingMessages",
        "messages WhatsApp delivered that could not be decrypted yet (type waiting), across "
        "chats, newest first; each becomes its content in place (message_update) if it comes",
        Api.waiting_messages, "chats", access=Access.STAFF, answer=s.MessageList,
        params=(LIMIT,), per_session=True,
    ),
    Operation(
        "GET", "/labels", "listLabels", "WhatsApp Business labels (deleted ones left out)",
        Api.list_labels, "chats", answer=s.LabelList, per_session=True,
    ),
    Operation(
        "GET", "/contacts/{jid}/picture", "contactPicture",
        "a profile picture's URL (cached for ORCH_PICTURE_TTL)", Api.contact_picture, "chats",
        answer=s.Picture, errors=(Code.NOT_CONNECTED, Code.BRIDGE_ERROR),
        params=(Param("jid", "path", "a jid or phone number",
                      errors=(Code.INVALID_CHAT_ID, Code.FORBIDDEN)),), per_session=True,
    ),
    Operation(
        "GET", "/media/{chatId}/{messageId}", "media",
        "a message's media bytes (downloaded through the bridge once, then kept in the media "
        "store): through the signed link in `media.url`, or with a token; with "
        "ORCH_MEDIA_S3_PRESIGN, a 302 to a presigned URL of the object",
        Api.media, "chats", access=Access.SIGNED, content="*/*",
        errors=(Code.CHAT_NOT_FOUND, Code.MEDIA_NOT_FOUND, Code.MEDIA_UNAVAILABLE,
                Code.MEDIA_STORE_UNAVAILABLE),
        params=(CHAT_ID, Param("messageId", "path", "the message's id"),
                Param("exp", "query", "the link's expiry (unix seconds)", DIGITS),
                Param("sig", "query", "the link's signature")), per_session=True,
    ),
    # ---- streams -----------------------------------------------------------------------
    Operation(
        "GET", "/events", "events",
        "SSE stream of envelopes (`id:`, `event:`, `data:` = Envelope; `: ping` comments)",
        StreamRoutes.events, "streams", content="text/event-stream",
        params=(LAST_EVENT_ID, Param("Last-Event-ID", "header",
                                     "as EventSource sends it; wins over lastEventId",
                                     errors=(Code.BAD_EVENT_ID,)), SESSIONS, EPHEMERAL),
    ),
    Operation(
        "GET", "/events/poll", "poll",
        "long-poll: what came after `since` (no since: answers at once with the position)",
        StreamRoutes.poll, "streams", answer=s.Poll,
        params=(
            Param("since", "query", "the last id seen ('' = from the start)",
                  errors=(Code.BAD_EVENT_ID,)),
            LAST_EVENT_ID,
            Param("timeout", "query",
                  "seconds to wait for news (default 25; at most ORCH_POLL_MAX_TIMEOUT)",
                  {"type": "number", "minimum": 0}, (Code.BAD_TIMEOUT,)),
            SESSIONS, EPHEMERAL,
        ),
    ),
    Operation(
        "GET", "/ws", "websocket",
        "WebSocket stream of every envelope: one Envelope (JSON) per text frame. "
        + WEBSOCKET_CLOSES,
        StreamRoutes.websocket, "streams", websocket=True,
        params=(LAST_EVENT_ID, SINCE, SESSIONS, EPHEMERAL),
    ),
    Operation(
        "GET", "/ws/chat/{chatId}", "websocketChat",
        "WebSocket stream of one chat's envelopes. " + WEBSOCKET_CLOSES,
        StreamRoutes.websocket_chat, "streams", websocket=True,
        params=(CHAT_ID, LAST_EVENT_ID, SINCE, EPHEMERAL), errors=(Code.CHAT_NOT_FOUND,),
        per_session=True,
    ),
    # ---- helpdesk ----------------------------------------------------------------------
    Operation(
        "PUT", "/chats/{chatId}/assignment", "assign", "assign or transfer the chat",
        HelpdeskApi.assign, "helpdesk", params=(CHAT_ID,), body=s.AssignBody,
        answer=s.ChatAssignment, errors=(Code.CHAT_NOT_FOUND, Code.NOT_FOUND, *STATUS_ERRORS),
        per_session=True,
    ),
    Operation(
        "DELETE", "/chats/{chatId}/assignment", "unassign", "release the chat",
        HelpdeskApi.unassign, "helpdesk", params=(CHAT_ID,), answer=s.ChatAssignment,
        errors=(Code.CHAT_NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "PUT", "/chats/{chatId}/status", "setChatStatus",
        "set the chat's status (a chat_update follows on the streams); a customer's new "
        "message reopens a pending or resolved chat",
        HelpdeskApi.set_status, "helpdesk", params=(CHAT_ID,), body=s.StatusBody,
        answer=s.ChatStatusChange, errors=(Code.CHAT_NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "GET", "/inbox/counts", "inboxCounts",
        "how many chats the caller may see are theirs, unassigned, in all, per status and per "
        "tag (all but the per-status counts within `status` when it is given)",
        HelpdeskApi.inbox_counts, "helpdesk", answer=s.InboxCounts, params=(STATUS,),
        per_session=True,
    ),
    Operation(
        "POST", "/chats/{chatId}/tags", "tagChat", "tag the chat", HelpdeskApi.tag_chat,
        "helpdesk", params=(CHAT_ID,), body=s.ChatTagBody, answer=s.ChatTags,
        errors=(Code.CHAT_NOT_FOUND, Code.NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "DELETE", "/chats/{chatId}/tags/{tagId}", "untagChat", "untag the chat",
        HelpdeskApi.untag_chat, "helpdesk", answer=s.ChatTags,
        params=(CHAT_ID, Param("tagId", "path", "the tag's id", DIGITS, (Code.BAD_TAG_ID_PATH,))),
        errors=(Code.CHAT_NOT_FOUND, Code.NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "GET", "/chats/{chatId}/notes", "listNotes", "the chat's notes", HelpdeskApi.notes,
        "helpdesk", params=(CHAT_ID,), answer=s.NoteList,
        errors=(Code.CHAT_NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "POST", "/chats/{chatId}/notes", "addNote", "add a note", HelpdeskApi.add_note, "helpdesk",
        params=(CHAT_ID,), body=s.NoteBody, answer=s.Note, status=201,
        errors=(Code.CHAT_NOT_FOUND, *STATUS_ERRORS), per_session=True,
    ),
    Operation(
        "GET", "/tags", "tags", "tags", HelpdeskApi.tags, "helpdesk", answer=s.TagList,
    ),
    Operation(
        "POST", "/tags", "createTag", "create a tag (names are unique, whatever their case)",
        HelpdeskApi.create_tag, "helpdesk", access=Access.STAFF, body=s.TagBody, answer=s.Tag,
        status=201, errors=(Code.TAG_EXISTS, *STATUS_ERRORS),
    ),
    Operation(
        "GET", "/quick-replies", "quickReplies", "quick replies", HelpdeskApi.quick_replies,
        "helpdesk", answer=s.QuickReplyList, errors=STATUS_ERRORS,
    ),
    Operation(
        "POST", "/quick-replies", "createQuickReply",
        "create a quick reply (shortcuts are unique, whatever their case)",
        HelpdeskApi.create_quick_reply, "helpdesk", access=Access.STAFF, body=s.QuickReplyBody,
        answer=s.QuickReply, status=201, errors=(Code.QUICK_REPLY_EXISTS, *STATUS_ERRORS),
    ),
    Operation(
        "PUT", "/quick-replies/{replyId}", "updateQuickReply", "edit a quick reply",
        HelpdeskApi.update_quick_reply, "helpdesk", access=Access.STAFF, params=(REPLY_ID,),
        body=s.QuickReplyBody, answer=s.QuickReply,
        errors=(Code.NOT_FOUND, Code.QUICK_REPLY_EXISTS, *STATUS_ERRORS),
    ),
    Operation(
        "DELETE", "/quick-replies/{replyId}", "deleteQuickReply", "delete a quick reply",
        HelpdeskApi.delete_quick_reply, "helpdesk", access=Access.STAFF, params=(REPLY_ID,),
        status=204, errors=(Code.NOT_FOUND, *STATUS_ERRORS),
    ),
    Operation(
        "GET", "/activity", "activity", "the activity log, newest first", HelpdeskApi.activity,
        "helpdesk", access=Access.STAFF, answer=s.ActivityList,
        params=(Param("chatId", "query", "only this chat's activity",
                      errors=(Code.INVALID_CHAT_ID, Code.FORBIDDEN)), LIMIT),
        errors=STATUS_ERRORS, per_session=True,
    ),
    Operation(
        "GET", "/settings", "getSettings",
        "the session's helpdesk settings: business hours, away message, greeting, assignment "
        "rule (the defaults until an admin saves them)",
        SettingsApi.get, "helpdesk", answer=s.HelpdeskSettings, errors=STATUS_ERRORS,
        per_session=True,
    ),
    Operation(
        "PUT", "/settings", "saveSettings",
        "replace the session's helpdesk settings (the whole document); they apply to the next "
        "customer message",
        SettingsApi.put, "helpdesk", access=Access.ADMIN, body=s.HelpdeskSettings,
        answer=s.HelpdeskSettings, errors=STATUS_ERRORS, per_session=True,
    ),
    # ---- operators ---------------------------------------------------------------------
    Operation(
        "GET", "/admin/bridge", "bridgeReport", "the bridge link and its counters", Admin.report,
        "admin", access=Access.ADMIN, answer=s.BridgeReport, per_session=True,
    ),
    Operation(
        "POST", "/admin/connect", "connect",
        "connect again, whatever stopped us, with a fresh backoff", Admin.connect, "admin",
        access=Access.ADMIN, answer=s.Status, status=202, per_session=True,
    ),
    Operation(
        "POST", "/admin/reconnect", "reconnect", "drop the WhatsApp socket and open a new one",
        Admin.reconnect, "admin", access=Access.ADMIN, answer=s.Status, status=202,
        per_session=True,
    ),
    Operation(
        "POST", "/admin/logout", "logout", "log out and wipe the credentials; a new QR follows",
        Admin.logout, "admin", access=Access.ADMIN, answer=s.Status,
        errors=(Code.BRIDGE_ERROR, Code.NOT_CONNECTED), per_session=True,
    ),
    Operation(
        "POST", "/admin/bridge/restart", "restartBridge", "restart the spawned bridge",
        Admin.restart_bridge, "admin", access=Access.ADMIN, answer=s.Restarting, status=202,
        errors=(Code.NOT_SPAWNED, Code.BRIDGE_NOT_RUNNING), per_session=True,
    ),
    Operation(
        "GET", "/metrics", "metrics",
        "Prometheus metrics; a WhatsApp number's series carry its `session` label",
        MetricsApi.metrics, "admin", access=Access.ADMIN, content="text/plain",
    ),
    # ---- sessions (WhatsApp numbers) -----------------------------------------------------
    Operation(
        "GET", "/sessions", "listSessions", "the sessions (WhatsApp numbers) the caller may use",
        SessionsApi.list_sessions, "sessions", answer=s.SessionList,
    ),
    Operation(
        "POST", "/sessions", "createSession",
        "add a WhatsApp number: its bridge runs at `bridge`, or (ORCH_SPAWN_BRIDGE) is spawned "
        "here and its QR flow starts",
        SessionsApi.create, "sessions", access=Access.ADMIN, body=s.SessionBody,
        answer=s.Session, status=201,
        errors=(Code.SESSION_EXISTS, Code.BRIDGE_REQUIRED, Code.BAD_BRIDGE, *STATUS_ERRORS),
    ),
    Operation(
        "GET", "/sessions/{sessionId}", "getSession", "one session", SessionsApi.get, "sessions",
        answer=s.Session, params=(SESSION_ID,),
    ),
    Operation(
        "DELETE", "/sessions/{sessionId}", "deleteSession",
        "stop a session's bridge and forget it; its data is kept (it can be created again) "
        "unless purge=true. Its stream clients get a final session_deleted event",
        SessionsApi.delete, "sessions", access=Access.ADMIN, status=204,
        params=(SESSION_ID, Param("purge", "query", "also delete its chats, messages and metadata",
                                  {"type": "string", "enum": ["true", "false"]},
                                  (Code.BAD_REQUEST,))),
        errors=(Code.SESSION_IS_DEFAULT, *STATUS_ERRORS),
    ),
    # ---- webhooks --------------------------------------------------------------------------
    Operation(
        "POST", "/webhooks", "createWebhook",
        "register an endpoint: every stream event it takes (filters: events, sessions, chat "
        "types) is POSTed to it, signed as Standard Webhooks say, in order per chat, retried "
        "until ORCH_WEBHOOK_RETRY_HORIZON. The answer carries its secret, shown only here",
        WebhookApi.create, "webhooks", access=Access.ADMIN, body=s.WebhookBody,
        answer=s.WebhookCreated, status=201, errors=WEBHOOK_WRITE_ERRORS,
    ),
    Operation(
        "GET", "/webhooks", "listWebhooks", "the endpoints and their health, oldest first",
        WebhookApi.index, "webhooks", access=Access.ADMIN, answer=s.WebhookList,
    ),
    Operation(
        "GET", "/webhooks/{webhookId}", "getWebhook", "one endpoint and its health",
        WebhookApi.get, "webhooks", access=Access.ADMIN, answer=s.Webhook, params=(WEBHOOK_ID,),
    ),
    Operation(
        "PATCH", "/webhooks/{webhookId}", "updateWebhook",
        "change any of an endpoint's fields (the others are kept); enabled: true re-enables "
        "one that was disabled (what it missed meanwhile: replay it)",
        WebhookApi.patch, "webhooks", access=Access.ADMIN, body=s.WebhookPatch,
        answer=s.Webhook, params=(WEBHOOK_ID,), errors=WEBHOOK_WRITE_ERRORS,
    ),
    Operation(
        "DELETE", "/webhooks/{webhookId}", "deleteWebhook",
        "forget an endpoint and what it had still to deliver",
        WebhookApi.delete, "webhooks", access=Access.ADMIN, status=204, params=(WEBHOOK_ID,),
        errors=STATUS_ERRORS,
    ),
    Operation(
        "POST", "/webhooks/{webhookId}/rotate-secret", "rotateWebhookSecret",
        "a new secret; the old one still signs too (a second signature) for "
        "ORCH_WEBHOOK_SECRET_OVERLAP seconds, so receivers can switch without losing any",
        WebhookApi.rotate_secret, "webhooks", access=Access.ADMIN, answer=s.WebhookSecret,
        params=(WEBHOOK_ID,), errors=STATUS_ERRORS,
    ),
    Operation(
        "GET", "/webhooks/{webhookId}/deliveries", "webhookDeliveries",
        "the endpoint's deliveries, newest first: status, attempts, the last answer's code, "
        "latency and excerpt, the next retry",
        WebhookApi.deliveries, "webhooks", access=Access.ADMIN, answer=s.WebhookDeliveryList,
        params=(
            WEBHOOK_ID,
            Param("status", "query", "only deliveries in this status",
                  {"type": "string", "enum": list(s.DELIVERY_STATUSES)}, (Code.BAD_STATUS,)),
            Param("limit", "query", "at most this many (default 100)",
                  {"type": "integer", "minimum": 1, "maximum": 1000}, (Code.BAD_LIMIT,)),
        ),
        errors=STATUS_ERRORS,
    ),
    Operation(
        "POST", "/webhooks/{webhookId}/replay", "replayWebhook",
        "deliver again, in order: every stored event after the stream id `since` that the "
        "endpoint takes, or its dead letters",
        WebhookApi.replay, "webhooks", access=Access.ADMIN, body=s.ReplayBody,
        answer=s.ReplayQueued, status=202, params=(WEBHOOK_ID,),
        errors=(Code.UNKNOWN_EVENT, Code.WEBHOOK_DISABLED, *STATUS_ERRORS),
    ),
)
# fmt: on


def scoped(op: Operation) -> Operation:
    """The route of one WhatsApp number under /sessions/{sessionId}."""
    return replace(
        op,
        path=f"{SESSION_PREFIX}{op.path}",
        name=f"session{op.name[0].upper()}{op.name[1:]}",
        params=(SESSION_ID, *op.params),
    )


OPERATIONS: tuple[Operation, ...] = (
    *NUMBER_OPERATIONS,
    *(scoped(op) for op in NUMBER_OPERATIONS if op.per_session),
)


def implied_errors(op: Operation) -> tuple[Code, ...]:
    """What an operation can answer beyond its own list: what its form brings."""
    codes: list[Code] = []
    if op.access is not Access.PUBLIC:
        codes += [Code.UNAUTHORIZED, Code.NO_PROFILE, Code.TOO_MANY_FAILURES]
    if op.access is Access.SIGNED:
        codes += [Code.BAD_MEDIA_SIGNATURE, Code.MEDIA_LINK_EXPIRED]
    if op.access in (Access.STAFF, Access.ADMIN) or op.per_session:
        codes.append(Code.FORBIDDEN)  # per session: an agent who is not in it
    if op.access is not Access.PUBLIC and (op.method != "GET" or op.access is Access.ADMIN):
        codes.append(Code.READ_ONLY_TOKEN)  # a stream token: reads and streams only
    if op.body is not None:
        fields = list(op.body.__annotations__)
        codes += [Code.INVALID_JSON, Code.BODY_TOO_LARGE, *map(body_field_code, fields)]
        codes += [code for (name, _), code in FIELD_REFUSALS.items() if name in fields]
    for param in op.params:
        codes += param.errors
    return tuple(codes)


def all_errors(op: Operation) -> tuple[Code, ...]:
    """Every code the operation can answer with, each once, in the closed set's order."""
    mine = set(op.errors) | set(implied_errors(op))
    return tuple(code for code in Code if code in mine)


FIELD_CODES = {
    "chatId": Code.INVALID_CHAT_ID,
    "phone": Code.INVALID_PHONE,
    "id": Code.BAD_SESSION_ID,  # only POST /sessions has an `id` field
    "userId": Code.BAD_USER_ID,
    "ttlSeconds": Code.BAD_TTL,
    "since": Code.BAD_REPLAY,  # only POST /webhooks/{id}/replay has these two
    "deadLetters": Code.BAD_REPLAY,
}
"""A body field whose refusal is not `bad_<field>`."""

FIELD_REFUSALS = {
    ("text", "string_too_long"): Code.TEXT_TOO_LONG,
    ("location", "greater_than_equal"): Code.LOCATION_OUT_OF_RANGE,
    ("location", "less_than_equal"): Code.LOCATION_OUT_OF_RANGE,
    ("edit", "string_too_long"): Code.TEXT_TOO_LONG,
}
"""A (field, validation error) with a code of its own."""


def body_field_code(name: str) -> Code:
    return FIELD_CODES.get(name) or Code.named(f"bad_{name}")
