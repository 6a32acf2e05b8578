"""Domain objects <-> store rows, the same columns in every backend. Pure."""

from __future__ import annotations

from typing import Any

import orjson

from orchestrator import domain as d
from orchestrator.state import Chat, Contact, Label
from orchestrator.store import Row


def chat_row(chat: Chat) -> Row:
    return {
        "id": chat.id,
        "name": chat.name,
        "is_group": chat.is_group,
        "unread_count": chat.unread_count,
        "last_activity": chat.timestamp,
        "archived": chat.archived,
        "pinned": chat.pinned,
        "muted": chat.muted,
        # [{"id", "admin"}], as the API shows them; None when not known (or not a group)
        "participants": None
        if chat.participants is None
        else [{"id": jid, "admin": admin} for jid, admin in chat.participants.items()],
        "labels": list(chat.labels),  # WhatsApp Business label ids
    }


def label_row(label: Label) -> Row:
    return {
        "id": label.id,
        "name": label.name,
        "color": label.color,
        "deleted": label.deleted,
        "predefined_id": label.predefined_id,
    }


def label_from_row(row: Row) -> Label:
    return Label(
        row["id"],
        row.get("name") or "",
        int(row.get("color") or 0),
        bool(row.get("deleted")),
        row.get("predefined_id"),
    )


def contact_row(contact: Contact) -> Row:
    return {
        "id": contact.id,
        "name": contact.name,
        "notify": contact.notify,
        "verified_name": contact.verified_name,
    }


def message_row(message: d.Message) -> Row:
    media = message.media
    return {
        "chat_id": message.chat_id,
        "id": message.id,
        "from_me": message.from_me,
        "sender": message.sender,
        "sender_name": message.sender_name,
        "ts": message.timestamp,
        "type": message.type,
        "raw_kind": message.raw_kind,
        "body": message.text,
        "quoted_id": message.quoted_id,
        "media": None
        if media is None
        else {
            "mimetype": media.mimetype,
            "fileName": media.file_name,
            "size": media.size,
            "seconds": media.seconds,
        },
        "ack": message.ack,
        "edited": message.edited,
        "deleted": message.deleted,
        "reactions": [{"emoji": r.emoji, "sender": r.sender} for r in message.reactions],
        "raw": message.raw.decode() if message.raw else None,
        "arrival": message.arrival,
        "call": None if message.call is None else _call_row(message.call),
    }


def _call_row(call: d.CallInfo) -> dict[str, Any]:
    return {
        "direction": call.direction,
        "kind": call.kind,
        "outcome": call.outcome,
        "isGroup": call.is_group,
        "status": call.status,
    }


def _call(value: Any) -> d.CallInfo | None:
    if value is None:
        return None
    call = _json(value)
    return d.CallInfo(
        call["direction"], call["kind"], call["outcome"], call["isGroup"], call["status"]
    )


def _json(value: Any) -> Any:
    # SQLite hands JSON columns back as text; PostgREST as parsed JSON.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _reactions(value: Any) -> tuple[d.Reaction, ...]:
    if not value or value == "[]":  # most messages: no reaction, and no JSON to parse
        return ()
    return tuple(d.Reaction(r["emoji"], r["sender"]) for r in _json(value))


def message_from_row(row: Row) -> d.Message:
    media = _json(row.get("media"))
    return d.Message(
        id=row["id"],
        chat_id=row["chat_id"],
        chat_alt=None,
        from_me=bool(row["from_me"]),
        sender=row.get("sender"),
        sender_alt=None,
        sender_name=row.get("sender_name"),
        timestamp=int(row["ts"]),
        type=row["type"],
        text=row.get("body"),
        quoted_id=row.get("quoted_id"),
        media=None
        if not media
        else d.Media(
            media.get("mimetype"), media.get("fileName"), media.get("size"), media.get("seconds")
        ),
        ack=int(row["ack"]),
        raw_kind=row.get("raw_kind"),
        edited=bool(row.get("edited")),
        deleted=bool(row.get("deleted")),
        reactions=_reactions(row.get("reactions")),
        raw=(row.get("raw") or "").encode(),
        arrival=int(row.get("arrival") or 0),
        call=_call(row.get("call")),
    )


def chat_from_row(row: Row) -> Chat:
    return Chat(
        id=row["id"],
        is_group=bool(row["is_group"]),
        name=row.get("name"),
        unread_count=int(row.get("unread_count") or 0),
        timestamp=int(row.get("last_activity") or 0),
        archived=bool(row.get("archived")),
        pinned=bool(row.get("pinned")),
        muted=bool(row.get("muted")),
        participants=_participants(row.get("participants")),
        labels=tuple(_json(row.get("labels")) or ()),
    )


def _participants(value: Any) -> dict[str, d.AdminRole | None] | None:
    if value is None:
        return None
    return {p["id"]: p["admin"] for p in _json(value)}


def contact_from_row(row: Row) -> Contact:
    return Contact(row["id"], row.get("name"), row.get("notify"), row.get("verified_name"))
