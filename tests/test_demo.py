"""`make demo` takes its ports and data dir from the environment, and a second demo never wipes
or follows another one (issue #16): a data dir in use or a port taken is refused before anything
is touched; a demo with its own of each runs beside the first. Real `make`, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import REPO, Process, free_port, wait_for

# `install` is not remade: the test runs with the interpreter that runs it.
MAKE = ["make", "--no-print-directory", "-o", "install", f"VENV={Path(sys.prefix)}", "demo"]


def demo_env(data: Path, port: int, pub: int, router: int) -> dict[str, str]:
    return {
        **os.environ,
        "DEMO_DATA_DIR": str(data),
        "DEMO_PORT": str(port),
        "DEMO_BRIDGE_PUB": f"tcp://127.0.0.1:{pub}",
        "DEMO_BRIDGE_ROUTER": f"tcp://127.0.0.1:{router}",
        "BRIDGE_REPLAY_RATE": "0",
        "ORCH_QR_TERMINAL": "false",
    }


def status(port: int, data: Path) -> dict[str, Any]:
    token = (data / "api-token").read_text().strip()
    answer = httpx.get(
        f"http://127.0.0.1:{port}/status", headers={"Authorization": f"Bearer {token}"}
    )
    result: dict[str, Any] = answer.raise_for_status().json()
    return result


def refused(env: dict[str, str], log: Path) -> str:
    """Run a demo that must refuse to start: its exit code is not 0, its words are returned."""
    done = subprocess.run(MAKE, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    log.write_text(done.stdout + done.stderr)
    assert done.returncode != 0, done.stdout + done.stderr
    return done.stderr


@pytest.fixture
def demos() -> Iterator[ExitStack]:
    """What the test started, killed when it ends, however it ends."""
    with ExitStack() as stack:
        yield stack


def test_a_second_demo_refuses_what_the_first_one_holds_and_runs_on_its_own(
    tmp_path: Path, demos: ExitStack
) -> None:
    a_dir, a_port, a_pub, a_router = tmp_path / "a", free_port(), free_port(), free_port()
    a = Process("demo-a", MAKE, demo_env(a_dir, a_port, a_pub, a_router), tmp_path / "a.log")
    demos.callback(a.kill9)
    wait_for(
        "demo A up",
        lambda: a.running and status(a_port, a_dir)["bridge"]["state"] == "ok",
        timeout=90,
    )  # fmt: skip
    wait_for("demo A open", lambda: status(a_port, a_dir)["connected"], timeout=60)
    a_files = {p.name for p in a_dir.iterdir()}
    a_capture = (a_dir / "capture.jsonl").read_bytes()
    a_token = (a_dir / "api-token").read_text()
    a_bridge = (a_dir / "bridge" / "bridge-id").read_text()

    # The same data dir: refused, whatever the ports.
    same_dir = refused(
        demo_env(a_dir, free_port(), free_port(), free_port()), tmp_path / "same-dir.log"
    )
    a_pid = (a_dir / "demo.pid").read_text().strip()
    assert f"is in use by another demo (pid {a_pid})" in same_dir, same_dir
    # Its own data dir, the first one's bridge ports: refused, its dir left as it was.
    b_dir = tmp_path / "b"
    same_ports = refused(demo_env(b_dir, free_port(), a_pub, a_router), tmp_path / "ports.log")
    assert f"127.0.0.1:{a_pub} is taken" in same_ports, same_ports
    assert not (b_dir / "capture.jsonl").exists()
    # ... or its console port.
    same_port = refused(demo_env(b_dir, a_port, free_port(), free_port()), tmp_path / "port.log")
    assert f"127.0.0.1:{a_port} is taken" in same_port, same_port

    # Nothing of the first demo was touched, and it goes on.
    assert a_files <= {p.name for p in a_dir.iterdir()}
    assert (a_dir / "capture.jsonl").read_bytes() == a_capture
    assert (a_dir / "api-token").read_text() == a_token
    assert (a_dir / "bridge" / "bridge-id").read_text() == a_bridge
    assert a.running and status(a_port, a_dir)["bridge"]["state"] == "ok"

    # All of its own: it runs beside the first, on its own bridge.
    c_dir, c_port = tmp_path / "c", free_port()
    c = Process(
        "demo-c", MAKE, demo_env(c_dir, c_port, free_port(), free_port()), tmp_path / "c.log"
    )
    demos.callback(c.kill9)
    wait_for(
        "demo C up",
        lambda: c.running and status(c_port, c_dir)["bridge"]["state"] == "ok",
        timeout=90,
    )  # fmt: skip
    c_identity = status(c_port, c_dir)["bridge"]["identity"]
    assert c_identity["bridgeId"] == (c_dir / "bridge" / "bridge-id").read_text().strip()
    assert status(a_port, a_dir)["bridge"]["identity"]["bridgeId"] == a_bridge.strip()
    assert a.running

    # A stopped demo leaves its dir to the next one, which starts fresh.
    c.terminate(timeout=30)
    again = Process(
        "demo-c2", MAKE, demo_env(c_dir, c_port, free_port(), free_port()), tmp_path / "c2.log"
    )
    demos.callback(again.kill9)
    wait_for(
        "demo C again",
        lambda: again.running and status(c_port, c_dir)["bridge"]["state"] == "ok",
        timeout=90,
    )  # fmt: skip
    assert (c_dir / "bridge" / "bridge-id").read_text().strip() != c_identity["bridgeId"]
