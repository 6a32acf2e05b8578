"""Chats, messages and contacts in RAM, and what changed when a fact is applied.

`apply` takes normalized facts and returns stream changes; applying the same fact twice changes
nothing and returns nothing. Chats are kept ordered by last activity in a sorted list (an update
moves one chat in O(log n)); each chat holds a bounded window of its newest messages, and a
global bound evicts from the least recently active chats first.

One person, one chat: WhatsApp names a person by phone-number jid or by `@lid`. Once a mapping
is known (`JidAlias`, or the `*_alt` fields on a message key or a group member) the phone-number
jid is the canonical id; a chat that began under the LID is merged into it (`chat_deleted` with
`mergedInto`), and a group member filed under the LID is filed again under it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, assert_never

from sortedcontainers import SortedDict, SortedList

from orchestrator import domain as d
from orchestrator.jids import is_group, is_lid, normalize_jid
from orchestrator.waiting import WaitingIndex, is_waiting, resolve, with_edit


@dataclass(frozen=True, slots=True)
class Change:
    """One change: its type, the chat it concerns (for per-chat streams), and the object.
    Types in INTERNAL_CHANGES are for the store only; the others are stream event types."""

    type: str
    chat_id: str | None
    data: Any


MessageKey = tuple[int, int, str]  # (timestamp, arrival, id)


@dataclass(slots=True)
class Chat:
    id: str
    is_group: bool
    name: str | None = None
    unread_count: int = 0
    timestamp: int = 0
    archived: bool = False
    pinned: bool = False
    muted: bool = False
    # A group's members: canonical jid -> admin role (None, "admin" or "superadmin"), in the
    # order they were listed or joined. None: not a group, or a group whose members were never
    # seen. Set from the group's metadata (the whole list) and edited by participant events,
    # so before the first metadata it holds only the members those events named.
    participants: dict[str, d.AdminRole | None] | None = None
    # (timestamp, arrival, id) -> Message, oldest first (the store pages in the same order)
    messages: SortedDict[MessageKey, d.Message] = field(default_factory=SortedDict)
    keys: dict[str, MessageKey] = field(default_factory=dict)
    # RAM holds every message this chat has had: a short page is the whole story and needs no
    # trip to the store. False once its window lost a message, or when the store was not read.
    complete: bool = False
    # WhatsApp Business label ids on this chat, in the order they were put on. An id may name
    # a label not seen yet (associations and edits come in any order) or a deleted one: the
    # views show only the labels that exist.
    labels: tuple[str, ...] = ()

    @property
    def last_message(self) -> d.Message | None:
        if not self.messages:
            return None
        message: d.Message = self.messages.peekitem(-1)[1]
        return message

    def get(self, message_id: str) -> d.Message | None:
        key = self.keys.get(message_id)
        return None if key is None else self.messages[key]


@dataclass(slots=True)
class Contact:
    id: str
    name: str | None = None
    notify: str | None = None
    verified_name: str | None = None


@dataclass(slots=True)
class Label:
    """A WhatsApp Business label. `color`: WhatsApp's palette index (0-19). Deleted labels are
    kept (so that a late association to one stays hidden, and the store learns the deletion)."""

    id: str
    name: str
    color: int
    deleted: bool = False
    predefined_id: str | None = None


@dataclass
class StateStats:
    messages: int = 0
    unreadable: int = 0
    orphan_updates: int = 0
    evicted: int = 0


INTERNAL_CHANGES = frozenset({"history_message"})
CHAT_FIELDS = ("name", "unread_count", "archived", "pinned", "muted")


class State:
    def __init__(
        self,
        *,
        window: int,
        max_messages: int,
        clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.window = window
        self._clock_us = clock_us
        self._last_arrival = 0
        self.max_messages = max_messages
        self.chats: dict[str, Chat] = {}
        self.contacts: dict[str, Contact] = {}
        self.labels: dict[str, Label] = {}
        self.stats = StateStats()
        self.generation = 0  # goes up whenever anything a reader could see changed
        self.last_unreadable: d.Unreadable | None = None
        self._activity: SortedList[tuple[int, str]] = SortedList()  # (-timestamp, id): newest first
        # Chats whose timestamp went up during `apply`, with the one they are filed under in
        # _activity: each is re-filed once per apply, not once per message (a history sync
        # touches a chat hundreds of times).
        self._unfiled: dict[str, int] = {}
        self._lid_to_pn: dict[str, str] = {}
        self._new_aliases: dict[str, str] = {}
        # Group members still filed under a LID: LID -> the groups, so that learning the LID's
        # phone jid re-files them without scanning every group.
        self._lid_members: dict[str, set[str]] = {}
        self._presence: dict[str, dict[str, Any]] = {}
        self._sync: d.SyncProgress | None = None
        # The store's history was loaded, so a chat it did not hold has no older messages there.
        self._history_loaded = False
        # Chats loaded with only their newest page: the store holds more of their window.
        # Nothing may touch their messages before `fill` (or `give_up`): see WindowFill.
        self.unfilled: set[str] = set()
        # Every waiting (undecryptable) message, held in a chat's window or not.
        self.waiting = WaitingIndex()
        # Call id -> the chat its message went to: a later step of a group call names only the
        # caller (Baileys keeps the group jid for the offer). Bounded: calls end in minutes.
        self._calls: dict[str, str] = {}

    # ---- reading ------------------------------------------------------------------------

    def resolve(self, jid: str) -> str:
        jid = normalize_jid(jid)
        return self._lid_to_pn.get(jid, jid) if is_lid(jid) else jid

    def chats_by_activity(self) -> Iterator[Chat]:
        for _, chat_id in self._activity:
            yield self.chats[chat_id]

    def chat_rank(self, chat: Chat) -> int:
        """Position of `chat` in activity order, for paging with `before`."""
        return int(self._activity.index((-chat.timestamp, chat.id)))

    def chat_page(self, limit: int, before: str | None) -> list[Chat]:
        start = 0 if before is None else self.chat_rank(self.chats[before]) + 1
        return [self.chats[cid] for _, cid in self._activity[start : start + limit]]

    def chats_after(self, before: str | None) -> Iterator[Chat]:
        """Chats in activity order, starting after `before` (or from the newest)."""
        start = 0 if before is None else self.chat_rank(self.chats[before]) + 1
        for _, chat_id in self._activity.islice(start):
            yield self.chats[chat_id]

    def message_page(self, chat: Chat, limit: int, before: str | None) -> list[d.Message]:
        """Oldest first, the `limit` messages before `before` (or the newest)."""
        end = len(chat.messages) if before is None else chat.messages.index(chat.keys[before])
        values: list[d.Message] = chat.messages.values()[max(0, end - limit) : end]
        return values

    def contact_name(self, jid: str) -> str | None:
        contact = self.contacts.get(jid)
        if contact is None:
            return None
        return contact.name or contact.notify or contact.verified_name

    def sync_progress(self) -> d.SyncProgress | None:
        """The last history-sync progress WhatsApp reported; None before any."""
        return self._sync

    def take_new_aliases(self) -> dict[str, str]:
        """LID -> phone mappings learned since the last call (for the store)."""
        new, self._new_aliases = self._new_aliases, {}
        return new

    # ---- writing ------------------------------------------------------------------------

    def load(
        self,
        chats: Iterable[Chat],
        messages: Iterable[d.Message],
        contacts: Iterable[Contact],
        aliases: dict[str, str],
        waiting: Iterable[d.Message] = (),
        labels: Iterable[Label] = (),
        *,
        page: int | None = None,
    ) -> None:
        """Fill an empty state from the store (the newest `page` messages of each chat, by
        default a window, and every waiting message, in the window or not), announcing
        nothing. A chat given a full `page` shorter than a window is `unfilled` until `fill`
        brings the rest of its window."""
        page = self.window if page is None else page
        self._history_loaded = True
        for message in waiting:
            self.waiting.file(message)
        self._lid_to_pn.update(aliases)
        for chat in chats:
            self.chats[chat.id] = chat
            self._activity.add((-chat.timestamp, chat.id))
            if chat.participants:
                # Stored before their LID's mapping was: file them under the phone jid now.
                resolve = self.resolve
                chat.participants = {resolve(j): r for j, r in chat.participants.items()}
                self._file_lid_members(chat)
        for message in messages:
            owner = self.chats.get(message.chat_id) or self._chat_for(message.chat_id, [])
            if message.id not in owner.keys:
                self._insert(owner, message)
        for chat in self.chats.values():
            chat.complete = len(chat.messages) < page  # a full page may have more
            if not chat.complete and page < self.window:
                self.unfilled.add(chat.id)
            self._enforce_bounds(chat)
        for contact in contacts:
            self.contacts[contact.id] = contact
        for label in labels:
            self.labels[label.id] = label

    def unfilled_among(self, jids: Iterable[str]) -> set[str]:
        """Which of the chats `jids` name (as they are, or as they resolve) are unfilled."""
        if not self.unfilled:
            return set()
        named = set(jids)
        named |= {self.resolve(jid) for jid in named}
        return named & self.unfilled

    def fill(self, chat_id: str, newest: list[d.Message]) -> None:
        """An unfilled chat's newest `window` stored messages (newest first): those RAM
        lacks go in under the page it holds, and RAM holds its window as if loaded whole."""
        if chat_id not in self.unfilled:
            return
        self.unfilled.discard(chat_id)
        chat = self.chats.get(chat_id)
        if chat is None:
            return
        for message in newest:
            if message.id not in chat.keys:
                # The waiting index holds the newest word on a waiting message.
                self._insert(chat, self.waiting.get(chat_id, message.id) or message)
        chat.complete = len(newest) < self.window
        self._enforce_bounds(chat)
        self.generation += 1

    def give_up(self, chat_id: str) -> None:
        """The store could not fill the chat: RAM keeps its page, the rest stays in the store
        (as for a chat whose window was evicted)."""
        self.unfilled.discard(chat_id)

    def apply(self, facts: Iterable[d.Fact]) -> list[Change]:
        changes: list[Change] = []
        try:
            for fact in facts:
                # The hot path. Each case that does not match costs an isinstance (~30 ns), so
                # they go in order of frequency: a history sync is mostly messages, then
                # contacts and chats; live traffic is messages, acks and presences. A Fact
                # without a case fails mypy at assert_never.
                match fact:
                    case d.MessageSeen():
                        self._message_seen(fact, changes)
                    case d.MessageChanged():
                        self._message_changed(fact, changes)
                    case d.PresenceSeen():
                        self._presence_seen(fact, changes)
                    case d.ContactSeen():
                        self._contact_seen(fact, changes)
                    case d.ChatSeen():
                        self._chat_seen(fact, changes)
                    case d.JidAlias():
                        self._learn_alias(fact.lid, fact.pn, changes)
                    case d.ReactionSet():
                        self._reaction_set(fact, changes)
                    case d.SyncProgress():
                        self._sync_progress(fact, changes)
                    case d.MessagesRemoved():
                        self._messages_removed(fact, changes)
                    case d.ParticipantsChanged():
                        self._participants_changed(fact, changes)
                    case d.ChatRemoved():
                        self._chat_removed(fact, changes)
                    case d.ChatRemovedAllMessages():
                        self._chat_cleared(fact, changes)
                    case d.CallSeen():
                        self._call_seen(fact, changes)
                    case d.Unreadable():
                        self.stats.unreadable += 1
                        self.last_unreadable = fact
                    case d.LabelEdited():
                        self._label_edited(fact, changes)
                    case d.ChatLabelled():
                        self._chat_labelled(fact, changes)
                    case _:
                        assert_never(fact)
        finally:
            self._file_activity()
        if changes:
            self.generation += 1
        return changes

    def _message_seen(self, fact: d.MessageSeen, out: list[Change]) -> None:
        message = self._canonical_message(fact.message)
        chat = self._chat_for(message.chat_id, out)
        existing = chat.get(message.id)
        if existing is not None:
            merged = self._seen_again(existing, message)
            if merged != existing:
                self._replace(chat, merged)
                out.append(Change("message_update", chat.id, merged))
            return
        unheld = self.waiting.get(chat.id, message.id)
        if unheld is not None:
            # Waiting, and out of RAM's window (or RAM was refilled from the store): it becomes
            # its content where the store holds it. It stays out of the window, which holds
            # the chat's newest messages without a gap.
            merged = self._seen_again(unheld, message)
            if merged != unheld:
                self.waiting.file(merged)
                out.append(Change("message_update", chat.id, merged))
            return
        # First seen now: stamped, so that messages of one second keep their order. (Stored
        # ones keep theirs; rows from before arrival was kept have 0 and sort by id, as the
        # store sorts them.)
        self._last_arrival = arrival = max(self._last_arrival + 1, self._clock_us())
        if message.arrival:  # stamped before (a fact applied to a second State): not ours to touch
            message = dataclasses.replace(message, arrival=arrival)
        else:
            message = d.with_arrival(message, arrival)
        self._insert(chat, message)
        if fact.live and not message.from_me:
            chat.unread_count += 1
        # History is stored, but announced only as sync_progress, not message by message.
        out.append(Change("history_message" if fact.history else "new_message", chat.id, message))
        self._touch(chat, message.timestamp)
        self._enforce_bounds(chat)

    def _message_changed(self, fact: d.MessageChanged, out: list[Change]) -> None:
        chat = self.chats.get(self.resolve(fact.chat_id))
        existing = chat.get(fact.message_id) if chat else None
        held = existing is not None
        if chat is not None and existing is None:
            existing = self.waiting.get(chat.id, fact.message_id)  # out of the window
        if chat is None or existing is None:
            self.stats.orphan_updates += 1
            return
        updated = existing
        if fact.ack is not None and _next_ack(updated.ack, fact.ack) != updated.ack:
            updated = dataclasses.replace(updated, ack=fact.ack)
        editable = not updated.deleted  # an edit arriving after a revoke must not resurrect it
        if fact.edited and fact.text is not None and editable and updated.text != fact.text:
            if is_waiting(updated):
                updated = with_edit(updated, fact.text)  # resolved once filed
            else:
                updated = dataclasses.replace(updated, text=fact.text, edited=True)
        if fact.deleted and not updated.deleted:
            updated = dataclasses.replace(updated, deleted=True, text=None, media=None)
        if updated == existing:
            return
        if held:
            self._replace(chat, updated)
        else:
            self.waiting.file(updated)
        if _only_ack_differs(existing, updated):
            ack = {"chatId": chat.id, "messageId": updated.id, "ack": updated.ack}
            out.append(Change("message_ack", chat.id, ack))
        else:
            out.append(Change("message_update", chat.id, updated))

    def _messages_removed(self, fact: d.MessagesRemoved, out: list[Change]) -> None:
        chat = self.chats.get(self.resolve(fact.chat_id))
        if chat is None:
            return
        for message_id in fact.message_ids:
            self.waiting.forget(chat.id, message_id)
            message = chat.get(message_id)
            if message is not None:
                self._remove(chat, message_id)
                gone = dataclasses.replace(message, deleted=True, text=None, media=None)
                out.append(Change("message_update", chat.id, gone))

    def _chat_cleared(self, fact: d.ChatRemovedAllMessages, out: list[Change]) -> None:
        chat = self.chats.get(self.resolve(fact.chat_id))
        if chat is not None:
            self.waiting.forget_chat(chat.id)
        if chat is None or not chat.messages:
            return
        self.stats.messages -= len(chat.messages)
        chat.messages.clear()
        chat.keys.clear()
        out.append(Change("chat_update", chat.id, chat))

    def _reaction_set(self, fact: d.ReactionSet, out: list[Change]) -> None:
        chat = self.chats.get(self.resolve(fact.chat_id))
        message = chat.get(fact.message_id) if chat else None
        if chat is None or message is None:
            self.stats.orphan_updates += 1
            return
        sender = self.resolve(fact.sender)
        others = tuple(r for r in message.reactions if r.sender != sender)
        reactions = others + ((d.Reaction(fact.emoji, sender),) if fact.emoji else ())
        if reactions == message.reactions:
            return
        updated = dataclasses.replace(message, reactions=reactions)
        self._replace(chat, updated)
        out.append(Change("message_update", chat.id, updated))

    def _chat_seen(self, fact: d.ChatSeen, out: list[Change]) -> None:
        chat_id = self.resolve(fact.id)
        is_new = chat_id not in self.chats
        chat = self._chat_for(chat_id, [])
        before = (*(getattr(chat, name) for name in CHAT_FIELDS), chat.timestamp)
        for name in CHAT_FIELDS:
            value = getattr(fact, name)
            if value is not None:
                setattr(chat, name, value)
        if fact.timestamp is not None:
            self._touch(chat, fact.timestamp)
        after = (*(getattr(chat, name) for name in CHAT_FIELDS), chat.timestamp)
        members_changed = False
        if fact.participants is not None and chat.is_group:
            members: dict[str, d.AdminRole | None] = {}
            for participant in fact.participants:
                members[self._member_id(participant, out)] = participant.admin
            if members != chat.participants:
                chat.participants = members
                self._file_lid_members(chat)
                members_changed = True
        if is_new:
            out.append(Change("new_chat", chat.id, chat))
        elif members_changed:
            self._chat_updated(chat, out)
        elif after != before:
            out.append(Change("chat_update", chat.id, chat))

    def _participants_changed(self, fact: d.ParticipantsChanged, out: list[Change]) -> None:
        chat_id = self.resolve(fact.chat_id)
        if not is_group(chat_id):
            return
        is_new = chat_id not in self.chats
        chat = self._chat_for(chat_id, [])
        members = {} if chat.participants is None else chat.participants
        changed = False
        for participant in fact.participants:
            jid = self._member_id(participant, out)
            role: d.AdminRole | None
            match fact.action:
                case "remove":
                    if jid in members:
                        del members[jid]
                        changed = True
                    continue
                case "promote":
                    role = participant.admin or "admin"
                case "demote":
                    role = None
                case "add" | "modify":
                    # modify: a member's number changed. Baileys names the new jid here but
                    # not reliably the old one (WhiskeySockets/Baileys#858; 7.0.0-rc14 reads
                    # the old jids as JSON), so the old one stays until the next metadata.
                    if jid in members:
                        continue  # added again: keeps the role it has
                    role = participant.admin
                case _:
                    assert_never(fact.action)
            if jid not in members or members[jid] != role:
                members[jid] = role
                changed = True
        if changed:
            chat.participants = members
            self._file_lid_members(chat)
        if is_new:
            out.append(Change("new_chat", chat.id, chat))
        elif changed:
            self._chat_updated(chat, out)

    def _chat_removed(self, fact: d.ChatRemoved, out: list[Change]) -> None:
        self._file_activity()  # before the chat leaves self.chats
        chat = self.chats.pop(self.resolve(fact.id), None)
        if chat is None:
            return
        self.waiting.forget_chat(chat.id)
        self._activity.remove((-chat.timestamp, chat.id))
        self.stats.messages -= len(chat.messages)
        out.append(Change("chat_deleted", chat.id, {"id": chat.id}))

    def _contact_seen(self, fact: d.ContactSeen, out: list[Change]) -> None:
        if fact.alt:
            self._learn_alias(fact.id, fact.alt, out)
        contact_id = self.resolve(fact.id)
        contact = self.contacts.get(contact_id)
        if contact is None:
            contact = self.contacts[contact_id] = Contact(contact_id)
            changed = True
        else:
            changed = False
        for name in ("name", "notify", "verified_name"):
            value = getattr(fact, name)
            if value is not None and getattr(contact, name) != value:
                setattr(contact, name, value)
                changed = True
        if changed:
            out.append(Change("contact_update", contact_id, contact))

    def _presence_seen(self, fact: d.PresenceSeen, out: list[Change]) -> None:
        chat_id = self.resolve(fact.chat_id)
        # A repeated composing/recording is news: WhatsApp repeats it while the contact keeps
        # typing, and clients time a typing indicator out when nothing refreshes it.
        typing = any(
            isinstance(p, dict) and p.get("lastKnownPresence") in ("composing", "recording")
            for p in fact.presences.values()
        )
        if self._presence.get(chat_id) == fact.presences and not typing:
            return
        self._presence[chat_id] = fact.presences
        out.append(Change("presence", chat_id, {"chatId": chat_id, "presences": fact.presences}))

    def _sync_progress(self, fact: d.SyncProgress, out: list[Change]) -> None:
        if fact == self._sync:
            return
        self._sync = fact
        data = {"progress": fact.progress, "syncType": fact.sync_type, "isLatest": fact.is_latest}
        out.append(Change("sync_progress", None, data))

    def _label_edited(self, fact: d.LabelEdited, out: list[Change]) -> None:
        label = Label(fact.id, fact.name, fact.color, fact.deleted, fact.predefined_id)
        if self.labels.get(fact.id) == label:
            return
        self.labels[fact.id] = label
        out.append(Change("label_update", None, label))
        # The chats that carry it show its new name, colour, or its absence.
        for chat in self.chats.values():
            if fact.id in chat.labels:
                self._chat_updated(chat, out)

    def _chat_labelled(self, fact: d.ChatLabelled, out: list[Change]) -> None:
        chat_id = self.resolve(fact.chat_id)
        is_new = chat_id not in self.chats
        chat = self._chat_for(chat_id, [])
        has = fact.label_id in chat.labels
        if fact.on and not has:
            chat.labels = (*chat.labels, fact.label_id)
        elif not fact.on and has:
            chat.labels = tuple(i for i in chat.labels if i != fact.label_id)
        elif not is_new:
            return
        out.append(Change("new_chat" if is_new else "chat_update", chat.id, chat))

    def _call_seen(self, fact: d.CallSeen, out: list[Change]) -> None:
        """A call's first step becomes a Message `type: "call"` (id = the call id) in the
        caller's chat, or the group's; later steps update it in place. A missed incoming call
        counts as unread. Every step that changed something also goes out as a `call`."""
        if fact.caller_alt:
            self._learn_alias(fact.caller, fact.caller_alt, out)
        chat = self.chats.get(self.resolve(self._calls.get(fact.id, fact.chat_id)))
        existing = chat.get(fact.id) if chat is not None else None
        if chat is not None and existing is not None:
            if existing.call is not None:
                self._call_step(chat, existing, existing.call, fact, out)
            return  # a message that is not a call under the call's id: not ours to touch
        outcome = d.call_outcome(None, fact.status)
        info = d.CallInfo(
            direction=fact.direction,
            kind="video" if fact.video else "voice",
            outcome=outcome,
            is_group=bool(fact.is_group) or is_group(fact.chat_id),
            status=fact.status,
        )
        message = d.Message(
            id=fact.id,
            chat_id=self.resolve(fact.chat_id),
            chat_alt=None,
            from_me=fact.direction == "outgoing",
            sender=self.resolve(fact.caller),
            sender_alt=None,
            sender_name=None,
            timestamp=fact.timestamp,
            type="call",
            text=None,
            quoted_id=None,
            media=None,
            ack=d.ACK_DELIVERED,
            call=info,
        )
        self._calls[fact.id] = message.chat_id
        if len(self._calls) > MAX_CALLS:
            del self._calls[next(iter(self._calls))]
        self._message_seen(d.MessageSeen(message, live=False), out)
        chat = self.chats[message.chat_id]
        if _unread_call(info):
            chat.unread_count += 1
            self._chat_updated(chat, out)
        out.append(Change("call", chat.id, _call_event(message, info, fact)))

    def _call_step(
        self, chat: Chat, message: d.Message, info: d.CallInfo, fact: d.CallSeen, out: list[Change]
    ) -> None:
        outcome = d.call_outcome(info.outcome, fact.status)
        ended = info.outcome != "ringing"
        if fact.status == info.status or (ended and fact.status not in d.CALL_ENDS):
            return  # seen, or a signalling step that arrived after the end
        updated_info = dataclasses.replace(
            info,
            outcome=outcome,
            status=fact.status,
            kind=info.kind if fact.video is None else "video" if fact.video else "voice",
            is_group=info.is_group or bool(fact.is_group),
        )
        updated = dataclasses.replace(message, call=updated_info)
        self._replace(chat, updated)
        out.append(Change("message_update", chat.id, updated))
        if _unread_call(updated_info) and not _unread_call(info):
            chat.unread_count += 1
            self._chat_updated(chat, out)
        out.append(Change("call", chat.id, _call_event(updated, updated_info, fact)))

    # ---- internals ----------------------------------------------------------------------

    def _learn_alias(self, a: str, b: str, out: list[Change]) -> None:
        a, b = normalize_jid(a), normalize_jid(b)
        if is_lid(a) == is_lid(b):
            return  # not a LID/phone pair
        lid, pn = (a, b) if is_lid(a) else (b, a)
        if self._lid_to_pn.get(lid) == pn:
            return
        self._lid_to_pn[lid] = pn
        self._new_aliases[lid] = pn
        stray = self.chats.get(lid)
        if stray is not None:
            self._merge_chat(stray, pn, out)
        contact = self.contacts.pop(lid, None)
        if contact is not None and pn not in self.contacts:
            self.contacts[pn] = dataclasses.replace(contact, id=pn)
        for group_id in self._lid_members.pop(lid, ()):
            group = self.chats.get(group_id)
            members = group.participants if group is not None else None
            if group is None or members is None or lid not in members:
                continue  # left the group, or the group is gone, since it was filed
            role = members.pop(lid)
            members.setdefault(pn, role)  # listed under both: the phone jid's entry stands
            self._chat_updated(group, out)

    def _chat_updated(self, chat: Chat, out: list[Change]) -> None:
        """Announce `chat` once, though a member event may re-file and then change it."""
        if not out or out[-1].data is not chat:
            out.append(Change("chat_update", chat.id, chat))

    def _member_id(self, participant: d.Participant, out: list[Change]) -> str:
        """The canonical jid of a group member, learning the LID/phone pair it may carry."""
        if participant.alt:
            self._learn_alias(participant.id, participant.alt, out)
        return self.resolve(participant.id)

    def _file_lid_members(self, chat: Chat) -> None:
        for jid in chat.participants or ():
            if is_lid(jid):
                self._lid_members.setdefault(jid, set()).add(chat.id)

    def _merge_chat(self, stray: Chat, into_id: str, out: list[Change]) -> None:
        self._file_activity()
        del self.chats[stray.id]
        self._activity.remove((-stray.timestamp, stray.id))
        is_new = into_id not in self.chats
        target = self._chat_for(into_id, [])
        for message in self.waiting.forget_chat(stray.id):
            if target.get(message.id) is None:
                self.waiting.file(dataclasses.replace(message, chat_id=into_id))
        for message in stray.messages.values():
            if target.get(message.id) is None:
                self._insert(target, dataclasses.replace(message, chat_id=into_id))
        target.unread_count += stray.unread_count
        target.complete = target.complete and stray.complete
        target.name = target.name or stray.name
        target.labels = (*target.labels, *(i for i in stray.labels if i not in target.labels))
        self._touch(target, stray.timestamp)
        self.stats.messages -= len(stray.messages)
        self._enforce_bounds(target)
        out.append(Change("chat_deleted", stray.id, {"id": stray.id, "mergedInto": into_id}))
        out.append(Change("new_chat" if is_new else "chat_update", into_id, target))

    def _canonical_message(self, message: d.Message) -> d.Message:
        if message.chat_alt:
            self._learn_alias(message.chat_id, message.chat_alt, [])
        if message.sender and message.sender_alt:
            self._learn_alias(message.sender, message.sender_alt, [])
        chat_id = self.resolve(message.chat_id)
        sender = self.resolve(message.sender) if message.sender else None
        if chat_id == message.chat_id and sender == message.sender:
            return message
        return dataclasses.replace(message, chat_id=chat_id, sender=sender)

    def _chat_for(self, chat_id: str, out: list[Change]) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat(
                chat_id, is_group(chat_id), complete=self._history_loaded
            )
            self._activity.add((0, chat_id))
            out.append(Change("new_chat", chat_id, chat))
        return chat

    def _touch(self, chat: Chat, timestamp: int) -> None:
        if timestamp > chat.timestamp:
            self._unfiled.setdefault(chat.id, chat.timestamp)
            chat.timestamp = timestamp

    def _file_activity(self) -> None:
        for chat_id, filed in self._unfiled.items():
            self._activity.remove((-filed, chat_id))
            self._activity.add((-self.chats[chat_id].timestamp, chat_id))
        self._unfiled.clear()

    def _insert(self, chat: Chat, message: d.Message) -> None:
        key = (message.timestamp, message.arrival, message.id)
        chat.messages[key] = message
        chat.keys[message.id] = key
        self.stats.messages += 1
        if message.type == d.WAITING:
            self.waiting.file(message)

    def _replace(self, chat: Chat, message: d.Message) -> None:
        chat.messages[chat.keys[message.id]] = message
        self.waiting.file(message)

    def _seen_again(self, existing: d.Message, message: d.Message) -> d.Message:
        """A message seen again (history, then a live append; a waiting one, then its
        content): what it is now."""
        if existing.type == d.WAITING:
            return resolve(existing, message)  # counted as resolved when filed
        if message.type == d.WAITING:
            return existing  # we have its content: a late stub of it takes nothing away
        return _merge(existing, message)

    def _remove(self, chat: Chat, message_id: str) -> None:
        del chat.messages[chat.keys.pop(message_id)]
        self.stats.messages -= 1

    def _evict_oldest(self, chat: Chat) -> None:
        _, message = chat.messages.popitem(0)
        del chat.keys[message.id]
        chat.complete = False
        self.stats.messages -= 1
        self.stats.evicted += 1

    def _enforce_bounds(self, chat: Chat) -> None:
        while len(chat.messages) > self.window:
            self._evict_oldest(chat)
        if self.stats.messages <= self.max_messages:
            return
        # Over the global bound: the least recently active chats give up their oldest first.
        self._file_activity()
        for _, chat_id in reversed(self._activity):
            victim = self.chats[chat_id]
            while victim.messages and self.stats.messages > self.max_messages:
                self._evict_oldest(victim)
            if self.stats.messages <= self.max_messages:
                return


MAX_CALLS = 1000  # calls whose chat the state remembers by call id


def jids_named(fact: d.Fact) -> tuple[str, ...]:
    """The jids a fact names whose chats' messages applying it may read or change: its
    chat, and both sides of an alias it teaches (learning one merges the LID's chat into the
    phone's). Presences, sync progress and label edits touch no message."""
    match fact:
        case d.MessageSeen(message=m):
            return tuple(j for j in (m.chat_id, m.chat_alt, m.sender, m.sender_alt) if j)
        case (
            d.MessageChanged(chat_id=chat_id)
            | d.MessagesRemoved(chat_id=chat_id)
            | d.ChatRemovedAllMessages(chat_id=chat_id)
            | d.ReactionSet(chat_id=chat_id)
            | d.ChatLabelled(chat_id=chat_id)
        ):
            return (chat_id,)
        case (
            d.ChatSeen(id=chat_id, participants=members)
            | d.ParticipantsChanged(chat_id=chat_id, participants=members)
        ):
            return (chat_id, *(j for p in members or () for j in (p.id, p.alt) if j))
        case d.ChatRemoved(id=chat_id):
            return (chat_id,)
        case d.ContactSeen(id=jid, alt=alt):
            return (jid, alt) if alt else ()
        case d.JidAlias(lid=lid, pn=pn):
            return (lid, pn)
        case d.CallSeen(chat_id=chat_id, caller=caller, caller_alt=alt):
            return tuple(j for j in (chat_id, caller, alt) if j)
        case _:
            return ()


def _unread_call(info: d.CallInfo) -> bool:
    """A missed incoming call waits for someone to call back, like an unread message."""
    return info.outcome == "missed" and info.direction == "incoming"


def _call_event(message: d.Message, info: d.CallInfo, fact: d.CallSeen) -> dict[str, Any]:
    """The `call` stream event: this step of the call, and where the call now stands."""
    return {
        "id": message.id,
        "chatId": message.chat_id,
        "from": message.sender,
        "direction": info.direction,
        "kind": info.kind,
        "isGroup": info.is_group,
        "status": fact.status,
        "outcome": info.outcome,
        "timestamp": fact.timestamp,
        "offline": fact.offline,
    }


def _merge(old: d.Message, new: d.Message) -> d.Message:
    """A message seen again (history, then a live append): keep what we learned since."""
    return dataclasses.replace(
        new,
        arrival=old.arrival,
        ack=_next_ack(old.ack, new.ack),
        reactions=old.reactions or new.reactions,
        edited=old.edited or new.edited,
        deleted=old.deleted or new.deleted,
        text=old.text if old.edited or old.deleted else new.text,
        media=None if old.deleted else new.media,
        timestamp=old.timestamp or new.timestamp,
    )


def _next_ack(current: int, reported: int) -> int:
    """Acks only go up (a late 'delivered' never undoes 'read'), except that a pending
    message can fail."""
    if reported == d.ACK_ERROR:
        return d.ACK_ERROR if current == d.ACK_PENDING else current
    return max(current, reported)


def _only_ack_differs(a: d.Message, b: d.Message) -> bool:
    return dataclasses.replace(a, ack=b.ack) == b
