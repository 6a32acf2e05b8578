"""The OpenAPI 3.1 description of every HTTP route, served (public) at `/openapi.json`.

Declarative and built once at import: the objects mirror `views.py` (field names, types,
nullability) and every route lists each error status it can answer, all with the one body
`{"error":{"code","message"}}`. `tests/badinput/test_openapi.py` runs schemathesis against a
live orchestrator with this document, so a route that drifts from it fails there.

WebSocket routes (`/ws`, `/ws/chat/{chatId}`) are described by their upgrade request (101);
OpenAPI has no way to describe the frames, which are the stream envelopes.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

Schema = dict[str, Any]

JSON = "application/json"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or null (3.1: JSON Schema's own way; a `$ref` needs anyOf)."""
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these fields. More may appear (new fields are not a breaking change)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
ACK_NAMES = ["error", "pending", "sent", "delivered", "read", "played"]
MESSAGE_TYPES = [
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contact",
    "poll",
    "reaction",
    "unknown",
]
MEDIA_KINDS = ["image", "video", "audio", "document", "sticker"]
STATES = ["connecting", "open", "close", "qr", "logged_out", "replaced", "stopped"]
ROLES = ["admin", "supervisor", "agent"]

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {**STRING, "description": "stable, e.g. bad_limit, chat_not_found"},
                    "message": {**STRING, "description": "for people"},
                }
            )
        }
    ),
    "Media": obj(
        {
            "mimetype": nullable(STRING),
            "fileName": nullable(STRING),
            "size": nullable(INT),
            "seconds": nullable(INT),
            "url": {
                **nullable(STRING),
                "description": "GET it for the bytes; null on a message still pending",
            },
        }
    ),
    "Reaction": obj({"emoji": STRING, "sender": STRING}),
    "Message": obj(
        {
            "id": {**STRING, "description": "WhatsApp's key.id"},
            "chatId": STRING,
            "fromMe": BOOL,
            "sender": {**nullable(STRING), "description": "author jid; null for your own"},
            "senderName": nullable(STRING),
            "timestamp": {**INT, "description": "unix seconds, the message's own time"},
            "type": {"enum": MESSAGE_TYPES},
            "rawKind": {**nullable(STRING), "description": "for unknown: WhatsApp's kind"},
            "text": {**nullable(STRING), "description": "body or caption"},
            "quotedId": nullable(STRING),
            "media": nullable(ref("Media")),
            "ack": {**INT, "minimum": 0, "maximum": 5},
            "status": nullable({"enum": ACK_NAMES}),
            "edited": BOOL,
            "deleted": BOOL,
            "reactions": {"type": "array", "items": ref("Reaction")},
        }
    ),
    "Assignment": obj(
        {
            "agentId": STRING,
            "agentName": nullable(STRING),
            "assignedBy": nullable(STRING),
            "assignedAt": STRING,
        }
    ),
    "Tag": obj({"id": INT, "name": STRING, "color": nullable(STRING)}),
    "Chat": obj(
        {
            "id": {**STRING, "description": "jid"},
            "name": nullable(STRING),
            "isGroup": BOOL,
            "unreadCount": INT,
            "timestamp": {**INT, "description": "last activity, unix seconds"},
            "lastMessage": nullable(ref("Message")),
            "archived": BOOL,
            "pinned": BOOL,
            "muted": BOOL,
            "assignment": nullable(ref("Assignment")),
            "tags": {"type": "array", "items": ref("Tag")},
        }
    ),
    "Contact": obj(
        {
            "id": STRING,
            "name": nullable(STRING),
            "notify": {**nullable(STRING), "description": "push name"},
            "verifiedName": nullable(STRING),
        }
    ),
    "Envelope": obj(
        {
            "id": {**STRING, "description": "<bridge epoch>:<bridge seq>:<n>"},
            "type": {**STRING, "description": "new_message, message_ack, chat_update, ..."},
            "data": ANY,
        }
    ),
    "Note": obj(
        {
            "id": INT,
            "chatId": STRING,
            "authorId": nullable(STRING),
            "body": STRING,
            "createdAt": STRING,
        }
    ),
    "QuickReply": obj({"id": INT, "shortcut": STRING, "body": STRING}),
    "Activity": obj(
        {
            "id": INT,
            "actorId": nullable(STRING),
            "action": STRING,
            "chatId": nullable(STRING),
            "details": ANY,
            "createdAt": STRING,
        }
    ),
    "Profile": obj({"id": STRING, "displayName": nullable(STRING), "role": {"enum": ROLES}}),
    "CloseReason": obj(
        {
            "statusCode": nullable(INT),
            "message": STRING,
            "unreachable": BOOL,
            "hint": nullable(STRING),
        }
    ),
    "Status": obj(
        {
            "connected": BOOL,
            "state": {"enum": STATES},
            "reason": nullable(ref("CloseReason")),
            "attempt": INT,
            "nextRetryAt": {**nullable(NUMBER), "description": "unix time of the next retry"},
            "qrRounds": INT,
            "me": nullable({"type": "object"}),
        },
        {
            "bridge": obj(
                {
                    "alive": BOOL,
                    "epoch": nullable(STRING),
                    "restarts": nullable(INT),
                    "nextStartAt": nullable(NUMBER),
                }
            )
        },
    ),
    "BridgeReport": obj(
        {
            "alive": BOOL,
            "epoch": nullable(STRING),
            "seq": nullable(INT),
            "connection": nullable(STRING),
            "mode": nullable(STRING),
            "applied": nullable(obj({"epoch": STRING, "seq": INT})),
            "lastHeartbeatAgeMs": nullable(INT),
            **{
                name: {**INT, "minimum": 0}
                for name in (
                    "received",
                    "appliedEvents",
                    "duplicates",
                    "malformed",
                    "gaps",
                    "replays",
                    "replayed",
                    "epochChanges",
                    "positionsLost",
                    "reconnects",
                )
            },
            "lastFrameAgeMs": nullable(INT),
            "store": obj(
                {
                    "up": BOOL,
                    "pendingRows": INT,
                    "lagSeconds": NUMBER,
                    "lastError": nullable(STRING),
                }
            ),
            "spawned": nullable(
                obj({"pid": nullable(INT), "restarts": INT, "nextStartAt": nullable(NUMBER)})
            ),
        }
    ),
}


