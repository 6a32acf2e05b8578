"""Agent presence (agentpresence.py, ephemeral.py): online by held connections, states that
lapse, membership per session; the routes in-process (POST agent-presence, GET /agents, a
long-poll that asks for ephemeral envelopes). Over real processes: test_agentpresence_e2e."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agentpresence import AgentPresence
from orchestrator.ephemeral import EphemeralFeed, Item
from orchestrator.principal import Principal
from tests.inprocess import served
from tests.test_permissions import SECRET, user_token

CHAT = "5511900000001@s.whatsapp.net"
OTHER = "5511900000002@s.whatsapp.net"


class Desk:
    """An AgentPresence whose envelopes are kept; `members` says who may use which session."""

    def __init__(self, members: dict[str, set[str]], **lapses: float) -> None:
        self.members = members
        self.sent: list[Item] = []
        self.presence = AgentPresence(
            self.publish,
            sessions=lambda: ["default", "sales"],
            may_use=lambda user, session: session in self.members.get(user, set()),
            name=lambda user: f"name of {user}",
            **lapses,
        )

    def publish(self, items: Iterable[Item]) -> None:
        self.sent.extend(items)

    def data(self) -> list[dict[str, Any]]:
        return [item[3] for item in self.sent]

    def take(self) -> list[tuple[str, str | None, Any, Any]]:
        """(session, chat, online, state) of what was sent since the last take."""
        taken = [(i[0], i[2], i[3]["online"], i[3]["state"]) for i in self.sent]
        self.sent.clear()
        return taken


def agent(user: str) -> Principal:
    return Principal(user, "agent", user)


async def until(what: str, condition: Any, timeout: float = 10.0) -> None:
    """Poll `condition` (a state kept in RAM, no event to wait on) until true or timeout."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@pytest.mark.anyio
async def test_two_tabs_keep_an_agent_online_until_both_close() -> None:
    desk = Desk({"ana": {"default"}, "bia": {"default", "sales"}})
    presence = desk.presence
    with presence.connected(agent("ana")):
        assert desk.take() == [("default", None, True, None)]
        with presence.connected(agent("ana")):
            assert desk.take() == []  # a second tab: no news
        assert presence.online("default") == ["ana"]
        assert desk.take() == []
        with presence.connected(agent("bia")):
            assert desk.take() == [("default", None, True, None), ("sales", None, True, None)]
            assert presence.online("default") == ["ana", "bia"]  # the order they came
            assert presence.online("sales") == ["bia"]  # ana is not a member there
        assert desk.take() == [("default", None, False, None), ("sales", None, False, None)]
        assert presence.online("default") == ["ana"]
    assert desk.take() == [("default", None, False, None)]
    assert presence.online("default") == []
    assert desk.sent == []


@pytest.mark.anyio
async def test_the_api_token_is_no_agent() -> None:
    desk = Desk({})
    with desk.presence.connected(Principal(None, "admin", "operator")):
        assert desk.sent == []
        assert desk.presence.online("default") == []


@pytest.mark.anyio
async def test_membership_is_read_when_asked() -> None:
    desk = Desk({"ana": {"default"}})
    with desk.presence.connected(agent("ana")):
        assert desk.presence.online("sales") == []
        desk.members["ana"].add("sales")  # an admin added her to sales meanwhile
        assert desk.presence.online("sales") == ["ana"]


@pytest.mark.anyio
async def test_typing_lapses_to_viewing_and_viewing_to_nothing() -> None:
    desk = Desk({"ana": {"default"}}, typing_lapse=0.3, viewing_lapse=1.0)
    presence = desk.presence
    with presence.connected(agent("ana")):
        desk.take()
        started = time.monotonic()
        assert presence.set("ana", "default", CHAT, "typing") == "typing"
        assert desk.take() == [("default", CHAT, True, "typing")]
        assert presence.activity("ana", "default") == [(CHAT, "typing")]
        await until("typing lapsed", lambda: desk.sent)
        typed = time.monotonic() - started
        assert desk.take() == [("default", CHAT, True, "viewing")]
        await until("viewing lapsed", lambda: desk.sent)
        viewed = time.monotonic() - started
        assert desk.take() == [("default", CHAT, True, None)]
        assert presence.activity("ana", "default") == []
    assert 0.3 <= typed < 5, typed
    assert 1.0 <= viewed < 6, viewed


