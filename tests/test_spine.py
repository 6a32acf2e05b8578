"""Issue 2's end-to-end checks: the real Node bridge and the real orchestrator over real ZeroMQ.

The invariant throughout: the orchestrator's applied log (its durable record of what it applied)
holds every event the bridge journaled, once, in order.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from tests.harness import Bridge, Orchestrator, free_port, make_capture, stack, wait_for

EXTRA_EVENTS = 2  # bridge.started before a replayed capture, bridge.replay_finished after it


def contiguous(positions: list[tuple[str, int]], epoch: str) -> list[int]:
    return [seq for e, seq in positions if e == epoch]


def assert_exactly_once(positions: list[tuple[str, int]], epoch: str, last: int) -> None:
    seqs = contiguous(positions, epoch)
    assert seqs == list(range(1, last + 1)), (
        f"epoch {epoch}: {len(seqs)} applied, expected 1..{last}; "
        f"first holes/repeats near {next((i for i, s in enumerate(seqs, 1) if s != i), None)}"
    )


def wait_applied_at_least(orchestrator: Orchestrator, seq: int) -> None:
    wait_for(
        f"{seq} events applied",
        lambda: (orchestrator.bridge_report()["applied"] or {}).get("seq", 0) >= seq,
    )


def test_late_joiner_applies_the_whole_journal_in_order(tmp_path: Path) -> None:
    events = 2000
    with stack(tmp_path, capture=make_capture(tmp_path / "capture.jsonl", events)) as s:
        report = s.orchestrator.bridge_report()
        epoch = s.bridge.state()["epoch"]
        assert_exactly_once(s.orchestrator.applied_positions(), epoch, events + EXTRA_EVENTS)
    assert report["replayed"] == events + EXTRA_EVENTS
    assert report["malformed"] == 0


def test_orchestrator_killed_mid_stream_resumes_without_hole_or_repeat(tmp_path: Path) -> None:
    events, rate = 3000, 1000
    capture = make_capture(tmp_path / "capture.jsonl", events)
    with stack(tmp_path, capture=capture, bridge=False) as s:
        s.start_bridge(BRIDGE_REPLAY_RATE=rate)
        rng = random.Random(2)
        for kill_after in sorted(rng.sample(range(300, events - 500), 2)):
            wait_applied_at_least(s.orchestrator, kill_after)
            s.orchestrator.kill9()
            time.sleep(0.2)
            s.start_orchestrator()

        epoch = s.bridge.state()["epoch"]
        s.orchestrator.wait_applied(epoch, events + EXTRA_EVENTS)
        assert_exactly_once(s.orchestrator.applied_positions(), epoch, events + EXTRA_EVENTS)


def journal_epochs(bridge: Bridge) -> dict[str, int]:
    """Last seq of each epoch the bridge journal holds."""
    last: dict[str, int] = {}
    for envelope in bridge.client.journal():
        last[envelope["epoch"]] = envelope["seq"]
    return last


@pytest.mark.parametrize("orchestrator_up", [True, False], ids=["following", "away"])
def test_bridge_killed_mid_replay_new_epoch_and_old_tail_recovered(
    tmp_path: Path, orchestrator_up: bool
) -> None:
    events = 3000
    capture = make_capture(tmp_path / "capture.jsonl", events)
    with stack(tmp_path, capture=capture, bridge=False) as s:
        s.start_bridge(BRIDGE_REPLAY_RATE=1000)
        wait_applied_at_least(s.orchestrator, 1000)
        if not orchestrator_up:
            s.orchestrator.kill9()
            time.sleep(0.5)  # the bridge goes on publishing to nobody
        old_epoch = s.bridge.state()["epoch"]

        bridge = s.restart_bridge()
        new_state = bridge.wait_seq(events + EXTRA_EVENTS)
        assert new_state["epoch"] != old_epoch
        old_last = journal_epochs(bridge)[old_epoch]
        started = bridge.client.result(
            "replay", {"epoch": new_state["epoch"], "seq": 0, "limit": 1}
        )
        assert started["events"][0]["event"] == "bridge.started"
        assert started["events"][0]["data"]["previous"] == {"epoch": old_epoch, "seq": old_last}

        if not orchestrator_up:
            s.start_orchestrator()
        report = s.orchestrator.wait_applied(new_state["epoch"], events + EXTRA_EVENTS)
        positions = s.orchestrator.applied_positions()

    assert_exactly_once(positions, old_epoch, old_last)
    assert_exactly_once(positions, new_state["epoch"], events + EXTRA_EVENTS)
    assert [e for e, _ in positions] == sorted(
        (e for e, _ in positions), key=[old_epoch, new_state["epoch"]].index
    )
    if orchestrator_up:
        assert report["epochChanges"] >= 1
    else:
        assert old_last > 1000 and report["replayed"] >= old_last - 1000


def test_forced_drops_are_detected_as_gaps_and_filled(tmp_path: Path) -> None:
    events, rate = 400, 200
    last = events + EXTRA_EVENTS
    capture = make_capture(tmp_path / "capture.jsonl", events)
    # 300-302 vanish mid-stream (a live gap); the very last event vanishes too, so only the next
    # heartbeat can reveal it.
    drops: dict[str, str | int] = {
        "BRIDGE_REPLAY_RATE": rate, "BRIDGE_TEST_DROP_SEQS": f"300,301,302,{last}"
    }  # fmt: skip
    with stack(tmp_path, capture=capture, bridge_first=False, bridge_env=drops) as s:
        report = s.orchestrator.bridge_report()
        epoch = s.bridge.state()["epoch"]
        assert_exactly_once(s.orchestrator.applied_positions(), epoch, last)
        log_text = s.orchestrator.log_path.read_text()
    assert report["gaps"] >= 2, report
    assert report["replayed"] >= 4, report
    # The live gap is filled up to the event that revealed it, not through it: that one is in
    # hand already (and could be a history sync of tens of megabytes).
    assert re.findall(r"caught up \(gap\): (\d+) events replayed", log_text) == ["3"], log_text


class ClosingWhatsApp:
    """A local WebSocket server standing in for WhatsApp: it accepts, then hangs up."""

    def __init__(self) -> None:
        self.connections = 0
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        # Wait for Baileys' hello (it may hang up first); either way, close on it.
        with contextlib.suppress(Exception):
            connection.recv(timeout=5.0)
        connection.close()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def closing_whatsapp() -> Iterator[ClosingWhatsApp]:
    server = ClosingWhatsApp()
    yield server
    server.close()


def test_real_baileys_socket_close_reaches_the_orchestrator_intact(
    tmp_path: Path, closing_whatsapp: ClosingWhatsApp
) -> None:
    with stack(
        tmp_path, bridge=True, bridge_first=False,
        bridge_env={"BRIDGE_WA_URL": f"ws://127.0.0.1:{closing_whatsapp.port}"},
        orchestrator_env={"ORCH_RECONNECT_INITIAL": "0.2"},
    ) as s:  # fmt: skip
        orchestrator, bridge = s.orchestrator, s.bridge
        status = wait_for(
            "a close reason in /status",
            lambda: (r := orchestrator.status())["reason"] is not None and r,
        )
        closes = [
            e["data"]
            for e in bridge.client.journal()
            if e["event"] == "connection.update" and e["data"].get("connection") == "close"
        ]
        assert closes, "the bridge journaled no close"
        error: dict[str, Any] = closes[0]["lastDisconnect"]["error"]["$error"]
        assert isinstance(error["statusCode"], int)
        assert status["reason"]["statusCode"] == error["statusCode"]
        assert status["reason"]["message"] == error["message"]

        # The orchestrator decides to reconnect, and the bridge survives every round.
        wait_for("a reconnect", lambda: closing_whatsapp.connections >= 2, timeout=15)
        assert bridge.running
        assert bridge.state()["mode"] == "live"


def closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:  # nothing listens there: connect is refused, as offline
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


def test_make_run_offline_stays_up_and_says_whatsapp_is_unreachable(tmp_path: Path) -> None:
    with stack(tmp_path, orchestrator=False) as s:
        orchestrator = s.start_orchestrator(
            argv=["make", "--no-print-directory", "run"], timeout=60,
            BRIDGE_WA_URL=f"ws://127.0.0.1:{closed_port()}", ORCH_SPAWN_BRIDGE="",
        )  # fmt: skip
        status = wait_for(
            "WhatsApp unreachable in /status",
            lambda: (r := orchestrator.status())["reason"] and r,
            timeout=30,
        )
        assert status["state"] == "close" and status["connected"] is False
        assert status["reason"]["unreachable"] is True
        assert "ECONNREFUSED" in status["reason"]["message"]

        observed = 8.0
        start = orchestrator.bridge_report()["reconnects"]
        time.sleep(observed)
        report = orchestrator.bridge_report()
        # Backoff with full jitter, starting at 1 s and doubling: at most a handful in 8 s, not
        # a loop.
        assert report["reconnects"] - start <= 6, report
        assert report["alive"] and report["spawned"]["pid"], report
        assert orchestrator.running
        assert "WhatsApp unreachable" in orchestrator.log_path.read_text()

        # Ctrl-C, as in a terminal: make's process group gets SIGINT; the orchestrator stops the
        # bridge.
        orchestrator.signal_group(signal.SIGINT)
        orchestrator.popen.wait(15)
        wait_for("the bridge to stop with it", lambda: not _pid_alive(report["spawned"]["pid"]), 10)
        log = orchestrator.log_path.read_text()
        assert "Finished server process" in log
        assert "Traceback" not in log
        assert "restart 1" not in log, "the supervisor restarted a bridge it was stopping"


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
