"""Fault 3: a subscriber slower than the publisher. With a tiny PUB high-water mark
(BRIDGE_PUB_HWM=10), the orchestrator is frozen (SIGSTOP) while the bridge publishes as fast
as it can read its capture, so the PUB socket drops what does not fit; after SIGCONT the gap
is detected and filled from the journal, every event applied exactly once.

The capture is a named pipe the test writes into: the orchestrator is following live before
the burst, and the burst happens entirely during the freeze."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tests.faults.common import assert_exactly_once, wait_applied_at_least
from tests.harness import make_capture, stack, wait_for

EXTRA = 2


def test_pub_hwm_overflow_while_the_orchestrator_is_frozen_is_detected_and_filled(
    tmp_path: Path,
) -> None:
    events, lead = 20_000, 200
    last = events + EXTRA
    lines = make_capture(tmp_path / "capture.jsonl", events, chats=20).read_bytes().splitlines()
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    with stack(tmp_path, capture=fifo, bridge=False) as s:
        orchestrator = s.orchestrator
        bridge = s.start_bridge(BRIDGE_PUB_HWM=10)
        burst = threading.Event()

        def feed() -> None:
            with open(fifo, "wb") as pipe:  # blocks until the bridge opens it
                pipe.write(b"\n".join(lines[:lead]) + b"\n")
                pipe.flush()
                burst.wait(60)
                pipe.write(b"\n".join(lines[lead:]) + b"\n")

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            wait_applied_at_least(orchestrator, lead + 1)
            wait_for("a heartbeat", lambda: orchestrator.bridge_report()["seq"] == lead + 1)
            # The lead goes through the same tiny HWM: on a busy machine it may overflow too (and
            # be filled). What counts is that the burst makes a gap of its own.
            before = orchestrator.bridge_report()

            orchestrator.pause()
            frozen = time.monotonic()
            burst.set()
            feeder.join(30)
            bridge.wait_seq(last)
            published = time.monotonic() - frozen
            time.sleep(max(0.0, 1.5 - published))
            orchestrator.resume()
            resumed = time.monotonic()
        finally:
            burst.set()
            orchestrator.resume()

        epoch = bridge.state()["epoch"]
        report = orchestrator.wait_applied(epoch, last, timeout=60)
        caught_up = time.monotonic() - resumed
        assert_exactly_once(orchestrator.applied_positions(), epoch, last)
        assert report["gaps"] > before["gaps"] and report["replayed"] > before["replayed"], report
        assert report["appliedEvents"] == last, report
        assert report["malformed"] == 0, report
        assert report["alive"], report
        print(
            f"{events - lead} events published in {published:.2f}s into a frozen subscriber "
            f"(PUB HWM 10): gaps {report['gaps']}, replayed {report['replayed']}, "
            f"received live {report['received']}, duplicates {report['duplicates']}; "
            f"all {last} applied once {caught_up:.2f}s after SIGCONT"
        )
