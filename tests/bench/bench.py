"""`make bench`: the pipeline's speed and memory, each figure beside a baseline measured in
the same run (our machines are shared and noisy, so ratios are what compare across runs).

    python -m tests.bench.bench [--quick] [--only NAME ...] [--out DIR]

Writes results/<mode>.json and results/<mode>.md with the machine they ran on. Targets are
reported, never asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import zmq

from orchestrator.pipeline import HISTORY_SLICE
from tests.bench import fanout, sessions, webhooks
from tests.bench.fanout import FANOUT_CLIENT, cpu_seconds
from tests.bench.figures import FULL, QUICK, Figure, Scale, percentile
from tests.bench.fill_store import fill_store, fill_store_chat
from tests.harness import (
    REPO,
    TOKEN,
    Orchestrator,
    Stack,
    make_capture,
    metric,
    stack,
    wait_for,
)  # fmt: skip

RESULTS = REPO / "tests" / "bench" / "results"


# ---- 1. transport limit vs pipeline ---------------------------------------------------------


def transport_limit(tmp: Path, capture: Path, events: int) -> float:
    """Events/s a Python subscriber that only decodes envelopes receives from the bridge."""
    context = zmq.Context.instance()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.RECONNECT_IVL, 5)
    received, first, last = 0, 0.0, 0.0
    with stack(tmp, capture=capture, bridge=False, orchestrator=False) as s:
        sub.connect(s.endpoints.pub)
        s.start_bridge()
        try:
            while sub.poll(10_000):
                envelope = orjson.loads(sub.recv())
                if envelope["event"] == "bridge.heartbeat":
                    if envelope["seq"] >= events + 2 and received:
                        break
                    continue
                received += 1
                last = time.perf_counter()
                first = first or last
                if envelope["seq"] >= events + 2:
                    break
        finally:
            sub.close(linger=0)
    return (received - 1) / (last - first)


class SseCounter(threading.Thread):
    """Reads an SSE stream as raw bytes (a Python line parser would be the bottleneck),
    counting envelopes and remembering when each id was seen."""

    def __init__(self, url: str, until: Callable[[], str | None]) -> None:
        super().__init__(daemon=True)
        self.url, self.until = url, until
        self.count, self.first, self.last = 0, 0.0, 0.0
        self.last_id = ""

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        timeout = httpx.Timeout(10.0, read=None)  # a stream: reads wait as long as it lasts
        with httpx.stream("GET", self.url, headers=headers, timeout=timeout) as response:
            tail = b""
            for chunk in response.iter_raw():
                now = time.perf_counter()
                events = chunk.count(b"\nevent: ")
                if events and not self.first:
                    self.first = now  # the first envelope, not the connection's preamble
                self.count += events
                tail = (tail + chunk)[-4096:]
                position = tail.rfind(b"id: ")
                if events and position >= 0:  # a ping comment carries no envelope
                    self.last_id = tail[position + 4 :].split(b"\n", 1)[0].decode()
                    self.last = now
                if self.until() is not None and self.last_id == self.until():
                    return


def pipeline_rate(tmp: Path, capture: Path, events: int) -> tuple[float, str]:
    with stack(tmp, capture=capture, bridge=False) as s:
        orchestrator = s.orchestrator
        final: dict[str, str] = {}
        reader = SseCounter(f"{orchestrator.base_url}/events", lambda: final.get("id"))
        reader.start()
        time.sleep(0.3)
        processes = [psutil.Process(orchestrator.popen.pid)]
        cpu = [cpu_seconds(p) for p in processes]
        started = time.perf_counter()
        processes.append(psutil.Process(s.start_bridge().popen.pid))
        state = s.published(timeout=120)
        report = orchestrator.wait_applied(state["epoch"], events + 2, timeout=300)
        final["id"] = orchestrator.last_event_id()
        reader.join(120)
        elapsed = time.perf_counter() - started
        orchestrator_cpu, bridge_cpu = (
            (cpu_seconds(processes[0]) - cpu[0]) / elapsed,
            (cpu_seconds(processes[1]) / elapsed),
        )
    notes = (
        f"gaps {report['gaps']}, replayed {report['replayed']} of {events}; CPU: orchestrator "
        f"{orchestrator_cpu:.2f} cores, bridge {bridge_cpu:.2f} (2 cores, with the SSE reader)"
    )
    return events / (reader.last - reader.first), notes


def bench_pipeline(tmp: Path, scale: Scale) -> list[Figure]:
    events = scale.pipeline_events
    capture = make_capture(tmp / "pipeline.jsonl", events, chats=200)
    baseline = transport_limit(tmp / "transport", capture, events)
    rate, notes = pipeline_rate(tmp / "pipeline", capture, events)
    return [
        Figure("pipeline events/s (normalize, state, log, 1 SSE client)", rate, "events/s",
               "bridge -> Python SUB that only decodes", baseline,
               "≥ 0.6 x the transport limit and ≥ 50,000/s",
               rate >= 0.6 * baseline and rate >= 50_000, notes),
    ]  # fmt: skip


# ---- 2. history-sync ingest ------------------------------------------------------------------


def bench_history(tmp: Path, scale: Scale) -> list[Figure]:
    messages, chats = scale.history_messages, scale.history_chats
    capture = make_capture(tmp / "history.jsonl", 3, chats=chats, history=messages)
    node = subprocess.run(
        ["node", "--expose-gc", str(REPO / "tests" / "bench" / "baileys_memory.mjs"), str(capture)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    baileys = json.loads(node.stdout)
    # Like for like: the growth of each process's resident memory.
    baileys_per_message = baileys["rssBytes"] / baileys["messages"]
    baileys_heap = baileys["heapBytes"] / baileys["messages"]
    with stack(tmp / "history", capture=capture, bridge=False) as s:
        orchestrator = s.orchestrator
        process = psutil.Process(orchestrator.popen.pid)
        rss_before = process.memory_info().rss
        bridge = s.start_bridge()
        state = bridge.wait_seq(4, timeout=120)  # the history event is published
        published = time.perf_counter()
        with HealthWatch(orchestrator) as watch:  # how long the API keeps a client waiting
            all_in = wait_for(
                "every message in RAM",
                lambda: metric(orchestrator, "wa_state_messages") >= messages
                and time.perf_counter(),
                timeout=120, interval=0.1,  # each look costs the ingest a /metrics
            )  # fmt: skip
        ingest = all_in - published
        orchestrator.wait_applied(state["epoch"], 5, timeout=120)
        wait_for(  # written rows count once the memory they held is handed back
            "the store",
            lambda: metric(orchestrator, "wa_store_written_rows_total") >= messages,
            120,
        )
        rss_per_message = (process.memory_info().rss - rss_before) / messages
    return [
        Figure(f"history sync of {messages:,} messages over {chats:,} chats: until every "
               "message is served", ingest, "s", "target", 1.0, "< 1 s", ingest < 1.0,
               f"applied in slices of {HISTORY_SLICE:,}, the API answering between two: "
               f"longest /health answer meanwhile {watch.longest * 1000:.0f} ms (p50 "
               f"{watch.median * 1000:.1f} ms, {len(watch.latencies)} requests)"),
        Figure("RSS per message held (orchestrator process growth)", rss_per_message, "bytes",
               "Baileys WebMessageInfo objects in Node (RSS growth)", baileys_per_message,
               "≤ half the baseline", rss_per_message <= baileys_per_message / 2,
               f"Node heap alone: {baileys_heap:,.0f} bytes/message"),
    ]  # fmt: skip


class HealthWatch(threading.Thread):
    """GET /health one after another while the block runs: how long each answer took."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        super().__init__(daemon=True)
        self.orchestrator = orchestrator
        self.latencies: list[float] = []
        self.done = threading.Event()

    def __enter__(self) -> HealthWatch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(30)

    def run(self) -> None:
        with httpx.Client(base_url=self.orchestrator.base_url, timeout=60) as client:
            while not self.done.is_set():
                started = time.perf_counter()
                client.get("/health")
                self.latencies.append(time.perf_counter() - started)
                time.sleep(0.01)

    @property
    def longest(self) -> float:
        return max(self.latencies, default=float("nan"))

    @property
    def median(self) -> float:
        return percentile(self.latencies, 0.5)


