"""The production store: Supabase (PostgREST over PostgreSQL) through the `supabase` client,
with the service role key (it bypasses row-level security; the frontend's users do not).
Tables: supabase/migrations. Writes are upserts keyed by primary key, so a batch written twice
(after a crash between rows and position) changes nothing the second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import httpx
from postgrest import APIError
from postgrest.types import ReturnMethod

from orchestrator.errors import ConflictError, StoreError
from orchestrator.store import (
    Metadata,
    Row,
    Snapshot,
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
UNIQUE_VIOLATION = "23505"  # SQLSTATE; the other class 23 codes are other integrity rules


class _Duplicate(ConflictError):
    """A unique key was taken: the caller, who knows which, says so (see create_tag)."""

    def __init__(self) -> None:
        super().__init__("conflict", "the value exists")


class SupabaseStore:
    def __init__(self, url: str, service_role_key: str) -> None:
        self.url = url
        self._key = service_role_key
        self._client: AsyncClient | None = None

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

    # ---- history ------------------------------------------------------------------------

    async def load(self, window: int) -> Snapshot:
        await self.open()
        chats = await self._all("wa_chats", "id")
        contacts = await self._all("wa_contacts", "id")
        aliases = {r["lid"]: r["pn"] for r in await self._all("wa_jid_aliases", "lid")}
        # No window functions through PostgREST: the newest `window` of each chat, in parallel.
        limit = asyncio.Semaphore(PARALLEL_READS)

        async def recent(chat_id: str) -> list[Row]:
            async with limit:
                return await self._newest(chat_id, window)

        pages = await asyncio.gather(*(recent(c["id"]) for c in chats))
        state = await self._rows(
            self._db().table("wa_sync_state").select("epoch,seq").eq("id", "bridge")
        )
        position = Position(state[0]["epoch"], state[0]["seq"]) if state else None
        waiting = await self._waiting()
        messages = [m for page in pages for m in page]
        return Snapshot(chats, messages, contacts, aliases, position, waiting)

    async def _waiting(self) -> list[Row]:
        """Every undecryptable ("waiting") message, a page at a time."""
        rows: list[Row] = []
        while True:
            query = self._db().table("wa_messages").select("*").eq("type", "waiting")
            query = query.order("chat_id").order("id")
            page = await self._rows(query.range(len(rows), len(rows) + PAGE - 1))
            rows += page
            if len(page) < PAGE:
                return rows

    async def _newest(self, chat_id: str, limit: int) -> list[Row]:
        query = self._db().table("wa_messages").select("*").eq("chat_id", chat_id)
        newest_first = query.order("ts", desc=True).order("arrival", desc=True)
        return await self._rows(newest_first.order("id", desc=True).limit(limit))

    async def write(self, batch: WriteBatch) -> None:
        await self.open()
        db = self._db()
        await self._upsert("wa_chats", batch.chats.values(), "id")
        for old, new in batch.renamed_chats.items():
            await self._rows(db.table("wa_messages").update({"chat_id": new}).eq("chat_id", old))
            await self._rows(db.table("wa_chats").delete().eq("id", old))
        await self._upsert("wa_messages", batch.messages.values(), "chat_id,id")
        await self._upsert("wa_contacts", batch.contacts.values(), "id")
        aliases = ({"lid": lid, "pn": pn} for lid, pn in batch.aliases.items())
        await self._upsert("wa_jid_aliases", aliases, "lid")
        for chat_id in batch.deleted_chats:  # its messages go by ON DELETE CASCADE
            await self._rows(db.table("wa_chats").delete().eq("id", chat_id))
        if batch.position is not None:
            position = {"id": "bridge", "epoch": batch.position.epoch, "seq": batch.position.seq}
            await self._upsert("wa_sync_state", [position], "id")

    async def _upsert(self, table: str, rows: Iterable[Row], key: str) -> None:
        pending = list(rows)
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start : start + CHUNK]
            query = (
                self._db()
                .table(table)
                .upsert(chunk, on_conflict=key, returning=ReturnMethod.minimal)
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
            table.select("ts,arrival,id").eq("chat_id", chat_id).eq("id", before_id)
        )
        if not cursor:
            return None
        ts, arrival = cursor[0]["ts"], cursor[0]["arrival"]
        # (ts, arrival, id) < (T, A, I) without row comparison: the same second (a few rows,
        # compared here), then older seconds.
        same_second = await self._rows(
            self._db().table("wa_messages").select("*").eq("chat_id", chat_id).eq("ts", ts)
            .order("arrival", desc=True).order("id", desc=True)
        )  # fmt: skip
        same = [r for r in same_second if (r["arrival"], r["id"]) < (arrival, before_id)]
        older = await self._rows(
            self._db().table("wa_messages").select("*").eq("chat_id", chat_id).lt("ts", ts)
            .order("ts", desc=True).order("arrival", desc=True).order("id", desc=True)
            .limit(limit)
        )  # fmt: skip
        return (same + older)[:limit]

    # ---- helpdesk metadata --------------------------------------------------------------

    async def load_metadata(self) -> Metadata:
        await self.open()
        assignments = {r["chat_id"]: r for r in await self._all("chat_assignments", "chat_id")}
        tags = {r["id"]: r for r in await self._all("tags", "id")}
        chat_tags: dict[str, set[int]] = {}
        for row in await self._all("chat_tags", "chat_id"):
            chat_tags.setdefault(row["chat_id"], set()).add(row["tag_id"])
        profiles = {str(r["id"]): r for r in await self._all("profiles", "id")}
        return Metadata(assignments, tags, chat_tags, profiles)

    async def set_assignment(
        self, chat_id: str, agent_id: str | None, by: str | None
    ) -> Row | None:
        table = self._db().table("chat_assignments")
        if agent_id is None:
            await self._rows(table.delete().eq("chat_id", chat_id))
            return None
        row = {"chat_id": chat_id, "agent_id": agent_id, "assigned_by": by}
        return (await self._rows(table.upsert(row, on_conflict="chat_id")))[0]

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

    async def set_chat_tag(self, chat_id: str, tag_id: int, on: bool) -> None:
        table = self._db().table("chat_tags")
        if on:
            row = {"chat_id": chat_id, "tag_id": tag_id}
            query = table.upsert(row, on_conflict="chat_id,tag_id", ignore_duplicates=True)
        else:
            query = table.delete().eq("chat_id", chat_id).eq("tag_id", tag_id)
        await self._rows(query)

    async def add_note(self, chat_id: str, author_id: str | None, body: str) -> Row:
        row = {"chat_id": chat_id, "author_id": author_id, "body": body}
        return (await self._rows(self._db().table("chat_notes").insert(row)))[0]

    async def list_notes(self, chat_id: str) -> list[Row]:
        query = self._db().table("chat_notes").select("*").eq("chat_id", chat_id)
        return await self._rows(query.order("id"))

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

    async def save_profile(self, user_id: str, display_name: str | None, role: str) -> Row:
        row = {"id": user_id, "display_name": display_name, "role": role}
        return (await self._rows(self._db().table("profiles").upsert(row, on_conflict="id")))[0]

    async def log_activity(
        self, actor_id: str | None, action: str, chat_id: str | None, details: Row
    ) -> None:
        row = {"actor_id": actor_id, "action": action, "chat_id": chat_id, "details": details}
        await self._call(
            self._db().table("activity_logs").insert(row, returning=ReturnMethod.minimal).execute()
        )

    async def activity(self, chat_id: str | None, limit: int) -> list[Row]:
        query = self._db().table("activity_logs").select("*")
        if chat_id is not None:
            query = query.eq("chat_id", chat_id)
        return await self._rows(query.order("id", desc=True).limit(limit))
