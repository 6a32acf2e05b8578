"""Persistence of chats, messages and contacts behind one interface, written behind the
real-time path. Backends: `sqlite` (the embedded default) and `supabase`.

A `WriteBatch` carries full rows (latest state wins) and the bridge position they bring the
store up to; a backend writes the rows before the position, so a crash in between makes a
restart replay a little more (upserts make that harmless), never less.

With the stream log stored (ORCH_STREAM_LOG_STORED), a batch also carries the stream log's
entries up to that position. Each has an `ord`, increasing in log order; the position row
records the ord of the last entry at it, and a load returns only the entries up to that ord, so
entries written before a crash cut the batch short (a backend without transactions) are never
served beyond the stored position.

Webhooks (issue 18): the endpoints live on the default session's store (like the helpdesk
metadata); each session's store keeps its own outbox, the events to deliver and one delivery
row per endpoint and event, written with the batch (before the position) so a restart resumes
every delivery it had not finished.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.errors import ConflictError
from orchestrator.shapes import DEFAULT_SESSION as DEFAULT_SESSION  # re-exported
from orchestrator.wire import Position

Row = dict[str, Any]


def tag_exists(name: str) -> ConflictError:
    """A tag's name is unique whatever its case; `name` is the one that exists."""
    return ConflictError("tag_exists", f"a tag named {name!r} exists")


def quick_reply_exists(shortcut: str) -> ConflictError:
    """A quick reply's shortcut is unique whatever its case; `shortcut` is the one that exists."""
    return ConflictError(
        "quick_reply_exists", f"a quick reply with the shortcut {shortcut!r} exists"
    )


def constraint_broken() -> ConflictError:
    """Any other integrity rule a write broke (a foreign key, a check): a bug upstream of the
    store, told without the database's wording."""
    return ConflictError("conflict", "the write breaks a rule of the store")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One stream log entry as the store keeps it: `json` is the envelope exactly as clients
    got it, `at` the wall-clock time it was logged (its age survives a restart)."""

    ord: int
    id: str
    type: str
    chat_id: str | None
    json: bytes
    at: float


@dataclass(frozen=True, slots=True)
class Retention:
    """What of a session's stored stream log to keep: the newest `max_entries`, none stored
    before the age limit (ord below `horizon`: an ord is the wall-clock time it was stored, in
    microseconds, so the ord index serves both bounds; an entry is logged before it is stored,
    so none is dropped early); plus the newest entry past either bound, which a restart needs
    as the session's newest evicted entry (a client that saw it missed nothing). None below
    `floor` either: entries left from a time the log was not stored, before a gap."""

    max_entries: int
    horizon: int
    floor: int | None = None


@dataclass
class WriteBatch:
    chats: dict[str, Row] = field(default_factory=dict)
    messages: dict[tuple[str, str], Row] = field(default_factory=dict)
    contacts: dict[str, Row] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # lid -> phone jid
    renamed_chats: dict[str, str] = field(default_factory=dict)  # a LID chat merged into -> pn
    deleted_chats: set[str] = field(default_factory=set)
    position: Position | None = None
    stream_id: str | None = None  # the session's last stream id at `position`
    labels: dict[str, Row] = field(default_factory=dict)  # WhatsApp Business labels, by id
    # The stream log, when stored: entries to add (ord ascending), the ord of the session's
    # last entry at `position` (None: the log is not stored), and what to keep of it.
    entries: list[StoredEntry] = field(default_factory=list)
    stream_ord: int | None = None
    retention: Retention | None = None
    # The webhook outbox (rows as in the Store's webhook methods), upserts, latest wins;
    # written before the position, events before deliveries.
    webhook_events: dict[str, Row] = field(default_factory=dict)  # event id -> event row
    webhook_deliveries: dict[tuple[str, str], Row] = field(
        default_factory=dict
    )  # (webhook id, event id) -> delivery row

    def __len__(self) -> int:
        return (
            len(self.chats) + len(self.messages) + len(self.contacts) + len(self.aliases)
            + len(self.renamed_chats) + len(self.deleted_chats) + len(self.labels)
            + len(self.entries) + len(self.webhook_events) + len(self.webhook_deliveries)
        )  # fmt: skip


@dataclass
class Snapshot:
    chats: list[Row]
    messages: list[Row]  # the newest `window` of each chat
    contacts: list[Row]
    aliases: dict[str, str]
    position: Position | None
    # Every message of type "waiting" (undecryptable so far), in the window or not: its
    # content may still come, and /metrics counts them.
    waiting: list[Row] = field(default_factory=list)
    labels: list[Row] = field(default_factory=list)
    # The stored stream log up to `position`, oldest first (empty when it is not stored), and
    # the session's last stream id at `position`.
    entries: list[StoredEntry] = field(default_factory=list)
    stream_id: str | None = None
    stream_ord: int | None = None  # None: the position was stored without the stream log


@dataclass
class WebhookBacklog:
    """What a session's store holds of webhook deliveries not finished, read at start."""

    deliveries: list[Row]  # status pending or retrying, ord ascending (stream order)
    events: dict[str, Row]  # the events those deliveries name, by id
    last_ord: int  # the highest ord of a stored event; 0 when none is stored
    dead: dict[str, int]  # webhook id -> dead letters stored (webhooks with none left out)


