"""The stream event log: what every SSE, WebSocket and long-poll client reads from.

Each entry's id derives from the bridge position of the event that caused it,
`<epoch>:<seq>:<k>` (the k-th change that event made), so every orchestrator replica, and this
one after a restart (it rebuilds from the bridge journal), names the same event the same way.
Entries are encoded once when appended; clients share them and keep only an offset, so a slow
client costs no memory here. Retention is bounded by count and by age; a position that is no
longer retained is reported (the client then gets `resync`), never served partially.

Every entry belongs to a session (a WhatsApp number). Ids are unique across sessions (each
bridge has its own random epoch), and within one session the log keeps the bridge's order, while
sessions interleave as their events happen to arrive: a restarted orchestrator rebuilds the same
per-session sequences, interleaved differently. That is why a client resumes exactly with one
position per session (`streams.Cursor`), and why the log remembers, per session, the newest entry
it has evicted: a client whose last id of a quiet session was evicted since has missed nothing of
that session.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.wire import dumps

# <epoch>:<seq>:<k>; k = r for a resync marker, m<n> for helpdesk events. Use fullmatch.
EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}:[0-9]{1,15}:([0-9]{1,6}|r|m[0-9]{1,12})")


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int
    id: str
    type: str
    chat_id: str | None
    session: str
    json: bytes  # the envelope {"id","type","session","data"}, encoded once
    sse: bytes  # the same as an SSE frame, also once: never per client
    at: float


@dataclass(frozen=True, slots=True)
class Evicted:
    """The newest entry of a session that is no longer retained."""

    id: str
    offset: int


class AnnouncementNumbers:
    """The n of helpdesk events' ids (`<epoch>:<seq>:m<n>`), unique in the process. A restart
    that preloads stored entries skips past their numbers: an id given before the restart must
    never name another event after it (a client there would skip that event)."""

    def __init__(self) -> None:
        self._next = 1

    def __iter__(self) -> AnnouncementNumbers:
        return self

    def __next__(self) -> int:
        number = self._next
        self._next += 1
        return number

    def skip_past(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            _, _, k = event_id.rpartition(":")
            if k.startswith("m") and k[1:].isdigit():
                self._next = max(self._next, int(k[1:]) + 1)


def envelope_json(event_id: str, event_type: str, session: str, data: Any) -> bytes:
    return dumps({"id": event_id, "type": event_type, "session": session, "data": data})


class EventLog:
    def __init__(
        self, *, max_entries: int, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._clock = clock
        self._entries: deque[Entry] = deque()
        self._first = 0  # offset of _entries[0]
        self._index: dict[str, int] = {}
        # Per session: its newest evicted entry, its last entry, and the offset of its last
        # session_deleted event. One value per session, kept on append and eviction only.
        self.evicted: dict[str, Evicted] = {}
        self.last_ids: dict[str, str] = {}
        self.deleted_at = -1  # offset of the last session_deleted entry; -1: none yet
        # One future per waiting client, resolved together on the next append: waking N clients
        # costs N callbacks, no task or timer per client beyond the one each owns.
        self._waiters: list[asyncio.Future[bool]] = []
        # False when the log began mid-history (a restart resumed from the store's position):
        # then "from the very first event" cannot be served, only a resync.
        self.from_the_start = True

    @property
    def head(self) -> int:
        """The offset the next entry will get."""
        return self._first + len(self._entries)

    @property
    def first(self) -> int:
        self._expire()
        return self._first

    @property
    def last_id(self) -> str | None:
        return self._entries[-1].id if self._entries else None

    @property
    def waiting(self) -> int:
        """How many clients wait for the next entry."""
        return sum(not waiter.done() for waiter in self._waiters)

    def __len__(self) -> int:
        return len(self._entries)

    def append(
        self, items: list[tuple[str, str, str | None, Any]], session: str = "default"
    ) -> list[Entry]:
        """Append (id, type, chat id, data) items of one session; wake everyone waiting.
        The new entries (the write-behind stores them when the stream log is stored)."""
        if not items:
            return []
        now = self._clock()
        entries = [
            self._add(event_id, event_type, chat_id, session,
                      envelope_json(event_id, event_type, session, data), now)
            for event_id, event_type, chat_id, data in items
        ]  # fmt: skip
        self._appended(session, items[-1][0])
        return entries

    def preload(
        self, session: str, entries: list[tuple[str, str, str | None, bytes, float]], now: float
    ) -> None:
        """Before the session's follower runs (a restart): append its stored (id, type,
        chat id, envelope JSON, wall-clock time logged) entries, oldest first, `now` being the
        wall clock. Each keeps its age; count and age evict as for any entry, so the newest
        one that falls out is the session's evicted entry and a client there missed nothing."""
        if not entries:
            return
        clock = self._clock()
        for event_id, event_type, chat_id, json, logged_at in entries:
            self._add(event_id, event_type, chat_id, session, json, clock - (now - logged_at))
        self._appended(session, entries[-1][0])

    def _add(
        self, event_id: str, event_type: str, chat_id: str | None, session: str, json: bytes,
        at: float,
    ) -> Entry:  # fmt: skip
        offset = self.head
        sse = b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), event_type.encode(), json)
        entry = Entry(offset, event_id, event_type, chat_id, session, json, sse, at)
        self._entries.append(entry)
        self._index[event_id] = offset
        if event_type == "session_deleted":
            self.deleted_at = offset
        return entry

    def _appended(self, session: str, last_id: str) -> None:
        self.last_ids[session] = last_id
        while len(self._entries) > self.max_entries:
            self._drop_first()
        self._expire()
        self._wake(True)

    def offset_after(self, event_id: str) -> int | None:
        """Where a client that has seen `event_id` resumes; None when it is not retained."""
        offset = self._index.get(event_id)
        if offset is None or offset < self.first:
            return None
        return offset + 1

    def locate(self, event_id: str) -> tuple[str, int] | None:
        """The session of `event_id` and the offset after it, if that is still a position this
        log can resume from exactly: a retained entry, or the newest evicted entry of its
        session (then the offset may be below `first`: nothing of that session was lost)."""
        offset = self.offset_after(event_id)
        if offset is not None:
            return self._entries[offset - 1 - self._first].session, offset
        for session, evicted in self.evicted.items():
            if evicted.id == event_id:
                return session, evicted.offset + 1
        return None

    def resumable(self, session: str, event_id: str) -> None:
        """`event_id` was the session's last entry before this log began (a restart): a client
        that saw it resumes from the session's first entry here, having missed nothing."""
        if session not in self.evicted:
            self.evicted[session] = Evicted(event_id, self._first - 1)

    def read(self, offset: int, limit: int) -> list[Entry]:
        """Up to `limit` entries from `offset`. Expiry is left to `first`, which every reader
        consults before reading: an entry just past its age is still a correct answer."""
        start = max(offset, self._first) - self._first
        end = min(len(self._entries), start + limit)
        return [self._entries[i] for i in range(start, end)]

    def waiter(self, offset: int) -> asyncio.Future[bool]:
        """A future that becomes True once there is an entry at `offset` or later. It carries no
        timer: `release_waiters` (the streams' ping tick) or its holder resolves it otherwise."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.head > offset:
            future.set_result(True)
        else:
            self._waiters.append(future)
        return future

    def nudge(self) -> None:
        """Wake every waiter as if an entry had come (one came elsewhere: the ephemeral feed);
        each looks for what is new and waits again."""
        self._wake(True)

    def release_waiters(self) -> None:
        """Resolve every pending waiter with False (nothing new): one tick wakes all idle
        clients, instead of a timer per client per wait."""
        self._wake(False)

    async def wait(self, offset: int, timeout: float) -> bool:
        """Wait until there is an entry at `offset` or later; False on timeout or release."""
        waiter = self.waiter(offset)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            return self.head > offset

    def _wake(self, value: bool) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(value)

    def _drop_first(self) -> None:
        entry = self._entries.popleft()
        del self._index[entry.id]
        self.evicted[entry.session] = Evicted(entry.id, entry.offset)
        self._first += 1

    def _expire(self) -> None:
        horizon = self._clock() - self.max_age
        while self._entries and self._entries[0].at < horizon:
            self._drop_first()
