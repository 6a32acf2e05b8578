"""The orchestrator on its Supabase backend, end to end: the real `supabase` client over HTTP
to the PostgREST stand-in on the real PostgreSQL, with the migrations applied. The stand-in
goes away mid-traffic and comes back on the same port: nothing is lost."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.harness import Process, free_port, make_capture, stack, wait_for
from tests.postgrest.conftest import SECRET, token
from tests.supabase.bootstrap import PostgresUnavailableError, supabase_database


@pytest.fixture
def supabase_dsn() -> Iterator[str]:
    try:
        with supabase_database() as dsn:
            yield dsn
    except PostgresUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


def start_standin(tmp_path: Path, dsn: str, port: int) -> Process:
    argv = [sys.executable, "-m", "tests.postgrest.server", "--dsn", dsn, "--jwt-secret", SECRET,
            "--port", str(port)]  # fmt: skip
    process = Process("standin", argv, {"PATH": "/usr/bin:/bin"}, tmp_path / "standin.log")
    wait_for("the stand-in", lambda: '"url"' in process.log_path.read_text(), timeout=20)
    return process


def stored(dsn: str) -> set[tuple[str, str]]:
    with psycopg.connect(dsn) as db:
        return set(db.execute("select chat_id, id from wa_messages").fetchall())


def capture_keys(capture: Path) -> set[tuple[str, str]]:
    keys = set()
    for line in capture.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "messages.upsert":
            keys |= {(m["key"]["remoteJid"], m["key"]["id"]) for m in event["data"]["messages"]}
    return keys


def test_supabase_outage_mid_traffic_then_full_catch_up_and_restart_recovery(
    tmp_path: Path, supabase_dsn: str
) -> None:
    events = 2500
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=8)
    port = free_port()
    supabase = {"SUPABASE_URL": f"http://127.0.0.1:{port}",
                "SUPABASE_SERVICE_ROLE_KEY": token("service_role")}  # fmt: skip
    with stack(
        tmp_path, capture=capture, bridge=False, orchestrator=False, orchestrator_env=supabase
    ) as s:
        standin = s.add(start_standin(tmp_path, supabase_dsn, port))
        orchestrator = s.start_orchestrator()
        s.start_bridge(BRIDGE_REPLAY_RATE=500)
        wait_for("rows in Supabase", lambda: len(stored(supabase_dsn)) > 100, timeout=30)

        standin.kill9()  # Supabase unreachable
        wait_for("the store reported down", lambda: not orchestrator.bridge_report()["store"]["up"])
        applied = orchestrator.bridge_report()["appliedEvents"]
        wait_for("live traffic without the store",
                 lambda: orchestrator.bridge_report()["appliedEvents"] > applied + 200)  # fmt: skip
        assert orchestrator.http.get("/chats").status_code == 200
        metrics = orchestrator.http.get("/metrics").text
        assert 'wa_store_up{session="default"} 0.0' in metrics and "wa_store_pending_rows" in metrics

        standin = s.add(start_standin(tmp_path, supabase_dsn, port))
        s.applied()
        wait_for(
            "Supabase to catch up completely",
            lambda: (r := orchestrator.bridge_report()["store"])["up"] and r["pendingRows"] == 0,
            timeout=60,
        )
        assert stored(supabase_dsn) == capture_keys(capture)

        # A restart reads back from Supabase: the chats are there before the bridge says anything.
        orchestrator.stop()
        s.bridge.kill9()
        orchestrator = s.start_orchestrator()
        chats = orchestrator.http.get("/chats", params={"limit": 500}).json()["chats"]
        assert {c["id"] for c in chats} == {chat for chat, _ in capture_keys(capture)}
