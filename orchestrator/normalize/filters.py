"""What the operator chose not to keep: ignored kinds of chat (ORCH_IGNORE) and the history
policy (ORCH_HISTORY). Built once from the settings and passed in; nothing here reads them.

    options = Options(ignore=parse_ignore("groups"), history=parse_history("days:7"))
    normalizer = Normalizer(options, time.time)
    facts = normalizer("messages.upsert", data)   # the same call as `normalize`

Ignored kinds are dropped from the raw payload, item by item, before `normalize` reads it:
a group message, a group's chat, its receipts, reactions, presences and history items never
become facts, so they never reach RAM, the store or a stream. Each dropped item is counted by
kind. Items whose jid cannot be read are left for `normalize` to report as Unreadable.

Status, newsletters and broadcast lists are never chats here (`values.is_hidden` drops them
whatever the setting): naming them drops them one step earlier and counts them.

The history policy drops history-sync messages (`MessageSeen(history=True)`): all of them for
`none`, those older than N days for `days:N`; the chats of a sync still appear.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from orchestrator.domain import Fact, MessageSeen
from orchestrator.normalize.events import normalize

IgnoreKind = Literal["groups", "status", "newsletters", "broadcasts"]
IGNORE_KINDS: tuple[IgnoreKind, ...] = get_args(IgnoreKind)

HistoryMode = Literal["full", "recent", "none", "days"]
_DAYS = re.compile(r"days:([0-9]{1,5})")
_DAY = 86_400


def parse_ignore(text: str) -> frozenset[IgnoreKind]:
    """`"groups, status"` -> the kinds. Raises ValueError naming an unknown word."""
    kinds: set[IgnoreKind] = set()
    for word in (w.strip().lower() for w in text.split(",")):
        if not word:
            continue
        if word not in IGNORE_KINDS:
            known = ", ".join(IGNORE_KINDS)
            raise ValueError(f"unknown kind {word!r}: use a comma list of {known}")
        kinds.add(word)
    return frozenset(kinds)


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    mode: HistoryMode = "recent"
    days: int | None = None  # for mode "days"

    @property
    def bridge_mode(self) -> str:
        """What the bridge asks WhatsApp for (BRIDGE_HISTORY): days:N syncs the recent history."""
        return "recent" if self.mode == "days" else self.mode


def parse_history(text: str) -> HistoryPolicy:
    """`full`, `recent`, `none` or `days:N` (N >= 1). Raises ValueError otherwise."""
    value = text.strip().lower()
    if value in ("full", "recent", "none"):
        return HistoryPolicy(value)  # type: ignore[arg-type]  # one of the literals
    match = _DAYS.fullmatch(value)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"{text!r} is not full, recent, none or days:N (N a number of days >= 1)")
    return HistoryPolicy("days", int(match.group(1)))


def kind_of(jid: Any) -> IgnoreKind | None:
    """The ignorable kind of a chat jid; None for a person, or for what is not a jid string."""
    if type(jid) is not str:
        return None
    if jid.endswith("@g.us"):
        return "groups"
    if jid.endswith("@newsletter"):
        return "newsletters"
    if jid == "status@broadcast":
        return "status"
    if jid.endswith("@broadcast"):
        return "broadcasts"
    return None


# --- dropping ignored items from a raw payload (pure) -----------------------------------------

Tally = Counter[str]
_Jid = Callable[[Any], Any]


def _key_jid(item: Any) -> Any:
    """`item.key.remoteJid` (messages, updates, reactions, receipts)."""
    key = item.get("key") if isinstance(item, dict) else None
    return key.get("remoteJid") if isinstance(key, dict) else None


def _id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def _remote_jid(item: Any) -> Any:
    return item.get("remoteJid") if isinstance(item, dict) else None


def _itself(item: Any) -> Any:
    return item


def _call_chat(item: Any) -> Any:
    """A call's chat: the group of a group call. Baileys names the group on the offer only;
    later steps say `isGroup` (from its offer cache), which is all that is needed here."""
    if not isinstance(item, dict):
        return None
    if item.get("groupJid"):
        return item["groupJid"]
    return "@g.us" if item.get("isGroup") is True else item.get("chatId")


def _label_chat(data: Any) -> Any:
    """labels.association `{association: {chatId, ...}, type}`."""
    association = data.get("association") if isinstance(data, dict) else None
    return association.get("chatId") if isinstance(association, dict) else None


def _keep(items: Any, jid: _Jid, ignore: frozenset[IgnoreKind], tally: Tally) -> Any:
    """`items` without the ignored ones; anything but a list is left for normalize to judge."""
    if type(items) is not list:
        return items
    kept = []
    for item in items:
        kind = kind_of(jid(item))
        if kind is not None and kind in ignore:
            tally[kind] += 1
        else:
            kept.append(item)
    return kept if len(kept) != len(items) else items


def _in_list(jid: _Jid) -> Callable[[Any, frozenset[IgnoreKind], Tally], Any]:
    """A payload that is a list of items, each naming its chat through `jid`."""
    return lambda data, ignore, tally: _keep(data, jid, ignore, tally)


def _fields(**lists: _Jid) -> Callable[[Any, frozenset[IgnoreKind], Tally], Any]:
    """A payload object whose fields `lists` are lists of items."""

    def drop(data: Any, ignore: frozenset[IgnoreKind], tally: Tally) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, jid in lists.items():
            if name in out:
                out[name] = _keep(out[name], jid, ignore, tally)
        return out

    return drop


def _whole(jid: _Jid) -> Callable[[Any, frozenset[IgnoreKind], Tally], Any]:
    """A payload about one chat: dropped whole (None) when that chat is ignored."""

    def drop(data: Any, ignore: frozenset[IgnoreKind], tally: Tally) -> Any:
        kind = kind_of(jid(data))
        if kind is not None and kind in ignore:
            tally[kind] += 1
            return None
        return data

    return drop


def _messages_delete(data: Any, ignore: frozenset[IgnoreKind], tally: Tally) -> Any:
    if isinstance(data, dict) and "keys" not in data:
        return _whole(lambda d: d.get("jid"))(data, ignore, tally)
    return _fields(keys=_remote_jid)(data, ignore, tally)


# Event name -> where its chats are. Events not listed carry no chat we model.
_DROPPERS: dict[str, Callable[[Any, frozenset[IgnoreKind], Tally], Any]] = {
    "messages.upsert": _fields(messages=_key_jid),
    "messages.update": _in_list(_key_jid),
    "messages.delete": _messages_delete,
    "messages.reaction": _in_list(_key_jid),
    "message-receipt.update": _in_list(_key_jid),
    "messaging-history.set": _fields(chats=_id, contacts=_id, messages=_key_jid),
    "chats.upsert": _in_list(_id),
    "chats.update": _in_list(_id),
    "chats.delete": _in_list(_itself),
    "contacts.upsert": _in_list(_id),
    "contacts.update": _in_list(_id),
    "groups.upsert": _in_list(_id),
    "groups.update": _in_list(_id),
    "group-participants.update": _whole(_id),
    "presence.update": _whole(_id),
    "bridge.send_failed": _whole(lambda d: d.get("jid") if isinstance(d, dict) else None),
    "bridge.messages_read": _fields(keys=_remote_jid),
    "call": _in_list(_call_chat),
    "labels.association": _whole(_label_chat),
}


def drop_ignored(
    event: str, data: Any, ignore: frozenset[IgnoreKind], tally: Tally
) -> tuple[bool, Any]:
    """(still something to read, the payload without the ignored items). Pure but for `tally`,
    which gets one count per dropped item by kind. The payload is copied, never changed."""
    dropper = _DROPPERS.get(event)
    if dropper is None or not ignore:
        return True, data
    kept = dropper(data, ignore, tally)
    return kept is not None, kept


def keep_history(facts: list[Fact], policy: HistoryPolicy, now: float) -> tuple[list[Fact], int]:
    """(facts without the history messages the policy refuses, how many were dropped)."""
    if policy.mode == "none":
        cutoff = None
    elif policy.mode == "days" and policy.days is not None:
        cutoff = now - policy.days * _DAY
    else:
        return facts, 0
    kept = [
        f
        for f in facts
        if not (
            type(f) is MessageSeen
            and f.history
            and (cutoff is None or f.message.timestamp < cutoff)
        )
    ]
    return kept, len(facts) - len(kept)


# --- the normalizer the pipeline calls ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    ignore: frozenset[IgnoreKind] = frozenset()
    history: HistoryPolicy = field(default_factory=HistoryPolicy)


class Normalizer:
    """`normalize` with the operator's options applied, and counts of what they dropped.
    `clock` (unix seconds) dates the days:N cutoff; passed in so tests can fix it."""

    def __init__(self, options: Options, clock: Callable[[], float]) -> None:
        self.options = options
        self._clock = clock
        self.ignored: Tally = Counter()  # dropped items by IgnoreKind
        self.history_dropped = 0  # history messages the policy refused

    def ignored_kind(self, jid: str) -> IgnoreKind | None:
        """The kind of this chat if ORCH_IGNORE names it, else None."""
        kind = kind_of(jid)
        return kind if kind is not None and kind in self.options.ignore else None

    def keeps(self, jid: str) -> bool:
        """Whether a chat (or contact) of this jid is kept: its kind is not ignored."""
        return self.ignored_kind(jid) is None

    def __call__(self, event: str, data: Any) -> list[Fact]:
        readable, data = drop_ignored(event, data, self.options.ignore, self.ignored)
        if not readable:
            return []
        facts = normalize(event, data)
        if event == "messaging-history.set" and self.options.history.mode in ("none", "days"):
            facts, dropped = keep_history(facts, self.options.history, self._clock())
            self.history_dropped += dropped
        return facts
