"""Helpers shared by the fault tests: stream clients that survive their server dying, the
gap-free check against a reference stream, the REST reference check, and process probes.

The stream clients are written from the API contract (as tests/clients.py): they reconnect by
themselves with the last id they saw, after a random 0..`backoff` s pause (jitter), and never
interpret what they get beyond parsing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from orchestrator.applied_log import parse_line
from orchestrator.wire import Position
from tests.harness import TOKEN, Orchestrator, wait_for
from tests.test_rest import all_pages, reference

Envelope = dict[str, Any]


# ---- stream clients ---------------------------------------------------------------------

# What a server that dies, drains or refuses does to a client: it reconnects after these.
CONNECTION_ERRORS = (httpx.TransportError, OSError, ConnectionClosed, InvalidHandshake)


class StreamClient:
    """Reads a stream until `done()`; reconnects (jittered) whenever the connection fails."""

    def __init__(
        self,
        base_url: str,
        *,
        last_id: str | None = "",
        backoff: float = 1.0,
        read_timeout: float = 2.0,
        seed: int = 0,
        token: str = TOKEN,
    ) -> None:
        self.base_url = base_url
        self.last_id = last_id
        self.backoff = backoff
        self.read_timeout = read_timeout
        self.rng = random.Random(seed)
        self.token = token
        self.envelopes: list[Envelope] = []
        self.arrivals: list[float] = []  # time.time() of each envelope
        self.connections = 0
        self.failures = 0  # connections that ended in an error (server gone, refused)
        self.reconnected_at: list[float] = []
        self.ended_at: list[float] = []  # when each connection ended (cleanly or not)

    def resume_latencies(self, after: float) -> list[float]:
        """Seconds from a connection's end to the next one's start, for ends after `after`."""
        return [
            start - end
            for end, start in zip(self.ended_at, self.reconnected_at[1:], strict=False)
            if end > after
        ]

    def take(self, envelope: Envelope, at: float) -> None:
        self.envelopes.append(envelope)
        self.arrivals.append(at)
        self.last_id = envelope["id"]

    async def run(self, client: httpx.AsyncClient, done: Callable[[], bool]) -> None:
        while not done():
            session = asyncio.create_task(self.session(client, done))
            while not session.done():
                # A quiet stream does not hold the client once it is told where to stop.
                await asyncio.wait({session}, timeout=0.2)
                if done():
                    # The session may have failed on its own in the same instant: a lost
                    # connection does not matter once the client is told to stop.
                    session.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *CONNECTION_ERRORS):
                        await session
                    return
            self.ended_at.append(time.monotonic())
            try:
                session.result()
            except CONNECTION_ERRORS:
                self.failures += 1
                await asyncio.sleep(self.rng.uniform(0, self.backoff))

    async def session(self, client: httpx.AsyncClient, done: Callable[[], bool]) -> None:
        raise NotImplementedError


class SseClient(StreamClient):
    async def session(self, client: httpx.AsyncClient, done: Callable[[], bool]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        timeout = httpx.Timeout(5.0, read=self.read_timeout)
        async with client.stream(
            "GET", f"{self.base_url}/events", headers=headers, timeout=timeout
        ) as response:
            assert response.status_code == 200, await response.aread()
            self.connections += 1
            self.reconnected_at.append(time.monotonic())
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in fields:
                        envelope: Envelope = orjson.loads(fields["data"])
                        assert fields.get("id") == envelope["id"], (fields, envelope)
                        self.take(envelope, time.time())
                        if done():
                            return
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value


class WebSocketClient(StreamClient):
    async def session(self, client: httpx.AsyncClient, done: Callable[[], bool]) -> None:
        url = self.base_url.replace("http://", "ws://") + f"/ws?access_token={self.token}"
        if self.last_id is not None:
            url += f"&lastEventId={self.last_id}"
        # Above the 5 s a replica may hold a client that is ahead of it (streams.REACH_TIMEOUT).
        async with connect(url, open_timeout=10, max_queue=None) as websocket:
            self.connections += 1
            self.reconnected_at.append(time.monotonic())
            async for frame in websocket:  # ends on a close frame (1012 when a server drains)
                self.take(orjson.loads(frame), time.time())
                if done():
                    return


class PollClient(StreamClient):
    async def session(self, client: httpx.AsyncClient, done: Callable[[], bool]) -> None:
        self.connections += 1
        self.reconnected_at.append(time.monotonic())
        while not done():
            params = {"timeout": "2"}
            if self.last_id is not None:
                params["since"] = self.last_id
            response = await client.get(
                f"{self.base_url}/events/poll",
                params=params,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            now = time.time()
            for envelope in body["events"]:
                self.take(envelope, now)
            self.last_id = body["lastEventId"]


class ClientRunner:
    """Runs stream clients on one asyncio loop in a background thread until `stop()` or until
    each has read up to `final_id` (set once the test knows the last id)."""

    def __init__(self, clients: list[StreamClient]) -> None:
        self.clients = clients
        self.final_id: dict[str, str | None] = {}
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> ClientRunner:
        self._thread.start()
        return self

    def finish_at(self, base_url: str, final_id: str) -> None:
        self.final_id[base_url] = final_id

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise self.error
        assert not self._thread.is_alive(), "stream clients did not finish"

    def _done(self, client: StreamClient) -> Callable[[], bool]:
        def done() -> bool:
            if self._stop.is_set():
                return True
            final = self.final_id.get(client.base_url)
            return final is not None and client.last_id == final

        return done

    def _main(self) -> None:
        async def main() -> None:
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
            async with httpx.AsyncClient(limits=limits) as http:
                await asyncio.gather(*(c.run(http, self._done(c)) for c in self.clients))

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the test thread
            self.error = exc


# ---- the gap-free check -------------------------------------------------------------------


def check_against_reference(
    name: str, received: list[Envelope], expected: list[Envelope]
) -> dict[str, int]:
    """`received` (read from "" on) is gap-free against `expected` (a client that never
    disconnected), or has an explicit `resync` at the point of each gap:

    - every event is the reference's event with that id, byte for byte (same payload);
    - ids strictly increase in reference order (no repeat, never backwards);
    - each event follows the previous one directly in the reference, unless a `resync`
      came between them; a resync names the stream head, and what follows it follows that
      head directly (never a partial replay);
    - the client reached the reference's last event.
    Returns counts: resyncs, and events skipped under those resyncs."""
    index = {e["id"]: i for i, e in enumerate(expected)}
    previous = -1  # reference index of the last event (or resync head) seen
    resyncs = skipped = 0
    for n, envelope in enumerate(received):
        i = index.get(envelope["id"])
        if i is not None and envelope == expected[i]:
            where = f"{name}: envelope #{n} {envelope['id']} ({envelope['type']})"
            assert i > previous, f"{where} repeats or goes back (previous: {previous})"
            assert i == previous + 1, (
                f"{where}: gap of {i - previous - 1} events after "
                f"{expected[previous]['id'] if previous >= 0 else 'the start'} with no resync"
            )
            previous = i
            continue
        assert envelope["type"] == "resync", (
            f"{name}: #{n} {envelope['id']} differs from the reference:\n"
            f"  got      {envelope}\n  expected {expected[i] if i is not None else None}"
        )
        # A resync names the head of the stream: never behind what the client already had;
        # what follows it follows that head directly.
        head = index.get(envelope["id"])
        assert head is not None, f"{name}: resync at {envelope['id']}, not a reference id"
        assert head >= previous, f"{name}: resync at {envelope['id']} goes back"
        skipped += head - previous
        previous = head
        resyncs += 1
    assert previous == len(expected) - 1, (
        f"{name}: stopped at reference index {previous} of {len(expected) - 1}"
    )
    return {"resyncs": resyncs, "skipped": skipped}


# ---- REST against the capture ----------------------------------------------------------------


def assert_rest_matches_capture(
    orchestrator: Orchestrator, capture: Path, messages: bool = True
) -> int:
    """/chats and every chat's messages equal tests/test_rest.py's reference computed from the
    capture (order, names, unread counts, timestamps, ids, text, acks, edits, revokes, reactions).
    Returns the number of messages compared."""
    expected = reference(capture)
    chats = list(all_pages(orchestrator, "/chats", "chats", newest_first=True))
    order = sorted(expected, key=lambda jid: (-expected[jid]["ts"], jid))
    assert [c["id"] for c in chats] == order
    compared = 0
    for served_chat in chats:
        want = expected[served_chat["id"]]
        assert served_chat["name"] == want["name"], served_chat["id"]
        assert served_chat["unreadCount"] == want["unread"], served_chat["id"]
        assert served_chat["timestamp"] == want["ts"], served_chat["id"]
        if not messages:
            continue
        path = f"/chats/{served_chat['id']}/messages"
        served = list(all_pages(orchestrator, path, "messages", False))[::-1]
        want_messages = sorted(want["messages"].values(), key=lambda m: m["timestamp"])
        assert [m["id"] for m in served] == [m["id"] for m in want_messages], served_chat["id"]
        for got, ref in zip(served, want_messages, strict=True):
            fields = {k: got[k] for k in ref if k in got and k != "reactions"}
            assert fields == {k: ref[k] for k in fields}, got["id"]
            assert {r["sender"]: r["emoji"] for r in got["reactions"]} == ref["reactions"]
            assert (got["media"] is not None) == ref["hasMedia"], got["id"]
        assert served_chat["lastMessage"]["id"] == want_messages[-1]["id"]
        compared += len(served)
    return compared


# ---- positions ------------------------------------------------------------------------------


def assert_exactly_once(positions: list[tuple[str, int]], epoch: str, last: int) -> None:
    seqs = [seq for e, seq in positions if e == epoch]
    first_bad = next((i for i, s in enumerate(seqs, 1) if s != i), None)
    assert seqs == list(range(1, last + 1)), (
        f"epoch {epoch}: {len(seqs)} applied, expected 1..{last}; first hole/repeat at {first_bad}"
    )


def wait_logged(orchestrator: Orchestrator, epoch: str, seq: int, timeout: float = 10) -> None:
    """Wait until the last complete line of the applied log is `epoch seq`. What a full disk
    held back is written on the log's own clock (the follower retries every 0.25 s), so
    another part having caught up (the store, `/admin/bridge`) says nothing about it."""
    path = orchestrator.data_dir / "applied.log"

    def logged() -> bool:
        data = path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # a full disk can cut a write mid-line
        return parse_line(complete.rstrip(b"\n").rsplit(b"\n", 1)[-1]) == Position(epoch, seq)

    wait_for(f"the applied log to record {epoch}:{seq}", logged, timeout)


def applied_seq(orchestrator: Orchestrator) -> int:
    return int((orchestrator.bridge_report()["applied"] or {}).get("seq", 0))


def wait_applied_at_least(orchestrator: Orchestrator, seq: int, timeout: float = 30) -> None:
    wait_for(f"{seq} events applied", lambda: applied_seq(orchestrator) >= seq, timeout)


# ---- processes ------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextlib.contextmanager
def cpu_burner(core: int = 0) -> Iterator[subprocess.Popen[bytes]]:
    """A process spinning on one core for as long as the block lasts."""
    burner = subprocess.Popen(
        [sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True: pass"]
    )
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait(5)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
