"""Several WhatsApp numbers ("sessions") in the helpdesk: membership in Principal, and each
session's helpdesk (`Helpdesk.scoped`) keeping its chats' metadata apart, on a real SQLite
store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from orchestrator.errors import Forbidden, NotFound
from orchestrator.helpdesk import Helpdesk
from orchestrator.principal import OPERATOR, Authenticator, Principal
from orchestrator.shapes import Role
from orchestrator.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio
CHAT = "5511912345678@s.whatsapp.net"
SECRET = "project-jwt-secret-for-tests-0123456789"
BOSS = Principal("boss", "admin", "Boss")

Announced = list[tuple[str, str, str | None, Any]]


def test_staff_use_every_session_and_agents_their_own() -> None:
    agent = Principal("ana", "agent", "Ana", frozenset({"sales", "support"}))
    assert [agent.may_use(x) for x in ("sales", "support", "default")] == [True, True, False]
    assert Principal("bia", "agent").may_use("default")  # the default membership
    assert not Principal("bia", "agent").may_use("sales")
    nowhere = Principal("sup", "supervisor", None, frozenset())
    assert nowhere.may_use("sales") and nowhere.may_use("default")
    assert OPERATOR.may_use("anything")


async def test_the_authenticator_takes_the_sessions_from_the_profile() -> None:
    profiles: dict[str, dict[str, Any]] = {
        "ana": {"id": "ana", "role": "agent", "display_name": "Ana", "sessions": ["sales"]},
        "bia": {"id": "bia", "role": "agent", "display_name": "Bia", "sessions": []},
    }
    authenticator = Authenticator("api-token", jwt_secret=SECRET, jwks_url=None,
                                  profile=profiles.get)  # fmt: skip

    def token(user_id: str) -> str:
        claims = {"sub": user_id, "aud": "authenticated", "exp": int(time.time()) + 60}
        return jwt.encode(claims, SECRET, algorithm="HS256")

    ana = await authenticator.authenticate(token("ana"))
    assert ana == Principal("ana", "agent", "Ana", frozenset({"sales"}))
    bia = await authenticator.authenticate(token("bia"))
    assert bia is not None and bia.sessions == frozenset() and not bia.may_use("default")
    profiles["bia"]["sessions"] = ["default"]  # an admin's change counts at the next request
    bia = await authenticator.authenticate(token("bia"))
    assert bia is not None and bia.may_use("default")


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[Helpdesk, Announced]]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    announced: Announced = []
    helpdesk = Helpdesk(store, lambda *event: announced.append(event))
    await helpdesk.load()
    people: list[tuple[str, Role, list[str] | None]] = [
        ("boss", "admin", None), ("ana", "agent", ["default"]), ("bia", "agent", ["sales"]),
    ]  # fmt: skip
    for user_id, role, sessions in people:
        await helpdesk.save_profile(BOSS, user_id, user_id.title(), role, sessions)
    yield helpdesk, announced
    await store.close()


def principal(helpdesk: Helpdesk, user_id: str) -> Principal:
    """Who the Authenticator would make of the profile."""
    row = helpdesk.profile(user_id)
    assert row is not None
    return Principal(user_id, row["role"], row["display_name"], frozenset(row["sessions"]))


async def test_an_agent_outside_a_session_sees_none_of_its_chats(
    desk: tuple[Helpdesk, Announced],
) -> None:
    helpdesk, _ = desk
    support, sales = helpdesk.scoped("default"), helpdesk.scoped("sales")
    assert helpdesk.scoped("sales") is sales
    ana, bia = principal(helpdesk, "ana"), principal(helpdesk, "bia")
    # the same customer, unassigned on both numbers: each agent sees it on their own only
    assert (support.can_see(ana, CHAT), sales.can_see(ana, CHAT)) == (True, False)
    assert (support.can_see(bia, CHAT), sales.can_see(bia, CHAT)) == (False, True)
    assert not sales.can_see(ana, None)  # nor any event of the session without a chat
    assert sales.can_see(BOSS, CHAT) and support.can_see(BOSS, CHAT)
    # the assign-to picker of a session lists its members and staff
    assert [a["id"] for a in sales.agents()] == ["bia", "boss"]
    assert [a["id"] for a in support.agents()] == ["ana", "boss"]
    assert [a["id"] for a in helpdesk.agents()] == ["ana", "bia", "boss"]
    # nobody hands a chat to an agent outside its session, nor takes one there
    with pytest.raises(NotFound):
        await sales.assign(BOSS, CHAT, "ana")
    with pytest.raises(NotFound):
        await sales.assign(ana, CHAT, "ana")


async def test_one_chat_id_on_two_numbers_is_two_conversations(
    desk: tuple[Helpdesk, Announced],
) -> None:
    helpdesk, announced = desk
    support, sales = helpdesk.scoped("default"), helpdesk.scoped("sales")
    ana, bia = principal(helpdesk, "ana"), principal(helpdesk, "bia")
    await support.assign(ana, CHAT, "ana")  # ana takes it on the support number
    assert sales.chat_extras(CHAT) == (None, [])  # unassigned on the sales number
    await sales.assign(bia, CHAT, "bia")
    assert support.chat_extras(CHAT)[0]["agentId"] == "ana"  # type: ignore[index]
    assert sales.chat_extras(CHAT)[0]["agentId"] == "bia"  # type: ignore[index]
    with pytest.raises(Forbidden):
        await sales.unassign(Principal("cid", "agent", None, frozenset({"sales"})), CHAT)

    vip = await helpdesk.create_tag(BOSS, "vip", None)
    await sales.set_tag(bia, CHAT, vip["id"], True)
    await support.add_note(ana, CHAT, "support note")
    await sales.add_note(bia, CHAT, "sales note")
    assert sales.chat_extras(CHAT)[1] == [vip] and support.chat_extras(CHAT)[1] == []
    assert [n["body"] for n in await support.notes(CHAT)] == ["support note"]
    assert [n["body"] for n in await sales.notes(CHAT)] == ["sales note"]
    assert [(e[0], e[1]) for e in announced] == [
        ("default", "assignment_changed"), ("sales", "assignment_changed"),
        ("sales", "tags_changed"), ("default", "note_added"), ("sales", "note_added"),
    ]  # fmt: skip

    await support.message_sent(ana, CHAT, "MSG1")
    sales_log = [(e["action"], e["actorId"]) for e in await sales.activity(CHAT, 10)]
    assert sales_log == [("note_added", "bia"), ("chat_tagged", "bia"), ("chat_assigned", "bia")]
    support_log = [e["action"] for e in await support.activity(None, 10)]
    assert support_log[:3] == ["message_sent", "note_added", "tag_created"]
    assert "chat_tagged" not in support_log

    # what a restart reads back is the same, per session
    await helpdesk.load()
    assert support.chat_extras(CHAT)[0]["agentId"] == "ana"  # type: ignore[index]
    assignment, tags = sales.chat_extras(CHAT)
    assert (assignment and assignment["agentId"], tags) == ("bia", [vip])

    # a purged session's metadata leaves the store and RAM; the other's stays
    await helpdesk.store.purge_session("sales")
    generation = helpdesk.generation
    helpdesk.forget_session("sales")
    assert helpdesk.generation > generation
    assert helpdesk.scoped("sales").chat_extras(CHAT) == (None, [])
    assert support.chat_extras(CHAT)[0]["agentId"] == "ana"  # type: ignore[index]
    await helpdesk.load()
    assert helpdesk.scoped("sales").chat_extras(CHAT) == (None, [])
    assert await helpdesk.scoped("sales").notes(CHAT) == []
