"""WhatsApp Business labels through the API, in process: `GET /labels`, each chat's `labels`,
the `label_update` and `chat_update` stream events, and the store across a restart. Payloads
are shaped as Baileys' processSyncAction emits them (tests/fixtures/make-fixtures.mjs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import Served, served

pytestmark = pytest.mark.anyio

ANA = "5511988887777@s.whatsapp.net"


def edit(label_id: str, name: str, color: int, deleted: bool | None = False) -> dict[str, Any]:
    return {"id": label_id, "name": name, "color": color, "deleted": deleted}


def association(label_id: str, chat: str, on: bool) -> dict[str, Any]:
    kind = "add" if on else "remove"
    return {"type": kind, "association": {"type": "label_jid", "chatId": chat, "labelId": label_id}}


async def chat_labels(s: Served) -> list[dict[str, Any]]:
    response = await s.http.get(f"/chats/{ANA}")
    assert response.status_code == 200, response.text
    labels: list[dict[str, Any]] = response.json()["labels"]
    return labels


async def test_labels_reach_the_chat_the_list_and_the_streams_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as s:
        s.bridge.publish("chats.upsert", [{"id": ANA, "name": "Ana"}])
        await s.applied()
        assert (await s.http.get("/labels")).json() == {"labels": []}
        assert await chat_labels(s) == []
        _, since = await s.events("")

        s.bridge.publish("labels.edit", edit("5", "VIP", 3))
        s.bridge.publish("labels.edit", edit("6", "Lead", 0, None))
        s.bridge.publish("labels.association", association("5", ANA, True))
        await s.applied()
        vip = {"id": "5", "name": "VIP", "color": 3}
        lead = {"id": "6", "name": "Lead", "color": 0}
        assert (await s.http.get("/labels")).json() == {"labels": [lead, vip]}
        assert await chat_labels(s) == [vip]
        listed = (await s.http.get("/chats")).json()["chats"]
        assert [c["labels"] for c in listed if c["id"] == ANA] == [[vip]]
        got, since = await s.events(since)
        assert [(e["type"], e["data"]["id"]) for e in got] == [
            ("label_update", "5"), ("label_update", "6"), ("chat_update", ANA),
        ]  # fmt: skip
        assert got[0]["data"] == {**vip, "deleted": False, "predefinedId": None}
        assert got[2]["data"]["labels"] == [vip]

        # renamed on the phone: the chat that carries it is announced again
        s.bridge.publish("labels.edit", edit("5", "VIP+", 4))
        await s.applied()
        got, since = await s.events(since)
        assert [e["type"] for e in got] == ["label_update", "chat_update"]
        assert got[1]["data"]["labels"] == [{"id": "5", "name": "VIP+", "color": 4}]
        journal = list(s.bridge.journal)

    async with served(tmp_path) as s:  # a restart: everything from the store
        assert (await s.http.get("/labels")).json() == {
            "labels": [lead, {"id": "5", "name": "VIP+", "color": 4}]
        }
        assert await chat_labels(s) == [{"id": "5", "name": "VIP+", "color": 4}]
        s.continue_journal(journal)
        s.bridge.publish("labels.association", association("5", ANA, False))
        s.bridge.publish("labels.edit", edit("6", "Lead", 0, True))
        await s.applied()
        vip_plus = {"id": "5", "name": "VIP+", "color": 4}
        assert await chat_labels(s) == []
        assert (await s.http.get("/labels")).json() == {"labels": [vip_plus]}  # Lead deleted
        journal = list(s.bridge.journal)

    async with served(tmp_path) as s:
        s.continue_journal(journal)
        await s.applied()
        assert await chat_labels(s) == []
        assert (await s.http.get("/labels")).json() == {"labels": [vip_plus]}


async def test_labels_need_a_credential(tmp_path: Path) -> None:
    async with served(tmp_path) as s, s.client() as anonymous:
        response = await anonymous.get("/labels")
    assert response.status_code == 401
