"""Issue 5's permission checks: users' JWTs signed by test keys (HS256 with the project secret,
ES256 through a JWKS), roles from profiles, and filtering on REST (in-process: routes only) and
on every stream type (end to end)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.clients import PollReader, SseReader, WebSocketReader
from tests.harness import Bridge, Orchestrator, make_capture, stack, wait_for
from tests.inprocess import Served, served

SECRET = "project-jwt-secret-for-tests-0123456789"
ES_KEY = ec.generate_private_key(ec.SECP256R1())
KID = "test-es256"


def user_token(user_id: str, *, algorithm: str = "HS256", ttl: int = 3600, **claims: Any) -> str:
    payload = {"sub": user_id, "aud": "authenticated", "role": "authenticated",
               "exp": int(time.time()) + ttl, **claims}  # fmt: skip
    if algorithm == "ES256":
        return jwt.encode(payload, ES_KEY, algorithm="ES256", headers={"kid": KID})
    return jwt.encode(payload, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(ECAlgorithm.to_jwk(ES_KEY.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "alg": "ES256", "use": "sig"}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


ROLES = {"supervisor": "supervisor", "agent1": "agent", "agent2": "agent"}
CHATS = [f"55119000000{n:02d}@s.whatsapp.net" for n in range(1, 7)]


class Desk:
    """A running stack with an admin (the API token), a supervisor and two agents."""

    def __init__(self, orchestrator: Orchestrator, bridge: Bridge) -> None:
        self.orchestrator, self.bridge = orchestrator, bridge
        self.users = {name: str(uuid.uuid4()) for name in ROLES}
        self._clients: list[httpx.Client] = []
        for name, user_id in self.users.items():
            self.admin.put(f"/admin/profiles/{user_id}", json={"role": ROLES[name],
                                                              "displayName": name})  # fmt: skip

    @property
    def admin(self) -> httpx.Client:
        return self.orchestrator.http

    def client(self, name: str, algorithm: str = "HS256") -> httpx.Client:
        token = user_token(self.users[name], algorithm=algorithm)
        client = httpx.Client(
            base_url=self.orchestrator.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, jwks_url: str) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("desk")
    # The bridge replays slowly: traffic keeps flowing while the tests watch streams.
    with stack(
        tmp, capture=make_capture(tmp / "capture.jsonl", 1500, chats=6), bridge_first=False,
        wait=False, bridge_env={"BRIDGE_REPLAY_RATE": 60},
        orchestrator_env={"SUPABASE_JWT_SECRET": SECRET, "ORCH_JWKS_URL": jwks_url},
    ) as s:  # fmt: skip
        wait_for("chats", lambda: len(s.orchestrator.http.get("/chats").json()["chats"]) >= 6)
        desk = Desk(s.orchestrator, s.bridge)
        yield desk
        desk.close()


def chat_ids(client: httpx.Client) -> list[str]:
    return [c["id"] for c in client.get("/chats", params={"limit": 500}).json()["chats"]]


def assigned(desk: Desk) -> tuple[str, str, list[str]]:
    """Chat A for agent1, chat B for agent2, the rest unassigned (by the admin). Picked by id,
    not by activity, which changes as the replay goes on: every test gets the same split."""
    chats = sorted(chat_ids(desk.admin))
    a, b = chats[0], chats[1]
    for chat, agent in ((a, "agent1"), (b, "agent2")):
        response = desk.admin.put(f"/chats/{chat}/assignment", json={"agentId": desk.users[agent]})
        assert response.status_code == 200, response.text
    return a, b, chats[2:]


# ---- REST, in-process -------------------------------------------------------------------------


class RestDesk:
    """The same desk in-process: six chats, the admin, a supervisor and two agents; chat A
    assigned to agent1, B to agent2, the rest unassigned (as `assigned` does)."""

    def __init__(self, s: Served) -> None:
        self.served, self.admin = s, s.http
        self.users = {name: str(uuid.uuid4()) for name in ROLES}
        self.a, self.b, self.free = CHATS[0], CHATS[1], CHATS[2:]
        self._clients: list[httpx.AsyncClient] = []

    def client(self, name: str, algorithm: str = "HS256") -> httpx.AsyncClient:
        client = self.served.client(user_token(self.users[name], algorithm=algorithm))
        self._clients.append(client)
        return client

    async def chat_ids(self, name: str) -> list[str]:
        page = await self.client(name).get("/chats", params={"limit": 500})
        return [c["id"] for c in page.json()["chats"]]


@contextlib.asynccontextmanager
async def rest_desk(tmp_path: Path, jwks_url: str) -> AsyncIterator[RestDesk]:
    async with served(tmp_path, supabase_jwt_secret=SECRET, jwks_url=jwks_url) as s:
        s.bridge.publish("chats.upsert", [{"id": c, "conversationTimestamp": 1} for c in CHATS])
        await s.applied()
        desk = RestDesk(s)
        for name, user_id in desk.users.items():
            profile = {"role": ROLES[name], "displayName": name}
            (await s.http.put(f"/admin/profiles/{user_id}", json=profile)).raise_for_status()
        for chat, agent in ((desk.a, "agent1"), (desk.b, "agent2")):
            body = {"agentId": desk.users[agent]}
            response = await s.http.put(f"/chats/{chat}/assignment", json=body)
            assert response.status_code == 200, response.text
        try:
            yield desk
        finally:
            for client in desk._clients:
                await client.aclose()


@pytest.mark.anyio
async def test_tokens_are_verified_and_roles_come_from_profiles(
    tmp_path: Path, jwks_url: str
) -> None:
    async with rest_desk(tmp_path, jwks_url) as desk:
        for algorithm in ("HS256", "ES256"):
            me = (await desk.client("agent1", algorithm).get("/me")).json()
            assert me == {"userId": desk.users["agent1"], "role": "agent", "name": "agent1",
                          "sessions": ["default"], "allSessions": False}  # fmt: skip
        refused = [
            user_token(desk.users["agent1"], ttl=-10),  # expired
            user_token(desk.users["agent1"], aud="somebody-else"),
            jwt.encode({"sub": desk.users["agent1"], "aud": "authenticated",
                        "exp": int(time.time()) + 60}, "wrong-secret" * 3, algorithm="HS256"),
            jwt.encode({"sub": desk.users["agent1"], "exp": int(time.time()) + 60}, None,
                       algorithm="none"),
        ]  # fmt: skip
        for token in refused:
            async with desk.served.client(token) as forged:
                response = await forged.get("/chats")
            assert response.status_code == 401, token
            assert response.json()["error"]["code"] == "unauthorized"
        agent = desk.client("agent1")
        assert (await agent.get("/admin/bridge")).status_code == 403
        assert (await agent.get("/metrics")).status_code == 403
        assert (await agent.get("/qr")).status_code == 403
        assert (await desk.client("supervisor").get("/qr")).status_code == 200


@pytest.mark.anyio
async def test_any_signed_in_user_lists_the_agents(tmp_path: Path, jwks_url: str) -> None:
    """GET /agents: what an "assign to" picker needs, for every role."""
    async with rest_desk(tmp_path, jwks_url) as desk:
        expected = sorted(
            ({"id": desk.users[name], "name": name, "role": role, "online": False,
              "activity": []}
             for name, role in (("agent1", "agent"), ("agent2", "agent"),
                                ("supervisor", "supervisor"))),
            key=lambda agent: str(agent["name"]),
        )  # fmt: skip
        for name in ("agent1", "supervisor"):
            agents = (await desk.client(name).get("/agents")).raise_for_status().json()["agents"]
            assert [a for a in agents if a["id"] in desk.users.values()] == expected
        async with desk.served.client() as anonymous:
            assert (await anonymous.get("/agents")).status_code == 401


@pytest.mark.anyio
async def test_rest_shows_each_agent_only_their_chats_and_the_unassigned(
    tmp_path: Path, jwks_url: str
) -> None:
    async with rest_desk(tmp_path, jwks_url) as desk:
        a, b, free = desk.a, desk.b, desk.free
        assert set(await desk.chat_ids("agent1")) == {a, *free}
        assert set(await desk.chat_ids("agent2")) == {b, *free}
        assert set(await desk.chat_ids("supervisor")) == {a, b, *free}
        agent1 = desk.client("agent1")
        for path in (f"/chats/{b}", f"/chats/{b}/messages", f"/messages/{b}", f"/chats/{b}/notes",
                     f"/contacts/{b}/picture"):  # fmt: skip
            response = await agent1.get(path)
            assert response.status_code == 403, path
            assert response.json()["error"]["code"] == "forbidden"
        response = await agent1.post("/send", json={"chatId": b, "text": "hi"})
        assert response.status_code == 403
        response = await agent1.post(f"/chats/{b}/read")  # nor read another agent's chat
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        chat = (await agent1.get(f"/chats/{a}")).json()
        assert chat["assignment"]["agentId"] == desk.users["agent1"]


@pytest.mark.anyio
async def test_agents_take_and_release_chats_but_cannot_steal(
    tmp_path: Path, jwks_url: str
) -> None:
    async with rest_desk(tmp_path, jwks_url) as desk:
        b, free = desk.b, desk.free
        agent1 = desk.client("agent1")
        me = desk.users["agent1"]
        assert (await agent1.put(f"/chats/{b}/assignment", json={"agentId": me})).status_code == 403
        taken = await agent1.put(f"/chats/{free[0]}/assignment", json={"agentId": me})
        assert taken.status_code == 200 and taken.json()["assignment"]["agentId"] == me
        assert free[0] not in await desk.chat_ids("agent2")
        assert (await agent1.delete(f"/chats/{free[0]}/assignment")).status_code == 200
        assert free[0] in await desk.chat_ids("agent2")
        assert (await agent1.delete(f"/chats/{b}/assignment")).status_code == 403
        supervisor = desk.client("supervisor")
        activity = (await supervisor.get("/activity", params={"chatId": free[0]})).json()
        assert [(e["action"], e["actorId"]) for e in activity["activity"]][:2] == [
            ("chat_unassigned", me), ("chat_assigned", me),
        ]  # fmt: skip
        assert (await agent1.get("/activity")).status_code == 403


@pytest.mark.anyio
async def test_notes_tags_and_quick_replies_follow_the_roles(tmp_path: Path, jwks_url: str) -> None:
    async with rest_desk(tmp_path, jwks_url) as desk:
        a, b = desk.a, desk.b
        agent1, supervisor = desk.client("agent1"), desk.client("supervisor")
        note = await agent1.post(f"/chats/{a}/notes", json={"body": "customer prefers email"})
        assert note.status_code == 201 and note.json()["authorId"] == desk.users["agent1"]
        assert (await agent1.post(f"/chats/{b}/notes", json={"body": "x"})).status_code == 403
        assert (await agent1.post(f"/chats/{a}/notes", json={"body": ""})).status_code == 400
        assert (await agent1.post("/tags", json={"name": "nope"})).status_code == 403
        name = f"vip-{uuid.uuid4().hex[:6]}"
        tag = await supervisor.post("/tags", json={"name": name, "color": "#f00"})
        assert tag.status_code == 201
        assert (await supervisor.post("/tags", json={"name": name})).status_code == 409
        tagged = await agent1.post(f"/chats/{a}/tags", json={"tagId": tag.json()["id"]})
        assert tagged.status_code == 200 and tagged.json()["tags"][0]["name"] == name
        other = await agent1.post(f"/chats/{b}/tags", json={"tagId": tag.json()["id"]})
        assert other.status_code == 403
        refused = await agent1.post("/quick-replies", json={"shortcut": "/x", "body": "y"})
        assert refused.status_code == 403
        reply = await supervisor.post("/quick-replies", json={"shortcut": f"/{name}",
                                                               "body": "Hello!"})  # fmt: skip
        assert reply.status_code == 201
        replies = (await agent1.get("/quick-replies")).json()["quickReplies"]
        assert any(r["shortcut"] == f"/{name}" for r in replies)


@pytest.mark.anyio
async def test_an_admin_sets_the_sessions_an_agent_works_on(tmp_path: Path, jwks_url: str) -> None:
    """Membership: a profile lists its sessions; an agent outside the default session sees
    none of its chats, whatever their assignment; staff need no membership."""
    async with rest_desk(tmp_path, jwks_url) as desk:
        agent1, user_id = desk.client("agent1"), desk.users["agent1"]
        body = {"role": "agent", "displayName": "agent1", "sessions": ["sales", "sales", "x-2"]}
        saved = (await desk.admin.put(f"/admin/profiles/{user_id}", json=body)).json()
        assert saved == {"id": user_id, "displayName": "agent1", "role": "agent",
                         "sessions": ["sales", "x-2"]}  # fmt: skip
        me = (await agent1.get("/me")).json()
        assert (me["sessions"], me["allSessions"]) == (["sales", "x-2"], False)
        # Not in the default session: its routes refuse, not even the unassigned chats.
        refused = await agent1.get("/chats")
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        for path in (f"/chats/{desk.a}", f"/chats/{desk.free[0]}/notes"):
            response = await agent1.get(path)
            assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        # nor may staff give them a chat of a session they are not in
        response = await desk.admin.put(f"/chats/{desk.free[0]}/assignment",
                                        json={"agentId": user_id})  # fmt: skip
        assert response.status_code == 404, response.text
        agents = (await desk.client("supervisor").get("/agents")).json()["agents"]
        assert user_id not in [a["id"] for a in agents]  # not in this session's picker

        # a save without `sessions` keeps them; staff use every session whatever they list
        body = {"role": "agent", "displayName": "Agent One"}
        saved = (await desk.admin.put(f"/admin/profiles/{user_id}", json=body)).json()
        assert saved["sessions"] == ["sales", "x-2"]
        supervisor = desk.users["supervisor"]
        body = {"role": "supervisor", "sessions": []}
        (await desk.admin.put(f"/admin/profiles/{supervisor}", json=body)).raise_for_status()
        me = (await desk.client("supervisor").get("/me")).json()
        assert (me["sessions"], me["allSessions"]) == ([], True)
        assert len(await desk.chat_ids("supervisor")) == len(CHATS)

        # back in the default session: its chats are there again, live
        body = {"role": "agent", "sessions": ["default"]}
        (await desk.admin.put(f"/admin/profiles/{user_id}", json=body)).raise_for_status()
        assert set(await desk.chat_ids("agent1")) == {desk.a, *desk.free}
        me = (await desk.admin.get("/me")).json()
        assert (me["userId"], me["allSessions"]) == (None, True)  # the API token


@pytest.mark.anyio
async def test_bad_session_lists_are_refused(tmp_path: Path, jwks_url: str) -> None:
    async with rest_desk(tmp_path, jwks_url) as desk:
        user_id = desk.users["agent2"]
        for sessions in (["Sales"], ["-x"], ["a" * 41], [""], ["ok", "no way"], "default",
                         [1], None, [f"s{n}" for n in range(101)]):  # fmt: skip
            body = {"role": "agent", "sessions": sessions}
            response = await desk.admin.put(f"/admin/profiles/{user_id}", json=body)
            assert response.status_code == 400, sessions
            assert response.json()["error"]["code"] == "bad_sessions", sessions
        body = {"role": "agent", "sessions": [f"s{n}" for n in range(100)]}
        saved = await desk.admin.put(f"/admin/profiles/{user_id}", json=body)
        assert saved.status_code == 200 and len(saved.json()["sessions"]) == 100
        me = (await desk.client("agent2").get("/me")).json()
        assert "default" not in me["sessions"] and len(me["sessions"]) == 100


# ---- end to end: what needs the real process (WebSockets, streams, the data directory) ----


def test_a_signed_in_user_without_a_profile_hears_so(desk: Desk) -> None:
    """A valid Supabase user whom no admin has given a role yet: 403 no_profile on REST and on
    a stream, not the 401 of a forged token (and not counted as a failed sign-in)."""
    token = user_token(str(uuid.uuid4()))
    base = desk.orchestrator.base_url
    for _ in range(3):
        response = httpx.get(f"{base}/chats", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "no_profile"
        assert "profile" in response.json()["error"]["message"]
    ws_url = base.replace("http", "ws")
    with connect(f"{ws_url}/ws?access_token={token}", open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4403
        assert json.loads(ws.close_reason)["code"] == "no_profile"


def envelope_chat(envelope: dict[str, Any]) -> str | None:
    data = envelope["data"]
    return data.get("chatId") or (
        data.get("id") if envelope["type"] != "connection_status" else None
    )


def test_every_stream_type_carries_only_what_the_user_may_see(desk: Desk) -> None:
    a, b, free = assigned(desk)
    token = user_token(desk.users["agent1"])
    base = desk.orchestrator.base_url
    # Start from the very first event: history plus whatever the replay adds meanwhile.
    readers = [
        SseReader(base, last_id="", token=token),
        WebSocketReader(base, last_id="", token=token),
        PollReader(base, last_id="", token=token),
    ]
    threads = [threading.Thread(target=r.run_for, args=(4.0,)) for r in readers]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    desk.admin.post(f"/chats/{b}/notes", json={"body": "private to agent2's chat"})
    desk.admin.post(f"/chats/{a}/notes", json={"body": "for agent1's eyes"})
    for thread in threads:
        thread.join()
    for reader in readers:
        assert reader.envelopes, type(reader).__name__
        # b reaches agent1 only as the moment it left their view (it was unassigned before).
        handed = [e for e in reader.envelopes if e["type"] == "assignment_changed"]
        for e in handed:
            if e["data"]["chatId"] == b:
                assert e["data"]["previousAgentId"] in (None, desk.users["agent1"]), e
        chats = {envelope_chat(e) for e in reader.envelopes if e not in handed} - {None}
        assert b not in chats, type(reader).__name__
        assert a in chats or any(c in chats for c in free)
        assert not any(e["type"] == "qr" for e in reader.envelopes)
        notes = [e["data"]["note"]["body"] for e in reader.envelopes if e["type"] == "note_added"]
        assert "for agent1's eyes" in notes, type(reader).__name__
        assert "private to agent2's chat" not in notes, type(reader).__name__
    chat_socket = WebSocketReader(base, last_id="", token=token, path=f"/ws/chat/{b}")
    with pytest.raises(Exception, match=r"4403|403"):
        chat_socket.run(lambda e: bool(e), timeout=5)


def test_an_agent_hears_of_a_chat_entering_or_leaving_their_view_and_of_no_other(
    desk: Desk,
) -> None:
    """`assignment_changed` reaches an agent who could see the chat before the change or can
    after it: taken by another agent (it leaves their list), released, handed to them; never a
    transfer between two others."""
    _, _, free = assigned(desk)
    chat = free[-1]
    users = desk.users
    agent1 = desk.client("agent1")
    reader = PollReader(
        desk.orchestrator.base_url, last_id=desk.orchestrator.last_event_id(),
        token=user_token(users["agent1"]),
    )  # fmt: skip

    def put(client: httpx.Client, agent: str | None) -> None:
        url = f"/chats/{chat}/assignment"
        if agent is None:
            response = client.delete(url)
        else:
            response = client.put(url, json={"agentId": users[agent]})
        assert response.status_code == 200, response.text

    put(desk.admin, "agent2")  # agent1 saw it unassigned: hears it go
    put(desk.admin, "supervisor")  # between two others: agent1 hears nothing
    put(desk.admin, None)  # released: agent1 sees it again
    put(agent1, "agent1")  # taken
    put(agent1, "agent2")  # handed on: it leaves agent1's view
    put(desk.admin, None)

    def changes(envelopes: list[dict[str, Any]]) -> list[tuple[str | None, str | None]]:
        return [
            ((e["data"]["assignment"] or {}).get("agentId"), e["data"]["previousAgentId"])
            for e in envelopes
            if e["type"] == "assignment_changed" and e["data"]["chatId"] == chat
        ]

    reader.run(lambda envelopes: len(changes(envelopes)) >= 5, timeout=30)
    assert changes(reader.envelopes) == [
        (users["agent2"], None),
        (None, users["supervisor"]),
        (users["agent1"], None),
        (users["agent2"], users["agent1"]),
        (None, users["agent2"]),
    ]


def test_supervisor_streams_see_everything(desk: Desk) -> None:
    a, b, _ = assigned(desk)
    token = user_token(desk.users["supervisor"])
    reader = PollReader(desk.orchestrator.base_url, last_id="", token=token)
    target = desk.orchestrator.last_event_id()
    reader.run(lambda e: any(x["id"] == target for x in e), timeout=30)
    chats = {envelope_chat(e) for e in reader.envelopes}
    assert {a, b} <= chats


def test_sqlite_data_dir_is_owner_only(desk: Desk) -> None:
    data = Path(desk.orchestrator.data_dir)
    assert data.stat().st_mode & 0o077 == 0
    assert (data / "store.sqlite3").stat().st_mode & 0o077 == 0
