"""A PostgreSQL cluster of the test session's own: `initdb` into a temporary directory, the
server listening only on a unix socket in that directory, stopped and removed at the end.

The machine may run a PostgreSQL of its own; tests never use it, so they need nothing running
beforehand and cannot collide with another run or with an operator's databases. Listening on
a socket in a private directory (no TCP) means no port is ever picked in a race with another
process. As root the cluster runs as the `postgres` OS user (PostgreSQL refuses to run as root).

    with postgres_server() as pg:
        psycopg.connect(pg.dsn)            # superuser `postgres`, trust auth, database postgres
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

# Debian keeps the server binaries off PATH, one directory per major version.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# The socket file is named after the port; no TCP listener exists, so any number does.
SOCKET_PORT = 5432
OS_USER = "postgres"

# Durability is worth nothing for a throwaway cluster; skipping it makes every CREATE DATABASE
# and migration several times faster on a loaded machine.
_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresMissingError(RuntimeError):
    """PostgreSQL's server binaries are not installed, or cannot be run."""


def bin_dir(pattern: str = DEBIAN_BIN_GLOB, path: str | None = None) -> Path:
    """The directory of `initdb` and `postgres`: the newest major version's among `pattern`
    (Debian's layout), else the one on `path` (default: PATH)."""
    versions = sorted(
        (Path(d) for d in glob(pattern) if os.access(Path(d) / "initdb", os.X_OK)),
        key=lambda d: [int(n) for n in re.findall(r"\d+", d.parent.name)],
    )
    if versions:
        return versions[-1]
    on_path = shutil.which("initdb", path=path)
    if on_path is None:
        raise PostgresMissingError(
            "PostgreSQL is not installed: the Supabase tests need its server binaries (initdb, "
            "postgres) to run a cluster of their own (`make test` installs them: "
            "apt-get install postgresql)"
        )
    return Path(on_path).parent


def _run_as() -> dict[str, Any]:
    """Popen arguments that drop root to the `postgres` user; nothing when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam(OS_USER)
    except KeyError as exc:
        raise PostgresMissingError(
            f"running as root, the test cluster needs the OS user {OS_USER!r} (created by the "
            "postgresql package) since PostgreSQL refuses to run as root"
        ) from exc
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


class PostgresServer:
    """One cluster in `directory` (which must exist and be empty)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data_dir = directory / "data"
        self.log_path = directory / "postgres.log"
        self._bin = bin_dir()
        self._as = _run_as()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        """The superuser's DSN for the maintenance database (trust auth, no password)."""
        return make_conninfo(
            host=str(self.directory), port=SOCKET_PORT, user="postgres", dbname="postgres"
        )

    def start(self, timeout: float = 60.0) -> None:
        """initdb (the first time) and start the server; return once it accepts connections."""
        if self._as:
            os.chown(self.directory, self._as["user"], self._as["group"])
        if not self.data_dir.exists():
            initdb = [str(self._bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres"]
            initdb += ["-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
            done = subprocess.run(initdb, cwd=self.directory, capture_output=True, **self._as)
            if done.returncode != 0:
                output = (done.stdout + done.stderr).decode(errors="replace")
                raise PostgresMissingError(f"initdb failed ({done.returncode}): {output}")
        argv = [str(self._bin / "postgres"), "-D", str(self.data_dir), "-p", str(SOCKET_PORT)]
        argv += ["-k", str(self.directory)]
        for name, value in _SETTINGS.items():
            argv += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                argv, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                **self._as,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"postgres not ready within {timeout}s: {self.log_tail()}")

    def _ready(self) -> bool:
        with (
            contextlib.suppress(psycopg.OperationalError),
            psycopg.connect(self.dsn, connect_timeout=2),
        ):
            return True
        return False

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended, no checkpoint wait beyond one)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started cluster; stopped, and its directory removed, when the block ends."""
    with tempfile.TemporaryDirectory(prefix="pg-") as directory:
        server = PostgresServer(Path(directory))
        try:
            server.start()
            yield server
        finally:
            server.stop()
