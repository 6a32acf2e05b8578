"""Row-level security of supabase/migrations, exercised on a real PostgreSQL.

Each statement runs the way PostgREST runs a request: `SET LOCAL ROLE authenticated` (or anon,
or service_role) plus the JWT claims, in one transaction (tests.supabase.bootstrap.as_user).
Refusals come in two shapes and the tests tell them apart: a write that RLS's WITH CHECK or a
missing grant rejects raises InsufficientPrivilege; an UPDATE/DELETE whose rows the policies
hide affects 0 rows without error (that is how PostgreSQL RLS behaves).
"""

from __future__ import annotations

import threading
import time
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.rows import TupleRow

from tests.supabase.bootstrap import (
    apply_migrations,
    as_user,
    migration_files,
    supabase_database,
)
from tests.supabase.seed import (
    ADMIN,
    AGENT1,
    AGENT2,
    ALL_CHATS,
    CHAT_A1,
    CHAT_A2,
    CHAT_FREE,
    NO_PROFILE,
    SUPERVISOR,
    TABLES,
)

Conn = psycopg.Connection[Any]
Params = tuple[Any, ...]
# What Connection.execute accepts with parameters (psycopg's own Query also allows t-strings).
Query = LiteralString | bytes | sql.SQL | sql.Composed

NAMES = {
    ADMIN: "admin",
    SUPERVISOR: "supervisor",
    AGENT1: "agent1",
    AGENT2: "agent2",
    NO_PROFILE: "no-profile",
}


def user_id(value: object) -> str | None:
    """Readable test ids: the user's name instead of his uuid."""
    return NAMES.get(value) if isinstance(value, str) else None


REALTIME_TABLES = {
    "chat_assignments",
    "chat_status",
    "chat_tags",
    "chat_notes",
    "tags",
    "quick_replies",
    "settings",
}
CHAT_SCOPED = (
    "wa_chats", "wa_messages", "chat_assignments", "chat_tags", "chat_notes", "chat_status",
)  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def _role_of(sub: str | None) -> str:
    return "anon" if sub is None else "authenticated"


def fetch(db: Conn, sub: str | None, query: Query, params: Params = ()) -> list[TupleRow]:
    """Rows of `query` as the user `sub` (None = anon)."""
    with as_user(db, sub, _role_of(sub)) as conn:
        return conn.execute(query, params).fetchall()


def affected(db: Conn, sub: str | None, statement: Query, params: Params = ()) -> int:
    """How many rows a write as `sub` touched (0 = the policies hid them)."""
    with as_user(db, sub, _role_of(sub)) as conn:
        return conn.execute(statement, params).rowcount


def refused(db: Conn, sub: str | None, statement: Query, params: Params = ()) -> None:
    """The write is rejected outright (RLS WITH CHECK, a missing grant, or the role trigger)."""
    with pytest.raises(errors.InsufficientPrivilege):
        affected(db, sub, statement, params)


def chat_ids(db: Conn, sub: str | None, table: str) -> set[str]:
    column = "id" if table == "wa_chats" else "chat_id"
    query = sql.SQL("select {} from public.{}").format(
        sql.Identifier(column), sql.Identifier(table)
    )
    return {row[0] for row in fetch(db, sub, query)}


def select_all(table: str) -> sql.Composed:
    return sql.SQL("select * from public.{}").format(sql.Identifier(table))


def count_all(table: str) -> sql.Composed:
    return sql.SQL("select count(*) from public.{}").format(sql.Identifier(table))


def as_superuser(db: Conn, query: Query, params: Params = ()) -> list[TupleRow]:
    return db.execute(query, params).fetchall()


# --- the migrations themselves ---------------------------------------------------------------


