"""Issue 13, history and ignore settings, end to end through the real protocol: the simulated
phone sends history syncs and contacts write (1:1 and in groups) to the unmodified Baileys in
the bridge; what ORCH_HISTORY and ORCH_IGNORE let through is what REST, the streams and the
store hold."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import SseReader
from tests.harness import Orchestrator, Stack, metric, stack, wait_for
from tests.wasim import WaSim

ANA, BRUNO, CARLA = "5511911110001", "5511922220002", "5511933330003"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


def link(s: Stack, sim: WaSim) -> None:
    qr = wait_for("a QR", lambda: s.orchestrator.http.get("/qr").json()["qr"], timeout=30)
    sim.scan(qr)
    s.wait_open(timeout=40)


def message_ids(orchestrator: Orchestrator, chat_id: str) -> set[str]:
    page = orchestrator.http.get(f"/chats/{chat_id}/messages", params={"limit": 500})
    return {m["id"] for m in page.json()["messages"]} if page.status_code == 200 else set()


def chat_ids(orchestrator: Orchestrator) -> set[str]:
    return {c["id"] for c in orchestrator.http.get("/chats", params={"limit": 500}).json()["chats"]}


def stored_message_ids(data: Path) -> set[str]:
    with sqlite3.connect(data / "store.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT id FROM wa_messages")}


def stored_chat_ids(data: Path) -> set[str]:
    with sqlite3.connect(data / "store.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT id FROM wa_chats")}


# ---- days:N and ignore=groups, on one linked stack -------------------------------------------


class Linked:
    def __init__(self, s: Stack, sim: WaSim) -> None:
        self.stack, self.sim, self.orchestrator = s, sim, s.orchestrator
        self.data = s.orchestrator.data_dir


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    tmp = tmp_path_factory.mktemp("history")
    with stack(tmp, orchestrator=False) as s:
        sim = s.add(WaSim(tmp))
        s.start_bridge(**sim.bridge_env())  # BRIDGE_HISTORY unset: recent
        s.start_orchestrator(
            timeout=30, ORCH_HISTORY="days:3", ORCH_IGNORE="groups",
            ORCH_RECONNECT_INITIAL="0.3", ORCH_RECONNECT_MAX="1",
        )  # fmt: skip
        link(s, sim)
        for phone, name in ((ANA, "Ana"), (BRUNO, "Bruno"), (CARLA, "Carla")):
            sim.post("/contacts", {"phone": phone, "name": name})
        yield Linked(s, sim)


def test_days_keeps_only_the_last_days_of_a_history_sync(linked: Linked) -> None:
    sim, orchestrator = linked.sim, linked.orchestrator
    recent = sim.post("/history", {"conversations": 1, "messages": 2, "daysAgo": 0})["ids"]
    old = sim.post("/history", {"conversations": 2, "messages": 2, "daysAgo": 10})["ids"]
    # The second sync is applied once Bruno's chat (only in it) is there: chats still appear.
    wait_for("Bruno's chat from the old sync", lambda: jid(BRUNO) in chat_ids(orchestrator))
    assert message_ids(orchestrator, jid(ANA)) == set(recent)
    assert message_ids(orchestrator, jid(BRUNO)) == set()
    wait_for("the store", lambda: set(recent) <= stored_message_ids(linked.data))
    wait_for("Bruno's chat stored", lambda: jid(BRUNO) in stored_chat_ids(linked.data))
    assert not set(old) & stored_message_ids(linked.data)
    assert metric(orchestrator, "wa_history_dropped_total") == len(old) == 4


def test_ignored_groups_never_reach_rest_streams_or_store(linked: Linked) -> None:
    sim, orchestrator = linked.sim, linked.orchestrator
    since = orchestrator.last_event_id()
    group = sim.post("/groups", {"subject": "Ignored", "participants": [ANA, CARLA]})
    before = metric(orchestrator, 'wa_ignored_total{kind="groups"}')
    in_group = sim.post("/send", {"from": CARLA, "to": group["jid"], "kind": "text", "text": "g"})
    history = sim.post("/history", {"conversations": 0, "messages": 2, "groups": [group["jid"]]})
    direct = sim.post("/send", {"from": CARLA, "kind": "text", "text": "one to one"})
    # The group message and the group's history (a chat and two messages) reached the
    # normalizer and were dropped there: counted.
    wait_for(
        "the group's items counted",
        lambda: metric(orchestrator, 'wa_ignored_total{kind="groups"}') >= before + 4,
    )
    wait_for("the 1:1 message", lambda: direct["id"] in message_ids(orchestrator, jid(CARLA)))
    assert group["jid"] not in chat_ids(orchestrator)
    assert message_ids(orchestrator, group["jid"]) == set()
    assert orchestrator.http.get(f"/chats/{group['jid']}").status_code == 404

    reader = SseReader(orchestrator.base_url, last_id=since)
    reader.run(
        lambda es: any(e["type"] == "new_message" and e["data"]["id"] == direct["id"] for e in es),
        timeout=20,
    )
    streamed = str(reader.envelopes)
    assert group["jid"] not in streamed and in_group["id"] not in streamed

    wait_for("the 1:1 message stored", lambda: direct["id"] in stored_message_ids(linked.data))
    ignored = {in_group["id"], *history["ids"]}
    assert not ignored & stored_message_ids(linked.data)
    assert group["jid"] not in stored_chat_ids(linked.data)


def test_progress_reaches_status_and_the_streams(linked: Linked) -> None:
    sim, orchestrator = linked.sim, linked.orchestrator
    since = orchestrator.last_event_id()
    sim.post("/history", {"conversations": 1, "messages": 1, "progress": 37, "chunkOrder": 2})

    def at_37() -> dict[str, Any] | None:
        sync = orchestrator.status()["sync"]
        return sync if sync and sync["progress"] == 37 else None

    sync = wait_for("progress 37 in /status", at_37)
    assert sync["syncType"] == 3  # RECENT
    reader = SseReader(orchestrator.base_url, last_id=since)
    reader.run(
        lambda es: any(e["type"] == "sync_progress" and e["data"]["progress"] == 37 for e in es),
        timeout=20,
    )


# ---- full and none: what the bridge asks WhatsApp for ----------------------------------------


def test_full_makes_the_device_ask_for_the_whole_history(tmp_path: Path) -> None:
    """ORCH_HISTORY=full reaches a spawned bridge, which asks at pairing (requireFullSync), and
    the FULL chunks Baileys refuses by default are applied."""
    sim = WaSim(tmp_path)
    try:
        with stack(
            tmp_path, spawn_bridge=True, bridge=True, bridge_env=sim.bridge_env(),
            orchestrator_env={"ORCH_HISTORY": "full"},
        ) as s:  # fmt: skip
            link(s, sim)
            registration = sim.state()["registration"]
            assert registration["requireFullSync"] is True
            sim.post("/contacts", {"phone": ANA, "name": "Ana"})
            ids = sim.post("/history", {"conversations": 1, "messages": 3, "syncType": "FULL"})
            wait_for(
                "the FULL chunk's messages",
                lambda: set(ids["ids"]) <= message_ids(s.orchestrator, jid(ANA)),
            )
    finally:
        sim.kill9()
        sim.close()


def test_none_applies_no_history_message(tmp_path: Path) -> None:
    with stack(tmp_path, orchestrator=False) as s:
        sim = s.add(WaSim(tmp_path))
        s.start_bridge(BRIDGE_HISTORY="none", **sim.bridge_env())
        s.start_orchestrator(timeout=30, ORCH_HISTORY="none")
        link(s, sim)
        assert sim.state()["registration"]["requireFullSync"] is False
        sim.post("/contacts", {"phone": ANA, "name": "Ana"})
        history = sim.post("/history", {"conversations": 1, "messages": 3})
        after = sim.post("/send", {"from": ANA, "kind": "text", "text": "after the sync"})
        # The sync went out before the text, over the same session: once the text is in, the
        # sync was received and refused.
        wait_for("the text", lambda: after["id"] in message_ids(s.orchestrator, jid(ANA)))
        assert message_ids(s.orchestrator, jid(ANA)) == {after["id"]}
        assert s.orchestrator.status()["sync"] is None
        wait_for("the text stored", lambda: after["id"] in stored_message_ids(s.data))
        assert not set(history["ids"]) & stored_message_ids(s.data)
