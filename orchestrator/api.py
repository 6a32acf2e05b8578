"""REST routes for the helpdesk frontend: chats, messages, sending, contacts, media, QR.

Reads come from the RAM state; anything WhatsApp must do goes to the bridge as a command.
Every error is a 4xx/5xx JSON body `{"error":{"code","message"}}` with a stable code.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import segno
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response

from orchestrator import domain as d
from orchestrator.errors import CommandError, StoreError, TransportError
from orchestrator.helpdesk import Helpdesk
from orchestrator.jids import parse_chat_id
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.pacing import Pacer
from orchestrator.principal import Principal
from orchestrator.state import Chat, State
from orchestrator.store import Store
from orchestrator.store.rows import message_from_row
from orchestrator.transport import CommandChannel
from orchestrator.urlguard import ForbiddenUrl, check_public_url
from orchestrator.views import chat_json, contact_json, message_json

log = logging.getLogger("orchestrator.api")

MAX_PAGE = 500
MAX_CACHED_PAGES = 256
DEFAULT_PAGE = 50
MEDIA_KINDS = {"image", "video", "audio", "document", "sticker"}
SEND_TIMEOUT = 120.0
READ_TIMEOUT = 30.0
MAX_READ_RECEIPTS = 100


class ApiError(Exception):
    """A request the API refuses: becomes `{"error":{"code","message"}}` with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@dataclass(frozen=True)
class ApiSettings:
    media_dir: Path
    media_max_bytes: int
    picture_ttl: float
    media_url_allowlist: frozenset[str]


def principal_of(connection: HTTPConnection) -> Principal:
    """Set by the authentication middleware on every non-public route."""
    principal: Principal = connection.state.principal
    return principal


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    # isdigit() alone accepts "²" and 5000-digit numbers, which int() then rejects.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(400, "bad_limit", f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw)