@pytest.mark.anyio
async def test_a_refresh_announces_nothing_and_postpones_the_lapse() -> None:
    desk = Desk({"ana": {"default"}}, typing_lapse=0.5)
    presence = desk.presence
    presence.set("ana", "default", CHAT, "typing")
    desk.take()
    for _ in range(4):  # 0.8 s of refreshes: longer than the lapse
        await asyncio.sleep(0.2)
        presence.set("ana", "default", CHAT, "typing")
    assert desk.take() == []
    assert presence.activity("ana", "default") == [(CHAT, "typing")]
    assert presence.set("ana", "default", CHAT, "idle") is None
    assert desk.take() == [("default", CHAT, False, None)]  # ana holds no stream: offline
    await asyncio.sleep(0.7)
    assert desk.sent == []  # the cancelled lapse never fires


@pytest.mark.anyio
async def test_going_offline_ends_every_activity() -> None:
    desk = Desk({"ana": {"default", "sales"}})
    with desk.presence.connected(agent("ana")):
        desk.presence.set("ana", "default", CHAT, "viewing")
        desk.presence.set("ana", "sales", OTHER, "typing")
        snapshot = {(i[0], i[2], i[3]["state"]) for i in desk.presence.snapshot()}
        assert snapshot == {
            ("default", None, None), ("sales", None, None),
            ("default", CHAT, "viewing"), ("sales", OTHER, "typing"),
        }  # fmt: skip
        desk.take()
    assert desk.take() == [("default", None, False, None), ("sales", None, False, None)]
    assert desk.presence.activity("ana", "default") == []
    assert list(desk.presence.snapshot()) == []


@pytest.mark.anyio
async def test_a_long_poll_keeps_its_agent_online_a_while_after() -> None:
    desk = Desk({"ana": {"default"}}, poll_linger=0.3)
    with desk.presence.polling(agent("ana")):
        assert desk.presence.online("default") == ["ana"]
    assert desk.presence.online("default") == ["ana"]
    with desk.presence.polling(agent("ana")):  # the next poll, within the linger
        await asyncio.sleep(0.4)
        assert desk.presence.online("default") == ["ana"]
    await until("offline", lambda: not desk.presence.online("default"))
    assert [d["online"] for d in desk.data()] == [True, False]


def test_the_ephemeral_ring_skips_what_a_slow_reader_lost() -> None:
    woken: list[int] = []
    feed = EphemeralFeed(lambda: woken.append(1), size=3)
    feed.publish([("default", "agent_presence", None, {"n": n}) for n in range(5)])
    assert woken == [1]
    entries, offset = feed.read(0)
    assert entries[0].json.endswith(b'"data":{"n":2}}')
    assert (len(entries), offset) == (3, 5)
    assert feed.read(5) == ([], 5)
    assert entries[0].id == "" and b"id:" not in entries[0].sse


# ---- the routes, in-process ---------------------------------------------------------------


