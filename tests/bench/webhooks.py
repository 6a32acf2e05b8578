"""Webhooks: deliveries per second to a local receiver (webhook_receiver.mjs, a Node process of
its own) against stream clients, and the latency from the bridge's publish to the receiver
against a stream client's on the same events, in the same run.

Throughput: the orchestrator is up with the endpoints registered (or SSE clients connected)
before the bridge replays a capture as fast as it can; the rate is what the receivers got from
their first receipt to their last. The webhooks drain a backlog (the pipeline outruns them);
the stream clients get a longer replay, or their rate would be that of one batch. Latency: the
bridge paced at PACED_RATE, one endpoint and one stream client (SSE, fanout_client.mjs) on the
same orchestrator at once, matched to the publish by (epoch, seq) as in fanout.py (the
webhook-id is the stream id, "<epoch>:<seq>:<k>"); the first WARM_UP ms, while the endpoint
opens its connections, are reported apart.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.bench.fanout import FANOUT_CLIENT, PublishWatch, cpu_seconds
from tests.bench.figures import Figure, Scale, percentile
from tests.harness import REPO, TOKEN, Orchestrator, Process, make_capture, stack, wait_for

RECEIVER = REPO / "tests" / "bench" / "webhook_receiver.mjs"
CONCURRENCY = 16  # in-flight posts per endpoint
# Events/s for the latency: well below what one endpoint sustains (a few hundred deliveries/s
# on our 2-core machines), so it measures a delivery, not a queue. The fan-out's 200/s is not.
PACED_RATE = 50
WARM_UP = 2000.0  # ms: the latencies leave out the events published this soon after the first
SETTINGS = {"ORCH_MEDIA_URL_ALLOWLIST": "127.0.0.1"}  # the SSRF guard lets loopback through


class Receiver(Process):
    """webhook_receiver.mjs: answers 200 at once and records what arrived when."""

    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        super().__init__(
            "receiver", ["node", str(RECEIVER)], dict(os.environ), tmp / "receiver.log"
        )
        line = wait_for("the receiver's port", self._first_line, timeout=30, interval=0.02)
        self.port: int = json.loads(line)["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def _first_line(self) -> str | None:
        text = self.log_path.read_text()
        return text.split("\n", 1)[0] if "\n" in text else None

    def records(self) -> list[tuple[str, str, float]]:
        """(path, webhook-id, receive ms) of every POST so far, in arrival order."""
        answer = httpx.get(f"{self.url}/records", timeout=60, trust_env=False)
        return [
            (path, ident, at) for path, ident, at in answer.raise_for_status().json()["records"]
        ]


def register(orchestrator: Orchestrator, receiver: Receiver, endpoints: int) -> list[str]:
    """`endpoints` webhooks taking every event, each on its own path of the receiver."""
    ids = []
    for n in range(endpoints):
        body = {"url": f"{receiver.url}/e{n}", "concurrency": CONCURRENCY}
        answer = orchestrator.http.post("/webhooks", json=body)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def drained(orchestrator: Orchestrator, timeout: float) -> list[dict[str, Any]]:
    """Until no endpoint has anything pending; their health."""

    def done() -> list[dict[str, Any]] | None:
        hooks = orchestrator.http.get("/webhooks").raise_for_status().json()["webhooks"]
        health = [hook["health"] for hook in hooks]
        return health if all(h["pending"] == 0 for h in health) else None

    return wait_for("the webhooks drained", done, timeout=timeout, interval=0.1)


Key = tuple[str, int]  # (epoch, seq): an event as the bridge published it


@dataclass(frozen=True)
class Run:
    published: dict[Key, float]  # wall-clock ms
    webhook: list[tuple[Key, float]]  # each delivery the receiver got, when
    stream: list[tuple[Key, float]]  # each delivery the stream clients got, when
    cpu: float  # the orchestrator's CPU seconds from the bridge's start until all was delivered
    notes: str

    def rate(self, deliveries: list[tuple[Key, float]]) -> float:
        """Per second, from the first receipt to the last."""
        times = [at for _, at in deliveries]
        return len(times) / ((max(times) - min(times)) / 1000)

    def latencies(self, deliveries: list[tuple[Key, float]], skip: float) -> list[float]:
        """Publish to receipt, ms, of the events published `skip` ms after the first or later
        (negative `skip`: only those before). Events published before the watch connected are
        not matched."""
        since = min(self.published.values(), default=0.0) + abs(skip)
        return [
            at - self.published[key]
            for key, at in deliveries
            if key in self.published and (self.published[key] >= since) == (skip >= 0)
        ]


def measure(
    tmp: Path,
    capture: Path,
    *,
    endpoints: int = 0,
    clients: int = 0,
    seconds: int = 0,
    **bridge_env: str,
) -> Run:
    """An orchestrator with `endpoints` webhooks on a receiver and `clients` stream clients
    (fanout_client.mjs, recording for `seconds`: even SSE, odd WebSocket), then a bridge
    replaying `capture` (`bridge_env`: its pace), until all of it is delivered."""
    records = tmp / "stream.bin"
    with stack(tmp, capture=capture, bridge=False, orchestrator_env=SETTINGS) as s:
        orchestrator = s.orchestrator
        receiver = s.add(Receiver(s.tmp)) if endpoints else None
        if receiver is not None:
            register(orchestrator, receiver, endpoints)
        watch = PublishWatch([s.endpoints.pub])
        watch.start()
        client: subprocess.Popen[str] | None = None
        try:
            if clients:
                client = subprocess.Popen(
                    ["node", str(FANOUT_CLIENT), "--base", orchestrator.base_url, "--token",
                     TOKEN, "--clients", str(clients), "--seconds", str(seconds),
                     "--out", str(records)],
                    cwd=REPO, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                )  # fmt: skip
                assert client.stdout is not None
                ready = client.stdout.readline().strip()
                assert ready == "READY", f"stream clients: {ready!r} (exit {client.poll()})"
            process = psutil.Process(orchestrator.popen.pid)
            before = cpu_seconds(process)
            s.start_bridge(**bridge_env)
            s.applied(timeout=300)
            health = drained(orchestrator, timeout=900) if endpoints else []
            cpu = cpu_seconds(process) - before
            webhook = receiver.records() if receiver is not None else []
            notes = []
            if endpoints:
                delivered = sum(h["delivered"] for h in health)
                failed = sum(h["failed"] for h in health)
                notes.append(f"webhooks: {len(webhook):,} received ({delivered:,} counted "
                             f"delivered), {failed} failed attempts")  # fmt: skip
            stream = []
            if client is not None:
                assert client.stdout is not None
                summary = json.loads(client.stdout.readline())
                assert client.wait(60) == 0, f"stream clients exit {client.returncode}"
                epochs: list[str] = summary["epochs"]
                stream = [
                    ((epochs[epoch], seq), at)
                    for epoch, seq, at in struct.iter_unpack("<IId", records.read_bytes())
                ]
                records.unlink()
                notes.append(f"stream: {len(stream):,} received, {summary['errors']} errors")
        finally:
            watch.stop.set()
            watch.join(5)
            if client is not None and client.poll() is None:
                client.kill()
                client.wait(10)
    return Run(
        published=watch.seen,
        webhook=[(_key(ident), at) for _, ident, at in webhook],
        stream=stream,
        cpu=cpu,
        notes="; ".join(notes),
    )


def _key(webhook_id: str) -> Key:
    epoch, seq, _ = webhook_id.split(":")
    return epoch, int(seq)


@dataclass(frozen=True)
class Stream:
    deliveries: float  # per second, all clients together, first receipt to last
    count: int
    cpu: float  # the orchestrator's CPU seconds from the bridge's start until all was received


def stream_burst(tmp: Path, capture: Path, clients: int) -> Stream:
    """`clients` SSE clients (bench.py's raw readers, each on a thread here) while the bridge
    replays `capture` as fast as it can; until each has the last event."""
    from tests.bench.bench import SseCounter  # bench.py imports this module

    with stack(tmp, capture=capture, bridge=False) as s:
        orchestrator = s.orchestrator
        final: dict[str, str] = {}
        readers = [
            SseCounter(f"{orchestrator.base_url}/events", lambda: final.get("id"))
            for _ in range(clients)
        ]
        for reader in readers:
            reader.start()
        wait_for(
            "the stream clients",
            lambda: (
                f'wa_stream_clients{{kind="sse"}} {clients}.0'
                in orchestrator.http.get("/metrics").text
            ),
            timeout=30,
        )
        process = psutil.Process(orchestrator.popen.pid)
        before = cpu_seconds(process)
        s.start_bridge()
        s.applied(timeout=300)
        final["id"] = orchestrator.last_event_id()
        for reader in readers:
            reader.join(120)
        cpu = cpu_seconds(process) - before
    first, last = min(r.first for r in readers), max(r.last for r in readers)
    count = sum(r.count for r in readers)
    return Stream(count / (last - first), count, cpu)


def bench_webhooks(tmp: Path, scale: Scale) -> list[Figure]:
    events, seconds, fanout = scale.webhook_events, scale.webhook_seconds, scale.webhook_fanout
    capture = make_capture(tmp / "webhooks.jsonl", events, chats=50)
    # The stream clients get the pipeline's events/s each: a replay long enough to measure
    # that, not one batch.
    stream_events = min(scale.pipeline_events, 25 * events)
    stream_capture = make_capture(tmp / "stream.jsonl", stream_events, chats=50)
    one = measure(tmp / "webhooks-1", capture, endpoints=1)
    stream_one = stream_burst(tmp / "stream-1", stream_capture, 1)
    # Paced: the replay ends within the stream client's window (the bridge starts as it opens).
    paced_capture = make_capture(tmp / "paced.jsonl", PACED_RATE * max(1, seconds - 2), chats=50)
    paced = measure(tmp / "paced", paced_capture, endpoints=1, clients=1, seconds=seconds,
                    BRIDGE_REPLAY_RATE=str(PACED_RATE))  # fmt: skip
    # An endpoint's first deliveries open its connections (one per post in flight, up to its
    # concurrency): a slower start, reported apart from the steady state.
    webhook, stream = (
        paced.latencies(paced.webhook, WARM_UP),
        paced.latencies(paced.stream, WARM_UP),
    )
    cold = paced.latencies(paced.webhook, -WARM_UP)
    rate = one.rate(one.webhook)
    figures = [
        Figure(f"webhooks: 1 endpoint (concurrency {CONCURRENCY}), {events:,} events replayed "
               "at once: deliveries/s", rate, "deliveries/s",
               f"1 stream client (SSE), {stream_events:,} events replayed at once",
               stream_one.deliveries, "", None,
               f"orchestrator CPU {one.cpu * 1000 / len(one.webhook):.2f} ms per delivery "
               f"(stream: {stream_one.cpu * 1000 / stream_one.count:.3f}); {one.notes}"),
        Figure(f"webhooks at {PACED_RATE} events/s: publish-to-receiver p50",
               percentile(webhook, 0.5), "ms", "1 stream client (SSE) p50, same events, same run",
               percentile(stream, 0.5), "", None,
               f"{len(webhook):,} webhook and {len(stream):,} stream deliveries after the "
               f"first {WARM_UP / 1000:.0f} s; in those, the webhooks' p50 "
               f"{percentile(cold, 0.5):.0f} ms, max {max(cold, default=float('nan')):.0f} ms; "
               f"{paced.notes}"),
        Figure(f"webhooks at {PACED_RATE} events/s: publish-to-receiver p99",
               percentile(webhook, 0.99), "ms", "1 stream client (SSE) p99, same events, same run",
               percentile(stream, 0.99), "", None),
    ]  # fmt: skip
    if fanout:
        many = measure(tmp / f"webhooks-{fanout}", capture, endpoints=fanout)
        stream_many = stream_burst(tmp / f"stream-{fanout}", stream_capture, fanout)
        figures.insert(1, Figure(
            f"webhooks: {fanout} endpoints (fan-out {fanout}x, concurrency {CONCURRENCY} each): "
            "deliveries/s", many.rate(many.webhook), "deliveries/s",
            f"{fanout} stream clients (SSE), the same", stream_many.deliveries, "", None,
            f"orchestrator CPU {many.cpu * 1000 / len(many.webhook):.2f} ms per delivery "
            f"(stream: {stream_many.cpu * 1000 / stream_many.count:.3f}); 1 endpoint: "
            f"{rate:,.0f}/s; {many.notes}",
        ))  # fmt: skip
    return figures
