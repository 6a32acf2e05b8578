"""The helpdesk metadata half of the store contract, on every backend."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from orchestrator.errors import ConflictError
from orchestrator.store import Store
from tests.store.conftest import MakeUser

pytestmark = pytest.mark.anyio
CHAT = "5511912345678@s.whatsapp.net"
S = "default"


async def test_assignments_tags_and_profiles_load_back(store: Store, make_user: MakeUser) -> None:
    admin, agent = await make_user("admin"), await make_user("agent")
    row = await store.set_assignment(S, CHAT, agent, admin)
    assert row is not None and (row["agent_id"], row["assigned_by"]) == (agent, admin)
    tag = await store.create_tag("vip", "#f00")
    await store.set_chat_tag(S, CHAT, tag["id"], True)
    await store.set_chat_tag(S, CHAT, tag["id"], True)  # again: no duplicate, no error
    metadata = await store.load_metadata()
    assert str(metadata.assignments[S, CHAT]["agent_id"]) == agent
    assert metadata.tags[tag["id"]]["name"] == "vip"
    assert metadata.chat_tags == {(S, CHAT): {tag["id"]}}
    assert metadata.profiles[agent]["role"] == "agent"
    assert metadata.profiles[admin]["role"] == "admin"

    await store.set_chat_tag(S, CHAT, tag["id"], False)
    assert await store.set_assignment(S, CHAT, None, admin) is None
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
    first = await store.add_note(S, CHAT, author, "called back")
    await store.add_note(S, CHAT, author, "sent the invoice")
    notes = await store.list_notes(S, CHAT)
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
    await store.log_activity(S, actor, "chat_assigned", CHAT, {"agentId": actor})
    await store.log_activity(S, actor, "note_added", CHAT, {"noteId": 1})
    await store.log_activity(None, actor, "tag_created", None, {"name": "x"})
    rows = await store.activity(S, CHAT, 10)
    assert [r["action"] for r in rows] == ["note_added", "chat_assigned"]
    assert rows[0]["details"] == {"noteId": 1}
    assert [r["action"] for r in await store.activity(None, None, 2)] == [
        "tag_created", "note_added",
    ]  # fmt: skip


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
        await store.set_chat_tag(S, CHAT, 999_999, True)  # no such tag
    assert_conflict(caught.value, "conflict", "the write breaks a rule of the store")


# ---- several WhatsApp numbers ("sessions"): metadata keyed by session and chat -----------------


async def test_one_chat_id_in_two_sessions_is_two_assignments(
    store: Store, make_user: MakeUser
) -> None:
    admin = await make_user("admin")
    ana = await make_user("agent", ["default", "sales"])
    bia = await make_user("agent", ["sales"])
    await store.set_assignment("default", CHAT, ana, admin)
    await store.set_assignment("sales", CHAT, bia, admin)
    metadata = await store.load_metadata()
    assert {k: str(r["agent_id"]) for k, r in metadata.assignments.items()} == {
        ("default", CHAT): ana,
        ("sales", CHAT): bia,
    }
    # taking one back leaves the other
    assert await store.set_assignment("default", CHAT, None, admin) is None
    metadata = await store.load_metadata()
    assert {k: str(r["agent_id"]) for k, r in metadata.assignments.items()} == {
        ("sales", CHAT): bia
    }


async def test_tags_notes_and_activity_are_per_session(store: Store, make_user: MakeUser) -> None:
    agent = await make_user("agent", ["default", "sales"])
    vip = await store.create_tag("vip", None)
    await store.set_chat_tag("sales", CHAT, vip["id"], True)
    await store.add_note("sales", CHAT, agent, "sales note")
    await store.add_note("default", CHAT, agent, "support note")
    await store.log_activity("sales", agent, "note_added", CHAT, {"noteId": 1})
    await store.log_activity("default", agent, "note_added", CHAT, {"noteId": 2})
    await store.log_activity("default", agent, "chat_assigned", "other@s.whatsapp.net", {})
    await store.log_activity(None, agent, "tag_created", None, {"name": "vip"})

    assert (await store.load_metadata()).chat_tags == {("sales", CHAT): {vip["id"]}}
    assert [n["body"] for n in await store.list_notes("sales", CHAT)] == ["sales note"]
    assert [n["body"] for n in await store.list_notes("default", CHAT)] == ["support note"]
    assert await store.list_notes("other", CHAT) == []

    def details(rows: list[dict[str, object]]) -> list[object]:
        return [(r["action"], r["details"]) for r in rows]

    assert details(await store.activity("sales", CHAT, 10)) == [("note_added", {"noteId": 1})]
    assert details(await store.activity("default", CHAT, 10)) == [("note_added", {"noteId": 2})]
    # a session's whole log: its rows and those of no session, never another session's
    assert details(await store.activity("sales", None, 10)) == [
        ("tag_created", {"name": "vip"}),
        ("note_added", {"noteId": 1}),
    ]
    assert len(await store.activity("default", None, 10)) == 3
    assert len(await store.activity(None, CHAT, 10)) == 2  # every session's
    assert len(await store.activity(None, None, 10)) == 4


async def test_purging_a_session_deletes_its_metadata_only(
    store: Store, make_user: MakeUser
) -> None:
    admin = await make_user("admin")
    vip = await store.create_tag("vip", None)
    for session in ("default", "sales"):
        await store.set_assignment(session, CHAT, admin, admin)
        await store.set_chat_tag(session, CHAT, vip["id"], True)
        await store.add_note(session, CHAT, admin, f"{session} note")
        await store.log_activity(session, admin, "note_added", CHAT, {})
    await store.log_activity(None, admin, "tag_created", None, {"name": "vip"})

    await store.purge_session("sales")
    metadata = await store.load_metadata()
    assert list(metadata.assignments) == [("default", CHAT)]
    assert metadata.chat_tags == {("default", CHAT): {vip["id"]}}
    assert list(metadata.tags) == [vip["id"]]  # tags are global: kept
    assert await store.list_notes("sales", CHAT) == []
    assert [n["body"] for n in await store.list_notes("default", CHAT)] == ["default note"]
    assert len(await store.activity("sales", CHAT, 10)) == 0
    assert len(await store.activity(None, None, 10)) == 2  # default's and the global one


async def test_a_profile_keeps_its_sessions_until_told_otherwise(
    store: Store, make_user: MakeUser
) -> None:
    agent = await make_user("agent")  # a new profile: the default session
    assert (await store.load_metadata()).profiles[agent]["sessions"] == ["default"]
    saved = await store.save_profile(agent, "Ana", "agent", ["sales", "later-created"])
    assert saved["sessions"] == ["sales", "later-created"]
    saved = await store.save_profile(agent, "Ana B", "agent", None)  # None: kept
    assert (saved["display_name"], saved["sessions"]) == ("Ana B", ["sales", "later-created"])
    assert (await store.load_metadata()).profiles[agent]["sessions"] == ["sales", "later-created"]
    await store.save_profile(agent, "Ana B", "agent", [])  # in none
    assert (await store.load_metadata()).profiles[agent]["sessions"] == []


async def test_the_session_registry_round_trips(store: Store) -> None:
    assert await store.list_sessions() == []
    sales = {
        "id": "sales",
        "name": "Sales",
        "bridge_pub": "tcp://10.0.0.2:5555",
        "bridge_router": "tcp://10.0.0.2:5556",
        "proxy": "socks5://user:secret@proxy.example:1080",
        "created_at": "2020-01-01T10:00:00.000Z",
    }
    await store.save_session(sales)
    bare = {"id": "support-2", "name": None, "bridge_pub": None, "bridge_router": None}
    await store.save_session(bare | {"proxy": None, "created_at": None})
    rows = await store.list_sessions()
    assert [r["id"] for r in rows] == ["sales", "support-2"]  # oldest first
    first = {k: rows[0][k] for k in sales if k != "created_at"}
    assert first == {k: v for k, v in sales.items() if k != "created_at"}
    assert _instant(rows[0]["created_at"]) == _instant(sales["created_at"])
    assert rows[1]["created_at"] is not None  # the store's now when none is given

    # an update changes the fields, never the creation time
    await store.save_session(sales | {"name": "Sales BR", "proxy": None, "created_at": None})
    [updated] = [r for r in await store.list_sessions() if r["id"] == "sales"]
    assert (updated["name"], updated["proxy"]) == ("Sales BR", None)
    assert _instant(updated["created_at"]) == _instant(sales["created_at"])

    assert await store.delete_session("sales") is True
    assert await store.delete_session("sales") is False
    assert [r["id"] for r in await store.list_sessions()] == ["support-2"]


def _instant(value: object) -> datetime:
    """A timestamp as either backend returns it (SQLite text, PostgreSQL timestamptz text)."""
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
