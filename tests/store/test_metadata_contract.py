"""The helpdesk metadata half of the store contract, on every backend."""

from __future__ import annotations

import re

import pytest

from orchestrator.errors import ConflictError
from orchestrator.store import Store
from tests.store.conftest import MakeUser

pytestmark = pytest.mark.anyio
CHAT = "5511912345678@s.whatsapp.net"


async def test_assignments_tags_and_profiles_load_back(store: Store, make_user: MakeUser) -> None:
    admin, agent = await make_user("admin"), await make_user("agent")
    row = await store.set_assignment(CHAT, agent, admin)
    assert row is not None and (row["agent_id"], row["assigned_by"]) == (agent, admin)
    tag = await store.create_tag("vip", "#f00")
    await store.set_chat_tag(CHAT, tag["id"], True)
    await store.set_chat_tag(CHAT, tag["id"], True)  # again: no duplicate, no error
    metadata = await store.load_metadata()
    assert str(metadata.assignments[CHAT]["agent_id"]) == agent
    assert metadata.tags[tag["id"]]["name"] == "vip"
    assert metadata.chat_tags == {CHAT: {tag["id"]}}
    assert metadata.profiles[agent]["role"] == "agent"
    assert metadata.profiles[admin]["role"] == "admin"

    await store.set_chat_tag(CHAT, tag["id"], False)
    assert await store.set_assignment(CHAT, None, admin) is None
    metadata = await store.load_metadata()
    assert (metadata.assignments, metadata.chat_tags) == ({}, {})


# What a conflict's message must never show: the database's or the driver's own wording.
DRIVER_WORDS = re.compile(
    r"unique|constraint|sqlite|postgres|duplicate key|violat|insert|update|select|23505|"
    r"tags\.|quick_replies\.|lower\(|\bkey\b|detail",
    re.IGNORECASE,
)


def assert_conflict(exc: ConflictError, code: str, message: str) -> None:
    assert (exc.code, exc.message, str(exc)) == (code, message, message)
    assert not DRIVER_WORDS.search(exc.message), exc.message


async def test_a_tag_name_is_unique_whatever_its_case(store: Store) -> None:
    await store.create_tag("Billing", None)
    for name in ("Billing", "billing", "BILLING"):
        with pytest.raises(ConflictError) as caught:
            await store.create_tag(name, "#000")
        assert_conflict(caught.value, "tag_exists", "a tag named 'Billing' exists")
    other = await store.create_tag("billing (EU)", None)
    metadata = await store.load_metadata()
    assert sorted(t["name"] for t in metadata.tags.values()) == ["Billing", "billing (EU)"]
    assert metadata.tags[other["id"]]["color"] is None


async def test_notes_in_order(store: Store, make_user: MakeUser) -> None:
    author = await make_user("agent")
    first = await store.add_note(CHAT, author, "called back")
    await store.add_note(CHAT, author, "sent the invoice")
    notes = await store.list_notes(CHAT)
    assert [n["body"] for n in notes] == ["called back", "sent the invoice"]
    assert notes[0]["id"] == first["id"] and str(notes[0]["author_id"]) == author


async def test_quick_replies_crud(store: Store, make_user: MakeUser) -> None:
    staff = await make_user("supervisor")
    saved = await store.save_quick_reply(
        None, {"shortcut": "/hi", "body": "Hello!", "created_by": staff}
    )
    assert saved is not None
    updated = await store.save_quick_reply(saved["id"], {"shortcut": "/hi", "body": "Hi there!"})
    assert updated is not None and updated["body"] == "Hi there!"
    assert await store.save_quick_reply(999_999, {"shortcut": "/x", "body": "x"}) is None
    assert [r["shortcut"] for r in await store.quick_replies()] == ["/hi"]
    assert await store.delete_quick_reply(saved["id"]) is True
    assert await store.delete_quick_reply(saved["id"]) is False


async def test_activity_newest_first_per_chat(store: Store, make_user: MakeUser) -> None:
    actor = await make_user("agent")
    await store.log_activity(actor, "chat_assigned", CHAT, {"agentId": actor})
    await store.log_activity(actor, "note_added", CHAT, {"noteId": 1})
    await store.log_activity(actor, "tag_created", None, {"name": "x"})
    rows = await store.activity(CHAT, 10)
    assert [r["action"] for r in rows] == ["note_added", "chat_assigned"]
    assert rows[0]["details"] == {"noteId": 1}
    assert len(await store.activity(None, 2)) == 2


async def test_a_quick_reply_shortcut_is_unique_whatever_its_case(store: Store) -> None:
    hi = await store.save_quick_reply(None, {"shortcut": "/Hi", "body": "Hello!"})
    bye = await store.save_quick_reply(None, {"shortcut": "/bye", "body": "Bye!"})
    assert hi is not None and bye is not None
    for shortcut in ("/Hi", "/hi"):
        with pytest.raises(ConflictError) as caught:
            await store.save_quick_reply(None, {"shortcut": shortcut, "body": "dup"})
        assert_conflict(
            caught.value, "quick_reply_exists", "a quick reply with the shortcut '/Hi' exists"
        )
    # another reply's shortcut, in another case: refused, and the reply is as it was
    with pytest.raises(ConflictError) as caught:
        await store.save_quick_reply(bye["id"], {"shortcut": "/HI", "body": "changed"})
    assert_conflict(
        caught.value, "quick_reply_exists", "a quick reply with the shortcut '/Hi' exists"
    )
    # its own shortcut in another case is no conflict
    renamed = await store.save_quick_reply(hi["id"], {"shortcut": "/HI", "body": "Hello!"})
    assert renamed is not None and renamed["shortcut"] == "/HI"
    replies = {r["id"]: (r["shortcut"], r["body"]) for r in await store.quick_replies()}
    assert replies == {hi["id"]: ("/HI", "Hello!"), bye["id"]: ("/bye", "Bye!")}


async def test_other_broken_rules_say_so_without_the_database_wording(store: Store) -> None:
    with pytest.raises(ConflictError) as caught:
        await store.set_chat_tag(CHAT, 999_999, True)  # no such tag
    assert_conflict(caught.value, "conflict", "the write breaks a rule of the store")
