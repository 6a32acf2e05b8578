"""Chat status on the Supabase backend (issue 16): the orchestrator in process with the real
`supabase` client over HTTP to the PostgREST stand-in on a real PostgreSQL (the migrations
applied): a status set over REST and a customer's reopening land in `chat_status` and
`activity_logs`, and a restart reads them back into the inbox views."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.inprocess import Served, served
from tests.postgrest.conftest import SECRET, token
from tests.postgrest.server import run_standin
from tests.supabase.bootstrap import supabase_database

pytestmark = pytest.mark.anyio
A, B = "5511977770001@s.whatsapp.net", "5511977770002@s.whatsapp.net"


@pytest.fixture
def supabase(postgres_dsn: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dsn, the orchestrator's settings for it)."""
    with supabase_database(postgres_dsn) as dsn, run_standin(dsn, SECRET) as url:
        yield dsn, {"supabase_url": url, "supabase_service_role_key": token("service_role")}


def rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as db:
        return db.execute(query).fetchall()  # type: ignore[arg-type]


async def statuses(s: Served, **params: str) -> dict[str, str]:
    response = await s.http.get("/chats", params=params)
    assert response.status_code == 200, response.text
    return {c["id"]: c["status"] for c in response.json()["chats"]}


async def test_statuses_live_in_supabase_and_come_back_after_a_restart(
    tmp_path: Path, supabase: tuple[str, dict[str, Any]]
) -> None:
    dsn, settings = supabase
    async with served(tmp_path, **settings) as s:
        s.bridge.publish("chats.upsert", [{"id": A, "conversationTimestamp": 2},
                                          {"id": B, "conversationTimestamp": 1}])  # fmt: skip
        await s.applied()
        for chat, status in ((A, "resolved"), (B, "pending")):
            response = await s.http.put(f"/chats/{chat}/status", json={"status": status})
            assert response.status_code == 200, response.text
        stored = "select session, chat_id, status, updated_by from chat_status order by chat_id"
        assert rows(dsn, stored) == [
            ("default", A, "resolved", None), ("default", B, "pending", None),
        ]  # fmt: skip
        s.bridge.publish("messages.upsert", {"type": "notify", "messages": [{
            "key": {"remoteJid": B, "id": "AGAIN", "fromMe": False},
            "messageTimestamp": int(time.time()), "message": {"conversation": "e agora?"},
        }]})  # fmt: skip
        await s.applied()
        assert await statuses(s) == {A: "resolved", B: "open"}
        async with asyncio.timeout(10):
            await s.runtime.default.helpdesk.flush()  # the write the event path started
        assert rows(dsn, stored)[1] == ("default", B, "open", None)
        logged = "select session, actor_id, action, chat_id from activity_logs order by id"
        assert rows(dsn, logged) == [
            ("default", None, "status_changed", A),
            ("default", None, "status_changed", B),
            ("default", None, "status_reopened", B),
        ]
        journal = list(s.bridge.journal)
    async with served(tmp_path, **settings) as s:  # RAM empty: from Supabase
        for envelope in journal:
            s.bridge.publish(envelope["event"], envelope["data"])
        await s.applied()
        assert await statuses(s) == {A: "resolved", B: "open"}
        assert await statuses(s, status="resolved") == {A: "resolved"}
        counts = (await s.http.get("/inbox/counts")).json()
        assert counts["statuses"] == {"open": 1, "pending": 0, "resolved": 1}
