"""Issue #15: NATS itself failing, with the real bridge and the real orchestrator.

- The NATS server restarts mid-traffic (file storage, same port and store): nothing is lost,
  nothing applied twice, and both sides recover by themselves.
- NATS is unreachable when the orchestrator starts: it serves anyway, says so once with the
  URL, retries with backoff (no tight loop), and follows the bridge once NATS is there.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.faults.common import (
    applied_seq,
    assert_exactly_once,
    assert_rest_matches_capture,
    wait_applied_at_least,
)
from tests.harness import Orchestrator, free_port, jetstream_stack, make_capture, wait_for
from tests.natsserver import NatsServer

EXTRA = 2  # bridge.started and bridge.replay_finished around a replayed capture


def test_a_nats_restart_mid_traffic_loses_nothing_and_both_sides_recover(tmp_path: Path) -> None:
    events = 3000
    last = events + EXTRA
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=20)
    server = NatsServer(tmp_path / "nats" / "jetstream")
    server.start()
    try:
        with jetstream_stack(tmp_path, server.url, capture) as s:
            orchestrator = s.start_orchestrator()
            bridge = s.start_bridge(BRIDGE_REPLAY_RATE=250)
            wait_applied_at_least(orchestrator, events // 4, 60)
            server.stop()  # a clean restart: the store is flushed, the port stays
            stopped = time.monotonic()
            wait_for(
                "the orchestrator to see NATS gone",
                lambda: not orchestrator.bridge_report()["transport"]["connected"],
            )
            # Its state, not a log line: the sink logs an outage once, and a publish JetStream
            # refused while shutting down may have been that line before the connection closed.
            wait_for(
                "the bridge to see NATS gone", lambda: not bridge.nats_status()["natsConnected"]
            )
            server.start()
            back = time.monotonic()
            down = back - stopped
            moving = applied_seq(orchestrator)
            wait_applied_at_least(orchestrator, moving + 1, 60)
            flowing = time.monotonic() - back
            wait_applied_at_least(orchestrator, last, 120)
            assert bridge.running, f"the bridge exited:\n{bridge.log_tail()}"
            epoch = orchestrator.bridge_report()["applied"]["epoch"]
            assert_exactly_once(orchestrator.applied_positions(), epoch, last)
            assert_rest_matches_capture(orchestrator, capture)
            report = orchestrator.bridge_report()
            assert report["transport"]["connected"] is True
            print(
                f"\nNATS down {down:.2f} s mid-traffic; events applied again {flowing:.2f} s after"
                f" it was back; {last} events applied once each"
            )
    finally:
        server.stop()


def said(orchestrator: Orchestrator) -> int:
    """How many log lines say NATS is unreachable, naming its address."""
    lines = orchestrator.log_tail(1000).splitlines()
    return sum("NATS" in line and "127.0.0.1" in line and "unreachable" in line for line in lines)


def test_nats_unreachable_at_start_is_said_once_and_retried_then_followed(tmp_path: Path) -> None:
    events = 300
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=5)
    server = NatsServer(tmp_path / "nats" / "jetstream", port=free_port())
    try:
        with jetstream_stack(tmp_path, server.url, capture) as s:
            orchestrator = s.start_orchestrator()  # healthy without NATS
            assert orchestrator.http.get("/status").status_code == 200
            time.sleep(3)  # let it retry a while: the count below must stay small
            log = orchestrator.log_tail(400)
            unreachable = [
                line for line in log.splitlines() if "NATS" in line and "127.0.0.1" in line
            ]
            assert 1 <= len(unreachable) <= 3, "\n".join(unreachable) or log
            assert not re.search(r"nats://[^ ]*@", log), "credentials in the log"
            server.start()
            s.start_bridge()
            wait_applied_at_least(orchestrator, events + EXTRA, 60)
            assert orchestrator.bridge_report()["transport"]["connected"] is True
    finally:
        server.stop()
