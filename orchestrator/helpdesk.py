"""Helpdesk metadata: assignments, tags, notes, quick replies, activity logs, and who may see
which chat. Assignments and tags live in RAM (every chat listing shows them); each write goes
to the store first, is logged with its actor, and goes out on the streams."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from orchestrator import shapes as s
from orchestrator.errors import Code, Forbidden, NotFound
from orchestrator.principal import Principal
from orchestrator.store import Metadata, Row, Store

log = logging.getLogger("orchestrator.helpdesk")

Announce = Callable[[str, s.EventType, str | None, Any], None]  # (session, type, chat, data)


class Helpdesk:
    def __init__(self, store: Store, announce: Announce, session: str = "default") -> None:
        self.store = store
        self.session = session
        self._announce_to = announce  # (session, type, chat id, data) onto the streams
        self.metadata = Metadata({}, {}, {}, {})
        self.generation = 0  # goes up with every metadata change (chat lists show it)

    async def load(self) -> None:
        loaded = await self.store.load_metadata()
        for mine, theirs in (
            (self.metadata.assignments, loaded.assignments),
            (self.metadata.tags, loaded.tags),
            (self.metadata.chat_tags, loaded.chat_tags),
            (self.metadata.profiles, loaded.profiles),
        ):
            mine.clear()
            mine.update(theirs)  # type: ignore[attr-defined]

    # ---- reading ------------------------------------------------------------------------

    def profile(self, user_id: str) -> dict[str, Any] | None:
        return self.metadata.profiles.get(user_id)

    def scoped(self, session: str) -> SessionHelpdesk:
        scoped = Helpdesk(self.store, self._announce_to, session)
        scoped.metadata = self.metadata
        return scoped

    def forget_session(self, session: str) -> None:
        pass

    def _announce(self, event_type: s.EventType, chat_id: str | None, data: Any) -> None:
        self._announce_to(self.session, event_type, chat_id, data)

    def can_see(self, principal: Principal, chat_id: str | None) -> bool:
        """Staff see everything; an agent sees the chats assigned to them and unassigned ones."""
        if not principal.may_use(self.session):
            return False
        if principal.is_staff or chat_id is None:
            return True
        assignment = self.metadata.assignments.get(chat_id)
        return assignment is None or assignment["agent_id"] == principal.user_id

    def not_yours(self, chat_id: str) -> Forbidden:
        return Forbidden(Code.FORBIDDEN, f"chat {chat_id} is assigned to another agent")

    def chat_extras(self, chat_id: str) -> tuple[s.Assignment | None, list[s.Tag]]:
        return self._assignment_json(chat_id), self._tags_json(chat_id)

    def agents(self) -> list[s.Agent]:
        """Everyone with a helpdesk profile, by name: what an "assign to" picker lists."""
        profiles = sorted(
            self.metadata.profiles.values(), key=lambda p: (p.get("display_name") or "", p["id"])
        )
        return [{"id": p["id"], "name": p.get("display_name"), "role": p["role"]} for p in profiles]

    def _assignment_json(self, chat_id: str) -> s.Assignment | None:
        row = self.metadata.assignments.get(chat_id)
        if row is None:
            return None
        agent = self.metadata.profiles.get(row["agent_id"]) or {}
        return {
            "agentId": row["agent_id"],
            "agentName": agent.get("display_name"),
            "assignedBy": row.get("assigned_by"),
            "assignedAt": str(row.get("assigned_at")),
        }

    def _tags_json(self, chat_id: str) -> list[s.Tag]:
        tags = self.metadata.tags
        ids = sorted(self.metadata.chat_tags.get(chat_id, ()))
        return [tag_json(tags[i]) for i in ids if i in tags]

    # ---- assignments --------------------------------------------------------------------

    async def assign(self, actor: Principal, chat_id: str, agent_id: str) -> s.Assignment | None:
        current = self.metadata.assignments.get(chat_id)
        if agent_id not in self.metadata.profiles:
            raise NotFound(Code.NOT_FOUND, f"no agent {agent_id}")
        if not actor.is_staff:
            own = current is not None and current["agent_id"] == actor.user_id
            takes = current is None and agent_id == actor.user_id
            if not (own or takes):
                raise Forbidden(
                    Code.FORBIDDEN, "agents may take unassigned chats and hand on their own"
                )
        row = await self.store.set_assignment(chat_id, agent_id, actor.user_id)
        assert row is not None
        self.metadata.assignments[chat_id] = row
        self.generation += 1
        action = "chat_transferred" if current else "chat_assigned"
        await self._changed(actor, action, chat_id, {"agentId": agent_id})
        return self._assignment_json(chat_id)

    async def unassign(self, actor: Principal, chat_id: str) -> None:
        current = self.metadata.assignments.get(chat_id)
        if current is None:
            return
        if not actor.is_staff and current["agent_id"] != actor.user_id:
            raise Forbidden(Code.FORBIDDEN, "only staff may unassign another agent's chat")
        await self.store.set_assignment(chat_id, None, actor.user_id)
        del self.metadata.assignments[chat_id]
        self.generation += 1
        await self._changed(actor, "chat_unassigned", chat_id, {"agentId": current["agent_id"]})

    async def _changed(self, actor: Principal, action: str, chat_id: str, details: Row) -> None:
        await self.store.log_activity(actor.user_id, action, chat_id, details)
        self._announce(
            "assignment_changed",
            chat_id,
            {"chatId": chat_id, "assignment": self._assignment_json(chat_id)},
        )

    # ---- tags ---------------------------------------------------------------------------

    def tags(self) -> list[s.Tag]:
        return [tag_json(t) for t in sorted(self.metadata.tags.values(), key=lambda t: t["name"])]

    async def create_tag(self, actor: Principal, name: str, color: str | None) -> s.Tag:
        row = await self.store.create_tag(name, color)  # ConflictError when it exists
        self.metadata.tags[row["id"]] = row
        self.generation += 1
        await self.store.log_activity(actor.user_id, "tag_created", None, {"name": name})
        return tag_json(row)

    async def set_tag(self, actor: Principal, chat_id: str, tag_id: int, on: bool) -> None:
        if tag_id not in self.metadata.tags:
            raise NotFound(Code.NOT_FOUND, f"no tag {tag_id}")
        tagged = self.metadata.chat_tags.setdefault(chat_id, set())
        if (tag_id in tagged) == on:
            return
        await self.store.set_chat_tag(chat_id, tag_id, on)
        if on:
            tagged.add(tag_id)
        else:
            tagged.discard(tag_id)
        self.generation += 1
        action = "chat_tagged" if on else "chat_untagged"
        await self.store.log_activity(actor.user_id, action, chat_id, {"tagId": tag_id})
        self._announce(
            "tags_changed", chat_id, {"chatId": chat_id, "tags": self._tags_json(chat_id)}
        )

    # ---- notes and quick replies --------------------------------------------------------

    async def add_note(self, actor: Principal, chat_id: str, body: str) -> s.Note:
        row = await self.store.add_note(chat_id, actor.user_id, body)
        await self.store.log_activity(actor.user_id, "note_added", chat_id, {"noteId": row["id"]})
        note = note_json(row)
        self._announce("note_added", chat_id, {"chatId": chat_id, "note": note})
        return note

    async def notes(self, chat_id: str) -> list[s.Note]:
        return [note_json(r) for r in await self.store.list_notes(chat_id)]

    async def quick_replies(self) -> list[s.QuickReply]:
        return [quick_reply_json(r) for r in await self.store.quick_replies()]

    async def save_quick_reply(
        self, actor: Principal, reply_id: int | None, shortcut: str, body: str
    ) -> s.QuickReply:
        fields = {"shortcut": shortcut, "body": body, "created_by": actor.user_id}
        row = await self.store.save_quick_reply(reply_id, fields)
        if row is None:
            raise NotFound(Code.NOT_FOUND, f"no quick reply {reply_id}")
        action = "quick_reply_created" if reply_id is None else "quick_reply_updated"
        await self.store.log_activity(actor.user_id, action, None, {"id": row["id"]})
        return quick_reply_json(row)

    async def delete_quick_reply(self, actor: Principal, reply_id: int) -> None:
        if not await self.store.delete_quick_reply(reply_id):
            raise NotFound(Code.NOT_FOUND, f"no quick reply {reply_id}")
        await self.store.log_activity(actor.user_id, "quick_reply_deleted", None, {"id": reply_id})

    # ---- people -------------------------------------------------------------------------

    async def save_profile(
        self, actor: Principal, user_id: str, display_name: str | None, role: s.Role
    ) -> s.Profile:
        row = await self.store.save_profile(user_id, display_name, role)
        self.metadata.profiles[user_id] = row
        self.generation += 1
        await self.store.log_activity(
            actor.user_id, "profile_saved", None, {"userId": user_id, "role": role}
        )
        return {"id": row["id"], "displayName": row.get("display_name"), "role": row["role"]}

    async def message_sent(self, actor: Principal, chat_id: str, message_id: str) -> None:
        """Attribute a message to the agent who sent it."""
        await self.store.log_activity(
            actor.user_id, "message_sent", chat_id, {"messageId": message_id}
        )


def tag_json(row: Row) -> s.Tag:
    return {"id": row["id"], "name": row["name"], "color": row.get("color")}


def note_json(row: Row) -> s.Note:
    return {
        "id": row["id"],
        "chatId": row["chat_id"],
        "authorId": row.get("author_id"),
        "body": row["body"],
        "createdAt": str(row["created_at"]),
    }


def quick_reply_json(row: Row) -> s.QuickReply:
    return {"id": row["id"], "shortcut": row["shortcut"], "body": row["body"]}


SessionHelpdesk = Helpdesk  # placeholder until the helpdesk keys its metadata by session
