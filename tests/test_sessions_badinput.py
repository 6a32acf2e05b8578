"""Issue 14's bad input: malformed session ids, a duplicate, deleting twice or the default,
unknown sessions on every scoped route and on the streams: clear 4xx answers with a JSON error,
never a 500. And a session deleted while clients stream from it: each gets a final
`session_deleted` envelope; those that named only it end (SSE ends, WebSocket closes 1000, a
waiting long-poll answers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.clients import parse_sse
from tests.harness import TOKEN, metric_value, wait_for
from tests.multisession import Deployment, replaying, scoped_routes

BAD_IDS = ["", "Sales", "-sales", "_x", "a" * 41, "com espaço", "ação", "../etc", "a/b", "a.b"]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # Pings every second: a stopped SSE watcher gets a line to notice its stop on soon.
    with replaying(
        tmp_path_factory.mktemp("bad"), ("default", "sales"), 200, ORCH_SSE_PING_INTERVAL="1"
    ) as it:
        yield it


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.json()["error"]["code"] == code, response.text


def test_malformed_session_ids_and_bodies_are_400(d: Deployment) -> None:
    bridge = {"pub": "ipc:///tmp/nobody-pub", "router": "ipc:///tmp/nobody-router"}
    for bad in BAD_IDS:
        refused(d.http.post("/sessions", json={"id": bad, "bridge": bridge}), 400,
                "bad_session_id")  # fmt: skip
    for body in ({}, {"id": 7}, {"id": None}):
        refused(d.http.post("/sessions", json=body), 400, "bad_session_id")
    for bad_bridge in (
        "tcp://x",
        {"pub": "http://127.0.0.1:1"},
        {"pub": "nonsense", "router": "nonsense"},
    ):
        refused(d.http.post("/sessions", json={"id": "badbridge", "bridge": bad_bridge}), 400,
                "bad_bridge")  # fmt: skip
    for proxy in ("ftp://proxy:21", "not a url", 5):
        refused(d.http.post("/sessions", json={"id": "badproxy", "bridge": bridge,
                                               "proxy": proxy}), 400, "bad_proxy")  # fmt: skip
    listed = {s["id"] for s in d.http.get("/sessions").json()["sessions"]}
    assert listed == {"default", "sales"}  # nothing half-created


def test_a_duplicate_is_409_and_deleting_twice_is_404(d: Deployment) -> None:
    bridge = {"pub": "ipc:///tmp/nobody-pub-2", "router": "ipc:///tmp/nobody-router-2"}
    refused(d.http.post("/sessions", json={"id": "sales", "bridge": bridge}), 409,
            "session_exists")  # fmt: skip
    refused(d.http.post("/sessions", json={"id": "default", "bridge": bridge}), 409,
            "session_exists")  # fmt: skip
    created = d.http.post("/sessions", json={"id": "twice", "name": "Twice", "bridge": bridge})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "twice" and created.json()["name"] == "Twice"
    refused(d.http.post("/sessions", json={"id": "twice", "bridge": bridge}), 409,
            "session_exists")  # fmt: skip
    assert d.http.delete("/sessions/twice").status_code == 204
    refused(d.http.delete("/sessions/twice"), 404, "session_not_found")
    refused(d.http.get("/sessions/twice"), 404, "session_not_found")
    refused(d.http.delete("/sessions/default"), 409, "session_is_default")


def test_an_unknown_session_is_404_on_every_scoped_route(d: Deployment) -> None:
    chat = next(iter(d.chats("default")))
    for method, route, body in scoped_routes(chat, "ABC", "someone"):
        response = d.http.request(method, f"/sessions/nope{route}", json=body)
        refused(response, 404, "session_not_found")
    refused(d.http.get("/sessions/nope"), 404, "session_not_found")


def test_an_unknown_session_on_a_stream_is_404(d: Deployment) -> None:
    base = d.orchestrator.base_url
    for sessions in ("nope", "default,nope"):
        for path, params in (("/events", {}), ("/events/poll", {"timeout": "0"})):
            response = httpx.get(f"{base}{path}", params={"session": sessions, **params},
                                 headers=HEADERS, timeout=5)  # fmt: skip
            refused(response, 404, "session_not_found")
        url = f"{base.replace('http://', 'ws://')}/ws?access_token={TOKEN}&session={sessions}"
        with connect(url, open_timeout=5) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 4404, ws.close_code


class Watcher:
    """One stream client of the session about to be deleted, reading in a thread until its
    stream ends (or `stop`): its envelopes and how it ended."""

    def __init__(self, kind: str, base: str, sessions: str | None) -> None:
        self.kind, self.base = kind, base
        self.params = {"session": sessions} if sessions else {}
        self.envelopes: list[dict[str, Any]] = []
        self.ended: str | None = None  # "eof", "close <code>", "answered"
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            getattr(self, f"_{self.kind}")()
        except BaseException as exc:  # reported by the test thread
            self.error = exc
            self.connected.set()

    def _sse(self) -> None:
        with httpx.stream("GET", f"{self.base}/events", params=self.params, headers=HEADERS,
                          timeout=httpx.Timeout(5.0, read=30.0)) as r:  # fmt: skip
            assert r.status_code == 200, r.read()
            self.connected.set()

            def lines() -> Iterator[str]:
                for line in r.iter_lines():
                    if self.stop.is_set():
                        return
                    yield line

            self.envelopes.extend(parse_sse(lines()))
            self.ended = "eof"

    def _ws(self) -> None:
        query = "".join(f"&{k}={v}" for k, v in self.params.items())
        url = f"{self.base.replace('http://', 'ws://')}/ws?access_token={TOKEN}{query}"
        with connect(url, open_timeout=5, max_queue=None) as ws:
            self.connected.set()
            while not self.stop.is_set():
                try:
                    self.envelopes.append(orjson.loads(ws.recv(timeout=1.0)))
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    self.ended = f"close {ws.close_code}"
                    return

    def _poll(self) -> None:
        since = httpx.get(f"{self.base}/events/poll", params=self.params, headers=HEADERS,
                          timeout=5).json()["lastEventId"]  # fmt: skip

        def trace(event: str, info: dict[str, Any]) -> None:
            if event == "http11.receive_response_headers.started":
                self.connected.set()  # the request is out: the server has it to wait on

        params = {**self.params, "since": since, "timeout": "30"}
        with httpx.Client(headers=HEADERS, timeout=40) as client:
            request = client.build_request("GET", f"{self.base}/events/poll", params=params,
                                           extensions={"trace": trace})  # fmt: skip
            body = client.send(request)
        assert body.status_code == 200, body.text
        self.envelopes.extend(body.json()["events"])
        self.ended = "answered"


def stream_clients(d: Deployment) -> float:
    text = d.http.get("/metrics").text
    return sum(metric_value(text, f'wa_stream_clients{{kind="{k}"}}') for k in ("sse", "websocket"))


@pytest.mark.parametrize("purge", [False, True], ids=["kept", "purged"])
def test_deleting_a_session_ends_its_streams_with_session_deleted(
    d: Deployment, purge: bool
) -> None:
    session = f"gone-{'p' if purge else 'k'}"
    endpoints = d.numbers["sales"].endpoints  # a second session on the sales bridge: data flows
    created = d.http.post("/sessions", json={"id": session, "bridge": {
        "pub": endpoints.pub, "router": endpoints.router}})  # fmt: skip
    assert created.status_code == 201, created.text
    wait_for(f"{session}'s chats", lambda: d.chats(session))
    base = d.orchestrator.base_url
    # Counted from none: an earlier test's clients still leaving would spoil the count.
    wait_for("no stream client left", lambda: stream_clients(d) == 0)
    only = [Watcher(kind, base, session) for kind in ("sse", "ws", "poll")]
    everyone = [Watcher(kind, base, None) for kind in ("sse", "ws")]
    for watcher in only + everyone:
        assert watcher.connected.wait(10) and watcher.error is None, watcher.error
    wait_for("the stream clients to connect", lambda: stream_clients(d) >= 4)

    deleted = d.http.delete(f"/sessions/{session}", params={"purge": "true"} if purge else {})
    assert deleted.status_code == 204, deleted.text
    final = {"sessionId": session, "purged": purge}

    for watcher in only:
        watcher.thread.join(15)
        assert watcher.error is None, (watcher.kind, watcher.error)
        assert watcher.ended == {"sse": "eof", "ws": "close 1000", "poll": "answered"}[
            watcher.kind], (watcher.kind, watcher.ended)  # fmt: skip
        last = watcher.envelopes[-1]
        assert (last["type"], last["session"], last["data"]) == ("session_deleted", session,
                                                                 final)  # fmt: skip
    for watcher in everyone:
        wait_for(
            f"{watcher.kind}: session_deleted",
            lambda w=watcher: any(e["type"] == "session_deleted" for e in w.envelopes),
        )
        assert watcher.ended is None, f"{watcher.kind} of every session ended: {watcher.ended}"
        watcher.stop.set()
        [envelope] = [e for e in watcher.envelopes if e["type"] == "session_deleted"]
        assert (envelope["session"], envelope["data"]) == (session, final)
        watcher.thread.join(10)  # gone before the next test counts its own clients
    # Its data stays for a later re-creation unless purged.
    assert d.store_file(session).exists() is not purge
    refused(d.http.get(f"/sessions/{session}/chats"), 404, "session_not_found")
    refused(d.http.delete(f"/sessions/{session}"), 404, "session_not_found")
    assert d.chats("sales")  # the bridge's other session goes on


def test_a_proxy_the_bridge_could_not_use_is_refused_without_echoing_it(d: Deployment) -> None:
    """The bridge would refuse these at start (and its spawn would fail over and over)."""
    bridge = {"pub": "ipc:///tmp/nobody-pub-3", "router": "ipc:///tmp/nobody-router-3"}
    for proxy in (
        "http://:3128",
        "http://proxy.example:99999",
        "http://proxy.example:0",
        "socks5://proxy.example:1080/path",
        "http://user:s3cret@proxy.example:notaport",
    ):
        answer = d.http.post("/sessions", json={"id": "px", "bridge": bridge, "proxy": proxy})
        refused(answer, 400, "bad_proxy")
        assert "s3cret" not in answer.text
    assert "px" not in {s["id"] for s in d.http.get("/sessions").json()["sessions"]}


def test_a_proxy_is_answered_without_its_credentials(d: Deployment) -> None:
    bridge = {"pub": "ipc:///tmp/nobody-pub-4", "router": "ipc:///tmp/nobody-router-4"}
    body = {"id": "proxied", "bridge": bridge, "proxy": "socks5h://agent:s3cret@10.0.0.9:1080"}
    created = d.http.post("/sessions", json=body)
    assert created.status_code == 201, created.text
    try:
        for answer in (created, d.http.get("/sessions"), d.http.get("/sessions/proxied")):
            assert "s3cret" not in answer.text and "agent:" not in answer.text
        assert d.http.get("/sessions/proxied").json()["proxy"] == "socks5h://10.0.0.9:1080"
    finally:
        assert d.http.delete("/sessions/proxied", params={"purge": "true"}).status_code == 204


def test_a_scoped_chat_socket_serves_that_sessions_chat_only(d: Deployment) -> None:
    """`/sessions/{id}/ws/chat/{chatId}` is that session's chat: only its envelopes, from the
    start (the captures share chat ids, so the other number's would show), and a chat that
    number does not have is 4404."""
    chat = next(iter(d.chats("sales")))
    ws_base = d.orchestrator.base_url.replace("http://", "ws://")

    def url(session: str, chat: str) -> str:
        return f"{ws_base}/sessions/{session}/ws/chat/{chat}?access_token={TOKEN}&lastEventId="

    envelopes: list[dict[str, Any]] = []
    with (
        connect(url("sales", chat), open_timeout=5, max_queue=None) as ws,
        pytest.raises(TimeoutError),
    ):
        while True:  # everything retained arrives at once; then nothing more
            envelopes.append(orjson.loads(ws.recv(timeout=2)))
    assert envelopes
    assert {e["session"] for e in envelopes} == {"sales"}
    unknown = "5511900000017@s.whatsapp.net"
    assert unknown not in d.chats("sales")
    with (
        connect(url("sales", unknown), open_timeout=5) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
