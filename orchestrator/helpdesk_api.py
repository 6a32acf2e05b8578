"""Routes for the helpdesk metadata: who is asking, agents, assignments, chat status and the
inbox counts, tags, notes, quick replies, activity, profiles. Who may call which route is in
the route table; the finer rules (an agent takes only unassigned chats) in `helpdesk`."""

from __future__ import annotations

from orchestrator import shapes as s
from orchestrator.agentpresence import AgentPresence
from orchestrator.api import Api
from orchestrator.calls import Call
from orchestrator.errors import BadRequest, Code
from orchestrator.helpdesk import SessionHelpdesk
from orchestrator.inbox import counts, read_status

MAX_USER_ID = 100


class HelpdeskApi:
    def __init__(
        self, helpdesk: SessionHelpdesk, api: Api, presence: AgentPresence | None = None
    ) -> None:
        self.helpdesk = helpdesk
        self.api = api
        self.presence = presence

    async def me(self, call: Call[None]) -> s.Me:
        user = call.user
        limit = user.session_limit  # a narrowed stream token: its sessions
        return {
            "userId": user.user_id,
            "role": user.role,
            "name": user.name,
            "sessions": sorted(user.sessions if limit is None else limit),
            "allSessions": limit is None,
        }

    async def agents(self, call: Call[None]) -> s.AgentList:
        """Each with `online` and what they do now in the chats the caller may see: the
        snapshot a (re)connecting client starts from, before agent_presence envelopes."""
        agents = self.helpdesk.agents()
        presence, session = self.presence, self.helpdesk.session
        if presence is not None:
            for agent in agents:
                agent["online"] = presence.is_online(agent["id"])
                agent["activity"] = [
                    {"chatId": chat_id, "state": state}
                    for chat_id, state in presence.activity(agent["id"], session)
                    if self.helpdesk.can_see(call.user, chat_id)
                ]
        return {"agents": agents}

    async def assign(self, call: Call[s.AssignBody]) -> s.ChatAssignment:
        chat_id = self.api.chat(call.path("chatId"), call.user).id
        assignment = await self.helpdesk.assign(call.user, chat_id, call.body["agentId"])
        return {"chatId": chat_id, "assignment": assignment}

    async def unassign(self, call: Call[None]) -> s.ChatAssignment:
        chat_id = self.api.chat(call.path("chatId"), call.user).id
        await self.helpdesk.unassign(call.user, chat_id)
        return {"chatId": chat_id, "assignment": None}

    async def set_status(self, call: Call[s.StatusBody]) -> s.ChatStatusChange:
        chat_id = self.api.chat(call.path("chatId"), call.user).id
        await self.helpdesk.set_status(call.user, chat_id, call.body["status"])
        return {"chatId": chat_id, "status": self.helpdesk.chat_status(chat_id)}

    async def inbox_counts(self, call: Call[None]) -> s.InboxCounts:
        status = read_status(call)
        chats = self.api.state.chats
        return counts(self.helpdesk, call.user, chats, status)

    async def tags(self, call: Call[None]) -> s.TagList:
        return {"tags": self.helpdesk.tags()}

    async def create_tag(self, call: Call[s.TagBody]) -> s.Tag:
        body = call.body
        return await self.helpdesk.create_tag(call.user, body["name"], body.get("color"))

    async def tag_chat(self, call: Call[s.ChatTagBody]) -> s.ChatTags:
        chat_id = self.api.chat(call.path("chatId"), call.user).id
        await self.helpdesk.set_tag(call.user, chat_id, call.body["tagId"], True)
        return {"chatId": chat_id, "tags": self.helpdesk.chat_extras(chat_id)[1]}

    async def untag_chat(self, call: Call[None]) -> s.ChatTags:
        chat_id = self.api.chat(call.path("chatId"), call.user).id
        tag_id = call.int_path("tagId", Code.BAD_TAG_ID_PATH)
        await self.helpdesk.set_tag(call.user, chat_id, tag_id, False)
        return {"chatId": chat_id, "tags": self.helpdesk.chat_extras(chat_id)[1]}

    async def notes(self, call: Call[None]) -> s.NoteList:
        chat_id = self.api.chat(call.path("chatId"), call.user).id
        return {"notes": await self.helpdesk.notes(chat_id)}

    async def add_note(self, call: Call[s.NoteBody]) -> s.Note:
        chat_id = self.api.chat(call.path("chatId"), call.user).id
        return await self.helpdesk.add_note(call.user, chat_id, call.body["body"])

    async def quick_replies(self, call: Call[None]) -> s.QuickReplyList:
        return {"quickReplies": await self.helpdesk.quick_replies()}

    async def create_quick_reply(self, call: Call[s.QuickReplyBody]) -> s.QuickReply:
        body = call.body
        return await self.helpdesk.save_quick_reply(call.user, None, body["shortcut"], body["body"])

    async def update_quick_reply(self, call: Call[s.QuickReplyBody]) -> s.QuickReply:
        reply_id = call.int_path("replyId", Code.BAD_REPLY_ID)
        body = call.body
        return await self.helpdesk.save_quick_reply(
            call.user, reply_id, body["shortcut"], body["body"]
        )

    async def delete_quick_reply(self, call: Call[None]) -> None:
        await self.helpdesk.delete_quick_reply(
            call.user, call.int_path("replyId", Code.BAD_REPLY_ID)
        )

    async def activity(self, call: Call[None]) -> s.ActivityList:
        chat = call.query("chatId")
        chat_id = None if chat is None else self.api.chat_id(chat, call.user)
        return {"activity": await self.helpdesk.activity(chat_id, call.limit())}

    async def save_profile(self, call: Call[s.ProfileBody]) -> s.Profile:
        user_id = call.path("userId")
        if len(user_id) > MAX_USER_ID:
            raise BadRequest(Code.BAD_USER_ID, f"a user id has at most {MAX_USER_ID} characters")
        body = call.body
        return await self.helpdesk.save_profile(
            call.user, user_id, body.get("displayName"), body["role"], body.get("sessions")
        )
