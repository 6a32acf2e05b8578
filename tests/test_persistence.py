"""Issue 5's persistence checks with real processes and the real SQLite file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

from tests.harness import Orchestrator, make_capture, stack, wait_for
from tests.inprocess import served


def capture_messages(capture: Path) -> dict[str, list[str]]:
    """chat id -> message ids, as the capture delivers them."""
    chats: dict[str, list[str]] = {}
    for line in capture.read_text().splitlines():
        event = json.loads(line)
        if event["event"] in ("messages.upsert", "messaging-history.set"):
            for m in event["data"]["messages"]:
                chats.setdefault(m["key"]["remoteJid"], []).append(m["key"]["id"])
    return chats


def stored_message_keys(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "store.sqlite3") as db:
        return db.execute("SELECT chat_id, id FROM wa_messages").fetchall()


def served_messages(orchestrator: Orchestrator, chat_id: str) -> list[str]:
    """Every message of a chat, paging back with `before` through RAM and then the store."""
    ids: list[str] = []
    before: str | None = None
    while True:
        params = {"limit": 13} | ({"before": before} if before else {})
        page = orchestrator.http.get(f"/chats/{chat_id}/messages", params=params).json()
        ids[:0] = [m["id"] for m in page["messages"]]
        if len(page["messages"]) < 13:
            return ids
        before = page["messages"][0]["id"]


def test_kill_9_during_heavy_ingest_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # Long enough that the kill lands mid-ingest even when reading the store to decide it is
    # slow (a busy machine): 17,141 of 20,000 were stored by the kill once.
    events = 40_000
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=30)
    with stack(tmp_path, capture=capture, bridge=False) as s:
        s.start_bridge(BRIDGE_REPLAY_RATE=8000)
        data = s.data
        wait_for("ingest under way", lambda: len(stored_message_keys(data)) > 2000, timeout=30)
        s.orchestrator.kill9()
        acknowledged = stored_message_keys(data)
        assert len(acknowledged) == len(set(acknowledged))
        assert len(acknowledged) < events - 3000, "the kill came too late to test anything"

        orchestrator = s.start_orchestrator()
        s.applied(timeout=60)

        expected = capture_messages(capture)
        for chat_id, ids in expected.items():
            assert served_messages(orchestrator, chat_id) == ids, chat_id
        wait_for(
            "the store to catch up",
            lambda: orchestrator.bridge_report()["store"]["pendingRows"] == 0,
        )
        stored = stored_message_keys(data)
        assert len(stored) == len(set(stored)) == sum(len(ids) for ids in expected.values())
        assert set(acknowledged) <= set(stored)


def test_a_store_outage_keeps_the_real_time_path_alive_and_catches_up(tmp_path: Path) -> None:
    events = 3000
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=10)
    with stack(tmp_path, capture=capture, bridge=False) as s:
        orchestrator, data = s.orchestrator, s.data
        wait_for("the store file", lambda: (data / "store.sqlite3").exists())

        # The outage: another process holds SQLite's write lock for a while.
        locked, release = threading.Event(), threading.Event()

        def hold_lock() -> None:
            db = sqlite3.connect(data / "store.sqlite3", isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")
            locked.set()
            release.wait(60)
            db.execute("ROLLBACK")
            db.close()

        holder = threading.Thread(target=hold_lock)
        holder.start()
        assert locked.wait(10)
        try:
            s.start_bridge(BRIDGE_REPLAY_RATE=400)
            report = wait_for(
                "the store to be reported down",
                lambda: (r := orchestrator.bridge_report())["store"]["up"] is False and r,
                timeout=30,
            )
            assert report["store"]["lastError"]
            # RAM and the streams go on: messages keep arriving while the store is down.
            seen = orchestrator.bridge_report()["appliedEvents"]
            wait_for(
                "live traffic", lambda: orchestrator.bridge_report()["appliedEvents"] > seen + 200
            )
            chats = orchestrator.http.get("/chats").json()["chats"]
            assert (
                chats
                and orchestrator.http.get("/events/poll", params={"since": ""}).json()["events"]
            )
            assert orchestrator.bridge_report()["store"]["pendingRows"] > 0
        finally:
            release.set()
            holder.join(10)

        s.applied()
        wait_for(
            "the store to catch up completely",
            lambda: (r := orchestrator.bridge_report()["store"])["up"] and r["pendingRows"] == 0,
            timeout=60,
        )
        expected = capture_messages(capture)
        assert sorted(stored_message_keys(data)) == sorted(
            (chat, m) for chat, ids in expected.items() for m in ids
        )


def test_history_pages_back_beyond_the_ram_window_in_order_across_a_restart(
    tmp_path: Path,
) -> None:
    events = 2000
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=4, history=400)
    with stack(tmp_path, capture=capture, orchestrator_env={"ORCH_CHAT_WINDOW": 25}) as s:
        orchestrator = s.orchestrator
        expected = capture_messages(capture)
        wait_for("the store", lambda: orchestrator.bridge_report()["store"]["pendingRows"] == 0)
        for restart in (False, True):
            if restart:
                orchestrator.stop()
                started = time.monotonic()
                orchestrator = s.start_orchestrator()
                assert time.monotonic() - started < 20
            for chat_id, ids in expected.items():
                ram = orchestrator.http.get(f"/chats/{chat_id}/messages", params={"limit": 500})
                assert len(ids) > 25 and len(ram.json()["messages"]) == min(500, len(ids))
                assert served_messages(orchestrator, chat_id) == ids, chat_id


def test_a_page_past_ram_waits_for_what_is_not_stored_yet(tmp_path: Path) -> None:
    """In a busy chat RAM's window may start at a message the write-behind has not stored yet
    (those before it left RAM unstored too): a page reaching past RAM waits for the store
    instead of ending the history early, and a cursor evicted from RAM since still pages."""
    chat_id = "5511999990000@s.whatsapp.net"
    ids = [f"3EB0{n:016d}" for n in range(60)]

    async def run() -> None:
        # Flushes only when something asks (and at the end): everything stays pending below.
        async with served(tmp_path, chat_window=10, store_flush_interval=3600.0) as s:

            async def publish(numbers: range) -> None:
                for n in numbers:
                    s.bridge.publish("messages.upsert", {"type": "notify", "messages": [{
                        "key": {"remoteJid": chat_id, "id": ids[n], "fromMe": False},
                        "messageTimestamp": 1_800_000_000 + n, "message": {"conversation": "hi"},
                    }]})  # fmt: skip
                await s.applied()

            await publish(range(40))
            assert s.runtime.default.writebehind.pending >= 40

            async def page(before: str | None) -> list[str]:
                params = {"limit": 13} | ({"before": before} if before else {})
                response = await s.http.get(f"/chats/{chat_id}/messages", params=params)
                assert response.status_code == 200, response.text
                return [m["id"] for m in response.json()["messages"]]

            newest = await page(None)
            assert newest == ids[27:40]  # 10 from RAM, 3 from the store once it holds them
            await publish(range(40, 60))  # the chat moves on: the cursor leaves RAM, unstored
            served_ids, before = newest, newest[0]
            while older := await page(before):
                served_ids[:0] = older
                before = older[0]
            assert served_ids == ids[:40]

    asyncio.run(run())
