"""Helpdesk metadata: assignments, tags, notes, quick replies, activity logs, and who may see
which chat. Assignments and tags live in RAM (every chat listing shows them); each write goes
to the store first, is logged with its actor, and goes out on the streams.

A deployment serves several WhatsApp numbers ("sessions"). The metadata of a chat is keyed by
session and chat (one customer on two numbers is two conversations); tag definitions, quick
replies and profiles are global. `Helpdesk` holds it all; `SessionHelpdesk` is one session's
view, what every per-session component uses."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from orchestrator import domain as d
from orchestrator import shapes as s
from orchestrator.errors import Code, Forbidden, NotFound, StoreError
from orchestrator.principal import STAFF_ROLES, Principal
from orchestrator.store import DEFAULT_SESSION, Metadata, Row, Store

log = logging.getLogger("orchestrator.helpdesk")

Announce = Callable[[str, s.EventType, str | None, Any], None]
"""(session, event type, chat id, data) onto the streams."""

ChatView = Callable[[str], Any]
"""A chat id -> the Chat as the streams carry it (None: no such chat in the session)."""


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
        for key in [k for k in metadata.statuses if k[0] == session_id]:
            del metadata.statuses[key]
        self._scoped.pop(session_id, None)
        self.generation += 1

    # ---- people -------------------------------------------------------------------------

    def profile(self, user_id: str) -> dict[str, Any] | None:
        return self.metadata.profiles.get(user_id)

    def may_use(self, user_id: str, session_id: str) -> bool:
        """Whether the user's profile (as it is now) lets them work on the session."""
        profile = self.metadata.profiles.get(user_id)
        return profile is not None and _may_use(profile, session_id)

    def display_name(self, user_id: str) -> str | None:
        profile = self.metadata.profiles.get(user_id)
        return None if profile is None else profile.get("display_name")

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
        self._chat_view: ChatView = lambda chat_id: None
        self._writes: set[asyncio.Task[None]] = set()  # status writes the event path started

    def bind_chat_view(self, view: ChatView) -> None:
        """How the session renders a chat: a status change goes out as a chat_update carrying
        the whole Chat, which only the session's views can build."""
        self._chat_view = view

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

    def hidden_chats(self, principal: Principal) -> list[str]:
        """The session's chats the principal may not see (for a member of it): those assigned
        to another agent. Every other chat, known or not yet, is visible."""
        if principal.is_staff:
            return []
        return [
            chat_id
            for (session, chat_id), row in self._metadata().assignments.items()
            if session == self.session and row["agent_id"] != principal.user_id
        ]

    def not_yours(self, chat_id: str) -> Forbidden:
        return Forbidden(Code.FORBIDDEN, f"chat {chat_id} is assigned to another agent")

    def chat_extras(self, chat_id: str) -> tuple[s.Assignment | None, list[s.Tag]]:
        return self._assignment_json(chat_id), self._tags_json(chat_id)

    def chat_status(self, chat_id: str) -> s.ChatStatus:
        row = self._metadata().statuses.get((self.session, chat_id))
        return "open" if row is None else row["status"]

    def conversation(self, chat_id: str) -> str | None:
        """The name of the chat's open conversation ('' the first), None while it is pending or
        resolved. A reopening by a customer's message is named after that message, so the
        replay of it after a restart (its write may not have landed) names the same one."""
        row = self._metadata().statuses.get((self.session, chat_id))
        if row is None:
            return ""
        return str(row.get("conversation") or "") if row["status"] == "open" else None

    def assignee(self, chat_id: str) -> str | None:
        row = self._metadata().assignments.get((self.session, chat_id))
        return None if row is None else str(row["agent_id"])

    def chat_tag_ids(self, chat_id: str) -> set[int]:
        return self._metadata().chat_tags.get((self.session, chat_id), set())

    def has_profile(self, user_id: str) -> bool:
        return user_id in self._metadata().profiles

    def tag_exists(self, tag_id: int) -> bool:
        return tag_id in self._metadata().tags

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
        action = "chat_transferred" if current else "chat_assigned"
        previous = current["agent_id"] if current else None
        await self._write_assignment(
            chat_id, agent_id, actor.user_id, action, {"agentId": agent_id}, previous
        )
        return self._assignment_json(chat_id)

    async def unassign(self, actor: Principal, chat_id: str) -> None:
        current = self._metadata().assignments.get((self.session, chat_id))
        if current is None:
            return
        if not actor.is_staff and current["agent_id"] != actor.user_id:
            raise Forbidden(Code.FORBIDDEN, "only staff may unassign another agent's chat")
        previous = current["agent_id"]
        await self._write_assignment(
            chat_id, None, actor.user_id, "chat_unassigned", {"agentId": previous}, previous
        )

    async def assign_by_rule(self, chat_id: str, agent_id: str, rule: str) -> bool:
        """An automatic rule gives an unassigned chat to an agent of the session (no actor):
        announced and logged as any assignment. False when the chat is assigned by now or
        the agent may not have it."""
        metadata = self._metadata()
        agent = metadata.profiles.get(agent_id)
        taken = (self.session, chat_id) in metadata.assignments
        if taken or agent is None or not _may_use(agent, self.session):
            return False
        details = {"agentId": agent_id, "rule": rule}
        await self._write_assignment(chat_id, agent_id, None, "chat_assigned", details, None)
        return True

    async def _write_assignment(
        self,
        chat_id: str,
        agent_id: str | None,
        by: str | None,
        action: str,
        details: Row,
        previous: str | None,
    ) -> None:
        """Store, keep, log and announce an assignment (None: the chat released). `previous`:
        who had the chat before; the stream lets the agents who saw the chat before the change
        hear of it too (streams.py)."""
        key = (self.session, chat_id)
        row = await self._store().set_assignment(self.session, chat_id, agent_id, by)
        if agent_id is None:
            self._metadata().assignments.pop(key, None)
        else:
            assert row is not None
            self._metadata().assignments[key] = row
        self.helpdesk.generation += 1
        await self._store().log_activity(self.session, by, action, chat_id, details)
        data = {
            "chatId": chat_id,
            "assignment": self._assignment_json(chat_id),
            "previousAgentId": previous,
        }
        self.helpdesk.announce(self.session, "assignment_changed", chat_id, data)

    async def _log(self, actor: Principal, action: str, chat_id: str, details: Row) -> None:
        await self._store().log_activity(self.session, actor.user_id, action, chat_id, details)

    # ---- status -------------------------------------------------------------------------

    async def set_status(self, actor: Principal, chat_id: str, status: s.ChatStatus) -> None:
        """Who may see the chat may change its status (the caller checked that)."""
        current = self.chat_status(chat_id)
        if current == status:
            return
        key = (self.session, chat_id)
        previous = self._metadata().statuses.get(key) or {}
        # Opening by hand starts a new conversation; pending or resolved keeps its name.
        conversation = (
            f"by:{secrets.token_hex(8)}" if status == "open" else previous.get("conversation", "")
        )
        row = await self._store().set_chat_status(
            self.session, chat_id, status, actor.user_id, conversation
        )
        self._metadata().statuses[key] = row
        self.helpdesk.generation += 1
        await self._log(actor, "status_changed", chat_id, {"from": current, "to": status})
        self._chat_changed(chat_id)

    def customer_wrote(self, chat_id: str, message: d.Message, *, persist: bool = True) -> None:
        """A customer's new message (not ours, not history): a pending or resolved chat opens
        again, unless the message is older than the status (a replay after a restart, or a
        late delivery, of what the agent had already seen when resolving). Called on the event
        path: RAM and the streams change now, the store write follows in the background.
        `persist` False: RAM and the streams only (replicas that share a store all follow the
        number; one of them writes, and logs, the reopening)."""
        key = (self.session, chat_id)
        row = self._metadata().statuses.get(key)
        if row is None or row["status"] == "open":
            return
        # WhatsApp's times are whole seconds: a message of the second the status changed in
        # counts as newer (a customer's answer must never be missed).
        if message.timestamp < int(_unix_seconds(row["updated_at"])):
            return
        previous = row["status"]
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._metadata().statuses[key] = {
            "session": self.session, "chat_id": chat_id, "status": "open",
            "updated_by": None, "updated_at": now, "conversation": reopened_by(message.id),
        }  # fmt: skip
        self.helpdesk.generation += 1
        self._chat_changed(chat_id)
        if not persist:
            return
        write = asyncio.get_running_loop().create_task(
            self._store_reopened(chat_id, previous, message.id)
        )
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Until the store writes the event path started are done (a stopping session waits
        for them, so a reopening is not lost on a clean shutdown)."""
        await asyncio.gather(*self._writes)

    async def _store_reopened(self, chat_id: str, previous: str, message_id: str) -> None:
        try:
            await self._store().set_chat_status(
                self.session, chat_id, "open", None, reopened_by(message_id)
            )
            details = {"from": previous, "to": "open", "messageId": message_id}
            await self._store().log_activity(
                self.session, None, "status_reopened", chat_id, details
            )
        except StoreError as exc:
            # RAM says open; after a restart the store's status comes back, and the message
            # (older than it, if it was stored) does not reopen it again: say so loudly.
            log.error(
                "session %s: could not store the reopening of %s by message %s: %s",
                self.session, chat_id, message_id, exc,
            )  # fmt: skip

    def _chat_changed(self, chat_id: str) -> None:
        chat = self._chat_view(chat_id)
        if chat is not None:
            self.helpdesk.announce(self.session, "chat_update", chat_id, chat)

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


def _unix_seconds(stamp: Any) -> float:
    """A store's timestamp (ISO 8601 text from SQLite or PostgREST, or a datetime) in unix
    seconds; an unreadable one as 0 (then any message counts as newer)."""
    if isinstance(stamp, datetime):
        moment = stamp
    else:
        try:
            moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def reopened_by(message_id: str) -> str:
    """The name of a conversation a customer's message reopened."""
    return f"msg:{message_id}"


def _may_use(profile: Row, session_id: str) -> bool:
    """What Principal.may_use says of the profile's owner."""
    staff = profile.get("role") in STAFF_ROLES
    return staff or session_id in profile.get("sessions", (DEFAULT_SESSION,))


def _agent_json(profile: Row) -> s.Agent:
    """Presence (`online`, `activity`) is filled in by who knows it (HelpdeskApi.agents)."""
    return {
        "id": profile["id"],
        "name": profile.get("display_name"),
        "role": profile["role"],
        "online": False,
        "activity": [],
    }


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
