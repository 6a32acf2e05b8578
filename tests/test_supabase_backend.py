"""The orchestrator on its Supabase backend, end to end: the real `supabase` client over HTTP
to the PostgREST stand-in on a real PostgreSQL, with the migrations applied. The stand-in
goes away mid-traffic and comes back on the same port: nothing is lost."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orchestrator.store import WriteBatch
from orchestrator.store.supabase import SupabaseStore
from orchestrator.wire import Position
from tests.harness import (
    Bridge,
    Process,
    free_port,
    ipc_endpoints,
    make_capture,
    stack,
    wait_for,
)
from tests.postgrest.conftest import SECRET, token
from tests.postgrest.server import run_standin
from tests.supabase.bootstrap import supabase_database
from tests.test_stream_log_stored import read_through, resumes_exactly, store_caught_up


@pytest.fixture
def supabase_dsn(postgres_dsn: str) -> Iterator[str]:
    with supabase_database(postgres_dsn) as dsn:
        yield dsn


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
    events = 4000
    capture = make_capture(tmp_path / "capture.jsonl", events, chats=8)
    port = free_port()
    supabase = {"SUPABASE_URL": f"http://127.0.0.1:{port}",
                "SUPABASE_SERVICE_ROLE_KEY": token("service_role")}  # fmt: skip
    with stack(
        tmp_path, capture=capture, bridge=False, orchestrator=False, orchestrator_env=supabase
    ) as s:
        standin = s.add(start_standin(tmp_path, supabase_dsn, port))
        orchestrator = s.start_orchestrator()
        s.start_bridge(BRIDGE_REPLAY_RATE=400)
        wait_for("rows in Supabase", lambda: len(stored(supabase_dsn)) > 100, timeout=30)

        standin.kill9()  # Supabase unreachable
        wait_for("the store reported down", lambda: not orchestrator.bridge_report()["store"]["up"])
        applied = orchestrator.bridge_report()["appliedEvents"]
        # Live traffic goes on without the store (on a busy machine the capture may be nearly
        # through by now: then what is left of it).
        wanted = min(applied + 200, events + 2)
        wait_for("live traffic without the store",
                 lambda: orchestrator.bridge_report()["appliedEvents"] >= wanted)  # fmt: skip
        assert orchestrator.http.get("/chats").status_code == 200
        metrics = orchestrator.http.get("/metrics").text
        assert (
            'wa_store_up{session="default"} 0.0' in metrics and "wa_store_pending_rows" in metrics
        )

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


def stored_by_session(dsn: str) -> dict[str, set[tuple[str, str]]]:
    keys: dict[str, set[tuple[str, str]]] = {}
    with psycopg.connect(dsn) as db:
        for session, chat_id, message_id in db.execute(
            "select session, chat_id, id from wa_messages"
        ):
            keys.setdefault(session, set()).add((chat_id, message_id))
    return keys


def test_two_numbers_write_their_own_rows_to_one_supabase_and_read_them_back(
    tmp_path: Path, supabase_dsn: str
) -> None:
    """The default number and a declared second one replay captures of the same chat jids with
    other message ids; each lands under its own session, and a restart reads each back."""
    capture_a = make_capture(tmp_path / "a.jsonl", 400, seed=1, chats=6)
    capture_b = make_capture(tmp_path / "b.jsonl", 300, seed=2, chats=6)
    expected = {"default": capture_keys(capture_a), "b": capture_keys(capture_b)}
    [chat, *_] = sorted({c for c, _ in expected["default"]} & {c for c, _ in expected["b"]})
    with (
        ipc_endpoints() as b_endpoints,
        stack(tmp_path, capture=capture_a, bridge=False, orchestrator=False) as s,
    ):
        standin = s.add(start_standin(tmp_path, supabase_dsn, 0))  # the OS picks the port
        [url] = [json.loads(line)["url"] for line in standin.log_path.read_text().splitlines()
                 if line.startswith('{"url"')]  # fmt: skip
        bridge = {"pub": b_endpoints.pub, "router": b_endpoints.router}
        second = {"id": "b", "name": "Second", "bridge": bridge}
        env = {"SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": token("service_role"),
               "ORCH_SESSIONS": json.dumps([second])}  # fmt: skip
        (tmp_path / "b").mkdir()
        bridge_b = s.add(Bridge(tmp_path / "b", tmp_path / "b" / "bridge", b_endpoints,
                                BRIDGE_REPLAY=str(capture_b)))  # fmt: skip
        s.start_bridge()
        orchestrator = s.start_orchestrator(**env)
        wait_for("both numbers in Supabase",
                 lambda: stored_by_session(supabase_dsn) == expected, timeout=60)  # fmt: skip

        orchestrator.stop()
        s.bridge.kill9()
        bridge_b.kill9()
        orchestrator = s.start_orchestrator(**env)  # the bridges are gone: all from Supabase
        for prefix, session in (("", "default"), ("/sessions/b", "b")):
            listed = orchestrator.http.get(f"{prefix}/chats", params={"limit": 500})
            chats = {c["id"] for c in listed.raise_for_status().json()["chats"]}
            assert chats == {c for c, _ in expected[session]}, session
            page = orchestrator.http.get(f"{prefix}/chats/{chat}/messages", params={"limit": 500})
            ids = {m["id"] for m in page.raise_for_status().json()["messages"]}
            assert ids == {m for c, m in expected[session] if c == chat}, session


CHAT = "5511912345678@s.whatsapp.net"


def session_batch(text: str, position: Position) -> WriteBatch:
    """One chat (the same jid in every session), two messages, a contact, a label, an alias."""
    chat = {"id": CHAT, "name": f"chat {text}", "unread_count": 1, "last_activity": 20}
    messages = {
        (CHAT, mid): {"chat_id": CHAT, "id": mid, "from_me": False, "ts": ts, "type": "text",
                      "body": f"{text} {mid}", "ack": 1, "arrival": ts}
        for mid, ts in (("m1", 10), ("m2", 20))
    }  # fmt: skip
    return WriteBatch(
        chats={CHAT: chat},
        messages=messages,
        contacts={CHAT: {"id": CHAT, "name": f"contact {text}"}},
        aliases={"77@lid": CHAT},
        labels={"1": {"id": "1", "name": f"label {text}"}},
        position=position,
    )


@pytest.mark.anyio
async def test_two_sessions_share_the_backend_and_never_see_each_other(supabase_dsn: str) -> None:
    with run_standin(supabase_dsn, SECRET) as url:
        a = SupabaseStore(url, token("service_role"), session="a")
        b = SupabaseStore(url, token("service_role"), session="b")
        try:
            await a.open()
            await b.open()
            await a.write(session_batch("of a", Position("ea", 5)))
            await b.write(session_batch("of b", Position("eb", 9)))
            for store, text, position in ((a, "of a", Position("ea", 5)),
                                          (b, "of b", Position("eb", 9))):  # fmt: skip
                snapshot = await store.load(window=10)
                assert [c["name"] for c in snapshot.chats] == [f"chat {text}"]
                assert [m["body"] for m in snapshot.messages] == [f"{text} m2", f"{text} m1"]
                assert [c["name"] for c in snapshot.contacts] == [f"contact {text}"]
                assert [label["name"] for label in snapshot.labels] == [f"label {text}"]
                assert snapshot.aliases == {"77@lid": CHAT}
                assert snapshot.position == position
                assert all("session" not in row for row in snapshot.chats + snapshot.messages)
                older = await store.messages_before(CHAT, "m2", 10)
                assert older is not None and [m["body"] for m in older] == [f"{text} m1"]

            # A chat deleted in one session stays, with its messages, in the other.
            await a.write(WriteBatch(deleted_chats={CHAT}))
            assert (await a.load(window=10)).chats == []
            assert await a.messages_before(CHAT, "m2", 10) is None
            assert [m["id"] for m in (await b.load(window=10)).messages] == ["m2", "m1"]

            # Helpdesk rows are keyed by session and chat: the same jid is two conversations.
            with psycopg.connect(supabase_dsn, autocommit=True) as db:
                agent = "00000000-0000-4000-8000-0000000000a1"
                db.execute("insert into auth.users (id, email) values (%s, 'a@t')", (agent,))
            await a.set_assignment("b", CHAT, agent, None)
            note = await a.add_note("b", CHAT, agent, "in b")
            await a.log_activity("b", agent, "note_added", CHAT, {"noteId": note["id"]})
            metadata = await a.load_metadata()
            assert set(metadata.assignments) == {("b", CHAT)}
            assert [n["body"] for n in await a.list_notes("b", CHAT)] == ["in b"]
            assert await a.list_notes("a", CHAT) == []
            assert await a.activity("a", CHAT, 10) == []
            assert metadata.profiles[agent]["sessions"] == ["default"]

            await a.purge_session("b")
            purged = await b.load(window=10)
            assert purged.chats == purged.messages == purged.contacts == purged.labels == []
            assert (purged.aliases, purged.position) == ({}, None)
            kept = await a.load(window=10)  # a's chat was deleted above, the rest stays
            assert (len(kept.contacts), kept.position) == (1, Position("ea", 5))
            assert (await a.load_metadata()).assignments == {}
            assert await a.activity("b", None, 10) == []
        finally:
            await a.close()
            await b.close()


@pytest.mark.anyio
async def test_the_session_registry_and_membership(supabase_dsn: str) -> None:
    with run_standin(supabase_dsn, SECRET) as url:
        store = SupabaseStore(url, token("service_role"))
        try:
            await store.open()
            assert await store.list_sessions() == []
            await store.save_session({"id": "sales", "name": "Sales", "proxy": "socks5://u:p@h:1"})
            [saved] = await store.list_sessions()
            assert (saved["id"], saved["name"], saved["bridge_pub"]) == ("sales", "Sales", None)
            renamed = {"id": "sales", "name": "Sales 2", "bridge_pub": "tcp://127.0.0.1:1",
                       "bridge_router": "tcp://127.0.0.1:2", "proxy": None}  # fmt: skip
            await store.save_session(renamed)
            [row] = await store.list_sessions()
            assert {k: row[k] for k in renamed} == renamed
            assert row["created_at"] == saved["created_at"]  # set once
            assert await store.delete_session("sales") is True
            assert await store.delete_session("sales") is False
            assert await store.list_sessions() == []

            user = "00000000-0000-4000-8000-0000000000b1"
            with psycopg.connect(supabase_dsn, autocommit=True) as db:
                db.execute("insert into auth.users (id, email) values (%s, 'b@t')", (user,))
            row = await store.save_profile(user, "Bea", "agent", ["default", "sales"])
            assert row["sessions"] == ["default", "sales"]
            row = await store.save_profile(user, "Bea B", "agent", None)  # keeps the membership
            assert (row["display_name"], row["sessions"]) == ("Bea B", ["default", "sales"])
        finally:
            await store.close()


def test_a_restart_on_supabase_resumes_stream_clients_from_the_stored_log(
    tmp_path: Path, supabase_dsn: str
) -> None:
    """Issue 15: the stream log kept in Supabase; a client resumes from an id from before the
    restart with exactly what it missed, no resync."""
    with stack(tmp_path, events=400, bridge=True, orchestrator=False) as s:
        standin = s.add(start_standin(tmp_path, supabase_dsn, 0))
        [url] = [json.loads(line)["url"] for line in standin.log_path.read_text().splitlines()
                 if line.startswith('{"url"')]  # fmt: skip
        env = {"SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": token("service_role")}
        orchestrator = s.start_orchestrator(**env)
        s.applied()
        before = read_through(orchestrator, "")
        store_caught_up(orchestrator)
        with psycopg.connect(supabase_dsn) as db:
            [(count,)] = db.execute("select count(*) from wa_stream_log").fetchall()
        assert count == len(before)
        port = orchestrator.port
        orchestrator.stop()
        orchestrator = s.start_orchestrator(port=port, **env)
        s.applied()
        seen = {e["id"] for e in before}
        for n in (0, len(before) // 2, len(before) - 1):
            resumes_exactly(read_through(orchestrator, before[n]["id"]), before[n + 1 :], seen)