ChatKey = tuple[str, str]  # (session id, chat id): one customer on two numbers is two chats


@dataclass(frozen=True)
class Metadata:
    """The helpdesk metadata the orchestrator keeps in RAM (every chat listing needs it)."""

    assignments: dict[ChatKey, Row]  # -> {"agent_id", "assigned_by", "assigned_at"}
    tags: dict[int, Row]  # tag id -> {"id", "name", "color"}
    chat_tags: dict[ChatKey, set[int]]
    profiles: dict[str, Row]  # user id -> {"id", "display_name", "role", "sessions": [ids]}
    # -> {"status", "updated_by", "updated_at"}; a chat without a row is open
    statuses: dict[ChatKey, Row] = field(default_factory=dict)


class Store(Protocol):
    async def open(self) -> None: ...

    async def load(self, window: int) -> Snapshot:
        """What a start needs at once: every chat with its newest `window` messages (a
        start asks for one each; the rest comes from `newest_messages`), the
        contacts, aliases, labels, waiting messages and the position. Raises StoreError."""
        ...

    async def newest_messages(self, chat_ids: Sequence[str], limit: int) -> dict[str, list[Row]]:
        """The newest `limit` messages of each chat, newest first (a chat with none: an
        empty list). Raises StoreError."""
        ...

    async def write(self, batch: WriteBatch) -> None:
        """Everything in the batch, rows before position. Raises StoreError."""
        ...

    async def messages_before(
        self, chat_id: str, before_id: str | None, limit: int
    ) -> list[Row] | None:
        """Up to `limit` messages of the chat older than `before_id` (or the newest), newest
        first; None when the store does not know `before_id`. Raises StoreError."""
        ...

    async def message(self, chat_id: str, message_id: str) -> Row | None:
        """One stored message, or None. Raises StoreError."""
        ...

    async def search_messages(
        self, query: str, chat_id: str | None, hidden: Collection[str], limit: int, offset: int
    ) -> list[Row]:
        """The stored messages whose text matches `query` (plain words, see
        orchestrator.search), best match first, newest first among equals; `offset` of them
        skipped, at most `limit`. Only `chat_id`'s when given; none of the `hidden` chats
        (those the caller may not see), none deleted. Raises StoreError."""
        ...

    # ---- helpdesk metadata (user actions: awaited, not written behind) --------------------
    # They live on the default session's store and name the session: the metadata of every
    # session is kept together, keyed by (session, chat).

    async def load_metadata(self) -> Metadata: ...

    async def set_assignment(
        self, session: str, chat_id: str, agent_id: str | None, by: str | None
    ) -> Row | None:
        """Assign (or, with None, unassign) a chat; the new assignment row or None."""
        ...

    async def set_chat_status(
        self, session: str, chat_id: str, status: str, by: str | None, conversation: str
    ) -> Row:
        """Upsert the chat's status; the row {"session", "chat_id", "status", "updated_by",
        "conversation", "updated_at" (ISO 8601, UTC, the store's clock)}. `conversation` names
        the chat's current conversation ('' the first), kept while it is pending or resolved."""
        ...

    async def create_tag(self, name: str, color: str | None) -> Row:
        """Raises ConflictError `tag_exists` when the name exists in any case."""
        ...

    async def set_chat_tag(self, session: str, chat_id: str, tag_id: int, on: bool) -> None: ...

    async def add_note(
        self, session: str, chat_id: str, author_id: str | None, body: str
    ) -> Row: ...

    async def list_notes(self, session: str, chat_id: str) -> list[Row]: ...

    async def quick_replies(self) -> list[Row]: ...

    async def save_quick_reply(self, reply_id: int | None, fields: Row) -> Row | None:
        """Create (no id) or update; None when the id does not exist. Raises ConflictError
        `quick_reply_exists` when another reply has the shortcut in any case."""
        ...

    async def delete_quick_reply(self, reply_id: int) -> bool: ...

    async def save_profile(
        self, user_id: str, display_name: str | None, role: str, sessions: list[str] | None
    ) -> Row:
        """Upsert; `sessions` None keeps the stored membership (a new profile: ["default"]).
        The row's "sessions" is a list of session ids."""
        ...

    async def log_activity(
        self,
        session: str | None,
        actor_id: str | None,
        action: str,
        chat_id: str | None,
        details: Row,
    ) -> None:
        """`session` None: an action on no session's chats (tags, quick replies, profiles)."""
        ...

    async def activity(self, session: str | None, chat_id: str | None, limit: int) -> list[Row]:
        """Newest first. A session's: its own rows and those of no session; None: all."""
        ...

    # ---- helpdesk settings and automatic rules (on the default session's store) ----------

    async def load_settings(self, session: str) -> Row | None:
        """The session's settings row {"document" (a dict), "updated_by", "updated_at"}, or
        None when none was saved."""
        ...

    async def save_settings(self, session: str, document: Row, by: str | None) -> None:
        """Replace the session's settings document."""
        ...

    async def claim_rule_run(
        self, session: str, chat_id: str, rule: str, conversation: str
    ) -> bool:
        """Record that `rule` ran for the chat's `conversation`: True the first time, False
        when it is recorded already (by this process, an earlier run or another replica).
        Durable when it returns: a rule records its run before it acts."""
        ...

    async def rule_cursor(self, session: str, rule: str) -> str | None:
        """Where a rotating rule (round_robin) left off in the session: the last value set."""
        ...

    async def set_rule_cursor(self, session: str, rule: str, value: str) -> None: ...

    # ---- the session registry (on the default session's store) ---------------------------

    async def list_sessions(self) -> list[Row]:
        """Every registered session, oldest first: {"id", "name", "bridge_pub",
        "bridge_router", "proxy", "created_at"}."""
        ...

    async def save_session(self, row: Row) -> None:
        """Upsert by id. `proxy` may hold credentials: stored, never logged."""
        ...

    async def delete_session(self, session_id: str) -> bool: ...

    async def purge_session(self, session_id: str) -> None:
        """Delete the session's helpdesk rows (assignments, chat tags, statuses, notes,
        activity, settings, rule runs); a backend that keeps every session's WhatsApp data
        together deletes that too, and its webhook outbox (events and deliveries). (SQLite
        keeps a session's WhatsApp data and outbox in the session's own file, deleted with
        it.)"""
        ...

    # ---- webhooks ---------------------------------------------------------------------------
    # Times are epoch seconds (float). Endpoint rows live on the default session's store:
    #   {"id", "url", "events": list[str] | None, "sessions": list[str] | None,
    #    "chat_types": list[str] | None, "description", "enabled": bool, "concurrency": int,
    #    "secret", "previous_secret", "previous_secret_until", "disabled_reason", "disabled_at",
    #    "created_at", "updated_at"}
    # Each session's store keeps its own outbox (written through WriteBatch):
    #   event {"id", "ord": int, "type", "chat_id", "json": str (the envelope), "at"};
    #   delivery {"webhook_id", "event_id", "ord" (the event's), "status" ("pending",
    #    "retrying", "delivered" or "dead"), "attempts", "created_at", "last_attempt_at",
    #    "next_attempt_at", "status_code", "latency_ms", "error", "response_excerpt"}.

    async def list_webhooks(self) -> list[Row]:
        """Every endpoint row, oldest first (created_at, then id)."""
        ...

    async def save_webhook(self, row: Row) -> None:
        """Upsert the endpoint row by id (every field as given). The row holds secrets: stored,
        never logged."""
        ...

    async def delete_webhook(self, webhook_id: str) -> bool:
        """Delete the endpoint row; False when there was none. Its deliveries stay (each
        session's store: drop_webhook_deliveries)."""
        ...

    async def webhook_backlog(self) -> WebhookBacklog:
        """This store's session's deliveries not finished, the events they name, the highest
        event ord stored and the dead letters per webhook."""
        ...

    async def webhook_deliveries(
        self, webhook_id: str, status: str | None, limit: int
    ) -> list[Row]:
        """Up to `limit` of the webhook's delivery rows in this session (only those of
        `status` when given), newest first (ord descending), each with its event's "type" and
        "chat_id" added (None when the event is no longer stored)."""
        ...

    async def webhook_events(self, event_ids: Collection[str]) -> dict[str, Row]:
        """This session's stored outbox events among `event_ids`, by id (absent ones left out)."""
        ...

    async def webhook_events_after(self, ord: int, limit: int) -> list[Row]:
        """Up to `limit` stored events of this session with an ord above `ord`, ord ascending."""
        ...

    async def drop_webhook_deliveries(self, webhook_id: str) -> None:
        """Delete every delivery row of the webhook in this session (the endpoint is gone)."""
        ...

    async def prune_webhooks(self, before: float) -> None:
        """In this session: delete the delivered and dead deliveries last attempted before
        `before` (never attempted: created before it), then the events logged before `before`
        that no remaining delivery names. Pending and retrying deliveries are never pruned."""
        ...

    async def close(self) -> None: ...
