"""Issue 15: the stream log is kept in the store, so a restarted orchestrator rebuilds it and a
client resumes from any retained id from before the restart with exactly what it missed, no
resync (real bridge, real orchestrator processes, the real SQLite file, long-poll clients)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.harness import Orchestrator, stack, wait_for

EVENTS = 600

Envelope = dict[str, Any]


def read_through(orchestrator: Orchestrator, since: str) -> list[Envelope]:
    """Every envelope after `since` that the log holds now, by long-poll pages."""
    envelopes: list[Envelope] = []
    while True:
        body = (
            orchestrator.http.get("/events/poll", params={"since": since, "timeout": 0})
            .raise_for_status()
            .json()
        )
        if not body["events"]:
            return envelopes
        envelopes += body["events"]
        if body["events"][0]["type"] == "resync":
            return envelopes
        since = body["lastEventId"]


def stored_entries(data: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(data / "store.sqlite3") as db:
        return db.execute("SELECT id, json FROM wa_stream_log ORDER BY ord").fetchall()


def store_caught_up(orchestrator: Orchestrator) -> None:
    wait_for(
        "the store to catch up",
        lambda: orchestrator.bridge_report()["store"]["pendingRows"] == 0,
    )


def resumes_exactly(resumed: list[Envelope], missed: list[Envelope], seen: set[str]) -> None:
    """What a client got on resuming: exactly what it missed, in order, then only new ones."""
    assert all(e["type"] != "resync" for e in resumed), [e["id"] for e in resumed[:3]]
    assert resumed[: len(missed)] == missed  # lost 0, order kept
    ids = [e["id"] for e in resumed]
    assert len(ids) == len(set(ids)), "one came twice"
    assert not set(ids[len(missed) :]) & seen, "an envelope from before came again"


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill-9"])
def test_a_client_resumes_from_any_retained_id_after_a_restart(tmp_path: Path, kill: bool) -> None:
    with stack(tmp_path, events=EVENTS) as s:
        before = read_through(s.orchestrator, "")
        assert len(before) > EVENTS / 2 and before[0]["type"] != "resync"
        if kill:
            s.restart_orchestrator()  # what was not stored yet, the bridge journal replays
        else:
            store_caught_up(s.orchestrator)
            port = s.orchestrator.port
            s.orchestrator.stop()
            s.start_orchestrator(port=port)
        s.applied()
        seen = {e["id"] for e in before}
        points = {0, len(before) // 2, len(before) - 50, len(before) - 1}
        for n in sorted(points):
            resumed = read_through(s.orchestrator, before[n]["id"])
            resumes_exactly(resumed, before[n + 1 :], seen)
        print(f"\n{'kill -9' if kill else 'SIGTERM'}: {len(before)} envelopes before the"
              f" restart; resumed exactly from {len(points)} of them")  # fmt: skip


def test_with_the_setting_off_a_restart_resumes_only_the_last_stored_id(tmp_path: Path) -> None:
    env = {"ORCH_STREAM_LOG_STORED": "false"}
    with stack(tmp_path, events=EVENTS, orchestrator_env=env) as s:
        before = read_through(s.orchestrator, "")
        store_caught_up(s.orchestrator)
        port = s.orchestrator.port
        s.orchestrator.stop()
        s.start_orchestrator(port=port)
        s.applied()
        assert stored_entries(s.data) == []
        # The old behaviour: a position inside the log from before is no longer retained...
        older = read_through(s.orchestrator, before[-50]["id"])
        assert [e["type"] for e in older] == ["resync"]
        # ...but the very last one (the stream mark beside the stored position) resumes.
        assert all(e["type"] != "resync" for e in read_through(s.orchestrator, before[-1]["id"]))


def test_the_stored_log_is_pruned_to_the_retention_and_resumes_within_it(tmp_path: Path) -> None:
    retention = 100
    env = {"ORCH_STREAM_RETENTION": retention}
    with stack(tmp_path, events=EVENTS, orchestrator_env=env) as s:
        store_caught_up(s.orchestrator)
        stored = stored_entries(s.data)
        # The retention, and the newest entry past it: a client there has missed nothing.
        assert len(stored) == retention + 1, len(stored)
        ids = [event_id for event_id, _ in stored]
        envelopes = [orjson.loads(json) for _, json in stored]  # as clients got them
        before = read_through(s.orchestrator, ids[1])
        assert before == envelopes[2:]
        # An id older than the retained ones (same epoch, an earlier seq): resync.
        epoch, seq, _ = ids[0].split(":")
        older = f"{epoch}:{int(seq) - 5}:0"
        assert [e["type"] for e in read_through(s.orchestrator, older)] == ["resync"]

        port = s.orchestrator.port
        s.orchestrator.stop()
        s.start_orchestrator(port=port)
        s.applied()
        seen = {e["id"] for e in before}
        resumes_exactly(read_through(s.orchestrator, ids[1]), envelopes[2:], seen)
        # The evicted one: nothing of the session was lost after it.
        resumes_exactly(read_through(s.orchestrator, ids[0]), envelopes[1:], seen)
        assert [e["type"] for e in read_through(s.orchestrator, older)] == ["resync"]
