"""The production store: Supabase (PostgREST over PostgreSQL) through the `supabase` client,
with the service role key (it bypasses row-level security; the frontend's users do not).
Tables: supabase/migrations. Writes are upserts keyed by primary key, so a batch written twice
(after a crash between rows and position) changes nothing the second time.

One instance per WhatsApp session: every wa_* row it writes carries its `session` and every
read is filtered by it, so sessions share the tables and never see each other's rows. The
helpdesk metadata (keyed by session and chat) and the session registry are served by the
default session's instance, and those methods name the session themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

import httpx
from postgrest import APIError
from postgrest.types import ReturnMethod

from orchestrator.errors import ConflictError, StoreError
from orchestrator.search import words
from orchestrator.store import (
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
from supabase import AsyncClient, acreate_client

T = TypeVar("T")
CHUNK = 500  # rows per request: PostgREST bodies stay small, requests stay few
PAGE = 1000  # rows per read page (PostgREST's usual max-rows)
PARALLEL_READS = 16
PRUNE_INTERVAL = 5.0  # seconds between two prunings of the stream log (three requests each)
UNIQUE_VIOLATION = "23505"  # SQLSTATE; the other class 23 codes are other integrity rules


# The tables holding a session's rows, in deletion order (wa_messages before wa_chats).
PURGED = (
    "chat_assignments", "chat_tags", "chat_status", "chat_notes", "activity_logs", "wa_messages",
    "wa_chats", "wa_contacts", "wa_jid_aliases", "wa_labels", "wa_sync_state", "wa_stream_log",
    "session_settings", "rule_runs", "rule_cursors", "wa_webhook_deliveries", "wa_webhook_events",
)  # fmt: skip
IN_CHUNK = 200  # ids per `in.(...)` filter: the URL stays a few kilobytes
OWED = ("pending", "retrying")  # delivery statuses not finished


def _unscoped(rows: list[Row]) -> list[Row]:
    """History rows as every backend returns them: the session is the store's, not the row's."""
    for row in rows:
        row.pop("session", None)
    return rows


class _Duplicate(ConflictError):
    """A unique key was taken: the caller, who knows which, says so (see create_tag)."""

    def __init__(self) -> None:
        super().__init__("conflict", "the value exists")


class SupabaseStore:
    def __init__(
        self,
        url: str,
        service_role_key: str,
        session: str = "default",
        prune_interval: float = PRUNE_INTERVAL,
    ) -> None:
        self.url = url
        self._key = service_role_key
        self.session = session
        self._client: AsyncClient | None = None
        # Pruning costs three requests; at every batch (five a second) it would double a
        # batch's time. A few seconds more of entries kept changes nothing: a restart applies
        # the exact retention to what it loads.
        self.prune_interval = prune_interval
        self._pruned_at: float | None = None

    async def open(self) -> None:
        if self._client is None:
            self._client = await self._call(acreate_client(self.url, self._key))

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.postgrest.aclose()

    def _db(self) -> AsyncClient:
        if self._client is None:
            raise StoreError(f"supabase {self.url}: not open")
        return self._client

    async def _call(self, request: Awaitable[T]) -> T:
        """Foreign errors become ours here, at the boundary."""
        try:
            return await request
        except APIError as exc:
            code = str(exc.code or "")
            if code == UNIQUE_VIOLATION:
                raise _Duplicate() from exc
            if code.startswith("23"):
                raise constraint_broken() from exc
            raise StoreError(f"supabase {self.url}: {exc.code} {exc.message}") from exc
        except (httpx.HTTPError, OSError) as exc:
            raise StoreError(f"supabase {self.url}: {exc}") from exc

    async def _rows(self, query: Any) -> list[Row]:
        rows: list[Row] = (await self._call(query.execute())).data
        return rows

    async def _all(self, table: str, order: str) -> list[Row]:
        rows: list[Row] = []
        while True:
            query = self._db().table(table).select("*").order(order)
            page = await self._rows(query.range(len(rows), len(rows) + PAGE - 1))
            rows += page
            if len(page) < PAGE:
                return rows

    def _history(self, table: str) -> Any:
        """A select of this session's rows of a wa_* table."""
        return self._db().table(table).select("*").eq("session", self.session)

    async def _session_rows(self, table: str, order: str) -> list[Row]:
        """All of this session's rows of a wa_* table, without the session column: the rows
        are the same as every backend's (a SQLite file holds one session)."""
        rows: list[Row] = []
        while True:
            query = self._history(table).order(order)
            page = await self._rows(query.range(len(rows), len(rows) + PAGE - 1))
            rows += page
            if len(page) < PAGE:
                return _unscoped(rows)

    # ---- history ------------------------------------------------------------------------

    async def load(self, window: int) -> Snapshot:
        await self.open()
        chats = await self._session_rows("wa_chats", "id")
        contacts = await self._session_rows("wa_contacts", "id")
        aliases = {r["lid"]: r["pn"] for r in await self._session_rows("wa_jid_aliases", "lid")}
        pages = (await self.newest_messages([c["id"] for c in chats], window)).values()
        state = await self._rows(
            self._db().table("wa_sync_state").select("epoch,seq,stream,stream_id,stream_ord")
            .eq("session", self.session).eq("id", "bridge")
        )  # fmt: skip
        row = state[0] if state and state[0]["epoch"] else None
        position = Position(row["epoch"], row["seq"], row["stream"]) if row else None
        waiting = await self._waiting()
        messages = [m for page in pages for m in page]
        labels = await self._session_rows("wa_labels", "id")
        entries = []
        if row is not None and row["stream_ord"] is not None:
            entries = await self._stream_log(row["stream_ord"])
        stream_id, stream_ord = (row["stream_id"], row["stream_ord"]) if row else (None, None)
        return Snapshot(
            chats, messages, contacts, aliases, position, waiting, labels, entries, stream_id,
            stream_ord,
        )  # fmt: skip

    async def _stream_log(self, through: int) -> list[StoredEntry]:
        """The stored stream log up to the ord stored with the position, oldest first."""
        rows: list[Row] = []
        while True:
            query = self._history("wa_stream_log").lte("ord", through).order("ord")
            page = await self._rows(query.range(len(rows), len(rows) + PAGE - 1))
            rows += page
            if len(page) < PAGE:
                break
        return [
            StoredEntry(
                r["ord"], r["id"], r["type"], r["chat_id"], r["json"].encode(), r["logged_at"]
            )
            for r in rows
        ]

    async def _waiting(self) -> list[Row]:
        """Every undecryptable ("waiting") message, a page at a time."""
        rows: list[Row] = []
        while True:
            query = self._history("wa_messages").eq("type", "waiting")
            query = query.order("chat_id").order("id")
            page = await self._rows(query.range(len(rows), len(rows) + PAGE - 1))
            rows += page
            if len(page) < PAGE:
                return _unscoped(rows)

    async def newest_messages(self, chat_ids: Sequence[str], limit: int) -> dict[str, list[Row]]:
        # No window functions through PostgREST: each chat's newest, in parallel.
        await self.open()
        parallel = asyncio.Semaphore(PARALLEL_READS)

        async def newest(chat_id: str) -> list[Row]:
            async with parallel:
                return await self._newest(chat_id, limit)

        pages = await asyncio.gather(*(newest(c) for c in chat_ids))
        return dict(zip(chat_ids, pages, strict=True))

    async def _newest(self, chat_id: str, limit: int) -> list[Row]:
        query = self._history("wa_messages").eq("chat_id", chat_id)
        newest_first = query.order("ts", desc=True).order("arrival", desc=True)
        return _unscoped(await self._rows(newest_first.order("id", desc=True).limit(limit)))

    async def write(self, batch: WriteBatch) -> None:
        await self.open()
        db = self._db()
        session = self.session
        await self._upsert("wa_chats", batch.chats.values(), "id")
        for old, new in batch.renamed_chats.items():
            moved = db.table("wa_messages").update({"chat_id": new})
            await self._rows(moved.eq("session", session).eq("chat_id", old))
            await self._rows(db.table("wa_chats").delete().eq("session", session).eq("id", old))
        await self._upsert("wa_messages", batch.messages.values(), "chat_id,id")
        await self._upsert("wa_contacts", batch.contacts.values(), "id")
        aliases = ({"lid": lid, "pn": pn} for lid, pn in batch.aliases.items())
        await self._upsert("wa_jid_aliases", aliases, "lid")
        await self._upsert("wa_labels", batch.labels.values(), "id")
        for chat_id in batch.deleted_chats:  # its messages go by ON DELETE CASCADE
            await self._rows(db.table("wa_chats").delete().eq("session", session).eq("id", chat_id))
        entries = (
            {"id": e.id, "ord": e.ord, "type": e.type, "chat_id": e.chat_id,
             "json": e.json.decode(), "logged_at": e.at}
            for e in batch.entries
        )  # fmt: skip
        await self._upsert("wa_stream_log", entries, "id")
        now = time.monotonic()
        if batch.retention is not None and (
            self._pruned_at is None
            or now - self._pruned_at >= self.prune_interval
            or batch.retention.floor is not None
        ):
            await self._prune_stream_log(batch.retention)
            self._pruned_at = now
        # The outbox after the rows it may follow, events before the deliveries naming them.
        await self._upsert("wa_webhook_events", batch.webhook_events.values(), "id")
        await self._upsert(
            "wa_webhook_deliveries", batch.webhook_deliveries.values(), "webhook_id,event_id"
        )
        if batch.position is not None:
            p = batch.position
            position = {
                "id": "bridge", "epoch": p.epoch, "seq": p.seq, "stream": p.stream,
                "stream_id": batch.stream_id, "stream_ord": batch.stream_ord,
            }  # fmt: skip
            await self._upsert("wa_sync_state", [position], "id")

    async def _prune_stream_log(self, retention: Retention) -> None:
        """As SQLite's: the newest `max_entries` stored since the horizon and the newest of the
        others are kept (see Retention). Two index reads and a delete."""
        newest_first = self._db().table("wa_stream_log").select("ord").eq("session", self.session)
        newest_first = newest_first.order("ord", desc=True)
        n = retention.max_entries
        past_count = await self._rows(newest_first.range(n, n))
        aged = self._db().table("wa_stream_log").select("ord").eq("session", self.session)
        past_age = await self._rows(
            aged.lt("ord", retention.horizon).order("ord", desc=True).limit(1)
        )
        bounds = [rows[0]["ord"] for rows in (past_count, past_age) if rows]
        if retention.floor is not None:
            bounds.append(retention.floor)
        if bounds:
            prune = self._db().table("wa_stream_log").delete(returning=ReturnMethod.minimal)
            prune = prune.eq("session", self.session).lt("ord", max(bounds))
            await self._call(prune.execute())

    async def _upsert(self, table: str, rows: Iterable[Row], key: str) -> None:
        """Upsert this session's rows of a wa_* table; `key` is the key within the session."""
        pending = [{**row, "session": self.session} for row in rows]
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start : start + CHUNK]
            query = (
                self._db()
                .table(table)
                .upsert(chunk, on_conflict=f"session,{key}", returning=ReturnMethod.minimal)
            )
            await self._call(query.execute())

    async def messages_before(
        self, chat_id: str, before_id: str | None, limit: int
    ) -> list[Row] | None:
        await self.open()
        if before_id is None:
            return await self._newest(chat_id, limit)
        table = self._db().table("wa_messages")
        cursor = await self._rows(
            table.select("ts,arrival,id")
            .eq("session", self.session).eq("chat_id", chat_id).eq("id", before_id)
        )  # fmt: skip
        if not cursor:
            return None
        ts, arrival = cursor[0]["ts"], cursor[0]["arrival"]
        # (ts, arrival, id) < (T, A, I) without row comparison: the same second (a few rows,
        # compared here), then older seconds.
        same_second = await self._rows(
            self._history("wa_messages").eq("chat_id", chat_id).eq("ts", ts)
            .order("arrival", desc=True).order("id", desc=True)
        )  # fmt: skip
        same = [r for r in same_second if (r["arrival"], r["id"]) < (arrival, before_id)]
        older = await self._rows(
            self._history("wa_messages").eq("chat_id", chat_id).lt("ts", ts)
            .order("ts", desc=True).order("arrival", desc=True).order("id", desc=True)
            .limit(limit)
        )  # fmt: skip
        return _unscoped((same + older)[:limit])

    async def message(self, chat_id: str, message_id: str) -> Row | None:
        await self.open()
        query = self._history("wa_messages").eq("chat_id", chat_id).eq("id", message_id)
        rows = _unscoped(await self._rows(query))
        return rows[0] if rows else None

    async def search_messages(
        self, query: str, chat_id: str | None, hidden: Collection[str], limit: int, offset: int
    ) -> list[Row]:
        """Through the SQL function search_messages (supabase/migrations/
        20261208120100_message_search.sql), which reads the query as orchestrator.search does."""
        await self.open()
        found = words(query)
        if not found:
            return []
        arguments = {
            "search_session": self.session,
            "query": " ".join(found),  # the words only: no control character reaches SQL
            "search_chat_id": chat_id,
            "hidden_chats": list(hidden),
            "page_limit": limit,
            "page_offset": offset,
        }
        return _unscoped(await self._rows(self._db().rpc("search_messages", arguments)))

    # ---- helpdesk metadata --------------------------------------------------------------

    async def load_metadata(self) -> Metadata:
        await self.open()
        assignments = {
            (r["session"], r["chat_id"]): r for r in await self._all("chat_assignments", "chat_id")
        }
        tags = {r["id"]: r for r in await self._all("tags", "id")}
        chat_tags: dict[tuple[str, str], set[int]] = {}
        for row in await self._all("chat_tags", "chat_id"):
            chat_tags.setdefault((row["session"], row["chat_id"]), set()).add(row["tag_id"])
        profiles = {str(r["id"]): r for r in await self._all("profiles", "id")}
        statuses = {
            (r["session"], r["chat_id"]): r for r in await self._all("chat_status", "chat_id")
        }
        return Metadata(assignments, tags, chat_tags, profiles, statuses)

    async def set_assignment(
        self, session: str, chat_id: str, agent_id: str | None, by: str | None
    ) -> Row | None:
        table = self._db().table("chat_assignments")
        if agent_id is None:
            await self._rows(table.delete().eq("session", session).eq("chat_id", chat_id))
            return None
        row = {"session": session, "chat_id": chat_id, "agent_id": agent_id, "assigned_by": by}
        return (await self._rows(table.upsert(row, on_conflict="session,chat_id")))[0]

    async def set_chat_status(
        self, session: str, chat_id: str, status: str, by: str | None, conversation: str
    ) -> Row:
        # updated_at is set by the table's trigger on every change, from the database's clock.
        row = {
            "session": session, "chat_id": chat_id, "status": status, "updated_by": by,
            "conversation": conversation,
        }  # fmt: skip
        table = self._db().table("chat_status")
        return (await self._rows(table.upsert(row, on_conflict="session,chat_id")))[0]

    async def create_tag(self, name: str, color: str | None) -> Row:
        try:
            rows = await self._rows(self._db().table("tags").insert({"name": name, "color": color}))
        except _Duplicate as exc:
            raise tag_exists(await self._taken("tags", "name", name, None)) from exc
        return rows[0]

    async def _taken(self, table: str, column: str, value: str, other_than: int | None) -> str:
        """The value in `column` that `value` collided with (case aside). The catalogues are
        small; read whole, compared here rather than through a pattern filter that would need
        escaping. Python folds case as PostgreSQL does for all but rare letters: else `value`."""
        folded = value.lower()
        for row in await self._all(table, "id"):
            if row[column].lower() == folded and row["id"] != other_than:
                return str(row[column])
        return value

    async def set_chat_tag(self, session: str, chat_id: str, tag_id: int, on: bool) -> None:
        table = self._db().table("chat_tags")
        if on:
            row = {"session": session, "chat_id": chat_id, "tag_id": tag_id}
            key = "session,chat_id,tag_id"
            query = table.upsert(row, on_conflict=key, ignore_duplicates=True)
        else:
            query = table.delete().eq("session", session).eq("chat_id", chat_id)
            query = query.eq("tag_id", tag_id)
        await self._rows(query)

    async def add_note(self, session: str, chat_id: str, author_id: str | None, body: str) -> Row:
        row = {"session": session, "chat_id": chat_id, "author_id": author_id, "body": body}
        return (await self._rows(self._db().table("chat_notes").insert(row)))[0]

    async def list_notes(self, session: str, chat_id: str) -> list[Row]:
        query = self._db().table("chat_notes").select("*").eq("session", session)
        return await self._rows(query.eq("chat_id", chat_id).order("id"))

    async def quick_replies(self) -> list[Row]:
        return await self._all("quick_replies", "shortcut")

    async def save_quick_reply(self, reply_id: int | None, fields: Row) -> Row | None:
        table = self._db().table("quick_replies")
        try:
            if reply_id is None:
                return (await self._rows(table.insert(fields)))[0]
            changes = {"shortcut": fields["shortcut"], "body": fields["body"]}
            rows = await self._rows(table.update(changes).eq("id", reply_id))
        except _Duplicate as exc:
            shortcut = fields["shortcut"]
            taken = await self._taken("quick_replies", "shortcut", shortcut, reply_id)
            raise quick_reply_exists(taken) from exc
        return rows[0] if rows else None

    async def delete_quick_reply(self, reply_id: int) -> bool:
        rows = await self._rows(self._db().table("quick_replies").delete().eq("id", reply_id))
        return bool(rows)

    async def save_profile(
        self, user_id: str, display_name: str | None, role: str, sessions: list[str] | None = None
    ) -> Row:
        row: Row = {"id": user_id, "display_name": display_name, "role": role}
        if sessions is not None:  # else an existing profile keeps its membership; a new one
            row["sessions"] = sessions  # gets the column default, ["default"]
        return (await self._rows(self._db().table("profiles").upsert(row, on_conflict="id")))[0]

    async def log_activity(
        self,
        session: str | None,
        actor_id: str | None,
        action: str,
        chat_id: str | None,
        details: Row,
    ) -> None:
        row = {
            "session": session,
            "actor_id": actor_id,
            "action": action,
            "chat_id": chat_id,
            "details": details,
        }
        await self._call(
            self._db().table("activity_logs").insert(row, returning=ReturnMethod.minimal).execute()
        )

    async def activity(self, session: str | None, chat_id: str | None, limit: int) -> list[Row]:
        """Newest first. A session's: its rows and those of no session (two reads merged: the
        stand-in has no `or=`, and each read is an index range); None: every row."""

        async def newest(session_filter: Any) -> list[Row]:
            query = session_filter(self._db().table("activity_logs").select("*"))
            if chat_id is not None:
                query = query.eq("chat_id", chat_id)
            return await self._rows(query.order("id", desc=True).limit(limit))

        if session is None:
            return await newest(lambda query: query)
        own = await newest(lambda query: query.eq("session", session))
        unscoped = await newest(lambda query: query.is_("session", "null"))
        return sorted(own + unscoped, key=lambda row: row["id"], reverse=True)[:limit]

    # ---- helpdesk settings and automatic rules ------------------------------------------

    async def load_settings(self, session: str) -> Row | None:
        await self.open()  # read before the first write, like load_metadata
        query = self._db().table("session_settings").select("*").eq("session", session)
        rows = await self._rows(query)
        return rows[0] if rows else None

    async def save_settings(self, session: str, document: Row, by: str | None) -> None:
        # updated_at: the column default on insert, a trigger on update.
        row = {"session": session, "document": document, "updated_by": by}
        table = self._db().table("session_settings")
        query = table.upsert(row, on_conflict="session", returning=ReturnMethod.minimal)
        await self._call(query.execute())

    async def claim_rule_run(
        self, session: str, chat_id: str, rule: str, conversation: str
    ) -> bool:
        await self.open()
        row = {"session": session, "chat_id": chat_id, "rule": rule, "conversation": conversation}
        query = self._db().table("rule_runs").insert(row, returning=ReturnMethod.minimal)
        try:
            await self._call(query.execute())
        except _Duplicate:
            return False
        return True

    async def rule_cursor(self, session: str, rule: str) -> str | None:
        await self.open()
        query = self._db().table("rule_cursors").select("value").eq("session", session)
        rows = await self._rows(query.eq("rule", rule))
        return str(rows[0]["value"]) if rows else None

    async def set_rule_cursor(self, session: str, rule: str, value: str) -> None:
        row = {"session": session, "rule": rule, "value": value}
        table = self._db().table("rule_cursors")
        query = table.upsert(row, on_conflict="session,rule", returning=ReturnMethod.minimal)
        await self._call(query.execute())

    # ---- webhooks -------------------------------------------------------------------------
    # The endpoints are global (served by the default session's instance); the outbox tables
    # are scoped by this instance's session like the wa_* history.

    async def _pages(self, select: Callable[[], Any], limit: int | None = None) -> list[Row]:
        """Every row (or the first `limit`) of the ordered select `select()` builds, a page at
        a time: PostgREST caps a response at its max-rows. A fresh select each page: a
        builder's range() adds to the request in place."""
        rows: list[Row] = []
        while limit is None or len(rows) < limit:
            size = PAGE if limit is None else min(PAGE, limit - len(rows))
            page = await self._rows(select().range(len(rows), len(rows) + size - 1))
            rows += page
            if len(page) < size:
                break
        return rows

    async def list_webhooks(self) -> list[Row]:
        await self.open()  # read at start, like list_sessions
        return await self._pages(
            lambda: self._db().table("wa_webhooks").select("*").order("created_at").order("id")
        )

    async def save_webhook(self, row: Row) -> None:
        """An upsert of every field. The row holds secrets: errors name the table only."""
        table = self._db().table("wa_webhooks")
        query = table.upsert(row, on_conflict="id", returning=ReturnMethod.minimal)
        await self._call(query.execute())

    async def delete_webhook(self, webhook_id: str) -> bool:
        table = self._db().table("wa_webhooks")
        return bool(await self._rows(table.delete().eq("id", webhook_id)))

    async def webhook_backlog(self) -> WebhookBacklog:
        await self.open()
        deliveries = _unscoped(
            await self._pages(
                lambda: self._history("wa_webhook_deliveries").in_("status", OWED)
                .order("ord").order("webhook_id")
            )
        )  # fmt: skip
        events = await self.webhook_events({d["event_id"] for d in deliveries})
        newest = self._db().table("wa_webhook_events").select("ord").eq("session", self.session)
        last = await self._rows(newest.order("ord", desc=True).limit(1))
        dead: dict[str, int] = {}
        for row in await self._pages(
            lambda: self._db().table("wa_webhook_deliveries").select("webhook_id")
            .eq("session", self.session).eq("status", "dead")
            .order("webhook_id").order("event_id")
        ):  # fmt: skip
            dead[row["webhook_id"]] = dead.get(row["webhook_id"], 0) + 1
        return WebhookBacklog(deliveries, events, last[0]["ord"] if last else 0, dead)

    async def webhook_events(self, event_ids: Collection[str]) -> dict[str, Row]:
        await self.open()
        ids = sorted(event_ids)
        events: dict[str, Row] = {}
        for start in range(0, len(ids), IN_CHUNK):
            query = self._history("wa_webhook_events").in_("id", ids[start : start + IN_CHUNK])
            events.update((r["id"], r) for r in _unscoped(await self._rows(query)))
        return events

    async def webhook_deliveries(
        self, webhook_id: str, status: str | None, limit: int
    ) -> list[Row]:
        await self.open()

        def select() -> Any:
            query = self._history("wa_webhook_deliveries").eq("webhook_id", webhook_id)
            if status is not None:
                query = query.eq("status", status)
            return query.order("ord", desc=True).order("event_id", desc=True)

        rows = _unscoped(await self._pages(select, limit))
        events = await self.webhook_events({r["event_id"] for r in rows})
        for row in rows:
            event = events.get(row["event_id"])
            row["type"] = None if event is None else event["type"]
            row["chat_id"] = None if event is None else event["chat_id"]
        return rows

    async def webhook_events_after(self, ord: int, limit: int) -> list[Row]:
        await self.open()
        return _unscoped(
            await self._pages(
                lambda: self._history("wa_webhook_events").gt("ord", ord).order("ord"), limit
            )
        )

    async def drop_webhook_deliveries(self, webhook_id: str) -> None:
        table = self._db().table("wa_webhook_deliveries")
        query = table.delete(returning=ReturnMethod.minimal).eq("session", self.session)
        await self._call(query.eq("webhook_id", webhook_id).execute())

    async def prune_webhooks(self, before: float) -> None:
        """Through the SQL function prune_webhooks (supabase/migrations/
        20261209120000_webhooks.sql): "no delivery names it" is one statement there."""
        await self.open()
        arguments = {"prune_session": self.session, "prune_before": before}
        await self._call(self._db().rpc("prune_webhooks", arguments).execute())

    # ---- session registry ---------------------------------------------------------------

    async def list_sessions(self) -> list[Row]:
        """Oldest first (id breaks ties: sessions created in one transaction share now())."""
        await self.open()  # read at start, like load_metadata
        rows: list[Row] = []
        while True:
            query = self._db().table("whatsapp_sessions").select("*").order("created_at")
            page = await self._rows(query.order("id").range(len(rows), len(rows) + PAGE - 1))
            rows += page
            if len(page) < PAGE:
                return rows

    async def save_session(self, row: Row) -> None:
        """Insert, or update all but the creation time, which is the given one or now. The
        row's proxy may carry credentials: stored, never logged (errors from here name the
        table, not the row)."""
        table = self._db().table("whatsapp_sessions")
        fields = {k: v for k, v in row.items() if k not in ("id", "created_at")}
        exists = await self._rows(table.select("id").eq("id", row["id"]))
        if exists:
            query = table.update(fields, returning=ReturnMethod.minimal).eq("id", row["id"])
        else:  # without created_at the column default, now(), applies
            created = {"created_at": row["created_at"]} if row.get("created_at") else {}
            new = {"id": row["id"], **fields, **created}
            query = table.insert(new, returning=ReturnMethod.minimal)
        await self._call(query.execute())

    async def delete_session(self, session_id: str) -> bool:
        table = self._db().table("whatsapp_sessions")
        return bool(await self._rows(table.delete().eq("id", session_id)))

    async def purge_session(self, session_id: str) -> None:
        """Every row of the session, helpdesk and WhatsApp alike (its registry row aside:
        delete_session). Children before parents, so the cascade has nothing left to do."""
        for table in PURGED:
            query = self._db().table(table).delete(returning=ReturnMethod.minimal)
            await self._call(query.eq("session", session_id).execute())