# ---- 3. fan-out: fanout.py -------------------------------------------------------------------


# ---- 4. REST under load -------------------------------------------------------------------------


def wrk(url: str, seconds: int, connections: int = 50) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Authorization: Bearer {TOKEN}", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    figures: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            value = parts[1]
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
            unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
            figures[parts[0]] = float(value[: -len(unit)]) * scale[unit]
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        if "Non-2xx" in line:
            figures["errors"] = float(parts[-1])
    return figures


def bench_rest(tmp: Path, scale: Scale) -> list[Figure]:
    chats = scale.rest_chats
    capture = make_capture(tmp / "rest.jsonl", chats * 3, chats=chats)
    with stack(tmp / "rest", capture=capture, timeout=120) as s:
        chat = s.orchestrator.http.get("/chats").json()["chats"][0]["id"]
        base = s.orchestrator.base_url
        health = wrk(f"{base}/health", scale.rest_seconds)
        listing = wrk(f"{base}/chats?limit=50", scale.rest_seconds)
        messages = wrk(f"{base}/chats/{chat}/messages?limit=50", scale.rest_seconds)
    figures = []
    for name, result in (
        (f"GET /chats ({chats:,} chats)", listing),
        ("GET /chats/{id}/messages", messages),
    ):
        figures.append(Figure(f"{name} p99, 50 connections", result["99%"], "ms",
                              "GET /health p99", health["99%"], "< 20 ms", result["99%"] < 20,
                              f"p50 {result['50%']:.2f} ms; {result['rps']:,.0f} req/s "
                              f"(health {health['rps']:,.0f} req/s)"))  # fmt: skip
    return figures