def test_migrations_apply_cleanly_to_an_empty_database(postgres_dsn: str) -> None:
    files = migration_files()  # also rejects names the Supabase CLI would skip
    assert files
    with (
        supabase_database(postgres_dsn, migrate=False) as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        tables = "select count(*) from pg_tables where schemaname = 'public'"
        assert conn.execute(tables).fetchall() == [(0,)]
        apply_migrations(dsn, files)
        assert conn.execute(tables).fetchall() == [(len(TABLES),)]


def test_case_only_duplicates_from_before_are_renamed_and_then_refused(postgres_dsn: str) -> None:
    """The migration making tag names and shortcuts unique whatever their case runs on a
    database that already breaks that: the later duplicates are renamed " (n)" with the first
    n free (as SQLite's upgrade 5 does), and keep their ids."""
    files = migration_files()
    [target] = [f for f in files if f.name.endswith("_case_insensitive_names.sql")]
    before, after = files[: files.index(target)], files[files.index(target) :]
    with (
        supabase_database(postgres_dsn, migrate=False) as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        apply_migrations(dsn, before)
        tags = ["Billing", "billing", "vip", "BILLING", "billing (2)", "VIP", "Billing (2)"]
        for name in tags:
            conn.execute("insert into public.tags (name) values (%s)", (name,))
        conn.execute("insert into public.chat_tags (chat_id, tag_id) values ('c@g.us', 4)")
        for shortcut in ("/hi", "/Hi", "/HI", "/bye"):
            conn.execute(
                "insert into public.quick_replies (shortcut, body) values (%s, 'x')", (shortcut,)
            )
        apply_migrations(dsn, after)
        assert conn.execute("select id, name from public.tags order by id").fetchall() == [
            (1, "Billing"),
            (2, "billing (3)"),  # " (2)" is taken, in another case, by tag 5
            (3, "vip"),
            (4, "BILLING (4)"),
            (5, "billing (2)"),
            (6, "VIP (2)"),
            (7, "Billing (2) (2)"),  # a duplicate of tag 5, in its own group
        ]
        assert conn.execute("select chat_id, tag_id from public.chat_tags").fetchall() == [
            ("c@g.us", 4)
        ]
        replies = "select id, shortcut from public.quick_replies order by id"
        assert conn.execute(replies).fetchall() == [
            (1, "/hi"), (2, "/Hi (2)"), (3, "/HI (3)"), (4, "/bye"),
        ]  # fmt: skip
        for statement, value in (
            ("insert into public.tags (name) values (%s)", "bIlLiNg"),
            ("insert into public.quick_replies (shortcut, body) values (%s, 'x')", "/BYE"),
        ):
            with pytest.raises(errors.UniqueViolation):
                conn.execute(statement, (value,))


def test_every_table_exists_with_rls_enabled(db: Conn) -> None:
    rows = as_superuser(
        db,
        "select c.relname, c.relrowsecurity from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'public' and c.relkind = 'r'",
    )
    assert dict(rows) == dict.fromkeys(TABLES, True)


def test_publication_holds_exactly_the_watched_tables(db: Conn) -> None:
    rows = as_superuser(
        db,
        "select schemaname, tablename from pg_publication_tables"
        " where pubname = 'supabase_realtime'",
    )
    assert {schema for schema, _ in rows} == {"public"}
    assert {table for _, table in rows} == REALTIME_TABLES


def test_helpers_are_security_definer_stable_with_pinned_search_path(db: Conn) -> None:
    rows = as_superuser(
        db,
        "select p.proname, p.prosecdef, p.provolatile, p.proconfig from pg_proc p"
        " where p.pronamespace = 'public'::regnamespace"
        " and p.proname in ('current_role_name', 'can_see_chat', 'may_use_session')",
    )
    assert len(rows) == 3
    for _name, secdef, volatility, config in rows:
        assert secdef and volatility == "s"
        assert config == ['search_path=""']


def test_expected_indexes_exist(db: Conn) -> None:
    rows = as_superuser(db, "select indexdef from pg_indexes where schemaname = 'public'")
    defs = {row[0].split(" USING ", 1)[1].split(" ", 1)[1] for row in rows}  # any method
    for index in (
        "(session, chat_id, ts DESC, arrival DESC, id DESC)",
        "(agent_id)",
        "(tag_id)",
        "(session, chat_id, created_at)",
        "(actor_id, created_at)",
        "(session, last_activity DESC)",
        "(lower(name))",
        "(lower(shortcut))",
        "(session, status, ord)",
        "(webhook_id, ord)",
    ):
        assert index in defs


def test_auth_helpers_read_the_request_claims(db: Conn) -> None:
    [(uid, role, jwt_sub, user)] = fetch(
        db, AGENT1, "select auth.uid(), auth.role(), auth.jwt() ->> 'sub', current_user"
    )
    assert (str(uid), role, jwt_sub, user) == (AGENT1, "authenticated", AGENT1, "authenticated")


def test_new_auth_user_gets_an_agent_profile(db: Conn) -> None:
    new = "00000000-0000-4000-8000-000000000123"
    as_superuser(
        db, "insert into auth.users (id, email) values (%s, 'x@example.com') returning id", (new,)
    )
    assert as_superuser(
        db, "select role, display_name from public.profiles where id = %s", (new,)
    ) == [("agent", "x@example.com")]


# --- who sees which chat -----------------------------------------------------------------------


@pytest.mark.parametrize("table", CHAT_SCOPED)
@pytest.mark.parametrize(
    ("sub", "expected"),
    [
        (ADMIN, ALL_CHATS),
        (SUPERVISOR, ALL_CHATS),
        (AGENT1, {CHAT_A1, CHAT_FREE}),
        (AGENT2, {CHAT_A2, CHAT_FREE}),
        (NO_PROFILE, set()),
    ],
    ids=user_id,
)
def test_chat_scoped_rows_per_role(db: Conn, table: str, sub: str, expected: set[str]) -> None:
    seeded = chat_ids(db, ADMIN, table)
    # Tables that hold no row for a chat (e.g. no assignment for the free chat) show the
    # intersection: what the user may see among what exists.
    assert chat_ids(db, sub, table) == expected & seeded


def test_agent_cannot_read_another_agents_chat(db: Conn) -> None:
    assert fetch(db, AGENT1, "select * from public.wa_chats where id = %s", (CHAT_A2,)) == []
    assert (
        fetch(db, AGENT1, "select * from public.wa_messages where chat_id = %s", (CHAT_A2,)) == []
    )
    assert fetch(db, AGENT1, "select * from public.chat_notes where chat_id = %s", (CHAT_A2,)) == []
    assert fetch(db, AGENT1, "select public.can_see_chat('default', %s)", (CHAT_A2,)) == [(False,)]
    assert [r[0] for r in fetch(db, AGENT1, "select id from public.wa_messages order by ts")] == [
        "m1",
        "m2",
        "m4",
    ]


def test_anon_reads_nothing_anywhere(db: Conn) -> None:
    for table in TABLES:
        with pytest.raises(errors.InsufficientPrivilege):
            fetch(db, None, select_all(table))
    refused(db, None, "select public.can_see_chat('default', %s)", (CHAT_FREE,))


def test_anon_writes_nothing(db: Conn) -> None:
    refused(db, None, "insert into public.tags (name) values ('x')")
    refused(
        db,
        None,
        "insert into public.chat_notes (chat_id, author_id, body) values (%s, %s, 'x')",
        (CHAT_FREE, AGENT1),
    )
    refused(db, None, "delete from public.chat_assignments")


def test_user_without_profile_gets_no_chat_and_no_contacts(db: Conn) -> None:
    assert fetch(db, NO_PROFILE, "select * from public.wa_contacts") == []
    refused(
        db,
        NO_PROFILE,
        "insert into public.chat_notes (chat_id, author_id, body) values (%s, %s, 'x')",
        (CHAT_FREE, NO_PROFILE),
    )


# --- chat_assignments: take, release, staff --------------------------------------------------


def test_agent_takes_an_unassigned_chat(db: Conn) -> None:
    assert (
        affected(
            db,
            AGENT1,
            "insert into public.chat_assignments (chat_id, agent_id) values (%s, %s)",
            (CHAT_FREE, AGENT1),
        )
        == 1
    )
    # assigned_by defaults to the caller; the chat left the other agent's queue.
    assert as_superuser(
        db,
        "select agent_id::text, assigned_by::text from public.chat_assignments where chat_id = %s",
        (CHAT_FREE,),
    ) == [(AGENT1, AGENT1)]
    assert chat_ids(db, AGENT2, "wa_chats") == {CHAT_A2}
    assert chat_ids(db, AGENT1, "wa_chats") == {CHAT_A1, CHAT_FREE}


def test_agent_cannot_take_another_agents_chat(db: Conn) -> None:
    refused(
        db,
        AGENT1,
        "insert into public.chat_assignments (chat_id, agent_id) values (%s, %s)",
        (CHAT_A2, AGENT1),
    )
    # Nor by upsert: the conflict path is an UPDATE, for which agents have no policy.
    refused(
        db,
        AGENT1,
        "insert into public.chat_assignments (chat_id, agent_id) values (%s, %s)"
        " on conflict (session, chat_id) do update set agent_id = excluded.agent_id",
        (CHAT_A2, AGENT1),
    )
    assert as_superuser(
        db, "select agent_id::text from public.chat_assignments where chat_id = %s", (CHAT_A2,)
    ) == [(AGENT2,)]


def test_agent_cannot_assign_to_someone_else_or_forge_assigned_by(db: Conn) -> None:
    insert = (
        "insert into public.chat_assignments (chat_id, agent_id, assigned_by) values (%s, %s, %s)"
    )
    refused(db, AGENT1, insert, (CHAT_FREE, AGENT2, AGENT1))
    refused(db, AGENT1, insert, (CHAT_FREE, AGENT1, SUPERVISOR))


def test_taking_a_chat_twice_hits_the_primary_key(db: Conn) -> None:
    with pytest.raises(errors.UniqueViolation):
        affected(
            db,
            AGENT1,
            "insert into public.chat_assignments (chat_id, agent_id) values (%s, %s)",
            (CHAT_A1, AGENT1),
        )


def test_concurrent_takes_leave_one_assignee(db: Conn, supabase_dsn: str) -> None:
    # Both takes pass the policy (neither sees the other's uncommitted row); the primary key
    # then makes the second wait for the first and fail once it commits.
    take = "insert into public.chat_assignments (chat_id, agent_id) values (%s, %s)"
    outcome: list[Exception | None] = []

    def second_take() -> None:
        try:
            with psycopg.connect(supabase_dsn, autocommit=True) as other:
                affected(other, AGENT2, take, (CHAT_FREE, AGENT2))
            outcome.append(None)
        except Exception as exc:  # handed to the main thread's assertion
            outcome.append(exc)

    with as_user(db, AGENT1) as conn:
        conn.execute(take, (CHAT_FREE, AGENT1))
        thread = threading.Thread(target=second_take)
        thread.start()
        with psycopg.connect(supabase_dsn, autocommit=True) as watcher:
            deadline = time.monotonic() + 5
            waiting = (
                "select count(*) from pg_stat_activity"
                " where datname = current_database() and wait_event_type = 'Lock'"
            )
            while watcher.execute(waiting).fetchall() == [(0,)]:
                assert time.monotonic() < deadline, "the second take never waited"
                time.sleep(0.01)
    thread.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], errors.UniqueViolation)
    assert as_superuser(
        db, "select agent_id::text from public.chat_assignments where chat_id = %s", (CHAT_FREE,)
    ) == [(AGENT1,)]


