"""Helpdesk metadata: assignments, tags, notes, quick replies, activity logs, and who may see
which chat. Assignments and tags live in RAM (every chat listing shows them); each write goes
to the store first, is logged with its actor, and goes out on the streams.

A deployment serves several WhatsApp numbers ("sessions"). The metadata of a chat is keyed by
session and chat (one customer on two numbers is two conversations); tag definitions, quick
replies and profiles are global. `Helpdesk` holds it all; `SessionHelpdesk` is one session's
view, what every per-session component uses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from orchestrator import shapes as s
from orchestrator.errors import Code, Forbidden, NotFound
from orchestrator.principal import STAFF_ROLES, Principal
from orchestrator.store import DEFAULT_SESSION, Metadata, Row, Store

log = logging.getLogger("orchestrator.helpdesk")

Announce = Callable[[str, s.EventType, str | None, Any], None]
"""(session, event type, chat id, data) onto the streams."""


class Helpdesk:
    def __init__(self, store: Store, announce: Announce) -> None:
        self.store = store
        self.announce = announce
        self.metadata = Metadata({}, {}, {}, {})
        self.generation = 0  # goes up with every metadata change (chat lists show it)
        self._scoped: dict[str, SessionHelpdesk] = {}

    async def load(self) -> None:
        self.metadata = await self.store.load_metadata()

    def scoped(self, session_id: str) -> SessionHelpdesk:
        """The helpdesk as one session's components see it (one object per session)."""
        scoped = self._scoped.get(session_id)
        if scoped is None:
            scoped = self._scoped[session_id] = SessionHelpdesk(self, session_id)
        return scoped

    def forget_session(self, session_id: str) -> None:
        """Drop a session's assignments and chat tags from RAM (its rows are purged)."""
        metadata = self.metadata
        for key in [k for k in metadata.assignments if k[0] == session_id]:
            del metadata.assignments[key]
        for key in [k for k in metadata.chat_tags if k[0] == session_id]:
            del metadata.chat_tags[key]
        self._scoped.pop(session_id, None)
        self.generation += 1

    # ---- people -------------------------------------------------------------------------

    def profile(self, user_id: str) -> dict[str, Any] | None:
        return self.metadata.profiles.get(user_id)

    def agents(self) -> list[s.Agent]:
        """Everyone with a helpdesk profile, by name."""
        return [_agent_json(p) for p in self.profiles_by_name()]

    def profiles_by_name(self) -> list[Row]:
        return sorted(
            self.metadata.profiles.values(), key=lambda p: (p.get("display_name") or "", p["id"])
        )

    async def save_profile(
        self,
        actor: Principal,
        user_id: str,
        display_name: str | None,
        role: s.Role,
        sessions: list[str] | None = None,
    ) -> s.Profile:
        """`sessions` None keeps the stored membership (a new profile: ["default"])."""
        membership = None if sessions is None else list(dict.fromkeys(sessions))
        row = await self.store.save_profile(user_id, display_name, role, membership)
        self.metadata.profiles[user_id] = row
        self.generation += 1
        details: Row = {"userId": user_id, "role": role}
        if membership is not None:
            details["sessions"] = membership
        await self.store.log_activity(None, actor.user_id, "profile_saved", None, details)
        return profile_json(row)

    # ---- tags and quick replies (global) ------------------------------------------------

    def tags(self) -> list[s.Tag]:
        return [tag_json(t) for t in sorted(self.metadata.tags.values(), key=lambda t: t["name"])]

    async def create_tag(self, actor: Principal, name: str, color: str | None) -> s.Tag:
        row = await self.store.create_tag(name, color)  # ConflictError when it exists
        self.metadata.tags[row["id"]] = row
        self.generation += 1
        await self.store.log_activity(None, actor.user_id, "tag_created", None, {"name": name})
        return tag_json(row)

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
        await self.store.log_activity(None, actor.user_id, action, None, {"id": row["id"]})
        return quick_reply_json(row)

    async def delete_quick_reply(self, actor: Principal, reply_id: int) -> None:
        if not await self.store.delete_quick_reply(reply_id):
            raise NotFound(Code.NOT_FOUND, f"no quick reply {reply_id}")
        await self.store.log_activity(
            None, actor.user_id, "quick_reply_deleted", None, {"id": reply_id}
        )


