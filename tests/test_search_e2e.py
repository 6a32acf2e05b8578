"""Message search end to end: the Node bridge replays a capture of customers' messages, the
orchestrator (its own process) stores them behind RAM in SQLite's FTS5 index, and real HTTP
clients (an admin and agents with JWTs) search: ranking, paging, who sees what, the single
message route, a restart, and how soon a live message becomes searchable."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.harness import Orchestrator, free_port, stack, wait_for
from tests.postgrest.conftest import token
from tests.test_permissions import SECRET, user_token
from tests.test_supabase_backend import start_standin, supabase_dsn  # noqa: F401  (a fixture)

ANA = "5511911110001@s.whatsapp.net"
BRUNO = "5511922220002@s.whatsapp.net"
CARLA = "5511933330003@s.whatsapp.net"
LIVE = 8  # messages replayed slowly, to time how soon each becomes searchable


def message(chat: str, message_id: str, when: int, text: str) -> dict[str, Any]:
    return {
        "key": {"remoteJid": chat, "id": message_id, "fromMe": False},
        "messageTimestamp": when,
        "pushName": "Customer",
        "message": {"conversation": text},
    }


def capture(path: Path, live: bool = False) -> Path:
    """Three customers' chats; with `live`, LIVE more messages after them."""
    events: list[dict[str, Any]] = [
        {"event": "chats.upsert", "data": [{"id": c, "conversationTimestamp": 1}
                                           for c in (ANA, BRUNO, CARLA)]},
        {"event": "messages.upsert", "data": {"type": "notify", "messages": [
            message(ANA, "A1", 100, "Bom dia, a minha encomenda não chegou"),
            message(ANA, "A2", 101, "Encomenda 123: encomenda atrasada, encomenda perdida?"),
            message(BRUNO, "B1", 102, "Quero cancelar a encomenda"),
            message(CARLA, "C1", 103, "Obrigada pela ajuda!"),
            *(message(CARLA, f"P{n}", 110 + n, f"página {n} da conversa") for n in range(12)),
        ]}},
    ]  # fmt: skip
    if live:
        events += [
            {"event": "messages.upsert", "data": {"type": "notify", "messages": [
                message(BRUNO, f"L{n}", 200 + n, f"mensagem ao vivo marcador{n}")]}}
            for n in range(LIVE)
        ]  # fmt: skip
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def search(client: httpx.Client, q: str, **params: Any) -> dict[str, Any]:
    response = client.get("/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def ids(client: httpx.Client, q: str, **params: Any) -> list[str]:
    return [m["id"] for m in search(client, q, **params)["messages"]]


def agent(
    orchestrator: Orchestrator, name: str, user_id: str | None = None
) -> tuple[str, httpx.Client]:
    """An agent's profile (for `user_id`, or a new id) and a client with his JWT."""
    user_id = user_id or str(uuid.uuid4())
    profile = {"role": "agent", "displayName": name}
    orchestrator.http.put(f"/admin/profiles/{user_id}", json=profile).raise_for_status()
    token = user_token(user_id)
    headers = {"Authorization": f"Bearer {token}"}
    return user_id, httpx.Client(base_url=orchestrator.base_url, headers=headers, timeout=10)


def test_search_ranks_pages_respects_assignments_and_survives_a_restart(tmp_path: Path) -> None:
    env = {"SUPABASE_JWT_SECRET": SECRET}
    with stack(tmp_path, capture=capture(tmp_path / "capture.jsonl"), orchestrator_env=env) as s:
        admin = s.orchestrator.http
        wait_for("the stored messages", lambda: len(ids(admin, "encomenda")) == 3)
        # A2 says it four times, B1 once in fewer words than A1: then newest first.
        assert ids(admin, "encomenda") == ["A2", "B1", "A1"]
        assert ids(admin, "nao chegou") == ["A1"]  # accents aside
        assert ids(admin, "encom") == ["A2", "B1", "A1"]  # the last word a prefix
        assert ids(admin, 'encomenda "perdida"') == ["A2"]  # quotes are only text

        # Paging: twelve pages' worth of "página", five at a time, newest first (equal rank).
        pages, offset = [], 0
        while offset is not None:
            page = search(admin, "pagina", limit=5, offset=offset)
            pages.append([m["id"] for m in page["messages"]])
            offset = page["nextOffset"]
        assert pages == [[f"P{n}" for n in range(11, 6, -1)], [f"P{n}" for n in range(6, 1, -1)],
                         ["P1", "P0"]]  # fmt: skip

        # Agents: Ana's chat is agent1's, Bruno's agent2's, Carla's nobody's.
        agent1_id, agent1 = agent(s.orchestrator, "agent1")
        agent2_id, agent2 = agent(s.orchestrator, "agent2")
        with agent1, agent2:
            for chat, user_id in ((ANA, agent1_id), (BRUNO, agent2_id)):
                assigned = admin.put(f"/chats/{chat}/assignment", json={"agentId": user_id})
                assert assigned.status_code == 200, assigned.text
            assert ids(agent1, "encomenda") == ["A2", "A1"]
            assert ids(agent2, "encomenda") == ["B1"]
            assert ids(agent1, "obrigada") == ["C1"] == ids(agent2, "obrigada")
            refused = agent1.get("/search", params={"q": "encomenda", "chatId": BRUNO})
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
            assert agent1.get(f"/chats/{BRUNO}/messages/B1").status_code == 403
            one = agent2.get(f"/chats/{BRUNO}/messages/B1")
            assert one.status_code == 200 and one.json()["text"] == "Quero cancelar a encomenda"
            missing = agent2.get(f"/chats/{BRUNO}/messages/NOPE")
            assert (missing.status_code, missing.json()["error"]["code"]) == (
                404, "message_not_found",
            )  # fmt: skip

        # A restart: the index is in the store, as the messages are.
        port = s.orchestrator.port
        s.orchestrator.stop()
        orchestrator = s.start_orchestrator(port=port)
        assert ids(orchestrator.http, "encomenda") == ["A2", "B1", "A1"]
        assert orchestrator.http.get(f"/chats/{ANA}/messages/A1").json()["id"] == "A1"


def test_search_on_the_supabase_backend(tmp_path: Path, supabase_dsn: str) -> None:  # noqa: F811
    """The same searches with the orchestrator on Supabase: PostgreSQL's full-text search
    through the search_messages function, called over PostgREST (the stand-in)."""
    port = free_port()
    env = {
        "SUPABASE_URL": f"http://127.0.0.1:{port}",
        "SUPABASE_SERVICE_ROLE_KEY": token("service_role"),
        "SUPABASE_JWT_SECRET": SECRET,
    }
    with stack(
        tmp_path, capture=capture(tmp_path / "capture.jsonl"), bridge=False, orchestrator=False,
        orchestrator_env=env,
    ) as s:  # fmt: skip
        s.add(start_standin(tmp_path, supabase_dsn, port))
        s.start_orchestrator()
        s.start_bridge()
        s.applied()
        admin = s.orchestrator.http
        wait_for("the stored messages", lambda: len(ids(admin, "encomenda")) == 3)
        assert ids(admin, "encomenda") == ["A2", "B1", "A1"]  # ts_rank: A2 says it most
        assert ids(admin, "nao chegou") == ["A1"]  # unaccent
        assert ids(admin, "encom") == ["A2", "B1", "A1"]
        assert ids(admin, "pagina", limit=5, offset=10) == ["P1", "P0"]
        page = search(admin, "pagina", limit=5, offset=5)
        assert page["nextOffset"] == 10
        # Supabase profiles belong to auth users: the users sign up first.
        users = [str(uuid.uuid4()) for _ in range(2)]
        with psycopg.connect(supabase_dsn, autocommit=True) as db:
            for user_id in users:
                db.execute("insert into auth.users (id, email) values (%s, %s)",
                           (user_id, f"{user_id}@t"))  # fmt: skip
        _, agent1 = agent(s.orchestrator, "agent1", users[0])
        agent2_id, agent2 = agent(s.orchestrator, "agent2", users[1])
        with agent1, agent2:
            assigned = admin.put(f"/chats/{BRUNO}/assignment", json={"agentId": agent2_id})
            assert assigned.status_code == 200, assigned.text
            assert ids(agent1, "encomenda") == ["A2", "A1"]
            assert ids(agent2, "encomenda") == ["A2", "B1", "A1"]
            assert agent1.get(f"/chats/{ANA}/messages/A1").json()["text"].startswith("Bom dia")
            assert agent1.get(f"/chats/{BRUNO}/messages/B1").status_code == 403


def test_a_live_message_is_searchable_within_moments(tmp_path: Path) -> None:
    """The store is written behind RAM (ORCH_STORE_FLUSH_INTERVAL, 0.2 s): measured from the
    message showing in its chat to it being found, for each of LIVE messages replayed slowly."""
    with stack(
        tmp_path, capture=capture(tmp_path / "capture.jsonl", live=True), bridge_first=False,
        wait=False, bridge_env={"BRIDGE_REPLAY_RATE": 4},
    ) as s:  # fmt: skip
        admin = s.orchestrator.http
        shown: dict[int, float] = {}
        found: dict[int, float] = {}
        deadline = time.monotonic() + 60
        while len(found) < LIVE and time.monotonic() < deadline:
            now = time.monotonic()
            page = admin.get(f"/chats/{BRUNO}/messages", params={"limit": 50})
            if page.status_code == 200:
                for m in page.json()["messages"]:
                    if m["id"].startswith("L"):
                        shown.setdefault(int(m["id"][1:]), now)
            for n in shown.keys() - found.keys():
                if ids(admin, f"marcador{n}") == [f"L{n}"]:
                    found[n] = time.monotonic()
            time.sleep(0.02)
        assert sorted(found) == list(range(LIVE)), f"found {sorted(found)} of {LIVE}"
        lags = sorted(found[n] - shown[n] for n in range(LIVE))
        print(f"searchable after showing: median {lags[LIVE // 2]:.3f} s, max {lags[-1]:.3f} s")
        assert lags[-1] < 5.0  # about the flush interval; generous for a loaded machine