class Api:
    def __init__(
        self,
        state: State,
        lifecycle: ConnectionLifecycle,
        commands: CommandChannel,
        store: Store,
        helpdesk: Helpdesk,
        pacer: Pacer,
        settings: ApiSettings,
        observe_send: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._observe_send = observe_send
        self.state = state
        self.lifecycle = lifecycle
        self.commands = commands
        self.store = store
        self.helpdesk = helpdesk
        self.pacer = pacer
        self.settings = settings
        self._pictures: dict[str, tuple[float, str | None]] = {}
        self._chat_pages: dict[tuple[str | None, str | None], tuple[tuple[int, int], bytes]] = {}
        self._message_pages: dict[tuple[str, int, str | None], tuple[int, bytes]] = {}
        self._sends: set[asyncio.Task[None]] = set()

    # ---- chats and messages -------------------------------------------------------------

    def chat_id(self, raw_id: str, principal: Principal) -> str:
        """The canonical chat id, if the principal may see that chat (403 otherwise: a chat
        assigned to someone else is forbidden, whether or not it exists)."""
        chat_id = parse_chat_id(raw_id)
        if chat_id is None:
            raise ApiError(400, "invalid_chat_id", f"not a WhatsApp id or phone number: {raw_id!r}")
        chat_id = self.state.resolve(chat_id)
        if not self.helpdesk.can_see(principal, chat_id):
            raise ApiError(403, "forbidden", f"chat {chat_id} is assigned to another agent")
        return chat_id

    def chat(self, raw_id: str, principal: Principal) -> Chat:
        chat_id = self.chat_id(raw_id, principal)
        chat = self.state.chats.get(chat_id)
        if chat is None:
            raise ApiError(404, "chat_not_found", f"no chat {chat_id}")
        return chat

    async def list_chats(self, request: Request) -> Response:
        principal = principal_of(request)
        limit = page_limit(request)
        before = request.query_params.get("before")
        if before is not None:
            before = self.chat(before, principal).id
        if principal.is_staff:
            chats = self.state.chat_page(limit, before)
        else:
            visible = (
                c for c in self.state.chats_after(before) if self.helpdesk.can_see(principal, c.id)
            )
            chats = list(itertools.islice(visible, limit))
        extras = self.helpdesk.chat_extras
        return JSONResponse({"chats": [chat_json(c, self.state, extras) for c in chats]})

    async def list_chats_cached(self, request: Request) -> Response:
        """Staff all see the same list, and it changes only when the state or the helpdesk
        metadata does: encode each (limit, before) page once per change, not per request."""
        if not principal_of(request).is_staff:
            return await self.list_chats(request)
        key = (request.query_params.get("limit"), request.query_params.get("before"))
        generation = (self.state.generation, self.helpdesk.generation)
        cached = self._chat_pages.get(key)
        if cached is None or cached[0] != generation:
            response = await self.list_chats(request)
            if response.status_code != 200:
                return response
            if len(self._chat_pages) > MAX_CACHED_PAGES:
                self._chat_pages.clear()
            cached = self._chat_pages[key] = (generation, bytes(response.body))
        return Response(cached[1], media_type="application/json")

    async def get_chat(self, request: Request) -> Response:
        chat = self.chat(request.path_params["chat_id"], principal_of(request))
        return JSONResponse(chat_json(chat, self.state, self.helpdesk.chat_extras))

    async def list_messages(self, request: Request) -> Response:
        chat = self.chat(request.path_params["chat_id"], principal_of(request))
        limit = page_limit(request)
        before = request.query_params.get("before")
        # A page is the same for everyone who may see the chat: encode it once per change.
        key = (chat.id, limit, before)
        cached = self._message_pages.get(key)
        if cached is not None and cached[0] == self.state.generation:
            return Response(cached[1], media_type="application/json")
        if before is None or chat.get(before) is not None:
            messages = self.state.message_page(chat, limit, before)
            if len(messages) == limit or chat.complete:  # all from RAM: safe to keep
                body = orjson.dumps({"messages": [message_json(m, self.state) for m in messages]})
                if len(self._message_pages) > MAX_CACHED_PAGES:
                    self._message_pages.clear()
                self._message_pages[key] = (self.state.generation, body)
                return Response(body, media_type="application/json")
            # RAM holds a window: older history comes from the store. (The oldest in RAM may
            # not be stored yet, so an unknown cursor here just means nothing older.)
            oldest = messages[0].id if messages else before
            try:
                older = await self._stored_messages(chat, oldest, limit - len(messages))
            except ApiError:
                older = None  # the store is down: what RAM holds is still the right answer
            messages = (older or []) + messages
        else:
            stored = await self._stored_messages(chat, before, limit)
            if stored is None:
                raise ApiError(400, "unknown_message", f"no message {before!r} in {chat.id}")
            messages = stored
        return JSONResponse({"messages": [message_json(m, self.state) for m in messages]})

    async def _stored_messages(
        self, chat: Chat, before: str | None, limit: int
    ) -> list[d.Message] | None:
        """Up to `limit` stored messages older than `before`, oldest first; None when the
        store does not know `before`."""
        try:
            rows = await self.store.messages_before(chat.id, before, limit)
        except StoreError as exc:
            raise ApiError(
                503, "store_unavailable", f"history beyond RAM is unavailable: {exc}"
            ) from None
        return None if rows is None else [message_from_row(r) for r in reversed(rows)]

    async def mark_read(self, request: Request) -> Response:
        """Send read receipts for the chat's newest incoming messages (its unread ones, at least
        the last). Its unreadCount goes to 0 when the bridge reports them sent: a chat_update
        on the streams, for every agent."""
        chat = self.chat(request.path_params["chat_id"], principal_of(request))
        keys = unread_keys(chat)
        if keys:
            try:
                await self.commands.call("readMessages", [keys], timeout=READ_TIMEOUT)
            except CommandError as exc:
                if exc.code == "not_connected":
                    raise ApiError(409, "not_connected", exc.message) from None
                raise ApiError(502, "bridge_error", exc.message) from None
            except TransportError as exc:
                raise ApiError(502, "bridge_error", str(exc)) from None
            log.info("read receipts for %d messages of %s", len(keys), chat.id)
        return JSONResponse({"chatId": chat.id, "receipts": len(keys)})

    async def list_contacts(self, request: Request) -> Response:
        contacts = [contact_json(c) for c in self.state.contacts.values()]
        return JSONResponse({"contacts": contacts})

    # ---- sending ------------------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        body = await self.json_body(request)
        if not isinstance(body.get("chatId"), str):
            raise ApiError(400, "invalid_chat_id", "chatId (a jid or phone number) is required")
        principal = principal_of(request)
        chat_id = self.chat_id(body["chatId"], principal)
        content, pending = self._content(chat_id, body)
        source = content.get(pending["type"]) if isinstance(body.get("media"), dict) else None
        if isinstance(source, dict) and "url" in source:
            try:
                await check_public_url(source["url"], self.settings.media_url_allowlist)
            except ForbiddenUrl as exc:
                raise ApiError(400, "media_url_forbidden", str(exc)) from None
        if not self.lifecycle.connected:
            raise ApiError(
                409, "not_connected", f"WhatsApp is not connected (state: {self.lifecycle.state})"
            )
        if not self.pacer.admit():
            raise ApiError(
                429, "send_queue_full",
                f"{self.pacer.waiting} messages are waiting to go out; try again shortly",
            )  # fmt: skip
        message_id = "3EB0" + secrets.token_hex(10).upper()
        pending = {**pending, "id": message_id}
        if principal.user_id is not None:
            await self.helpdesk.message_sent(principal, chat_id, message_id)
        task = asyncio.create_task(self._relay(chat_id, content, message_id))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return JSONResponse({"message": pending}, status_code=202)

    def _content(self, chat_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Baileys content for sendMessage, and the pending Message the client sees now."""
        text, quoted_id, media, reaction = (
            body.get("text"), body.get("quotedId"), body.get("media"), body.get("reaction"),
        )  # fmt: skip
        if text is not None and not isinstance(text, str):
            raise ApiError(400, "bad_text", "text must be a string")
        pending: dict[str, Any] = {
            "chatId": chat_id, "fromMe": True, "sender": None, "senderName": None,
            "timestamp": int(time.time()), "type": "text", "rawKind": None, "text": text,
            "quotedId": None, "media": None, "ack": d.ACK_PENDING, "status": "pending",
            "edited": False, "deleted": False, "reactions": [],
        }  # fmt: skip
        content: dict[str, Any]
        if reaction is not None:
            target = self._message_in(
                chat_id, reaction.get("messageId") if isinstance(reaction, dict) else None
            )
            emoji = reaction.get("emoji", "")
            if not isinstance(emoji, str) or len(emoji) > 16:
                raise ApiError(
                    400, "bad_reaction", "reaction.emoji must be a short string ('' removes)"
                )
            content = {"react": {"text": emoji, "key": orjson.loads(target.raw)["key"]}}
            pending.update(type="reaction", text=emoji)
        elif media is not None:
            content = self._media_content(media, text)
            pending.update(type=media["type"], media={
                "mimetype": media.get("mimetype"), "fileName": media.get("fileName"),
                "size": None, "seconds": None, "url": None,
            })  # fmt: skip
        elif text:
            content = {"text": text}
        else:
            raise ApiError(400, "empty_message", "send needs text, media or a reaction")
        if quoted_id is not None:
            quoted = self._message_in(chat_id, quoted_id)
            content["__quoted"] = orjson.loads(quoted.raw)
            pending["quotedId"] = quoted.id
        return content, pending

    def _message_in(self, chat_id: str, message_id: Any) -> d.Message:
        chat = self.state.chats.get(chat_id)
        message = chat.get(message_id) if chat and isinstance(message_id, str) else None
        if message is None or not message.raw:
            raise ApiError(400, "unknown_message", f"no message {message_id!r} in {chat_id}")
        return message

    def _media_content(self, media: Any, caption: str | None) -> dict[str, Any]:
        if not isinstance(media, dict) or media.get("type") not in MEDIA_KINDS:
            raise ApiError(400, "bad_media", f"media.type must be one of {sorted(MEDIA_KINDS)}")
        kind = media["type"]
        source: Any
        if isinstance(media.get("base64"), str):
            try:
                data = base64.b64decode(media["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, "bad_media", "media.base64 is not valid base64") from None
            if len(data) > self.settings.media_max_bytes:
                raise ApiError(
                    413, "media_too_large", f"media over {self.settings.media_max_bytes} bytes"
                )
            source = {"$bytes": media["base64"]}
        elif isinstance(media.get("url"), str) and media["url"].startswith(("https://", "http://")):
            source = {"url": media["url"]}
        else:
            raise ApiError(400, "bad_media", "media needs base64 data or an http(s) url")
        content: dict[str, Any] = {kind: source}
        for name in ("mimetype", "fileName"):
            value = media.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise ApiError(400, "bad_media", f"media.{name} must be a short string")
            if value is not None:
                content[name] = value
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
            await self.commands.call(
                "sendMessage", [chat_id, content, options], timeout=SEND_TIMEOUT
            )
            self._observe_send(time.monotonic() - started)
            log.info(
                "sent %s to %s in %.0f ms", message_id, chat_id, (time.monotonic() - started) * 1000
            )
        except (CommandError, TransportError) as exc:
            # The bridge publishes bridge.send_failed, which marks the message failed for all.
            log.warning("sending %s to %s failed: %s", message_id, chat_id, exc)

    async def json_body(self, request: Request) -> dict[str, Any]:
        limit = self.settings.media_max_bytes * 4 // 3 + 65536
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "body_too_large", f"request body over {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body_too_large", f"request body over {limit} bytes")
            chunks.append(chunk)
        try:
            body = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise ApiError(400, "invalid_json", "the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_json", "the body must be a JSON object")
        return body

    # ---- contacts, media, QR ------------------------------------------------------------

    async def contact_picture(self, request: Request) -> Response:
        jid = self.chat_id(request.path_params["jid"], principal_of(request))
        cached = self._pictures.get(jid)
        if cached is not None and cached[0] > time.monotonic():
            return JSONResponse({"url": cached[1]})
        if not self.lifecycle.connected:
            raise ApiError(409, "not_connected", "WhatsApp is not connected")
        try:
            url = await self.commands.call_idempotent("profilePictureUrl", [jid, "image"])
        except CommandError as exc:
            if exc.code in ("not_connected", "replay_mode"):
                raise ApiError(409, "not_connected", exc.message) from None
            # 401/404 from WhatsApp: no picture, or hidden from us. Remember that too.
            if exc.code != "failed":
                raise ApiError(502, "bridge_error", exc.message) from None
            url = None
        self._pictures[jid] = (time.monotonic() + self.settings.picture_ttl, url)
        return JSONResponse({"url": url})

    async def media(self, request: Request) -> Response:
        chat = self.chat(request.path_params["chat_id"], principal_of(request))
        message = chat.get(request.path_params["message_id"])
        if message is None or message.media is None or not message.raw:
            raise ApiError(404, "media_not_found", "no media for that message")
        # The file name is a hash: nothing from the request ever becomes part of a path.
        name = hashlib.sha256(f"{chat.id}/{message.id}".encode()).hexdigest()
        path = self.settings.media_dir / name
        mimetype = message.media.mimetype or "application/octet-stream"
        if not path.exists():
            try:
                result = await self.commands.call(
                    "downloadMedia", [orjson.loads(message.raw)], timeout=SEND_TIMEOUT
                )
                data = base64.b64decode(result["$bytes"])
            except (CommandError, TransportError, KeyError, TypeError) as exc:
                raise ApiError(502, "media_unavailable", f"download failed: {exc}") from None
            _write_atomic(path, data)
        return FileResponse(path, media_type=mimetype)

    async def qr(self, request: Request) -> Response:
        _staff_only(request)
        self.lifecycle.qr_viewed()
        return JSONResponse({"qr": self.lifecycle.qr})

    async def qr_image(self, request: Request) -> Response:
        _staff_only(request)
        self.lifecycle.qr_viewed()
        if self.lifecycle.qr is None:
            raise ApiError(404, "no_qr", "no QR code now (already linked, or not yet issued)")
        code = segno.make_qr(self.lifecycle.qr, error="l")
        buffer = io.BytesIO()
        if request.url.path.endswith(".svg"):
            code.save(buffer, kind="svg", scale=6, border=2)
            return Response(buffer.getvalue(), media_type="image/svg+xml")
        code.save(buffer, kind="png", scale=8, border=2)
        return Response(buffer.getvalue(), media_type="image/png")


def _staff_only(request: Request) -> None:
    if not principal_of(request).is_staff:
        raise ApiError(403, "forbidden", "linking the phone is for admins and supervisors")


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
