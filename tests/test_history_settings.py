"""ORCH_HISTORY and ORCH_IGNORE in the running orchestrator: refused at start when wrong, handed
to a spawned bridge, counted in /metrics; the history-sync progress in GET /status.
(Through the simulator end to end: tests/test_history_e2e.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import Settings
from orchestrator.runtime import Runtime
from orchestrator.transport.memory import MemoryBridge
from tests.harness import REPO, TOKEN
from tests.inprocess import served

PERSON = "5511988887777@s.whatsapp.net"
GROUP = "120363040000000001@g.us"


def history_chunk(progress: int, messages: list[dict[str, object]]) -> dict[str, object]:
    return {"chats": [], "contacts": [], "messages": messages, "progress": progress,
            "syncType": 3, "isLatest": False}  # fmt: skip


def text(chat: str, message_id: str, when: int, **key: object) -> dict[str, object]:
    return {
        "key": {"remoteJid": chat, "id": message_id, "fromMe": False, **key},
        "messageTimestamp": when,
        "message": {"conversation": message_id},
    }


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [("ORCH_HISTORY", "week", "history"), ("ORCH_HISTORY", "days:0", "history"),
     ("ORCH_IGNORE", "groups,calls", "calls")],
)  # fmt: skip
def test_a_wrong_value_stops_the_start_with_a_clear_message(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    env = {**os.environ, "ORCH_DATA_DIR": str(tmp_path), variable: value}
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "invalid settings" in done.stderr and says in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("history", "bridge"),
    [("full", "full"), ("recent", "recent"), ("none", "none"), ("days:7", "recent")],
)
def test_a_spawned_bridge_is_told_what_history_to_ask_for(
    tmp_path: Path, history: str, bridge: str
) -> None:
    # (A BRIDGE_HISTORY in our own environment would win, as every BRIDGE_* does.)
    assert "BRIDGE_HISTORY" not in os.environ
    settings = Settings(data_dir=tmp_path, spawn_bridge=True, history=history)
    runtime = Runtime(settings, TOKEN, link=MemoryBridge())
    assert runtime.default.supervisor is not None
    assert runtime.default.supervisor.env["BRIDGE_HISTORY"] == bridge


@pytest.mark.anyio
async def test_status_carries_the_last_history_sync_progress(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        assert (await s.http.get("/status")).json()["sync"] is None
        s.bridge.publish("messaging-history.set", history_chunk(40, []))
        await s.applied()
        status = (await s.http.get("/status")).json()
        assert status["sync"] == {"progress": 40, "syncType": 3, "isLatest": False}


@pytest.mark.anyio
async def test_ignored_groups_and_refused_history_are_counted(tmp_path: Path) -> None:
    async with served(tmp_path, ignore="groups", history="none") as s:
        s.bridge.publish("messages.upsert", {"type": "notify", "messages": [
            text(GROUP, "IN-GROUP", 1, participant=PERSON), text(PERSON, "ONE-TO-ONE", 1),
        ]})  # fmt: skip
        s.bridge.publish("messaging-history.set", history_chunk(100, [text(PERSON, "OLD", 1)]))
        await s.applied()
        chats = [c["id"] for c in (await s.http.get("/chats")).json()["chats"]]
        assert chats == [PERSON]
        messages = (await s.http.get(f"/chats/{PERSON}/messages")).json()["messages"]
        assert [m["id"] for m in messages] == ["ONE-TO-ONE"]
        metrics = (await s.http.get("/metrics")).text
        assert 'wa_ignored_total{kind="groups",session="default"} 1.0' in metrics
        assert 'wa_ignored_total{kind="status",session="default"} 0.0' in metrics
        assert 'wa_history_dropped_total{session="default"} 1.0' in metrics


@pytest.mark.anyio
async def test_a_send_to_an_ignored_kind_of_chat_is_refused(tmp_path: Path) -> None:
    """Its own echo would be dropped: it would never show."""
    async with served(tmp_path, ignore="groups") as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        refused = await s.http.post("/send", json={"chatId": GROUP, "text": "olá"})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "chat_ignored"
        accepted = await s.http.post("/send", json={"chatId": PERSON, "text": "olá"})
        assert accepted.status_code == 202


@pytest.mark.anyio
async def test_groups_stored_before_they_were_ignored_are_not_loaded(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        s.bridge.publish("messages.upsert", {"type": "notify", "messages": [
            text(GROUP, "IN-GROUP", 1, participant=PERSON), text(PERSON, "ONE-TO-ONE", 2),
        ]})  # fmt: skip
        await s.applied()
        assert {c["id"] for c in (await s.http.get("/chats")).json()["chats"]} == {GROUP, PERSON}
    async with served(tmp_path, ignore="groups") as s:
        chats = (await s.http.get("/chats")).json()["chats"]
        assert [c["id"] for c in chats] == [PERSON]
        assert chats[0]["lastMessage"]["id"] == "ONE-TO-ONE"
        assert (await s.http.get(f"/chats/{GROUP}")).status_code == 404
