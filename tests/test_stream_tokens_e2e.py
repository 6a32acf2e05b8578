"""Stream tokens end to end, over real HTTP against the real orchestrator (a replaying bridge and
`python -m orchestrator`, tests/harness.py): minted by the operator and by an admin user, then
used as a browser would: REST reads, SSE, the WebSocket and the long-poll, with the user's view;
writes and admin routes refused (403 read_only_token); an expired token (401, 4401 on the
WebSocket); a user's token narrowed to sessions; a removed profile; CORS for a browser on
another origin (the preflight, and the stream routes' answers)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

from orchestrator.streamtoken import StreamTokens
from tests.clients import PollReader, SseReader, WebSocketReader
from tests.harness import TOKEN, Orchestrator, Stack, make_capture, stack, wait_for

SECRET = "project-jwt-secret-for-tests-0123456789"
APP_ORIGIN = "http://localhost:3000"  # the Next.js app; the backend is elsewhere
ROLES = {"root": "admin", "agent1": "agent", "agent2": "agent"}


def user_token(user_id: str) -> str:
    claims = {"sub": user_id, "aud": "authenticated", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


class Desk:
    """The stack, an admin user and two agents (agent2 also in a session `sales` that has no
    bridge yet), chat A assigned to agent1 and chat B to agent2."""

    def __init__(self, s: Stack) -> None:
        self.stack = s
        self.users = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in ROLES}
        admin = self.admin
        for name, user_id in self.users.items():
            sessions = ["default", "sales"] if name == "agent2" else ["default"]
            body = {"role": ROLES[name], "displayName": name, "sessions": sessions}
            admin.put(f"/admin/profiles/{user_id}", json=body).raise_for_status()
        chats = sorted(c["id"] for c in admin.get("/chats", params={"limit": 500}).json()["chats"])
        self.a, self.b, self.free = chats[0], chats[1], chats[2:]
        for chat, agent in ((self.a, "agent1"), (self.b, "agent2")):
            body = {"agentId": self.users[agent]}
            admin.put(f"/chats/{chat}/assignment", json=body).raise_for_status()

    @property
    def orchestrator(self) -> Orchestrator:
        return self.stack.orchestrator

    @property
    def admin(self) -> httpx.Client:
        return self.orchestrator.http

    @property
    def base(self) -> str:
        return self.orchestrator.base_url

    def mint(self, caller: str = TOKEN, **body: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base}/auth/stream-token", json=body,
            headers={"Authorization": f"Bearer {caller}"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        minted: dict[str, Any] = response.json()
        return minted

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=5
        )


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("streamtokens")
    # The bridge replays slowly: envelopes keep coming while the streams are read.
    with stack(
        tmp, capture=make_capture(tmp / "capture.jsonl", 1200, chats=6), bridge_first=False,
        wait=False, bridge_env={"BRIDGE_REPLAY_RATE": 80},
        orchestrator_env={"SUPABASE_JWT_SECRET": SECRET, "ORCH_CORS_ORIGINS": APP_ORIGIN},
    ) as s:  # fmt: skip
        http = s.orchestrator.http
        wait_for("six chats", lambda: len(http.get("/chats").json()["chats"]) >= 6)
        yield Desk(s)


def chat_ids(client: httpx.Client) -> set[str]:
    response = client.get("/chats", params={"limit": 500})
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["chats"]}


def test_the_operator_and_an_admin_user_mint_tokens(desk: Desk) -> None:
    root = user_token(desk.users["root"])
    minted = [
        desk.mint(userId=desk.users["agent1"]),  # the operator, for an agent
        desk.mint(root, userId=desk.users["agent1"], ttlSeconds=120),  # an admin, for an agent
        desk.mint(root),  # an admin, for themself
        desk.mint(),  # the operator's own (read-only) view
    ]
    assert [m["userId"] for m in minted] == [desk.users["agent1"]] * 2 + [desk.users["root"], None]
    assert abs(minted[1]["expiresAt"] - (time.time() + 120)) < 5
    views = []
    for m in minted:
        with desk.client(m["token"]) as client:
            views.append(client.get("/me").json())
    assert [(v["userId"], v["role"], v["allSessions"]) for v in views] == [
        (desk.users["agent1"], "agent", False), (desk.users["agent1"], "agent", False),
        (desk.users["root"], "admin", True), (None, "admin", True),
    ]  # fmt: skip
    with desk.client(user_token(desk.users["agent1"])) as agent:
        refused = agent.post("/auth/stream-token", json={})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    unknown = desk.admin.post("/auth/stream-token", json={"userId": "nobody-at-all"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_user")
    log = desk.orchestrator.log_path.read_text()
    assert not any(m["token"] in log for m in minted)  # tokens are never logged


def test_an_agents_token_reads_and_streams_what_the_agent_may_see(desk: Desk) -> None:
    agent1 = desk.users["agent1"]
    token = desk.mint(userId=agent1)["token"]
    with desk.client(token) as client, desk.client(user_token(agent1)) as signed_in:
        assert chat_ids(client) == chat_ids(signed_in) == {desk.a, *desk.free}
        assert client.get(f"/chats/{desk.a}/messages").status_code == 200
        assert client.get(f"/chats/{desk.b}").status_code == 403  # agent2's
        assert client.get("/tags").status_code == 200 and client.get("/agents").status_code == 200
    with_query = httpx.get(f"{desk.base}/chats?access_token={token}")
    assert with_query.status_code == 200, with_query.text
    readers = [
        SseReader(desk.base, last_id="", token=token),
        WebSocketReader(desk.base, last_id="", token=token),
        PollReader(desk.base, last_id="", token=token),
    ]
    for reader in readers:
        reader.run(lambda envelopes: len(envelopes) >= 20, timeout=30)
        name = type(reader).__name__
        # B reaches agent1 only as the moment it left their view (it was unassigned before).
        handed = [e for e in reader.envelopes if e["type"] == "assignment_changed"]
        chats = {e["data"].get("chatId") for e in reader.envelopes if e not in handed}
        assert desk.b not in chats, name  # never agent2's chat
        assert not any(e["type"] == "qr" for e in reader.envelopes), name
    chat_socket = WebSocketReader(desk.base, last_id="", token=token, path=f"/ws/chat/{desk.a}")
    chat_socket.run(lambda envelopes: len(envelopes) >= 1, timeout=30)
    assert {e["data"].get("chatId") for e in chat_socket.envelopes} <= {desk.a, None}


def test_an_admins_token_streams_everything_but_writes_nothing(desk: Desk) -> None:
    tokens = {
        "admin user": desk.mint(userId=desk.users["root"])["token"],
        "operator view": desk.mint()["token"],
    }
    a = desk.a
    writes = [
        ("POST", "/send", {"chatId": a, "text": "from a browser"}),
        ("PUT", f"/chats/{a}/assignment", {"agentId": desk.users["agent1"]}),
        ("DELETE", f"/chats/{a}/assignment", None),
        ("PUT", f"/chats/{a}/status", {"status": "resolved"}),
        ("POST", f"/chats/{a}/notes", {"body": "note"}),
        ("POST", f"/chats/{a}/tags", {"tagId": 1}),
        ("POST", f"/chats/{a}/read", None),
        ("POST", "/tags", {"name": "nope"}),
        ("PUT", "/settings", {}),
        ("PUT", f"/admin/profiles/{desk.users['agent1']}", {"role": "admin"}),
        ("POST", "/auth/stream-token", {}),
        ("POST", "/admin/reconnect", None),
        ("POST", "/sessions", {"id": "other"}),
        ("DELETE", "/sessions/sales", None),
        ("GET", "/admin/bridge", None),  # admin routes, even reads
        ("GET", "/metrics", None),
        ("POST", "/sessions/default/send", {"chatId": a, "text": "scoped"}),
    ]
    for who, token in tokens.items():
        with desk.client(token) as client:
            assert desk.b in chat_ids(client), who  # staff: every chat
            assert client.get("/qr").status_code in (200, 404), who  # staff reads are fine
            for method, path, body in writes:
                response = client.request(method, path, json=body)
                assert response.status_code == 403, (who, method, path, response.text)
                assert response.json()["error"]["code"] == "read_only_token", (who, path)
        # as ?access_token= too
        response = httpx.post(f"{desk.base}/send?access_token={token}", json=writes[0][2])
        assert response.json()["error"]["code"] == "read_only_token"
        reader = PollReader(desk.base, last_id="", token=token)
        reader.run(lambda envelopes: len(envelopes) >= 10, timeout=30)
    chat = desk.admin.get(f"/chats/{a}").json()
    assert chat["assignment"]["agentId"] == desk.users["agent1"]  # nothing changed
    assert desk.admin.get(f"/chats/{a}/notes").json()["notes"] == []


def test_an_expired_token_is_401_on_rest_and_4401_on_the_websocket(desk: Desk) -> None:
    # Minted with the documented key (derived from the API token), an hour ago, for 15 min.
    old = StreamTokens(TOKEN, clock=lambda: time.time() - 3600)
    expired, _ = old.mint(desk.users["agent1"], None, 900)
    # Genuine but old: refused every time with 401, never the 429 of a guessing address.
    for _ in range(35):
        response = httpx.get(f"{desk.base}/chats", headers={"Authorization": f"Bearer {expired}"})
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert error["code"] == "unauthorized" and "expired" in error["message"]
    for path in ("/events", "/events/poll"):
        response = httpx.get(f"{desk.base}{path}?access_token={expired}", timeout=5)
        assert response.status_code == 401, path
    ws_url = desk.base.replace("http", "ws")
    with connect(f"{ws_url}/ws?access_token={expired}", open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4401
        assert json.loads(ws.close_reason)["code"] == "unauthorized"
    other_key = StreamTokens("another-deployments-api-token").mint(None, None, 900)[0]
    response = httpx.get(f"{desk.base}/chats", headers={"Authorization": f"Bearer {other_key}"})
    assert response.status_code == 401


def test_a_token_narrowed_to_a_session_sees_only_that_session(desk: Desk) -> None:
    agent2 = desk.users["agent2"]
    refused = desk.admin.post(
        "/auth/stream-token", json={"userId": desk.users["agent1"], "sessions": ["sales"]}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "bad_sessions")
    narrowed = desk.mint(userId=agent2, sessions=["sales"])
    assert narrowed["sessions"] == ["sales"]
    everything = desk.mint(userId=agent2)["token"]
    with desk.client(narrowed["token"]) as client:
        me = client.get("/me").json()
        assert (me["sessions"], me["allSessions"]) == (["sales"], False)
        response = client.get("/chats")  # the default session is outside the token
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        response = client.get("/events/poll", params={"session": "default", "timeout": 0})
        assert response.status_code in (403, 404)
        # Without ?session=: the stream carries only `sales` (no bridge yet: nothing).
        body = client.get("/events/poll", params={"since": "", "timeout": 0}).json()
        assert body["events"] == []
    with desk.client(everything) as client:
        assert desk.b in chat_ids(client)
        body = client.get("/events/poll", params={"since": "", "timeout": 0}).json()
        assert body["events"], "agent2's whole view has the default session's events"
    ws_url = desk.base.replace("http", "ws")
    with connect(f"{ws_url}/ws/chat/{desk.b}?access_token={narrowed['token']}") as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4403
    admin = desk.mint(userId=desk.users["root"], sessions=["default"])["token"]
    with desk.client(admin) as client:
        me = client.get("/me").json()
        assert (me["sessions"], me["allSessions"]) == (["default"], False)
        assert desk.b in chat_ids(client)
        assert client.get("/sessions/sales/chats").status_code in (403, 404)


def test_cors_lets_the_app_origin_use_the_token(desk: Desk) -> None:
    """What a browser at APP_ORIGIN does with the token: fetch with the Bearer header (after a
    preflight), EventSource and long-poll with ?access_token= (simple requests: the answer must
    allow the origin), and the WebSocket (no CORS; its Origin header is not refused)."""
    token = desk.mint(userId=desk.users["agent1"])["token"]
    preflight = httpx.options(
        f"{desk.base}/chats",
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "GET" in preflight.headers["access-control-allow-methods"]
    send_preflight = httpx.options(
        f"{desk.base}/send",
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert send_preflight.status_code == 200  # a browser then reads the 403 read_only_token
    origin = {"Origin": APP_ORIGIN}
    fetched = httpx.get(
        f"{desk.base}/chats", headers={**origin, "Authorization": f"Bearer {token}"}
    )
    assert fetched.status_code == 200
    assert fetched.headers["access-control-allow-origin"] == APP_ORIGIN
    refused = httpx.post(
        f"{desk.base}/send", json={"chatId": desk.a, "text": "x"},
        headers={**origin, "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert refused.status_code == 403
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN  # readable by the page
    with httpx.stream(
        "GET", f"{desk.base}/events?access_token={token}", headers=origin, timeout=5
    ) as sse:
        assert sse.status_code == 200
        assert sse.headers["access-control-allow-origin"] == APP_ORIGIN
        assert sse.headers["content-type"].startswith("text/event-stream")
    poll = httpx.get(f"{desk.base}/events/poll?access_token={token}&timeout=0", headers=origin)
    assert poll.status_code == 200 and poll.headers["access-control-allow-origin"] == APP_ORIGIN
    ws_url = desk.base.replace("http", "ws")
    with connect(f"{ws_url}/ws?access_token={token}&lastEventId=", origin=Origin(APP_ORIGIN)) as ws:
        envelope = json.loads(ws.recv(timeout=10))
        assert envelope["id"]
    other = httpx.options(
        f"{desk.base}/chats",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_a_removed_profile_stops_the_token_and_a_restart_keeps_the_others(tmp_path: Path) -> None:
    """Tokens outlive the process that minted them (the key comes from the API token: another
    replica, or this one restarted, accepts them), and the profile is read at each use: once an
    admin removes it from the store, the token is refused (403 no_profile, close 4403)."""
    with stack(tmp_path, events=40) as s:
        http = s.orchestrator.http
        for user in ("leaving", "staying"):
            http.put(f"/admin/profiles/{user}", json={"role": "agent"}).raise_for_status()
        tokens = {
            user: http.post("/auth/stream-token", json={"userId": user}).json()["token"]
            for user in ("leaving", "staying")
        }
        for token in tokens.values():
            response = httpx.get(
                f"{s.base_url}/chats", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200
        port = s.orchestrator.port
        s.orchestrator.stop()
        with sqlite3.connect(s.data / "store.sqlite3") as db:
            db.execute("DELETE FROM profiles WHERE id = ?", ("leaving",))
        s.start_orchestrator(port=port)
        base = s.base_url
        staying = httpx.get(
            f"{base}/chats", headers={"Authorization": f"Bearer {tokens['staying']}"}
        )
        assert staying.status_code == 200, staying.text
        leaving = httpx.get(
            f"{base}/chats", headers={"Authorization": f"Bearer {tokens['leaving']}"}
        )
        assert (leaving.status_code, leaving.json()["error"]["code"]) == (403, "no_profile")
        with connect(f"{base.replace('http', 'ws')}/ws?access_token={tokens['leaving']}") as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 4403
        minted = s.orchestrator.http.post("/auth/stream-token", json={"userId": "leaving"})
        assert (minted.status_code, minted.json()["error"]["code"]) == (404, "unknown_user")
