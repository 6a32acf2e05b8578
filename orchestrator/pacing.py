"""The outbound queue for one WhatsApp number: a token bucket, so that a runaway client (or a
buggy frontend loop) cannot send fast enough to get the number banned. Sends wait their turn,
in order; past `max_waiting` they are refused at once rather than queued without end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        rate: float,
        burst: int,
        max_waiting: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_waiting = max_waiting
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._turn = asyncio.Lock()  # one waiter at a time: first come, first sent
        self.waiting = 0
        self.sent = 0
        self.refused = 0
        self.delayed = 0

    def admit(self) -> bool:
        """Reserve a place in the queue; False when it is full (the caller answers 429)."""
        if self.waiting >= self.max_waiting:
            self.refused += 1
            return False
        self.waiting += 1
        return True

    async def acquire(self) -> None:
        """Wait for this send's turn (after `admit`)."""
        try:
            async with self._turn:
                self._refill()
                if self._tokens < 1:
                    self.delayed += 1
                    await asyncio.sleep((1 - self._tokens) / self.rate)
                    self._refill()
                self._tokens -= 1
                self.sent += 1
        finally:
            self.waiting -= 1

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
