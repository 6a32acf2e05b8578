"""The orchestrator's errors, one tree. Foreign errors (zmq, sqlite, httpx, OS) are translated
where they occur; the HTTP layer (`app.py`) turns these into answers, once, in its exception
handlers: a route never catches an error to translate it.

OrchestratorError
├── MalformedEnvelope      an envelope from the bridge that breaks the wire contract
├── TransportError         the link to the bridge failed (closed socket, bad endpoint)  -> 502
├── StoreError             the store could not read or write (down, full, locked)       -> 503
│   └── ConflictError      a write broke a uniqueness rule (has `code`: tag_exists, ...) -> 409
├── MediaStoreError        the media store (directory or S3 bucket) failed              -> 503
│   └── MediaStoreConfigError  it cannot work as configured: stops the start
├── CommandError           the bridge answered a command with an error (has `code`)     -> 409/502
│   └── CommandTimeout     no answer in time (bridge down, busy or unreachable)         -> 502
└── ApiError               a request the API refuses (has `code`, which fixes the status)
    ├── BadRequest         400: the request is malformed or names something that is not there
    │   └── BadPosition    400 bad_event_id: a stream position that is not one
    ├── Unauthorized       401: no valid credential
    ├── Forbidden          403: a valid credential that may not do this
    ├── NotFound           404: no such chat, message, media, QR, ...
    ├── Conflict           409: not now (not connected, bridge not running)
    ├── TooLarge           413: body or media over the limit
    └── TooMany            429: over a rate or queue limit

`Code` is the closed set of error codes the API answers with, each with its one HTTP status:
the OpenAPI document lists, per operation and status, the codes it can carry.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar


class Code(enum.StrEnum):
    """Every error code of the API, with its HTTP status."""

    status: int

    def __new__(cls, value: str, status: int) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        return member

    @classmethod
    def named(cls, value: str) -> Code:
        """The member with this value; ValueError if there is none."""
        return cls(value)  # type: ignore[call-arg]  # the value lookup, not __new__

    # 400: what the client sent cannot be served
    BAD_REQUEST = "bad_request", 400
    INVALID_JSON = "invalid_json", 400
    BAD_LIMIT = "bad_limit", 400
    BAD_TIMEOUT = "bad_timeout", 400
    BAD_EVENT_ID = "bad_event_id", 400
    INVALID_CHAT_ID = "invalid_chat_id", 400
    CHAT_IGNORED = "chat_ignored", 400
    UNKNOWN_MESSAGE = "unknown_message", 400
    EMPTY_MESSAGE = "empty_message", 400
    BAD_TEXT = "bad_text", 400
    BLANK_TEXT = "blank_text", 400
    TEXT_TOO_LONG = "text_too_long", 400
    BAD_QUOTED_ID = "bad_quotedId", 400
    BAD_REACTION = "bad_reaction", 400
    REACTION_NOT_EMOJI = "reaction_not_emoji", 400
    BAD_MEDIA = "bad_media", 400
    MEDIA_SOURCE_CONFLICT = "media_source_conflict", 400
    MEDIA_URL_FORBIDDEN = "media_url_forbidden", 400
    INVALID_PHONE = "invalid_phone", 400
    BAD_ROLE = "bad_role", 400
    BAD_USER_ID = "bad_user_id", 400
    BAD_AGENT_ID = "bad_agentId", 400
    BAD_NAME = "bad_name", 400
    BAD_COLOR = "bad_color", 400
    BAD_TAG_ID = "bad_tagId", 400
    BAD_TAG_ID_PATH = "bad_tag_id", 400
    BAD_BODY = "bad_body", 400
    BAD_SHORTCUT = "bad_shortcut", 400
    BAD_REPLY_ID = "bad_reply_id", 400
    BAD_DISPLAY_NAME = "bad_displayName", 400
    BAD_SESSIONS = "bad_sessions", 400
    ONE_KIND_PER_SEND = "one_kind_per_send", 400
    BAD_LOCATION = "bad_location", 400
    LOCATION_OUT_OF_RANGE = "location_out_of_range", 400
    BAD_CONTACTS = "bad_contacts", 400
    INVALID_CONTACT_PHONE = "invalid_contact_phone", 400
    BAD_POLL = "bad_poll", 400
    BAD_POLL_OPTIONS = "bad_poll_options", 400
    BAD_POLL_SELECTABLE_COUNT = "bad_poll_selectable_count", 400
    BAD_FORWARD = "bad_forward", 400
    NOT_FORWARDABLE = "not_forwardable", 400
    BAD_EDIT = "bad_edit", 400
    NOT_EDITABLE = "not_editable", 400
    BAD_DELETE = "bad_delete", 400
    BAD_STATE = "bad_state", 400
    BAD_SESSION_ID = "bad_session_id", 400
    BAD_BRIDGE = "bad_bridge", 400
    BAD_PROXY = "bad_proxy", 400
    BRIDGE_REQUIRED = "bridge_required", 400
    BAD_STATUS = "bad_status", 400
    BAD_ASSIGNED = "bad_assigned", 400
    BAD_TAG = "bad_tag", 400
    BAD_Q = "bad_q", 400
    BAD_OFFSET = "bad_offset", 400
    BAD_BUSINESS_HOURS = "bad_businessHours", 400
    BAD_AWAY_MESSAGE = "bad_awayMessage", 400
    BAD_GREETING = "bad_greeting", 400
    BAD_ASSIGNMENT = "bad_assignment", 400
    BAD_TTL = "bad_ttl", 400
    BAD_URL = "bad_url", 400
    BAD_EVENTS = "bad_events", 400
    BAD_CHAT_TYPES = "bad_chatTypes", 400
    BAD_DESCRIPTION = "bad_description", 400
    BAD_ENABLED = "bad_enabled", 400
    BAD_CONCURRENCY = "bad_concurrency", 400
    BAD_REPLAY = "bad_replay", 400
    WEBHOOK_URL_FORBIDDEN = "webhook_url_forbidden", 400
    # 401, 403: who is asking
    UNAUTHORIZED = "unauthorized", 401
    FORBIDDEN = "forbidden", 403
    NO_PROFILE = "no_profile", 403
    MEDIA_LINK_EXPIRED = "media_link_expired", 403
    BAD_MEDIA_SIGNATURE = "bad_media_signature", 403
    NOT_YOUR_MESSAGE = "not_your_message", 403
    READ_ONLY_TOKEN = "read_only_token", 403
    # 404, 405: what is asked for
    NOT_FOUND = "not_found", 404
    CHAT_NOT_FOUND = "chat_not_found", 404
    SESSION_NOT_FOUND = "session_not_found", 404
    MEDIA_NOT_FOUND = "media_not_found", 404
    MESSAGE_NOT_FOUND = "message_not_found", 404
    NO_QR = "no_qr", 404
    UNKNOWN_USER = "unknown_user", 404
    UNKNOWN_WEBHOOK = "unknown_webhook", 404
    UNKNOWN_EVENT = "unknown_event", 404
    METHOD_NOT_ALLOWED = "method_not_allowed", 405
    # 409: not possible now, or it exists
    NOT_CONNECTED = "not_connected", 409
    NOT_SPAWNED = "not_spawned", 409
    BRIDGE_NOT_RUNNING = "bridge_not_running", 409
    CONFLICT = "conflict", 409
    TAG_EXISTS = "tag_exists", 409
    QUICK_REPLY_EXISTS = "quick_reply_exists", 409
    ALREADY_DELETED = "already_deleted", 409
    APP_STATE_NOT_READY = "app_state_not_ready", 409
    NO_PUSH_NAME = "no_push_name", 409
    SESSION_EXISTS = "session_exists", 409
    SESSION_IS_DEFAULT = "session_is_default", 409
    WEBHOOK_DISABLED = "webhook_disabled", 409
    # 413, 429: limits
    BODY_TOO_LARGE = "body_too_large", 413
    MEDIA_TOO_LARGE = "media_too_large", 413
    TOO_MANY_FAILURES = "too_many_failures", 429
    SEND_QUEUE_FULL = "send_queue_full", 429
    # 5xx: something behind us failed
    INTERNAL = "internal", 500
    BRIDGE_ERROR = "bridge_error", 502
    MEDIA_UNAVAILABLE = "media_unavailable", 502
    STORE_UNAVAILABLE = "store_unavailable", 503
    MEDIA_STORE_UNAVAILABLE = "media_store_unavailable", 503


class OrchestratorError(Exception):
    pass


class MalformedEnvelope(OrchestratorError):
    pass


class TransportError(OrchestratorError):
    pass


class StoreError(OrchestratorError):
    pass


class MediaStoreError(OrchestratorError):
    """The media store could not read or write; the message names the store, never a secret."""


class MediaStoreConfigError(MediaStoreError):
    """The media store cannot work as configured (no such bucket, credentials refused): raised
    at start, so a wrong setting stops the orchestrator instead of failing every media fetch."""


class ConflictError(StoreError):
    """A write broke a rule of the store. `code` is stable (tag_exists, quick_reply_exists, or
    conflict for any other rule); `message` names the value, never SQL or driver text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CommandError(OrchestratorError):
    def __init__(
        self, method: str, code: str, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{method}: {code}: {message}")
        self.method = method
        self.code = code
        self.message = message
        self.extra = extra or {}


class CommandTimeout(CommandError):
    def __init__(self, method: str, seconds: float) -> None:
        super().__init__(method, "timeout", f"bridge did not answer {method!r} within {seconds:g}s")


class ApiError(OrchestratorError):
    """A request the API refuses: `{"error":{"code","message"}}` with the code's status."""

    status: ClassVar[int | None] = None  # a subclass answers with this status only

    def __init__(self, code: Code, message: str) -> None:
        expected = type(self).status
        if expected is not None and code.status != expected:
            raise TypeError(f"{type(self).__name__} cannot carry {code} ({code.status})")
        super().__init__(message)
        self.code = code
        self.message = message


class BadRequest(ApiError):
    status = 400


class BadPosition(BadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(Code.BAD_EVENT_ID, message)


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class TooLarge(ApiError):
    status = 413


class TooMany(ApiError):
    status = 429
