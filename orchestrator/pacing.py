"""The outbound queue for one WhatsApp number: a token bucket, so that a runaway client (or a
buggy frontend loop) cannot send fast enough to get the number banned. Sends wait their turn,
in order; past `max_waiting` they are refused at once rather than queued without end.

With several orchestrator replicas sending for one number, each replica's bucket alone would let
the number send at the rate times the replicas: a `shared` bucket (sharedpace.py, in JetStream's
key-value store) is then taken too, after this replica's own turn."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("orchestrator.pacing")


class PaceUnavailable(Exception):
    """The shared bucket cannot be reached."""


class SharedTokens(Protocol):
    async def take(self) -> float:
        """0.0 once a token is taken, else the seconds to wait before asking again. Raises
        PaceUnavailable."""
        ...


class Pacer:
    def __init__(
        self,
        rate: float,
        burst: int,
        max_waiting: int,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTokens | None = None,
    ) -> None:
        self.rate = rate
        self._shared = shared
        self._shared_failing = False
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
                if self._shared is not None:
                    await self._take_shared(self._shared)
                self.sent += 1
        finally:
            self.waiting -= 1

    async def _take_shared(self, shared: SharedTokens) -> None:
        try:
            while (wait := await shared.take()) > 0:
                self.delayed += 1
                await asyncio.sleep(wait)
        except PaceUnavailable as exc:  # this replica's own pace still holds
            if not self._shared_failing:
                log.warning("shared send pace unavailable (%s); pacing this replica alone", exc)
            self._shared_failing = True
        else:
            if self._shared_failing:
                log.info("shared send pace available again")
            self._shared_failing = False

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
