"""Issue #15 A: orchestrator replicas on JetStream behind a round-robin proxy.

Three replicas follow one session from JetStream, each from its own position and its own
store; 200 stream clients (SSE, WebSocket and long-poll, mixed) read through a round-robin TCP
proxy while one replica is killed (-9) and then all three are restarted one after another
(SIGTERM, the rolling deploy). A fourth replica, never disturbed and read directly, gives the
reference stream. Stream ids derive from the bridge's position, which JetStream de-duplicates
(`Nats-Msg-Id`), so every replica names every event alike: each client's stream must be the
reference's exactly, with no resync (a restart alone never costs one), nothing lost, nothing
repeated, order kept. Each resume's latency is reported.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.faults.common import (
    ClientRunner,
    PollClient,
    SseClient,
    StreamClient,
    WebSocketClient,
    applied_seq,
    check_against_reference,
    percentile,
    wait_applied_at_least,
)
from tests.harness import Orchestrator, Stack, jetstream_stack, make_capture, wait_for
from tests.natsserver import nats_server
from tests.rrproxy import RoundRobinProxy

EXTRA = 2  # bridge.started and bridge.replay_finished around a replayed capture
CLIENTS = 200


def replica(s: Stack, tmp_path: Path, name: str, port: int | None = None) -> Orchestrator:
    where = tmp_path / name
    return s.start_orchestrator(
        data=where / "orch", log_dir=where, port=port, healthy=False, ORCH_REPLICA_ID=name
    )


def caught_up(orchestrator: Orchestrator, seq: int) -> None:
    orchestrator.wait_healthy(60)
    wait_applied_at_least(orchestrator, seq, 60)


def test_200_clients_through_a_replica_kill_and_a_rolling_restart(tmp_path: Path) -> None:
    events, rate = 9000, 150  # about 60 s of traffic: the faults happen while it flows
    last = events + EXTRA
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=20)
    with nats_server(tmp_path / "nats") as nats, jetstream_stack(tmp_path, nats.url, capture) as s:
        replicas = [replica(s, tmp_path, f"r{i}") for i in range(3)]
        reference = replica(s, tmp_path, "reference")
        for orchestrator in [*replicas, reference]:
            orchestrator.wait_healthy(60)
        with RoundRobinProxy([("127.0.0.1", r.port) for r in replicas]) as proxy:
            kinds: list[type[StreamClient]] = [SseClient, WebSocketClient, PollClient]
            # Kinds drawn at random: in turn, they would line up with the proxy's round-robin,
            # and each replica would serve one kind. The read timeout is above the 5 s a
            # replica may hold a client that is ahead of it (streams.REACH_TIMEOUT).
            draw = random.Random(15)
            clients = [
                draw.choice(kinds)(proxy.url, seed=n, backoff=0.5, read_timeout=10)
                for n in range(CLIENTS)
            ]
            truth = SseClient(reference.base_url, read_timeout=120)
            runner = ClientRunner([truth, *clients]).start()
            wait_for("every client connected", lambda: all(c.connections for c in clients), 90)
            s.start_bridge(BRIDGE_REPLAY_RATE=rate)

            disruptions: list[tuple[str, float]] = []
            wait_applied_at_least(reference, last // 6, 60)
            # The proxy plays the load balancer's health checks: a replica leaves the rotation
            # when it dies (or, in a rolling deploy, before it is stopped) and comes back once
            # it serves and has caught up.
            victim = replicas[0]
            victim.kill9()
            disruptions.append(("kill -9 r0", time.monotonic()))
            proxy.remove(("127.0.0.1", victim.port))
            wait_for(
                "clients of the killed replica moved",
                lambda: sum(c.failures for c in clients) > 0,
                30,
            )
            replicas[0] = replica(s, tmp_path, "r0", port=victim.port)
            caught_up(replicas[0], applied_seq(reference))
            proxy.add(("127.0.0.1", victim.port))

            for i in range(3):  # the rolling restart: one at a time, each back before the next
                old = replicas[i]
                proxy.remove(("127.0.0.1", old.port))
                disruptions.append((f"restart r{i}", time.monotonic()))
                old.stop()  # SIGTERM: its streams close with a reconnect hint
                replicas[i] = replica(s, tmp_path, f"r{i}", port=old.port)
                caught_up(replicas[i], applied_seq(reference))
                proxy.add(("127.0.0.1", old.port))
            # Traffic flows through the kill by construction; a busy machine may finish the
            # capture before the last restarts, which then test resuming a quiet stream.
            after_restarts = last - applied_seq(reference)

            wait_applied_at_least(reference, last, 120)
            for orchestrator in replicas:
                wait_applied_at_least(orchestrator, last, 60)
            final = reference.last_event_id()
            runner.finish_at(reference.base_url, final)
            runner.finish_at(proxy.url, final)
            runner.join(180)

        expected = truth.envelopes
        assert truth.connections == 1, "the reference client must never reconnect"
        assert len(expected) > events // 2, len(expected)
        moved = 0
        for n, client in enumerate(clients):
            counts = check_against_reference(f"client {n}", client.envelopes, expected)
            assert counts["resyncs"] == 0, f"client {n} ({type(client).__name__}) got a resync"
            moved += client.connections > 1
        assert moved > CLIENTS // 2, f"only {moved} clients ever changed replica"

        report = []
        ends = [at for _, at in disruptions[1:]] + [float("inf")]
        for (what, at), until in zip(disruptions, ends, strict=True):
            # Each client's first resume after this disruption and before the next one.
            by_kind = {
                kind.__name__: [
                    x
                    for c in clients
                    if type(c) is kind
                    for end, x in zip(c.ended_at, c.resume_latencies(0.0), strict=False)
                    if at <= end < until
                ]
                for kind in kinds
            }
            latencies = [x for values in by_kind.values() for x in values]
            if not latencies:  # a replica just back from the kill has no client yet
                report.append(f"{what}: no client was on it")
                continue
            median, p99 = (percentile(latencies, p) * 1e3 for p in (50, 99))
            worst = {k: round(max(v) * 1e3) for k, v in by_kind.items() if v}
            report.append(
                f"{what}: {len(latencies)} resumes, median {median:.0f} ms, p99 {p99:.0f} ms, "
                f"max {max(latencies) * 1e3:.0f} ms (max by kind, ms: {worst})"
            )
        print(
            f"\n{CLIENTS} clients through 3 replicas: {len(expected)} events each, lost 0, "
            f"duplicated 0, order kept, 0 resyncs; {after_restarts} events came after the "
            f"last restart\n" + "\n".join(report)
        )
