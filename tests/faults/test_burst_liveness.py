"""Fault 8: a burst far faster than the orchestrator can apply (the bridge replaying 40,000
events as fast as it reads them). The socket stays readable for the whole burst, so nothing in
the follower's loop needs to suspend: unless it yields between batches, the API and every
stream client wait for the burst to end. The API must answer throughout, and the stream must
be delivered during the burst, not after it."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.common import ClientRunner, SseClient
from tests.harness import make_capture, stack

EVENTS, EXTRA = 40_000, 2


def test_the_api_and_the_streams_are_served_during_a_burst(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", EVENTS, chats=200)
    with stack(tmp_path, capture=capture, bridge=False) as s:
        orchestrator = s.orchestrator
        reader = SseClient(orchestrator.base_url, read_timeout=60)
        runner = ClientRunner([reader]).start()
        s.start_bridge()

        slowest, polls, applied_at_end = 0.0, 0, None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = time.monotonic()
            report = orchestrator.http.get("/admin/bridge", timeout=60).json()
            slowest = max(slowest, time.monotonic() - started)
            polls += 1
            if report["applied"] and report["applied"]["seq"] >= EVENTS + EXTRA:
                applied_at_end = time.time()  # the clients stamp arrivals with time.time()
                break
            time.sleep(0.05)
        assert applied_at_end is not None, "the burst was not applied in 120 s"
        runner.finish_at(orchestrator.base_url, orchestrator.last_event_id())
        runner.join(60)
        first_delivery = reader.arrivals[0]
        summary = (
            f"{polls} API calls during the burst, slowest {slowest * 1000:.0f} ms; the stream's "
            f"first event came {applied_at_end - first_delivery:.2f} s before the last was applied"
        )
        print(summary)
        assert polls >= 5, f"the burst was too short to test anything: {summary}"
        assert slowest < 1.0, summary
        assert applied_at_end - first_delivery > 0.5, summary
