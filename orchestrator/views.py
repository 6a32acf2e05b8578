"""API objects (camelCase JSON, as DESIGN.md fixes them) from the state's objects. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from orchestrator import domain as d
from orchestrator.state import Change, Chat, Contact, State


def media_url(chat_id: str, message_id: str) -> str:
    return f"/media/{quote(chat_id, safe='')}/{quote(message_id, safe='')}"


def message_json(message: d.Message, state: State) -> dict[str, Any]:
    media = message.media
    return {
        "id": message.id,
        "chatId": message.chat_id,
        "fromMe": message.from_me,
        "sender": message.sender,
        "senderName": message.sender_name
        or (state.contact_name(message.sender) if message.sender else None),
        "timestamp": message.timestamp,
        "type": message.type,
        "rawKind": message.raw_kind,
        "text": message.text,
        "quotedId": message.quoted_id,
        "media": None
        if media is None
        else {
            "mimetype": media.mimetype,
            "fileName": media.file_name,
            "size": media.size,
            "seconds": media.seconds,
            "url": media_url(message.chat_id, message.id),
        },
        "ack": message.ack,
        "status": d.ACK_NAMES[message.ack] if 0 <= message.ack < len(d.ACK_NAMES) else None,
        "edited": message.edited,
        "deleted": message.deleted,
        "reactions": [{"emoji": r.emoji, "sender": r.sender} for r in message.reactions],
    }


ChatExtras = Callable[[str], dict[str, Any]]
"""Helpdesk fields for a chat (`assignment`, `tags`)."""


def no_extras(chat_id: str) -> dict[str, Any]:
    return {}


def chat_json(chat: Chat, state: State, extras: ChatExtras = no_extras) -> dict[str, Any]:
    last = chat.last_message
    return {
        "id": chat.id,
        "name": chat.name or state.contact_name(chat.id),
        "isGroup": chat.is_group,
        "unreadCount": chat.unread_count,
        "timestamp": chat.timestamp,
        "lastMessage": None if last is None else message_json(last, state),
        "archived": chat.archived,
        "pinned": chat.pinned,
        "muted": chat.muted,
        **extras(chat.id),
    }


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.name,
        "notify": contact.notify,
        "verifiedName": contact.verified_name,
    }


def change_json(change: Change, state: State, extras: ChatExtras = no_extras) -> Any:
    data = change.data
    if isinstance(data, d.Message):
        return message_json(data, state)
    if isinstance(data, Chat):
        return chat_json(data, state, extras)
    if isinstance(data, Contact):
        return contact_json(data)
    if change.type == "message_ack":
        return {**data, "status": d.ACK_NAMES[data["ack"]]}
    return data