def test_agent_cannot_reassign(db: Conn) -> None:
    # No UPDATE policy for agents: even their own row is out of reach.
    assert (
        affected(
            db,
            AGENT1,
            "update public.chat_assignments set agent_id = %s where chat_id = %s",
            (AGENT2, CHAT_A1),
        )
        == 0
    )
    assert as_superuser(
        db, "select agent_id::text from public.chat_assignments where chat_id = %s", (CHAT_A1,)
    ) == [(AGENT1,)]


def test_agent_releases_own_chat_only(db: Conn) -> None:
    release = "delete from public.chat_assignments where chat_id = %s"
    assert affected(db, AGENT1, release, (CHAT_A2,)) == 0
    assert affected(db, AGENT1, release, (CHAT_A1,)) == 1
    # Released: back in the queue, visible to the other agent.
    assert chat_ids(db, AGENT2, "wa_chats") == {CHAT_A1, CHAT_A2, CHAT_FREE}


@pytest.mark.parametrize("staff", [ADMIN, SUPERVISOR], ids=user_id)
def test_staff_assign_reassign_unassign_any(db: Conn, staff: str) -> None:
    assert (
        affected(
            db,
            staff,
            "insert into public.chat_assignments (chat_id, agent_id) values (%s, %s)",
            (CHAT_FREE, AGENT2),
        )
        == 1
    )
    assert (
        affected(
            db,
            staff,
            "update public.chat_assignments set agent_id = %s where chat_id = %s",
            (AGENT2, CHAT_A1),
        )
        == 1
    )
    assert chat_ids(db, AGENT1, "wa_chats") == set()
    assert (
        affected(db, staff, "delete from public.chat_assignments where chat_id = %s", (CHAT_A2,))
        == 1
    )
    assert as_superuser(
        db,
        "select chat_id, agent_id::text, assigned_by::text from public.chat_assignments order by 1",
    ) == [
        (CHAT_A1, AGENT2, SUPERVISOR),
        (CHAT_FREE, AGENT2, staff),
    ]


