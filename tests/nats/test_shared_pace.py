"""Sends for one number stay at its pace across replicas: two Pacers (two orchestrator
replicas) sharing the bucket in JetStream's key-value store, on a NATS server of the test's own.
Rates are high so the test is short; what is checked is a count against the clock's lower
bound (a busy machine only makes it slower, never wrong)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.js.kv import KeyValue

from orchestrator.pacing import Pacer
from orchestrator.sharedpace import SharedBucket, bucket_opener
from tests.natsserver import NatsServer, names, nats_server

RATE, BURST, SENDS = 20.0, 5, 30


@pytest.fixture
def server() -> AsyncIterator[NatsServer]:
    with nats_server() as running:
        yield running  # type: ignore[misc]


async def bucket_store(url: str) -> tuple[nats.NATS, Callable[[], Awaitable[KeyValue]]]:
    connection = await nats.connect(url, max_reconnect_attempts=0, connect_timeout=2)

    async def ready() -> nats.NATS:
        return connection

    return connection, bucket_opener(ready, names().prefix)


async def send_all(pacer: Pacer, count: int, stamps: list[float]) -> None:
    for _ in range(count):
        assert pacer.admit()
        await pacer.acquire()
        stamps.append(time.monotonic())


def test_two_replicas_together_send_at_the_numbers_rate(server: NatsServer) -> None:
    async def main() -> tuple[float, int]:
        connection, kv = await bucket_store(server.url)
        try:
            replicas = [
                Pacer(RATE, BURST, 100, shared=SharedBucket(kv, "default", RATE, BURST))
                for _ in range(2)
            ]
            stamps: list[float] = []
            started = time.monotonic()
            await asyncio.gather(*(send_all(p, SENDS // 2, stamps) for p in replicas))
            return max(stamps) - started, sum(p.sent for p in replicas)
        finally:
            await connection.close()

    took, sent = asyncio.run(main())
    # Alone, each replica would send its 15 in (15 - 5) / 20 = 0.5 s; shared, the 30 take
    # (30 - 5) / 20 = 1.25 s at least.
    floor = (SENDS - BURST) / RATE
    assert sent == SENDS
    assert took >= floor * 0.95, f"{SENDS} sends in {took:.2f}s, faster than the shared rate"


def test_with_the_store_gone_each_replica_keeps_its_own_pace(server: NatsServer) -> None:
    async def main() -> tuple[float, int]:
        connection, kv = await bucket_store(server.url)
        try:
            shared = SharedBucket(
                kv, "default", RATE, BURST, connected=lambda: connection.is_connected
            )
            pacer = Pacer(RATE, BURST, 100, shared=shared)
            assert await shared.take() == 0.0  # the bucket is open; then the server goes
            server.stop()
            stamps: list[float] = []
            started = time.monotonic()
            await send_all(pacer, 10, stamps)
            return max(stamps) - started, pacer.sent
        finally:
            await connection.close()

    took, sent = asyncio.run(main())
    assert sent == 10
    assert took >= (10 - BURST) / RATE * 0.95
