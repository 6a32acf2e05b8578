"""Real processes for end-to-end tests: the Node bridge, the orchestrator, and clients for both.

Nothing here is faked: the bridge runs stock Baileys (or replays a capture through its real
publishing path), the orchestrator is `python -m orchestrator`, and both talk real ZeroMQ.
Endpoints are ipc:// sockets in a fresh directory and HTTP ports are probed free, so tests can
run in any order, in parallel, on a machine whose usual ports are taken.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import zmq

REPO = Path(__file__).resolve().parents[1]
BRIDGE_DIR = REPO / "bridge-node"
BRIDGE_MAIN = BRIDGE_DIR / "src" / "main.js"
TOKEN = "test-token-0123456789"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except Exception as exc:  # a probe may fail while a process is still starting
            last_error = exc
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_error})"
    )


def make_capture(
    path: Path, events: int, seed: int = 1, chats: int = 20, history: int = 0, rich: bool = False
) -> Path:
    """A capture of `events` raw Baileys events, built from real protos by the bridge's script."""
    subprocess.run(
        ["node", str(BRIDGE_DIR / "scripts" / "make-capture.js"), "--out", str(path),
         "--events", str(events), "--seed", str(seed), "--chats", str(chats),
         "--history", str(history), *(["--rich"] if rich else [])],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


@dataclass(frozen=True)
class Endpoints:
    pub: str
    router: str


@contextlib.contextmanager
def ipc_endpoints() -> Iterator[Endpoints]:
    # ipc paths are limited to ~100 bytes, so not under pytest's long tmp_path.
    directory = tempfile.mkdtemp(prefix="wa-", dir="/tmp")
    try:
        yield Endpoints(f"ipc://{directory}/pub", f"ipc://{directory}/router")
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


class BridgeClient:
    """A plain synchronous DEALER, independent of the orchestrator's own transport code."""

    _ids = itertools.count(1)

    def __init__(self, router: str) -> None:
        self._context = zmq.Context.instance()
        self.router = router

    def call(self, method: str, params: Any = None, timeout: float = 5.0) -> dict[str, Any]:
        """The raw reply: {"id","ok","result"} or {"id","ok":false,"error"}."""
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(self.router)
            request_id = f"t{next(self._ids)}"
            sock.send(orjson.dumps({"id": request_id, "method": method, "params": params or {}}))
            if not sock.poll(int(timeout * 1000)):
                raise TimeoutError(f"bridge did not answer {method}")
            reply: dict[str, Any] = orjson.loads(sock.recv_multipart()[-1])
            assert reply["id"] == request_id
            return reply
        finally:
            sock.close()

    def result(self, method: str, params: Any = None, timeout: float = 5.0) -> Any:
        reply = self.call(method, params, timeout)
        assert reply["ok"], reply
        return reply["result"]

    def journal(self) -> list[dict[str, Any]]:
        """Every envelope the bridge still holds, oldest first."""
        envelopes: list[dict[str, Any]] = []
        position: dict[str, Any] = {"epoch": None, "seq": 0}
        while True:
            page = self.result("replay", {**position, "limit": 5000})
            envelopes.extend(page["events"])
            if not page["more"] or not page["events"]:
                return envelopes
            position = {"epoch": envelopes[-1]["epoch"], "seq": envelopes[-1]["seq"]}


class Process:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.popen = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log_file.close()

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def kill9(self) -> None:
        self.signal_group(signal.SIGKILL)
        self.popen.wait(10)

    def pause(self) -> None:
        self.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, then the exit code; SIGKILL (and a failure) if it does not stop in time."""
        if not self.running:
            return self.popen.returncode
        self.signal_group(signal.SIGCONT)
        self.signal_group(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout}s") from None


class Bridge(Process):
    def __init__(
        self, log_dir: Path, data_dir: Path, endpoints: Endpoints, **env: str | int
    ) -> None:
        child_env = {
            **os.environ,
            "BRIDGE_PUB": endpoints.pub,
            "BRIDGE_ROUTER": endpoints.router,
            "BRIDGE_DATA_DIR": str(data_dir),
            **{k: str(v) for k, v in env.items()},
        }
        super().__init__("bridge", ["node", str(BRIDGE_MAIN)], child_env, log_dir / "bridge.log")
        self.client = BridgeClient(endpoints.router)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.client.result("state", timeout=2.0)
        return state

    def wait_seq(self, seq: int, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for(
            f"bridge seq {seq}",
            lambda: (s := self.state())["seq"] >= seq and s,
            timeout,
        )


class Orchestrator(Process):
    def __init__(
        self,
        log_dir: Path,
        data_dir: Path,
        endpoints: Endpoints,
        *,
        argv: list[str] | None = None,
        port: int | None = None,
        **env: str | int,
    ) -> None:
        # A given port: a restart on the same address (clients reconnect to where they were).
        self.port = port or free_port()
        child_env = {
            **os.environ,
            "ORCH_PORT": str(self.port),
            "ORCH_DATA_DIR": str(data_dir),
            "ORCH_BRIDGE_PUB": endpoints.pub,
            "ORCH_BRIDGE_ROUTER": endpoints.router,
            "ORCH_API_TOKEN": TOKEN,
            "ORCH_SPAWN_BRIDGE": "false",
            **{k: str(v) for k, v in env.items()},
        }
        self.data_dir = data_dir
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5.0,
        )
        super().__init__(
            "orchestrator",
            argv or [sys.executable, "-m", "orchestrator"],
            child_env,
            log_dir / "orchestrator.log",
        )

    def wait_healthy(self, timeout: float = 20.0) -> None:
        def healthy() -> bool:
            if not self.running:
                raise AssertionError(f"orchestrator exited:\n{self.log_tail()}")
            return self.http.get("/health").status_code == 200

        wait_for("orchestrator /health", healthy, timeout)

    def bridge_report(self) -> dict[str, Any]:
        report: dict[str, Any] = self.http.get("/admin/bridge").raise_for_status().json()
        return report

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.http.get("/status").raise_for_status().json()
        return status

    def wait_applied(self, epoch: str, seq: int, timeout: float = 30.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            report = self.bridge_report()
            applied = report["applied"]
            return report if applied == {"epoch": epoch, "seq": seq} else None

        try:
            return wait_for(f"orchestrator to apply {epoch}:{seq}", reached, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- orchestrator log:\n{self.log_tail()}") from None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last_event_id(self) -> str:
        last: str = self.http.get("/events/poll").raise_for_status().json()["lastEventId"]
        return last

    def stop(self) -> None:
        """SIGTERM and a clean shutdown: uvicorn finishes, then re-raises the signal it caught."""
        code = self.terminate(timeout=20)
        assert code in (0, -signal.SIGTERM), f"exit {code}:\n{self.log_tail()}"
        assert "Finished server process" in self.log_tail(200), self.log_tail()

    def applied_positions(self) -> list[tuple[str, int]]:
        positions = []
        for line in (self.data_dir / "applied.log").read_text().splitlines():
            epoch, seq, _event = line.split(" ", 2)
            positions.append((epoch, int(seq)))
        return positions

    def close(self) -> None:
        self.http.close()
