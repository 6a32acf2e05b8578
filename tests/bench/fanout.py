"""Fan-out: N stream clients in a Node process (fanout_client.mjs) while bridges publish; what
they got per second, publish-to-receive latency, and the CPU it cost. With 1 client and with N
on one session, then with N and the same total event rate spread over several sessions.

Latency = receipt in the client - the bridge's publish as a SUB here saw it, both wall-clock
milliseconds on this machine. A delivery is matched to its publish by (epoch, seq): the bridges
of several sessions count seqs from 1 each, their epochs tell them apart.
"""

from __future__ import annotations

import json
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil
import zmq

from tests.bench.figures import Figure, Scale, percentile
from tests.bench.sessions import declared, endpoints_for, replay_bridge, session_ids
from tests.harness import REPO, TOKEN, Orchestrator, make_capture, stack, wait_for

FANOUT_CLIENT = REPO / "tests" / "bench" / "fanout_client.mjs"


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class Fanout:
    deliveries: float  # per second, all clients together
    p50: float  # ms
    p99: float  # ms
    cpu: float  # the orchestrator's, in cores
    client_cpu: float  # the client process's, in cores
    errors: int
    connected: int
    dropped: bool  # the orchestrator dropped a slow client
    gaps: int  # summed over the sessions


class PublishWatch(threading.Thread):
    """When each event was published: a SUB on every bridge's PUB socket."""

    def __init__(self, pubs: list[str]) -> None:
        super().__init__(daemon=True)
        self.pubs = pubs
        self.seen: dict[tuple[str, int], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        for pub in self.pubs:
            sub.connect(pub)
        while not self.stop.is_set():
            if sub.poll(200):
                envelope = orjson.loads(sub.recv())
                # A heartbeat repeats the last seq: it is not that event's publish.
                if envelope["event"] != "bridge.heartbeat":
                    self.seen[(envelope["epoch"], envelope["seq"])] = time.time() * 1000
        sub.close(linger=0)


def fanout_window(
    orchestrator: Orchestrator,
    pubs: list[str],
    sessions: list[str],
    clients: int,
    seconds: int,
    records: Path,
    start: Callable[[], None] = lambda: None,
) -> Fanout:
    """`clients` connections (even SSE, odd WebSocket) to every session's stream, recording
    for `seconds`; `start` runs as the window opens (a bridge that begins to publish then).
    `pubs`: the bridges to watch; `sessions`: whose gaps count."""
    watch = PublishWatch(pubs)
    watch.start()
    client: subprocess.Popen[str] | None = None
    try:
        client = subprocess.Popen(
            ["node", str(FANOUT_CLIENT), "--base", orchestrator.base_url, "--token", TOKEN,
             "--clients", str(clients), "--seconds", str(seconds), "--out", str(records)],
            cwd=REPO, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert client.stdout is not None
        ready = client.stdout.readline().strip()
        assert ready == "READY", f"fan-out client: {ready!r} (exit {client.poll()})"
        # The client's recording window starts now: CPU is measured over the same seconds.
        orchestrator_process = psutil.Process(orchestrator.popen.pid)
        client_process = psutil.Process(client.pid)
        orchestrator_before = cpu_seconds(orchestrator_process)
        client_before = cpu_seconds(client_process)
        started = time.perf_counter()
        start()
        time.sleep(max(0.0, started + seconds - time.perf_counter()))
        orchestrator_cpu = cpu_seconds(orchestrator_process) - orchestrator_before
        client_cpu = cpu_seconds(client_process) - client_before
        window = time.perf_counter() - started
        summary = json.loads(client.stdout.readline())
        assert client.wait(60) == 0, f"fan-out client exit {client.returncode}"
    finally:
        watch.stop.set()
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(10)
    watch.join(5)
    gaps = sum(
        orchestrator.http.get(f"/sessions/{session}/admin/bridge").raise_for_status().json()["gaps"]
        for session in sessions
    )
    metrics = orchestrator.http.get("/metrics").text
    epochs: list[str] = summary["epochs"]
    latencies = [
        received - watch.seen[key]
        for epoch, seq, received in struct.iter_unpack("<IId", records.read_bytes())
        if (key := (epochs[epoch], seq)) in watch.seen
    ]
    records.unlink()
    return Fanout(
        deliveries=(summary["sse"] + summary["ws"]) / summary["elapsed"],
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        cpu=orchestrator_cpu / window,
        client_cpu=client_cpu / window,
        errors=summary["errors"],
        connected=summary["connected"],
        dropped="wa_stream_dropped_slow_total 0.0" not in metrics,
        gaps=gaps,
    )


def fanout_run(tmp: Path, scale: Scale, capture: Path, clients: int, sessions: int) -> Fanout:
    """`scale.fanout_rate` events/s in all, spread over `sessions` sessions' bridges (each
    replaying `capture`), `clients` clients on every session's stream. The bridges and the
    orchestrator start first: the window sees the steady state, however long the start of
    several bridges takes."""
    ids = session_ids("fan", sessions)
    rate = str(scale.fanout_rate / sessions)
    name = f"fanout-{clients}-{sessions}"
    with (
        endpoints_for(sessions) as endpoints,
        stack(tmp / name, endpoints=endpoints[0], orchestrator=False) as s,
    ):
        bridges = [s.add(replay_bridge(s.tmp, f"bridge-{i}", e, capture, BRIDGE_REPLAY_RATE=rate))
                   for i, e in zip(ids, endpoints, strict=True)]  # fmt: skip
        for bridge in bridges:
            wait_for("a bridge", bridge.state, timeout=30)
        orchestrator = s.start_orchestrator(ORCH_SESSIONS=declared(ids, endpoints), timeout=60)
        return fanout_window(
            orchestrator, [e.pub for e in endpoints], ids, clients, scale.fanout_seconds,
            tmp / f"{name}.bin",
        )  # fmt: skip


def bench_fanout(tmp: Path, scale: Scale) -> list[Figure]:
    rate, n, spread = scale.fanout_rate, scale.fanout_clients, scale.fanout_sessions
    # Lasts through the bridges' and the orchestrator's start, the clients' connecting and the
    # window at the whole rate; spread over several bridges, each replays only its beginning.
    capture = make_capture(tmp / "fanout.jsonl", rate * (scale.fanout_seconds + 30), chats=50)
    one = fanout_run(tmp, scale, capture, 1, 1)
    many = fanout_run(tmp, scale, capture, n, 1)
    spread_out = fanout_run(tmp, scale, capture, n, spread)
    per_core = many.deliveries / max(many.cpu, 0.01)
    over = f"{n} clients, {rate}/s spread over {spread} sessions"
    return [
        Figure(f"fan-out to {n} clients: deliveries/s", many.deliveries, "deliveries/s",
               "the same stream to 1 client", one.deliveries,
               f"{n} x {rate}/s, nothing lost (≥ 98% of {n} x the 1-client rate)",
               many.deliveries >= 0.98 * n * one.deliveries and not many.dropped
               and not many.errors and not many.gaps,
               f"orchestrator CPU {many.cpu:.2f} cores; {per_core:,.0f} deliveries/s per core "
               f"(aim: 25,000); {health(many)}; client (Node, one process) CPU "
               f"{many.client_cpu:.2f} cores"),
        Figure(f"fan-out to {n} clients: publish-to-receive p50", many.p50, "ms",
               "1 client p50", one.p50, "", None),
        Figure(f"fan-out to {n} clients: publish-to-receive p99", many.p99, "ms",
               "1 client p99", one.p99, "< 100 ms", many.p99 < 100),
        Figure(f"fan-out to {over}: deliveries/s", spread_out.deliveries, "deliveries/s",
               f"all of it on 1 session ({n} clients)", many.deliveries, "", None,
               f"orchestrator CPU {spread_out.cpu:.2f} cores (1 session: {many.cpu:.2f}); "
               f"{health(spread_out)}"),
        Figure(f"fan-out to {over}: publish-to-receive p99", spread_out.p99, "ms",
               "1 session p99", many.p99, "", None,
               f"p50 {spread_out.p50:.2f} ms (1 session: {many.p50:.2f} ms)"),
    ]  # fmt: skip


def health(run: Fanout) -> str:
    """What went wrong in a run, if anything."""
    errors = f"; client errors {run.errors}" if run.errors else ""
    dropped = "; slow clients dropped" if run.dropped else ""
    return f"gaps {run.gaps}{dropped}{errors}"
