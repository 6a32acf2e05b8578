"""What a new user ran into (issue 12, defects d-f, h, i). What reaches the bridge runs against
a real stack: the Node bridge replaying a demo capture (WhatsApp open, so sends go as far as they
can) and `python -m orchestrator`; what the routes refuse before any bridge command runs
in-process (tests/inprocess.py). Each answer is checked as the frontend sees it: status and
error code."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from orchestrator.medialinks import MediaLinks
from tests.harness import TOKEN, Orchestrator, stack, wait_for
from tests.inprocess import served

PERSON = "5511900000021@s.whatsapp.net"  # Ana Silva, in the demo capture
UNKNOWN_PERSON = "5511900000999@s.whatsapp.net"
UNKNOWN_GROUP = "120363999999999999@g.us"
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    env = {"ORCH_SEND_RATE": 50, "ORCH_SEND_BURST": 50}
    with stack(tmp_path_factory.mktemp("refusals"), events=60, demo=True,
               orchestrator_env=env) as s:  # fmt: skip
        s.wait_open()
        wait_for("the demo chats", lambda: s.orchestrator.http.get(f"/chats/{PERSON}").is_success)
        yield s.orchestrator


@contextlib.asynccontextmanager
async def in_process(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, WhatsApp open, with PERSON's chat and one message from them."""
    async with served(tmp_path) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        s.bridge.publish("chats.upsert", [{"id": PERSON, "conversationTimestamp": 1}])
        s.bridge.publish("messages.upsert", {"type": "notify", "messages": [{
            "key": {"remoteJid": PERSON, "id": "FROM-ANA", "fromMe": False},
            "messageTimestamp": 1, "message": {"conversation": "olá"},
        }]})  # fmt: skip
        await s.applied()
        yield s.http


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# ---- d. metadata for a chat that does not exist ---------------------------------------------


@pytest.mark.anyio
async def test_metadata_routes_refuse_a_chat_that_does_not_exist(tmp_path: Path) -> None:
    async with in_process(tmp_path) as http:
        assert refusal(await http.get(f"/chats/{UNKNOWN_PERSON}")) == (404, "chat_not_found")
        (await http.put("/admin/profiles/agent-d", json={"role": "agent"})).raise_for_status()
        tag = (await http.post("/tags", json={"name": "d-tag"})).raise_for_status().json()
        calls = [
            ("PUT", f"/chats/{UNKNOWN_PERSON}/assignment", {"agentId": "agent-d"}),
            ("DELETE", f"/chats/{UNKNOWN_PERSON}/assignment", None),
            ("GET", f"/chats/{UNKNOWN_PERSON}/notes", None),
            ("POST", f"/chats/{UNKNOWN_PERSON}/notes", {"body": "a note about nobody"}),
            ("POST", f"/chats/{UNKNOWN_PERSON}/tags", {"tagId": tag["id"]}),
            ("DELETE", f"/chats/{UNKNOWN_PERSON}/tags/{tag['id']}", None),
        ]
        for method, path, body in calls:
            response = await http.request(method, path, json=body)
            assert refusal(response) == (404, "chat_not_found"), (method, path, response.text)
        # ... and nothing was written for it.
        activity = (await http.get("/activity", params={"chatId": UNKNOWN_PERSON})).json()
        assert activity["activity"] == []


# ---- e. duplicate names ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_duplicate_tag_names_and_shortcuts_are_409_whatever_their_case(
    tmp_path: Path,
) -> None:
    async with in_process(tmp_path) as http:
        first = await http.post("/tags", json={"name": "billing", "color": "#f00"})
        assert first.status_code == 201, first.text
        for name in ("billing", "Billing", "  BILLING "):
            response = await http.post("/tags", json={"name": name})
            assert refusal(response) == (409, "tag_exists"), (name, response.text)
            message = response.json()["error"]["message"]
            assert "UNIQUE" not in message and "constraint" not in message.lower(), message
        names = [t["name"].lower() for t in (await http.get("/tags")).json()["tags"]]
        assert names.count("billing") == 1

        reply = await http.post("/quick-replies", json={"shortcut": "hello", "body": "Hello!"})
        assert reply.status_code == 201, reply.text
        other = (await http.post("/quick-replies", json={"shortcut": "bye", "body": "Bye!"})).json()
        for shortcut in ("hello", "HELLO"):
            body = {"shortcut": shortcut, "body": "again"}
            response = await http.post("/quick-replies", json=body)
            assert refusal(response) == (409, "quick_reply_exists"), response.text
        renamed = await http.put(
            f"/quick-replies/{other['id']}", json={"shortcut": "Hello", "body": "x"}
        )
        assert refusal(renamed) == (409, "quick_reply_exists"), renamed.text
        assert "UNIQUE" not in renamed.json()["error"]["message"]


