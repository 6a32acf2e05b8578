"""Issue 3's REST checks: after a history sync plus live traffic (reactions, edits, revokes,
acks), `/chats` and `/chats/{id}/messages` equal a straightforward computation over the same
capture (real processes); and bad requests get clear 4xx errors (in-process: routes only)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Orchestrator, make_capture, stack
from tests.inprocess import served

EVENTS = 1500


def text_of(message: dict[str, Any]) -> tuple[str, str | None]:
    if "conversation" in message:
        return "text", message["conversation"]
    if "extendedTextMessage" in message:
        return "text", message["extendedTextMessage"]["text"]
    if "imageMessage" in message:
        return "image", message["imageMessage"].get("caption")
    raise AssertionError(f"the capture has a kind this reference does not know: {list(message)}")


def reference(capture: Path) -> dict[str, dict[str, Any]]:
    """Chats and their messages, computed plainly from the capture in order."""
    chats: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}

    def chat(jid: str) -> dict[str, Any]:
        return chats.setdefault(jid, {"name": None, "unread": 0, "ts": 0, "messages": {}})

    def add(raw: dict[str, Any], notify: bool) -> None:
        key = raw["key"]
        kind, text = text_of(raw["message"])
        c = chat(key["remoteJid"])
        if key["id"] in c["messages"]:
            return
        from_me = bool(key.get("fromMe"))
        c["messages"][key["id"]] = {
            "id": key["id"], "chatId": key["remoteJid"], "fromMe": from_me,
            "sender": None if from_me else key.get("participant") or key["remoteJid"],
            "timestamp": raw["messageTimestamp"], "type": kind, "text": text,
            "ack": raw.get("status", 2 if from_me else 3), "edited": False, "deleted": False,
            "reactions": {}, "hasMedia": kind == "image",
        }  # fmt: skip
        c["ts"] = max(c["ts"], raw["messageTimestamp"])
        if notify and not from_me:
            c["unread"] += 1

    for line in capture.read_text().splitlines():
        event, data = json.loads(line)["event"], json.loads(line)["data"]
        if event == "chats.upsert":
            for conv in data:
                c = chat(conv["id"])
                c["name"] = conv.get("name", c["name"])
                c["unread"] = conv.get("unreadCount", c["unread"])
                c["ts"] = max(c["ts"], conv.get("conversationTimestamp", 0))
        elif event == "contacts.upsert":
            names.update({contact["id"]: contact["name"] for contact in data})
        elif event == "messaging-history.set":
            for conv in data["chats"]:
                chat(conv["id"])["unread"] = conv.get("unreadCount", 0)
            for raw in data["messages"]:
                add(raw, notify=False)
        elif event == "messages.upsert":
            for raw in data["messages"]:
                add(raw, notify=data["type"] == "notify")
        elif event == "messages.update":
            for item in data:
                message = chat(item["key"]["remoteJid"])["messages"].get(item["key"]["id"])
                update = item["update"]
                if message is None:
                    continue
                if "status" in update:
                    message["ack"] = max(message["ack"], update["status"])
                if update.get("message") is None and update.get("messageStubType") == 1:
                    message.update(deleted=True, text=None, hasMedia=False)
                elif update.get("message") and not message["deleted"]:
                    edited = update["message"]["editedMessage"]["message"]["conversation"]
                    message.update(text=edited, edited=True)
        elif event == "messages.reaction":
            for item in data:
                message = chat(item["key"]["remoteJid"])["messages"].get(item["key"]["id"])
                sender, emoji = item["reaction"]["key"]["participant"], item["reaction"]["text"]
                if message is not None:
                    message["reactions"].pop(sender, None)
                    if emoji:
                        message["reactions"][sender] = emoji
    for jid, c in chats.items():
        c["name"] = c["name"] or names.get(jid)
    return chats


def all_pages(orchestrator: Orchestrator, path: str, key: str, newest_first: bool) -> Iterator[Any]:
    before: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if before is not None:
            params["before"] = before
        page = orchestrator.http.get(path, params=params).raise_for_status().json()[key]
        yield from page if newest_first else reversed(page)
        if len(page) < 7:
            return
        before = page[-1]["id"] if newest_first else page[0]["id"]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orchestrator, Path]]:
    tmp_path = tmp_path_factory.mktemp("rest")
    capture = make_capture(tmp_path / "capture.jsonl", EVENTS, history=300, rich=True)
    with stack(tmp_path, capture=capture) as s:
        yield s.orchestrator, capture


def test_chats_and_messages_equal_a_reference_computed_from_the_capture(
    replayed: tuple[Orchestrator, Path],
) -> None:
    orchestrator, capture = replayed
    expected = reference(capture)
    chats = list(all_pages(orchestrator, "/chats", "chats", newest_first=True))

    order = sorted(expected, key=lambda jid: (-expected[jid]["ts"], jid))
    assert [c["id"] for c in chats] == order
    for served_chat in chats:
        want = expected[served_chat["id"]]
        assert served_chat["name"] == want["name"]
        assert served_chat["unreadCount"] == want["unread"], served_chat["id"]
        assert served_chat["timestamp"] == want["ts"]
        assert served_chat["isGroup"] == served_chat["id"].endswith("@g.us")

        messages = list(
            all_pages(orchestrator, f"/chats/{served_chat['id']}/messages", "messages", False)
        )[::-1]
        want_messages = sorted(want["messages"].values(), key=lambda m: m["timestamp"])
        assert [m["id"] for m in messages] == [m["id"] for m in want_messages]
        for got, ref in zip(messages, want_messages, strict=True):
            reactions = {r["sender"]: r["emoji"] for r in got["reactions"]}
            got_fields = {k: got[k] for k in ref if k in got and k != "reactions"}
            assert got_fields == {k: ref[k] for k in got_fields}, got["id"]
            assert reactions == ref["reactions"], got["id"]
            assert (got["media"] is not None) == ref["hasMedia"], got["id"]
        assert served_chat["lastMessage"]["id"] == want_messages[-1]["id"]
    kinds = {m["type"] for c in expected.values() for m in c["messages"].values()}
    flags = [m for c in expected.values() for m in c["messages"].values()]
    assert kinds == {"text", "image"}
    assert any(m["deleted"] for m in flags) and any(m["edited"] for m in flags)
    assert any(m["reactions"] for m in flags)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/chats?limit=0", None, 400, "bad_limit"),
        ("GET", "/chats?limit=100000", None, 400, "bad_limit"),
        ("GET", "/chats?limit=abc", None, 400, "bad_limit"),
        ("GET", "/chats?before=nobody@s.whatsapp.net", None, 404, "chat_not_found"),
        ("GET", "/chats/not-a-jid", None, 400, "invalid_chat_id"),
        ("GET", "/chats/5500000000001@s.whatsapp.net", None, 404, "chat_not_found"),
        ("GET", "/messages/5500000000001@s.whatsapp.net", None, 404, "chat_not_found"),
        ("GET", "/nowhere", None, 404, "not_found"),
        ("POST", "/chats", {}, 405, "method_not_allowed"),
        ("POST", "/send", b"{not json", 400, "invalid_json"),
        ("POST", "/send", [1, 2], 400, "invalid_json"),
        ("POST", "/send", {"text": "hi"}, 400, "invalid_chat_id"),
        ("POST", "/send", {"chatId": "12", "text": "hi"}, 400, "invalid_chat_id"),
        ("POST", "/send", {"chatId": "+55 11 91234-5678"}, 400, "empty_message"),
        ("POST", "/send", {"chatId": "5511912345678", "text": 5}, 400, "bad_text"),
        ("POST", "/send", {"chatId": "5511912345678", "media": {"type": "exe"}}, 400, "bad_media"),
        (
            "POST", "/send",
            {"chatId": "5511912345678", "media": {"type": "image", "base64": "!!"}},
            400, "bad_media",
        ),
        (
            "POST", "/send", {"chatId": "5511912345678", "text": "x", "quotedId": "nope"},
            400, "unknown_message",
        ),
        ("POST", "/send", {"chatId": "5511912345678", "text": "hi"}, 409, "not_connected"),
        ("GET", "/qr.png", None, 404, "no_qr"),
        ("GET", "/contacts/bad/picture", None, 400, "invalid_chat_id"),
    ],
)  # fmt: skip
@pytest.mark.anyio
async def test_bad_requests_get_a_clear_error(
    tmp_path: Path, method: str, path: str, body: Any, status: int, code: str
) -> None:
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    async with served(tmp_path) as s:
        response = await s.http.request(method, path, content=content)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


@pytest.mark.anyio
async def test_oversized_media_is_413(tmp_path: Path) -> None:
    big = base64.b64encode(b"x" * (16 * 1024 * 1024 + 1)).decode()
    async with served(tmp_path) as s:
        response = await s.http.post(
            "/send", json={"chatId": "5511912345678", "media": {"type": "image", "base64": big}}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] in {"media_too_large", "body_too_large"}


@pytest.mark.anyio
async def test_message_paging_rejects_unknown_cursors_and_media_needs_media(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as s:
        s.publish_capture(make_capture(tmp_path / "capture.jsonl", EVENTS, history=300, rich=True))
        await s.applied()
        chat = (await s.http.get("/chats")).json()["chats"][0]
        response = await s.http.get(f"/chats/{chat['id']}/messages", params={"before": "x"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_message"
        messages = (await s.http.get(f"/chats/{chat['id']}/messages")).json()["messages"]
        plain = next(m for m in messages if m["media"] is None)
        response = await s.http.get(f"/media/{chat['id']}/{plain['id']}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "media_not_found"
        # Replaying, the bridge has no WhatsApp to download from: a clear 502, not a hang.
        with_media = next((m for c in [chat] for m in messages if m["media"]), None)
        if with_media is not None:
            response = await s.http.get(with_media["media"]["url"])
            assert response.status_code == 502
            assert response.json()["error"]["code"] == "media_unavailable"
