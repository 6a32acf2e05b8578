"""Real processes for end-to-end tests: the Node bridge, the orchestrator, and clients for both.

Nothing here is faked: the bridge runs stock Baileys (or replays a capture through its real
publishing path), the orchestrator is `python -m orchestrator`, and both talk real ZeroMQ.
Endpoints are ipc:// sockets in a fresh directory and HTTP ports are probed free, so tests can
run in any order, in parallel, on a machine whose usual ports are taken.

A test starts what it needs with `stack()`, as uvicorn's tests do with `run_server(config)`:

    with stack(tmp_path, capture=make_capture(tmp_path / "c.jsonl", 600)) as s:
        s.orchestrator.http.get("/chats")

Route checks that need no process run in-process instead (tests/inprocess.py).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import zmq

from tests.natsserver import names

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


def demo_capture(path: Path, events: int, seed: int = 1, now: int | None = None) -> Path:
    """The --demo capture: WhatsApp linked and open first (so sends go out: the replaying bridge
    answers them as WhatsApp would), named people and groups, a history sync, live traffic;
    timed around `now` (default: a fixed time, so a seed yields the same bytes)."""
    subprocess.run(
        ["node", str(BRIDGE_DIR / "scripts" / "make-capture.js"), "--out", str(path), "--demo",
         "--events", str(events), "--seed", str(seed),
         *(["--now", str(now)] if now is not None else [])],
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

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.result("state", timeout=2.0)
        return state

    def wait_seq(self, seq: int, timeout: float = 30.0) -> dict[str, Any]:
        """The bridge's state once it has journaled `seq` events in its current epoch."""
        return wait_for(
            f"bridge seq {seq}", lambda: (s := self.state())["seq"] >= seq and s, timeout
        )

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
        self, log_dir: Path, data_dir: Path, endpoints: Endpoints, **env: str | int | float
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
        self.data_dir = data_dir

    def nats_status(self) -> dict[str, Any]:
        """In NATS mode, the status file the Docker healthcheck reads (bridge-node/src/
        status-file.js): {"natsConnected", "role", "at"}, rewritten about once a second."""
        status: dict[str, Any] = orjson.loads((self.data_dir / "status.json").read_bytes())
        return status

    def state(self) -> dict[str, Any]:
        return self.client.state()

    def wait_seq(self, seq: int, timeout: float = 30.0) -> dict[str, Any]:
        return self.client.wait_seq(seq, timeout)


def metric_value(text: str, name: str, session: str = "default") -> float:
    """One sample of a /metrics page: `name` as Prometheus writes it, labels included; a
    WhatsApp number's series is read for `session` unless `name` names one."""
    base, _, labels = name.partition("{")
    wanted = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        line_base, _, line_labels = sample.partition("{")
        if line_base != base:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line_labels))
        if found == wanted or found == {**wanted, "session": wanted.get("session", session)}:
            return float(value)
    raise AssertionError(f"{name} not in /metrics")


def metric(orchestrator: Orchestrator, name: str) -> float:
    return metric_value(orchestrator.http.get("/metrics").raise_for_status().text, name)


