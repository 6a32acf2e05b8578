"""Issue 13, richer sends: what `POST /send` refuses for a location, contact cards, a poll, a
forward, an edit and a delete, each with its own code, before anything reaches the bridge; and
the delete for you only, which is an app-state patch (`chatModify`), not a message. In-process
(tests/inprocess.py): the in-memory bridge records the commands it gets."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from orchestrator.errors import CommandError
from tests.inprocess import Served, served

PERSON = "5511900000021@s.whatsapp.net"
GROUP = "120363000000000001@g.us"
MEMBER = "5511900000022@s.whatsapp.net"


def incoming(chat: str, message_id: str, message: dict[str, Any], **key: Any) -> dict[str, Any]:
    return {"key": {"remoteJid": chat, "id": message_id, "fromMe": False, **key},
            "messageTimestamp": 1_700_000_000, "message": message}  # fmt: skip


def own(chat: str, message_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"key": {"remoteJid": chat, "id": message_id, "fromMe": True},
            "messageTimestamp": 1_700_000_100, "message": message}  # fmt: skip


@contextlib.asynccontextmanager
async def chat_with_history(
    tmp_path: Path,
    commands: list[tuple[str, Any]] | None = None,
    fail: str | None = None,
    **settings: Any,
) -> AsyncIterator[Served]:
    """WhatsApp open; PERSON's chat with their text and poll, our text, image and a message
    we deleted; a group with a member's text. `commands` collects what the bridge is asked;
    `fail` makes chatModify fail as Baileys does without an app-state key."""

    def bridge(method: str, params: Any) -> Any:
        if commands is not None:
            commands.append((method, params))
        if method == "chatModify" and fail is not None:
            raise CommandError(method, "failed", fail, {"statusCode": 400})
        return None

    async with served(tmp_path, handler=bridge, **settings) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        s.bridge.publish("chats.upsert", [{"id": PERSON, "conversationTimestamp": 1},
                                          {"id": GROUP, "conversationTimestamp": 1}])  # fmt: skip
        poll = {"pollCreationMessage": {"name": "?", "options": [{"optionName": "a"}]}}
        s.bridge.publish("messages.upsert", {"type": "notify", "messages": [
            incoming(PERSON, "THEIRS", {"conversation": "olá"}),
            incoming(PERSON, "THEIR-POLL", poll),
            own(PERSON, "MINE", {"conversation": "bom dia"}),
            own(PERSON, "MY-IMAGE", {"imageMessage": {"mimetype": "image/png"}}),
            own(PERSON, "MY-GONE", {"conversation": "oops"}),
            incoming(GROUP, "MEMBERS", {"conversation": "oi grupo"}, participant=MEMBER),
        ]})  # fmt: skip
        s.bridge.publish(
            "messages.update",
            [
                {
                    "key": {"remoteJid": PERSON, "id": "MY-GONE", "fromMe": True},
                    "update": {"message": None, "messageStubType": 1},
                }
            ],
        )
        await s.applied()
        yield s


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


LOCATION = {"latitude": -23.5, "longitude": -46.6}
POLL = {"name": "Nota?", "options": ["1", "2", "3"]}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        # one kind per send
        pytest.param({"location": LOCATION, "poll": POLL}, 400, "one_kind_per_send",
                     id="two kinds"),
        pytest.param({"text": "hi", "poll": POLL}, 400, "one_kind_per_send", id="text with a poll"),
        pytest.param({"edit": {"messageId": "MINE", "text": "x"}, "quotedId": "THEIRS"}, 400,
                     "one_kind_per_send", id="an edit that quotes"),
        # location
        pytest.param({"location": {"latitude": 1}}, 400, "bad_location",
                     id="location: no longitude"),
        pytest.param({"location": {**LOCATION, "name": ""}}, 400, "bad_location",
                     id="location: empty name"),
        pytest.param({"location": {**LOCATION, "latitude": 90.5}}, 400, "location_out_of_range",
                     id="latitude over 90"),
        pytest.param({"location": {**LOCATION, "longitude": -180.01}}, 400,
                     "location_out_of_range", id="longitude under -180"),
        # contacts
        pytest.param({"contacts": []}, 400, "bad_contacts", id="no contact"),
        pytest.param({"contacts": [{"name": "Ana"}]}, 400, "bad_contacts", id="contact: no phone"),
        pytest.param({"contacts": [{"name": "Ana", "phone": "1234"}]}, 400,
                     "invalid_contact_phone", id="contact: too few digits"),
        pytest.param({"contacts": [{"name": "Ana", "phone": "55 11 9abc-0000"}]}, 400,
                     "invalid_contact_phone", id="contact: letters"),
        pytest.param({"contacts": [{"name": "Ana", "phone": "1" * 16}]}, 400,
                     "invalid_contact_phone", id="contact: over 15 digits"),
        # poll
        pytest.param({"poll": {"options": ["a", "b"]}}, 400, "bad_poll", id="poll: no name"),
        pytest.param({"poll": {**POLL, "selectableCount": -1}}, 400, "bad_poll",
                     id="poll: negative selectableCount"),
        pytest.param({"poll": {**POLL, "options": ["só"]}}, 400, "bad_poll_options",
                     id="poll: one option"),
        pytest.param({"poll": {**POLL, "options": [str(i) for i in range(13)]}}, 400,
                     "bad_poll_options", id="poll: 13 options"),
        pytest.param({"poll": {**POLL, "options": ["sim", "não", " sim "]}}, 400,
                     "bad_poll_options", id="poll: the same option twice"),
        pytest.param({"poll": {**POLL, "selectableCount": 4}}, 400, "bad_poll_selectable_count",
                     id="poll: more to pick than options"),
        # forward
        pytest.param({"forward": {}}, 400, "bad_forward", id="forward: no messageId"),
        pytest.param({"forward": {"messageId": "NOPE"}}, 400, "unknown_message",
                     id="forward: unknown message"),
        pytest.param({"forward": {"messageId": "THEIR-POLL"}}, 400, "not_forwardable",
                     id="forward: a poll"),
        pytest.param({"forward": {"messageId": "MY-GONE"}}, 400, "not_forwardable",
                     id="forward: a deleted message"),
        # edit
        pytest.param({"edit": {"messageId": "MINE"}}, 400, "bad_edit", id="edit: no text"),
        pytest.param({"edit": {"messageId": "MINE", "text": " \n"}}, 400, "blank_text",
                     id="edit: blank text"),
        pytest.param({"edit": {"messageId": "MINE", "text": "x" * 65_537}}, 400, "text_too_long",
                     id="edit: text over 65,536"),
        pytest.param({"edit": {"messageId": "NOPE", "text": "x"}}, 400, "unknown_message",
                     id="edit: unknown message"),
        pytest.param({"edit": {"messageId": "THEIRS", "text": "x"}}, 403, "not_your_message",
                     id="edit: someone else's"),
        pytest.param({"edit": {"messageId": "MY-IMAGE", "text": "x"}}, 400, "not_editable",
                     id="edit: an image"),
        pytest.param({"edit": {"messageId": "MY-GONE", "text": "x"}}, 409, "already_deleted",
                     id="edit: a deleted message"),
        # delete
        pytest.param({"delete": {"messageId": "MINE"}}, 400, "bad_delete",
                     id="delete: no forEveryone"),
        pytest.param({"delete": {"messageId": "MINE", "forEveryone": "yes"}}, 400, "bad_delete",
                     id="delete: forEveryone not a boolean"),
        pytest.param({"delete": {"messageId": "NOPE", "forEveryone": True}}, 400,
                     "unknown_message", id="delete: unknown message"),
        pytest.param({"delete": {"messageId": "THEIRS", "forEveryone": True}}, 403,
                     "not_your_message", id="delete for everyone: someone else's, 1:1"),
        pytest.param({"delete": {"messageId": "MY-GONE", "forEveryone": False}}, 409,
                     "already_deleted", id="delete: already deleted"),
    ],
)  # fmt: skip
@pytest.mark.anyio
async def test_send_refuses_each_rich_kind_with_its_own_code(
    tmp_path: Path, body: dict[str, Any], status: int, code: str
) -> None:
    commands: list[tuple[str, Any]] = []
    async with chat_with_history(tmp_path, commands) as s:
        response = await s.http.post("/send", json={"chatId": PERSON, **body})
    assert refusal(response) == (status, code), response.text[:300]
    assert commands == []  # refused before anything reached WhatsApp


@pytest.mark.anyio
async def test_a_group_admin_may_revoke_a_members_message(tmp_path: Path) -> None:
    """WhatsApp decides whether we are an admin; only a 1:1 chat is refused up front."""
    async with chat_with_history(tmp_path) as s:
        body = {"chatId": GROUP, "delete": {"messageId": "MEMBERS", "forEveryone": True}}
        response = await s.http.post("/send", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["targetId"] == "MEMBERS" and response.json()["message"]["deleted"]


@pytest.mark.anyio
async def test_a_delete_for_me_is_an_app_state_patch_and_removes_it_for_every_agent(
    tmp_path: Path,
) -> None:
    commands: list[tuple[str, Any]] = []
    async with chat_with_history(tmp_path, commands) as s:
        body = {"chatId": PERSON, "delete": {"messageId": "THEIRS", "forEveryone": False}}
        response = await s.http.post("/send", json=body)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["sendId"] is None and answer["targetId"] == "THEIRS"
        assert answer["message"]["deleted"] is True
        key = {"remoteJid": PERSON, "id": "THEIRS", "fromMe": False}
        mod = {"deleteForMe": {"key": key, "timestamp": 1_700_000_000, "deleteMedia": True}}
        assert commands == [("chatModify", [mod, PERSON])]
        # What Baileys announces once the patch is applied (processSyncAction).
        s.bridge.publish("messages.delete", {"keys": [key]})
        await s.applied()
        page = (await s.http.get(f"/chats/{PERSON}/messages")).json()["messages"]
        assert "THEIRS" not in [m["id"] for m in page] and "MINE" in [m["id"] for m in page]


@pytest.mark.anyio
async def test_a_delete_for_me_before_the_phone_shared_its_keys_is_409(tmp_path: Path) -> None:
    async with chat_with_history(tmp_path, fail="chatModify: App state key not present!") as s:
        body = {"chatId": PERSON, "delete": {"messageId": "MINE", "forEveryone": False}}
        response = await s.http.post("/send", json=body)
    assert refusal(response) == (409, "app_state_not_ready"), response.text


SECRET = "project-jwt-secret-for-tests-0123456789"


def agent_token(user_id: str) -> str:
    claims = {"sub": user_id, "aud": "authenticated", "role": "authenticated",
              "exp": int(time.time()) + 3600}  # fmt: skip
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.anyio
async def test_an_agent_forwards_only_from_chats_it_may_see(tmp_path: Path) -> None:
    """A message in someone else's chat is as unknown as one that does not exist."""
    async with chat_with_history(tmp_path, supabase_jwt_secret=SECRET) as s:
        mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
        for user_id, chat in ((mine, GROUP), (theirs, PERSON)):
            profile = {"role": "agent", "displayName": user_id[:8]}
            (await s.http.put(f"/admin/profiles/{user_id}", json=profile)).raise_for_status()
            assigned = await s.http.put(f"/chats/{chat}/assignment", json={"agentId": user_id})
            assert assigned.status_code == 200, assigned.text
        async with s.client(agent_token(mine)) as agent:
            body = {"chatId": GROUP, "forward": {"messageId": "THEIRS"}}
            assert refusal(await agent.post("/send", json=body)) == (400, "unknown_message")
            body = {"chatId": GROUP, "forward": {"messageId": "MEMBERS"}}
            assert (await agent.post("/send", json=body)).status_code == 202