# --- chat_notes ---------------------------------------------------------------------------------

ADD_NOTE = "insert into public.chat_notes (chat_id, author_id, body) values (%s, %s, %s)"


def _note_id(db: Conn, body: str) -> int:
    [(note_id,)] = as_superuser(db, "select id from public.chat_notes where body = %s", (body,))
    return int(note_id)


def test_notes_are_written_on_visible_chats_as_oneself(db: Conn) -> None:
    assert affected(db, AGENT1, ADD_NOTE, (CHAT_A1, AGENT1, "mine")) == 1
    assert affected(db, AGENT1, ADD_NOTE, (CHAT_FREE, AGENT1, "queue")) == 1
    refused(db, AGENT1, ADD_NOTE, (CHAT_A2, AGENT1, "not my chat"))
    refused(db, AGENT1, ADD_NOTE, (CHAT_A1, AGENT2, "impersonating"))
    # author_id defaults to the caller.
    assert (
        affected(
            db,
            AGENT1,
            "insert into public.chat_notes (chat_id, body) values (%s, 'default')",
            (CHAT_A1,),
        )
        == 1
    )
    assert as_superuser(
        db, "select author_id::text from public.chat_notes where body = 'default'"
    ) == [(AGENT1,)]
    assert affected(db, SUPERVISOR, ADD_NOTE, (CHAT_A2, SUPERVISOR, "staff sees all")) == 1


