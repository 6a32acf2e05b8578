"""Several WhatsApp numbers (sessions) in one orchestrator, each figure against the same
measurement with one session, in the same run:

- idle-sessions: what one more connected, idle number costs in memory (its bridge, plus the
  orchestrator's growth per session), against a one-number deployment (orchestrator + bridge);
- restore-sessions: start until every stored session serves its chats, against one session.

The fan-out over several sessions is part of the fan-out benchmark (fanout.py); the helpers
here start the bridges of several sessions for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tests.bench.figures import Figure, Scale
from tests.bench.fill_store import fill_store, register
from tests.harness import (
    Bridge,
    Endpoints,
    Orchestrator,
    Stack,
    ipc_endpoints,
    make_capture,
    stack,
    wait_for,
)
from tests.wasim import WaSim

DEFAULT = "default"
MIB = 2**20
SAMPLE_INTERVAL = 0.5  # seconds between two memory samples of an idle deployment


def session_ids(prefix: str, count: int) -> list[str]:
    """`count` sessions: the default one (always there) and `count - 1` more."""
    return [DEFAULT, *(f"{prefix}{n:02d}" for n in range(1, count))]


@contextlib.contextmanager
def endpoints_for(count: int) -> Iterator[list[Endpoints]]:
    with contextlib.ExitStack() as exits:
        yield [exits.enter_context(ipc_endpoints()) for _ in range(count)]


def declared(ids: list[str], endpoints: list[Endpoints]) -> str:
    """ORCH_SESSIONS for the sessions after the default one, each at its own bridge."""
    return json.dumps(
        [{"id": i, "bridge": {"pub": e.pub, "router": e.router}}
         for i, e in zip(ids[1:], endpoints[1:], strict=True)]
    )  # fmt: skip


def replay_bridge(tmp: Path, name: str, endpoints: Endpoints, capture: Path, **env: str) -> Bridge:
    """A bridge replaying `capture` at `endpoints`, its log and journal in tmp/<name>."""
    directory = tmp / name
    directory.mkdir(parents=True, exist_ok=True)
    return Bridge(directory, directory / "data", endpoints, BRIDGE_REPLAY=str(capture), **env)


def mib(value: float) -> str:
    return f"{value / MIB:,.1f} MiB"


# ---- idle connected numbers: memory -----------------------------------------------------------


@dataclass(frozen=True)
class Idle:
    orchestrator: float  # RSS, bytes
    bridges: list[float]  # RSS of each session's bridge (its process tree), bytes


def rss(process: psutil.Process) -> float:
    """Of the process and what it started (a bridge command may wrap node)."""
    tree = [process, *process.children(recursive=True)]
    return float(sum(p.memory_info().rss for p in tree))


def idle_run(tmp: Path, count: int, seconds: int) -> Idle:
    """`count` numbers, each with the bridge the orchestrator spawns (stock Baileys, linked to
    the WhatsApp simulator by scanning its QR), all connected; then each process's RSS is
    sampled while nothing happens, and the median kept."""
    ids = session_ids("idle", count)
    with stack(tmp, orchestrator=False) as s:
        sim = s.add(WaSim(s.tmp))
        orchestrator = s.start_orchestrator(
            ORCH_SPAWN_BRIDGE="true",
            ORCH_SESSIONS=json.dumps([{"id": i} for i in ids[1:]]),
            timeout=60,
            **sim.bridge_env(),
        )
        for session in ids:
            qr = wait_for(
                f"a QR for {session}",
                lambda session=session: (
                    orchestrator.http.get(f"/sessions/{session}/qr").json().get("qr")
                ),
                timeout=60,
            )
            sim.scan(qr)
        listed = wait_for("every number connected", lambda: all_connected(orchestrator), 60)
        assert len(listed) == count, f"{len(listed)} sessions of {count}"
        processes = [psutil.Process(x["bridge"]["pid"]) for x in listed]
        main = psutil.Process(orchestrator.popen.pid)
        samples: list[list[float]] = []
        ends = time.perf_counter() + seconds
        while time.perf_counter() < ends:
            # The orchestrator alone: the bridges it spawned are its children.
            samples.append([float(main.memory_info().rss), *(rss(p) for p in processes)])
            time.sleep(SAMPLE_INTERVAL)
        assert all_connected(orchestrator), "a number dropped while idle"
    medians = [statistics.median(column) for column in zip(*samples, strict=True)]
    return Idle(medians[0], medians[1:])


def all_connected(orchestrator: Orchestrator) -> list[dict[str, Any]] | None:
    """GET /sessions, once every session's WhatsApp connection is open."""
    listed: list[dict[str, Any]] = (
        orchestrator.http.get("/sessions").raise_for_status().json()["sessions"]
    )
    return listed if all(x["connected"] for x in listed) else None


