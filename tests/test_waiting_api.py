"""Waiting messages through the real app, in-process: the raw Baileys events of the fixtures
(real protos, tests/fixtures/make-fixtures.mjs) published through the in-memory bridge, then
REST, the stream (long-poll) and /metrics read as a client reads them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.harness import metric_value
from tests.inprocess import Served, served
from tests.normalize.conftest import ANA_PN, GROUP, Cases, cases  # noqa: F401  (a fixture)
from tests.test_permissions import jwks_url, rest_desk  # noqa: F401  (a fixture)

pytestmark = pytest.mark.anyio


async def publish(s: Served, fixtures: Cases, *names: str) -> list[dict[str, Any]]:
    """Publish the named fixture cases; the stream events they caused."""
    since = (await s.http.get("/events/poll")).json()["lastEventId"]
    for name in names:
        s.bridge.publish(fixtures[name]["event"], fixtures[name]["data"])
    await applied(s)
    answer = await s.http.get("/events/poll", params={"since": since, "timeout": 0})
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


async def applied(s: Served) -> None:
    """Until the last envelope published is applied: its epoch too (`Served.applied` compares
    seqs only, and a restarted orchestrator starts from the last run's position)."""
    last = s.bridge.journal[-1]
    async with asyncio.timeout(10):
        while True:
            position = s.runtime.default.follower.applied
            if position is not None and (position.epoch, position.seq) == (
                last["epoch"],
                last["seq"],
            ):
                return
            await asyncio.sleep(0.005)


def of_messages(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(event type, message id, message type) of the message events."""
    return [
        (e["type"], e["data"]["id"], e["data"]["type"])
        for e in events
        if e["type"] in ("new_message", "message_update")
    ]


async def metric(s: Served, name: str) -> float:
    return metric_value((await s.http.get("/metrics")).text, name)


async def waiting_ids(s: Served, **params: Any) -> list[str]:
    answer = await s.http.get("/waiting-messages", params=params)
    assert answer.status_code == 200, answer.text
    return [m["id"] for m in answer.json()["messages"]]


async def test_a_waiting_message_shows_then_becomes_its_content_in_place(
    tmp_path: Path,
    cases: Cases,  # noqa: F811
) -> None:
    async with served(tmp_path) as s:
        events = await publish(s, cases, "waiting_stub_1to1")
        assert of_messages(events) == [("new_message", "WAIT1", "waiting")]
        shown = next(e["data"] for e in events if e["type"] == "new_message")
        assert (shown["text"], shown["senderName"], shown["sender"]) == (None, "Ana", ANA_PN)
        chat = (await s.http.get(f"/chats/{ANA_PN}")).json()
        assert chat["unreadCount"] == 1 and chat["lastMessage"]["type"] == "waiting"
        page = (await s.http.get(f"/chats/{ANA_PN}/messages")).json()["messages"]
        assert [(m["id"], m["type"], m["text"]) for m in page] == [("WAIT1", "waiting", None)]
        assert await waiting_ids(s) == ["WAIT1"]
        assert await metric(s, "wa_messages_waiting") == 1
        # nothing to quote yet (Baileys would throw building the quote)
        quote = {"chatId": ANA_PN, "text": "what did you send?", "quotedId": "WAIT1"}
        refused = await s.http.post("/send", json=quote)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "unknown_message"

        # the sender retried after our retry receipt: the same key, decrypted
        events = await publish(s, cases, "waiting_content_retry")
        assert of_messages(events) == [("message_update", "WAIT1", "text")]
        chat = (await s.http.get(f"/chats/{ANA_PN}")).json()
        assert chat["unreadCount"] == 1  # not counted twice
        assert chat["lastMessage"]["text"] == "sent again, readable now"
        page = (await s.http.get(f"/chats/{ANA_PN}/messages")).json()["messages"]
        assert [(m["id"], m["type"]) for m in page] == [("WAIT1", "text")]
        assert await waiting_ids(s) == []
        assert await metric(s, "wa_messages_waiting") == 0
        assert await metric(s, "wa_messages_waiting_resolved_total") == 1


async def test_the_phone_resend_edits_and_revokes(
    tmp_path: Path,
    cases: Cases,  # noqa: F811
) -> None:
    async with served(tmp_path) as s:
        await publish(s, cases, "waiting_stub_group", "waiting_stubs_more")
        assert await waiting_ids(s) == ["WAIT5", "WAIT4", "WAIT3", "WAIT2"]  # newest first
        assert await waiting_ids(s, limit=1) == ["WAIT5"]
        # Baileys names the placeholder resend's request id: still waiting, nothing to show
        assert of_messages(await publish(s, cases, "waiting_resend_requested")) == []
        assert await waiting_ids(s, limit=10) == ["WAIT5", "WAIT4", "WAIT3", "WAIT2"]
        # the phone's answers (peer data operation, with requestId), an edit and a revoke
        events = await publish(
            s,
            cases,
            "waiting_content_pdo",
            "waiting_content_pdo_uncached",
            "waiting_edit",
            "waiting_revoke",
            "waiting_content_after_revoke",
        )
        assert of_messages(events) == [
            ("message_update", "WAIT2", "image"),
            ("message_update", "WAIT3", "text"),
            ("message_update", "WAIT4", "text"),
            ("message_update", "WAIT5", "waiting"),
        ]  # the content of the revoked one changes nothing
        photo = (await s.http.get(f"/chats/{GROUP}/messages")).json()["messages"][-1]
        assert (photo["id"], photo["text"], photo["media"]["size"]) == ("WAIT2", "the photo", 2048)
        page = (await s.http.get(f"/chats/{ANA_PN}/messages")).json()["messages"]
        by_id = {m["id"]: m for m in page}
        assert (by_id["WAIT4"]["text"], by_id["WAIT4"]["edited"]) == ("edited while waiting", True)
        assert (by_id["WAIT5"]["type"], by_id["WAIT5"]["deleted"]) == ("waiting", True)
        assert len(page) == 3
        assert (await s.http.get(f"/chats/{ANA_PN}")).json()["unreadCount"] == 3
        assert await waiting_ids(s) == []
        assert await metric(s, "wa_messages_waiting") == 0
        assert await metric(s, "wa_messages_waiting_resolved_total") == 3


async def test_after_a_restart_they_still_wait_and_still_resolve_in_place(
    tmp_path: Path,
    cases: Cases,  # noqa: F811
) -> None:
    # A window of one message: WAIT1 and WAIT3 are only in the store when their content comes.
    async with served(tmp_path, chat_window=1) as s:
        await publish(s, cases, "waiting_stub_1to1", "waiting_stubs_more")
        assert await metric(s, "wa_messages_waiting") == 4
    async with served(tmp_path, epoch="restarted", chat_window=1) as s:
        assert await metric(s, "wa_messages_waiting") == 4
        assert await waiting_ids(s) == ["WAIT5", "WAIT4", "WAIT3", "WAIT1"]
        # The stream restarted empty: a first event gives it a position to read on from.
        await publish(s, cases, "presence")
        events = await publish(s, cases, "waiting_content_retry", "waiting_content_pdo_uncached")
        assert of_messages(events) == [
            ("message_update", "WAIT1", "text"),
            ("message_update", "WAIT3", "text"),
        ]
        assert await waiting_ids(s) == ["WAIT5", "WAIT4"]
        assert await metric(s, "wa_messages_waiting") == 2
        assert (await s.http.get(f"/chats/{ANA_PN}")).json()["unreadCount"] == 4
        assert await s.runtime.default.writebehind.flush()
        page = (await s.http.get(f"/chats/{ANA_PN}/messages", params={"limit": 10})).json()
        texts = [(m["id"], m["type"], m["text"]) for m in page["messages"]]
        assert texts == [
            ("WAIT1", "text", "sent again, readable now"),
            ("WAIT3", "text", "resent by the phone"),
            ("WAIT4", "waiting", None),
            ("WAIT5", "waiting", None),
        ]  # one row each, in their places


async def test_only_staff_list_them(tmp_path: Path, jwks_url: str) -> None:  # noqa: F811
    async with rest_desk(tmp_path, jwks_url) as desk:
        assert (await desk.client("supervisor").get("/waiting-messages")).status_code == 200
        refused = await desk.client("agent1").get("/waiting-messages")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        bad = await desk.admin.get("/waiting-messages", params={"limit": "0"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_limit"
