"""A NATS server with JetStream of the test's own: a free port, a temporary store directory,
stopped (or killed, or restarted on the same port and store) by the test that started it.

The machine may run a NATS server of its own; tests never use it, so they cannot collide with
another run or with what an operator keeps there. Each test also names its own stream and
subject prefix (`names()`), so two tests on one server cannot see each other's events.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NATS_SERVER_PATHS = ("/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server")


class NatsServerMissing(RuntimeError):
    pass


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or next(
        (p for p in NATS_SERVER_PATHS if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise NatsServerMissing(
            "nats-server is not installed: the JetStream tests need it "
            "(`make test` installs it: apt-get install nats-server)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Names:
    """A stream name and subject prefix no other test uses."""

    stream: str
    prefix: str


def names() -> Names:
    token = secrets.token_hex(4)
    return Names(stream=f"T{token.upper()}_EVENTS", prefix=f"t{token}")


class NatsServer:
    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or _free_port()
        self.log_path = store_dir.parent / f"nats-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start (again, on the same port and store) and wait until it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        argv += ["-sd", str(self.store_dir), "-l", str(self.log_path)]
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited at start: {self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"nats-server not ready within {timeout}s: {self.log_tail()}")

    def _ready(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 0.5) as s,
        ):
            s.settimeout(0.5)
            return s.recv(4).startswith(b"INFO")
        return False

    def stop(self) -> None:
        """SIGTERM and wait: a clean shutdown (the store is flushed)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)

    def kill9(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def nats_server(directory: Path | None = None) -> Iterator[NatsServer]:
    """A started server; stopped, and its store removed, when the block ends."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nats-")))
        server = NatsServer(directory / "jetstream")
        server.start()
        try:
            yield server
        finally:
            server.stop()
