"""Fault 7: damaged input files. (a) A capture with garbage lines in the middle: the bridge
publishes `bridge.capture_error` for each and every valid event after them reaches the
orchestrator. (b) A journal segment edited while the bridge is stopped (a garbage line in the
middle, a truncated last line): the bridge starts, logs the bad records and serves everything
valid after them, so an orchestrator that was behind catches up across the damage."""

from __future__ import annotations

import json
from pathlib import Path

from tests.faults.common import (
    assert_exactly_once,
    assert_rest_matches_capture,
    wait_applied_at_least,
)
from tests.harness import make_capture, stack

EXTRA = 2
GARBAGE = [
    "this is not json",
    '{"event": "messages.upsert", "data": {"messages": [',  # cut short
    "[1, 2, 3]",
    '{"data": {}}',
    '{"event": 7, "data": null}',
    "\x00\x01\x02 binary \xff",
]


def test_garbage_lines_in_a_capture_become_capture_errors_and_the_rest_arrives(
    tmp_path: Path,
) -> None:
    events = 1500
    clean = make_capture(tmp_path / "clean.jsonl", events, history=200, rich=True)
    lines = clean.read_text().splitlines()
    damaged_lines: list[str] = []
    bad_line_numbers = []
    for n, line in enumerate(lines):
        if n in (300, 700, 701, 1100, 1400, 1499):
            damaged_lines.append(GARBAGE[len(bad_line_numbers)])
            bad_line_numbers.append(len(damaged_lines))
        damaged_lines.append(line)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(damaged_lines) + "\n", errors="surrogateescape")

    last = events + len(GARBAGE) + EXTRA
    with stack(
        tmp_path, capture=damaged, bridge_first=False, bridge_env={"BRIDGE_REPLAY_RATE": 2000}
    ) as s:
        orchestrator, bridge = s.orchestrator, s.bridge
        report = orchestrator.bridge_report()
        state = bridge.state()

        journal = bridge.client.journal()
        errors = [e for e in journal if e["event"] == "bridge.capture_error"]
        assert [e["data"]["line"] for e in errors] == bad_line_numbers
        assert all(e["data"]["error"] for e in errors)
        finished = journal[-1]
        assert finished["event"] == "bridge.replay_finished"
        assert finished["data"]["events"] == events and finished["data"]["skipped"] == len(GARBAGE)
        valid = [e for e in journal if not e["event"].startswith("bridge.")]
        assert [(e["event"], e["data"]) for e in valid] == [
            (json.loads(line)["event"], json.loads(line)["data"]) for line in lines
        ]
        assert_exactly_once(orchestrator.applied_positions(), state["epoch"], last)
        assert report["malformed"] == 0
        assert_rest_matches_capture(orchestrator, clean)
        print(f"{len(errors)} capture errors at lines {bad_line_numbers}; {events} valid events")


def test_a_damaged_journal_segment_is_reported_and_everything_valid_is_served(
    tmp_path: Path,
) -> None:
    events = 3000
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=10)
    with stack(tmp_path, capture=capture, bridge=False) as s:
        orchestrator = s.orchestrator
        bridge = s.start_bridge(BRIDGE_REPLAY_RATE=1500)
        wait_applied_at_least(orchestrator, 600)
        orchestrator.kill9()  # behind: it has to come back across the damage
        first = bridge.wait_seq(events + EXTRA)
        assert bridge.terminate() == 0

        # One segment (3002 lines < BRIDGE_JOURNAL_SEGMENT_BYTES): damage it in place.
        segments = sorted((tmp_path / "bridge" / "journal").glob("segment-*.jsonl"))
        assert len(segments) == 1, segments
        segment = segments[0]
        lines = segment.read_text().splitlines()
        assert len(lines) == events + EXTRA
        garbage_at = 2000  # 0-based: after seq 2000
        lines.insert(garbage_at, '{"v":1,"epoch":"garbage" this line is damaged')
        truncated = lines[-1][: len(lines[-1]) // 2]
        segment.write_text("\n".join(lines[:-1]) + "\n" + truncated)  # no final newline

        small = make_capture(tmp_path / "small.jsonl", 20, seed=3)
        bridge = s.start_bridge(small)
        second = bridge.wait_seq(20 + EXTRA)
        log = bridge.log_path.read_text()
        reported = [
            json.loads(line)["line"]
            for line in log.splitlines()
            if "journal: corrupt or truncated line skipped" in line
        ]
        assert reported == [garbage_at + 1, len(lines)], reported
        started = bridge.client.result("replay", {"epoch": second["epoch"], "seq": 0, "limit": 1})
        previous = started["events"][0]["data"]["previous"]
        assert previous == {"epoch": first["epoch"], "seq": events + EXTRA - 1}

        journal = bridge.client.journal()
        old = [e["seq"] for e in journal if e["epoch"] == first["epoch"]]
        assert old == list(range(1, events + EXTRA)), "the valid old records are not all served"
        across = bridge.client.result("replay", {"epoch": first["epoch"], "seq": 1990, "limit": 20})
        assert [e["seq"] for e in across["events"]] == list(range(1991, 2011))

        orchestrator = s.start_orchestrator()
        report = orchestrator.wait_applied(second["epoch"], 20 + EXTRA)
        positions = orchestrator.applied_positions()
        assert_exactly_once(positions, first["epoch"], events + EXTRA - 1)
        assert_exactly_once(positions, second["epoch"], 20 + EXTRA)
        assert report["positionsLost"] == 0 and report["malformed"] == 0
        print(
            f"bridge reported bad lines {reported}; old epoch 1..{events + EXTRA - 1} served; "
            f"orchestrator resumed from {600}+ and applied everything once"
        )
