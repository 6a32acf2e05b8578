"""Issue 16's tables in the Supabase schema, on a real PostgreSQL: a session's settings are read
by whoever works in it and written by admins only; rule runs are read for the chats one may see
and written by nobody but the service role; rule cursors are the service role's alone."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.supabase.bootstrap import as_user
from tests.supabase.seed import ADMIN, AGENT1, AGENT2, CHAT_A1, CHAT_FREE, NO_PROFILE, SUPERVISOR
from tests.supabase.test_rls import affected, fetch, refused, user_id

Conn = psycopg.Connection[Any]
SETTINGS = "select session from public.session_settings order by session"
EVERYONE = [ADMIN, SUPERVISOR, AGENT1, AGENT2, NO_PROFILE]


@pytest.mark.parametrize(
    ("sub", "sessions"),
    [(ADMIN, ["default", "sales"]), (SUPERVISOR, ["default", "sales"]), (AGENT1, ["default"]),
     (NO_PROFILE, []), (None, None)],
    ids=lambda value: user_id(value) or str(value),
)  # fmt: skip
def test_settings_are_read_by_the_members_of_their_session(
    db: Conn, sub: str | None, sessions: list[str] | None
) -> None:
    if sub is None:  # anon: no grant at all
        with pytest.raises(errors.InsufficientPrivilege):
            fetch(db, None, SETTINGS)
        return
    assert [row[0] for row in fetch(db, sub, SETTINGS)] == sessions


def test_an_agent_of_two_sessions_reads_both(db: Conn) -> None:
    db.execute("update public.profiles set sessions = '{default,sales}' where id = %s", (AGENT2,))
    assert [row[0] for row in fetch(db, AGENT2, SETTINGS)] == ["default", "sales"]


@pytest.mark.parametrize("sub", [SUPERVISOR, AGENT1, NO_PROFILE], ids=user_id)
def test_only_admins_write_settings(db: Conn, sub: str) -> None:
    refused(db, sub, "insert into public.session_settings (session, document) values ('b', '{}')")
    update = "update public.session_settings set document = '{}' where session = 'default'"
    delete = "delete from public.session_settings where session = 'default'"
    # What the policies do not let one write, one's update and delete do not touch.
    assert affected(db, sub, update) == 0 and affected(db, sub, delete) == 0
    assert fetch(db, ADMIN, "select count(*) from public.session_settings") == [(2,)]


def test_an_admin_writes_settings_and_their_time_moves(db: Conn) -> None:
    [(before,)] = db.execute(
        "select updated_at from public.session_settings where session = 'default'"
    ).fetchall()
    affected(
        db, ADMIN, "insert into public.session_settings (session, document) values ('b', '{}')"
    )
    assert affected(
        db, ADMIN,
        "update public.session_settings set document = '{\"a\": 1}' where session = 'default'",
    ) == 1  # fmt: skip
    [(after,)] = db.execute(
        "select updated_at from public.session_settings where session = 'default'"
    ).fetchall()
    assert after > before
    assert affected(db, ADMIN, "delete from public.session_settings where session = 'b'") == 1


def test_a_settings_document_is_an_object_of_a_session_id(db: Conn) -> None:
    with pytest.raises(errors.CheckViolation):
        affected(db, ADMIN, "insert into public.session_settings values ('b', '[1]')")
    with pytest.raises(errors.CheckViolation):
        affected(db, ADMIN, "insert into public.session_settings values ('Bad Id', '{}')")


@pytest.mark.parametrize(
    ("sub", "runs"),
    [(ADMIN, 4), (SUPERVISOR, 4), (AGENT1, 2), (AGENT2, 2), (NO_PROFILE, 0)],
    ids=user_id,
)
def test_rule_runs_are_read_for_the_chats_one_may_see(db: Conn, sub: str, runs: int) -> None:
    # AGENT1 sees his chat and the free one; AGENT2 his and the free one; sales is not theirs.
    assert fetch(db, sub, "select count(*) from public.rule_runs") == [(runs,)]


@pytest.mark.parametrize("sub", [ADMIN, AGENT1], ids=user_id)
def test_rule_runs_and_cursors_are_written_by_the_service_role_only(db: Conn, sub: str) -> None:
    refused(
        db, sub,
        "insert into public.rule_runs (session, chat_id, rule, conversation) "
        "values ('default', %s, 'away', 'x')",
        (CHAT_A1,),
    )  # fmt: skip
    refused(db, sub, "delete from public.rule_runs")
    refused(db, sub, "update public.rule_runs set conversation = 'y'")
    refused(db, sub, "select * from public.rule_cursors")
    refused(db, sub, "update public.rule_cursors set value = 'x'")
    with as_user(db, None, "service_role") as conn:
        conn.execute(
            "insert into public.rule_runs (session, chat_id, rule, conversation) "
            "values ('default', %s, 'greeting', 'next')",
            (CHAT_FREE,),
        )
        conn.execute("update public.rule_cursors set value = %s", (AGENT2,))


def test_a_rule_is_one_of_the_three(db: Conn) -> None:
    with pytest.raises(errors.CheckViolation):
        db.execute(
            "insert into public.rule_runs (session, chat_id, rule, conversation) "
            "values ('default', 'x', 'welcome', 'chat')"
        )
