"""The automatic rules of a session, applied when a customer writes: the greeting on their first
message in a chat, the away message outside business hours, and round-robin assignment of an
unassigned chat among the agents online. Each acts at most once per conversation.

The pipeline calls `customer_wrote` for every new message of a customer (not ours, not from a
history sync), synchronously and in order; what the rule needs of that moment (is it the chat's
first customer message, which conversation is it) is read then, and the rest runs in a task,
one message at a time per session. A message older than `MAX_AGE` (one replayed long after it
came, a bridge journal read by a fresh orchestrator) is left alone.

Never twice: a rule records its run (`rule_runs`, unique per chat, rule and conversation) in
the store BEFORE it acts, and acts only if the record is new. A restart replays events from the
stored position and may apply a message again; a replica sharing the store applies it too; a
duplicate event is seen again: each finds the run recorded and does nothing. The price is
at-most-once: a send that fails after its record is not retried.

A conversation runs from the chat's (re)opening to its resolution. Which one a message belongs
to is `conversation(chat_id)`; until chat status exists, `whole_life`: the chat's whole life is
one conversation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from orchestrator import domain as d
from orchestrator import shapes as s
from orchestrator.desksettings import SettingsBook
from orchestrator.errors import ApiError, StoreError
from orchestrator.helpdesk import SessionHelpdesk
from orchestrator.hours import is_open
from orchestrator.jids import is_group
from orchestrator.state import State
from orchestrator.store import Store

log = logging.getLogger("orchestrator.rules")

Rule = Literal["greeting", "away", "round_robin"]
RULES: tuple[Rule, ...] = ("greeting", "away", "round_robin")  # the order they act in
MAX_AGE = 15 * 60  # seconds: a customer message older than this is history, not a visit
# What a customer does that is not writing to us: it starts no conversation.
NOT_WRITING = frozenset({"reaction", "call"})

OnlineAgents = Callable[[str], list[str]]
"""(session) -> the user ids of the agents online who may use it (AgentPresence.online)."""
Conversation = Callable[[str], str]
"""(chat id) -> the key of the chat's current conversation."""
SendText = Callable[[str, str], str]
"""(chat id, text) -> the id of the message queued on the number's paced send path; raises
ApiError when it cannot be queued (not connected, queue full)."""


def whole_life(chat_id: str) -> str:
    """Until chat status exists: one conversation per chat, for ever."""
    return "chat"


def due(settings: s.HelpdeskSettings, *, first: bool, open_now: bool, assigned: bool) -> list[Rule]:
    """The rules a customer message calls for, in the order they act. Pure."""
    wanted = {
        "greeting": settings["greeting"]["enabled"] and first,
        "away": settings["awayMessage"]["enabled"] and not open_now,
        "round_robin": settings["assignment"]["rule"] == "round_robin" and not assigned,
    }
    return [rule for rule in RULES if wanted[rule]]


def next_agent(online: list[str], last: str | None) -> str | None:
    """Round robin over the agents online, by id (a stable order, whoever came online first):
    the first after `last`, wrapping around; None when nobody is online. Pure."""
    ordered = sorted(set(online))
    if not ordered:
        return None
    return next((agent for agent in ordered if last is None or agent > last), ordered[0])


@dataclass(frozen=True, slots=True)
class Visit:
    """A customer message as the rules see it, taken when it was applied."""

    chat_id: str
    message_id: str
    timestamp: int
    first: bool  # the chat's first customer message
    conversation: str


@dataclass
class RuleStats:
    replies: dict[str, int]  # automatic replies queued, by rule
    assigned: int = 0  # chats given to an agent by round robin
    repeats: int = 0  # runs found recorded already (a replay, a duplicate, another replica)
    failures: int = 0  # runs that could not act (store down, not connected, queue full)
    stale: int = 0  # customer messages too old to act on


