"""Envelopes that are news only while they happen (agent presence): fanned out to the stream
clients connected now, never appended to the event log, never stored, never replayed.

Why not the log: a stream position must name something every replica (and this one after a
restart) can resume from. Presence would move every client's position onto entries that are
gone after a restart (a resync for everyone) and would churn the log's retention with typing
ticks. So an ephemeral envelope carries the id "" (it names no position: the JS client applies
it without moving its position, and its SSE frame has no `id:` line, so EventSource keeps its
Last-Event-ID). A client that connects gets the current state first (`snapshot`), which is
what a reconnecting client needs; what happened while it was away is superseded by it.

Each client keeps an offset into a small ring; one that falls more than the ring behind skips
to its start (presence is superseded by the next change anyway).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from orchestrator.eventlog import Entry, envelope_json
from orchestrator.shapes import EventType

RING = 1024
Item = tuple[str, EventType, str | None, Any]
"""(session, event type, chat id, data)"""


def ephemeral_entry(offset: int, item: Item) -> Entry:
    session, event_type, chat_id, data = item
    json = envelope_json("", event_type, session, data)
    sse = b"event: %s\ndata: %s\n\n" % (event_type.encode(), json)
    return Entry(offset, "", event_type, chat_id, session, json, sse, time.monotonic())


class EphemeralFeed:
    """`wake` wakes the stream clients waiting for news (the event log's waiters); `snapshot`,
    set by the owner of the state, lists the envelopes that describe it now."""

    def __init__(self, wake: Callable[[], None], size: int = RING) -> None:
        self._wake = wake
        self._ring: deque[Entry] = deque(maxlen=size)
        self.head = 0  # the offset the next envelope gets
        self.snapshot: Callable[[], Iterable[Item]] = lambda: ()

    def publish(self, items: Iterable[Item]) -> None:
        added = False
        for item in items:
            self._ring.append(ephemeral_entry(self.head, item))
            self.head += 1
            added = True
        if added:
            self._wake()

    def read(self, offset: int) -> tuple[list[Entry], int]:
        """The envelopes from `offset` still in the ring, and the offset after them."""
        if offset >= self.head:
            return [], offset
        first = self.head - len(self._ring)
        return list(itertools.islice(self._ring, max(offset, first) - first, None)), self.head

    def current(self) -> list[Entry]:
        """The state now, as envelopes (offset -1: they are no place in the ring)."""
        return [ephemeral_entry(-1, item) for item in self.snapshot()]