def bench_idle(tmp: Path, scale: Scale) -> list[Figure]:
    n = scale.idle_sessions
    one = idle_run(tmp / "idle-1", 1, scale.idle_seconds)
    many = idle_run(tmp / f"idle-{n}", n, scale.idle_seconds)
    bridge = statistics.mean(many.bridges)
    share = (many.orchestrator - one.orchestrator) / (n - 1)
    cost = bridge + share
    baseline = one.orchestrator + one.bridges[0]
    return [
        Figure("one more idle connected number: its bridge's RSS + the orchestrator's growth "
               "per session", cost / MIB, "MiB",
               "a one-number deployment: orchestrator + bridge RSS", baseline / MIB, "", None,
               f"{n} numbers (stock Baileys linked to the simulator, spawned bridges): bridge "
               f"{mib(bridge)} (min {mib(min(many.bridges))}, max {mib(max(many.bridges))}), "
               f"orchestrator {mib(share)} per session ({mib(one.orchestrator)} with 1, "
               f"{mib(many.orchestrator)} with {n}); medians over {scale.idle_seconds} s idle"),
    ]  # fmt: skip


# ---- restoring sessions on start --------------------------------------------------------------


def restore_time(s: Stack, data: Path, ids: list[str], expect: int) -> float:
    """From starting an orchestrator on `data` until each of `ids` has served `expect` chats."""
    started = time.perf_counter()
    orchestrator = s.start_orchestrator(data=data, log_dir=data, healthy=False)
    waiting = set(ids)

    def served() -> float | None:
        for session in sorted(waiting):
            response = orchestrator.http.get(f"/sessions/{session}/chats", params={"limit": 500})
            if response.status_code == 200 and len(response.json()["chats"]) >= expect:
                waiting.discard(session)
        return time.perf_counter() - started if not waiting else None

    elapsed = wait_for(f"the chats of {len(ids)} sessions", served, timeout=180, interval=0.02)
    orchestrator.kill9()  # the next one starts on an idle machine
    return elapsed


def bench_restore(tmp: Path, scale: Scale) -> list[Figure]:
    """The bridges keep running (one per number, as compose runs them), the orchestrator
    starts on a store that holds each number's chats and messages; with 1 session, then with
    `scale.restore_sessions` (the default one and the rest in its registry)."""
    n, messages, chats = scale.restore_sessions, scale.restore_messages, scale.restore_chats
    ids = session_ids("restore", n)
    capture = make_capture(tmp / "restore.jsonl", 3)
    expect = min(500, chats)
    with (
        endpoints_for(n) as endpoints,
        stack(tmp / "restore", endpoints=endpoints[0], orchestrator=False) as s,
    ):
        rows = [{"id": i, "name": i, "bridge_pub": e.pub, "bridge_router": e.router}
                for i, e in zip(ids[1:], endpoints[1:], strict=True)]  # fmt: skip
        fill_store(tmp / "restore-1", messages, chats)
        shutil.copytree(tmp / "restore-1", tmp / f"restore-{n}")
        asyncio.run(register(tmp / f"restore-{n}", rows))
        bridges = [s.add(replay_bridge(s.tmp, f"bridge-{i}", e, capture))
                   for i, e in zip(ids, endpoints, strict=True)]  # fmt: skip
        last = len(capture.read_bytes().splitlines()) + 2  # bridge.started ... replay_finished
        for bridge in bridges:
            bridge.wait_seq(last, timeout=60)
        times: dict[int, list[float]] = {1: [], n: []}
        for _ in range(scale.restore_rounds):
            for count, runs in times.items():
                runs.append(restore_time(s, tmp / f"restore-{count}", ids[:count], expect))
    fastest = {count: min(runs) for count, runs in times.items()}
    return [
        Figure(f"restore {n} sessions ({messages:,} messages over {chats:,} chats each in "
               "SQLite): start to every session's /chats", fastest[n], "s",
               "the same with 1 session", fastest[1], "", None,
               f"fastest of {scale.restore_rounds} (alternating); the bridges keep running "
               "(as compose runs them), each replayed a 3-event capture"),
    ]  # fmt: skip
