"""GET /search and GET /chats/{chatId}/messages/{messageId} in-process (routes only): who sees
what, paging, refusals, and a message found in the store beyond RAM's window."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inprocess import Served, served
from tests.test_permissions import jwks_url, rest_desk  # noqa: F401  (a fixture)

pytestmark = pytest.mark.anyio

PERSON = "5511912345678@s.whatsapp.net"
OTHER = "5511987654321@s.whatsapp.net"


def text(chat: str, message_id: str, when: int, body: str, from_me: bool = False) -> Any:
    return {
        "key": {"remoteJid": chat, "id": message_id, "fromMe": from_me},
        "messageTimestamp": when,
        "message": {"conversation": body},
    }


def publish(s: Served, *messages: Any) -> None:
    s.bridge.publish("messages.upsert", {"type": "notify", "messages": list(messages)})


async def found(http: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    """The ids /search answers, once the store has what RAM has (it is written behind)."""
    response = await http.get("/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["messages"]]


async def stored(s: Served, q: str, count: int) -> None:
    """Until the write-behind has stored `count` messages that match `q`."""
    async with asyncio.timeout(10):
        while True:
            if len(await found(s.http, q, limit=500)) >= count:
                return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def chats(tmp_path: Path, **settings: Any) -> AsyncIterator[Served]:
    async with served(tmp_path, **settings) as s:
        publish(
            s,
            text(PERSON, "P1", 100, "Olá, a fatura de março chegou?"),
            text(PERSON, "P2", 101, "fatura fatura paga"),
            text(OTHER, "O1", 102, "Minha fatura venceu"),
            text(OTHER, "O2", 103, "bom dia", from_me=True),
        )
        await s.applied()
        await stored(s, "fatura", 3)
        yield s


async def test_every_word_ranked_paged_and_whole_messages(tmp_path: Path) -> None:
    async with chats(tmp_path) as s:
        assert await found(s.http, "fatura") == ["P2", "O1", "P1"]  # P2 twice; then newest
        assert await found(s.http, "FATURA marco") == ["P1"]  # case and accents aside
        assert await found(s.http, "fatu") == ["P2", "O1", "P1"]  # the last word a prefix
        assert await found(s.http, "fatura", chatId="5511987654321") == ["O1"]  # a phone works
        first = (await s.http.get("/search", params={"q": "fatura", "limit": 2})).json()
        assert [m["id"] for m in first["messages"]] == ["P2", "O1"] and first["nextOffset"] == 2
        params = {"q": "fatura", "limit": 2, "offset": first["nextOffset"]}
        last = (await s.http.get("/search", params=params)).json()
        assert [m["id"] for m in last["messages"]] == ["P1"] and last["nextOffset"] is None
        [message] = (await s.http.get("/search", params={"q": "venceu"})).json()["messages"]
        assert message["chatId"] == OTHER and message["text"] == "Minha fatura venceu"
        assert message["fromMe"] is False and message["status"] is not None
        scoped = await s.http.get("/sessions/default/search", params={"q": "bom"})
        assert [m["id"] for m in scoped.json()["messages"]] == ["O2"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({}, "bad_q"), ({"q": ""}, "bad_q"), ({"q": "   "}, "bad_q"), ({"q": "a" * 201}, "bad_q"),
     ({"q": "x", "limit": "0"}, "bad_limit"), ({"q": "x", "limit": "501"}, "bad_limit"),
     ({"q": "x", "offset": "-1"}, "bad_offset"), ({"q": "x", "offset": "abc"}, "bad_offset"),
     ({"q": "x", "offset": "10001"}, "bad_offset"), ({"q": "x", "offset": "²"}, "bad_offset"),
     ({"q": "x", "chatId": "not a chat"}, "invalid_chat_id")],
)  # fmt: skip
async def test_bad_input_is_refused(tmp_path: Path, params: dict[str, str], code: str) -> None:
    async with served(tmp_path) as s:
        response = await s.http.get("/search", params=params)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code)


async def test_hostile_queries_are_words(tmp_path: Path) -> None:
    async with chats(tmp_path) as s:
        for q in ('"', "*", "-", ":", "NEAR(a b)", "fatura OR", "a:b", "😀", "\x00", "'--", "%"):
            response = await s.http.get("/search", params={"q": q})
            assert response.status_code == 200, (q, response.text)
        assert await found(s.http, '"fatura"') == ["P2", "O1", "P1"]
        assert await found(s.http, "fatura OR nada") == []  # OR is a word, and not there
        assert await found(s.http, "a" * 200) == []  # at the limit: searched


async def test_an_unknown_chat_is_404(tmp_path: Path) -> None:
    async with chats(tmp_path) as s:
        response = await s.http.get("/search", params={"q": "x", "chatId": "5511900000000"})
        assert (response.status_code, response.json()["error"]["code"]) == (404, "chat_not_found")


async def test_one_message_from_ram_or_from_the_store(tmp_path: Path) -> None:
    async with chats(tmp_path) as s:
        message = (await s.http.get(f"/chats/{PERSON}/messages/P1")).json()
        assert (message["id"], message["chatId"], message["text"]) == (
            "P1", PERSON, "Olá, a fatura de março chegou?",
        )  # fmt: skip
        response = await s.http.get(f"/chats/{PERSON}/messages/NOPE")
        assert (response.status_code, response.json()["error"]["code"]) == (
            404, "message_not_found",
        )  # fmt: skip
        response = await s.http.get(f"/chats/{PERSON}/messages/O1")  # another chat's
        assert response.status_code == 404
        response = await s.http.get("/chats/5511900000000/messages/P1")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "chat_not_found")
    # Restarted with a window of one message per chat: P1 is only in the store now.
    async with served(tmp_path, chat_window=1, epoch="again") as s:
        ram = (await s.http.get(f"/chats/{PERSON}/messages", params={"limit": 1})).json()
        assert [m["id"] for m in ram["messages"]] == ["P2"]
        message = (await s.http.get(f"/chats/{PERSON}/messages/P1")).json()
        assert (message["id"], message["text"]) == ("P1", "Olá, a fatura de março chegou?")
        assert await found(s.http, "marco") == ["P1"]  # search reads the store, not RAM


async def test_agents_find_only_what_they_may_see(tmp_path: Path, jwks_url: str) -> None:  # noqa: F811
    async with rest_desk(tmp_path, jwks_url) as desk:
        s = desk.served
        publish(s, *(text(chat, f"M{n}", 100 + n, "pedido atrasado")
                     for n, chat in enumerate((desk.a, desk.b, *desk.free))))  # fmt: skip
        await s.applied()
        everyone = 2 + len(desk.free)
        await stored(s, "pedido", everyone)
        ids = {chat: f"M{n}" for n, chat in enumerate((desk.a, desk.b, *desk.free))}
        free = {ids[c] for c in desk.free}
        assert set(await found(desk.client("agent1"), "pedido", limit=500)) == {ids[desk.a], *free}
        assert set(await found(desk.client("agent2"), "pedido", limit=500)) == {ids[desk.b], *free}
        assert len(await found(desk.client("supervisor"), "pedido", limit=500)) == everyone
        agent1 = desk.client("agent1")
        response = await agent1.get("/search", params={"q": "pedido", "chatId": desk.b})
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        response = await agent1.get(f"/chats/{desk.b}/messages/{ids[desk.b]}")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        own = await agent1.get(f"/chats/{desk.a}/messages/{ids[desk.a]}")
        assert own.status_code == 200 and own.json()["text"] == "pedido atrasado"
        # Released, agent2's chat is unassigned: agent1 finds it at once.
        (await s.http.delete(f"/chats/{desk.b}/assignment")).raise_for_status()
        assert ids[desk.b] in await found(agent1, "pedido", limit=500)


GROUP = "120363040000000001@g.us"


async def test_chats_ignored_since_they_were_stored_are_not_searched(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        group_message = text(GROUP, "G1", 100, "pedido no grupo")
        group_message["key"]["participant"] = PERSON
        publish(s, group_message, text(PERSON, "P1", 101, "pedido direto"))
        await s.applied()
        await stored(s, "pedido", 2)
    async with served(tmp_path, ignore="groups", epoch="again") as s:
        assert await found(s.http, "pedido") == ["P1"]