def test_note_body_length_is_checked(db: Conn) -> None:
    for body in ("", "x" * 10001):
        with pytest.raises(errors.CheckViolation):
            affected(db, AGENT1, ADD_NOTE, (CHAT_A1, AGENT1, body))


def test_author_edits_own_note_body_only(db: Conn) -> None:
    own, other = _note_id(db, "note by ana"), _note_id(db, "note by supervisor")
    edit = "update public.chat_notes set body = %s where id = %s"
    assert affected(db, AGENT1, edit, ("edited", own)) == 1
    assert affected(db, AGENT1, edit, ("hijacked", other)) == 0
    assert affected(db, ADMIN, edit, ("admin edit", own)) == 0  # admins delete, not rewrite
    # The chat and author of a note are fixed (column grant on body only).
    refused(db, AGENT1, "update public.chat_notes set chat_id = %s where id = %s", (CHAT_FREE, own))
    refused(db, AGENT1, "update public.chat_notes set author_id = %s where id = %s", (AGENT2, own))
    assert as_superuser(db, "select body from public.chat_notes where id = %s", (own,)) == [
        ("edited",)
    ]


def test_note_deletion_own_or_admin(db: Conn) -> None:
    delete = "delete from public.chat_notes where id = %s"
    ana, sup, bruno = (
        _note_id(db, b) for b in ("note by ana", "note by supervisor", "note by bruno")
    )
    assert affected(db, AGENT1, delete, (sup,)) == 0
    assert affected(db, SUPERVISOR, delete, (ana,)) == 0
    assert affected(db, AGENT1, delete, (ana,)) == 1
    assert affected(db, ADMIN, delete, (bruno,)) == 1
    assert affected(db, SUPERVISOR, delete, (sup,)) == 1
    assert as_superuser(db, "select count(*) from public.chat_notes") == [(0,)]


