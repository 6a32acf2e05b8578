"""Issue 14: agents belong to sessions. An agent of `default` gets 403 on every route of the
`sales` session (REST, sends, helpdesk metadata, operators' routes), does not see it in
GET /sessions, and no stream of theirs carries a sales envelope; naming it on a stream is a
403 (WebSocket: close 4403). Staff see every session. Both sessions' bridges replay a capture:
the rules are the orchestrator's, no WhatsApp is needed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.clients import PollReader, SseReader, StreamReader, WebSocketReader
from tests.harness import TOKEN
from tests.multisession import Deployment, replaying, scoped_routes
from tests.test_permissions import SECRET, user_token

ROLES = {"ana": ("agent", ["default"]), "saulo": ("agent", ["sales"]),
         "sueli": ("supervisor", ["default"])}  # fmt: skip


class Desk:
    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.users = {name: str(uuid.uuid4()) for name in ROLES}
        for name, (role, sessions) in ROLES.items():
            response = d.http.put(f"/admin/profiles/{self.users[name]}", json={
                "role": role, "displayName": name, "sessions": sessions})  # fmt: skip
            assert response.status_code == 200, response.text
            assert response.json()["sessions"] == sessions
        self.tokens = {name: user_token(user_id) for name, user_id in self.users.items()}
        self.clients = {
            name: httpx.Client(base_url=d.orchestrator.base_url, timeout=5,
                               headers={"Authorization": f"Bearer {token}"})
            for name, token in self.tokens.items()
        }  # fmt: skip
        self.sales_chat = next(iter(d.chats("sales")))
        self.sales_message = d.get("sales", f"/chats/{self.sales_chat}/messages")["messages"][0]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("desk")
    with replaying(tmp, ("default", "sales"), 300, SUPABASE_JWT_SECRET=SECRET) as d:
        desk = Desk(d)
        yield desk
        for client in desk.clients.values():
            client.close()


def listed(client: httpx.Client) -> list[str]:
    response = client.get("/sessions")
    assert response.status_code == 200, response.text
    return sorted(s["id"] for s in response.json()["sessions"])


def test_each_user_lists_the_sessions_they_belong_to(desk: Desk) -> None:
    assert listed(desk.d.http) == ["default", "sales"]  # the API token: an admin
    assert listed(desk.clients["sueli"]) == ["default", "sales"]  # staff: every session
    assert listed(desk.clients["ana"]) == ["default"]
    assert listed(desk.clients["saulo"]) == ["sales"]
    assert desk.clients["ana"].get("/sessions/default").status_code == 200
    assert desk.clients["saulo"].get("/sessions/sales").status_code == 200
    for name, other in (("ana", "sales"), ("saulo", "default")):
        refused = desk.clients[name].get(f"/sessions/{other}")
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
    me = desk.clients["ana"].get("/me").json()
    assert me["sessions"] == ["default"]


def test_every_route_of_a_session_not_theirs_is_forbidden(desk: Desk) -> None:
    ana = desk.clients["ana"]
    before = desk.d.get("sales", f"/chats/{desk.sales_chat}")
    reconnects = desk.d.get("sales", "/admin/bridge")["reconnects"]
    routes = scoped_routes(desk.sales_chat, desk.sales_message["id"], desk.users["ana"])
    for method, route, body in routes:
        response = ana.request(method, f"/sessions/sales{route}", json=body)
        assert response.status_code == 403, (method, route, response.status_code, response.text)
        assert response.json()["error"]["code"] == "forbidden", (method, route)
    # Nothing was done on the way to the refusals.
    after = desk.d.get("sales", f"/chats/{desk.sales_chat}")
    assert after["assignment"] is None and after["tags"] == [] and after == before
    assert desk.d.get("sales", f"/chats/{desk.sales_chat}/notes")["notes"] == []
    assert desk.d.get("sales", "/admin/bridge")["reconnects"] == reconnects
    # Their own session answers them; the unscoped routes are the default session: not Saulo's.
    assert ana.get(f"/sessions/default/chats/{next(iter(desk.d.chats('default')))}").is_success
    assert desk.clients["saulo"].get(f"/sessions/sales/chats/{desk.sales_chat}").is_success
    for route in ("/chats", "/status", "/contacts"):
        assert desk.clients["saulo"].get(route).status_code == 403, route
    refused = ana.post("/sessions", json={"id": "mine"})
    assert refused.status_code == 403 and ana.delete("/sessions/sales").status_code == 403


def read_all(d: Deployment, token: str = TOKEN) -> list[dict[str, Any]]:
    """Every envelope the log holds for this user, polled until an answer comes back empty."""
    envelopes: list[dict[str, Any]] = []
    since = ""
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        while True:
            body = client.get(f"{d.orchestrator.base_url}/events/poll",
                              params={"since": since, "timeout": "0.5"}).json()  # fmt: skip
            envelopes.extend(body["events"])
            since = body["lastEventId"]
            if not body["events"]:
                return envelopes


def test_streams_of_an_agent_carry_only_their_sessions(desk: Desk) -> None:
    # An assignment in sales of a chat nobody had (which every sales agent hears of) must not
    # reach ana either; one in default afterwards makes her stream read past it.
    http = desk.d.http
    for path, user in ((f"/sessions/sales/chats/{desk.sales_chat}", "saulo"),
                       (f"/chats/{next(iter(desk.d.chats('default')))}", "ana")):  # fmt: skip
        http.put(f"{path}/assignment", json={"agentId": desk.users[user]}).raise_for_status()
        http.delete(f"{path}/assignment").raise_for_status()
    everything = read_all(desk.d)
    by_session = {
        s: [e["id"] for e in everything if e["session"] == s] for s in ("default", "sales")
    }
    assert by_session["default"] and by_session["sales"]
    base = desk.d.orchestrator.base_url
    counts = {}
    for name, session in (("ana", "default"), ("saulo", "sales")):
        token = desk.tokens[name]
        wanted = set(by_session[session])
        readers: list[StreamReader] = [
            kind(base, last_id="", token=token) for kind in (SseReader, WebSocketReader, PollReader)
        ]
        for reader in readers:
            reader.run(lambda e, w=wanted: w <= {x["id"] for x in e}, timeout=20)
            assert {e["session"] for e in reader.envelopes} == {session}, type(reader).__name__
            counts[f"{name} {type(reader).__name__}"] = len(reader.envelopes)
    print(f"\nlog: {len(everything)} envelopes {dict((s, len(i)) for s, i in by_session.items())};"
          f" read by each agent: {counts}")  # fmt: skip


def test_naming_a_session_not_theirs_on_a_stream_is_forbidden(desk: Desk) -> None:
    base = desk.d.orchestrator.base_url
    token = desk.tokens["ana"]
    headers = {"Authorization": f"Bearer {token}"}
    for sessions in ("sales", "default,sales"):
        for path, params in (("/events", {}), ("/events/poll", {"timeout": "0"})):
            response = httpx.get(f"{base}{path}", params={"session": sessions, **params},
                                 headers=headers, timeout=5)  # fmt: skip
            assert response.status_code == 403, (path, sessions, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        assert websocket_refusal(base, token, sessions) == 4403
    ok = httpx.get(f"{base}/events/poll", params={"session": "default", "timeout": "0"},
                   headers=headers, timeout=5)  # fmt: skip
    assert ok.status_code == 200, ok.text


def websocket_refusal(base: str, token: str, sessions: str) -> int:
    """The close code (or HTTP status, if refused before the upgrade) of a WebSocket asking
    for `sessions`."""
    url = f"{base.replace('http://', 'ws://')}/ws?access_token={token}&session={sessions}"
    try:
        with connect(url, open_timeout=5) as ws:
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=5)
            code = ws.close_code
            assert code is not None
            return code
    except InvalidStatus as refused:
        return refused.response.status_code + 4000