class Rules:
    def __init__(
        self,
        session: str,
        book: SettingsBook,
        store: Store,
        helpdesk: SessionHelpdesk,
        state: State,
        send: SendText,
        online_agents: OnlineAgents,
        *,
        conversation: Conversation = whole_life,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self._book = book
        self._store = store
        self._helpdesk = helpdesk
        self._state = state
        self._send = send
        self._online_agents = online_agents
        self._conversation = conversation
        self._clock = clock
        self._turn = asyncio.Lock()  # one message at a time: a rotation moves one step each
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = RuleStats({"greeting": 0, "away": 0})

    # ---- the pipeline's hook: synchronous, no I/O --------------------------------------

    def customer_wrote(self, message: d.Message) -> None:
        """A new message in a chat, applied to the state just now (not one from a history
        sync). Ours, a group's, and what is not writing (a reaction, a call) are ignored."""
        chat_id = message.chat_id
        if message.from_me or is_group(chat_id) or message.type in NOT_WRITING:
            return
        if self._clock() - message.timestamp > MAX_AGE:
            self.stats.stale += 1
            return
        known = self._book.cached(self.session)
        if known is not None and not due(known, first=True, open_now=False, assigned=False):
            return  # every rule off (the usual case): no task per message of a busy number
        visit = Visit(
            chat_id,
            message.id,
            message.timestamp,
            self._first(message),
            self._conversation(chat_id),
        )
        task = asyncio.get_running_loop().create_task(self._visit(visit), name="rules")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session %s: a rule run failed", self.session, exc_info=task.exception())

    def _first(self, message: d.Message) -> bool:
        """Whether RAM shows no earlier customer message in the chat, and holds all of it.
        Earlier, not other: one event may bring several, all in the state by now."""
        chat = self._state.chats.get(message.chat_id)
        if chat is None or not chat.complete:
            return False
        this = (message.timestamp, message.arrival)
        return not any(
            (m.timestamp, m.arrival) < this and not m.from_me and m.type not in NOT_WRITING
            for m in chat.messages.values()
        )

    # ---- the runs ----------------------------------------------------------------------

    async def _visit(self, visit: Visit) -> None:
        async with self._turn:
            try:
                settings = await self._book.get(self.session)
                assigned = self._helpdesk.chat_extras(visit.chat_id)[0] is not None
                rules = due(
                    settings,
                    first=visit.first,
                    open_now=is_open(settings["businessHours"], visit.timestamp),
                    assigned=assigned,
                )
                for rule in rules:
                    if rule == "round_robin":
                        await self._assign(visit)
                    else:
                        reply = settings["greeting" if rule == "greeting" else "awayMessage"]
                        await self._reply(visit, rule, reply["text"])
            except StoreError as exc:
                self.stats.failures += 1
                log.warning(
                    "session %s: rules for %s in %s not applied: %s",
                    self.session, visit.message_id, visit.chat_id, exc,
                )  # fmt: skip

    async def _claim(self, visit: Visit, rule: Rule) -> bool:
        claimed = await self._store.claim_rule_run(
            self.session, visit.chat_id, rule, visit.conversation
        )
        if not claimed:
            self.stats.repeats += 1
            log.info(
                "session %s: %s already ran in %s (conversation %s); not again",
                self.session, rule, visit.chat_id, visit.conversation,
            )  # fmt: skip
        return claimed

    async def _reply(self, visit: Visit, rule: Rule, text: str) -> None:
        if not await self._claim(visit, rule):
            return
        try:
            message_id = self._send(visit.chat_id, text)
        except ApiError as exc:
            self.stats.failures += 1
            log.warning(
                "session %s: %s for %s not sent: %s", self.session, rule, visit.chat_id, exc
            )
            return
        self.stats.replies[rule] += 1
        await self._helpdesk.auto_reply_sent(visit.chat_id, rule, message_id)
        log.info("session %s: %s %s queued for %s", self.session, rule, message_id, visit.chat_id)

    async def _assign(self, visit: Visit) -> None:
        members = {agent["id"] for agent in self._helpdesk.agents()}
        online = [user for user in self._online_agents(self.session) if user in members]
        last = await self._store.rule_cursor(self.session, "round_robin")
        agent = next_agent(online, last)
        if agent is None:
            log.info("session %s: nobody online to take %s", self.session, visit.chat_id)
            return  # not recorded: the customer's next message tries again
        if not await self._claim(visit, "round_robin"):
            return
        if await self._helpdesk.assign_by_rule(visit.chat_id, agent, "round_robin"):
            await self._store.set_rule_cursor(self.session, "round_robin", agent)
            self.stats.assigned += 1

    # ---- tests and shutdown ------------------------------------------------------------

    async def drain(self) -> None:
        """Until the runs under way are done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
