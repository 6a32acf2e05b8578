"""Agent presence over the real stack (the Node bridge replaying a capture, uvicorn, ZeroMQ):
two agents with Supabase-style tokens. Agent B, on a WebSocket and on an SSE stream (both with
?ephemeral=true), sees agent A come online, start typing in a chat, stop, and go offline when
A's stream closes; the delay from A's POST to B's envelope is measured on both and printed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.harness import Stack, make_capture, stack, wait_for
from tests.test_permissions import SECRET, user_token

Envelope = dict[str, Any]
Seen = tuple[float, Envelope]  # (time.monotonic() on arrival, envelope)


class Watcher:
    """One stream in a thread, keeping each envelope with its arrival time."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _take(self, envelope: Envelope) -> None:
        with self._lock:
            self.seen.append((time.monotonic(), envelope))

    def presence(self) -> list[Seen]:
        with self._lock:
            return [(t, e) for t, e in self.seen if e["type"] == "agent_presence"]

    def first(self, match: Callable[[dict[str, Any]], bool], after: float = 0.0) -> Seen:
        """The first agent_presence envelope matching `match` (on its data) since `after`."""
        return wait_for(
            "an agent_presence envelope",
            lambda: next((s for s in self.presence() if s[0] >= after and match(s[1]["data"])),
                         None),
            timeout=20,
        )  # fmt: skip


class WebSocketWatcher(Watcher):
    def __init__(self, base_url: str, token: str) -> None:
        super().__init__()
        url = base_url.replace("http://", "ws://") + f"/ws?access_token={token}&ephemeral=true"
        self.ws: ClientConnection = connect(url, open_timeout=5, max_queue=None)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                frame = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except Exception:
                return  # closed
            self._take(orjson.loads(frame))

    def close(self) -> None:
        self.stop.set()
        self.ws.close()
        self.thread.join(10)


class SseWatcher(Watcher):
    def __init__(self, base_url: str, token: str) -> None:
        super().__init__()
        self.url = f"{base_url}/events"
        self.token = token
        self.opened = threading.Event()
        self.thread.start()
        assert self.opened.wait(10), "the SSE stream did not open"

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = httpx.Timeout(5.0, read=1.0)
        fields: dict[str, str] = {}
        while not self.stop.is_set():
            try:
                with httpx.stream("GET", self.url, headers=headers, timeout=timeout,
                                  params={"ephemeral": "true"}) as response:  # fmt: skip
                    assert response.status_code == 200
                    self.opened.set()
                    for line in response.iter_lines():
                        if self.stop.is_set():
                            return
                        if line == "" and "data" in fields:
                            envelope = orjson.loads(fields["data"])
                            # An ephemeral envelope names no position: no `id:` line, id "".
                            assert ("id" in fields) == (envelope["id"] != ""), fields
                            self._take(envelope)
                            fields = {}
                        elif line and not line.startswith(":"):
                            name, _, value = line.partition(":")
                            fields[name] = value.removeprefix(" ")
            except httpx.ReadTimeout:
                continue  # a quiet stream: go on (the ping comes every ORCH_SSE_PING_INTERVAL)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


class Desk:
    def __init__(self, s: Stack) -> None:
        self.base = s.orchestrator.base_url
        self.admin = s.orchestrator.http
        self.users = {"ana": str(uuid.uuid4()), "bia": str(uuid.uuid4())}
        for name, user_id in self.users.items():
            profile = {"role": "agent", "displayName": name.title()}
            self.admin.put(f"/admin/profiles/{user_id}", json=profile).raise_for_status()
        self.chat = sorted(c["id"] for c in self.admin.get("/chats").json()["chats"])[0]

    def token(self, name: str) -> str:
        return user_token(self.users[name])

    def client(self, name: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(name)}"}
        return httpx.Client(base_url=self.base, timeout=5, headers=headers)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp: Path = tmp_path_factory.mktemp("agentpresence")
    with stack(
        tmp, capture=make_capture(tmp / "capture.jsonl", 200, chats=4),
        orchestrator_env={"SUPABASE_JWT_SECRET": SECRET, "ORCH_SSE_PING_INTERVAL": 1},
    ) as s:  # fmt: skip
        yield Desk(s)


