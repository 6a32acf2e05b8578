"""The chat status half of the store contract (issue 16), on every backend: a status per
session and chat, stamped with who set it and when (the store's clock), loaded back with the
metadata, purged with its session."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.errors import StoreError
from orchestrator.store import Store
from tests.store.conftest import MakeUser

pytestmark = pytest.mark.anyio
CHAT = "5511912345678@s.whatsapp.net"
OTHER = "5511987654321@s.whatsapp.net"


def when(row: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(row["updated_at"]).replace("Z", "+00:00"))


async def test_a_status_loads_back_per_session_and_chat(store: Store, make_user: MakeUser) -> None:
    agent = await make_user("agent")
    assert (await store.load_metadata()).statuses == {}  # no row: every chat is open
    started = datetime.now(UTC)
    row = await store.set_chat_status("default", CHAT, "resolved", agent)
    assert (row["status"], str(row["updated_by"])) == ("resolved", agent)
    assert abs(when(row) - started) < timedelta(minutes=1)  # the store's clock, in UTC
    await store.set_chat_status("sales", CHAT, "pending", None)  # the same jid on another number
    statuses = (await store.load_metadata()).statuses
    assert {key: r["status"] for key, r in statuses.items()} == {
        ("default", CHAT): "resolved", ("sales", CHAT): "pending",
    }  # fmt: skip
    assert statuses["sales", CHAT]["updated_by"] is None  # the orchestrator's own (a reopen)


async def test_a_change_replaces_the_row_and_its_time(store: Store, make_user: MakeUser) -> None:
    agent = await make_user("agent")
    first = await store.set_chat_status("default", CHAT, "resolved", agent)
    await asyncio.sleep(0.01)  # the stamps have milliseconds at least
    second = await store.set_chat_status("default", CHAT, "open", None)
    assert (second["status"], second["updated_by"]) == ("open", None)
    assert when(second) > when(first)
    statuses = (await store.load_metadata()).statuses
    assert [(key, r["status"]) for key, r in statuses.items()] == [(("default", CHAT), "open")]


async def test_a_status_outside_the_three_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.set_chat_status("default", CHAT, "closed", None)
    assert (await store.load_metadata()).statuses == {}


async def test_purging_a_session_deletes_its_statuses_only(store: Store) -> None:
    for session in ("default", "sales"):
        await store.set_chat_status(session, CHAT, "resolved", None)
    await store.set_chat_status("sales", OTHER, "pending", None)
    await store.purge_session("sales")
    statuses = (await store.load_metadata()).statuses
    assert list(statuses) == [("default", CHAT)]
