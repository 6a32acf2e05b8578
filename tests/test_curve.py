"""Issue 8: CURVE between bridge and orchestrator. Off loopback both refuse to run without keys;
with keys the link is encrypted and only listed clients get in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import zmq

from tests.harness import BRIDGE_MAIN, Endpoints, free_port, make_capture, stack, wait_for


def keypair() -> tuple[str, str]:
    public, secret = zmq.curve_keypair()
    return public.decode(), secret.decode()


def received_anything(endpoint: str, client: tuple[str, str] | None, server_key: str) -> bool:
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    if client is not None:
        sub.curve_serverkey = server_key.encode()
        sub.curve_publickey, sub.curve_secretkey = client[0].encode(), client[1].encode()
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    try:
        return bool(sub.poll(2500))  # heartbeats come every second to whoever is let in
    finally:
        sub.close()


def test_a_curve_link_carries_the_stream_and_keeps_strangers_out(tmp_path: Path) -> None:
    server, orchestrator_keys, stranger = keypair(), keypair(), keypair()
    endpoints = Endpoints(f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}")
    capture = make_capture(tmp_path / "capture.jsonl", 300)
    # The ROUTER is CURVE too: the test's own plain client cannot ask it anything, so the stack
    # waits for nothing.
    with stack(
        tmp_path, capture=capture, endpoints=endpoints, wait=False,
        bridge_env={"BRIDGE_CURVE_PUBLIC_KEY": server[0], "BRIDGE_CURVE_SECRET_KEY": server[1],
                    "BRIDGE_CURVE_CLIENTS": orchestrator_keys[0]},
        orchestrator_env={"ORCH_BRIDGE_CURVE_SERVER_KEY": server[0],
                          "ORCH_CURVE_PUBLIC_KEY": orchestrator_keys[0],
                          "ORCH_CURVE_SECRET_KEY": orchestrator_keys[1]},
    ) as s:  # fmt: skip
        orchestrator = s.orchestrator
        report = wait_for(
            "the orchestrator to follow over CURVE",
            lambda: (
                (r := orchestrator.bridge_report())["applied"] and r["applied"]["seq"] == 302 and r
            ),
        )
        assert report["replayed"] > 0  # the replay commands went over the CURVE ROUTER too
        assert not received_anything(endpoints.pub, None, server[0]), "plain text got through"
        assert not received_anything(endpoints.pub, stranger, server[0]), "an unlisted key got in"
        assert received_anything(endpoints.pub, orchestrator_keys, server[0])
        assert "zap: refused a client key" in s.bridge.log_path.read_text()


def test_both_refuse_to_go_unencrypted_off_the_machine(tmp_path: Path) -> None:
    bridge = subprocess.run(
        ["node", str(BRIDGE_MAIN)], capture_output=True, text=True, timeout=20,
        env={"PATH": "/usr/bin:/bin", "BRIDGE_PUB": f"tcp://0.0.0.0:{free_port()}",
             "BRIDGE_ROUTER": f"tcp://127.0.0.1:{free_port()}",
             "BRIDGE_DATA_DIR": str(tmp_path / "b"), "BRIDGE_AUTO_CONNECT": "false"},
    )  # fmt: skip
    assert bridge.returncode == 2
    assert "unencrypted" in bridge.stdout + bridge.stderr
    orchestrator = subprocess.run(
        [sys.executable, "-m", "orchestrator"], capture_output=True, text=True, timeout=20,
        env={"PATH": "/usr/bin:/bin", "ORCH_DATA_DIR": str(tmp_path / "o"), "ORCH_API_TOKEN": "t",
             "ORCH_BRIDGE_PUB": "tcp://203.0.113.7:5555", "ORCH_PORT": str(free_port())},
    )  # fmt: skip
    assert orchestrator.returncode == 2
    assert "unencrypted" in orchestrator.stderr