class SessionHelpdesk:
    """One session's helpdesk: the per-chat rules and writes bound to the session, and the
    global parts passed through, so a session's Api and HelpdeskApi need nothing else."""

    def __init__(self, helpdesk: Helpdesk, session: str) -> None:
        self.helpdesk = helpdesk
        self.session = session

    @property
    def generation(self) -> int:
        return self.helpdesk.generation

    def _store(self) -> Store:
        return self.helpdesk.store

    def _metadata(self) -> Metadata:
        return self.helpdesk.metadata  # not kept: load() replaces it

    # ---- reading ------------------------------------------------------------------------

    def can_see(self, principal: Principal, chat_id: str | None) -> bool:
        """Only who may use the session sees any of it; there staff see everything, an agent
        the chats assigned to them and unassigned ones."""
        if not principal.may_use(self.session):
            return False
        if principal.is_staff or chat_id is None:
            return True
        assignment = self._metadata().assignments.get((self.session, chat_id))
        return assignment is None or assignment["agent_id"] == principal.user_id

    def not_yours(self, chat_id: str) -> Forbidden:
        return Forbidden(Code.FORBIDDEN, f"chat {chat_id} is assigned to another agent")

    def chat_extras(self, chat_id: str) -> tuple[s.Assignment | None, list[s.Tag]]:
        return self._assignment_json(chat_id), self._tags_json(chat_id)

    def agents(self) -> list[s.Agent]:
        """Who may be assigned this session's chats (its members and staff), by name: what an
        "assign to" picker lists."""
        profiles = self.helpdesk.profiles_by_name()
        return [_agent_json(p) for p in profiles if _may_use(p, self.session)]

    def _assignment_json(self, chat_id: str) -> s.Assignment | None:
        metadata = self._metadata()
        row = metadata.assignments.get((self.session, chat_id))
        if row is None:
            return None
        agent = metadata.profiles.get(row["agent_id"]) or {}
        return {
            "agentId": row["agent_id"],
            "agentName": agent.get("display_name"),
            "assignedBy": row.get("assigned_by"),
            "assignedAt": str(row.get("assigned_at")),
        }

    def _tags_json(self, chat_id: str) -> list[s.Tag]:
        metadata = self._metadata()
        ids = sorted(metadata.chat_tags.get((self.session, chat_id), ()))
        return [tag_json(metadata.tags[i]) for i in ids if i in metadata.tags]

    # ---- assignments --------------------------------------------------------------------

    async def assign(self, actor: Principal, chat_id: str, agent_id: str) -> s.Assignment | None:
        metadata = self._metadata()
        key = (self.session, chat_id)
        current = metadata.assignments.get(key)
        agent = metadata.profiles.get(agent_id)
        if agent is None or not _may_use(agent, self.session):
            raise NotFound(Code.NOT_FOUND, f"no agent {agent_id} in session {self.session}")
        if not actor.is_staff:
            own = current is not None and current["agent_id"] == actor.user_id
            takes = current is None and agent_id == actor.user_id
            if not (own or takes):
                raise Forbidden(
                    Code.FORBIDDEN, "agents may take unassigned chats and hand on their own"
                )
        row = await self._store().set_assignment(self.session, chat_id, agent_id, actor.user_id)
        assert row is not None
        metadata.assignments[key] = row
        self.helpdesk.generation += 1
        action = "chat_transferred" if current else "chat_assigned"
        await self._changed(actor, action, chat_id, {"agentId": agent_id})
        return self._assignment_json(chat_id)

    async def unassign(self, actor: Principal, chat_id: str) -> None:
        metadata = self._metadata()
        key = (self.session, chat_id)
        current = metadata.assignments.get(key)
        if current is None:
            return
        if not actor.is_staff and current["agent_id"] != actor.user_id:
            raise Forbidden(Code.FORBIDDEN, "only staff may unassign another agent's chat")
        await self._store().set_assignment(self.session, chat_id, None, actor.user_id)
        metadata.assignments.pop(key, None)
        self.helpdesk.generation += 1
        await self._changed(actor, "chat_unassigned", chat_id, {"agentId": current["agent_id"]})

    async def assign_by_rule(self, chat_id: str, agent_id: str, rule: str) -> bool:
        """An automatic rule gives an unassigned chat to an agent of the session (no actor):
        announced and logged as any assignment. False when the chat is assigned by now or
        the agent may not have it."""
        metadata = self._metadata()
        key = (self.session, chat_id)
        agent = metadata.profiles.get(agent_id)
        if key in metadata.assignments or agent is None or not _may_use(agent, self.session):
            return False
        row = await self._store().set_assignment(self.session, chat_id, agent_id, None)
        assert row is not None
        metadata.assignments[key] = row
        self.helpdesk.generation += 1
        details = {"agentId": agent_id, "rule": rule}
        await self._store().log_activity(self.session, None, "chat_assigned", chat_id, details)
        data = {"chatId": chat_id, "assignment": self._assignment_json(chat_id)}
        self.helpdesk.announce(self.session, "assignment_changed", chat_id, data)
        return True

    async def _changed(self, actor: Principal, action: str, chat_id: str, details: Row) -> None:
        await self._log(actor, action, chat_id, details)
        data = {"chatId": chat_id, "assignment": self._assignment_json(chat_id)}
        self.helpdesk.announce(self.session, "assignment_changed", chat_id, data)

    async def _log(self, actor: Principal, action: str, chat_id: str, details: Row) -> None:
        await self._store().log_activity(self.session, actor.user_id, action, chat_id, details)

    # ---- tags ---------------------------------------------------------------------------

    def tags(self) -> list[s.Tag]:
        return self.helpdesk.tags()

    async def create_tag(self, actor: Principal, name: str, color: str | None) -> s.Tag:
        return await self.helpdesk.create_tag(actor, name, color)

    async def set_tag(self, actor: Principal, chat_id: str, tag_id: int, on: bool) -> None:
        metadata = self._metadata()
        if tag_id not in metadata.tags:
            raise NotFound(Code.NOT_FOUND, f"no tag {tag_id}")
        tagged = metadata.chat_tags.setdefault((self.session, chat_id), set())
        if (tag_id in tagged) == on:
            return
        await self._store().set_chat_tag(self.session, chat_id, tag_id, on)
        if on:
            tagged.add(tag_id)
        else:
            tagged.discard(tag_id)
        self.helpdesk.generation += 1
        await self._log(actor, "chat_tagged" if on else "chat_untagged", chat_id, {"tagId": tag_id})
        data = {"chatId": chat_id, "tags": self._tags_json(chat_id)}
        self.helpdesk.announce(self.session, "tags_changed", chat_id, data)

    # ---- notes, quick replies, activity -------------------------------------------------

    async def add_note(self, actor: Principal, chat_id: str, body: str) -> s.Note:
        row = await self._store().add_note(self.session, chat_id, actor.user_id, body)
        await self._log(actor, "note_added", chat_id, {"noteId": row["id"]})
        note = note_json(row)
        data = {"chatId": chat_id, "note": note}
        self.helpdesk.announce(self.session, "note_added", chat_id, data)
        return note

    async def notes(self, chat_id: str) -> list[s.Note]:
        return [note_json(r) for r in await self._store().list_notes(self.session, chat_id)]

    async def quick_replies(self) -> list[s.QuickReply]:
        return await self.helpdesk.quick_replies()

    async def save_quick_reply(
        self, actor: Principal, reply_id: int | None, shortcut: str, body: str
    ) -> s.QuickReply:
        return await self.helpdesk.save_quick_reply(actor, reply_id, shortcut, body)

    async def delete_quick_reply(self, actor: Principal, reply_id: int) -> None:
        await self.helpdesk.delete_quick_reply(actor, reply_id)

    async def activity(self, chat_id: str | None, limit: int) -> list[s.Activity]:
        """This session's activity (and, without a chat, the global actions), newest first."""
        rows = await self._store().activity(self.session, chat_id, limit)
        return [activity_json(r) for r in rows]

    async def message_sent(self, actor: Principal, chat_id: str, message_id: str) -> None:
        """Attribute a message to the agent who sent it."""
        await self._log(actor, "message_sent", chat_id, {"messageId": message_id})

    async def auto_reply_sent(self, chat_id: str, rule: str, message_id: str) -> None:
        """Attribute a message to the automatic rule that sent it (no actor)."""
        details = {"rule": rule, "messageId": message_id}
        await self._store().log_activity(self.session, None, "auto_reply_sent", chat_id, details)

    # ---- people -------------------------------------------------------------------------

    async def save_profile(
        self,
        actor: Principal,
        user_id: str,
        display_name: str | None,
        role: s.Role,
        sessions: list[str] | None = None,
    ) -> s.Profile:
        return await self.helpdesk.save_profile(actor, user_id, display_name, role, sessions)


def _may_use(profile: Row, session_id: str) -> bool:
    """What Principal.may_use says of the profile's owner."""
    staff = profile.get("role") in STAFF_ROLES
    return staff or session_id in profile.get("sessions", (DEFAULT_SESSION,))


def _agent_json(profile: Row) -> s.Agent:
    return {"id": profile["id"], "name": profile.get("display_name"), "role": profile["role"]}


def profile_json(row: Row) -> s.Profile:
    return {
        "id": row["id"],
        "displayName": row.get("display_name"),
        "role": row["role"],
        "sessions": list(row.get("sessions", (DEFAULT_SESSION,))),
    }


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


def activity_json(row: Row) -> s.Activity:
    return {
        "id": row["id"],
        "actorId": row.get("actor_id"),
        "action": row["action"],
        "chatId": row.get("chat_id"),
        "details": row.get("details"),
        "createdAt": str(row["created_at"]),
    }
