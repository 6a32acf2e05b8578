"""Issue 18: a receiver that never answers (endpoint A) must not slow the streams or another
endpoint (B). The same burst runs twice on fresh stacks, A healthy then A hanging; the SSE
client's and B's latencies (from the bridge's publication of each event) are compared.

A bound on medians only, and a generous one: on a shared 2-core machine the tails swing by
several times between identical runs (tests/faults/test_stuck_client.py); a stall on A would
cost B whole timeouts (seconds), far above the bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.faults.common import ClientRunner, SseClient, percentile
from tests.harness import make_capture, stack, wait_for
from tests.webhooks.common import FAST, create, health, ids_of, publish_times, seq_of, stream_after
from tests.webhooks.receiver import Receiver

EVENTS, RATE = 600, 100  # a rate both endpoints keep up with on a loaded 2-core machine


def burst(tmp_path: Path, capture: Path, hanging: bool) -> dict[str, Any]:
    env = {**FAST, "ORCH_WEBHOOK_TIMEOUT": "5"}  # longer than a phase: A holds its requests
    with stack(tmp_path, capture=capture, bridge=False, orchestrator_env=env) as s, \
            Receiver() as a, Receiver() as b:  # fmt: skip
        http = s.orchestrator.http
        a.behave(hang=hanging)
        hook_a = create(http, f"{a.url}/a", concurrency=2)
        hook_b = create(http, f"{b.url}/b")
        a.secrets, b.secrets = [hook_a["secret"]], [hook_b["secret"]]
        start = s.orchestrator.last_event_id()
        sse = SseClient(s.orchestrator.base_url, last_id=start, read_timeout=60)
        runner = ClientRunner([sse]).start()
        wait_for("the SSE client", lambda: sse.connections)
        bridge = s.start_bridge(BRIDGE_REPLAY_RATE=RATE)
        s.applied(timeout=60)
        expected = stream_after(s.orchestrator, start)
        ids = ids_of(expected)
        runner.finish_at(s.orchestrator.base_url, expected[-1]["id"])
        runner.join(60)
        wait_for("B to get everything", lambda: set(ids) <= b.ok_ids(), timeout=60)
        a.check()
        b.check()
        published = publish_times(bridge.client.journal())
        stream = [at - published[seq_of(e["id"])]
                  for e, at in zip(sse.envelopes, sse.arrivals, strict=True)]  # fmt: skip
        first_ok = {x.id: x.wall for x in reversed(b.requests) if x.ok}
        delivered = [first_ok[i] - published[seq_of(i)] for i in ids]
        result = {
            "stream p50": percentile(stream, 50),
            "stream p99": percentile(stream, 99),
            "B p50": percentile(delivered, 50),
            "B p99": percentile(delivered, 99),
            "A requests": a.count(),
            "A pending": health(http, hook_a["id"])["pending"],
            "events": len(ids),
        }
        if hanging:
            assert a.count() >= 1 and all(x.hung for x in a.requests)
            assert result["A pending"] == len(ids), result
        else:
            wait_for("A to get everything", lambda: set(ids) <= a.ok_ids(), timeout=60)
        return result


def test_a_receiver_that_never_answers_slows_neither_the_streams_nor_another_endpoint(
    tmp_path: Path,
) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", EVENTS, chats=10)
    base = burst(tmp_path / "healthy", capture, hanging=False)
    hung = burst(tmp_path / "hanging", capture, hanging=True)
    print()
    for name, values in (("A healthy", base), ("A hanging", hung)):
        print(f"{name}: " + ", ".join(
            f"{k} {v * 1000:.0f} ms" if isinstance(v, float) else f"{k} {v}"
            for k, v in values.items()))  # fmt: skip
    for key in ("stream p50", "B p50"):
        assert hung[key] <= max(3 * base[key], base[key] + 0.5), (key, base[key], hung[key])
