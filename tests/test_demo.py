"""`make demo` takes its ports and data dir from the environment, and a second demo never wipes
or follows another one (issue #16): a data dir in use or a port taken is refused before anything
is touched; a demo with its own of each runs beside the first. Real `make`, real processes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
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


def start_demo(
    name: str, data: Path, logs: Path, demos: ExitStack
) -> tuple[Process, int, int, int]:
    """A demo on ports picked free now, up with its bridge: (process, console, PUB, ROUTER ports).

    A port picked free may be taken by the time the demo binds it: a race this test loses, not
    the demo, so a start that fails on an address in use is tried again on other ports. Any
    other failure, or a demo not up in time, fails the test with its log's tail."""
    for attempt in range(1, 4):
        console, pub, router = free_port(), free_port(), free_port()
        demo = Process(
            f"{name}-{attempt}", MAKE, demo_env(data, console, pub, router),
            logs / f"{name}-{attempt}.log",
        )  # fmt: skip
        demos.callback(demo.kill9)
        try:
            wait_for(f"{name} up", partial(settled, demo, console, data), timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {demo.log_path}:\n{demo.log_tail(60)}") from None
        if lost_port_race(demo):
            demo.kill9()  # `make` is gone; the orchestrator holding the dir's lock may not be yet
            wait_for(f"{name}'s data dir let go", partial(unlocked, data / "demo.lock"))
            continue
        assert demo.running, f"{name} exited {demo.popen.returncode}:\n{demo.log_tail(60)}"
        return demo, console, pub, router
    raise AssertionError(f"{name}: the ports picked were taken each time:\n{demo.log_tail(60)}")


def lost_port_race(demo: Process) -> bool:
    """The demo could not bind a port the test picked free: something took it in between
    (uvicorn and the bridge both say so in the demo's log)."""
    return "address already in use" in demo.log_tail(200).lower()


def unlocked(lock: Path) -> bool:
    with lock.open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(file, fcntl.LOCK_UN)
        return True


def settled(demo: Process, port: int, data: Path) -> bool:
    """Up with its bridge, exited, or failed on an address in use."""
    if not demo.running or lost_port_race(demo):
        return True
    return bool(status(port, data)["bridge"]["state"] == "ok")


@pytest.fixture
def demos() -> Iterator[ExitStack]:
    """What the test started, killed when it ends, however it ends."""
    with ExitStack() as stack:
        yield stack


def test_a_second_demo_refuses_what_the_first_one_holds_and_runs_on_its_own(
    tmp_path: Path, demos: ExitStack
) -> None:
    a_dir = tmp_path / "a"
    a, a_port, a_pub, a_router = start_demo("demo-a", a_dir, tmp_path, demos)
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
    c_dir = tmp_path / "c"
    c, c_port, _, _ = start_demo("demo-c", c_dir, tmp_path, demos)
    c_identity = status(c_port, c_dir)["bridge"]["identity"]
    assert c_identity["bridgeId"] == (c_dir / "bridge" / "bridge-id").read_text().strip()
    assert status(a_port, a_dir)["bridge"]["identity"]["bridgeId"] == a_bridge.strip()
    assert a.running

    # A stopped demo leaves its dir to the next one, which starts fresh.
    c.terminate(timeout=30)
    start_demo("demo-c-again", c_dir, tmp_path, demos)
    assert (c_dir / "bridge" / "bridge-id").read_text().strip() != c_identity["bridgeId"]
