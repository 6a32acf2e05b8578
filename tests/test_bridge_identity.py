"""An orchestrator follows only its own bridge (issue #16, orchestrator/bridgeid.py): a bridge at
its endpoints that is not the one it expects is refused, on /status and in the log, and nothing
of it is applied or sent to it. Real processes: bridges replaying the demo capture, uvicorn."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.harness import Bridge, Endpoints, demo_capture, free_port, stack, wait_for


def bridge_id(data_dir: Path) -> str:
    return (data_dir / "bridge-id").read_text().strip()


def wrong(status: dict[str, Any]) -> dict[str, Any] | None:
    bridge: dict[str, Any] = status["bridge"]
    return bridge if bridge["state"] == "wrong_bridge" else None


def commands(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)["method"] for line in log.read_text().splitlines()]


def test_a_second_orchestrator_pointed_at_the_first_ones_bridge_refuses_it(tmp_path: Path) -> None:
    """The second `make demo` of the issue: same bridge ports, its own data dir. Its spawned
    bridge cannot bind (it restarts in vain) and the first one's answers at those ports."""
    endpoints = Endpoints(f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}")
    capture = demo_capture(tmp_path / "capture.jsonl", 300)
    command_log = tmp_path / "a-commands.jsonl"
    with stack(
        tmp_path, capture=capture, endpoints=endpoints,
        bridge_env={"BRIDGE_COMMAND_LOG": str(command_log)},
    ) as s:  # fmt: skip
        a_id = bridge_id(tmp_path / "bridge")
        # Up once a heartbeat came live (the stack waited for what was replayed).
        first = wait_for(
            "A ok", lambda: (st := s.orchestrator.status())["bridge"]["state"] == "ok" and st
        )
        assert first["bridge"]["identity"] == {"bridgeId": a_id, "session": "default"}
        assert first["connected"] is True
        chats_a = s.orchestrator.http.get("/chats").json()["chats"]
        assert chats_a

        started = time.monotonic()
        b = s.start_orchestrator(
            data=tmp_path / "orch-b", log_dir=tmp_path / "b",
            ORCH_SPAWN_BRIDGE="true", BRIDGE_REPLAY=str(capture), ORCH_RESPAWN_INITIAL="0.2",
        )  # fmt: skip
        refused = wait_for("B to refuse A's bridge", lambda: wrong(b.status()), 30)
        print(f"wrong_bridge on /status {time.monotonic() - started:.2f}s after B was started")
        b_id = bridge_id(tmp_path / "orch-b" / "bridge")
        assert b_id != a_id
        assert refused["identity"] == {"bridgeId": a_id, "session": "default"}
        assert a_id in refused["error"] and b_id in refused["error"], refused["error"]
        assert refused["alive"] is False

        # Nothing of A's WhatsApp reaches B: no chats, not open, no event applied ...
        status = b.status()
        assert status["connected"] is False and status["state"] != "open", status
        assert b.http.get("/chats").json()["chats"] == []
        report = b.bridge_report()
        assert report["applied"] is None and report["appliedEvents"] == 0, report
        # ... and nothing B is asked goes to A's bridge.
        before = commands(command_log)
        send = b.http.post("/send", json={"chatId": chats_a[0]["id"], "text": "not for you"})
        assert 400 <= send.status_code < 600 and send.status_code != 500, send.text
        assert send.json()["error"]["code"], send.text
        assert [m for m in commands(command_log)[len(before) :] if m != "state"] == []
        assert "refusing the bridge" in b.log_tail(400)
        assert "found bridge " + a_id in b.log_tail(400)

        # A goes on unharmed.
        assert s.orchestrator.status()["bridge"]["state"] == "ok"
        assert len(s.orchestrator.http.get("/chats").json()["chats"]) == len(chats_a)


def test_a_bridge_elsewhere_is_learned_on_first_contact_and_another_one_refused(
    tmp_path: Path,
) -> None:
    capture = demo_capture(tmp_path / "capture.jsonl", 200)
    with stack(tmp_path, capture=capture) as s:
        learned = json.loads((tmp_path / "orch" / "bridge-identity.json").read_text())
        assert learned == {"bridgeId": bridge_id(tmp_path / "bridge"), "session": "default"}

        # The same bridge restarted (a new epoch, the same data dir) is followed as before.
        s.restart_bridge()
        s.applied()
        # Its heartbeats say "ok" (a busy machine may still be catching up on them).
        wait_for("the bridge ok", lambda: s.orchestrator.status()["bridge"]["state"] == "ok")
        before = s.orchestrator.bridge_report()

        # Another bridge (another data dir, another capture) at the same endpoints.
        s.bridge.kill9()
        (tmp_path / "other").mkdir()
        other = s.add(
            Bridge(
                tmp_path / "other", tmp_path / "other" / "bridge", s.endpoints,
                BRIDGE_REPLAY=str(demo_capture(tmp_path / "other" / "capture.jsonl", 250, seed=9)),
            )
        )  # fmt: skip
        refused = wait_for("the other bridge refused", lambda: wrong(s.orchestrator.status()), 30)
        assert refused["identity"]["bridgeId"] == bridge_id(tmp_path / "other" / "bridge")
        assert "bridge-identity.json" in refused["error"], refused["error"]
        other.wait_seq(250 + 2)  # it has published all it has, and none of it was taken
        wait_for("refused envelopes counted", lambda: s.orchestrator.bridge_report()["refused"])
        after = s.orchestrator.bridge_report()
        assert after["applied"] == before["applied"], (before["applied"], after["applied"])
        assert after["appliedEvents"] == before["appliedEvents"]
        assert s.orchestrator.status()["bridge"]["state"] == "wrong_bridge"
