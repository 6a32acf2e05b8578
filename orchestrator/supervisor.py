"""Runs the Node bridge as a child process (ORCH_SPAWN_BRIDGE) and restarts it when it dies."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import random
import shlex
import signal
import time
from collections.abc import Mapping

import orjson

from orchestrator.lifecycle import backoff_delay

log = logging.getLogger("orchestrator.supervisor")
bridge_log = logging.getLogger("orchestrator.bridge")

PR_SET_PDEATHSIG = 1
STABLE_AFTER = 60.0  # seconds up before a crash counts as a fresh start for the backoff
STOP_GRACE = 5.0
PINO_LEVELS = {10: logging.DEBUG, 20: logging.DEBUG, 30: logging.INFO, 40: logging.WARNING}


def _die_with_parent() -> None:
    """In the child before exec: take SIGTERM when the orchestrator dies, even by `kill -9`,
    so a restarted orchestrator never finds an orphaned bridge holding the ports."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class BridgeSupervisor:
    def __init__(
        self,
        command: str,
        env: Mapping[str, str],
        *,
        respawn_initial: float,
        respawn_max: float,
        name: str = "default",
    ) -> None:
        self.name = name  # the session whose bridge this is, in every log line
        self.argv = shlex.split(command)
        self.env = dict(env)
        self._initial = respawn_initial
        self._max = respawn_max
        self._rng = random.Random()
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._restart_now = asyncio.Event()
        self.restarts = 0
        self.last_exit: int | None = None
        self.next_start_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.returncode is None else None

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._run_once()
            except OSError as exc:
                log.error(
                    "cannot start the bridge of %s (%s): %s", self.name, shlex.join(self.argv), exc
                )
            if self._stopping:
                return
            attempt = 0 if time.monotonic() - started > STABLE_AFTER else attempt + 1
            delay = self._initial + backoff_delay(attempt, self._initial, self._max, self._rng)
            if self._restart_now.is_set():
                delay = 0.0
            self._restart_now.clear()
            self.restarts += 1
            log.warning(
                "bridge of %s exited with %s; restart %d in %.1fs",
                self.name, self.last_exit, self.restarts, delay,
            )  # fmt: skip
            self.next_start_at = time.time() + delay
            await asyncio.sleep(delay)
            self.next_start_at = None

    async def _run_once(self) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            # Its own session: a Ctrl-C in the terminal reaches us, and we stop the bridge in
            # order, instead of both racing to exit.
            start_new_session=True,
        )
        self._process = process
        log.info("bridge of %s started, pid %d", self.name, process.pid)
        assert process.stdout is not None
        async for line in process.stdout:
            _forward_log_line(line, self.name)
        self.last_exit = await process.wait()

    def restart(self, why: str) -> bool:
        """Stop the running bridge so the loop starts a new one at once; False if none runs."""
        process = self._process
        if process is None or process.returncode is not None:
            return False
        log.warning("restarting the bridge of %s: %s", self.name, why)
        self._restart_now.set()
        process.send_signal(signal.SIGTERM)
        asyncio.get_running_loop().call_later(STOP_GRACE, _kill_if_running, process)
        return True

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            log.warning("bridge of %s ignored SIGTERM for %.0fs; killing it", self.name, STOP_GRACE)
            process.kill()
            await process.wait()


def _kill_if_running(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()


def _forward_log_line(line: bytes, session: str) -> None:
    """The bridge logs pino JSON; re-emit it through our logging at the same level, after the
    session it serves."""
    text = line.decode(errors="replace").rstrip()
    if not text:
        return
    try:
        record = orjson.loads(text)
        level = PINO_LEVELS.get(record.get("level", 30), logging.ERROR)
        message = record.pop("msg", "")
        for noise in ("level", "time", "pid", "hostname"):
            record.pop(noise, None)
        extra = " ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in record.items())
        bridge_log.log(level, "[%s] %s %s", session, message, extra) if extra else bridge_log.log(
            level, "[%s] %s", session, message
        )
    except (orjson.JSONDecodeError, AttributeError):
        bridge_log.info("[%s] %s", session, text)


def bridge_environment(
    base: Mapping[str, str], overrides: Mapping[str, str], forced: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The child's environment: ours, plus the bridge settings we derive unless already given,
    plus what must be the session's own whatever ours says (its endpoints, data dir, proxy)."""
    env = dict(base)
    for name, value in overrides.items():
        env.setdefault(name, value)
    env.update(forced or {})
    return env