# --- tags, chat_tags, quick replies, settings ---------------------------------------------------


@pytest.mark.parametrize("sub", [ADMIN, SUPERVISOR, AGENT1, AGENT2], ids=user_id)
def test_everyone_reads_catalogues(db: Conn, sub: str) -> None:
    assert len(fetch(db, sub, "select * from public.tags")) == 2
    assert len(fetch(db, sub, "select * from public.quick_replies")) == 1
    assert len(fetch(db, sub, "select * from public.settings")) == 1
    assert len(fetch(db, sub, "select * from public.profiles")) == 4


@pytest.mark.parametrize("table", ["tags", "quick_replies"])
def test_catalogue_written_by_staff_only(db: Conn, table: str) -> None:
    insert, update, delete = {
        "tags": (
            "insert into public.tags (name) values (%s)",
            "update public.tags set color = 'red' where id = 1",
            "delete from public.tags where id = 2",
        ),
        "quick_replies": (
            "insert into public.quick_replies (shortcut, body) values (%s, 'b')",
            "update public.quick_replies set body = 'changed' where id = 1",
            "delete from public.quick_replies where id = 1",
        ),
    }[table]
    refused(db, AGENT1, insert, ("by-agent",))
    assert affected(db, AGENT1, update) == 0
    assert affected(db, AGENT1, delete) == 0
    assert affected(db, SUPERVISOR, insert, ("by-supervisor",)) == 1
    assert affected(db, ADMIN, insert, ("by-admin",)) == 1
    assert affected(db, SUPERVISOR, update) == 1
    assert affected(db, ADMIN, delete) == 1


def test_quick_reply_created_by_defaults_to_the_caller(db: Conn) -> None:
    affected(
        db, SUPERVISOR, "insert into public.quick_replies (shortcut, body) values ('/bye', 'Bye')"
    )
    assert as_superuser(
        db, "select created_by::text from public.quick_replies where shortcut = '/bye'"
    ) == [(SUPERVISOR,)]


def test_chat_tags_written_by_whoever_sees_the_chat(db: Conn) -> None:
    tag = "insert into public.chat_tags (chat_id, tag_id) values (%s, 2)"
    assert affected(db, AGENT1, tag, (CHAT_A1,)) == 1
    assert affected(db, AGENT1, tag, (CHAT_FREE,)) == 1
    refused(db, AGENT1, tag, (CHAT_A2,))
    assert affected(db, AGENT1, "delete from public.chat_tags where chat_id = %s", (CHAT_A2,)) == 0
    refused(
        db,
        AGENT1,
        "update public.chat_tags set chat_id = %s where chat_id = %s and tag_id = 1",
        (CHAT_A2, CHAT_A1),
    )
    assert affected(db, AGENT1, "delete from public.chat_tags where chat_id = %s", (CHAT_A1,)) == 2
    assert (
        affected(db, SUPERVISOR, "delete from public.chat_tags where chat_id = %s", (CHAT_A2,)) == 1
    )


def test_settings_written_by_admin_only(db: Conn) -> None:
    insert = "insert into public.settings (key, value) values ('greeting', '\"hi\"')"
    update = (
        "update public.settings set value = '{\"open\": \"08:00\"}' where key = 'business_hours'"
    )
    delete = "delete from public.settings where key = 'business_hours'"
    for sub in (SUPERVISOR, AGENT1):
        refused(db, sub, insert)
        assert affected(db, sub, update) == 0
        assert affected(db, sub, delete) == 0
    assert affected(db, ADMIN, insert) == 1
    assert affected(db, ADMIN, update) == 1
    assert affected(db, ADMIN, delete) == 1


# --- profiles ----------------------------------------------------------------------------------

SET_NAME = "update public.profiles set display_name = %s where id = %s"
SET_ROLE = "update public.profiles set role = %s where id = %s"


def _profile(db: Conn, sub: str) -> tuple[Any, ...]:
    [row] = as_superuser(db, "select display_name, role from public.profiles where id = %s", (sub,))
    return tuple(row)