@pytest.mark.anyio
async def test_routes_set_and_show_presence(tmp_path: Path) -> None:
    async with served(tmp_path, supabase_jwt_secret=SECRET) as s:
        s.bridge.publish("chats.upsert", [{"id": c, "conversationTimestamp": 1}
                                          for c in (CHAT, OTHER)])  # fmt: skip
        await s.applied()
        ana, bia = str(uuid.uuid4()), str(uuid.uuid4())
        for user, name in ((ana, "Ana"), (bia, "Bia")):
            profile = {"role": "agent", "displayName": name}
            (await s.http.put(f"/admin/profiles/{user}", json=profile)).raise_for_status()
        (await s.http.put(f"/chats/{OTHER}/assignment", json={"agentId": bia})).raise_for_status()
        async with s.client(user_token(ana)) as as_ana, s.client(user_token(bia)) as as_bia:
            # Bia long-polls for news (ephemeral=true) while Ana starts typing.
            start = (await as_bia.get("/events/poll")).json()["lastEventId"]
            params = {"since": start, "timeout": "10", "ephemeral": "true"}
            poll = asyncio.create_task(as_bia.get("/events/poll", params=params))
            await until("bia online", lambda: s.runtime.agent_presence.is_online(bia))
            response = await as_ana.post(f"/chats/{CHAT}/agent-presence", json={"state": "typing"})
            assert response.status_code == 202, response.text
            assert response.json() == {"chatId": CHAT, "state": "typing"}
            events = (await poll).json()["events"]
            assert events == [{"id": "", "type": "agent_presence", "session": "default", "data": {
                "userId": ana, "name": "Ana", "online": False, "chatId": CHAT,
                "state": "typing"}}]  # fmt: skip
            # The snapshot: Bia is online (her poll lingers), Ana types where Bia may see.
            agents = {a["name"]: a for a in (await as_bia.get("/agents")).json()["agents"]}
            assert agents["Bia"]["online"] and not agents["Ana"]["online"]
            assert agents["Ana"]["activity"] == [{"chatId": CHAT, "state": "typing"}]
            # Bia views her own chat: Ana may not see it, neither there nor on /agents.
            await as_bia.post(f"/chats/{OTHER}/agent-presence", json={"state": "viewing"})
            agents = {a["name"]: a for a in (await as_ana.get("/agents")).json()["agents"]}
            assert agents["Bia"]["activity"] == []
            agents = {a["name"]: a for a in (await s.http.get("/agents")).json()["agents"]}
            assert agents["Bia"]["activity"] == [{"chatId": OTHER, "state": "viewing"}]
            # A poll without ephemeral=true never carries one.
            start = (await as_bia.get("/events/poll")).json()["lastEventId"]
            plain = {"since": start, "timeout": "1"}
            poll = asyncio.create_task(as_bia.get("/events/poll", params=plain))
            await asyncio.sleep(0.2)
            await as_ana.post(f"/chats/{CHAT}/agent-presence", json={"state": "idle"})
            assert (await poll).json()["events"] == []


@pytest.mark.anyio
async def test_routes_refuse_bad_presence(tmp_path: Path) -> None:
    async with served(tmp_path, supabase_jwt_secret=SECRET) as s:
        s.bridge.publish("chats.upsert", [{"id": c, "conversationTimestamp": 1}
                                          for c in (CHAT, OTHER)])  # fmt: skip
        await s.applied()
        ana, bia = str(uuid.uuid4()), str(uuid.uuid4())
        for user in (ana, bia):
            profile = {"role": "agent", "displayName": user}
            (await s.http.put(f"/admin/profiles/{user}", json=profile)).raise_for_status()
        (await s.http.put(f"/chats/{OTHER}/assignment", json={"agentId": bia})).raise_for_status()
        async with s.client(user_token(ana)) as as_ana:
            cases = [
                (as_ana, CHAT, {"state": "dancing"}, 400, "bad_state"),
                (as_ana, CHAT, {}, 400, "bad_state"),
                (as_ana, OTHER, {"state": "viewing"}, 403, "forbidden"),  # Bia's chat
                (as_ana, "5511999999999", {"state": "viewing"}, 404, "chat_not_found"),
                (s.http, CHAT, {"state": "viewing"}, 403, "forbidden"),  # the API token
            ]
            for client, chat, body, status, code in cases:
                response = await client.post(f"/chats/{chat}/agent-presence", json=body)
                assert response.status_code == status, (chat, body, response.text)
                assert response.json()["error"]["code"] == code
            bad = await as_ana.get("/events/poll", params={"since": "", "ephemeral": "yes"})
            assert bad.status_code == 400
            assert bad.json()["error"]["code"] == "bad_request"
            missing = await as_ana.post(
                "/sessions/nope/chats/x/agent-presence", json={"state": "idle"}
            )
            assert missing.status_code == 404


@pytest.mark.anyio
async def test_console_config_names_supabase_only_when_configured(tmp_path: Path) -> None:
    async with served(tmp_path / "a") as s, s.client() as anonymous:
        response = await anonymous.get("/console/config")
        assert response.status_code == 200
        assert response.json() == {"supabase": None}
        assert (
            "connect-src 'self';" in (await anonymous.get("/")).headers["content-security-policy"]
        )
    settings = {"supabase_url": "http://auth.example:9999/", "supabase_anon_key": "anon-key"}
    async with served(tmp_path / "b", **settings) as s, s.client() as anonymous:
        config = (await anonymous.get("/console/config")).json()
        assert config == {"supabase": {"url": "http://auth.example:9999", "anonKey": "anon-key"}}
        policy = (await anonymous.get("/")).headers["content-security-policy"]
        assert "connect-src 'self' http://auth.example:9999;" in policy
