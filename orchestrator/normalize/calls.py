"""Baileys' `call` event -> `CallSeen` facts. Pure.

Baileys (Socket/messages-recv.js handleCall) emits one WACallEvent per `<call>` stanza:
`{chatId, from, callerPn?, id, date, offline, status, isVideo?, isGroup?, groupJid?,
latencyMs?}`. `status` is the tag of the stanza's child (`offer`, `accept`, `reject`,
`preaccept`, `transport`, `relaylatency`, `terminate`, `timeout` = a terminate with
reason="timeout", `ringing` for anything else). Only the offer says `isVideo`/`isGroup`/
`groupJid`; Baileys copies the kind onto the later steps of a call whose offer it saw (not
`groupJid`), so the state finds a later step's message by the call id.

Baileys reports only `<call>` stanzas the server sends to this account, that is calls made
to it: every fact is `direction="incoming"`.
"""

from __future__ import annotations

from typing import Any

from orchestrator.domain import CallSeen
from orchestrator.normalize.values import (
    ShapeError,
    as_dict,
    is_hidden,
    opt_bool,
    opt_int,
    opt_jid,
    req_jid,
    req_str,
)

STATUSES = frozenset(
    {"offer", "ringing", "preaccept", "transport", "relaylatency"}
    | {"timeout", "reject", "accept", "terminate"}
)
"""Baileys' WACallUpdateType."""


def read_call(item: Any) -> CallSeen | None:
    """One WACallEvent. None for a call in a chat the helpdesk does not show."""
    call = as_dict(item, "call")
    caller = req_jid(call, "from", "call")
    status = req_str(call, "status", "call")
    if status not in STATUSES:
        raise ShapeError(f"call.status: unknown status {status[:40]!r}")
    group = opt_jid(call.get("groupJid"), "call.groupJid")
    chat_id = group or req_jid(call, "chatId", "call")
    if is_hidden(chat_id):
        return None
    return CallSeen(
        id=req_str(call, "id", "call"),
        chat_id=chat_id,
        caller=caller,
        caller_alt=opt_jid(call.get("callerPn"), "call.callerPn"),
        status=status,
        timestamp=_seconds(call.get("date")),
        offline=opt_bool(call.get("offline"), "call.offline") or False,
        video=opt_bool(call.get("isVideo"), "call.isVideo"),
        is_group=opt_bool(call.get("isGroup"), "call.isGroup"),
    )


def read_call_rejected(data: Any) -> CallSeen | None:
    """The bridge's `bridge.call_rejected` `{id, from, timestamp}`: our rejectCall went out.
    WhatsApp does not echo a reject to the device that sent it, so this is the only news of
    it; the call's kind and chat come from its earlier steps (the state has them)."""
    payload = as_dict(data, "data")
    caller = req_jid(payload, "from", "data")
    if is_hidden(caller):
        return None
    return CallSeen(
        id=req_str(payload, "id", "data"),
        chat_id=caller,
        caller=caller,
        caller_alt=None,
        status="reject",
        timestamp=opt_int(payload.get("timestamp"), "data.timestamp") or 0,
        offline=False,
        video=None,
        is_group=None,
    )


def _seconds(value: Any) -> int:
    """A Date as the bridge encodes it (`{"$date": ms}`), in unix seconds. handleCall builds
    it from the stanza's `t`; a stanza without one gives an invalid Date (`$date` NaN,
    which JSON carries as null): 0, like a message without a timestamp."""
    date = as_dict(value, "call.date")
    if set(date) != {"$date"}:
        raise ShapeError("call.date: not a $date tag")
    ms = opt_int(date["$date"], "call.date.$date")
    return 0 if ms is None else ms // 1000
