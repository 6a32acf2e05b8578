"""The inbox views (issue 16): which of a session's chats a filter keeps (`GET /chats?assigned=
&tag=&status=`), and how many chats each view holds (`GET /inbox/counts`). Pure reads of the
helpdesk metadata in RAM; who may see a chat is the helpdesk's rule, applied by the caller for
the listing and here for the counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.errors import BadRequest, Code
from orchestrator.helpdesk import SessionHelpdesk
from orchestrator.principal import Principal

MAX_TAG_DIGITS = 18  # a 64-bit id


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """What a listing keeps. Hashable: staff pages are cached per filter. `assigned="me"` is
    read as the caller's id, so two staff members' "mine" are two filters."""

    assigned: Literal["any", "none", "agent"] = "any"
    agent: str | None = None  # with "agent": whose chats (None: the caller has no user id)
    tag: int | None = None
    status: s.ChatStatus | None = None

    @property
    def keeps_all(self) -> bool:
        return self.assigned == "any" and self.tag is None and self.status is None

    def keeps(self, helpdesk: SessionHelpdesk, chat_id: str) -> bool:
        if self.status is not None and helpdesk.chat_status(chat_id) != self.status:
            return False
        if self.tag is not None and self.tag not in helpdesk.chat_tag_ids(chat_id):
            return False
        if self.assigned == "any":
            return True
        assignee = helpdesk.assignee(chat_id)
        if self.assigned == "none":
            return assignee is None
        return assignee is not None and assignee == self.agent


def read_filter(call: Call[None], helpdesk: SessionHelpdesk) -> InboxFilter:
    """The filter a request's query names; an unknown value is a 400 with its code. An empty
    value is no filter (a form's "any")."""
    assigned = call.query("assigned") or None
    kind: Literal["any", "none", "agent"] = "any"
    agent = None
    if assigned == "none":
        kind = "none"
    elif assigned == "me":
        kind, agent = "agent", call.user.user_id
    elif assigned is not None:
        if not helpdesk.has_profile(assigned):
            what = f"assigned must be me, none or an agent's id, not {assigned[:80]!r}"
            raise BadRequest(Code.BAD_ASSIGNED, what)
        kind, agent = "agent", assigned
    return InboxFilter(kind, agent, read_tag(call, helpdesk), read_status(call))


def read_tag(call: Call[None], helpdesk: SessionHelpdesk) -> int | None:
    raw = call.query("tag") or None
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_TAG_DIGITS):
        raise BadRequest(Code.BAD_TAG, "tag must be a tag's id")
    if not helpdesk.tag_exists(int(raw)):
        raise BadRequest(Code.BAD_TAG, f"no tag {raw}")
    return int(raw)


def read_status(call: Call[None]) -> s.ChatStatus | None:
    raw = call.query("status") or None
    if raw is None:
        return None
    for status in s.CHAT_STATUSES:
        if raw == status:
            return status
    raise BadRequest(Code.BAD_STATUS, f"status must be one of {', '.join(s.CHAT_STATUSES)}")


def counts(
    helpdesk: SessionHelpdesk,
    principal: Principal,
    chat_ids: Iterable[str],
    status: s.ChatStatus | None,
) -> s.InboxCounts:
    """Over the chats the principal may see: per status always; the rest within `status`
    when one is given. Every tag is counted, with 0 when no chat carries it."""
    statuses: s.StatusCounts = {"open": 0, "pending": 0, "resolved": 0}
    tags = {tag["id"]: 0 for tag in helpdesk.tags()}
    mine = unassigned = total = 0
    me = principal.user_id
    for chat_id in chat_ids:
        if not helpdesk.can_see(principal, chat_id):
            continue
        chat_status = helpdesk.chat_status(chat_id)
        statuses[chat_status] += 1
        if status is not None and chat_status != status:
            continue
        total += 1
        assignee = helpdesk.assignee(chat_id)
        if assignee is None:
            unassigned += 1
        elif me is not None and assignee == me:
            mine += 1
        for tag_id in helpdesk.chat_tag_ids(chat_id):
            if tag_id in tags:
                tags[tag_id] += 1
    return {
        "mine": mine,
        "unassigned": unassigned,
        "all": total,
        "statuses": statuses,
        "tags": {str(tag_id): n for tag_id, n in tags.items()},
    }
