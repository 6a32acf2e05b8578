"""Lease fencing over one session's JetStream subject. Pure: no I/O.

A bridge host publishes with its lease term (the KV revision of its last create or renewal, the
`Wa-Lease` header). Terms only grow along the stream while one host holds the session, and a new
holder's first term is above every term of the old one. An old holder that was paused may still
get a publish through after losing its lease: its term then sits below a term that came earlier
in the stream, and that event must not be applied.

"Earlier in the stream", not "seen earlier": a replica that follows live from the newest event
and then replays from a stored position reads old, legitimate events (with old terms) after new
ones. So the fence keeps, by stream sequence, where each higher term first appeared (a
staircase), and judges an event by the highest term before its own stream sequence.
"""

from __future__ import annotations

import bisect

MAX_STEPS = 65_536  # one step per renewal that carried an event: about a week of a busy number


class Fence:
    def __init__(self, max_steps: int = MAX_STEPS) -> None:
        self._seqs: list[int] = []  # stream sequence where each step's term first appeared
        self._terms: list[int] = []  # strictly increasing
        self._max_steps = max_steps
        self.highest = 0  # the highest term seen anywhere (events and heartbeats)

    def admit(self, stream: int, term: int) -> bool:
        """Whether the event at stream sequence `stream`, published under `term`, is applied."""
        i = bisect.bisect_left(self._seqs, stream)
        before = self._terms[i - 1] if i else 0
        if term < before:
            return False
        self.highest = max(self.highest, term)
        if term > before:
            # A higher term from here on: later steps it covers are no longer steps.
            end = i
            while end < len(self._terms) and self._terms[end] <= term:
                end += 1
            self._seqs[i:end] = [stream]
            self._terms[i:end] = [term]
            if len(self._seqs) > self._max_steps:
                # The oldest steps go: only replays from that far back lose their fencing.
                del self._seqs[: self._max_steps // 2], self._terms[: self._max_steps // 2]
        return True

    def admit_live(self, term: int) -> bool:
        """Whether a message without a stream sequence (a heartbeat) comes from a holder whose
        term is not below the highest one seen."""
        if term < self.highest:
            return False
        self.highest = term
        return True
