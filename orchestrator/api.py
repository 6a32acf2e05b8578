"""Routes for the helpdesk frontend's WhatsApp data: chats, messages, sending, contacts, media.

Reads come from the RAM state; anything WhatsApp must do goes to the bridge as a command.
Handlers return the API's shapes (or a Response); refusals are raised (`errors`), and the
HTTP layer answers them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import emoji
import orjson
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from orchestrator import domain as d
from orchestrator import sendkinds
from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.commands import Bridge, new_message_id
from orchestrator.errors import (
    BadRequest,
    Code,
    CommandError,
    Conflict,
    Forbidden,
    MediaStoreError,
    NotFound,
    StoreError,
    TooLarge,
    TooMany,
    TransportError,
)
from orchestrator.helpdesk import SessionHelpdesk
from orchestrator.inbox import InboxFilter, read_filter
from orchestrator.jids import is_group, parse_chat_id
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.medialinks import MediaLinks
from orchestrator.mediastore import Blob, Chunks, LocalFile, MediaKey, MediaStore, Redirect
from orchestrator.pacing import Pacer
from orchestrator.principal import Principal
from orchestrator.state import Chat, State
from orchestrator.store import Store
from orchestrator.store.rows import message_from_row
from orchestrator.urlguard import check_public_url
from orchestrator.views import Views, contact_json
from orchestrator.windowfill import WindowFill

log = logging.getLogger("orchestrator.api")

MAX_CACHED_PAGES = 256
MAX_READ_RECEIPTS = 100
# How long a page of older messages waits for the write-behind to store its cursor: a few
# flushes of a busy ingest. Past it, the page holds what RAM has (the client pages on later).
STORE_CATCH_UP_WAIT = 5.0

# What one /send carries: exactly one of these (text may go alone, or as a media caption).
KINDS = ("media", "reaction", "location", "contacts", "poll", "forward", "edit", "delete")
# What WhatsApp lets a phone forward: content, not votes, reactions or what we cannot read.
FORWARDABLE = frozenset(
    {"text", "image", "video", "audio", "document", "sticker", "location", "contact"}
)


@dataclass(frozen=True)
class ApiSettings:
    media_max_bytes: int
    picture_ttl: float
    media_url_allowlist: frozenset[str]
    ignored_kind: Callable[[str], str | None] = lambda chat_id: None
    """The ORCH_IGNORE kind of a chat, or None: a send there would never show, its own echo
    being dropped."""
    session: str = "default"  # the WhatsApp number these routes serve (media keys carry it)


class Api:
    def __init__(
        self,
        state: State,
        lifecycle: ConnectionLifecycle,
        bridge: Bridge,
        store: Store,
        helpdesk: SessionHelpdesk,
        pacer: Pacer,
        views: Views,
        links: MediaLinks,
        settings: ApiSettings,
        media_store: MediaStore,
        observe_send: Callable[[float], None] = lambda seconds: None,
        *,
        window_fill: WindowFill,
        written: Callable[[float], Awaitable[bool]],
    ) -> None:
        self._observe_send = observe_send
        # WriteBehind.written: until what is pending is stored (a page older than RAM's may
        # start at a message that is not stored yet).
        self._written = written
        self._window_fill = window_fill  # a chat's messages are read only once it holds them
        self.state = state
        self.lifecycle = lifecycle
        self.bridge = bridge
        self.store = store
        self.helpdesk = helpdesk
        self.pacer = pacer
        self.views = views
        self.links = links
        self.settings = settings
        self.media_store = media_store
        self._pictures: dict[str, tuple[float, str | None]] = {}
        # Encoded pages, valid while the state, the metadata and the media links are unchanged.
        self._chat_pages: dict[tuple[str | None, str | None, InboxFilter], tuple[Any, bytes]] = {}
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
        metadata does: each (limit, before, filter) page is encoded once per change, not per
        request."""
        principal = call.user
        inbox = read_filter(call, self.helpdesk)
        if not principal.is_staff:
            chats = self._visible_chats(call, principal, inbox)
            return {"chats": [self.views.chat(c) for c in chats]}
        key = (call.query("limit"), call.query("before"), inbox)
        version = (self.state.generation, self.helpdesk.generation, self.links.period)
        cached = self._chat_pages.get(key)
        if cached is None or cached[0] != version:
            chats = self._visible_chats(call, principal, inbox)
            body = orjson.dumps({"chats": [self.views.chat(c) for c in chats]})
            if len(self._chat_pages) > MAX_CACHED_PAGES:
                self._chat_pages.clear()
            cached = self._chat_pages[key] = (version, body)
        return Response(cached[1], media_type="application/json")

    def _visible_chats(
        self, call: Call[None], principal: Principal, inbox: InboxFilter
    ) -> list[Chat]:
        limit = call.limit()
        before = call.query("before")
        if before is not None:
            before = self.chat(before, principal).id
        if principal.is_staff and inbox.keeps_all:
            return self.state.chat_page(limit, before)
        helpdesk = self.helpdesk
        visible = (
            c
            for c in self.state.chats_after(before)
            if helpdesk.can_see(principal, c.id) and inbox.keeps(helpdesk, c.id)
        )
        return list(itertools.islice(visible, limit))

    async def get_chat(self, call: Call[None]) -> s.Chat:
        return self.views.chat(self.chat(call.path("chatId"), call.user))

    async def list_messages(self, call: Call[None]) -> s.MessageList | Response:
        # An unfilled chat (just after a start) holds its newest message: the rest of the
        # page comes from the store below, without waiting for its whole window.
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
            # RAM holds a window: older history comes from the store.
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
        if rows is None and await self._written(STORE_CATCH_UP_WAIT):
            # `before` was waiting to be written (RAM's oldest in a busy chat, or a message
            # evicted from RAM since the client had it): it is stored now.
            rows = await self.store.messages_before(chat.id, before, limit)
        return None if rows is None else [message_from_row(r) for r in reversed(rows)]

    async def mark_read(self, call: Call[None]) -> s.ReadReceipts:
        """Send read receipts for the chat's newest incoming messages (its unread ones, at least
        the last). Its unreadCount goes to 0 when the bridge reports them sent: a chat_update
        on the streams, for every agent."""
        chat = self.chat(call.path("chatId"), call.user)
        await self._window_fill.ensure((chat.id,))
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

    async def list_labels(self, call: Call[None]) -> s.LabelList:
        return {"labels": self.views.labels()}

    # ---- sending ------------------------------------------------------------------------

    async def send(self, call: Call[s.SendBody]) -> s.SendAccepted:
        body, principal = call.body, call.user
        chat_id = self.chat_id(body["chatId"], principal)
        # What it quotes, reacts to, edits or forwards must be in RAM.
        forwards = "forward" in body  # from any chat
        await self._window_fill.ensure([chat_id, *(self.state.unfilled if forwards else ())])
        kind = send_kind(body)
        target: d.Message | None = None
        if kind in ("edit", "delete"):
            target, content, pending = self._change(chat_id, body)
        else:
            content, pending = self._content(chat_id, body, principal)
        # Media bytes _media_content decoded to check them: kept below, not decoded again.
        decoded: bytes | None = content.pop("__decoded", None)
        url = body.get("media", {}).get("url")
        if url is not None:
            await check_public_url(url, self.settings.media_url_allowlist)
        ignored = self.settings.ignored_kind(chat_id)
        if ignored is not None:
            raise BadRequest(Code.CHAT_IGNORED, f"{ignored} are ignored here (ORCH_IGNORE)")
        if not self.lifecycle.connected:
            raise Conflict(
                Code.NOT_CONNECTED, f"WhatsApp is not connected (state: {self.lifecycle.state})"
            )
        # A group we have never seen: only WhatsApp can say whether it exists, and a send to
        # one that does not would show as sent in a group nobody is in.
        unseen_group = is_group(chat_id) and chat_id not in self.state.chats
        if unseen_group and not await self.bridge.group_exists(chat_id):
            raise NotFound(Code.CHAT_NOT_FOUND, f"WhatsApp knows no group {chat_id}")
        if target is not None and "chatModify" in content:
            await self._delete_for_me(chat_id, content["chatModify"])
            return {"message": pending, "sendId": None, "targetId": target.id}
        if not self.pacer.admit():
            raise TooMany(
                Code.SEND_QUEUE_FULL,
                f"{self.pacer.waiting} messages are waiting to go out; try again shortly",
            )
        message_id = new_message_id()
        if target is None:
            pending["id"] = message_id
            if principal.user_id is not None:
                await self.helpdesk.message_sent(principal, chat_id, message_id)
        task = asyncio.create_task(self._relay(chat_id, content, message_id))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        if decoded is not None:
            mimetype = body.get("media", {}).get("mimetype")
            keep = self._keep_sent_media(
                MediaKey(chat_id, message_id, self.settings.session), decoded, mimetype
            )
            kept = asyncio.create_task(keep)
            self._sends.add(kept)
            kept.add_done_callback(self._sends.discard)
        return {
            "message": pending,
            "sendId": message_id,
            "targetId": None if target is None else target.id,
        }

    def send_text(self, chat_id: str, text: str) -> str:
        """A text from the system (an automatic reply), on the path of POST /send: the number's
        paced queue, then the bridge. The id of the message queued; raises Conflict
        (not_connected) or TooMany (send_queue_full) when it cannot be."""
        if not self.lifecycle.connected:
            raise Conflict(
                Code.NOT_CONNECTED, f"WhatsApp is not connected (state: {self.lifecycle.state})"
            )
        if not self.pacer.admit():
            raise TooMany(Code.SEND_QUEUE_FULL, f"{self.pacer.waiting} messages wait to go out")
        message_id = new_message_id()
        task = asyncio.create_task(self._relay(chat_id, {"text": text}, message_id))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return message_id

    def _content(
        self, chat_id: str, body: s.SendBody, principal: Principal
    ) -> tuple[dict[str, Any], s.Message]:
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
        elif "location" in body:
            content, pending["text"] = sendkinds.location(body["location"])
            pending["type"] = "location"
        elif "contacts" in body:
            content, pending["text"] = sendkinds.contacts(body["contacts"])
            pending["type"] = "contact"
        elif "poll" in body:
            content, pending["text"] = sendkinds.poll(body["poll"])
            pending["type"] = "poll"
        elif "forward" in body:
            source = self._forwardable(body["forward"]["messageId"], principal)
            content = {"forward": orjson.loads(source.raw)}
            shown = self.views.message(source)
            pending["type"], pending["text"], pending["rawKind"] = (
                shown["type"], shown["text"], shown["rawKind"],
            )  # fmt: skip
            if shown["media"] is not None:
                pending["media"] = {**shown["media"], "url": None}
        elif text:
            content = {"text": text}
        else:
            raise BadRequest(Code.EMPTY_MESSAGE, f"send needs one of text, {', '.join(KINDS)}")
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

    def _forwardable(self, message_id: str, principal: Principal) -> d.Message:
        """The message to forward: in any chat the principal may see (one it may not see is
        as unknown as one that does not exist, so nothing leaks)."""
        for chat in self.state.chats.values():
            message = chat.get(message_id)
            if message is not None and message.raw and self.helpdesk.can_see(principal, chat.id):
                break
        else:
            raise BadRequest(Code.UNKNOWN_MESSAGE, f"no message {message_id[:80]!r} to forward")
        if message.deleted or message.type not in FORWARDABLE:
            what = "a deleted message" if message.deleted else f"a {message.type} message"
            raise BadRequest(Code.NOT_FORWARDABLE, f"{what} cannot be forwarded")
        return message

    def _change(
        self, chat_id: str, body: s.SendBody
    ) -> tuple[d.Message, dict[str, Any], s.Message]:
        """An edit or a delete: its target, the Baileys content (for a delete for you only,
        `{"chatModify": <the mod>}`), and the target as it will look once applied."""
        if "quotedId" in body:
            raise BadRequest(Code.ONE_KIND_PER_SEND, "an edit or a delete quotes nothing")
        change = body.get("edit") or body["delete"]
        target = self._message_in(chat_id, change["messageId"])
        if target.deleted:
            raise Conflict(Code.ALREADY_DELETED, f"message {target.id} is already deleted")
        key = orjson.loads(target.raw)["key"]
        shown = self.views.message(target)
        edit = body.get("edit")
        if edit is not None:
            if not target.from_me:
                raise Forbidden(Code.NOT_YOUR_MESSAGE, "only your own messages can be edited")
            if target.type != "text":
                raise BadRequest(
                    Code.NOT_EDITABLE, f"only text messages can be edited, not {target.type}"
                )
            if not edit["text"].strip():
                raise BadRequest(Code.BLANK_TEXT, "edit.text is only whitespace")
            shown["text"], shown["edited"] = edit["text"], True
            return target, {"text": edit["text"], "edit": key}, shown
        delete = body["delete"]
        shown["deleted"] = True
        if delete["forEveryone"]:
            # In a group an admin may revoke anyone's message; WhatsApp decides. In a 1:1 chat
            # only the author can, and a refusal here beats a revoke that silently does nothing.
            if not target.from_me and not is_group(chat_id):
                raise Forbidden(
                    Code.NOT_YOUR_MESSAGE, "only your own messages can be deleted for everyone"
                )
            shown["text"], shown["media"] = None, None
            return target, {"delete": key}, shown
        # WhatsApp's deleteMessageForMeAction carries the message's own time (seconds).
        mod = {"deleteForMe": {"key": key, "timestamp": target.timestamp, "deleteMedia": True}}
        return target, {"chatModify": mod}, shown

    async def _delete_for_me(self, chat_id: str, mod: dict[str, Any]) -> None:
        """An app-state patch, not a message: not paced, and its outcome is the answer. Baileys
        then announces messages.delete, and the message is gone for every agent."""
        try:
            await self.bridge.chat_modify(mod, chat_id)
        except CommandError as exc:
            # Baileys' Boom 400: the phone has not shared the app-state keys with this device.
            if exc.code == "failed" and exc.extra.get("statusCode") == 400:
                raise Conflict(
                    Code.APP_STATE_NOT_READY,
                    "this device has no app-state key from the phone yet; try again later",
                ) from None
            raise

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
        content: dict[str, Any]
        if "base64" in media:
            try:
                data = base64.b64decode(media["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(Code.BAD_MEDIA, "media.base64 is not valid base64") from None
            if len(data) > self.settings.media_max_bytes:
                raise TooLarge(
                    Code.MEDIA_TOO_LARGE, f"media over {self.settings.media_max_bytes} bytes"
                )
            # The decoded bytes ride along for the media store; `send` pops them.
            content = {kind: {"$bytes": media["base64"]}, "__decoded": data}
        elif "url" in media:
            content = {kind: {"url": media["url"]}}
        else:
            raise BadRequest(Code.BAD_MEDIA, "media needs base64 data or an http(s) url")
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
        await self._window_fill.ensure((chat.id,))
        message = chat.get(call.path("messageId"))
        if message is None or message.media is None or not message.raw:
            raise NotFound(Code.MEDIA_NOT_FOUND, "no media for that message")
        mimetype = message.media.mimetype or "application/octet-stream"
        key = MediaKey(chat.id, message.id, self.settings.session)
        found = await self.media_store.find(key)
        if found is None:
            data = await self.bridge.download_media(orjson.loads(message.raw))
            found = Blob(data, mimetype)
            try:
                await self.media_store.put(key, data, mimetype)
            except MediaStoreError as exc:
                # The bytes are here: serve them; the next fetch downloads them again.
                log.warning("could not keep the media of %s/%s: %s", chat.id, message.id, exc)
        return media_response(found, mimetype)

    async def _keep_sent_media(self, key: MediaKey, data: bytes, mimetype: str | None) -> None:
        """Media we send is kept as downloaded media is: its link then needs no download."""
        try:
            await self.media_store.put(key, data, mimetype)
        except MediaStoreError as exc:
            log.warning("could not keep the media sent as %s: %s", key.message_id, exc)


# Private: the link is a capability, not something a shared cache should keep.
MEDIA_CACHE = {"Cache-Control": "private, max-age=3600"}


def media_response(found: LocalFile | Blob | Chunks | Redirect, mimetype: str) -> Response:
    if isinstance(found, LocalFile):
        return FileResponse(found.path, media_type=mimetype, headers=MEDIA_CACHE)
    if isinstance(found, Blob):
        return Response(found.data, media_type=found.content_type or mimetype, headers=MEDIA_CACHE)
    if isinstance(found, Chunks):
        headers = dict(MEDIA_CACHE)
        if found.length is not None:
            headers["Content-Length"] = str(found.length)
        return StreamingResponse(
            found.chunks, media_type=found.content_type or mimetype, headers=headers
        )
    # The presigned URL lives minutes: the redirect itself must not be cached for longer.
    return RedirectResponse(found.url, 302, headers={"Cache-Control": "private, no-store"})


def send_kind(body: s.SendBody) -> str:
    """The one kind a /send carries ("text" when it is only text); refuses two at once."""
    kinds = [kind for kind in KINDS if kind in body]
    if len(kinds) > 1:
        raise BadRequest(Code.ONE_KIND_PER_SEND, f"one kind per send, not {' and '.join(kinds)}")
    if kinds and "text" in body and kinds[0] != "media":
        raise BadRequest(
            Code.ONE_KIND_PER_SEND, f"text goes alone or as a media caption, not with {kinds[0]}"
        )
    return kinds[0] if kinds else "text"


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