class Orchestrator(Process):
    def __init__(
        self,
        log_dir: Path,
        data_dir: Path,
        endpoints: Endpoints,
        *,
        argv: list[str] | None = None,
        port: int | None = None,
        **env: str | int | float,
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
        """The /admin/bridge report once the orchestrator has applied `epoch`:`seq` (or a later
        event of that epoch: the bridge may publish on, e.g. the acks of a page's read receipts)."""

        def reached() -> dict[str, Any] | None:
            report = self.bridge_report()
            applied = report["applied"] or {}
            return report if applied.get("epoch") == epoch and applied["seq"] >= seq else None

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


def nats_env(url: str, stream: str, prefix: str, *, side: str = "ORCH") -> dict[str, str]:
    """The settings that put an orchestrator (`side="ORCH"`) or a bridge (`"BRIDGE"`) on NATS
    JetStream: `stack(orchestrator_env=nats_env(...), bridge_env=nats_env(..., side="BRIDGE"))`."""
    return {f"{side}_NATS_URL": url, f"{side}_NATS_STREAM": stream, f"{side}_NATS_PREFIX": prefix}


# ---- one stack ------------------------------------------------------------------------------

P = TypeVar("P", bound=Process)
Env = Mapping[str, str | int | float]


class Stack:
    """A bridge and an orchestrator on their own endpoints, made by `stack()`: the processes
    started for a test, their directories, and what tests do with them. Every process started
    here (or handed to `add`) is killed when the `stack()` block ends, however it ends.

    Directories: the bridge's data in `tmp/bridge`, the orchestrator's in `data` (`tmp/orch`),
    their logs in `tmp`. `orchestrator` is the one on `data`; one started on another data
    directory (a replica) is returned and cleaned up, and leaves `orchestrator` alone.
    """

    def __init__(
        self,
        tmp: Path,
        endpoints: Endpoints,
        *,
        capture: Path | None,
        data: Path,
        bridge_env: Env,
        orchestrator_env: Env,
    ) -> None:
        self.tmp = tmp
        self.endpoints = endpoints
        self.capture = capture
        self.data = data
        self.bridge_env = dict(bridge_env)
        self.orchestrator_env = dict(orchestrator_env)
        # Asks whichever bridge binds the endpoints: started here, or spawned by the orchestrator.
        self.client = BridgeClient(endpoints.router)
        self._bridge: Bridge | None = None
        self._orchestrator: Orchestrator | None = None
        self._started: list[Process] = []

    @property
    def bridge(self) -> Bridge:
        if self._bridge is None:
            raise AssertionError("this stack started no bridge (yet)")
        return self._bridge

    @property
    def orchestrator(self) -> Orchestrator:
        if self._orchestrator is None:
            raise AssertionError("this stack started no orchestrator (yet)")
        return self._orchestrator

    @property
    def base_url(self) -> str:
        return self.orchestrator.base_url

    def add(self, process: P) -> P:
        """Another process for this test (a simulator, a stand-in): killed with the stack."""
        self._started.append(process)
        return process

    def start_bridge(self, capture: Path | None = None, /, **env: str | int | float) -> Bridge:
        """A bridge on `tmp/bridge` (the journal of any earlier one), replaying `capture` (by
        default the stack's); `env` over the stack's `bridge_env`."""
        if capture is not None:
            self.capture = capture
        replay = {"BRIDGE_REPLAY": str(self.capture)} if self.capture is not None else {}
        child_env = {**replay, **self.bridge_env, **env}
        self._bridge = self.add(Bridge(self.tmp, self.tmp / "bridge", self.endpoints, **child_env))
        return self._bridge

    def start_orchestrator(
        self,
        *,
        port: int | None = None,
        data: Path | None = None,
        log_dir: Path | None = None,
        argv: list[str] | None = None,
        healthy: bool = True,
        timeout: float = 30.0,
        **env: str | int | float,
    ) -> Orchestrator:
        """An orchestrator on `data` (the stack's by default), serving on `port` (a free one
        by default); healthy when this returns unless `healthy=False`."""
        log_dir = log_dir or self.tmp
        log_dir.mkdir(parents=True, exist_ok=True)
        orchestrator = self.add(
            Orchestrator(
                log_dir, data or self.data, self.endpoints, argv=argv, port=port,
                **{**self.orchestrator_env, **env},
            )
        )  # fmt: skip
        if data is None or data == self.data:
            self._orchestrator = orchestrator
        if healthy:
            orchestrator.wait_healthy(timeout)
        return orchestrator

    def restart_orchestrator(self) -> Orchestrator:
        """`kill -9`, then a new one on the same data and the same port: clients reconnect to
        where they were."""
        killed = self.orchestrator
        killed.kill9()
        return self.start_orchestrator(port=killed.port)

    def restart_bridge(self, capture: Path | None = None, /, **env: str | int | float) -> Bridge:
        """`kill -9` the bridge, then a new one on the same journal: a new epoch."""
        self.bridge.kill9()
        return self.start_bridge(capture, **env)

    @property
    def last(self) -> int:
        """The bridge's seq once it has replayed the capture: one envelope per line, between
        bridge.started and bridge.replay_finished."""
        assert self.capture is not None, "this stack replays no capture"
        return len(self.capture.read_bytes().splitlines()) + 2

    def published(self, timeout: float = 30.0) -> dict[str, Any]:
        """The bridge's state once it has journaled the whole capture, i.e. its
        bridge.replay_finished: at seq `last`, or later when what the test did (a page's read
        receipts, a send) made the bridge publish between the capture's events."""
        epoch = self.client.wait_seq(self.last, timeout)["epoch"]

        def finished() -> bool:
            after = {"epoch": epoch, "seq": self.last - 1, "limit": 1000}
            events = self.client.result("replay", after)["events"]
            return any(e["event"] == "bridge.replay_finished" for e in events)

        wait_for("bridge.replay_finished in the journal", finished, timeout)
        return self.client.state()

    def applied(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until the bridge has journaled the whole capture and the orchestrator applied all of
        it; the orchestrator's /admin/bridge report."""
        state = self.published(timeout)
        return self.orchestrator.wait_applied(state["epoch"], state["seq"], timeout)

    def wait_open(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until the orchestrator says WhatsApp is open; its /status."""
        return wait_for(
            "WhatsApp open", lambda: (s := self.orchestrator.status())["connected"] and s, timeout
        )

    def close(self) -> None:
        for process in reversed(self._started):
            if process.running:
                process.kill9()
            close = getattr(process, "close", None)
            if close is not None:
                close()


@contextlib.contextmanager
def stack(
    tmp: Path,
    *,
    capture: Path | None = None,
    events: int | None = None,
    demo: bool = False,
    bridge: bool | None = None,
    orchestrator: bool = True,
    bridge_first: bool = True,
    spawn_bridge: bool = False,
    wait: bool = True,
    bridge_env: Env | None = None,
    orchestrator_env: Env | None = None,
    endpoints: Endpoints | None = None,
    port: int | None = None,
    data: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[Stack]:
    """Start what a test needs in `tmp`, yield it as a `Stack`, and kill all of it when the
    block ends, however it ends.

    What the bridge replays: `capture`, or a new capture of `events` events (with `demo`, the
    --demo capture: WhatsApp open, named people and groups). Without a capture there is no
    bridge unless `bridge=True`: one that connects to `BRIDGE_WA_URL` (in `bridge_env`).

    In what order:
    - by default the bridge first: it journals the whole capture before the orchestrator
      starts (a late joiner), and the orchestrator has applied all of it when this yields;
    - `bridge_first=False`: the orchestrator is healthy before the bridge starts;
    - `bridge=False`, `orchestrator=False`: not started (yet): `s.start_bridge()`,
      `s.start_orchestrator()`;
    - `spawn_bridge=True`: the orchestrator runs the bridge itself, as `make run` does, and
      `bridge_env` reaches it through the orchestrator's environment.
    `wait=False`: yield without waiting for the capture (a slow replay the test watches, one
    that never ends).

    Where: fresh ipc:// endpoints, or `endpoints` (tcp://, for CURVE); the orchestrator on
    `port` (a free one by default) with its data in `data` (`tmp/orch`). `timeout` bounds each
    wait.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    if events is not None:
        assert capture is None, "a capture, or a number of events for a new one: not both"
        capture = (demo_capture if demo else make_capture)(tmp / "capture.jsonl", events)
    with contextlib.ExitStack() as exits:
        if endpoints is None:
            endpoints = exits.enter_context(ipc_endpoints())
        if bridge is None:
            bridge = capture is not None
        own_bridge = bridge and not spawn_bridge
        orchestrator_env = dict(orchestrator_env or {})
        if spawn_bridge:
            replay = {"BRIDGE_REPLAY": str(capture)} if capture is not None else {}
            orchestrator_env = {"ORCH_SPAWN_BRIDGE": "true", **replay, **(bridge_env or {}),
                                **orchestrator_env}  # fmt: skip
        s = Stack(
            tmp, endpoints, capture=capture, data=data or tmp / "orch",
            bridge_env=bridge_env or {}, orchestrator_env=orchestrator_env,
        )  # fmt: skip
        exits.callback(s.close)
        waiting = wait and capture is not None
        if own_bridge and bridge_first:
            s.start_bridge()
            if waiting:
                s.published(timeout)
        if orchestrator:
            s.start_orchestrator(port=port, timeout=timeout)
        if own_bridge and not bridge_first:
            s.start_bridge()
        if waiting and orchestrator and (own_bridge or spawn_bridge):
            s.applied(timeout)
        yield s


@contextlib.contextmanager
def jetstream_stack(tmp: Path, nats_url: str, capture: Path | None = None) -> Iterator[Stack]:
    """A stack, nothing started yet, whose bridges and orchestrators use the NATS server at
    `nats_url` under a stream and subject prefix no other test uses."""
    n = names()
    with stack(
        tmp, capture=capture, bridge=False, orchestrator=False,
        orchestrator_env=nats_env(nats_url, n.stream, n.prefix),
        bridge_env=nats_env(nats_url, n.stream, n.prefix, side="BRIDGE"),
    ) as s:  # fmt: skip
        yield s