# ---- 5. restart recovery -------------------------------------------------------------------


def time_to_chats(s: Stack, data: Path, expect: int, messages: int = 0) -> tuple[float, ...]:
    """Seconds from start until /chats serves `expect` chats; then (for a filled store of
    `messages`) until the newest page of 20 chats spread over the list, the least recently
    active included, has been served (each checked whole), and until every chat's window is
    in RAM (the background fill: `wa_state_messages` in /metrics)."""
    started = time.perf_counter()
    orchestrator = s.start_orchestrator(data=data, healthy=False)

    def listed() -> bool | None:
        response = orchestrator.http.get("/chats", params={"limit": 500})
        chats = response.json()["chats"] if response.status_code == 200 else []
        return True if len(chats) >= expect else None

    wait_for("chats served", listed, timeout=120, interval=0.02)
    served = time.perf_counter() - started
    if not messages:
        return (served,)
    page = min(50, messages // 1000)  # the default page, or the whole chat
    for number in range(0, 1000, 50):
        chat_id = fill_store_chat(number)
        response = orchestrator.http.get(f"/chats/{chat_id}/messages")
        assert len(response.json()["messages"]) == page, (chat_id, response.text)
    pages = time.perf_counter() - started

    def in_ram() -> bool:
        text = orchestrator.http.get("/metrics").text
        held = next(line for line in text.splitlines() if line.startswith("wa_state_messages"))
        return float(held.split()[-1]) >= messages

    wait_for("every window in RAM", in_ram, timeout=120, interval=0.02)
    return served, pages, time.perf_counter() - started


def bench_recovery(tmp: Path, scale: Scale) -> list[Figure]:
    chats, messages = 1000, scale.recovery_messages
    fill_store(tmp / "recovery", messages, chats)
    capture = make_capture(tmp / "tiny.jsonl", 3)
    with stack(tmp / "recovery-stack", capture=capture, orchestrator=False) as s:
        (empty,) = time_to_chats(s, tmp / "recovery-empty", 1)
        listed, pages, filled = time_to_chats(s, tmp / "recovery", 500, messages)
    stored = f"{messages:,} messages in SQLite ({chats:,} chats)"
    return [
        Figure(f"restart, {stored}: start to /chats", listed, "s",
               "start to /chats with an empty store", empty, "< 1 s", listed < 1.0),
        Figure(f"restart, {stored}: start to /chats and the newest page of 20 chats spread "
               "over the list", pages, "s", "start to /chats with an empty store", empty,
               "< 1 s", pages < 1.0,
               f"every chat's window in RAM (filled in the background) after {filled:.2f} s"),
    ]  # fmt: skip


# ---- 6. end to end through real Baileys decryption ------------------------------------------


def bench_e2e(tmp: Path, scale: Scale) -> list[Figure]:
    """Messages a simulated contact sends (Signal-encrypted, decrypted by the unmodified
    Baileys in the bridge) until a client has them; baseline: the offered load, how fast the
    simulator took the sends (a ratio of 1 means decryption and the pipeline keep up)."""
    from tests.wasim import WaSim

    count = scale.e2e_messages
    with stack(tmp / "e2e", orchestrator=False) as s:
        sim = s.add(WaSim(s.tmp))
        s.start_bridge(**sim.bridge_env())
        orchestrator = s.start_orchestrator(timeout=30)
        qr = wait_for("a QR", lambda: orchestrator.http.get("/qr").json()["qr"], timeout=30)
        sim.scan(qr)
        wait_for("open", lambda: orchestrator.status()["state"] == "open", timeout=40)
        sim.post("/contacts", {"phone": "5511955550005", "name": "Eva"})
        warm = sim.post("/send", {"from": "5511955550005", "kind": "text", "text": "warm-up"})
        wait_for("the warm-up", lambda: _served(orchestrator, warm["id"]), timeout=30)
        since = orchestrator.last_event_id()
        sent: dict[str, float] = {}
        started = time.perf_counter()
        for i in range(count):
            reply = sim.post("/send", {"from": "5511955550005", "kind": "text", "text": f"m{i}"})
            sent[reply["id"]] = time.perf_counter()
        offered = count / (time.perf_counter() - started)
        arrived = _await_new_messages(orchestrator, since, set(sent))
        elapsed = max(arrived.values()) - started
        latencies = [arrived[i] - sent[i] for i in sent]
    rate = count / elapsed
    return [
        Figure(f"{count} messages through real Baileys decryption, send to client", rate,
               "messages/s", "offered: the simulator's send rate", offered, "", None,
               f"latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
               f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms (sent one by one over the "
               "simulator's HTTP API)"),
    ]  # fmt: skip


def _served(orchestrator: Orchestrator, message_id: str) -> bool:
    page = orchestrator.http.get("/events/poll", params={"since": "", "timeout": 0}).json()
    return any(e["data"].get("id") == message_id for e in page["events"])


def _await_new_messages(orchestrator: Orchestrator, since: str, ids: set[str]) -> dict[str, float]:
    """When each of `ids` reached a long-polling client."""
    arrived: dict[str, float] = {}
    deadline = time.perf_counter() + 120
    while len(arrived) < len(ids) and time.perf_counter() < deadline:
        body = orchestrator.http.get("/events/poll", params={"since": since, "timeout": 5}).json()
        now = time.perf_counter()
        for envelope in body["events"]:
            if envelope["type"] == "new_message" and envelope["data"]["id"] in ids:
                arrived.setdefault(envelope["data"]["id"], now)
        since = body["lastEventId"]
    assert len(arrived) == len(ids), f"{len(arrived)} of {len(ids)} arrived"
    return arrived


# ---- 7. shutdown with stream clients -------------------------------------------------------


def sigterm_to_exit(tmp: Path, capture: Path, clients: int) -> float:
    """Seconds from SIGTERM until the orchestrator has exited, with `clients` stream clients
    (a Node process: even SSE, odd WebSocket) connected; it must end their streams itself."""
    with stack(tmp / f"shutdown-{clients}", capture=capture) as s:
        orchestrator = s.orchestrator
        client: subprocess.Popen[str] | None = None
        try:
            if clients:
                client = subprocess.Popen(
                    ["node", str(FANOUT_CLIENT), "--base", orchestrator.base_url, "--token",
                     TOKEN, "--clients", str(clients), "--seconds", "600",
                     "--out", str(tmp / "shutdown.bin")],
                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL, text=True,
                )  # fmt: skip
                assert client.stdout is not None
                ready = client.stdout.readline().strip()
                assert ready == "READY", f"shutdown clients: {ready!r} (exit {client.poll()})"
            started = time.perf_counter()
            orchestrator.signal_group(signal.SIGTERM)
            orchestrator.popen.wait(120)
            return time.perf_counter() - started
        finally:
            if client is not None and client.poll() is None:
                client.kill()
                client.wait(10)


def bench_shutdown(tmp: Path, scale: Scale) -> list[Figure]:
    capture = make_capture(tmp / "shutdown.jsonl", 200, chats=20)
    clients = scale.fanout_clients
    idle = sigterm_to_exit(tmp, capture, 0)
    busy = sigterm_to_exit(tmp, capture, clients)
    return [
        Figure(f"shutdown with {clients} stream clients: SIGTERM to exit", busy, "s",
               "with no client", idle, "< 3 s", busy < 3.0,
               "every stream ended by the server (SSE retry hint, WebSocket 1012), then the "
               "store flushed"),
    ]  # fmt: skip


# ---- the run ---------------------------------------------------------------------------------


def bench_jetstream(tmp: Path, scale: Scale) -> list[Figure]:
    # Imported here: tests/bench/jetstream.py reuses this module's pipeline measurement.
    from tests.bench.jetstream import bench_jetstream as measure

    return measure(tmp, scale)


BENCHES: dict[str, Callable[[Path, Scale], list[Figure]]] = {
    "pipeline": bench_pipeline,
    "history": bench_history,
    "fanout": fanout.bench_fanout,
    "rest": bench_rest,
    "recovery": bench_recovery,
    "e2e": bench_e2e,
    "shutdown": bench_shutdown,
    "idle-sessions": sessions.bench_idle,
    "restore-sessions": sessions.bench_restore,
    "jetstream": bench_jetstream,
    "webhooks": webhooks.bench_webhooks,
}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "memoryGiB": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "node": subprocess.run(
            ["node", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "load": os.getloadavg(),
    }


def markdown(mode: str, when: str, host: dict[str, Any], figures: list[Figure]) -> str:
    lines = [
        f"# Benchmarks ({mode})", "",
        f"{when}; {host['cpus']} cores ({host['cpu']}), {host['memoryGiB']} GiB, Python "
        f"{host['python']}, Node {host['node']}, load at start {host['load'][0]:.2f}.", "",
        "| figure | value | baseline (same run) | ratio | target | met | notes |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        lines.append(
            f"| {f.name} | {f.value:,.2f} {f.unit} | {f.baseline_name}: {f.baseline:,.2f} | "
            f"{f.ratio:.2f} | {f.target} | {met} | {f.notes} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=list(BENCHES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    scale = QUICK if args.quick else FULL
    host = machine()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        for name in args.only or list(BENCHES):
            started = time.perf_counter()
            print(f"bench {name} ...", flush=True)
            new = BENCHES[name](Path(tmp), scale)
            for f in new:
                print(
                    f"  {f.name}: {f.value:,.2f} {f.unit} "
                    f"(baseline {f.baseline:,.2f}, ratio {f.ratio:.2f})",
                    flush=True,
                )
            print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
            figures += new
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "mode": mode, "when": when, "machine": host, "scale": asdict(scale),
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }  # fmt: skip
    (args.out / f"{mode}.json").write_text(json.dumps(document, indent=2) + "\n")
    (args.out / f"{mode}.md").write_text(markdown(mode, when, host, figures))
    print(markdown(mode, when, host, figures))


if __name__ == "__main__":
    main()