# ---- f. POST /send ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"text": "   \n\t "}, "blank_text", id="whitespace-only text"),
        pytest.param({"text": "x" * 65_537}, "text_too_long", id="text over 65,536"),
        pytest.param({"reaction": {"messageId": "M", "emoji": "ab"}}, "reaction_not_emoji",
                     id="reaction: letters"),
        pytest.param({"reaction": {"messageId": "M", "emoji": "👍👍"}}, "reaction_not_emoji",
                     id="reaction: two emoji"),
        pytest.param({"reaction": {"messageId": "M", "emoji": ":)"}}, "reaction_not_emoji",
                     id="reaction: an emoticon"),
        pytest.param({"media": {"type": "image", "base64": PNG, "url": "https://example.com/a.png"}},
                     "media_source_conflict", id="media with url and base64"),
        pytest.param({"text": 5}, "bad_text", id="text not a string"),
        pytest.param({}, "empty_message", id="nothing to send"),
    ],
)  # fmt: skip
@pytest.mark.anyio
async def test_send_refuses_what_whatsapp_would_not_take(
    tmp_path: Path, body: dict[str, Any], code: str
) -> None:
    async with in_process(tmp_path) as http:
        if "reaction" in body:
            page = await http.get(f"/chats/{PERSON}/messages", params={"limit": 1})
            body["reaction"]["messageId"] = page.json()["messages"][-1]["id"]
        response = await http.post("/send", json={"chatId": PERSON, **body})
    assert refusal(response) == (400, code), response.text[:300]


def test_send_takes_what_whatsapp_takes(live: Orchestrator) -> None:
    http = live.http
    newest = http.get(f"/chats/{PERSON}/messages", params={"limit": 1}).json()["messages"][-1]
    for emoji in ("👍", "👍🏽", "👨‍👩‍👧", "🇧🇷", "❤️", ""):
        reaction = {"messageId": newest["id"], "emoji": emoji}
        response = http.post("/send", json={"chatId": PERSON, "reaction": reaction})
        assert response.status_code == 202, (emoji, response.text)
    response = http.post("/send", json={"chatId": PERSON, "text": "x" * 65_536})
    assert response.status_code == 202, response.text[:300]


def test_a_group_whatsapp_does_not_know_is_404_not_a_ghost(live: Orchestrator) -> None:
    """It used to be accepted, and a group that exists nowhere appeared with the message
    "sent" in it."""
    http = live.http
    response = http.post("/send", json={"chatId": UNKNOWN_GROUP, "text": "hello?"})
    assert refusal(response) == (404, "chat_not_found"), response.text
    assert http.get(f"/chats/{UNKNOWN_GROUP}").status_code == 404
    known_groups = [c["id"] for c in http.get("/chats", params={"limit": 500}).json()["chats"]
                    if c["isGroup"]]  # fmt: skip
    assert known_groups, "the demo capture has groups"
    assert http.post("/send", json={"chatId": known_groups[0], "text": "hi"}).status_code == 202


# ---- i. media links without the token -------------------------------------------------------


def test_media_urls_are_signed_links_that_need_no_token(live: Orchestrator) -> None:
    http = live.http
    media = {"type": "image", "base64": PNG, "mimetype": "image/png"}
    sent = http.post("/send", json={"chatId": PERSON, "media": media})
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["message"]["id"]

    def stored() -> dict[str, Any] | None:
        page = http.get(f"/chats/{PERSON}/messages", params={"limit": 20}).json()["messages"]
        return next((m for m in page if m["id"] == message_id and m["media"]["url"]), None)

    url = wait_for("the sent photo with its link", stored)["media"]["url"]
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"exp", "sig"}, url
    lifetime = int(query["exp"][0]) - time.time()
    assert 0.7 * 86400 < lifetime <= 86400 + 5, lifetime  # ORCH_MEDIA_LINK_TTL: a day
    assert "access_token" not in url and "test-token" not in url
    # No token at all: the link is the credential.
    fetched = httpx.get(live.base_url + url, timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == base64.b64decode(PNG)
    assert fetched.headers["content-type"] == "image/png"
    # A link for another message, or a later expiry, under the same signature: refused.
    path, _, _ = url.partition("?")
    forged = [
        f"{path}?exp={int(query['exp'][0]) + 3600}&sig={query['sig'][0]}",
        f"{path}?exp={query['exp'][0]}&sig={'0' * 32}",
        f"{path}X?exp={query['exp'][0]}&sig={query['sig'][0]}",
    ]
    for bad in forged:
        assert refusal(httpx.get(live.base_url + bad, timeout=10)) == (403, "bad_media_signature")
    assert refusal(httpx.get(live.base_url + path, timeout=10)) == (401, "unauthorized")
    # With the token, the plain path still serves API clients.
    assert http.get(path).content == base64.b64decode(PNG)


@pytest.mark.anyio
async def test_an_expired_media_link_says_so(tmp_path: Path) -> None:
    ttl = 86400
    issued_long_ago = MediaLinks(TOKEN, ttl, clock=lambda: time.time() - 2 * ttl)
    url = issued_long_ago.url(PERSON, "ANY")
    async with served(tmp_path) as s, s.client() as anonymous:
        assert refusal(await anonymous.get(url)) == (403, "media_link_expired")


# ---- h. agents ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_agents_lists_everyone_with_a_profile(tmp_path: Path) -> None:
    async with in_process(tmp_path) as http:
        await http.put("/admin/profiles/agent-h1", json={"role": "agent", "displayName": "Ana"})
        await http.put("/admin/profiles/sup-h2", json={"role": "supervisor", "displayName": "Bia"})
        agents = (await http.get("/agents")).raise_for_status().json()["agents"]
    idle = {"online": False, "activity": []}  # agent presence: nobody holds a stream
    assert {"id": "agent-h1", "name": "Ana", "role": "agent", **idle} in agents
    assert {"id": "sup-h2", "name": "Bia", "role": "supervisor", **idle} in agents
    assert set(agents[0]) == {"id", "name", "role", "online", "activity"}
