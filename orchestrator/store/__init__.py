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
"""

from __future__ import annotations

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

    def __len__(self) -> int:
        return (
            len(self.chats) + len(self.messages) + len(self.contacts) + len(self.aliases)
            + len(self.renamed_chats) + len(self.deleted_chats) + len(self.labels)
            + len(self.entries)
        )  # fmt: skip


@dataclass
class Snapshot:
    chats: list[Row]
    messages: list[Row]  # the newest `window` per chat
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


ChatKey = tuple[str, str]  # (session id, chat id): one customer on two numbers is two chats


@dataclass(frozen=True)
class Metadata:
    """The helpdesk metadata the orchestrator keeps in RAM (every chat listing needs it)."""

    assignments: dict[ChatKey, Row]  # -> {"agent_id", "assigned_by", "assigned_at"}
    tags: dict[int, Row]  # tag id -> {"id", "name", "color"}
    chat_tags: dict[ChatKey, set[int]]
    profiles: dict[str, Row]  # user id -> {"id", "display_name", "role", "sessions": [ids]}


class Store(Protocol):
    async def open(self) -> None: ...

    async def load(self, window: int) -> Snapshot: ...

    async def write(self, batch: WriteBatch) -> None:
        """Everything in the batch, rows before position. Raises StoreError."""
        ...

    async def messages_before(
        self, chat_id: str, before_id: str | None, limit: int
    ) -> list[Row] | None:
        """Up to `limit` messages of the chat older than `before_id` (or the newest), newest
        first; None when the store does not know `before_id`. Raises StoreError."""
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
        """Delete the session's helpdesk rows (assignments, chat tags, notes, activity,
        settings, rule runs); a backend that keeps every session's WhatsApp data together
        deletes that too."""
        ...

    async def close(self) -> None: ...