# ---- parameters ----------------------------------------------------------------------------


def path_param(name: str, description: str, schema: Schema = STRING) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def query(name: str, description: str, schema: Schema = STRING) -> Schema:
    return {"name": name, "in": "query", "description": description, "schema": schema}


CHAT_ID = path_param("chatId", "a jid, or a phone number in any usual notation")
LIMIT = query("limit", "page size (default 50)", {**INT, "minimum": 1, "maximum": 500})
LAST_EVENT_ID = query("lastEventId", "resume after this stream id ('' = from the start)")
DIGITS: Schema = {**STRING, "pattern": "^[0-9]+$"}

# ---- responses -----------------------------------------------------------------------------


def json_body(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def error(codes: str) -> Schema:
    return {"description": codes, "content": {JSON: {"schema": ref("Error")}}}


def errors(**by_status: str) -> dict[str, Schema]:
    """`errors(e400="bad_limit, ...", e404="chat_not_found")`: the codes each status carries."""
    return {name.removeprefix("e"): error(codes) for name, codes in by_status.items()}


def listing(key: str, item: str) -> Schema:
    return json_body(obj({key: {"type": "array", "items": ref(item)}}))


# Every route needs the token except the public ones; `body` adds what reading a JSON body can
# refuse (invalid_json, body_too_large).
AUTH_ERRORS = errors(e401="unauthorized", e429="too_many_failures (failed sign-ins)")
BODY_ERRORS = errors(e413="body_too_large")
STAFF = "forbidden (agents)"
ADMIN = "forbidden (not an admin)"
CHAT_403 = "forbidden (the chat is assigned to another agent)"
STORE_503 = "store_unavailable"


def op(
    summary: str,
    responses: dict[str, Schema],
    *,
    tag: str,
    params: list[Schema] | None = None,
    body: Schema | None = None,
    public: bool = False,
    operation_id: str,
) -> Schema:
    operation: Schema = {"summary": summary, "operationId": operation_id, "tags": [tag]}
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
        responses = {**BODY_ERRORS, **responses}
        bad = responses.get("400", error(""))["description"]
        responses["400"] = error(", ".join(c for c in ("invalid_json", bad) if c))
    if public:
        operation["security"] = []
    else:
        responses = {**AUTH_ERRORS, **responses}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


STATUS_202 = json_body(ref("Status"), "accepted: the connection state now")

PATHS: dict[str, dict[str, Schema]] = {
    # ---- public ------------------------------------------------------------------------
    "/health": {
        "get": op(
            "liveness",
            {"200": json_body(obj({"status": {"const": "ok"}}))},
            tag="meta",
            public=True,
            operation_id="health",
        )
    },
    "/openapi.json": {
        "get": op(
            "this document",
            {"200": json_body({"type": "object"})},
            tag="meta",
            public=True,
            operation_id="openapi",
        )
    },
    "/": {
        "get": op(
            "the operator console",
            {"200": {"description": "HTML page", "content": {"text/html": {}}}},
            tag="console",
            public=True,
            operation_id="console",
        )
    },
    "/wa-client.js": {
        "get": op(
            "the dependency-free stream client (ES module)",
            {"200": {"description": "script", "content": {"text/javascript": {}}}},
            tag="console",
            public=True,
            operation_id="clientScript",
        )
    },
    "/static/{file}": {
        "get": op(
            "the console's static files (public; any other name needs the token)",
            {
                "200": {"description": "the file", "content": {"*/*": {}}},
                **errors(e404="not_found"),
            },
            tag="console",
            params=[path_param("file", "a file of the console, e.g. app.js")],
            public=True,
            operation_id="staticFile",
        )
    },
    # ---- connection --------------------------------------------------------------------
    "/status": {
        "get": op(
            "the WhatsApp connection and the bridge",
            {"200": json_body(ref("Status"))},
            tag="connection",
            operation_id="status",
        )
    },
    "/qr": {
        "get": op(
            "the current QR code text (staff)",
            {"200": json_body(obj({"qr": nullable(STRING)})), **errors(e403=STAFF)},
            tag="connection",
            operation_id="qr",
        )
    },
    **{
        f"/qr.{kind}": {
            "get": op(
                f"the QR code as {kind.upper()} (staff)",
                {
                    "200": {"description": "image", "content": {media_type: {}}},
                    **errors(e403=STAFF, e404="no_qr"),
                },
                tag="connection",
                operation_id=operation_id,
            )
        }
        for kind, media_type, operation_id in (
            ("svg", "image/svg+xml", "qrSvg"),
            ("png", "image/png", "qrPng"),
        )
    },
    "/me": {
        "get": op(
            "who the token names",
            {
                "200": json_body(
                    obj(
                        {
                            "userId": nullable(STRING),
                            "role": {"enum": ROLES},
                            "name": nullable(STRING),
                        }
                    )
                )
            },
            tag="connection",
            operation_id="me",
        )
    },
    # ---- chats and messages ------------------------------------------------------------
    "/chats": {
        "get": op(
            "chats, newest activity first",
            {
                "200": listing("chats", "Chat"),
                **errors(
                    e400="bad_limit, invalid_chat_id",
                    e403=CHAT_403,
                    e404="chat_not_found (before)",
                ),
            },
            tag="chats",
            params=[LIMIT, query("before", "the last chat id of the previous page")],
            operation_id="listChats",
        )
    },
    "/chats/{chatId}": {
        "get": op(
            "one chat",
            {
                "200": json_body(ref("Chat")),
                **errors(e400="invalid_chat_id", e403=CHAT_403, e404="chat_not_found"),
            },
            tag="chats",
            params=[CHAT_ID],
            operation_id="getChat",
        )
    },
    **{
        path: {
            "get": op(
                "a chat's messages, oldest first",
                {
                    "200": listing("messages", "Message"),
                    **errors(
                        e400="invalid_chat_id, bad_limit, unknown_message",
                        e403=CHAT_403,
                        e404="chat_not_found",
                        e503=STORE_503,
                    ),
                },
                tag="chats",
                params=[
                    CHAT_ID,
                    LIMIT,
                    query("before", "the oldest message id of the previous page"),
                ],
                operation_id=operation_id,
            )
        }
        for path, operation_id in (
            ("/chats/{chatId}/messages", "listMessages"),
            ("/messages/{chatId}", "listMessagesShort"),
        )
    },
    "/send": {
        "post": op(
            "send a message, media or reaction: 202 with it pending; the rest comes on the streams",
            {
                "202": json_body(obj({"message": ref("Message")}), "accepted: status pending"),
                **errors(
                    e400="invalid_chat_id, bad_text, empty_message, unknown_message, "
                    "bad_reaction, bad_media, media_url_forbidden",
                    e403=CHAT_403,
                    e409="not_connected",
                    e413="media_too_large, body_too_large",
                    e429="send_queue_full, too_many_failures",
                ),
            },
            tag="chats",
            body=obj(
                {"chatId": {**STRING, "description": "jid or phone number"}},
                {
                    "text": STRING,
                    "quotedId": STRING,
                    "media": obj(
                        {"type": {"enum": MEDIA_KINDS}},
                        {
                            "base64": STRING,
                            "url": {**STRING, "format": "uri"},
                            "mimetype": STRING,
                            "fileName": STRING,
                            "ptt": BOOL,
                        },
                    ),
                    "reaction": obj({"messageId": STRING, "emoji": {**STRING, "maxLength": 16}}),
                },
            ),
            operation_id="send",
        )
    },
    "/chats/{chatId}/read": {
        "post": op(
            "send read receipts for the chat's unread messages; unreadCount goes to 0 on the "
            "streams (chat_update) once they are sent",
            {
                "200": json_body(obj({"chatId": STRING, "receipts": INT})),
                **errors(
                    e400="invalid_chat_id",
                    e403=CHAT_403,
                    e404="chat_not_found",
                    e409="not_connected",
                    e502="bridge_error",
                ),
            },
            tag="chats",
            params=[CHAT_ID],
            operation_id="markRead",
        )
    },
    "/contacts": {
        "get": op(
            "contacts",
            {"200": listing("contacts", "Contact")},
            tag="chats",
            operation_id="listContacts",
        )
    },
    "/contacts/{jid}/picture": {
        "get": op(
            "a profile picture's URL (cached for an hour)",
            {
                "200": json_body(obj({"url": nullable(STRING)})),
                **errors(
                    e400="invalid_chat_id",
                    e403=CHAT_403,
                    e409="not_connected",
                    e502="bridge_error",
                ),
            },
            tag="chats",
            params=[path_param("jid", "a jid or phone number")],
            operation_id="contactPicture",
        )
    },
    "/media/{chatId}/{messageId}": {
        "get": op(
            "a message's media bytes (downloaded through the bridge once, then cached)",
            {
                "200": {
                    "description": "the bytes, with the message's mimetype",
                    "content": {"*/*": {}},
                },
                **errors(
                    e400="invalid_chat_id",
                    e403=CHAT_403,
                    e404="chat_not_found, media_not_found",
                    e502="media_unavailable",
                ),
            },
            tag="chats",
            params=[CHAT_ID, path_param("messageId", "the message's id")],
            operation_id="media",
        )
    },
    # ---- streams -----------------------------------------------------------------------
    "/events": {
        "get": op(
            "SSE stream of envelopes (`id:`, `event:`, `data:` lines; `: ping` comments)",
            {
                "200": {"description": "endless stream", "content": {"text/event-stream": {}}},
                **errors(e400="bad_event_id"),
            },
            tag="streams",
            params=[
                LAST_EVENT_ID,
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "description": "as EventSource sends it; wins over lastEventId",
                    "schema": STRING,
                },
            ],
            operation_id="events",
        )
    },
    "/events/poll": {
        "get": op(
            "long-poll: what came after `since` (no since: answers at once with the position)",
            {
                "200": json_body(
                    obj(
                        {
                            "events": {"type": "array", "items": ref("Envelope")},
                            "lastEventId": STRING,
                        }
                    )
                ),
                **errors(e400="bad_timeout, bad_event_id"),
            },
            tag="streams",
            params=[
                query("since", "the last id seen ('' = from the start)"),
                LAST_EVENT_ID,
                query(
                    "timeout",
                    "seconds to wait for news (default 25; at most ORCH_POLL_MAX_TIMEOUT)",
                    {**NUMBER, "minimum": 0},
                ),
            ],
            operation_id="poll",
        )
    },
    **{
        path: {
            "get": op(
                summary,
                {
                    "101": {
                        "description": "WebSocket: one envelope (JSON) per text frame; closes "
                        "4400 bad id, 4401 no token, 4403 forbidden, 4404 no chat"
                    },
                    **errors(e404="not_found (a plain request, not an upgrade)"),
                },
                tag="streams",
                params=params,
                operation_id=operation_id,
            )
        }
        for path, summary, params, operation_id in (
            (
                "/ws",
                "WebSocket stream of every envelope",
                [LAST_EVENT_ID, query("since", "same as lastEventId")],
                "websocket",
            ),
            (
                "/ws/chat/{chatId}",
                "WebSocket stream of one chat's envelopes",
                [CHAT_ID, LAST_EVENT_ID, query("since", "same as lastEventId")],
                "websocketChat",
            ),
        )
    },
    # ---- helpdesk ----------------------------------------------------------------------
    "/chats/{chatId}/assignment": {
        "put": op(
            "assign or transfer the chat",
            {
                "200": json_body(
                    obj({"chatId": STRING, "assignment": nullable(ref("Assignment"))})
                ),
                **errors(
                    e400="invalid_chat_id, bad_agentId",
                    e403="forbidden",
                    e404="not_found (no such agent)",
                    e503=STORE_503,
                ),
            },
            tag="helpdesk",
            params=[CHAT_ID],
            body=obj({"agentId": {**STRING, "minLength": 1, "maxLength": 100}}),
            operation_id="assign",
        ),
        "delete": op(
            "release the chat",
            {
                "200": json_body(obj({"chatId": STRING, "assignment": {"type": "null"}})),
                **errors(e400="invalid_chat_id", e403="forbidden", e503=STORE_503),
            },
            tag="helpdesk",
            params=[CHAT_ID],
            operation_id="unassign",
        ),
    },
    "/chats/{chatId}/tags": {
        "post": op(
            "tag the chat",
            {
                "200": json_body(
                    obj({"chatId": STRING, "tags": {"type": "array", "items": ref("Tag")}})
                ),
                **errors(
                    e400="invalid_chat_id, bad_tagId",
                    e403=CHAT_403,
                    e404="not_found (no such tag)",
                    e503=STORE_503,
                ),
            },
            tag="helpdesk",
            params=[CHAT_ID],
            body=obj({"tagId": INT}),
            operation_id="tagChat",
        )
    },
    "/chats/{chatId}/tags/{tagId}": {
        "delete": op(
            "untag the chat",
            {
                "200": json_body(
                    obj({"chatId": STRING, "tags": {"type": "array", "items": ref("Tag")}})
                ),
                **errors(
                    e400="invalid_chat_id, bad_tag_id",
                    e403=CHAT_403,
                    e404="not_found (no such tag)",
                    e503=STORE_503,
                ),
            },
            tag="helpdesk",
            params=[CHAT_ID, path_param("tagId", "the tag's id", DIGITS)],
            operation_id="untagChat",
        )
    },
    "/chats/{chatId}/notes": {
        "get": op(
            "the chat's notes",
            {
                "200": listing("notes", "Note"),
                **errors(e400="invalid_chat_id", e403=CHAT_403, e503=STORE_503),
            },
            tag="helpdesk",
            params=[CHAT_ID],
            operation_id="listNotes",
        ),
        "post": op(
            "add a note",
            {
                "201": json_body(ref("Note"), "created"),
                **errors(e400="invalid_chat_id, bad_body", e403=CHAT_403, e503=STORE_503),
            },
            tag="helpdesk",
            params=[CHAT_ID],
            body=obj({"body": {**STRING, "minLength": 1, "maxLength": 10_000}}),
            operation_id="addNote",
        ),
    },
    "/tags": {
        "get": op("tags", {"200": listing("tags", "Tag")}, tag="helpdesk", operation_id="tags"),
        "post": op(
            "create a tag (staff)",
            {
                "201": json_body(ref("Tag"), "created"),
                **errors(
                    e400="bad_name, bad_color",
                    e403=STAFF,
                    e409="conflict (the name exists)",
                    e503=STORE_503,
                ),
            },
            tag="helpdesk",
            body=obj(
                {"name": {**STRING, "minLength": 1, "maxLength": 50}},
                {"color": {**STRING, "minLength": 1, "maxLength": 20}},
            ),
            operation_id="createTag",
        ),
    },
    "/quick-replies": {
        "get": op(
            "quick replies",
            {"200": listing("quickReplies", "QuickReply"), **errors(e503=STORE_503)},
            tag="helpdesk",
            operation_id="quickReplies",
        ),
        "post": op(
            "create a quick reply (staff)",
            {
                "201": json_body(ref("QuickReply"), "created"),
                **errors(
                    e400="bad_shortcut, bad_body",
                    e403=STAFF,
                    e409="conflict (the shortcut exists)",
                    e503=STORE_503,
                ),
            },
            tag="helpdesk",
            body=ref("QuickReplyBody"),
            operation_id="createQuickReply",
        ),
    },
    "/quick-replies/{replyId}": {
        "put": op(
            "edit a quick reply (staff)",
            {
                "200": json_body(ref("QuickReply")),
                **errors(
                    e400="bad_shortcut, bad_body, bad_reply_id",
                    e403=STAFF,
                    e404="not_found",
                    e409="conflict (the shortcut exists)",
                    e503=STORE_503,
                ),
            },
            tag="helpdesk",
            params=[path_param("replyId", "the quick reply's id", DIGITS)],
            body=ref("QuickReplyBody"),
            operation_id="updateQuickReply",
        ),
        "delete": op(
            "delete a quick reply (staff)",
            {
                "204": {"description": "deleted"},
                **errors(e400="bad_reply_id", e403=STAFF, e404="not_found", e503=STORE_503),
            },
            tag="helpdesk",
            params=[path_param("replyId", "the quick reply's id", DIGITS)],
            operation_id="deleteQuickReply",
        ),
    },
    "/activity": {
        "get": op(
            "the activity log, newest first (staff)",
            {
                "200": listing("activity", "Activity"),
                **errors(e400="bad_limit, invalid_chat_id", e403=STAFF, e503=STORE_503),
            },
            tag="helpdesk",
            params=[query("chatId", "only this chat's activity"), LIMIT],
            operation_id="activity",
        )
    },
    # ---- operators ---------------------------------------------------------------------
    "/admin/profiles/{userId}": {
        "put": op(
            "set a user's role (admin)",
            {
                "200": json_body(ref("Profile")),
                **errors(
                    e400="bad_role, bad_displayName, bad_user_id",
                    e403=ADMIN,
                    e503=STORE_503,
                ),
            },
            tag="admin",
            params=[path_param("userId", "the Supabase user id", {**STRING, "maxLength": 100})],
            body=obj(
                {"role": {"enum": ROLES}},
                {"displayName": {**STRING, "minLength": 1, "maxLength": 100}},
            ),
            operation_id="saveProfile",
        )
    },
    "/admin/bridge": {
        "get": op(
            "the bridge link and its counters (admin)",
            {"200": json_body(ref("BridgeReport")), **errors(e403=ADMIN)},
            tag="admin",
            operation_id="bridgeReport",
        )
    },
    "/admin/connect": {
        "post": op(
            "connect again, whatever stopped us, with a fresh backoff (admin)",
            {"202": STATUS_202, **errors(e403=ADMIN)},
            tag="admin",
            operation_id="connect",
        )
    },
    "/admin/reconnect": {
        "post": op(
            "drop the WhatsApp socket and open a new one (admin)",
            {"202": STATUS_202, **errors(e403=ADMIN)},
            tag="admin",
            operation_id="reconnect",
        )
    },
    "/admin/logout": {
        "post": op(
            "log out and wipe the credentials; a new QR follows (admin)",
            {"200": json_body(ref("Status")), **errors(e403=ADMIN, e502="bridge_error")},
            tag="admin",
            operation_id="logout",
        )
    },
    "/admin/bridge/restart": {
        "post": op(
            "restart the spawned bridge (admin)",
            {
                "202": json_body(obj({"restarting": {"const": True}}), "restarting"),
                **errors(e403=ADMIN, e409="not_spawned, bridge_not_running"),
            },
            tag="admin",
            operation_id="restartBridge",
        )
    },
    "/admin/pairing-code": {
        "post": op(
            "link by phone number instead of QR (admin)",
            {
                "200": json_body(obj({"code": STRING})),
                **errors(
                    e400="invalid_phone",
                    e403=ADMIN,
                    e409="not_connected",
                    e502="bridge_error",
                ),
            },
            tag="admin",
            body=obj({"phone": {**STRING, "description": "international format"}}),
            operation_id="pairingCode",
        )
    },
    "/metrics": {
        "get": op(
            "Prometheus metrics (admin)",
            {
                "200": {"description": "text exposition format", "content": {"text/plain": {}}},
                **errors(e403=ADMIN),
            },
            tag="admin",
            operation_id="metrics",
        )
    },
}

SCHEMAS["QuickReplyBody"] = obj(
    {
        "shortcut": {**STRING, "minLength": 1, "maxLength": 50},
        "body": {**STRING, "minLength": 1, "maxLength": 10_000},
    }
)

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "wa-helpdesk orchestrator",
        "version": "1",
        "description": "WhatsApp for multi-agent helpdesks: REST snapshots, streams, "
        'helpdesk metadata. Errors are always `{"error":{"code","message"}}`.',
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}, {"accessToken": []}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "ORCH_API_TOKEN (acts as an admin) or a Supabase session JWT",
            },
            "accessToken": {
                "type": "apiKey",
                "in": "query",
                "name": "access_token",
                "description": "the same token, for EventSource and WebSocket clients",
            },
        },
    },
}

_BODY = json.dumps(DOCUMENT, ensure_ascii=False).encode()


async def openapi_document(request: Request) -> Response:
    return Response(_BODY, media_type=JSON)
