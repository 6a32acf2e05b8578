"""The one dispatch point: Baileys event name -> a small handler -> domain facts.

Like mautrix-whatsapp's `handleWAEvent`: `normalize` looks the event up in `_HANDLERS`, and
each handler reads its payload (wire-encoded, see `values`) into facts. Events without a
handler mean nothing to the helpdesk's state and yield no facts: connection.update and
creds.update are the lifecycle's business, and bridge.*, blocklist.*,
newsletter and settings events are not modelled.

Failure is per part: a list is read item by item (`_each`), so one message Baileys shaped
in a way we cannot read becomes one `Unreadable` and its 49 neighbours still become facts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.domain import (
    ACK_ERROR,
    PARTICIPANT_ACTIONS,
    AdminRole,
    ChatRemoved,
    ChatRemovedAllMessages,
    ChatSeen,
    ContactSeen,
    Fact,
    JidAlias,
    Message,
    MessageSeen,
    MessagesRemoved,
    Participant,
    ParticipantAction,
    ParticipantsChanged,
    PresenceSeen,
    SyncProgress,
    Unreadable,
)
from orchestrator.normalize.calls import read_call, read_call_rejected
from orchestrator.normalize.labels import read_label_association, read_label_edit
from orchestrator.normalize.messages import (
    read_message_update,
    read_reaction,
    read_receipt,
    read_web_message,
)
from orchestrator.normalize.values import (
    ShapeError,
    as_dict,
    as_list,
    is_group,
    is_hidden,
    opt_bool,
    opt_int,
    opt_jid,
    opt_list,
    opt_str,
    req_jid,
    req_str,
    type_name,
)

_MAX_REASON = 300

Handler = Callable[[str, Any], list[Fact]]
"""(event name, payload) -> facts. May raise: `normalize` turns that into an Unreadable."""


def normalize(event: str, data: Any) -> list[Fact]:
    """The facts in one raw Baileys event (its envelope's `event` and `data`).

    Pure: no I/O, no logging, no state; the same input always gives equal facts. Never
    raises: what it cannot read comes back as `Unreadable(event, reason)` facts, one per
    unreadable part. Unhandled events give `[]`.
    """
    handler = _HANDLERS.get(event) if type(event) is str else None
    if handler is None:
        return []
    try:
        return handler(event, data)
    except Exception as exc:
        return [Unreadable(event, _reason("", exc))]


def _reason(where: str, exc: Exception) -> str:
    # ShapeError messages are ours and already say where; other exceptions are bugs or
    # shapes we did not foresee, so name their type.
    text = str(exc) if isinstance(exc, ShapeError) else f"{type(exc).__name__}: {exc}"
    reason = f"{where}: {text}" if where else text
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 3] + "..."


def _each(event: str, items: Any, where: str, read: Callable[[Any], Fact | None]) -> list[Fact]:
    """`read` every item of a list; an item it cannot read becomes an Unreadable."""
    if type(items) is not list:
        return [Unreadable(event, f"{where}: expected a list, got {type_name(items)}")]
    facts: list[Fact] = []
    for index, item in enumerate(items):
        try:
            fact = read(item)
        except Exception as exc:
            facts.append(Unreadable(event, _reason(f"{where}[{index}]", exc)))
            continue
        if fact is not None:
            facts.append(fact)
    return facts


# --- messages -----------------------------------------------------------------------------


def _live_message(item: Any) -> Fact | None:
    return read_web_message(item, live=True)


def _old_message(item: Any) -> Fact | None:
    return read_web_message(item, live=False)


def _history_message(item: Any) -> Fact | None:
    return read_web_message(item, live=False, history=True)


def _messages_upsert(event: str, data: Any) -> list[Fact]:
    # 'notify' is a message arriving now; 'append' is one delivered while we were offline,
    # or our own: both are messages, only 'notify' is news.
    payload = as_dict(data, "data")
    live = payload.get("type") == "notify"
    return _each(
        event, payload.get("messages"), "messages", _live_message if live else _old_message
    )


def _messages_read(event: str, data: Any) -> list[Fact]:
    """The bridge's report of read receipts we sent: the chats they belong to are read."""
    keys = as_list(as_dict(data, "data").get("keys"), "data.keys")
    chats = dict.fromkeys(req_jid(as_dict(k, "data.keys[]"), "remoteJid", "key") for k in keys)
    return [ChatSeen(c, is_group(c), unread_count=0) for c in chats if not is_hidden(c)]


def _send_failed(event: str, data: Any) -> list[Fact]:
    """The bridge's report of a sendMessage that threw: Baileys never announced the message,
    so this is the only place it appears, as failed (ack 0)."""
    payload = as_dict(data, "data")
    chat_id = req_jid(payload, "jid", "data")
    if is_hidden(chat_id):
        return []
    message = Message(
        id=req_str(payload, "messageId", "data"),
        chat_id=chat_id,
        chat_alt=None,
        from_me=True,
        sender=None,
        sender_alt=None,
        sender_name=None,
        timestamp=opt_int(payload.get("timestamp"), "data.timestamp") or 0,
        type="text",
        text=opt_str(payload.get("text"), "data.text"),
        quoted_id=None,
        media=None,
        ack=ACK_ERROR,
    )
    return [MessageSeen(message, live=False)]


def _messages_update(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "updates", read_message_update)


def _messages_reaction(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "reactions", read_reaction)


def _message_receipts(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "receipts", read_receipt)


def _messages_delete(event: str, data: Any) -> list[Fact]:
    payload = as_dict(data, "data")
    if "keys" not in payload:
        if payload.get("all") is not True:
            raise ShapeError("data: neither keys nor all")
        jid = req_jid(payload, "jid", "data")
        return [] if is_hidden(jid) else [ChatRemovedAllMessages(jid)]
    by_chat: dict[str, list[str]] = {}
    facts: list[Fact] = []
    for index, item in enumerate(as_list(payload["keys"], "keys")):
        try:
            key = as_dict(item, "key")
            chat_id = req_jid(key, "remoteJid", "key")
            message_id = req_str(key, "id", "key")
        except ShapeError as exc:
            facts.append(Unreadable(event, _reason(f"keys[{index}]", exc)))
            continue
        if not is_hidden(chat_id):
            by_chat.setdefault(chat_id, []).append(message_id)
    facts.extend(MessagesRemoved(chat, tuple(ids)) for chat, ids in by_chat.items())
    return facts


# --- history --------------------------------------------------------------------------------


def _history_set(event: str, data: Any) -> list[Fact]:
    """One history sync chunk. Aliases first, so that whoever applies the facts in order
    knows a LID's phone jid before it meets chats and messages under either."""
    payload = as_dict(data, "data")
    facts: list[Fact] = []
    mappings = payload.get("lidPnMappings")
    if mappings is not None:
        facts += _each(event, mappings, "lidPnMappings", _alias)
    facts += _each(event, payload.get("chats", []), "chats", _chat)
    facts += _each(event, payload.get("contacts", []), "contacts", _contact)
    facts += _each(event, payload.get("messages", []), "messages", _history_message)
    progress = payload.get("progress")
    sync_type = payload.get("syncType")
    if progress is not None or sync_type is not None:
        try:
            facts.append(
                SyncProgress(
                    progress=opt_int(progress, "progress"),
                    sync_type=opt_int(sync_type, "syncType"),
                    is_latest=opt_bool(payload.get("isLatest"), "isLatest"),
                )
            )
        except ShapeError as exc:
            facts.append(Unreadable(event, _reason("", exc)))
    return facts


# --- chats, contacts, groups, aliases -------------------------------------------------------


def _chat(item: Any) -> ChatSeen | None:
    """A Chat (a history Conversation, or Baileys' partial chat update). A field that is not
    in the payload stays None; one that is there as null was cleared (unpinned, unmuted)."""
    chat = as_dict(item, "chat")
    jid = req_jid(chat, "id", "chat")
    if is_hidden(jid):
        return None
    return ChatSeen(
        id=jid,
        is_group=is_group(jid),
        name=opt_str(chat.get("name"), "chat.name")
        or opt_str(chat.get("displayName"), "chat.displayName"),
        unread_count=opt_int(chat.get("unreadCount"), "chat.unreadCount"),
        timestamp=opt_int(chat.get("conversationTimestamp"), "chat.conversationTimestamp"),
        archived=_flag(chat, "archived"),
        # pinned: the pin's time (0 or null = not pinned); muteEndTime: the mute's end, -1
        # (uint64 max on the wire) = forever. Whether a mute already ended needs a clock,
        # which a pure function has not: any end time counts as muted.
        pinned=_flag(chat, "pinned"),
        muted=_flag(chat, "muteEndTime"),
        participants=_history_members(chat.get("participant")) if is_group(jid) else None,
    )


def _flag(chat: dict[str, Any], name: str) -> bool | None:
    """A bool, or a number where non-zero means yes; None when the field is absent."""
    if name not in chat:
        return None
    value = chat[name]
    if value is None or type(value) is bool:
        return bool(value)
    return bool(opt_int(value, f"chat.{name}"))


def _chats(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "chats", _chat)


def _chat_removed(item: Any) -> ChatRemoved | None:
    jid = opt_jid(item, "chat id")
    if jid is None:
        raise ShapeError("chat id: missing")
    return None if is_hidden(jid) else ChatRemoved(jid)


def _chats_delete(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "ids", _chat_removed)


def _contact(item: Any) -> ContactSeen | None:
    contact = as_dict(item, "contact")
    jid = req_jid(contact, "id", "contact")
    if is_hidden(jid):
        return None
    return ContactSeen(
        id=jid,
        name=opt_str(contact.get("name"), "contact.name"),
        notify=opt_str(contact.get("notify"), "contact.notify"),
        verified_name=opt_str(contact.get("verifiedName"), "contact.verifiedName"),
        alt=_other_id(contact, jid),
    )


def _other_id(contact: dict[str, Any], jid: str) -> str | None:
    """The same person under their other jid: a contact's id is its LID or its phone jid,
    and Baileys puts the other (when it knows it) in `lid` / `phoneNumber` (`jid` in some
    older payloads)."""
    for name in ("lid", "phoneNumber", "jid"):
        other = opt_jid(contact.get(name), f"contact.{name}")
        if other is not None and other != jid:
            return other
    return None


def _contacts(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "contacts", _contact)


def _group(item: Any) -> ChatSeen | None:
    """A GroupMetadata (groups.upsert), or a partial one (groups.update: only what changed,
    so `participants` is there only when the whole membership is, as after
    groupFetchAllParticipating)."""
    group = as_dict(item, "group")
    jid = req_jid(group, "id", "group")
    if is_hidden(jid):
        return None
    members = group.get("participants")
    return ChatSeen(
        id=jid,
        is_group=True,
        name=opt_str(group.get("subject"), "group.subject"),
        participants=None if members is None else _members(members, "group.participants"),
    )


def _groups(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "groups", _group)


_ADMIN_ROLES: dict[str, AdminRole] = {"admin": "admin", "superadmin": "superadmin"}
_RANKS: dict[int, AdminRole | None] = {0: None, 1: "admin", 2: "superadmin"}  # proto's Rank
_ACTIONS: dict[str, ParticipantAction] = {action: action for action in PARTICIPANT_ACTIONS}


def _member(item: Any) -> Participant:
    """A participant: a jid string (Baileys 6), or a Baileys 7 GroupParticipant: `id`, the
    same person's other jid in `phoneNumber` (when `id` is a LID) or `lid` (when it is a phone
    jid), and `admin` (null, "admin" or "superadmin"). See Socket/groups.js
    extractGroupMetadata and Socket/messages-recv.js handleGroupNotification."""
    if type(item) is str:
        jid = opt_jid(item, "participant")
        if jid is None:
            raise ShapeError("participant: empty")
        return Participant(jid)
    participant = as_dict(item, "participant")
    jid = opt_jid(participant.get("id"), "participant.id")
    alt = opt_jid(participant.get("phoneNumber"), "participant.phoneNumber") or opt_jid(
        participant.get("lid"), "participant.lid"
    )
    if jid is None:
        jid, alt = alt, None
    if jid is None:
        raise ShapeError("participant: no id")
    admin = participant.get("admin")
    role = None if admin is None else _ADMIN_ROLES.get(admin) if type(admin) is str else None
    if admin is not None and role is None:
        raise ShapeError("participant.admin: not null, 'admin' or 'superadmin'")
    return Participant(jid, role, None if alt == jid else alt)


def _members(items: Any, where: str) -> tuple[Participant, ...]:
    return tuple(_member(item) for item in as_list(items, where))


def _history_members(items: Any) -> tuple[Participant, ...] | None:
    """A history Conversation's `participant` (proto GroupParticipant: `userJid`, `rank`).
    Empty (as in most history chunks) means not in this event, not an empty group."""
    members = []
    for item in opt_list(items, "chat.participant"):
        participant = as_dict(item, "chat.participant[]")
        rank = opt_int(participant.get("rank"), "chat.participant[].rank") or 0
        if rank not in _RANKS:
            raise ShapeError("chat.participant[].rank: unknown rank")
        members.append(
            Participant(req_jid(participant, "userJid", "chat.participant[]"), _RANKS[rank])
        )
    return tuple(members) or None


def _group_participants(event: str, data: Any) -> list[Fact]:
    payload = as_dict(data, "data")
    jid = req_jid(payload, "id", "data")
    if is_hidden(jid):
        return []
    action = _ACTIONS.get(req_str(payload, "action", "data"))
    if action is None:
        raise ShapeError("data.action: not add, remove, promote, demote or modify")
    participants = _members(payload.get("participants"), "participants")
    return [ParticipantsChanged(jid, participants, action)]


def _presence(event: str, data: Any) -> list[Fact]:
    payload = as_dict(data, "data")
    jid = req_jid(payload, "id", "data")
    if is_hidden(jid):
        return []
    presences = as_dict(payload.get("presences"), "presences")
    return [PresenceSeen(jid, presences)]


def _alias(item: Any) -> JidAlias:
    mapping = as_dict(item, "mapping")
    return JidAlias(lid=req_jid(mapping, "lid", "mapping"), pn=req_jid(mapping, "pn", "mapping"))


def _lid_mapping(event: str, data: Any) -> list[Fact]:
    # Typed as one LIDMapping; accept a list too, in case a Baileys release batches them.
    if type(data) is list:
        return _each(event, data, "mappings", _alias)
    return [_alias(data)]


def _calls(event: str, data: Any) -> list[Fact]:
    return _each(event, data, "calls", read_call)


def _call_rejected(event: str, data: Any) -> list[Fact]:
    fact = read_call_rejected(data)
    return [] if fact is None else [fact]


_HANDLERS: dict[str, Handler] = {
    "messages.upsert": _messages_upsert,
    "messages.update": _messages_update,
    "messages.delete": _messages_delete,
    "messages.reaction": _messages_reaction,
    "message-receipt.update": _message_receipts,
    "messaging-history.set": _history_set,
    "chats.upsert": _chats,
    "chats.update": _chats,
    "chats.delete": _chats_delete,
    "contacts.upsert": _contacts,
    "contacts.update": _contacts,
    "groups.upsert": _groups,
    "groups.update": _groups,
    "group-participants.update": _group_participants,
    "presence.update": _presence,
    "lid-mapping.update": _lid_mapping,
    "bridge.send_failed": _send_failed,
    "bridge.messages_read": _messages_read,
    "labels.edit": read_label_edit,
    "labels.association": read_label_association,
    "call": _calls,
    "bridge.call_rejected": _call_rejected,
}


def handled_events() -> frozenset[str]:
    """The event names that can yield facts (for tests and metrics)."""
    return frozenset(_HANDLERS)
