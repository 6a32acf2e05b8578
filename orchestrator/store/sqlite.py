"""The embedded store: one SQLite file in WAL mode under ORCH_DATA_DIR, zero configuration.

sqlite3 is blocking, so every call runs on one worker thread (a single connection, used by
one call at a time); the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from orchestrator.errors import StoreError
from orchestrator.search import fts5_match
from orchestrator.store import (
    ChatKey,
    Metadata,
    Retention,
    Row,
    Snapshot,
    StoredEntry,
    WebhookBacklog,
    WriteBatch,
    constraint_broken,
    quick_reply_exists,
    tag_exists,
)
from orchestrator.wire import Position

T = TypeVar("T")


def _unique_folded(table: str, column: str) -> str:
    """SQL making `column` unique whatever its case, on a table that may already hold values
    differing only in case: the first (lowest id) keeps its value, each later one gets
    " (n)", n the smallest number from 2 that no value holds yet in any case. Deterministic, and
    the new values collide with nothing (what precedes " (n)" and n are read back unambiguously,
    so two renamed values differ, and none equals a value that was there). Built at import
    from constants only: no outside input."""
    return f"""
    CREATE TEMP TABLE folded_renames AS
    WITH RECURSIVE
        numbers(n) AS (
            SELECT 2 UNION ALL SELECT n + 1 FROM numbers WHERE n <= (SELECT count(*) FROM {table})
        ),
        ranked AS (
            SELECT id, {column} AS value, lower({column}) AS folded,
                ROW_NUMBER() OVER (PARTITION BY lower({column}) ORDER BY id) - 1 AS k
            FROM {table}
        ),
        later AS (SELECT * FROM ranked WHERE k > 0),
        free AS (
            SELECT g.folded, numbers.n, ROW_NUMBER() OVER (PARTITION BY g.folded ORDER BY n) AS k
            FROM (SELECT DISTINCT folded FROM later) g, numbers
            WHERE g.folded || ' (' || numbers.n || ')' NOT IN (SELECT lower({column}) FROM {table})
        )
    SELECT later.id, later.value || ' (' || free.n || ')' AS value
    FROM later JOIN free ON free.folded = later.folded AND free.k = later.k;
    UPDATE {table} SET {column} = (SELECT value FROM folded_renames r WHERE r.id = {table}.id)
    WHERE id IN (SELECT id FROM folded_renames);
    DROP TABLE folded_renames;
    CREATE UNIQUE INDEX {table}_lower_{column}_key ON {table} (lower({column}));
    """  # noqa: S608


# Numbered upgrades (PRAGMA user_version): append, never edit a released one.
UPGRADES = [
    """
    CREATE TABLE wa_chats (
        id TEXT PRIMARY KEY, name TEXT, is_group INTEGER NOT NULL DEFAULT 0,
        unread_count INTEGER NOT NULL DEFAULT 0, last_activity INTEGER NOT NULL DEFAULT 0,
        archived INTEGER NOT NULL DEFAULT 0, pinned INTEGER NOT NULL DEFAULT 0,
        muted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE wa_messages (
        chat_id TEXT NOT NULL, id TEXT NOT NULL, from_me INTEGER NOT NULL, sender TEXT,
        sender_name TEXT, ts INTEGER NOT NULL, type TEXT NOT NULL, raw_kind TEXT, body TEXT,
        quoted_id TEXT, media TEXT, ack INTEGER NOT NULL, edited INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0, reactions TEXT NOT NULL DEFAULT '[]', raw TEXT,
        PRIMARY KEY (chat_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX wa_messages_by_time ON wa_messages (chat_id, ts DESC, id DESC);
    CREATE TABLE wa_contacts (id TEXT PRIMARY KEY, name TEXT, notify TEXT, verified_name TEXT);
    CREATE TABLE wa_jid_aliases (lid TEXT PRIMARY KEY, pn TEXT NOT NULL);
    CREATE TABLE wa_sync_state (id TEXT PRIMARY KEY, epoch TEXT, seq INTEGER);
    """,
    # The helpdesk metadata, as in supabase/migrations (there with row-level security).
    """
    CREATE TABLE profiles (
        id TEXT PRIMARY KEY, display_name TEXT,
        role TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('admin', 'supervisor', 'agent'))
    );
    CREATE TABLE chat_assignments (
        chat_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, assigned_by TEXT,
        assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX chat_assignments_agent ON chat_assignments (agent_id);
    CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, color TEXT);
    CREATE TABLE chat_tags (
        chat_id TEXT NOT NULL, tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (chat_id, tag_id)
    );
    CREATE TABLE chat_notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, author_id TEXT,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX chat_notes_chat ON chat_notes (chat_id, created_at);
    CREATE TABLE quick_replies (
        id INTEGER PRIMARY KEY AUTOINCREMENT, shortcut TEXT NOT NULL UNIQUE, body TEXT NOT NULL,
        created_by TEXT,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE activity_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, actor_id TEXT, action TEXT NOT NULL, chat_id TEXT,
        details TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX activity_logs_chat ON activity_logs (chat_id, created_at);
    """,
    # Same-second messages in the order they arrived (WhatsApp timestamps are in seconds).
    """
    ALTER TABLE wa_messages ADD COLUMN arrival INTEGER NOT NULL DEFAULT 0;
    DROP INDEX wa_messages_by_time;
    CREATE INDEX wa_messages_by_time ON wa_messages (chat_id, ts DESC, arrival DESC, id DESC);
    """,
    # A group's members and their admin roles: JSON [{"id", "admin"}]; NULL when not known.
    """
    ALTER TABLE wa_chats ADD COLUMN participants TEXT;
    """,
    # "Billing" and "billing" are one tag, "/Hi" and "/hi" one shortcut. SQLite's lower() folds
    # ASCII letters only (no ICU here); PostgreSQL's folds by its locale.
    _unique_folded("tags", "name") + _unique_folded("quick_replies", "shortcut"),
    # Undecryptable messages ("waiting"), all read at start: a few rows out of millions.
    """
    CREATE INDEX wa_messages_waiting ON wa_messages (chat_id, id) WHERE type = 'waiting';
    """,
    # WhatsApp Business labels (deleted ones kept, flagged) and each chat's label ids (JSON).
    """
    CREATE TABLE wa_labels (
        id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', color INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0, predefined_id TEXT
    );
    ALTER TABLE wa_chats ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
    """,
    # A call message's call: JSON {"direction", "kind", "outcome", "isGroup", "status"}.
    """
    ALTER TABLE wa_messages ADD COLUMN call TEXT;
    """,
    # Several WhatsApp numbers ("sessions"): the helpdesk metadata is keyed by session and
    # chat (what was there is the default session's); a profile lists the sessions its agent
    # works in (JSON); the registry of sessions. SQLite cannot change a primary key: the
    # assignment and chat-tag tables are rebuilt. An activity row of no session (a tag, a
    # quick reply, a profile) has a NULL session.
    """
    CREATE TABLE chat_assignments_new (
        session TEXT NOT NULL DEFAULT 'default', chat_id TEXT NOT NULL, agent_id TEXT NOT NULL,
        assigned_by TEXT,
        assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (session, chat_id)
    );
    INSERT INTO chat_assignments_new (chat_id, agent_id, assigned_by, assigned_at)
        SELECT chat_id, agent_id, assigned_by, assigned_at FROM chat_assignments;
    DROP TABLE chat_assignments;
    ALTER TABLE chat_assignments_new RENAME TO chat_assignments;
    CREATE INDEX chat_assignments_agent ON chat_assignments (agent_id);
    CREATE TABLE chat_tags_new (
        session TEXT NOT NULL DEFAULT 'default', chat_id TEXT NOT NULL,
        tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (session, chat_id, tag_id)
    );
    INSERT INTO chat_tags_new (chat_id, tag_id) SELECT chat_id, tag_id FROM chat_tags;
    DROP TABLE chat_tags;
    ALTER TABLE chat_tags_new RENAME TO chat_tags;
    ALTER TABLE chat_notes ADD COLUMN session TEXT NOT NULL DEFAULT 'default';
    DROP INDEX chat_notes_chat;
    CREATE INDEX chat_notes_chat ON chat_notes (session, chat_id, created_at);
    ALTER TABLE activity_logs ADD COLUMN session TEXT DEFAULT 'default';
    UPDATE activity_logs SET session = NULL WHERE chat_id IS NULL;
    DROP INDEX activity_logs_chat;
    CREATE INDEX activity_logs_chat ON activity_logs (session, chat_id, created_at);
    ALTER TABLE profiles ADD COLUMN sessions TEXT NOT NULL DEFAULT '["default"]';
    CREATE TABLE wa_sessions (
        id TEXT PRIMARY KEY, name TEXT, bridge_pub TEXT, bridge_router TEXT, proxy TEXT,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    """,
    # The stream log kept with the rows (ORCH_STREAM_LOG_STORED), so a restart resumes stream
    # clients exactly; the position gains the JetStream stream sequence, the session's last
    # stream id and the ord of its last stored entry (NULL: the log is not stored).
    """
    CREATE TABLE wa_stream_log (
        id TEXT PRIMARY KEY, ord INTEGER NOT NULL, type TEXT NOT NULL, chat_id TEXT,
        json BLOB NOT NULL, logged_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX wa_stream_log_ord ON wa_stream_log (ord);
    ALTER TABLE wa_sync_state ADD COLUMN stream INTEGER;
    ALTER TABLE wa_sync_state ADD COLUMN stream_id TEXT;
    ALTER TABLE wa_sync_state ADD COLUMN stream_ord INTEGER;
    """,
    # Chat status (issue 16): open, pending or resolved, per session and chat; a chat without
    # a row is open. updated_at is when it last changed (a customer's message older than that
    # does not reopen it: a replay after a restart must not undo a resolve). `conversation`
    # names the current conversation (the rules act once per conversation).
    """
    CREATE TABLE chat_status (
        session TEXT NOT NULL DEFAULT 'default', chat_id TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved')),
        updated_by TEXT, conversation TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (session, chat_id)
    );
    CREATE INDEX chat_status_status ON chat_status (session, status);
    """,
    # Message search: an FTS5 index over the text (body or caption) of messages not deleted,
    # accents folded. wa_messages has no rowid: wa_message_keys numbers each indexed message
    # (the index's rowid) and holds what ranks equal matches (newest first), so a search
    # reads wa_messages' wide rows for its page only. The index is contentless (the text is
    # not stored twice): the triggers remove an entry with the exact text it was indexed
    # with. They keep it in step with every write (upserts, edits, deletes, renamed and
    # deleted chats); the messages already stored are indexed here.
    """
    CREATE TABLE wa_message_keys (
        n INTEGER PRIMARY KEY, chat_id TEXT NOT NULL, id TEXT NOT NULL, ts INTEGER NOT NULL,
        arrival INTEGER NOT NULL, UNIQUE (chat_id, id)
    );
    CREATE VIRTUAL TABLE wa_messages_fts USING fts5(
        body, content = '', tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO wa_message_keys (chat_id, id, ts, arrival)
        SELECT chat_id, id, ts, arrival FROM wa_messages
        WHERE body IS NOT NULL AND body != '' AND NOT deleted;
    INSERT INTO wa_messages_fts (rowid, body)
        SELECT k.n, m.body FROM wa_message_keys k
        JOIN wa_messages m ON m.chat_id = k.chat_id AND m.id = k.id;
    CREATE TRIGGER wa_messages_search_insert AFTER INSERT ON wa_messages
    WHEN new.body IS NOT NULL AND new.body != '' AND NOT new.deleted BEGIN
        INSERT INTO wa_message_keys (chat_id, id, ts, arrival)
            VALUES (new.chat_id, new.id, new.ts, new.arrival);
        INSERT INTO wa_messages_fts (rowid, body) VALUES (last_insert_rowid(), new.body);
    END;
    CREATE TRIGGER wa_messages_search_delete AFTER DELETE ON wa_messages BEGIN
        INSERT INTO wa_messages_fts (wa_messages_fts, rowid, body)
            SELECT 'delete', n, old.body FROM wa_message_keys
            WHERE chat_id = old.chat_id AND id = old.id;
        DELETE FROM wa_message_keys WHERE chat_id = old.chat_id AND id = old.id;
    END;
    CREATE TRIGGER wa_messages_search_update AFTER UPDATE ON wa_messages
    WHEN old.body IS NOT new.body OR old.deleted != new.deleted OR old.chat_id != new.chat_id
        OR old.id != new.id OR old.ts != new.ts OR old.arrival != new.arrival BEGIN
        INSERT INTO wa_messages_fts (wa_messages_fts, rowid, body)
            SELECT 'delete', n, old.body FROM wa_message_keys
            WHERE chat_id = old.chat_id AND id = old.id;
        DELETE FROM wa_message_keys WHERE chat_id = old.chat_id AND id = old.id;
        INSERT INTO wa_message_keys (chat_id, id, ts, arrival)
            SELECT new.chat_id, new.id, new.ts, new.arrival
            WHERE new.body IS NOT NULL AND new.body != '' AND NOT new.deleted;
        INSERT INTO wa_messages_fts (rowid, body)
            SELECT last_insert_rowid(), new.body
            WHERE new.body IS NOT NULL AND new.body != '' AND NOT new.deleted;
    END;
    """,
    # Settings and rule runs: each session's helpdesk settings (one JSON document), the runs
    # of its automatic rules (one row per chat, rule and conversation: a rule never acts twice
    # in one, restarts included), and where a rotating rule left off.
    """
    CREATE TABLE session_settings (
        session TEXT PRIMARY KEY, document TEXT NOT NULL, updated_by TEXT,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE TABLE rule_runs (
        session TEXT NOT NULL, chat_id TEXT NOT NULL, rule TEXT NOT NULL,
        conversation TEXT NOT NULL,
        ran_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (session, chat_id, rule, conversation)
    ) WITHOUT ROWID;
    CREATE TABLE rule_cursors (
        session TEXT NOT NULL, rule TEXT NOT NULL, value TEXT NOT NULL,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (session, rule)
    );
    """,
    # Webhooks (issue 18): the endpoints (on the default session's file, like the metadata;
    # lists as JSON, NULL for all), and this session's outbox: the events to deliver and one
    # delivery row per endpoint and event, written with the batch. Times in epoch seconds.
    """
    CREATE TABLE wa_webhooks (
        id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT, sessions TEXT, chat_types TEXT,
        description TEXT, enabled INTEGER NOT NULL DEFAULT 1, concurrency INTEGER NOT NULL,
        secret TEXT NOT NULL, previous_secret TEXT, previous_secret_until REAL,
        disabled_reason TEXT, disabled_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL
    );
    CREATE TABLE wa_webhook_events (
        id TEXT PRIMARY KEY, ord INTEGER NOT NULL, type TEXT NOT NULL, chat_id TEXT,
        json TEXT NOT NULL, at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX wa_webhook_events_ord ON wa_webhook_events (ord);
    CREATE TABLE wa_webhook_deliveries (
        webhook_id TEXT NOT NULL, event_id TEXT NOT NULL, ord INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, last_attempt_at REAL,
        next_attempt_at REAL, status_code INTEGER, latency_ms REAL, error TEXT,
        response_excerpt TEXT,
        PRIMARY KEY (webhook_id, event_id)
    ) WITHOUT ROWID;
    CREATE INDEX wa_webhook_deliveries_status ON wa_webhook_deliveries (status, ord);
    CREATE INDEX wa_webhook_deliveries_webhook ON wa_webhook_deliveries (webhook_id, ord);
    CREATE INDEX wa_webhook_deliveries_event ON wa_webhook_deliveries (event_id);
    """,
]

CHAT_COLUMNS = (
    "id", "name", "is_group", "unread_count", "last_activity", "archived", "pinned", "muted",
    "participants", "labels",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "chat_id", "id", "from_me", "sender", "sender_name", "ts", "type", "raw_kind", "body",
    "quoted_id", "media", "ack", "edited", "deleted", "reactions", "raw", "arrival", "call",
)  # fmt: skip
CONTACT_COLUMNS = ("id", "name", "notify", "verified_name")
LABEL_COLUMNS = ("id", "name", "color", "deleted", "predefined_id")
WEBHOOK_COLUMNS = (
    "id", "url", "events", "sessions", "chat_types", "description", "enabled", "concurrency",
    "secret", "previous_secret", "previous_secret_until", "disabled_reason", "disabled_at",
    "created_at", "updated_at",
)  # fmt: skip
WEBHOOK_EVENT_COLUMNS = ("id", "ord", "type", "chat_id", "json", "at")
WEBHOOK_DELIVERY_COLUMNS = (
    "webhook_id", "event_id", "ord", "status", "attempts", "created_at", "last_attempt_at",
    "next_attempt_at", "status_code", "latency_ms", "error", "response_excerpt",
)  # fmt: skip
WEBHOOK_LISTS = ("events", "sessions", "chat_types")
JSON_COLUMNS = {"media", "reactions", "participants", "labels", "call", *WEBHOOK_LISTS}


def upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    """Built once at import from the constant column lists above: no outside input."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    placeholders = ", ".join("?" * len(columns))
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
    return f"{insert} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


UPSERT_CHAT = upsert_sql("wa_chats", CHAT_COLUMNS, ("id",))
UPSERT_MESSAGE = upsert_sql("wa_messages", MESSAGE_COLUMNS, ("chat_id", "id"))
UPSERT_CONTACT = upsert_sql("wa_contacts", CONTACT_COLUMNS, ("id",))
UPSERT_LABEL = upsert_sql("wa_labels", LABEL_COLUMNS, ("id",))
UPSERT_WEBHOOK = upsert_sql("wa_webhooks", WEBHOOK_COLUMNS, ("id",))
UPSERT_WEBHOOK_EVENT = upsert_sql("wa_webhook_events", WEBHOOK_EVENT_COLUMNS, ("id",))
UPSERT_WEBHOOK_DELIVERY = upsert_sql(
    "wa_webhook_deliveries", WEBHOOK_DELIVERY_COLUMNS, ("webhook_id", "event_id")
)


# Best first (bm25 is lower for a better match), then newest first: the page is chosen from
# the index and its keys alone, and only its messages are read.
SEARCH_MESSAGES = """
SELECT m.* FROM (
    SELECT k.chat_id, k.id, k.ts, k.arrival, bm25(wa_messages_fts) AS score
    FROM wa_messages_fts f JOIN wa_message_keys k ON k.n = f.rowid
    WHERE wa_messages_fts MATCH ? AND (? IS NULL OR k.chat_id = ?)
        AND k.chat_id NOT IN (SELECT value FROM json_each(?))
    ORDER BY score, k.ts DESC, k.arrival DESC, k.id DESC
    LIMIT ? OFFSET ?
) hit
JOIN wa_messages m ON m.chat_id = hit.chat_id AND m.id = hit.id
ORDER BY hit.score, hit.ts DESC, hit.arrival DESC, hit.id DESC
"""

SESSION_COLUMNS = ("id", "name", "bridge_pub", "bridge_router", "proxy", "created_at")
UPSERT_SESSION = (
    "INSERT INTO wa_sessions (id, name, bridge_pub, bridge_router, proxy, created_at) "
    "VALUES (:id, :name, :bridge_pub, :bridge_router, :proxy, "
    "coalesce(:created_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, bridge_pub = excluded.bridge_pub, "
    "bridge_router = excluded.bridge_router, proxy = excluded.proxy"
)
PER_SESSION_TABLES = (
    "chat_assignments", "chat_tags", "chat_status", "chat_notes", "activity_logs",
    "session_settings", "rule_runs", "rule_cursors",
)  # fmt: skip


def values(row: Row, columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(
        orjson.dumps(row[c]).decode() if c in JSON_COLUMNS and row[c] is not None else row[c]
        for c in columns
    )


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        await self._run(self._open)

    async def load(self, window: int) -> Snapshot:
        return await self._run(lambda db: self._load(db, window))

    async def newest_messages(self, chat_ids: Sequence[str], limit: int) -> dict[str, list[Row]]:
        return await self._run(lambda db: _newest(db, chat_ids, limit))

    async def write(self, batch: WriteBatch) -> None:
        await self._run(lambda db: self._write(db, batch))

    async def messages_before(
        self, chat_id: str, before_id: str | None, limit: int
    ) -> list[Row] | None:
        return await self._run(lambda db: self._messages_before(db, chat_id, before_id, limit))

    async def message(self, chat_id: str, message_id: str) -> Row | None:
        sql = "SELECT * FROM wa_messages WHERE chat_id = ? AND id = ?"
        rows = await self._run(lambda db: _rows(db, sql, chat_id, message_id))
        return rows[0] if rows else None

    async def search_messages(
        self, query: str, chat_id: str | None, hidden: Collection[str], limit: int, offset: int
    ) -> list[Row]:
        match = fts5_match(query)
        if match is None:
            return []
        # The hidden chats as one JSON parameter, however many (SQLite caps the variables).
        params = (match, chat_id, chat_id, orjson.dumps(list(hidden)).decode(), limit, offset)
        return await self._run(lambda db: _rows(db, SEARCH_MESSAGES, *params))

    # ---- helpdesk metadata ----------------------------------------------------------------

    async def load_metadata(self) -> Metadata:
        def load(db: sqlite3.Connection) -> Metadata:
            assignments = {
                (r["session"], r["chat_id"]): r for r in _rows(db, "SELECT * FROM chat_assignments")
            }
            tags = {r["id"]: r for r in _rows(db, "SELECT * FROM tags")}
            chat_tags: dict[ChatKey, set[int]] = {}
            for r in _rows(db, "SELECT session, chat_id, tag_id FROM chat_tags"):
                chat_tags.setdefault((r["session"], r["chat_id"]), set()).add(r["tag_id"])
            profiles = {r["id"]: _profile(r) for r in _rows(db, "SELECT * FROM profiles")}
            statuses = {
                (r["session"], r["chat_id"]): r for r in _rows(db, "SELECT * FROM chat_status")
            }
            return Metadata(assignments, tags, chat_tags, profiles, statuses)

        return await self._run(load)

    async def set_assignment(
        self, session: str, chat_id: str, agent_id: str | None, by: str | None
    ) -> Row | None:
        def write(db: sqlite3.Connection) -> Row | None:
            key = (session, chat_id)
            if agent_id is None:
                db.execute("DELETE FROM chat_assignments WHERE session = ? AND chat_id = ?", key)
                return None
            db.execute(
                "INSERT OR REPLACE INTO chat_assignments (session, chat_id, agent_id, assigned_by) "
                "VALUES (?, ?, ?, ?)",
                (*key, agent_id, by),
            )
            sql = "SELECT * FROM chat_assignments WHERE session = ? AND chat_id = ?"
            return _rows(db, sql, *key)[0]

        return await self._run(write)

    async def set_chat_status(
        self, session: str, chat_id: str, status: str, by: str | None, conversation: str
    ) -> Row:
        def write(db: sqlite3.Connection) -> Row:
            db.execute(
                "INSERT OR REPLACE INTO chat_status "
                "(session, chat_id, status, updated_by, conversation) VALUES (?, ?, ?, ?, ?)",
                (session, chat_id, status, by, conversation),
            )
            sql = "SELECT * FROM chat_status WHERE session = ? AND chat_id = ?"
            return _rows(db, sql, session, chat_id)[0]

        return await self._run(write)

    async def create_tag(self, name: str, color: str | None) -> Row:
        def write(db: sqlite3.Connection) -> Row:
            try:
                cursor = db.execute("INSERT INTO tags (name, color) VALUES (?, ?)", (name, color))
            except sqlite3.IntegrityError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                    raise
                sql = "SELECT name FROM tags WHERE lower(name) = lower(?)"
                raise tag_exists(_first(db, sql, name) or name) from exc
            return _rows(db, "SELECT * FROM tags WHERE id = ?", cursor.lastrowid)[0]

        return await self._run(write)

    async def set_chat_tag(self, session: str, chat_id: str, tag_id: int, on: bool) -> None:
        sql = (
            "INSERT OR IGNORE INTO chat_tags (session, chat_id, tag_id) VALUES (?, ?, ?)"
            if on
            else "DELETE FROM chat_tags WHERE session = ? AND chat_id = ? AND tag_id = ?"
        )
        await self._run(lambda db: db.execute(sql, (session, chat_id, tag_id)))

    async def add_note(self, session: str, chat_id: str, author_id: str | None, body: str) -> Row:
        def write(db: sqlite3.Connection) -> Row:
            cursor = db.execute(
                "INSERT INTO chat_notes (session, chat_id, author_id, body) VALUES (?, ?, ?, ?)",
                (session, chat_id, author_id, body),
            )
            return _rows(db, "SELECT * FROM chat_notes WHERE id = ?", cursor.lastrowid)[0]

        return await self._run(write)

    async def list_notes(self, session: str, chat_id: str) -> list[Row]:
        sql = "SELECT * FROM chat_notes WHERE session = ? AND chat_id = ? ORDER BY id"
        return await self._run(lambda db: _rows(db, sql, session, chat_id))

    async def quick_replies(self) -> list[Row]:
        return await self._run(
            lambda db: _rows(db, "SELECT * FROM quick_replies ORDER BY shortcut")
        )

    async def save_quick_reply(self, reply_id: int | None, fields: Row) -> Row | None:
        shortcut = fields["shortcut"]

        def write(db: sqlite3.Connection) -> Row | None:
            try:
                if reply_id is None:
                    cursor = db.execute(
                        "INSERT INTO quick_replies (shortcut, body, created_by) VALUES (?, ?, ?)",
                        (shortcut, fields["body"], fields.get("created_by")),
                    )
                    target = cursor.lastrowid
                else:
                    db.execute(
                        "UPDATE quick_replies SET shortcut = ?, body = ? WHERE id = ?",
                        (shortcut, fields["body"], reply_id),
                    )
                    target = reply_id
            except sqlite3.IntegrityError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                    raise
                sql = (
                    "SELECT shortcut FROM quick_replies WHERE lower(shortcut) = lower(?) "
                    "AND id IS NOT ?"
                )
                raise quick_reply_exists(_first(db, sql, shortcut, reply_id) or shortcut) from exc
            rows = _rows(db, "SELECT * FROM quick_replies WHERE id = ?", target)
            return rows[0] if rows else None

        return await self._run(write)

    async def delete_quick_reply(self, reply_id: int) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM quick_replies WHERE id = ?", (reply_id,)).rowcount > 0

        return await self._run(write)

    async def save_profile(
        self, user_id: str, display_name: str | None, role: str, sessions: list[str] | None
    ) -> Row:
        def write(db: sqlite3.Connection) -> Row:
            if sessions is None:
                db.execute(
                    "INSERT INTO profiles (id, display_name, role) VALUES (?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, "
                    "role = excluded.role",
                    (user_id, display_name, role),
                )
            else:
                db.execute(
                    "INSERT INTO profiles (id, display_name, role, sessions) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, "
                    "role = excluded.role, sessions = excluded.sessions",
                    (user_id, display_name, role, orjson.dumps(sessions).decode()),
                )
            return _profile(_rows(db, "SELECT * FROM profiles WHERE id = ?", user_id)[0])

        return await self._run(write)

    async def log_activity(
        self,
        session: str | None,
        actor_id: str | None,
        action: str,
        chat_id: str | None,
        details: Row,
    ) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO activity_logs (session, actor_id, action, chat_id, details) "
                "VALUES (?, ?, ?, ?, ?)",
                (session, actor_id, action, chat_id, orjson.dumps(details).decode()),
            )
        )

    async def activity(self, session: str | None, chat_id: str | None, limit: int) -> list[Row]:
        # A session's log holds the actions of no session too (tags, quick replies, profiles):
        # they concern every session, and only a chat filter leaves them out.
        conditions, params = [], []
        if session is not None:
            conditions.append("(session = ? OR session IS NULL)")
            params.append(session)
        if chat_id is not None:
            conditions.append("chat_id = ?")
            params.append(chat_id)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT * FROM activity_logs {where} ORDER BY id DESC LIMIT ?"  # noqa: S608

        def read(db: sqlite3.Connection) -> list[Row]:
            rows = _rows(db, sql, *params, limit)
            for row in rows:
                row["details"] = orjson.loads(row["details"])
            return rows

        return await self._run(read)

    # ---- helpdesk settings and automatic rules ----------------------------------------------

    async def load_settings(self, session: str) -> Row | None:
        def read(db: sqlite3.Connection) -> Row | None:
            rows = _rows(db, "SELECT * FROM session_settings WHERE session = ?", session)
            if not rows:
                return None
            return rows[0] | {"document": orjson.loads(rows[0]["document"])}

        return await self._run(read)

    async def save_settings(self, session: str, document: Row, by: str | None) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO session_settings (session, document, updated_by) "
                "VALUES (?, ?, ?)",
                (session, orjson.dumps(document).decode(), by),
            )
        )

    async def claim_rule_run(
        self, session: str, chat_id: str, rule: str, conversation: str
    ) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO rule_runs (session, chat_id, rule, conversation) "
                "VALUES (?, ?, ?, ?)",
                (session, chat_id, rule, conversation),
            )
            return cursor.rowcount == 1

        return await self._run(write)

    async def rule_cursor(self, session: str, rule: str) -> str | None:
        sql = "SELECT value FROM rule_cursors WHERE session = ? AND rule = ?"
        return await self._run(lambda db: _first(db, sql, session, rule))

    async def set_rule_cursor(self, session: str, rule: str, value: str) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO rule_cursors (session, rule, value) VALUES (?, ?, ?)",
                (session, rule, value),
            )
        )

    # ---- the session registry -------------------------------------------------------------

    async def list_sessions(self) -> list[Row]:
        sql = "SELECT * FROM wa_sessions ORDER BY created_at, id"
        return await self._run(lambda db: _rows(db, sql))

    async def save_session(self, row: Row) -> None:
        # created_at stays the first save's; absent, the database's now.
        stored = {c: row.get(c) for c in SESSION_COLUMNS}
        await self._run(lambda db: db.execute(UPSERT_SESSION, stored))

    async def delete_session(self, session_id: str) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM wa_sessions WHERE id = ?", (session_id,)).rowcount > 0

        return await self._run(write)

    async def purge_session(self, session_id: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                for table in PER_SESSION_TABLES:
                    db.execute(f"DELETE FROM {table} WHERE session = ?", (session_id,))  # noqa: S608

        await self._run(write)

    # ---- webhooks ---------------------------------------------------------------------------

    async def list_webhooks(self) -> list[Row]:
        sql = "SELECT * FROM wa_webhooks ORDER BY created_at, id"
        return [_webhook(r) for r in await self._run(lambda db: _rows(db, sql))]

    async def save_webhook(self, row: Row) -> None:
        await self._run(lambda db: db.execute(UPSERT_WEBHOOK, values(row, WEBHOOK_COLUMNS)))

    async def delete_webhook(self, webhook_id: str) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM wa_webhooks WHERE id = ?", (webhook_id,)).rowcount > 0

        return await self._run(write)

    async def webhook_backlog(self) -> WebhookBacklog:
        def read(db: sqlite3.Connection) -> WebhookBacklog:
            deliveries = _rows(
                db,
                "SELECT * FROM wa_webhook_deliveries WHERE status IN ('pending', 'retrying') "
                "ORDER BY ord, webhook_id",
            )
            events = {
                r["id"]: r
                for r in _rows(
                    db,
                    "SELECT * FROM wa_webhook_events WHERE id IN (SELECT event_id FROM "
                    "wa_webhook_deliveries WHERE status IN ('pending', 'retrying'))",
                )
            }
            last_ord = _first(db, "SELECT max(ord) FROM wa_webhook_events") or 0
            dead = dict(
                db.execute(
                    "SELECT webhook_id, count(*) FROM wa_webhook_deliveries "
                    "WHERE status = 'dead' GROUP BY webhook_id"
                ).fetchall()
            )
            return WebhookBacklog(deliveries, events, last_ord, dead)

        return await self._run(read)

    async def webhook_deliveries(
        self, webhook_id: str, status: str | None, limit: int
    ) -> list[Row]:
        sql = (
            "SELECT d.*, e.type, e.chat_id FROM wa_webhook_deliveries d "
            "LEFT JOIN wa_webhook_events e ON e.id = d.event_id "
            "WHERE d.webhook_id = ? AND (? IS NULL OR d.status = ?) "
            "ORDER BY d.ord DESC, d.event_id DESC LIMIT ?"
        )
        return await self._run(lambda db: _rows(db, sql, webhook_id, status, status, limit))

    async def webhook_events(self, event_ids: Collection[str]) -> dict[str, Row]:
        sql = "SELECT * FROM wa_webhook_events WHERE id IN (SELECT value FROM json_each(?))"
        ids = orjson.dumps(list(event_ids)).decode()
        return {r["id"]: r for r in await self._run(lambda db: _rows(db, sql, ids))}

    async def webhook_events_after(self, ord: int, limit: int) -> list[Row]:
        sql = "SELECT * FROM wa_webhook_events WHERE ord > ? ORDER BY ord LIMIT ?"
        return await self._run(lambda db: _rows(db, sql, ord, limit))

    async def drop_webhook_deliveries(self, webhook_id: str) -> None:
        sql = "DELETE FROM wa_webhook_deliveries WHERE webhook_id = ?"
        await self._run(lambda db: db.execute(sql, (webhook_id,)))

    async def prune_webhooks(self, before: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "DELETE FROM wa_webhook_deliveries WHERE status IN ('delivered', 'dead') "
                    "AND coalesce(last_attempt_at, created_at) < ?",
                    (before,),
                )
                db.execute(
                    "DELETE FROM wa_webhook_events WHERE at < ? AND NOT EXISTS (SELECT 1 "
                    "FROM wa_webhook_deliveries d WHERE d.event_id = wa_webhook_events.id)",
                    (before,),
                )

        await self._run(write)

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await asyncio.to_thread(db.close)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            # A cancelled caller does not stop the thread: the connection stays ours until the
            # work is done, or the next call would begin a transaction inside this one (seen at
            # shutdown: the write-behind's task cancelled mid-write, then its last flush).
            running = asyncio.ensure_future(asyncio.to_thread(self._with_connection, work))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await asyncio.wait([running])
                if not running.cancelled():
                    running.exception()  # its caller is gone: nobody else will look
                raise
            except sqlite3.IntegrityError as exc:
                raise constraint_broken() from exc
            except sqlite3.Error as exc:
                # A failed connection may be a corrupt or vanished file: reopen next time.
                self._db = None
                raise StoreError(f"sqlite {self.path}: {exc}") from exc

    def _with_connection(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self._open_connection()
        assert self._db is not None
        return work(self._db)

    def _open(self, db: sqlite3.Connection) -> None:
        """Opening happens in _with_connection; this only checks the file is readable."""
        db.execute("SELECT count(*) FROM wa_sync_state").fetchone()

    def _open_connection(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = not self.path.exists()
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            if created:
                self.path.chmod(0o600)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # durable at each WAL checkpoint
            db.execute("PRAGMA busy_timeout = 5000")
            db.execute("PRAGMA foreign_keys = ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(UPGRADES[version:], start=version + 1):
                db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        except sqlite3.Error:
            db.close()
            raise
        self._db = db

    @staticmethod
    def _load(db: sqlite3.Connection, window: int) -> Snapshot:
        chats = _rows(db, "SELECT * FROM wa_chats")
        # Every chat that has messages (a message may have come before its chat's row).
        with_messages = [r[0] for r in db.execute("SELECT DISTINCT chat_id FROM wa_messages")]
        messages = [m for rows in _newest(db, with_messages, window).values() for m in rows]
        contacts = _rows(db, "SELECT * FROM wa_contacts")
        aliases = dict(db.execute("SELECT lid, pn FROM wa_jid_aliases").fetchall())
        row = db.execute(
            "SELECT epoch, seq, stream, stream_id, stream_ord FROM wa_sync_state "
            "WHERE id = 'bridge'"
        ).fetchone()
        position = Position(row[0], row[1], row[2]) if row and row[0] else None
        waiting = _rows(db, "SELECT * FROM wa_messages WHERE type = 'waiting'")
        labels = _rows(db, "SELECT * FROM wa_labels")
        entries = []
        if position is not None and row[4] is not None:
            entries = [
                StoredEntry(*entry)
                for entry in db.execute(
                    "SELECT ord, id, type, chat_id, json, logged_at FROM wa_stream_log "
                    "WHERE ord <= ? ORDER BY ord",
                    (row[4],),
                )
            ]
        stream_id, stream_ord = (row[3], row[4]) if position is not None else (None, None)
        return Snapshot(
            chats, messages, contacts, aliases, position, waiting, labels, entries, stream_id,
            stream_ord,
        )  # fmt: skip

    @staticmethod
    def _write(db: sqlite3.Connection, batch: WriteBatch) -> None:
        with _transaction(db):
            db.executemany(UPSERT_CHAT, (values(r, CHAT_COLUMNS) for r in batch.chats.values()))
            for old, new in batch.renamed_chats.items():
                db.execute(
                    "UPDATE OR IGNORE wa_messages SET chat_id = ? WHERE chat_id = ?", (new, old)
                )
                _delete_chats(db, [old])
            db.executemany(
                UPSERT_MESSAGE, (values(r, MESSAGE_COLUMNS) for r in batch.messages.values())
            )
            db.executemany(
                UPSERT_CONTACT, (values(r, CONTACT_COLUMNS) for r in batch.contacts.values())
            )
            db.executemany(
                "INSERT OR REPLACE INTO wa_jid_aliases (lid, pn) VALUES (?, ?)",
                batch.aliases.items(),
            )
            db.executemany(UPSERT_LABEL, (values(r, LABEL_COLUMNS) for r in batch.labels.values()))
            _delete_chats(db, batch.deleted_chats)
            db.executemany(
                "INSERT OR REPLACE INTO wa_stream_log (id, ord, type, chat_id, json, logged_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                ((e.id, e.ord, e.type, e.chat_id, e.json, e.at) for e in batch.entries),
            )
            if batch.retention is not None:
                _prune_stream_log(db, batch.retention)
            db.executemany(
                UPSERT_WEBHOOK_EVENT,
                (values(r, WEBHOOK_EVENT_COLUMNS) for r in batch.webhook_events.values()),
            )
            db.executemany(
                UPSERT_WEBHOOK_DELIVERY,
                (values(r, WEBHOOK_DELIVERY_COLUMNS) for r in batch.webhook_deliveries.values()),
            )
            if batch.position is not None:
                p = batch.position
                db.execute(
                    "INSERT OR REPLACE INTO wa_sync_state "
                    "(id, epoch, seq, stream, stream_id, stream_ord) "
                    "VALUES ('bridge', ?, ?, ?, ?, ?)",
                    (p.epoch, p.seq, p.stream, batch.stream_id, batch.stream_ord),
                )

    @staticmethod
    def _messages_before(
        db: sqlite3.Connection, chat_id: str, before_id: str | None, limit: int
    ) -> list[Row] | None:
        db.row_factory = sqlite3.Row
        try:
            if (
                before_id is not None
                and not db.execute(
                    "SELECT 1 FROM wa_messages WHERE chat_id = ? AND id = ?", (chat_id, before_id)
                ).fetchone()
            ):
                return None
            if before_id is None:
                cursor = db.execute(
                    "SELECT * FROM wa_messages WHERE chat_id = ? "
                    "ORDER BY ts DESC, arrival DESC, id DESC LIMIT ?",
                    (chat_id, limit),
                )
            else:
                cursor = db.execute(
                    "SELECT m.* FROM wa_messages m, "
                    "(SELECT ts, arrival, id FROM wa_messages WHERE chat_id = ? AND id = ?) b "
                    "WHERE m.chat_id = ? AND (m.ts, m.arrival, m.id) < (b.ts, b.arrival, b.id) "
                    "ORDER BY m.ts DESC, m.arrival DESC, m.id DESC LIMIT ?",
                    (chat_id, before_id, chat_id, limit),
                )
            return [dict(r) for r in cursor]
        finally:
            db.row_factory = None


def _newest(db: sqlite3.Connection, chat_ids: Sequence[str], limit: int) -> dict[str, list[Row]]:
    # One indexed query per chat (wa_messages_by_time): a window function over the table sorts
    # every message, 1.3 s for 200,000 when a start wants one per chat.
    sql = (
        "SELECT * FROM wa_messages WHERE chat_id = ? "
        "ORDER BY ts DESC, arrival DESC, id DESC LIMIT ?"
    )
    return {chat_id: _rows(db, sql, chat_id, limit) for chat_id in chat_ids}


def _rows(db: sqlite3.Connection, sql: str, *params: Any) -> list[Row]:
    # Tuples zipped into dicts, not sqlite3.Row: 0.45 s less for 200,000 messages.
    cursor = db.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _profile(row: Row) -> Row:
    return row | {"sessions": orjson.loads(row["sessions"])}


def _webhook(row: Row) -> Row:
    lists = {c: None if row[c] is None else orjson.loads(row[c]) for c in WEBHOOK_LISTS}
    return row | lists | {"enabled": bool(row["enabled"])}


def _first(db: sqlite3.Connection, sql: str, *params: Any) -> Any:
    """The first column of the first row, or None."""
    row = db.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _prune_stream_log(db: sqlite3.Connection, retention: Retention) -> None:
    """Keep the newest `max_entries` entries stored since the horizon, and the newest of the
    others (see Retention): everything older than that one goes. Index lookups only."""
    past_count = _first(
        db,
        "SELECT ord FROM wa_stream_log ORDER BY ord DESC LIMIT 1 OFFSET ?",
        retention.max_entries,
    )
    past_age = _first(db, "SELECT max(ord) FROM wa_stream_log WHERE ord < ?", retention.horizon)
    bounds = [o for o in (past_count, past_age, retention.floor) if o is not None]
    if bounds:
        db.execute("DELETE FROM wa_stream_log WHERE ord < ?", (max(bounds),))


def _delete_chats(db: sqlite3.Connection, chat_ids: Iterable[str]) -> None:
    for chat_id in chat_ids:
        db.execute("DELETE FROM wa_messages WHERE chat_id = ?", (chat_id,))
        db.execute("DELETE FROM wa_chats WHERE id = ?", (chat_id,))


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
