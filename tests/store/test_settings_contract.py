"""Issue 16's settings and rule runs, the store half, on every backend: a session's settings
document round-trips whole, a rule run is claimed once whatever asks again, the round-robin
cursor is kept, and a session's purge takes all of it."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.desksettings import defaults
from orchestrator.store import Store
from tests.store.conftest import MakeUser

pytestmark = pytest.mark.anyio
CHAT = "5511912345678@s.whatsapp.net"


async def test_a_sessions_settings_document_round_trips_and_is_its_own(
    store: Store, make_user: MakeUser
) -> None:
    admin = await make_user("admin")
    assert await store.load_settings("default") is None
    document = dict(defaults())
    document["greeting"] = {"enabled": True, "text": "Olá! ✨ Em que podemos ajudar?"}
    await store.save_settings("default", document, admin)
    await store.save_settings("sales", dict(defaults()), None)
    row = await store.load_settings("default")
    assert row is not None
    assert (row["document"], str(row["updated_by"])) == (document, admin)
    document["assignment"] = {"rule": "round_robin"}
    await store.save_settings("default", document, None)  # a replacement, not a second row
    again = await store.load_settings("default")
    assert again is not None and again["document"] == document and again["updated_by"] is None
    sales = await store.load_settings("sales")
    assert sales is not None and sales["document"] == defaults()


async def test_a_rule_run_is_claimed_once_per_chat_rule_and_conversation(store: Store) -> None:
    assert await store.claim_rule_run("default", CHAT, "greeting", "chat")
    assert not await store.claim_rule_run("default", CHAT, "greeting", "chat")
    # Another rule, conversation, chat or session is another run.
    assert await store.claim_rule_run("default", CHAT, "away", "chat")
    assert await store.claim_rule_run("default", CHAT, "greeting", "2026-12-06T10:00")
    assert await store.claim_rule_run("default", "other@s.whatsapp.net", "greeting", "chat")
    assert await store.claim_rule_run("sales", CHAT, "greeting", "chat")


async def test_concurrent_claims_of_one_run_have_one_winner(store: Store) -> None:
    claims = await asyncio.gather(
        *(store.claim_rule_run("default", CHAT, "away", "chat") for _ in range(8))
    )
    assert sorted(claims) == [False] * 7 + [True]


async def test_the_round_robin_cursor_is_kept_per_session(store: Store) -> None:
    assert await store.rule_cursor("default", "round_robin") is None
    await store.set_rule_cursor("default", "round_robin", "agent-a")
    await store.set_rule_cursor("default", "round_robin", "agent-b")
    await store.set_rule_cursor("sales", "round_robin", "agent-z")
    assert await store.rule_cursor("default", "round_robin") == "agent-b"
    assert await store.rule_cursor("sales", "round_robin") == "agent-z"


async def test_a_purge_takes_the_sessions_settings_runs_and_cursor(store: Store) -> None:
    for session in ("default", "sales"):
        await store.save_settings(session, dict(defaults()), None)
        await store.claim_rule_run(session, CHAT, "greeting", "chat")
        await store.set_rule_cursor(session, "round_robin", "agent-a")
    await store.purge_session("sales")
    assert await store.load_settings("sales") is None
    assert await store.rule_cursor("sales", "round_robin") is None
    assert await store.claim_rule_run("sales", CHAT, "greeting", "chat")  # free again
    assert await store.load_settings("default") is not None
    assert not await store.claim_rule_run("default", CHAT, "greeting", "chat")
