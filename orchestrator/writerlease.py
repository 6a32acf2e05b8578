"""The writer lease: with a shared store (Supabase) and several orchestrator replicas following
the same session, only the lease holder writes that session's history, so replicas never
write the same rows twice nor race on them.

The lease is a key (the session) in the JetStream key-value bucket `<prefix>-writers`, whose
entries expire after the TTL (the bucket's max age). A replica acquires it with `create` (which
fails while someone holds it) and renews it every TTL/3 with `update` on the revision it last
wrote (compare-and-set: a conflict means another replica holds it now). The revision of its
last successful create or update is its term; terms only grow. It holds the lease until its
local deadline, the last renewal (the time the request was sent, on the monotonic clock) plus
the TTL less a second, so it stops writing before another replica can take over, even when it
cannot reach NATS to learn that it lost. The write-behind asks `held` right before each write.

Wiring (the NATS connection is the transport's): `lease = WriterLease(nc.jetstream(),
prefix=settings.nats_prefix, session=session_id, replica=settings.replica_id)`, then
`WriteBehind(..., may_write=lambda: lease.held)`; run `lease.run()` as one of the session's
tasks and `await lease.release()` after the write-behind's last flush when it stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

import orjson
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger("orchestrator.writerlease")

TTL = 10.0
MARGIN = 1.0  # the holder stops this long before its lease can expire in the bucket
STANDBY_POLL = 1.0  # how often a replica without the lease tries to take it


class WriterLease:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        prefix: str,
        session: str,
        replica: str,
        ttl: float = TTL,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._js = js
        self.bucket = f"{prefix}-writers"
        self.session = session
        self.replica = replica
        self.ttl = ttl
        self._clock = clock
        self._wall_clock = wall_clock
        self._kv: KeyValue | None = None
        self._deadline: float | None = None
        self.term: int | None = None  # the revision of the last successful create/update
        self._since: float | None = None

    @property
    def held(self) -> bool:
        """Whether this replica may write now: it holds the lease and its deadline is ahead."""
        return self._deadline is not None and self._clock() < self._deadline

    async def run(self) -> None:
        """Acquire, renew, and take the lease again whenever it is free; runs until cancelled."""
        while True:
            try:
                await self.attempt()
            except (TimeoutError, NatsError) as exc:
                # Held until the deadline passes: `held` says so by itself.
                log.warning("session %s: writer lease not renewed: %s", self.session, exc)
            await asyncio.sleep(self.ttl / 3 if self.held else min(STANDBY_POLL, self.ttl / 3))

    async def attempt(self) -> bool:
        """One acquisition or renewal; whether the lease is held after it."""
        kv = await self._bucket()
        sent = self._clock()
        try:
            if self.term is not None:
                # Past the deadline too: the compare-and-set still proves nobody took it since.
                revision = await kv.update(self.session, self._value(), last=self.term)
            else:
                self.term, self._since = None, self._wall_clock()
                revision = await kv.create(self.session, self._value())
        except KeyWrongLastSequenceError:
            if self.term is not None:
                log.warning("session %s: writer lease lost (term %d)", self.session, self.term)
            self.term, self._deadline = None, None
            return False
        if self.term is None:
            log.info("session %s: writer lease taken, term %d", self.session, revision)
        self.term, self._deadline = revision, sent + self.ttl - MARGIN
        return True

    async def release(self) -> None:
        """On a clean stop: free the lease at once, so another replica need not wait the TTL."""
        term, self.term, self._deadline = self.term, None, None
        if term is None or self._kv is None:
            return
        try:
            await self._kv.delete(self.session, last=term)
        except (TimeoutError, NatsError) as exc:  # it expires by itself
            log.warning("session %s: writer lease not released: %s", self.session, exc)

    def _value(self) -> bytes:
        return orjson.dumps({"replica": self.replica, "pid": os.getpid(), "since": self._since})

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self._js.key_value(self.bucket)
            except BucketNotFoundError:
                # Both sides create it the same way: a concurrent creation is no error.
                config = KeyValueConfig(bucket=self.bucket, history=1, ttl=self.ttl)
                self._kv = await self._js.create_key_value(config)
        return self._kv
