"""Chat status and the inbox views through the API, in process (issue 16): `status` on every
Chat, `PUT /chats/{chatId}/status` with its activity entry and `chat_update`, a customer's
message reopening a chat (and what does not reopen one), `GET /chats?assigned=&tag=&status=`
and `GET /inbox/counts` for staff and for agents, every refusal, and the store across a
restart. Users are real JWTs (tests.test_permissions) with profiles set through the API."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inprocess import Served, served
from tests.test_permissions import SECRET, user_token

pytestmark = pytest.mark.anyio

CHATS = [f"55119111000{n:02d}@s.whatsapp.net" for n in range(1, 5)]
A, B, C, D = CHATS  # A is agent1's, B agent2's, C and D unassigned; A and C tagged vip
ROLES = {"supervisor": "supervisor", "agent1": "agent", "agent2": "agent"}


def incoming(chat: str, message_id: str, *, at: int | None = None, from_me: bool = False) -> Any:
    """A messages.upsert as Baileys emits a message arriving now ('notify')."""
    return {"type": "notify", "messages": [{
        "key": {"remoteJid": chat, "id": message_id, "fromMe": from_me},
        "messageTimestamp": int(time.time()) if at is None else at,
        "message": {"conversation": f"text of {message_id}"},
    }]}  # fmt: skip


class Desk:
    def __init__(self, s: Served) -> None:
        self.served, self.admin = s, s.http
        self.users = {name: str(uuid.uuid4()) for name in ROLES}
        self.vip = 0
        self._clients: list[httpx.AsyncClient] = []

    def client(self, name: str) -> httpx.AsyncClient:
        client = self.served.client(user_token(self.users[name]))
        self._clients.append(client)
        return client

    async def set_up(self) -> None:
        s = self.served
        s.bridge.publish("chats.upsert", [
            {"id": chat, "conversationTimestamp": 100 - n} for n, chat in enumerate(CHATS)
        ])  # fmt: skip
        await s.applied()
        for name, user_id in self.users.items():
            profile = {"role": ROLES[name], "displayName": name}
            (await self.admin.put(f"/admin/profiles/{user_id}", json=profile)).raise_for_status()
        for chat, agent in ((A, "agent1"), (B, "agent2")):
            body = {"agentId": self.users[agent]}
            (await self.admin.put(f"/chats/{chat}/assignment", json=body)).raise_for_status()
        self.vip = (await self.admin.post("/tags", json={"name": "vip"})).json()["id"]
        for chat in (A, C):
            body = {"tagId": self.vip}
            (await self.admin.post(f"/chats/{chat}/tags", json=body)).raise_for_status()

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@contextlib.asynccontextmanager
async def desk_in(tmp_path: Path, set_up: bool = True) -> AsyncIterator[Desk]:
    async with served(tmp_path, supabase_jwt_secret=SECRET) as s:
        desk = Desk(s)
        if set_up:
            await desk.set_up()
        try:
            yield desk
        finally:
            await desk.close()


async def ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/chats", params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["chats"]]


async def statuses(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/chats")
    return {c["id"]: c["status"] for c in response.json()["chats"]}


async def put_status(client: httpx.AsyncClient, chat: str, status: str) -> httpx.Response:
    return await client.put(f"/chats/{chat}/status", json={"status": status})


async def eventually(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def activity(s: Served, chat: str) -> list[tuple[str | None, str, Any]]:
    rows = (await s.http.get("/activity", params={"chatId": chat})).json()["activity"]
    return [(r["actorId"], r["action"], r["details"]) for r in rows]


# ---- status ---------------------------------------------------------------------------------


async def test_a_status_is_set_listed_logged_and_streamed(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        s, admin = desk.served, desk.admin
        assert await statuses(admin) == dict.fromkeys(CHATS, "open")
        _, since = await s.events("")
        supervisor = desk.client("supervisor")
        response = await put_status(supervisor, C, "resolved")
        assert (response.status_code, response.json()) == (200, {"chatId": C, "status": "resolved"})
        assert (await admin.get(f"/chats/{C}")).json()["status"] == "resolved"
        assert (await statuses(admin))[C] == "resolved"  # the cached staff page moved on
        assert (await statuses(supervisor))[C] == "resolved"
        got, since = await s.events(since)
        assert [(e["type"], e["data"]["id"]) for e in got] == [("chat_update", C)]
        assert got[0]["data"]["status"] == "resolved"
        assert got[0]["data"]["tags"] == [{"id": desk.vip, "name": "vip", "color": None}]
        assert await activity(s, C) == [
            (desk.users["supervisor"], "status_changed", {"from": "open", "to": "resolved"}),
            (None, "chat_tagged", {"tagId": desk.vip}),  # the API token has no user id
        ]
        # the same status again changes nothing: no entry, no event
        assert (await put_status(supervisor, C, "resolved")).status_code == 200
        assert (await s.events(since))[0] == []
        assert len(await activity(s, C)) == 2


async def test_an_agent_sets_the_status_of_the_chats_he_sees_only(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        agent1 = desk.client("agent1")
        assert (await put_status(agent1, A, "pending")).json() == {"chatId": A, "status": "pending"}
        assert (await put_status(agent1, D, "resolved")).status_code == 200  # unassigned: his too
        response = await put_status(agent1, B, "resolved")  # agent2's
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        assert await statuses(desk.admin) == {A: "pending", B: "open", C: "open", D: "resolved"}


@pytest.mark.parametrize(
    "body", [{"status": "closed"}, {"status": "OPEN"}, {"status": None}, {"status": 1}, {}]
)
async def test_a_bad_status_is_400_bad_status(tmp_path: Path, body: Any) -> None:
    async with desk_in(tmp_path, set_up=False) as desk:
        desk.served.bridge.publish("chats.upsert", [{"id": A, "conversationTimestamp": 1}])
        await desk.served.applied()
        response = await desk.admin.put(f"/chats/{A}/status", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "bad_status"
        missing = await desk.admin.put(f"/chats/{D}/status", json={"status": "resolved"})
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "chat_not_found")
        assert (await desk.admin.get(f"/chats/{A}")).json()["status"] == "open"


# ---- reopening ------------------------------------------------------------------------------


async def test_a_customers_new_message_reopens_a_resolved_or_pending_chat(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        s, admin = desk.served, desk.admin
        for chat, status in ((A, "resolved"), (B, "pending"), (C, "resolved")):
            (await put_status(admin, chat, status)).raise_for_status()
        _, since = await s.events("")
        s.bridge.publish("messages.upsert", incoming(A, "NEW-A"))
        s.bridge.publish("messages.upsert", incoming(B, "NEW-B"))
        s.bridge.publish("messages.upsert", incoming(C, "OURS", from_me=True))  # our own reply
        await s.applied()
        assert await statuses(admin) == {A: "open", B: "open", C: "resolved", D: "open"}
        got, _ = await s.events(since)
        seen = [(e["type"], e["data"]["id"]) for e in got]
        # each reopening follows its message (the batch's messages may come first); our own
        # message reopens nothing
        assert sorted(seen) == sorted([
            ("new_message", "NEW-A"), ("new_message", "NEW-B"), ("new_message", "OURS"),
            ("chat_update", A), ("chat_update", B),
        ])  # fmt: skip
        assert seen.index(("chat_update", A)) > seen.index(("new_message", "NEW-A"))
        assert seen.index(("chat_update", B)) > seen.index(("new_message", "NEW-B"))
        assert [e["data"]["status"] for e in got if e["type"] == "chat_update"] == ["open"] * 2

        async def logged() -> bool:
            return any(action == "status_reopened" for _, action, _ in await activity(s, B))

        await eventually("the reopening in the activity log", logged)
        assert (await activity(s, B))[0] == (
            None, "status_reopened", {"from": "pending", "to": "open", "messageId": "NEW-B"},
        )  # fmt: skip


async def test_history_and_messages_older_than_the_status_reopen_nothing(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        s, admin = desk.served, desk.admin
        (await put_status(admin, A, "resolved")).raise_for_status()
        an_hour_ago = int(time.time()) - 3600
        s.bridge.publish("messaging-history.set", {
            "chats": [], "contacts": [], "isLatest": False, "messages": [{
                "key": {"remoteJid": A, "id": "HISTORY-1", "fromMe": False},
                "messageTimestamp": int(time.time()), "message": {"conversation": "old news"},
            }],
        })  # fmt: skip
        # delivered late (WhatsApp held it while we were offline), or replayed after a restart
        # before the store had it: written before the agent resolved the chat
        s.bridge.publish("messages.upsert", incoming(A, "LATE", at=an_hour_ago))
        await s.applied()
        messages = (await admin.get(f"/chats/{A}/messages")).json()["messages"]
        assert {"HISTORY-1", "LATE"} <= {m["id"] for m in messages}
        assert (await statuses(admin))[A] == "resolved"


async def test_a_status_and_a_reopening_survive_a_restart(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        s, admin = desk.served, desk.admin
        s.bridge.publish("messages.upsert", incoming(A, "BEFORE"))
        await s.applied()
        (await put_status(admin, A, "resolved")).raise_for_status()
        (await put_status(admin, B, "pending")).raise_for_status()
        journal = list(s.bridge.journal)
    async with served(tmp_path, supabase_jwt_secret=SECRET) as s:
        assert await statuses(s.http) == {A: "resolved", B: "pending", C: "open", D: "open"}
        s.continue_journal(journal)  # what the bridge held: applied already, reopens nothing
        s.bridge.publish("messages.upsert", incoming(B, "AFTER"))
        await s.applied()
        assert await statuses(s.http) == {A: "resolved", B: "open", C: "open", D: "open"}
        journal = list(s.bridge.journal)
    async with served(tmp_path, supabase_jwt_secret=SECRET) as s:  # the reopening was stored
        s.continue_journal(journal)
        await s.applied()
        assert await statuses(s.http) == {A: "resolved", B: "open", C: "open", D: "open"}
        assert (await activity(s, B))[0][:2] == (None, "status_reopened")


# ---- inbox views ----------------------------------------------------------------------------


async def test_filters_combine_for_staff(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        admin, supervisor = desk.admin, desk.client("supervisor")
        (await put_status(admin, A, "resolved")).raise_for_status()
        (await put_status(admin, C, "pending")).raise_for_status()
        assert await ids(admin) == CHATS
        assert await ids(admin, assigned="none") == [C, D]
        assert await ids(admin, assigned=desk.users["agent1"]) == [A]
        assert await ids(admin, assigned="me") == []  # the API token is nobody's agent
        assert await ids(admin, tag=str(desk.vip)) == [A, C]
        assert await ids(admin, status="open") == [B, D]
        assert await ids(admin, status="resolved", tag=str(desk.vip)) == [A]
        assert await ids(admin, assigned="none", tag=str(desk.vip), status="pending") == [C]
        assert await ids(admin, assigned="none", status="resolved") == []
        assert await ids(admin, assigned="", tag="", status="") == CHATS  # empty: no filter
        # paging through a filtered list
        assert await ids(admin, assigned="none", limit=1) == [C]
        assert await ids(admin, assigned="none", limit=1, before=C) == [D]
        # "me" is each staff member's own: the cached pages keep them apart
        body = {"agentId": desk.users["supervisor"]}
        (await admin.put(f"/chats/{D}/assignment", json=body)).raise_for_status()
        assert await ids(supervisor, assigned="me") == [D]
        assert await ids(admin, assigned="me") == []
        # a change shows in a filtered page that was served before it
        (await put_status(supervisor, D, "resolved")).raise_for_status()
        assert await ids(admin, status="resolved") == [A, D]
        assert await ids(supervisor, status="open") == [B]


async def test_filters_for_an_agent_stay_within_what_he_sees(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        agent1 = desk.client("agent1")
        (await put_status(desk.admin, B, "resolved")).raise_for_status()
        (await put_status(desk.admin, D, "resolved")).raise_for_status()
        assert await ids(agent1) == [A, C, D]
        assert await ids(agent1, assigned="me") == [A]
        assert await ids(agent1, assigned="none") == [C, D]
        assert await ids(agent1, assigned=desk.users["agent2"]) == []  # not his to see
        assert await ids(agent1, tag=str(desk.vip)) == [A, C]
        assert await ids(agent1, status="resolved") == [D]  # B is agent2's
        assert await ids(agent1, status="open", tag=str(desk.vip), limit=1) == [A]
        assert await ids(agent1, status="open", tag=str(desk.vip), limit=1, before=A) == [C]


async def test_counts_for_staff_and_for_an_agent(tmp_path: Path) -> None:
    async with desk_in(tmp_path) as desk:
        admin, agent1 = desk.admin, desk.client("agent1")
        (await put_status(admin, A, "resolved")).raise_for_status()
        (await put_status(admin, C, "pending")).raise_for_status()
        vip = str(desk.vip)

        async def counts(client: httpx.AsyncClient, **params: Any) -> Any:
            response = await client.get("/inbox/counts", params=params)
            assert response.status_code == 200, response.text
            return response.json()

        assert await counts(admin) == {
            "mine": 0, "unassigned": 2, "all": 4,
            "statuses": {"open": 2, "pending": 1, "resolved": 1}, "tags": {vip: 2},
        }  # fmt: skip
        assert await counts(admin, status="open") == {
            "mine": 0, "unassigned": 1, "all": 2,
            "statuses": {"open": 2, "pending": 1, "resolved": 1}, "tags": {vip: 0},
        }  # fmt: skip
        assert await counts(agent1) == {
            "mine": 1, "unassigned": 2, "all": 3,
            "statuses": {"open": 1, "pending": 1, "resolved": 1}, "tags": {vip: 2},
        }  # fmt: skip
        assert await counts(agent1, status="resolved") == {
            "mine": 1, "unassigned": 0, "all": 1,
            "statuses": {"open": 1, "pending": 1, "resolved": 1}, "tags": {vip: 1},
        }  # fmt: skip
        # the session's own route answers the same
        scoped = await agent1.get("/sessions/default/inbox/counts", params={"status": "resolved"})
        assert scoped.json() == await counts(agent1, status="resolved")


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/chats", {"status": "closed"}, "bad_status"),
        ("/chats", {"status": "Open"}, "bad_status"),
        ("/chats", {"assigned": "nobody-we-know"}, "bad_assigned"),
        ("/chats", {"assigned": "ME"}, "bad_assigned"),
        ("/chats", {"tag": "999"}, "bad_tag"),
        ("/chats", {"tag": "vip"}, "bad_tag"),
        ("/chats", {"tag": "-1"}, "bad_tag"),
        ("/chats", {"tag": "1" * 40}, "bad_tag"),
        ("/inbox/counts", {"status": "done"}, "bad_status"),
        ("/sessions/default/chats", {"status": "x"}, "bad_status"),
    ],
)
async def test_unknown_filter_values_are_400_with_their_code(
    tmp_path: Path, path: str, params: dict[str, str], code: str
) -> None:
    async with desk_in(tmp_path, set_up=False) as desk:
        for client in (desk.admin, desk.client("agent1")):
            if client is not desk.admin:  # an agent needs a profile
                body = {"role": "agent"}
                user = desk.users["agent1"]
                (await desk.admin.put(f"/admin/profiles/{user}", json=body)).raise_for_status()
            response = await client.get(path, params=params)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == code
