"""POST /chats/{chatId}/presence in-process: what reaches the bridge (a presence subscribe once
per WhatsApp connection, then the chat state; account-wide states without a jid) and the
refusals. The real-protocol path is tests/test_presence_e2e.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.errors import CommandError
from tests.inprocess import served

PERSON = "5511911110001@s.whatsapp.net"
ME = {"id": "5511999990000:1@s.whatsapp.net", "lid": "1@lid"}


class Recorder:
    """The bridge's side of the commands: records them; fails those named in `failing`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failing: set[str] = set()

    def __call__(self, method: str, params: Any) -> Any:
        if method in self.failing:
            raise CommandError(method, "failed", "WhatsApp said no")
        self.calls.append((method, params))
        return None

    def presence_calls(self) -> list[tuple[str, Any]]:
        return [c for c in self.calls if c[0] in ("presenceSubscribe", "sendPresenceUpdate")]


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.anyio
async def test_a_chat_state_subscribes_once_per_connection(tmp_path: Path) -> None:
    bridge = Recorder()
    async with served(tmp_path, bridge) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        first = await s.http.post("/chats/+55 11 91111-0001/presence", json={"state": "composing"})
        assert first.status_code == 202, first.text
        assert first.json() == {"chatId": PERSON, "state": "composing", "subscribed": True}
        again = await s.http.post(f"/chats/{PERSON}/presence", json={"state": "paused"})
        assert again.json()["subscribed"] is False
        recording = await s.http.post(f"/chats/{PERSON}/presence", json={"state": "recording"})
        assert recording.status_code == 202
        assert bridge.presence_calls() == [
            ("presenceSubscribe", [PERSON]),
            ("sendPresenceUpdate", ["composing", PERSON]),
            ("sendPresenceUpdate", ["paused", PERSON]),
            ("sendPresenceUpdate", ["recording", PERSON]),
        ]
        # A reconnect: WhatsApp forgot the subscription, so it is sent again.
        s.bridge.publish("connection.update", {"connection": "close"})
        s.bridge.publish("connection.update", {"connection": "connecting"})
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        bridge.calls.clear()
        after = await s.http.post(f"/chats/{PERSON}/presence", json={"state": "composing"})
        assert after.json()["subscribed"] is True
        assert bridge.presence_calls() == [
            ("presenceSubscribe", [PERSON]),
            ("sendPresenceUpdate", ["composing", PERSON]),
        ]


@pytest.mark.anyio
async def test_a_failed_subscribe_is_not_remembered(tmp_path: Path) -> None:
    bridge = Recorder()
    async with served(tmp_path, bridge) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        bridge.failing.add("presenceSubscribe")
        failed = await s.http.post(f"/chats/{PERSON}/presence", json={"state": "composing"})
        assert refusal(failed) == (502, "bridge_error")
        bridge.failing.clear()
        ok = await s.http.post(f"/chats/{PERSON}/presence", json={"state": "composing"})
        assert ok.json()["subscribed"] is True


@pytest.mark.anyio
async def test_available_and_unavailable_are_account_wide(tmp_path: Path) -> None:
    bridge = Recorder()
    async with served(tmp_path, bridge) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        s.bridge.publish("creds.update", {"me": ME})
        await s.applied()
        # Baileys would drop it silently: without a name it announces no presence.
        nameless = await s.http.post(f"/chats/{PERSON}/presence", json={"state": "available"})
        assert refusal(nameless) == (409, "no_push_name")
        s.bridge.publish("creds.update", {"me": {**ME, "name": "Helpdesk"}})
        await s.applied()
        for state in ("available", "unavailable"):
            answer = await s.http.post(f"/chats/{PERSON}/presence", json={"state": state})
            assert answer.status_code == 202, answer.text
            assert answer.json() == {"chatId": PERSON, "state": state, "subscribed": False}
        assert bridge.presence_calls() == [
            ("sendPresenceUpdate", ["available"]),
            ("sendPresenceUpdate", ["unavailable"]),
        ]


@pytest.mark.anyio
async def test_refusals(tmp_path: Path) -> None:
    bridge = Recorder()
    async with served(tmp_path, bridge) as s:
        await s.applied()
        offline = await s.http.post(f"/chats/{PERSON}/presence", json={"state": "composing"})
        assert refusal(offline) == (409, "not_connected")
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        url = f"/chats/{PERSON}/presence"
        for body in ({"state": "typing"}, {"state": 1}, {}, {"state": None}):
            assert refusal(await s.http.post(url, json=body)) == (400, "bad_state"), body
        assert refusal(await s.http.post(url, content=b"{")) == (400, "invalid_json")
        bad_id = await s.http.post("/chats/not-a-chat/presence", json={"state": "composing"})
        assert refusal(bad_id) == (400, "invalid_chat_id")
        no_token = await s.client().post(url, json={"state": "composing"})
        assert no_token.status_code == 401
        assert bridge.presence_calls() == []
