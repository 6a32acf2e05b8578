"""Fault 1: `kill -9` the orchestrator three times (seeded points) while traffic flows and SSE
and long-poll clients read; fault 5: 200 SSE clients reconnect at once after a restart.

The reference stream comes from a second orchestrator following the same bridge and never
disturbed: stream ids derive from bridge positions, so every replica names every event alike.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.common import (
    ClientRunner,
    PollClient,
    SseClient,
    StreamClient,
    assert_exactly_once,
    assert_rest_matches_capture,
    check_against_reference,
    wait_applied_at_least,
)
from tests.harness import Orchestrator, Stack, make_capture, stack, wait_for

EXTRA = 2  # bridge.started and bridge.replay_finished around a replayed capture


@contextlib.contextmanager
def pair(tmp_path: Path, capture: Path) -> Iterator[tuple[Stack, Orchestrator]]:
    """The orchestrator under test and an undisturbed reference replica (its own data), both
    healthy; the bridge not started yet."""
    with stack(tmp_path, capture=capture, bridge=False, orchestrator=False) as s:
        victim = s.start_orchestrator(healthy=False)
        replica = s.start_orchestrator(
            data=tmp_path / "ref" / "orch", log_dir=tmp_path / "ref", healthy=False
        )
        victim.wait_healthy()
        replica.wait_healthy()
        yield s, replica


def test_kill_9_three_times_under_traffic_with_stream_clients(tmp_path: Path) -> None:
    kill_soak(tmp_path, events=3000, rate=400, kills=3, seed=8)


@pytest.mark.slow
def test_kill_9_soak(tmp_path: Path) -> None:
    kill_soak(tmp_path, events=30_000, rate=600, kills=15, seed=9)


def kill_soak(
    tmp_path: Path,
    *,
    events: int,
    rate: int,
    kills: int,
    seed: int,
) -> None:
    last = events + EXTRA
    capture = make_capture(tmp_path / "capture.jsonl", events, history=200, rich=True)
    with pair(tmp_path, capture) as (s, replica):
        orchestrator = s.orchestrator
        base = orchestrator.base_url
        # Everyone starts at the very first event (""), before the bridge exists.
        truth = SseClient(replica.base_url, read_timeout=60)
        clients: list[StreamClient] = [
            SseClient(base, seed=1, backoff=0.3),
            SseClient(base, seed=2, backoff=0.3),
            PollClient(base, seed=3, backoff=0.3),
            PollClient(base, seed=4, backoff=0.3),
        ]
        runner = ClientRunner([truth, *clients]).start()
        bridge = s.start_bridge(BRIDGE_REPLAY_RATE=rate)

        rng = random.Random(seed)
        points = sorted(rng.sample(range(300, events - 600), kills))
        downtimes = []
        for kill_after in points:
            wait_applied_at_least(orchestrator, kill_after)
            orchestrator.kill9()
            killed = time.monotonic()
            time.sleep(rng.uniform(0, 0.5))
            orchestrator = s.start_orchestrator(port=orchestrator.port)
            downtimes.append(time.monotonic() - killed)

        epoch = bridge.wait_seq(last)["epoch"]
        orchestrator.wait_applied(epoch, last)
        replica.wait_applied(epoch, last)
        final = replica.last_event_id()
        assert orchestrator.last_event_id() == final
        runner.finish_at(replica.base_url, final)
        runner.finish_at(base, final)
        runner.join(60)

        assert_exactly_once(orchestrator.applied_positions(), epoch, last)
        compared = assert_rest_matches_capture(orchestrator, capture)
        assert compared > events * 2 // 3
        expected = truth.envelopes
        assert truth.connections == 1 and len(expected) > events * 0.9
        for n, client in enumerate(clients):
            name = f"{type(client).__name__} {n} ({client.connections} connections)"
            counts = check_against_reference(name, client.envelopes, expected)
            assert client.failures >= 1, f"{name} never saw the orchestrator die"
            print(f"{name}: {len(client.envelopes)} events, {counts}")
        print(f"kills after {points} applied; down {[round(d, 2) for d in downtimes]} s")


def test_200_sse_clients_resume_after_a_restart_with_jittered_backoff(tmp_path: Path) -> None:
    events, rate, count = 1000, 250, 200
    last = events + EXTRA
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=10)
    with pair(tmp_path, capture) as (s, replica):
        orchestrator = s.orchestrator
        base = orchestrator.base_url
        truth = SseClient(replica.base_url, read_timeout=60)
        clients = [SseClient(base, seed=n, backoff=1.0, read_timeout=5) for n in range(count)]
        runner = ClientRunner([truth, *clients]).start()
        # Every client is connected before the events flow (a busy machine may take seconds to
        # open 200 connections; the test is about their reconnection, not their first one).
        wait_for("every client connected", lambda: all(c.connections for c in clients), 60)
        bridge = s.start_bridge(BRIDGE_REPLAY_RATE=rate)
        wait_applied_at_least(orchestrator, 400)

        orchestrator.kill9()
        killed = time.monotonic()
        orchestrator = s.start_orchestrator(port=orchestrator.port)
        serving = time.monotonic() - killed

        epoch = bridge.wait_seq(last)["epoch"]
        orchestrator.wait_applied(epoch, last)
        replica.wait_applied(epoch, last)
        final = replica.last_event_id()
        runner.finish_at(replica.base_url, final)
        runner.finish_at(base, final)
        runner.join(90)

        expected = truth.envelopes
        assert truth.connections == 1 and len(expected) > 900
        resumed_exactly = resynced = 0
        for n, client in enumerate(clients):
            counts = check_against_reference(f"client {n}", client.envelopes, expected)
            assert client.connections >= 2, f"client {n} never reconnected"
            resumed_exactly += counts["resyncs"] == 0
            resynced += counts["resyncs"] > 0
        back = sorted(min(t for t in c.reconnected_at if t > killed) - killed for c in clients)
        assert orchestrator.running
        print(
            f"{count} clients: serving again {serving:.2f}s after the kill; all reconnected "
            f"{back[-1]:.2f}s after it (median {back[len(back) // 2]:.2f}s); "
            f"{resumed_exactly} resumed exactly, {resynced} via resync"
        )


def test_from_the_very_first_event_after_a_restart_is_complete_or_resync(tmp_path: Path) -> None:
    events = 1000
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=10)
    with pair(tmp_path, capture) as (s, replica):
        orchestrator = s.orchestrator
        bridge = s.start_bridge(BRIDGE_REPLAY_RATE=500)
        wait_applied_at_least(orchestrator, 600)
        orchestrator = s.restart_orchestrator()
        epoch = bridge.wait_seq(events + EXTRA)["epoch"]
        orchestrator.wait_applied(epoch, events + EXTRA)
        replica.wait_applied(epoch, events + EXTRA)

        first = orchestrator.http.get("/events/poll", params={"since": "", "timeout": 0}).json()
        expected = replica.http.get("/events/poll", params={"since": "", "timeout": 0}).json()
        assert first["events"], "nothing at all from the very first event"
        head = first["events"][0]
        assert head["type"] == "resync" or head == expected["events"][0], (
            f"since='' after a restart starts at {head['id']} ({head['type']}), "
            f"not at {expected['events'][0]['id']} and with no resync"
        )
