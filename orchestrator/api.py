"""Routes for the helpdesk frontend's WhatsApp data: chats, messages, sending, contacts, media.

Reads come from the RAM state; anything WhatsApp must do goes to the bridge as a command.
Handlers return the API's shapes (or a Response); refusals are raised (`errors`), and the
HTTP layer answers them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import emoji
import orjson
from starlette.responses import FileResponse, Response

from orchestrator import domain as d
from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.commands import Bridge
from orchestrator.errors import (
    BadRequest,
    Code,
    CommandError,
    Conflict,
    NotFound,
    StoreError,
    TooLarge,
    TooMany,
    TransportError,
)
from orchestrator.helpdesk import Helpdesk
from orchestrator.jids import is_group, parse_chat_id
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.medialinks import MediaLinks
from orchestrator.pacing import Pacer
from orchestrator.principal import Principal
from orchestrator.state import Chat, State
from orchestrator.store import Store
from orchestrator.store.rows import message_from_row
from orchestrator.urlguard import check_public_url
from orchestrator.views import Views, contact_json

log = logging.getLogger("orchestrator.api")

MAX_CACHED_PAGES = 256
MAX_READ_RECEIPTS = 100


@dataclass(frozen=True)
class ApiSettings:
    media_dir: Path
    media_max_bytes: int
    picture_ttl: float
    media_url_allowlist: frozenset[str]


class Api:
    def __init__(
        self,
        state: State,
        lifecycle: ConnectionLifecycle,
        bridge: Bridge,
        store: Store,
        helpdesk: Helpdesk,
        pacer: Pacer,
        views: Views,
        links: MediaLinks,
        settings: ApiSettings,
        observe_send: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._observe_send = observe_send
        self.state = state
        self.lifecycle = lifecycle
        self.bridge = bridge
        self.store = store
        self.helpdesk = helpdesk
        self.pacer = pacer
        self.views = views
        self.links = links
        self.settings = settings
        self._pictures: dict[str, tuple[float, str | None]] = {}
        # Encoded pages, valid while the state, the metadata and the media links are unchanged.
        self._chat_pages: dict[tuple[str | None, str | None], tuple[Any, bytes]] = {}
        self._message_pages: dict[tuple[str, int, str | None], tuple[Any, bytes]] = {}
        self._sends: set[asyncio.Task[None]] = set()

    # ---- chats and messages -------------------------------------------------------------

    def chat_id(self, raw_id: str, principal: Principal) -> str:
        """The canonical chat id, if the principal may see that chat (403 otherwise: a chat
        assigned to someone else is forbidden, whether or not it exists)."""
        chat_id = parse_chat_id(raw_id)
        if chat_id is None:
            raise BadRequest(
                Code.INVALID_CHAT_ID, f"not a WhatsApp id or phone number: {raw_id[:80]!r}"
            )
        chat_id = self.state.resolve(chat_id)
        if not self.helpdesk.can_see(principal, chat_id):
            raise self.helpdesk.not_yours(chat_id)
        return chat_id

    def chat(self, raw_id: str, principal: Principal) -> Chat:
        chat_id = self.chat_id(raw_id, principal)
        chat = self.state.chats.get(chat_id)
        if chat is None:
            raise NotFound(Code.CHAT_NOT_FOUND, f"no chat {chat_id}")
        return chat

    async def list_chats(self, call: Call[None]) -> s.ChatList | Response:
        """Staff all see the same list, and it changes only when the state or the helpdesk
        metadata does: each (limit, before) page is encoded once per change, not per request."""
        principal = call.user
        if not principal.is_staff:
            return {"chats": [self.views.chat(c) for c in self._visible_chats(call, principal)]}
        key = (call.query("limit"), call.query("before"))
        version = (self.state.generation, self.helpdesk.generation, self.links.period)
        cached = self._chat_pages.get(key)
        if cached is None or cached[0] != version:
            chats = self._visible_chats(call, principal)
            body = orjson.dumps({"chats": [self.views.chat(c) for c in chats]})
            if len(self._chat_pages) > MAX_CACHED_PAGES:
                self._chat_pages.clear()
            cached = self._chat_pages[key] = (version, body)
        return Response(cached[1], media_type="application/json")

    def _visible_chats(self, call: Call[None], principal: Principal) -> list[Chat]:
        limit = call.limit()
        before = call.query("before")
        if before is not None:
            before = self.chat(before, principal).id
        if principal.is_staff:
            return self.state.chat_page(limit, before)
        visible = (
            c for c in self.state.chats_after(before) if self.helpdesk.can_see(principal, c.id)
        )
        return list(itertools.islice(visible, limit))

    async def get_chat(self, call: Call[None]) -> s.Chat:
        return self.views.chat(self.chat(call.path("chatId"), call.user))

    async def list_messages(self, call: Call[None]) -> s.MessageList | Response:
        chat = self.chat(call.path("chatId"), call.user)
        limit = call.limit()
        before = call.query("before")
        # A page is the same for everyone who may see the chat: encode it once per change.
        key = (chat.id, limit, before)
        version = (self.state.generation, self.links.period)
        cached = self._message_pages.get(key)
        if cached is not None and cached[0] == version:
            return Response(cached[1], media_type="application/json")
        if before is None or chat.get(before) is not None:
            messages = self.state.message_page(chat, limit, before)
            if len(messages) == limit or chat.complete:  # all from RAM: safe to keep
                body = orjson.dumps({"messages": [self.views.message(m) for m in messages]})
                if len(self._message_pages) > MAX_CACHED_PAGES:
                    self._message_pages.clear()
                self._message_pages[key] = (version, body)
                return Response(body, media_type="application/json")
            # RAM holds a window: older history comes from the store. (The oldest in RAM may
            # not be stored yet, so an unknown cursor here just means nothing older.)
            oldest = messages[0].id if messages else before
            messages = (
                await self._older_if_store_up(chat, oldest, limit - len(messages))
            ) + messages
        else:
            stored = await self._stored_messages(chat, before, limit)
            if stored is None:
                raise BadRequest(Code.UNKNOWN_MESSAGE, f"no message {before[:80]!r} in {chat.id}")
            messages = stored
        return {"messages": [self.views.message(m) for m in messages]}

    async def _older_if_store_up(
        self, chat: Chat, before: str | None, limit: int
    ) -> list[d.Message]:
        """What the store holds before RAM's window; nothing when the store is down: what RAM
        holds is still the right answer, the rest comes when the client pages on."""
        try:
            return await self._stored_messages(chat, before, limit) or []
        except StoreError as exc:
            log.warning("history of %s beyond RAM unavailable: %s", chat.id, exc)
            return []

    async def _stored_messages(
        self, chat: Chat, before: str | None, limit: int
    ) -> list[d.Message] | None:
        """Up to `limit` stored messages older than `before`, oldest first; None when the
        store does not know `before`."""
        rows = await self.store.messages_before(chat.id, before, limit)
        return None if rows is None else [message_from_row(r) for r in reversed(rows)]

    async def mark_read(self, call: Call[None]) -> s.ReadReceipts:
        """Send read receipts for the chat's newest incoming messages (its unread ones, at least
        the last). Its unreadCount goes to 0 when the bridge reports them sent: a chat_update
        on the streams, for every agent."""
        chat = self.chat(call.path("chatId"), call.user)
        keys = unread_keys(chat)
        if keys:
            await self.bridge.read_messages(keys)
            log.info("read receipts for %d messages of %s", len(keys), chat.id)
        return {"chatId": chat.id, "receipts": len(keys)}

    async def list_contacts(self, call: Call[None]) -> s.ContactList:
        return {"contacts": [contact_json(c) for c in self.state.contacts.values()]}

    async def waiting_messages(self, call: Call[None]) -> s.MessageList:
        """Messages that could not be decrypted and still wait for their content, across
        chats, newest first (staff only: it spans every chat)."""
        waiting = self.state.waiting.newest(call.limit())
        return {"messages": [self.views.message(m) for m in waiting]}

    # ---- sending ------------------------------------------------------------------------

    async def send(self, call: Call[s.SendBody]) -> s.SendAccepted:
        body, principal = call.body, call.user
        chat_id = self.chat_id(body["chatId"], principal)
        content, pending = self._content(chat_id, body)
        url = body.get("media", {}).get("url")
        if url is not None:
            await check_public_url(url, self.settings.media_url_allowlist)
        if not self.lifecycle.connected:
            raise Conflict(
                Code.NOT_CONNECTED, f"WhatsApp is not connected (state: {self.lifecycle.state})"
            )
        # A group we have never seen: only WhatsApp can say whether it exists, and a send to
        # one that does not would show as sent in a group nobody is in.
        unseen_group = is_group(chat_id) and chat_id not in self.state.chats
        if unseen_group and not await self.bridge.group_exists(chat_id):
            raise NotFound(Code.CHAT_NOT_FOUND, f"WhatsApp knows no group {chat_id}")
        if not self.pacer.admit():
            raise TooMany(
                Code.SEND_QUEUE_FULL,
                f"{self.pacer.waiting} messages are waiting to go out; try again shortly",
            )
        message_id = "3EB0" + secrets.token_hex(10).upper()
        pending["id"] = message_id
        if principal.user_id is not None:
            await self.helpdesk.message_sent(principal, chat_id, message_id)
        task = asyncio.create_task(self._relay(chat_id, content, message_id))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return {"message": pending}

    def _content(self, chat_id: str, body: s.SendBody) -> tuple[dict[str, Any], s.Message]:
        """The Baileys content for sendMessage, and the pending Message the client sees now."""
        text = body.get("text") or None
        if text is not None and not text.strip():
            raise BadRequest(Code.BLANK_TEXT, "text is only whitespace")
        pending: s.Message = {
            "id": "", "chatId": chat_id, "fromMe": True, "sender": None, "senderName": None,
            "timestamp": int(time.time()), "type": "text", "rawKind": None, "text": text,
            "quotedId": None, "media": None, "ack": d.ACK_PENDING, "status": "pending",
            "edited": False, "deleted": False, "reactions": [],
        }  # fmt: skip
        content: dict[str, Any]
        reaction, media = body.get("reaction"), body.get("media")
        if reaction is not None:
            target = self._message_in(chat_id, reaction["messageId"])
            emoji_text = reaction["emoji"]
            if emoji_text and not emoji.is_emoji(emoji_text):
                raise BadRequest(
                    Code.REACTION_NOT_EMOJI, "reaction.emoji must be one emoji ('' removes it)"
                )
            content = {"react": {"text": emoji_text, "key": orjson.loads(target.raw)["key"]}}
            pending["type"], pending["text"] = "reaction", emoji_text
        elif media is not None:
            content = self._media_content(media, text)
            pending["type"] = media["type"]
            pending["media"] = {
                "mimetype": media.get("mimetype"), "fileName": media.get("fileName"),
                "size": None, "seconds": None, "url": None,
            }  # fmt: skip
        elif text:
            content = {"text": text}
        else:
            raise BadRequest(Code.EMPTY_MESSAGE, "send needs text, media or a reaction")
        quoted_id = body.get("quotedId")
        if quoted_id is not None:
            quoted = self._message_in(chat_id, quoted_id)
            if quoted.type == d.WAITING:  # no content to quote (Baileys would throw on it)
                raise BadRequest(
                    Code.UNKNOWN_MESSAGE, f"message {quoted_id[:80]!r} has no content yet"
                )
            content["__quoted"] = orjson.loads(quoted.raw)
            pending["quotedId"] = quoted.id
        return content, pending

    def _message_in(self, chat_id: str, message_id: str) -> d.Message:
        chat = self.state.chats.get(chat_id)
        message = chat.get(message_id) if chat else None
        if message is None or not message.raw:
            raise BadRequest(Code.UNKNOWN_MESSAGE, f"no message {message_id[:80]!r} in {chat_id}")
        return message

    def _media_content(self, media: s.MediaBody, caption: str | None) -> dict[str, Any]:
        kind = media["type"]
        if "base64" in media and "url" in media:
            raise BadRequest(
                Code.MEDIA_SOURCE_CONFLICT, "media takes either base64 or url, not both"
            )
        source: dict[str, Any]
        if "base64" in media:
            try:
                data = base64.b64decode(media["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(Code.BAD_MEDIA, "media.base64 is not valid base64") from None
            if len(data) > self.settings.media_max_bytes:
                raise TooLarge(
                    Code.MEDIA_TOO_LARGE, f"media over {self.settings.media_max_bytes} bytes"
                )
            source = {"$bytes": media["base64"]}
        elif "url" in media:
            source = {"url": media["url"]}
        else:
            raise BadRequest(Code.BAD_MEDIA, "media needs base64 data or an http(s) url")
        content: dict[str, Any] = {kind: source}
        if "mimetype" in media:
            content["mimetype"] = media["mimetype"]
        if "fileName" in media:
            content["fileName"] = media["fileName"]
        if caption and kind in ("image", "video", "document"):
            content["caption"] = caption
        if kind == "audio" and media.get("ptt") is True:
            content["ptt"] = True
        return content

    async def _relay(self, chat_id: str, content: dict[str, Any], message_id: str) -> None:
        await self.pacer.acquire()  # the number's pace: a burst is spread out, in order
        options: dict[str, Any] = {"messageId": message_id}
        quoted = content.pop("__quoted", None)
        if quoted is not None:
            options["quoted"] = quoted
        started = time.monotonic()
        try:
            await self.bridge.send_message(chat_id, content, options)
            self._observe_send(time.monotonic() - started)
            log.info(
                "sent %s to %s in %.0f ms", message_id, chat_id, (time.monotonic() - started) * 1000
            )
        except (CommandError, TransportError) as exc:
            # The bridge publishes bridge.send_failed, which marks the message failed for all.
            log.warning("sending %s to %s failed: %s", message_id, chat_id, exc)

    # ---- contacts and media -------------------------------------------------------------

    async def contact_picture(self, call: Call[None]) -> s.Picture:
        jid = self.chat_id(call.path("jid"), call.user)
        cached = self._pictures.get(jid)
        if cached is not None and cached[0] > time.monotonic():
            return {"url": cached[1]}
        if not self.lifecycle.connected:
            raise Conflict(Code.NOT_CONNECTED, "WhatsApp is not connected")
        url = await self.bridge.profile_picture_url(jid)
        self._pictures[jid] = (time.monotonic() + self.settings.picture_ttl, url)
        return {"url": url}

    async def media(self, call: Call[None]) -> Response:
        """A signed link needs no credential (the HTTP layer checked its signature); with a
        token, the chat must be one the caller may see."""
        if call.principal is None:
            chat = self.state.chats.get(self.state.resolve(call.path("chatId")))
            if chat is None:
                raise NotFound(Code.CHAT_NOT_FOUND, f"no chat {call.path('chatId')[:80]}")
        else:
            chat = self.chat(call.path("chatId"), call.principal)
        message = chat.get(call.path("messageId"))
        if message is None or message.media is None or not message.raw:
            raise NotFound(Code.MEDIA_NOT_FOUND, "no media for that message")
        # The file name is a hash: nothing from the request ever becomes part of a path.
        name = hashlib.sha256(f"{chat.id}/{message.id}".encode()).hexdigest()
        path = self.settings.media_dir / name
        if not path.exists():
            _write_atomic(path, await self.bridge.download_media(orjson.loads(message.raw)))
        mimetype = message.media.mimetype or "application/octet-stream"
        # Private: the link is a capability, not something a shared cache should keep.
        return FileResponse(
            path, media_type=mimetype, headers={"Cache-Control": "private, max-age=3600"}
        )


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def unread_keys(chat: Chat) -> list[dict[str, Any]]:
    """The wire keys of the chat's newest incoming messages: as many as are unread (at least
    one, so a chat marked unread on the phone can be read again), newest first."""
    wanted = min(max(chat.unread_count, 1), MAX_READ_RECEIPTS)
    keys: list[dict[str, Any]] = []
    for message in reversed(chat.messages.values()):
        if len(keys) == wanted:
            break
        if not message.from_me and message.raw and message.type != "reaction":
            keys.append(orjson.loads(message.raw)["key"])
    return keys
