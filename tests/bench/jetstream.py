"""`make bench`, issue #15: the pipeline over JetStream beside the same pipeline over ZeroMQ in
the same run, and how long stream clients take to resume after a replica is killed, beside how
long they take when their connections are merely cut (the replica still up)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from tests.bench.bench import SseCounter, pipeline_rate
from tests.bench.figures import Figure, Scale, percentile
from tests.faults.common import ClientRunner, SseClient, applied_seq, wait_applied_at_least
from tests.harness import Orchestrator, Stack, jetstream_stack, make_capture, wait_for
from tests.natsserver import nats_server
from tests.rrproxy import RoundRobinProxy


@contextlib.contextmanager
def jetstream(tmp: Path, capture: Path) -> Iterator[Stack]:
    """A stack (nothing started) whose bridge and orchestrators use a NATS server of its own."""
    with nats_server(tmp / "nats") as nats, jetstream_stack(tmp, nats.url, capture) as s:
        yield s


def jetstream_pipeline_rate(tmp: Path, capture: Path, events: int) -> float:
    with jetstream(tmp, capture) as s:
        orchestrator = s.start_orchestrator()
        final: dict[str, str] = {}
        reader = SseCounter(f"{orchestrator.base_url}/events", lambda: final.get("id"))
        reader.start()
        time.sleep(0.3)
        s.start_bridge()
        wait_applied_at_least(orchestrator, events + 2, 300)
        final["id"] = orchestrator.last_event_id()
        reader.join(120)
    return events / (reader.last - reader.first)


def bench_jetstream(tmp: Path, scale: Scale) -> list[Figure]:
    events = scale.pipeline_events
    capture = make_capture(tmp / "jetstream.jsonl", events, chats=200)
    zmq_rate, _ = pipeline_rate(tmp / "zmq", capture, events)
    nats_rate = jetstream_pipeline_rate(tmp / "nats", capture, events)
    kill, cut = resume_latencies(tmp / "resume", scale)
    return [
        Figure("pipeline events/s over JetStream (normalize, state, log, 1 SSE client)",
               nats_rate, "events/s", "the same pipeline over ZeroMQ", zmq_rate,
               "reported", None),
        Figure("stream resume after kill -9 of a replica, p99", percentile(kill, 0.99) * 1e3,
               "ms", "resume after the connection is cut, replica up, p99",
               percentile(cut, 0.99) * 1e3, "reported", None,
               f"{len(kill)} resumes, median {percentile(kill, 0.5) * 1e3:.0f} ms "
               f"(cut: median {percentile(cut, 0.5) * 1e3:.0f} ms)"),
    ]  # fmt: skip


def resume_latencies(tmp: Path, scale: Scale) -> tuple[list[float], list[float]]:
    """Two replicas behind a round-robin proxy, SSE clients reading through it while a capture
    flows: first every client's connection is cut (both replicas up), then one replica is
    killed. Each client's first resume after each is timed: from the end of its connection to
    the start of the next (the client waits 0-0.1 s, jittered, before reconnecting)."""
    clients_count = max(50, min(250, scale.fanout_clients // 2))  # Python clients: 250 at most
    tmp.mkdir(parents=True, exist_ok=True)
    # Long enough to outlast the clients' reconnecting on a busy machine: the waits below need
    # 500 more events after each cut (6,000 ran out once the reconnects took 20 s).
    capture = make_capture(tmp / "resume.jsonl", 30_000, chats=50)
    with jetstream(tmp, capture) as s:
        replicas = [replica(s, tmp, f"r{i}") for i in range(2)]
        for orchestrator in replicas:
            orchestrator.wait_healthy(60)
        live, killed = backends = [("127.0.0.1", r.port) for r in replicas]
        with RoundRobinProxy(backends) as proxy:
            clients = [
                SseClient(proxy.url, seed=n, backoff=0.1, read_timeout=10)
                for n in range(clients_count)
            ]
            runner = ClientRunner(list(clients)).start()
            wait_for("clients connected", lambda: all(c.connections for c in clients), 60)
            s.start_bridge(BRIDGE_REPLAY_RATE=300)
            wait_applied_at_least(replicas[0], 1_000, 60)
            cut_at = time.monotonic()
            for backend in backends:
                proxy.remove(backend, drop=True)
                proxy.add(backend)
            wait_for("clients back", lambda: all(c.connections >= 2 for c in clients), 60)
            wait_applied_at_least(replicas[0], applied_seq(replicas[0]) + 500, 60)
            on_killed = proxy.open_connections().get(killed, 0)
            killed_at = time.monotonic()
            replicas[1].kill9()
            proxy.remove(killed)

            def back() -> bool:
                # Every client the kill cut has seen its connection end and is connected
                # again, through the replica left.
                cut_off = sum(1 for c in clients if c.ended_at and c.ended_at[-1] >= killed_at)
                return (
                    cut_off >= on_killed
                    and proxy.open_connections().get(live, 0) >= clients_count
                    and all(len(c.reconnected_at) > len(c.ended_at) for c in clients)
                )

            wait_for("clients of the killed replica back", back, 60)
            runner.stop()
            runner.join(30)
    cut = [x for c in clients for x in first_after(c, cut_at, killed_at)]
    kill = [x for c in clients for x in first_after(c, killed_at, float("inf"))]
    return kill, cut


def first_after(client: SseClient, start: float, end: float) -> list[float]:
    for ended, latency in zip(client.ended_at, client.resume_latencies(0.0), strict=False):
        if start <= ended < end:
            return [latency]
    return []


def replica(s: Stack, tmp: Path, name: str) -> Orchestrator:
    where = tmp / name
    return s.start_orchestrator(
        data=where / "orch", log_dir=where, healthy=False, ORCH_REPLICA_ID=name
    )
