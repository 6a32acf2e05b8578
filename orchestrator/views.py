"""The API's objects (`shapes`) from the state's objects. No I/O: the helpdesk fields come from
a callable, media links from the signer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator import domain as d
from orchestrator import shapes as s
from orchestrator.medialinks import MediaLinks
from orchestrator.state import Change, Chat, Contact, Label, State

ChatExtras = Callable[[str], tuple[s.Assignment | None, list[s.Tag]]]
"""A chat's helpdesk fields: its assignment and its tags."""


ChatStatusOf = Callable[[str], s.ChatStatus]
"""A chat's helpdesk status."""


def no_extras(chat_id: str) -> tuple[s.Assignment | None, list[s.Tag]]:
    return None, []


def always_open(chat_id: str) -> s.ChatStatus:
    return "open"


def ack_status(ack: int) -> s.AckStatus | None:
    return d.ACK_NAMES[ack] if 0 <= ack < len(d.ACK_NAMES) else None  # type: ignore[return-value]


def contact_json(contact: Contact) -> s.Contact:
    return {
        "id": contact.id,
        "name": contact.name,
        "notify": contact.notify,
        "verifiedName": contact.verified_name,
    }


def label_json(label: Label) -> s.Label:
    return {"id": label.id, "name": label.name, "color": label.color}


def label_update_json(label: Label) -> s.LabelUpdate:
    return {**label_json(label), "deleted": label.deleted, "predefinedId": label.predefined_id}


class Views:
    def __init__(
        self,
        state: State,
        links: MediaLinks,
        extras: ChatExtras = no_extras,
        status: ChatStatusOf = always_open,
    ) -> None:
        self._state = state
        self._links = links
        self._extras = extras
        self._status = status

    def message(self, message: d.Message) -> s.Message:
        media = message.media
        sender = message.sender
        view: s.Message = {
            "id": message.id,
            "chatId": message.chat_id,
            "fromMe": message.from_me,
            "sender": sender,
            "senderName": message.sender_name
            or (self._state.contact_name(sender) if sender else None),
            "timestamp": message.timestamp,
            "type": message.type,  # type: ignore[typeddict-item]  # the normalizer's kinds
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
                "url": self._links.url(message.chat_id, message.id),
            },
            "ack": message.ack,
            "status": ack_status(message.ack),
            "edited": message.edited,
            "deleted": message.deleted,
            "reactions": [{"emoji": r.emoji, "sender": r.sender} for r in message.reactions],
        }
        call = message.call
        if call is not None:
            view["call"] = {
                "direction": call.direction,
                "kind": call.kind,
                "outcome": call.outcome,
                "isGroup": call.is_group,
            }
        return view

    def chat(self, chat: Chat) -> s.Chat:
        last = chat.last_message
        assignment, tags = self._extras(chat.id)
        members = chat.participants
        return {
            "id": chat.id,
            "name": chat.name or self._state.contact_name(chat.id),
            "isGroup": chat.is_group,
            "unreadCount": chat.unread_count,
            "timestamp": chat.timestamp,
            "lastMessage": None if last is None else self.message(last),
            "archived": chat.archived,
            "pinned": chat.pinned,
            "muted": chat.muted,
            "assignment": assignment,
            "tags": tags,
            "participants": None
            if members is None
            else [{"id": jid, "admin": role} for jid, role in members.items()],
            "labels": self.chat_labels(chat),
            "status": self._status(chat.id),
        }

    def chat_labels(self, chat: Chat) -> list[s.Label]:
        """The labels on a chat that exist (not unknown yet, not deleted)."""
        known = self._state.labels
        labels = (known.get(i) for i in chat.labels)
        return [label_json(label) for label in labels if label is not None and not label.deleted]

    def labels(self) -> list[s.Label]:
        """Every label that exists, by name."""
        alive = (label for label in self._state.labels.values() if not label.deleted)
        return [label_json(label) for label in sorted(alive, key=lambda x: (x.name, x.id))]

    def change(self, change: Change) -> Any:
        """The `data` of the stream event for a state change."""
        data = change.data
        if isinstance(data, d.Message):
            return self.message(data)
        if isinstance(data, Chat):
            return self.chat(data)
        if isinstance(data, Contact):
            return contact_json(data)
        if isinstance(data, Label):
            return label_update_json(data)
        if change.type == "message_ack":
            return {**data, "status": ack_status(data["ack"])}
        return data
