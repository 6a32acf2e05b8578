"""Issue 15: the writer lease for a shared store, with a real NATS server (JetStream key-value).
Two replicas follow the same session and write behind to one store (a SQLite file stands in
for Supabase): only the holder writes; when it stops, the other takes the lease over within the
TTL and 2 s and writes everything it held back; terms grow; a compare-and-set conflict is a
lost lease."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import nats

from orchestrator import domain as d
from orchestrator.state import State
from orchestrator.store.sqlite import SqliteStore
from orchestrator.wire import Position
from orchestrator.writebehind import WriteBehind
from orchestrator.writerlease import MARGIN, WriterLease
from tests.natsserver import names, nats_server

TTL = 4.0  # the production TTL is 10 s; the rules do not depend on it
CHAT = "5511912345678@s.whatsapp.net"


def seen(n: int) -> d.MessageSeen:
    message = d.Message(
        id=f"m{n:04}", chat_id=CHAT, chat_alt=None, from_me=False, sender=CHAT, sender_alt=None,
        sender_name="Ana", timestamp=n, type="text", text=f"text {n}", quoted_id=None,
        media=None, ack=d.ACK_DELIVERED, raw=b"{}",
    )  # fmt: skip
    return d.MessageSeen(message, live=True)


@dataclass
class Replica:
    lease: WriterLease
    store: SqliteStore
    state: State
    writer: WriteBehind
    tasks: list[asyncio.Task[None]]

    def receive(self, numbers: range) -> None:
        """The session's events, as every replica follows them."""
        for n in numbers:
            self.writer.record(self.state.apply([seen(n)]), Position("e", n + 1, stream=n + 1))

    def stop(self) -> None:
        """Stops renewing and writing at once, as a replica that is killed (no release)."""
        for task in self.tasks:
            task.cancel()


async def until(what: str, condition: Callable[[], Awaitable[bool] | bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


async def stored(store: SqliteStore) -> list[str]:
    rows = await store.messages_before(CHAT, None, 1000) or []
    return sorted(r["id"] for r in rows)


def test_only_the_holder_writes_and_the_other_takes_over_within_the_ttl(tmp_path: Path) -> None:
    async def scenario(url: str) -> None:
        prefix = names().prefix
        connections = [await nats.connect(url), await nats.connect(url)]

        def replica(name: str, connection: nats.NATS) -> Replica:
            lease = WriterLease(
                connection.jetstream(), prefix=prefix, session="default", replica=name, ttl=TTL
            )
            store = SqliteStore(tmp_path / "shared.sqlite3")
            state = State(window=1000, max_messages=1000)
            writer = WriteBehind(
                store, state, spill_path=tmp_path / f"spill-{name}.jsonl", max_pending=1000,
                flush_interval=0.05, may_write=lambda: lease.held,
            )  # fmt: skip
            return Replica(lease, store, state, writer, [])

        a, b = replica("a", connections[0]), replica("b", connections[1])
        try:
            a.tasks.append(asyncio.create_task(a.lease.run()))
            await until("a to hold the lease", lambda: a.lease.held, 10)
            first_term = a.lease.term
            assert first_term is not None
            for r in (a, b):
                r.tasks.append(asyncio.create_task(r.writer.run()))
            b.tasks.append(asyncio.create_task(b.lease.run()))

            # Both follow the session; only the holder writes (b's changes coalesce).
            for r in (a, b):
                r.receive(range(0, 50))
            await until("a's rows", lambda: a.writer.pending == 0, 10)
            assert await stored(a.store) == [f"m{n:04}" for n in range(50)]
            await asyncio.sleep(TTL / 2)  # b tries meanwhile: the lease is a's
            assert not b.lease.held and b.writer.stats.batches == 0 and b.writer.pending > 0
            assert a.lease.term is not None and a.lease.term > first_term  # renewed: it grows

            # a stops (killed: no release); what b receives from now on a never writes.
            a.stop()
            stopped = time.monotonic()
            b.receive(range(50, 80))
            await until("b to take the lease over", lambda: b.lease.held, TTL + 2)
            took = time.monotonic() - stopped
            assert b.lease.term is not None and b.lease.term > a.lease.term
            await until("b's rows", lambda: b.writer.pending == 0, 10)
            assert await stored(b.store) == [f"m{n:04}" for n in range(80)]
            state = await b.store.load(1000)
            assert state.position == Position("e", 80) and state.position.stream == 80
            print(f"\nwriter lease (TTL {TTL:g} s): taken over {took:.1f} s after the holder"
                  f" stopped; terms {first_term} -> {a.lease.term} -> {b.lease.term}")  # fmt: skip

            # a comes back (it was only paused): its renewal's compare-and-set fails: lost.
            assert not a.lease.held  # its deadline passed long ago
            assert await a.lease.attempt() is False
            assert a.lease.term is None and not a.lease.held
            assert await b.lease.attempt() is True  # b's renewals still go through

            # A clean stop releases the lease: the other takes it at once, with a higher term.
            last_b = b.lease.term
            assert last_b is not None
            b.stop()
            await b.lease.release()
            assert not b.lease.held
            assert await a.lease.attempt() is True
            assert a.lease.term is not None and a.lease.term > last_b
        finally:
            for r in (a, b):
                r.stop()
                await asyncio.gather(*r.tasks, return_exceptions=True)
                await r.store.close()
            for connection in connections:
                await connection.close()

    with nats_server(tmp_path / "nats") as server:
        asyncio.run(scenario(server.url))


def test_the_holder_stops_writing_at_its_local_deadline_without_news_from_nats(
    tmp_path: Path,
) -> None:
    """A holder that cannot renew (NATS unreachable, or the process paused) holds the lease
    only until its last renewal plus the TTL less the margin, by its own monotonic clock."""

    async def scenario(url: str) -> None:
        now = [1000.0]
        connection = await nats.connect(url)
        lease = WriterLease(
            connection.jetstream(), prefix=names().prefix, session="s1", replica="a", ttl=TTL,
            clock=lambda: now[0],
        )  # fmt: skip
        try:
            assert not lease.held
            assert await lease.attempt() is True
            now[0] += TTL - MARGIN - 0.01
            assert lease.held
            now[0] += 0.02
            assert not lease.held  # nothing was asked of NATS
        finally:
            await connection.close()

    with nats_server(tmp_path / "nats") as server:
        asyncio.run(scenario(server.url))
