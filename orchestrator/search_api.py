"""Routes to find messages: full-text search over the stored history, and one message by id
(what a client shows for a quoted message it has not loaded).

Search reads the store (SQLite FTS5, or PostgreSQL's full-text search on Supabase): the store
is written behind the RAM state, so a message of the last moments may not be found yet.
"""

from __future__ import annotations

from orchestrator import shapes as s
from orchestrator.api import Api
from orchestrator.calls import Call
from orchestrator.errors import BadRequest, Code, NotFound
from orchestrator.search import MAX_QUERY
from orchestrator.store.rows import message_from_row

MAX_OFFSET = 10_000  # deeper pages cost the store more than anyone reads that far


class SearchApi:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def search(self, call: Call[None]) -> s.SearchResults:
        """Messages whose text has every word of `q` (the last also as a prefix), best match
        first, in the chats the caller may see (or in `chatId`)."""
        principal = call.user
        query = call.query("q")
        if query is None or not query.strip() or len(query) > MAX_QUERY:
            raise BadRequest(Code.BAD_Q, f"q must be words to find, 1 to {MAX_QUERY} characters")
        limit, offset = call.limit(), _offset(call.query("offset"))
        raw_chat = call.query("chatId")
        chat_id = None if raw_chat is None else self.api.chat(raw_chat, principal).id
        hidden = self.api.helpdesk.hidden_chats(principal)
        # One more than the page: whether a next page exists, without counting every match.
        rows = await self.api.store.search_messages(query, chat_id, hidden, limit + 1, offset)
        state, views = self.api.state, self.api.views
        messages: list[s.Message] = []
        for row in rows[:limit]:
            chat = state.chats.get(row["chat_id"])
            if chat is None:  # stored, but not a chat here (ORCH_IGNORE'd since)
                continue
            # RAM's copy when it has one: its acks and reactions may be newer than the store's.
            message = chat.get(row["id"]) or message_from_row(row)
            if not message.deleted:  # (deleted since it was stored)
                messages.append(views.message(message))
        # No next page past MAX_OFFSET: the client would be refused it (bad_offset).
        more = len(rows) > limit and offset + limit <= MAX_OFFSET
        next_offset = offset + limit if more else None
        return {"messages": messages, "nextOffset": next_offset}

    async def get_message(self, call: Call[None]) -> s.Message:
        """One message of a chat the caller may see: from RAM, else from the store."""
        chat = self.api.chat(call.path("chatId"), call.user)
        message_id = call.path("messageId")
        message = chat.get(message_id)
        if message is None:
            row = await self.api.store.message(chat.id, message_id)
            if row is None:
                raise NotFound(
                    Code.MESSAGE_NOT_FOUND, f"no message {message_id[:80]!r} in {chat.id}"
                )
            message = message_from_row(row)
        return self.api.views.message(message)


def _offset(raw: str | None) -> int:
    if raw is None:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5) or int(raw) > MAX_OFFSET:
        raise BadRequest(Code.BAD_OFFSET, f"offset must be an integer from 0 to {MAX_OFFSET}")
    return int(raw)
