"""The rest of each chat's window, after a start that loaded only the newest message of each.

A start serves as soon as the chats are in RAM, each with its newest message (what the chat
list shows). The rest of every chat's window comes from the store afterwards, in the
background (most recently active chats first, a few at a time so that the API and the
streams answer in between) and on demand: before the follower applies events that touch an
unfilled chat (an ack, an edit or a reaction may concern a message not in RAM yet), and
before the API uses a chat's messages (read receipts, a quote, a reaction, an edit, a media
fetch). A page of an unfilled chat takes what RAM lacks from the store without waiting.
So nothing is applied to a window that is not whole, and RAM ends up as a start that loaded
every window would leave it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence

from orchestrator.errors import StoreError
from orchestrator.normalize import normalize
from orchestrator.sessionlog import SessionLog
from orchestrator.state import State, jids_named
from orchestrator.store import Row, Store
from orchestrator.store.rows import message_from_row
from orchestrator.wire import Envelope

log = logging.getLogger("orchestrator.windowfill")

# Chats per store read in the background: with 500-message windows, 4 chats are at most
# 2,000 messages to build, about 15 ms of the event loop (a page read waits at most that).
BACKGROUND_SLICE = 4
BACKGROUND_PAUSE = 0.005  # seconds between two slices: 1,000 chats take 1.25 s longer


class WindowFill:
    def __init__(self, state: State, store: Store, *, session: str = "default") -> None:
        self._state = state
        self._store = store
        self._log = SessionLog(log, session)
        self._filling: dict[str, asyncio.Future[None]] = {}  # chat id -> its read in flight
        self._reads: set[asyncio.Task[None]] = set()

    async def ensure(self, chat_ids: Collection[str]) -> None:
        """Return once each of `chat_ids` holds its whole window (or the store failed it)."""
        unfilled = self._state.unfilled
        wanted = [c for c in chat_ids if c in unfilled]
        if not wanted:
            return
        started = [c for c in wanted if c not in self._filling]
        loop = asyncio.get_running_loop()
        for chat_id in started:
            self._filling[chat_id] = loop.create_future()
        waits = [self._filling[c] for c in wanted]
        if started:
            # A task of its own: a caller that goes away (a client hanging up) does not take
            # away a read that others (the follower) may be waiting for.
            read = loop.create_task(self._fill(started), name="window-fill-read")
            self._reads.add(read)
            read.add_done_callback(self._reads.discard)
        await asyncio.gather(*map(asyncio.shield, waits))

    async def before_apply(self, batch: Sequence[Envelope]) -> None:
        """The follower's hook: fill the chats these events touch before they are applied.
        Normalizes a second time (the pipeline does it again): only while chats are unfilled."""
        if not self._state.unfilled:
            return
        jids: set[str] = set()
        for envelope in batch:
            for fact in normalize(envelope.event, envelope.data):
                jids.update(jids_named(fact))
        await self.ensure(self._state.unfilled_among(jids))

    async def run(self) -> None:
        """Fill every unfilled chat, the most recently active first."""
        unfilled = self._state.unfilled
        if not unfilled:
            return
        order = [c.id for c in self._state.chats_by_activity() if c.id in unfilled]
        for start in range(0, len(order), BACKGROUND_SLICE):
            await self.ensure(order[start : start + BACKGROUND_SLICE])
            # A pause, not just a turn: a request needs several turns of the loop, and the
            # first screens after a start (the chat list, its pages) come before this.
            await asyncio.sleep(BACKGROUND_PAUSE)
        self._log.info("every chat's window is in RAM (%d filled after the start)", len(order))

    async def _fill(self, chat_ids: list[str]) -> None:
        rows: dict[str, list[Row]] | None = None
        try:
            rows = await self._store.newest_messages(chat_ids, self._state.window)
        except StoreError as exc:
            self._log.error(
                "store unavailable filling %d chats (%s, ...): %s; their older messages stay "
                "in the store", len(chat_ids), chat_ids[0], exc,
            )  # fmt: skip
        finally:  # whatever happened (a shutdown cancels it), nobody waits on these forever
            for chat_id in chat_ids:
                if rows is None:
                    self._state.give_up(chat_id)
                else:
                    messages = [message_from_row(r) for r in rows.get(chat_id, [])]
                    self._state.fill(chat_id, messages)
                future = self._filling.pop(chat_id)
                if not future.done():
                    future.set_result(None)
