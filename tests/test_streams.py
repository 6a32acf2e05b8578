"""Issue 3's stream checks, end to end: the bridge replays a capture built from real Baileys
protos, the orchestrator serves it, and real SSE, WebSocket and long-poll clients read it.
Refusals that are routes only (a bad position, a missing token) run in-process."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.clients import (
    Envelope,
    PollReader,
    SseReader,
    StreamReader,
    WebSocketReader,
    random_drops,
)
from tests.harness import TOKEN, make_capture, metric, stack, wait_for
from tests.inprocess import served


def run_all(readers: list[StreamReader], final: dict[str, str]) -> None:
    def done(envelopes: list[Envelope]) -> bool:
        return bool(envelopes) and envelopes[-1]["id"] == final.get("id")

    errors: list[BaseException] = []

    def run(reader: StreamReader) -> None:
        try:
            reader.run(done, timeout=90)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in readers]
    for thread in threads:
        thread.start()
    return_threads = threads
    for thread in return_threads:
        thread.join()
    if errors:
        raise errors[0]


def test_sse_websocket_and_long_poll_deliver_one_sequence_through_random_disconnects(
    tmp_path: Path,
) -> None:
    events = 1500
    capture = make_capture(tmp_path / "capture.jsonl", events, history=200, rich=True)
    with stack(tmp_path, capture=capture, bridge=False) as s:
        base = s.orchestrator.base_url
        # All start at the very first event (""), before the bridge exists.
        reference = SseReader(base, last_id="")
        readers: list[StreamReader] = [
            reference,
            WebSocketReader(base, last_id=""),
            PollReader(base, last_id=""),
            SseReader(base, last_id="", drop_after=random_drops(1, 120)),
            WebSocketReader(base, last_id="", drop_after=random_drops(2, 120)),
            PollReader(base, last_id="", drop_after=random_drops(3, 120)),
        ]
        final: dict[str, str] = {}
        runner = threading.Thread(target=run_all, args=(readers, final))
        runner.start()

        s.start_bridge(BRIDGE_REPLAY_RATE=600)
        s.applied()
        final["id"] = s.orchestrator.last_event_id()
        runner.join(120)
        assert not runner.is_alive()

    expected = reference.envelopes
    ids = [e["id"] for e in expected]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert len(expected) > 1000
    assert {e["type"] for e in expected} >= {
        "new_chat", "new_message", "message_ack", "message_update", "contact_update",
        "sync_progress", "chat_update",
    }  # fmt: skip
    for reader in readers[1:]:
        name = f"{type(reader).__name__} ({reader.connections} connections)"
        assert reader.envelopes == expected, name
    assert all(reader.connections > 3 for reader in readers[3:])


def test_a_resume_from_an_evicted_position_gets_resync_first_and_never_a_partial_replay(
    tmp_path: Path,
) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 600)
    with stack(tmp_path, capture=capture, orchestrator_env={"ORCH_STREAM_RETENTION": 100}) as s:
        orchestrator = s.orchestrator
        # seq 2 is chats.upsert: its first new_chat was in the log once, and is long evicted.
        evicted = f"{s.bridge.state()['epoch']}:2:0"
        head = orchestrator.last_event_id()

        for since in (evicted, ""):
            body = orchestrator.http.get("/events/poll", params={"since": since}).json()
            assert [e["type"] for e in body["events"]] == ["resync"]
            assert body["lastEventId"] == head == body["events"][0]["id"]

        sse = SseReader(orchestrator.base_url, last_id=evicted)
        sse.run(lambda envelopes: len(envelopes) >= 1, timeout=10)
        assert sse.envelopes[0] == {
            "id": head, "type": "resync", "session": "default",
            "data": {"reason": "position_not_retained"},
        }  # fmt: skip

        with connect(
            f"ws://127.0.0.1:{orchestrator.port}/ws?access_token={TOKEN}&lastEventId={evicted}"
        ) as ws:
            assert '"type":"resync"' in ws.recv(timeout=5)
            with pytest.raises(TimeoutError):
                ws.recv(timeout=1.0)  # nothing after it: the stream goes on from the head


@pytest.mark.anyio
async def test_malformed_positions_are_a_clear_400(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        for bad in ("garbage", "e:1", "../../etc/passwd", "x" * 500):
            response = await s.http.get("/events/poll", params={"since": bad})
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "bad_event_id"
            response = await s.http.get("/events", headers={"Last-Event-ID": bad})
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "bad_event_id"


def websocket_refusal(url: str) -> tuple[int | None, dict[str, str]]:
    """The close code and JSON reason of a WebSocket the server refuses."""
    with connect(url, open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        reason: dict[str, str] = json.loads(ws.close_reason or "{}")
        return ws.close_code, reason


def test_websocket_refusals_are_distinct_close_codes_with_the_rest_error_codes(
    tmp_path: Path,
) -> None:
    """A browser cannot read a refused handshake, only a close: each refusal is the REST
    status + 4000, with the REST error code in a JSON reason (it was a bare 403 before)."""
    with stack(tmp_path) as s:  # no capture: an orchestrator alone
        orchestrator = s.orchestrator
        ws = f"ws://127.0.0.1:{orchestrator.port}"
        unknown_chat = "5511900000001@s.whatsapp.net"
        cases = {
            f"{ws}/ws": (4401, "unauthorized", "/chats", {}),
            f"{ws}/ws?access_token=wrong": (4401, "unauthorized", "/chats", {"access_token": "x"}),
            f"{ws}/ws?access_token={TOKEN}&lastEventId=bad": (
                4400, "bad_event_id", "/events/poll", {"access_token": TOKEN, "since": "bad"},
            ),
            f"{ws}/ws/chat/{unknown_chat}?access_token={TOKEN}": (
                4404, "chat_not_found", f"/chats/{unknown_chat}", {"access_token": TOKEN},
            ),
        }  # fmt: skip
        for url, (close_code, code, rest_path, params) in cases.items():
            got_code, reason = websocket_refusal(url)
            assert (got_code, reason.get("code")) == (close_code, code), (url, got_code, reason)
            assert reason["message"], url
            rest = httpx.get(orchestrator.base_url + rest_path, params=params, timeout=5)
            assert rest.status_code == close_code - 4000, rest.text
            assert rest.json()["error"]["code"] == code


@pytest.mark.anyio
async def test_streams_and_rest_need_the_token(tmp_path: Path) -> None:
    async with served(tmp_path) as s, s.client() as anonymous:
        for path in ("/events", "/events/poll", "/chats", "/status", "/admin/bridge", "/qr"):
            response = await anonymous.get(path, params={"access_token": "wrong"})
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthorized"
        assert (await anonymous.get("/health")).json() == {"status": "ok"}
        params: dict[str, str | int] = {"access_token": TOKEN, "timeout": 0}
        assert (await anonymous.get("/events/poll", params=params)).status_code == 200


def test_the_chat_websocket_carries_only_that_chat(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 400, chats=5)
    with stack(tmp_path, capture=capture, bridge_first=False) as s:
        orchestrator = s.orchestrator
        chat_id = orchestrator.http.get("/chats").json()["chats"][0]["id"]

        everything = PollReader(orchestrator.base_url, last_id="")
        everything.run(lambda e: bool(e) and e[-1]["id"] == orchestrator.last_event_id())
        reader = WebSocketReader(orchestrator.base_url, last_id="", path=f"/ws/chat/{chat_id}")
        expected = [
            e
            for e in everything.envelopes
            if e["data"].get("chatId", e["data"].get("id")) == chat_id
        ]
        reader.run(lambda e: len(e) >= len(expected), timeout=20)
        assert reader.envelopes == expected
        assert {e["type"] for e in expected} >= {"new_message", "new_chat"}


def test_idle_clients_get_pings_a_long_poll_waits_its_whole_timeout_and_a_close_is_noticed(
    tmp_path: Path,
) -> None:
    """The ping tick wakes every idle stream client at once; it must not end a long-poll early,
    and a client that hangs up while idle must be let go without waiting for a ping."""
    with stack(tmp_path, orchestrator_env={"ORCH_SSE_PING_INTERVAL": 0.5}) as s:
        orchestrator = s.orchestrator
        base, auth = orchestrator.base_url, {"Authorization": f"Bearer {TOKEN}"}

        with httpx.stream("GET", base + "/events", headers=auth, timeout=10) as response:
            # Held in a name: leaving a `for` over it would close the generator, and the response.
            lines = response.iter_lines()
            started, pings = time.monotonic(), 0
            while pings < 3:
                pings += next(lines) == ": ping"
            assert 1.0 <= time.monotonic() - started < 8, "pings not at the ping interval"
            assert metric(orchestrator, 'wa_stream_clients{kind="sse"}') == 1
        wait_for("the closed SSE client let go", lambda: metric(
            orchestrator, 'wa_stream_clients{kind="sse"}') == 0, timeout=2)  # fmt: skip

        with connect(f"ws://127.0.0.1:{orchestrator.port}/ws?access_token={TOKEN}") as socket:
            # The client offers permessage-deflate, as browsers do; compressing each frame once per
            # client would undo encoding each event once for all of them.
            assert "permessage-deflate" in socket.request.headers["Sec-WebSocket-Extensions"]
            assert "Sec-WebSocket-Extensions" not in socket.response.headers
            wait_for("the WebSocket client counted", lambda: metric(
                orchestrator, 'wa_stream_clients{kind="websocket"}') == 1)  # fmt: skip
        wait_for("the closed WebSocket client let go", lambda: metric(
            orchestrator, 'wa_stream_clients{kind="websocket"}') == 0, timeout=2)  # fmt: skip

        since = orchestrator.http.get("/events/poll").json()["lastEventId"]
        started = time.monotonic()
        response = orchestrator.http.get("/events/poll", params={"since": since, "timeout": 2})
        assert response.status_code == 200 and response.json()["events"] == []
        assert time.monotonic() - started >= 1.9, "the ping tick ended the long-poll early"