def test_user_updates_own_display_name_only(db: Conn) -> None:
    assert affected(db, AGENT1, SET_NAME, ("Ana", AGENT1)) == 1
    assert affected(db, AGENT1, SET_NAME, ("Bruno?", AGENT2)) == 0
    assert affected(db, SUPERVISOR, SET_NAME, ("Renamed", AGENT1)) == 0
    assert _profile(db, AGENT1) == ("Ana", "agent")


@pytest.mark.parametrize(
    ("sub", "target"),
    [(AGENT1, AGENT1), (SUPERVISOR, SUPERVISOR), (SUPERVISOR, AGENT1)],
    ids=user_id,
)
def test_only_admin_changes_roles(db: Conn, sub: str, target: str) -> None:
    before = _profile(db, target)
    if sub == target:
        refused(db, sub, SET_ROLE, ("admin", target))
    else:
        assert affected(db, sub, SET_ROLE, ("admin", target)) == 0
    assert _profile(db, target) == before


def test_admin_changes_any_role(db: Conn) -> None:
    assert affected(db, ADMIN, SET_ROLE, ("supervisor", AGENT1)) == 1
    assert _profile(db, AGENT1)[1] == "supervisor"
    assert chat_ids(db, AGENT1, "wa_chats") == ALL_CHATS  # the promotion takes effect at once
    with pytest.raises(errors.CheckViolation):
        affected(db, ADMIN, SET_ROLE, ("owner", AGENT1))


def test_profile_id_is_immutable(db: Conn) -> None:
    refused(db, AGENT1, "update public.profiles set id = %s where id = %s", (NO_PROFILE, AGENT1))


def test_missing_profile_is_created_as_agent_only(db: Conn) -> None:
    insert = "insert into public.profiles (id, display_name, role) values (%s, 'New', %s)"
    refused(db, NO_PROFILE, insert, (NO_PROFILE, "admin"))
    refused(db, NO_PROFILE, insert, (AGENT1, "agent"))  # someone else's id
    assert affected(db, NO_PROFILE, insert, (NO_PROFILE, "agent")) == 1
    assert chat_ids(db, NO_PROFILE, "wa_chats") == {CHAT_FREE}


# --- activity_logs -------------------------------------------------------------------------------

LOG = "insert into public.activity_logs (actor_id, action, chat_id) values (%s, 'note.add', %s)"


def test_activity_logged_as_oneself_only(db: Conn) -> None:
    assert affected(db, AGENT1, LOG, (AGENT1, CHAT_A1)) == 1
    refused(db, AGENT1, LOG, (AGENT2, CHAT_A1))
    refused(db, AGENT1, LOG, (None, CHAT_A1))
    assert affected(db, AGENT2, "insert into public.activity_logs (action) values ('login')") == 1
    assert as_superuser(
        db, "select actor_id::text from public.activity_logs where action = 'login'"
    ) == [(AGENT2,)]


@pytest.mark.parametrize(
    ("sub", "expected"),
    [(ADMIN, 3), (SUPERVISOR, 3), (AGENT1, 1), (AGENT2, 1), (NO_PROFILE, 0)],
    ids=user_id,
)
def test_activity_read_scope(db: Conn, sub: str, expected: int) -> None:
    rows = fetch(db, sub, "select actor_id::text from public.activity_logs")
    assert len(rows) == expected
    if sub in (AGENT1, AGENT2):
        assert rows == [(sub,)]


@pytest.mark.parametrize("sub", [ADMIN, SUPERVISOR, AGENT1], ids=user_id)
def test_activity_log_is_append_only(db: Conn, sub: str) -> None:
    refused(db, sub, "update public.activity_logs set action = 'x'")
    refused(db, sub, "delete from public.activity_logs")


# --- WhatsApp history: read-only for users; service role does everything ----------------------


