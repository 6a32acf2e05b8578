"""Issue 4, end to end: the WhatsApp simulator (real protocol), the bridge running the unmodified
Baileys, and the orchestrator supervising it (ORCH_SPAWN_BRIDGE), as `make run` does."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import SseReader
from tests.harness import BridgeClient, Endpoints, Orchestrator, Stack, stack, wait_for
from tests.wasim import PHONE, WaSim

FAST = {
    "ORCH_RECONNECT_INITIAL": "0.3",
    "ORCH_RECONNECT_MAX": "1.5",
    "ORCH_RESPAWN_INITIAL": "0.2",
    "ORCH_RESPAWN_MAX": "1",
    "BRIDGE_KEEPALIVE_MS": "1000",
}


@contextlib.contextmanager
def simulated(tmp: Path, **env: str) -> Iterator[tuple[Stack, WaSim]]:
    """A WhatsApp simulator and an orchestrator running the bridge itself, as `make run` does."""
    with stack(tmp, spawn_bridge=True, orchestrator=False, orchestrator_env=FAST | env) as s:
        sim = s.add(WaSim(tmp))
        start(s, sim)
        yield s, sim


def start(s: Stack, sim: WaSim) -> Orchestrator:
    return s.start_orchestrator(timeout=30, BRIDGE_WA_URL=sim.ws_url)


def state_is(orchestrator: Orchestrator, *states: str, timeout: float = 30) -> dict[str, Any]:
    try:
        return wait_for(
            f"state {states}",
            lambda: (s := orchestrator.status())["state"] in states and s,
            timeout=timeout,
        )
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nstatus {orchestrator.status()}\n{orchestrator.log_tail()}"
        ) from None


def pair(orchestrator: Orchestrator, sim: WaSim) -> dict[str, Any]:
    qr = wait_for("a QR", lambda: orchestrator.http.get("/qr").json()["qr"], timeout=30)
    sim.scan(qr)
    return state_is(orchestrator, "open")


def test_fresh_start_shows_the_qr_pairs_and_opens(tmp_path: Path) -> None:
    with simulated(tmp_path) as (s, sim):
        orchestrator = s.orchestrator
        events = SseReader(orchestrator.base_url, last_id="")
        watcher = threading.Thread(target=events.run, args=(opened, 30.0), daemon=True)
        watcher.start()

        png = wait_for(
            "/qr.png", lambda: (r := orchestrator.http.get("/qr.png")).status_code == 200 and r
        )
        assert png.headers["content-type"] == "image/png"
        qr = orchestrator.http.get("/qr").json()["qr"]
        produced = [u["qr"] for u in connection_updates(s.endpoints) if u.get("qr")]
        assert qr == produced[-1], "the QR served is not the one Baileys produced"
        assert decode_png(tmp_path, png.content) == qr
        assert qr.startswith("2@") or "," in qr

        sim.scan(qr)
        status = state_is(orchestrator, "open")
        assert status["connected"] is True
        assert status["me"]["id"].startswith(PHONE)
        closes = orchestrator.status()["reason"]
        assert closes is None  # cleared once open
        watcher.join(30)
        states = [e["data"]["state"] for e in events.envelopes if e["type"] == "connection_status"]
        assert_subsequence(["qr", "connecting", "open"], states)
        assert any(e["type"] == "qr" for e in events.envelopes)


def opened(envelopes: list[dict[str, Any]]) -> bool:
    return any(e["type"] == "connection_status" and e["data"]["state"] == "open" for e in envelopes)


def assert_subsequence(wanted: list[str], seen: list[str]) -> None:
    position = 0
    for state in seen:
        if position < len(wanted) and state == wanted[position]:
            position += 1
    assert position == len(wanted), f"{wanted} not in order in {seen}"


def connection_updates(endpoints: Endpoints) -> list[dict[str, Any]]:
    """connection.update payloads the bridge published, read back from its journal."""
    journal = BridgeClient(endpoints.router).journal()
    return [e["data"] for e in journal if e["event"] == "connection.update"]


def decode_png(tmp: Path, png: bytes) -> str:
    """Decode the served PNG with zbar (Debian's zbar-tools), independent of our encoder."""
    path = tmp / "qr.png"
    path.write_bytes(png)
    out = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orchestrator, WaSim]]:
    """One paired stack for the disconnect-reason cases (each leaves it open again)."""
    with simulated(tmp_path_factory.mktemp("linked")) as (s, sim):
        pair(s.orchestrator, sim)
        yield s.orchestrator, sim


def reopen(orchestrator: Orchestrator, sim: WaSim) -> None:
    """Bring a case's stack back to open, whatever the case left behind."""
    status = orchestrator.status()
    if status["state"] in ("replaced", "stopped"):
        orchestrator.http.post("/admin/connect")
    if status["state"] == "logged_out" or orchestrator.http.get("/qr").json()["qr"]:
        pair(orchestrator, sim)
    state_is(orchestrator, "open", timeout=40)


