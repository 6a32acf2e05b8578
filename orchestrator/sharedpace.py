"""One number's send pace shared by every orchestrator replica: a token bucket kept in the
JetStream key-value store and taken with compare-and-set, so two replicas sending for the same
number together stay within its rate (each replica's own Pacer still orders and bounds its
queue). The bucket is {tokens, at}: `at` is wall-clock seconds, the only clock replicas share;
a skew between hosts shifts one refill, it cannot mint tokens in a loop (`at` never goes back).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from orchestrator.pacing import PaceUnavailable

CONFLICT_RETRIES = 50  # replicas taking the same token: each retry follows another's success


class SharedBucket:
    def __init__(
        self,
        kv: Callable[[], Awaitable[KeyValue]],
        key: str,
        rate: float,
        burst: int,
        connected: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._open_kv = kv  # opened on first use: the NATS connection may come up later
        self._kv: KeyValue | None = None
        self._connected = connected  # while NATS is away, say so at once (no 5 s timeout)
        self._key = key
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self.conflicts = 0

    async def take(self) -> float:
        """Take one token: 0.0 once taken, else the seconds to wait before asking again."""
        if not self._connected():
            raise PaceUnavailable("not connected to NATS")
        try:
            return await self._take()
        except (NatsError, OSError) as exc:  # OSError: TimeoutError, a refused reconnect
            raise PaceUnavailable(str(exc) or type(exc).__name__) from exc

    async def _take(self) -> float:
        if self._kv is None:
            self._kv = await self._open_kv()
        for _ in range(CONFLICT_RETRIES):
            now = self._clock()
            try:
                entry = await self._kv.get(self._key)
            except KeyNotFoundError:
                if await self._put(self.burst - 1, now, None):
                    return 0.0
                continue
            state = orjson.loads(entry.value or b"{}")
            at = max(float(state.get("at", now)), 0.0)
            tokens = min(self.burst, float(state.get("tokens", 0)) + max(0.0, now - at) * self.rate)
            if tokens < 1:
                return (1 - tokens) / self.rate
            if await self._put(tokens - 1, max(now, at), entry.revision):
                return 0.0
        raise PaceUnavailable(f"send pace {self._key}: {CONFLICT_RETRIES} conflicts in a row")

    async def _put(self, tokens: float, at: float, revision: int | None) -> bool:
        assert self._kv is not None
        value = orjson.dumps({"tokens": tokens, "at": at})
        try:
            if revision is None:
                await self._kv.create(self._key, value)
            else:
                await self._kv.update(self._key, value, last=revision)
        except KeyWrongLastSequenceError:  # also what create says when the key exists
            self.conflicts += 1
            return False
        return True


def bucket_opener(
    connection: Callable[[], Awaitable[Client]], prefix: str
) -> Callable[[], Awaitable[KeyValue]]:
    """Opens (creating it if missing) the `<prefix>-pace` bucket: one key per session."""

    async def open_bucket() -> KeyValue:
        client = await connection()
        return await client.jetstream().create_key_value(bucket=f"{prefix}-pace", history=1)

    return open_bucket