def test_agent_b_sees_a_come_online_type_stop_and_leave(desk: Desk) -> None:
    ana, bia = desk.users["ana"], desk.users["bia"]
    b_ws = WebSocketWatcher(desk.base, desk.token("bia"))
    b_sse = SseWatcher(desk.base, desk.token("bia"))
    watchers = {"WebSocket": b_ws, "SSE": b_sse}
    try:
        # B's own streams start with the state now: B is online.
        for watcher in watchers.values():
            watcher.first(lambda d: d["userId"] == bia and d["online"] and d["chatId"] is None)
        # A comes online (a WebSocket of their own).
        since = time.monotonic()
        a_ws = WebSocketWatcher(desk.base, desk.token("ana"))
        for watcher in watchers.values():
            watcher.first(lambda d: d == {"userId": ana, "name": "Ana", "online": True,
                                          "chatId": None, "state": None}, since)  # fmt: skip
        # A types: measured from just before A's POST to B's envelope.
        delays: dict[str, float] = {}
        posted = time.monotonic()
        with desk.client("ana") as as_ana:
            response = as_ana.post(f"/chats/{desk.chat}/agent-presence", json={"state": "typing"})
            assert response.status_code == 202, response.text
            for kind, watcher in watchers.items():
                at, envelope = watcher.first(
                    lambda d: d["userId"] == ana and d["state"] == "typing", posted
                )
                assert envelope["data"] == {"userId": ana, "name": "Ana", "online": True,
                                            "chatId": desk.chat, "state": "typing"}  # fmt: skip
                assert envelope["id"] == "" and envelope["session"] == "default"
                delays[kind] = at - posted
            agents = {a["id"]: a for a in as_ana.get("/agents").json()["agents"]}
            assert agents[ana]["online"] and agents[bia]["online"]
            assert agents[ana]["activity"] == [{"chatId": desk.chat, "state": "typing"}]
            # A stops: B hears the chat's state end.
            stopped = time.monotonic()
            as_ana.post(f"/chats/{desk.chat}/agent-presence", json={"state": "idle"})
            for watcher in watchers.values():
                watcher.first(lambda d: d["userId"] == ana and d["chatId"] == desk.chat
                              and d["state"] is None, stopped)  # fmt: skip
        # A's stream closes: A goes offline.
        closed = time.monotonic()
        a_ws.close()
        for watcher in watchers.values():
            watcher.first(lambda d: d["userId"] == ana and d["online"] is False, closed)
        offline_after = b_ws.first(lambda d: d["userId"] == ana and not d["online"], closed)[0]
        agents = {a["id"]: a for a in desk.admin.get("/agents").json()["agents"]}
        assert not agents[ana]["online"] and agents[bia]["online"]
        print(
            f"\nagent presence: POST typing -> B's envelope: WebSocket "
            f"{delays['WebSocket'] * 1000:.1f} ms, SSE {delays['SSE'] * 1000:.1f} ms; "
            f"A's close -> B's offline {(offline_after - closed) * 1000:.1f} ms"
        )
        for kind, delay in delays.items():
            assert delay < 5.0, (kind, delay)  # live; measured above, margin for a busy machine
    finally:
        for watcher in watchers.values():
            watcher.close()


def test_an_sse_stream_counts_and_a_typing_lapses_by_itself(desk: Desk) -> None:
    """A on SSE this time; B on a WebSocket. A typing that is not refreshed lapses (~6 s) to
    viewing, announced without anyone posting."""
    ana, bia = desk.users["ana"], desk.users["bia"]
    b_ws = WebSocketWatcher(desk.base, desk.token("bia"))
    try:
        since = time.monotonic()
        a_sse = SseWatcher(desk.base, desk.token("ana"))
        b_ws.first(lambda d: d["userId"] == ana and d["online"] and d["chatId"] is None, since)
        # Two tabs: a second stream of A's, closed, leaves A online.
        a_tab = WebSocketWatcher(desk.base, desk.token("ana"))
        a_tab.close()
        with desk.client("ana") as as_ana:
            posted = time.monotonic()
            as_ana.post(f"/chats/{desk.chat}/agent-presence", json={"state": "typing"})
            b_ws.first(lambda d: d["userId"] == ana and d["state"] == "typing", posted)
            at, _ = b_ws.first(lambda d: d["userId"] == ana and d["state"] == "viewing", posted)
            assert 5.0 <= at - posted < 20, at - posted
        assert not any(
            e["data"]["userId"] == ana and not e["data"]["online"]
            for t, e in b_ws.presence()
            if t >= since
        ), "a closed second tab took A offline"
        agents = {a["id"]: a for a in desk.admin.get("/agents").json()["agents"]}
        assert agents[ana]["online"] and agents[bia]["online"]
        closed = time.monotonic()
        a_sse.close()
        b_ws.first(lambda d: d["userId"] == ana and d["online"] is False, closed)
    finally:
        b_ws.close()