@pytest.mark.parametrize("reason", [515, 428, 500, 503, 408])
def test_a_lost_connection_comes_back_by_itself(
    linked: tuple[Orchestrator, WaSim], reason: int
) -> None:
    orchestrator, sim = linked
    reopen(orchestrator, sim)
    reconnects, closes = orchestrator.bridge_report()["reconnects"], total_closes(orchestrator)
    since = orchestrator.last_event_id()
    started = time.monotonic()
    sim.disconnect(reason)
    # The reason goes out on the streams (and stays in /status until the next open).
    status = wait_for(
        f"connection_status with {reason}",
        lambda: closed_with(orchestrator, since, reason),
        timeout=40,
    )
    assert status["connected"] is False
    state_is(orchestrator, "open", timeout=40)
    if reason == 515:
        assert time.monotonic() - started < 10  # at once, not after a backoff
    # One connect per close, never a loop (a reconnect may itself be closed and retried).
    report = orchestrator.bridge_report()
    assert report["reconnects"] - reconnects == total_closes(orchestrator) - closes >= 1


def closed_with(orchestrator: Orchestrator, since: str, reason: int) -> dict[str, Any] | None:
    params = {"since": since, "timeout": "1"}
    events = orchestrator.http.get("/events/poll", params=params).json()["events"]
    for event in events:
        reason_code = (event["data"].get("reason") or {}).get("statusCode")
        if event["type"] == "connection_status" and reason_code == reason:
            data: dict[str, Any] = event["data"]
            return data
    return None


def total_closes(orchestrator: Orchestrator) -> int:
    metrics = orchestrator.http.get("/metrics").text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith("wa_whatsapp_closes_total{")
    )


def test_replaced_stops_until_an_operator_reconnects(linked: tuple[Orchestrator, WaSim]) -> None:
    orchestrator, sim = linked
    reopen(orchestrator, sim)
    reconnects = orchestrator.bridge_report()["reconnects"]
    sim.disconnect(440)
    status = state_is(orchestrator, "replaced")
    assert status["reason"]["statusCode"] == 440
    time.sleep(3)
    assert orchestrator.status()["state"] == "replaced"
    assert orchestrator.bridge_report()["reconnects"] == reconnects  # it did not try
    assert orchestrator.http.post("/admin/reconnect").status_code == 202
    state_is(orchestrator, "open")


def test_logged_out_from_the_phone_wipes_and_relinks(linked: tuple[Orchestrator, WaSim]) -> None:
    orchestrator, sim = linked
    reopen(orchestrator, sim)
    sim.disconnect(401)
    status = state_is(orchestrator, "logged_out")
    assert status["reason"]["statusCode"] == 401
    qr = wait_for("a new QR", lambda: orchestrator.http.get("/qr").json()["qr"], timeout=30)
    assert orchestrator.status()["state"] == "logged_out"  # until scanned
    sim.scan(qr)
    state_is(orchestrator, "open")


def test_admin_logout_wipes_and_relinks(linked: tuple[Orchestrator, WaSim]) -> None:
    orchestrator, sim = linked
    reopen(orchestrator, sim)
    removals = sim.state()["removals"]
    response = orchestrator.http.post("/admin/logout")
    assert response.status_code == 200 and response.json()["state"] == "logged_out"
    wait_for("the phone to see the device go", lambda: sim.state()["removals"] > removals)
    qr = wait_for("a new QR", lambda: orchestrator.http.get("/qr").json()["qr"], timeout=30)
    sim.scan(qr)
    state_is(orchestrator, "open")


def test_a_restarted_stack_logs_in_with_its_saved_credentials(tmp_path: Path) -> None:
    with simulated(tmp_path) as (s, sim):
        orchestrator = s.orchestrator
        pair(orchestrator, sim)
        registrations = sim.state()["registrations"]
        orchestrator.stop()
        orchestrator = start(s, sim)
        state_is(orchestrator, "open")
        assert orchestrator.http.get("/qr").json()["qr"] is None
        assert sim.state()["registrations"] == registrations  # logged in, never re-registered
        assert (s.data / "bridge" / "auth").stat().st_mode & 0o077 == 0


def test_silence_trips_the_watchdog_and_a_killed_bridge_is_restarted(tmp_path: Path) -> None:
    # Baileys' own keep-alive is slow here (30 s): the orchestrator's watchdog must act first.
    with simulated(tmp_path, BRIDGE_KEEPALIVE_MS="30000", ORCH_WATCHDOG_TIMEOUT="3") as (s, sim):
        orchestrator = s.orchestrator
        pair(orchestrator, sim)
        accepted = sim.state()["accepted"]
        sim.post("/silence", {"on": True})
        wait_for(
            "the watchdog to reconnect", lambda: sim.state()["accepted"] > accepted, timeout=20
        )
        assert "WhatsApp silent" in orchestrator.log_path.read_text()
        sim.post("/silence", {"on": False})
        state_is(orchestrator, "open")

        pid = orchestrator.bridge_report()["spawned"]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(
            "a new bridge",
            lambda: (p := orchestrator.bridge_report()["spawned"]["pid"]) and p != pid,
            timeout=20,
        )
        assert orchestrator.bridge_report()["spawned"]["restarts"] >= 1
        state_is(orchestrator, "open")
        assert orchestrator.http.get("/qr").json()["qr"] is None  # logged back in, no QR
