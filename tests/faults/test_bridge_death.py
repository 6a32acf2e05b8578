"""Fault 2: the bridge stops (SIGSTOP) or dies (`kill -9`). The orchestrator declares it dead
within three missed heartbeats, never falsely under CPU load, and once it is back the journal
closes the gap: everything applied exactly once."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.common import (
    assert_exactly_once,
    cpu_burner,
    wait_applied_at_least,
)
from tests.harness import Orchestrator, make_capture, stack, wait_for

EXTRA = 2
HEARTBEAT_TIMEOUT = 3.0  # ORCH_BRIDGE_HEARTBEAT_TIMEOUT's default: three 1 s heartbeats
SLACK = 1.0  # the watchdog looks every 0.25 s, this test polls every 0.05 s


def watch_alive(orchestrator: Orchestrator, seconds: float) -> tuple[bool, int]:
    """(alive throughout, the longest heartbeat silence seen in ms), polled every 50 ms."""
    deadline = time.monotonic() + seconds
    alive, longest = True, 0
    while time.monotonic() < deadline:
        report = orchestrator.bridge_report()
        alive = alive and report["alive"]
        longest = max(longest, report["lastHeartbeatAgeMs"] or 0)
        time.sleep(0.05)
    return alive, longest


def time_to_death(orchestrator: Orchestrator, since: float) -> float:
    wait_for(
        "the bridge declared dead",
        lambda: orchestrator.bridge_report()["alive"] is False,
        timeout=HEARTBEAT_TIMEOUT + 5,
        interval=0.05,
    )
    return time.monotonic() - since


def test_bridge_stopped_or_killed_is_declared_dead_in_time_and_its_gap_is_closed(
    tmp_path: Path,
) -> None:
    small = make_capture(tmp_path / "small.jsonl", 1000, chats=10)
    large = make_capture(tmp_path / "large.jsonl", 4000, chats=20, seed=2)
    with stack(tmp_path, capture=small, bridge=False) as s:
        orchestrator = s.orchestrator
        bridge = s.start_bridge(BRIDGE_REPLAY_RATE=250)
        wait_applied_at_least(orchestrator, 50)

        # Normal operation with one core spinning: 4 s of traffic, then 6 s of heartbeats only.
        with cpu_burner(core=0):
            alive, longest_silence = watch_alive(orchestrator, 10.0)
        assert alive, "the bridge was declared dead while running normally under load"
        assert longest_silence < HEARTBEAT_TIMEOUT * 1000
        first = bridge.state()
        assert first["seq"] == 1000 + EXTRA, "the small replay should be over by now"

        # kill -9 while idle.
        bridge.kill9()
        idle_killed_dead = time_to_death(orchestrator, time.monotonic())

        # SIGSTOP mid-replay: a hung bridge; SIGCONT: it bursts what it owes.
        bridge = s.start_bridge(large, BRIDGE_REPLAY_RATE=400)
        second = wait_for("the second bridge", bridge.state)["epoch"]
        wait_applied_in(orchestrator, second, 800)
        bridge.pause()
        stopped_dead = time_to_death(orchestrator, time.monotonic())
        bridge.resume()
        wait_for("alive again", lambda: orchestrator.bridge_report()["alive"], timeout=5)

        # kill -9 mid-replay, restart at once: a new epoch; the old one's tail from its journal.
        wait_applied_in(orchestrator, second, 2500)
        bridge.kill9()
        second_last = journal_last(tmp_path / "bridge", second)
        assert second_last < 4000, "the replay ended before the kill: nothing to test"
        bridge = s.start_bridge(large)
        third = bridge.wait_seq(4000 + EXTRA)
        report = orchestrator.wait_applied(third["epoch"], 4000 + EXTRA)

        for name, dead in [("idle kill -9", idle_killed_dead), ("SIGSTOP", stopped_dead)]:
            assert 1.9 <= dead <= HEARTBEAT_TIMEOUT + SLACK, f"{name}: declared dead after {dead}s"
        positions = orchestrator.applied_positions()
        assert_exactly_once(positions, first["epoch"], 1000 + EXTRA)
        assert_exactly_once(positions, second, second_last)
        assert_exactly_once(positions, third["epoch"], 4000 + EXTRA)
        assert [e for e, _ in positions] == sorted(
            (e for e, _ in positions), key=[first["epoch"], second, third["epoch"]].index
        )
        assert report["alive"] and report["epochChanges"] >= 2 and report["malformed"] == 0
        print(
            f"longest silence under load {longest_silence} ms; declared dead "
            f"{idle_killed_dead:.2f}s after kill -9, {stopped_dead:.2f}s after SIGSTOP; "
            f"epochs of {1000 + EXTRA}, {second_last}, {4000 + EXTRA} events, each applied once "
            f"(replayed {report['replayed']}, gaps {report['gaps']})"
        )


def wait_applied_in(orchestrator: Orchestrator, epoch: str, seq: int) -> None:
    def reached() -> bool:
        applied = orchestrator.bridge_report()["applied"] or {}
        return applied.get("epoch") == epoch and applied["seq"] >= seq

    wait_for(f"{epoch}:{seq} applied", reached, timeout=30)


def journal_last(bridge_dir: Path, epoch: str) -> int:
    """The last seq of `epoch` in the journal files a dead bridge left."""
    last = 0
    for segment in sorted((bridge_dir / "journal").glob("segment-*.jsonl")):
        for line in segment.read_text().splitlines():
            if line.startswith(f'{{"v":1,"epoch":"{epoch}","seq":'):
                last = max(last, int(line.split('"seq":', 1)[1].split(",", 1)[0]))
    return last
