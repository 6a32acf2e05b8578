"""Issue #15: an envelope larger than a NATS message (a history sync of 12,500 messages, about
5 MB, against the server's default max_payload of 1 MiB) crosses JetStream whole: the bridge
keeps it in the object store and publishes a stub at its place; the orchestrator reads the
object in the stub's place, so REST serves every message of it, in order with its neighbours."""

from __future__ import annotations

from pathlib import Path

from tests.faults.common import assert_exactly_once, assert_rest_matches_capture
from tests.harness import jetstream_stack, make_capture, wait_for
from tests.natsserver import nats_server

EXTRA = 2


def test_a_history_sync_over_max_payload_arrives_whole(tmp_path: Path) -> None:
    events, history = 400, 12_500
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=10, history=history)
    largest = max(len(line) for line in capture.read_bytes().splitlines())
    assert largest > 2 * 1024 * 1024, f"the history sync is only {largest} bytes"
    with (
        nats_server(tmp_path / "nats") as server,
        jetstream_stack(tmp_path, server.url, capture) as s,
    ):
        orchestrator = s.start_orchestrator()
        s.start_bridge()
        last = events + EXTRA

        def applied() -> bool:
            report = orchestrator.bridge_report()
            return (report["applied"] or {}).get("seq") == last

        wait_for("the capture applied", applied, 120)
        epoch = orchestrator.bridge_report()["applied"]["epoch"]
        assert_exactly_once(orchestrator.applied_positions(), epoch, last)
        compared = assert_rest_matches_capture(orchestrator, capture)
        assert compared >= history, compared