@pytest.mark.parametrize("sub", [ADMIN, SUPERVISOR, AGENT1], ids=user_id)
def test_users_never_write_history(db: Conn, sub: str) -> None:
    refused(db, sub, "insert into public.wa_chats (id) values ('999@s.whatsapp.net')")
    refused(db, sub, "update public.wa_chats set name = 'x'")
    refused(db, sub, "delete from public.wa_chats")
    refused(
        db,
        sub,
        "insert into public.wa_messages (chat_id, id, from_me, ts, type, ack)"
        " values (%s, 'x', true, 1, 'text', 1)",
        (CHAT_FREE,),
    )
    refused(db, sub, "update public.wa_messages set body = 'x'")
    refused(db, sub, "delete from public.wa_messages")
    refused(db, sub, "insert into public.wa_contacts (id) values ('x')")
    refused(db, sub, "select * from public.wa_sync_state")
    refused(db, sub, "update public.wa_sync_state set seq = 0")


@pytest.mark.parametrize("sub", [ADMIN, AGENT1], ids=user_id)
def test_truncate_is_never_granted_to_users(db: Conn, sub: str) -> None:
    # RLS does not apply to TRUNCATE, so it must not be granted at all.
    for table in TABLES:
        refused(db, sub, sql.SQL("truncate public.{} cascade").format(sql.Identifier(table)))


def test_agents_read_contacts(db: Conn) -> None:
    assert len(fetch(db, AGENT1, "select * from public.wa_contacts")) == 2


def test_service_role_sees_and_writes_everything(db: Conn) -> None:
    totals = {t: as_superuser(db, count_all(t))[0][0] for t in TABLES}
    assert all(totals.values())  # the seed fills every table
    with as_user(db, None, "service_role") as conn:
        for table in TABLES:
            assert conn.execute(count_all(table)).fetchall() == [(totals[table],)], table
        conn.execute(
            b"insert into public.wa_chats (id, name) values ('444@s.whatsapp.net', 'New')"
            b" on conflict (session, id) do update set name = excluded.name"
        )
        conn.execute(
            b"insert into public.wa_messages (chat_id, id, from_me, ts, type, ack)"
            b" values ('444@s.whatsapp.net', 'm9', true, 40, 'text', 1)"
        )
        conn.execute(b"update public.wa_messages set ack = 4 where id = 'm9'")
        conn.execute(b"update public.wa_sync_state set seq = seq + 1")
        conn.execute(b"insert into public.wa_contacts (id) values ('444@s.whatsapp.net')")
        conn.execute(
            b"insert into public.chat_assignments (chat_id, agent_id)"
            b" values ('444@s.whatsapp.net', %s)",
            (AGENT2,),
        )
        conn.execute(b"update public.profiles set role = 'supervisor' where id = %s", (AGENT1,))
        conn.execute(b"insert into public.settings (key, value) values ('k', '1')")
        conn.execute(b"delete from public.chat_notes")
        conn.execute(b"delete from public.activity_logs")
        conn.execute(b"delete from public.wa_chats where id = %s", (CHAT_FREE,))
    assert as_superuser(db, "select seq from public.wa_sync_state") == [(43,)]
    assert as_superuser(
        db, "select count(*) from public.wa_messages where chat_id = %s", (CHAT_FREE,)
    ) == [(0,)]
    assert _profile(db, AGENT1)[1] == "supervisor"


def test_history_updated_at_is_maintained(db: Conn) -> None:
    [(before,)] = as_superuser(
        db, "select updated_at from public.wa_chats where id = %s", (CHAT_A1,)
    )
    with as_user(db, None, "service_role") as conn:
        conn.execute(b"update public.wa_chats set unread_count = 2 where id = %s", (CHAT_A1,))
    [(after,)] = as_superuser(
        db, "select updated_at from public.wa_chats where id = %s", (CHAT_A1,)
    )
    assert after > before


def test_jid_aliases_are_for_the_service_role_only(db: Conn) -> None:
    with as_user(db, None, "service_role") as c:
        c.execute(
            "insert into public.wa_jid_aliases (lid, pn) values ('1@lid', '55@s.whatsapp.net')"
        )
        assert c.execute("select count(*) from public.wa_jid_aliases").fetchone() == (2,)
    for role in ("anon", "authenticated"):
        with pytest.raises(errors.InsufficientPrivilege), as_user(db, None, role) as c:
            c.execute("select * from public.wa_jid_aliases")
