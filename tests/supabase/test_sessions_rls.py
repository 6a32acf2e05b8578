"""Sessions (several WhatsApp numbers) in the Supabase schema, on a real PostgreSQL: every row
about a chat belongs to a session, an agent sees only the sessions of his profile, the same
jid in two sessions is two conversations, only an admin changes a membership, the registry's
proxy stays hidden, and the migration puts a database's existing rows in 'default'.

The seed (tests.supabase.seed) is all in 'default'; `session_b` adds a second session on top."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from tests.supabase.bootstrap import apply_migrations, as_user, migration_files, supabase_database
from tests.supabase.seed import (
    ADMIN,
    AGENT1,
    AGENT2,
    CHAT_A1,
    CHAT_A2,
    CHAT_FREE,
    NO_PROFILE,
    SUPERVISOR,
)
from tests.supabase.test_rls import Params, Query, affected, as_superuser, fetch, refused

Conn = psycopg.Connection[Any]

AGENT3 = "00000000-0000-4000-8000-0000000000a3"  # works in session b only
CHAT_B2 = "444@s.whatsapp.net"  # only in b, assigned to AGENT2 there
D, B = "default", "b"
SESSION_TABLES = (
    "wa_chats", "wa_messages", "wa_contacts", "wa_sync_state", "wa_jid_aliases", "wa_labels",
    "chat_assignments", "chat_tags", "chat_notes", "activity_logs",
)  # fmt: skip
CHAT_SCOPED = ("wa_chats", "wa_messages", "chat_assignments", "chat_tags", "chat_notes")

# In b, CHAT_A1 (AGENT1's chat in default) is unassigned: another conversation with the same jid.
SESSION_B = b"""
insert into auth.users (id, email)
    values ('00000000-0000-4000-8000-0000000000a3', 'cy@example.com');
update public.profiles set sessions = '{b}' where id = '00000000-0000-4000-8000-0000000000a3';
update public.profiles set sessions = '{default,b}'
    where id = '00000000-0000-4000-8000-0000000000a2';

insert into public.wa_chats (session, id, name, last_activity) values
    ('b', '111@s.whatsapp.net', 'Customer one on b', 400), ('b', '444@s.whatsapp.net', 'Four', 50);
insert into public.wa_messages (session, chat_id, id, from_me, ts, type, body, ack) values
    ('b', '111@s.whatsapp.net', 'm1', false, 40, 'text', 'hello b', 3),
    ('b', '444@s.whatsapp.net', 'm5', false, 50, 'text', 'four', 3);
insert into public.chat_assignments (session, chat_id, agent_id, assigned_by) values
    ('b', '444@s.whatsapp.net', '00000000-0000-4000-8000-0000000000a2',
     '00000000-0000-4000-8000-00000000000b');
insert into public.chat_tags (session, chat_id, tag_id) values ('b', '111@s.whatsapp.net', 2);
insert into public.chat_notes (session, chat_id, author_id, body) values
    ('b', '111@s.whatsapp.net', '00000000-0000-4000-8000-00000000000b', 'note in b'),
    ('b', '444@s.whatsapp.net', '00000000-0000-4000-8000-0000000000a2', 'bruno in b');
insert into public.wa_contacts (session, id, name) values ('b', '111@s.whatsapp.net', 'One on b');
insert into public.wa_labels (session, id, name) values ('b', '1', 'Label on b');
"""

EVERY = {(D, CHAT_A1), (D, CHAT_A2), (D, CHAT_FREE), (B, CHAT_A1), (B, CHAT_B2)}
NAMES = {ADMIN: "admin", SUPERVISOR: "supervisor", AGENT1: "agent1-default",
         AGENT2: "agent2-both", AGENT3: "agent3-b", NO_PROFILE: "no-profile"}  # fmt: skip


def user_id(value: object) -> str | None:
    return NAMES.get(value) if isinstance(value, str) else None


@pytest.fixture
def session_b(db: Conn) -> Conn:
    db.execute(SESSION_B)
    return db


def keys(db: Conn, sub: str, table: str) -> set[tuple[str, str]]:
    column = "id" if table == "wa_chats" else "chat_id"
    query = sql.SQL("select session, {} from public.{}").format(
        sql.Identifier(column), sql.Identifier(table)
    )
    return {(row[0], row[1]) for row in fetch(db, sub, query)}


def one(db: Conn, sub: str, query: Query, params: Params = ()) -> Any:
    [(value,)] = fetch(db, sub, query, params)
    return value


# --- who sees which session's chats ------------------------------------------------------------


@pytest.mark.parametrize("table", CHAT_SCOPED)
@pytest.mark.parametrize(
    ("sub", "expected"),
    [
        (ADMIN, EVERY),
        (SUPERVISOR, EVERY),
        (AGENT1, {(D, CHAT_A1), (D, CHAT_FREE)}),
        (AGENT2, {(D, CHAT_A2), (D, CHAT_FREE), (B, CHAT_A1), (B, CHAT_B2)}),
        (AGENT3, {(B, CHAT_A1)}),  # the jid AGENT1 holds in default is free in b
        (NO_PROFILE, set()),
    ],
    ids=user_id,
)
def test_chat_rows_per_session_membership(
    session_b: Conn, table: str, sub: str, expected: set[tuple[str, str]]
) -> None:
    assert keys(session_b, sub, table) == expected & keys(session_b, ADMIN, table)


def test_the_same_jid_in_two_sessions_is_two_conversations(session_b: Conn) -> None:
    messages = "select session, id, body from public.wa_messages where chat_id = %s order by id"
    assert fetch(session_b, AGENT3, messages, (CHAT_A1,)) == [(B, "m1", "hello b")]
    assert fetch(session_b, AGENT1, messages, (CHAT_A1,)) == [
        (D, "m1", "hello"), (D, "m2", "hi, how can I help"),
    ]  # fmt: skip
    notes = "select session, body from public.chat_notes where chat_id = %s"
    assert fetch(session_b, AGENT3, notes, (CHAT_A1,)) == [(B, "note in b")]
    assert fetch(session_b, AGENT1, notes, (CHAT_A1,)) == [(D, "note by ana")]
    see = "select public.can_see_chat(%s, %s)"
    assert one(session_b, AGENT1, see, (D, CHAT_A1)) is True
    assert one(session_b, AGENT1, see, (B, CHAT_A1)) is False  # not his session
    assert one(session_b, AGENT3, see, (D, CHAT_A1)) is False
    assert one(session_b, AGENT3, see, (B, CHAT_A1)) is True
    assert one(session_b, AGENT3, see, (B, CHAT_B2)) is False  # AGENT2's in b


@pytest.mark.parametrize(
    ("sub", "expected"),
    [(ADMIN, {D, B}), (AGENT1, {D}), (AGENT2, {D, B}), (AGENT3, {B}), (NO_PROFILE, set())],
    ids=user_id,
)
def test_contacts_and_labels_per_session(session_b: Conn, sub: str, expected: set[str]) -> None:
    for table in ("wa_contacts", "wa_labels"):
        query = sql.SQL("select distinct session from public.{}").format(sql.Identifier(table))
        assert {row[0] for row in fetch(session_b, sub, query)} == expected


TAKE = "insert into public.chat_assignments (session, chat_id, agent_id) values (%s, %s, %s)"
NOTE = "insert into public.chat_notes (session, chat_id, author_id, body) values (%s, %s, %s, 'x')"
TAG = "insert into public.chat_tags (session, chat_id, tag_id) values (%s, %s, 1)"


def test_agents_write_only_in_their_sessions(session_b: Conn) -> None:
    refused(session_b, AGENT1, TAKE, (B, CHAT_A1, AGENT1))
    refused(session_b, AGENT1, NOTE, (B, CHAT_A1, AGENT1))
    refused(session_b, AGENT1, TAG, (B, CHAT_A1))
    refused(session_b, AGENT3, TAKE, (D, CHAT_FREE, AGENT3))
    refused(session_b, AGENT3, NOTE, (D, CHAT_FREE, AGENT3))
    assert affected(session_b, AGENT3, NOTE, (B, CHAT_A1, AGENT3)) == 1
    assert affected(session_b, AGENT3, TAG, (B, CHAT_A1)) == 1
    # Taking b's chat leaves the same jid in default with its own assignee (AGENT1).
    assert affected(session_b, AGENT3, TAKE, (B, CHAT_A1, AGENT3)) == 1
    assert (B, CHAT_A1) not in keys(session_b, AGENT2, "wa_chats")
    assert keys(session_b, AGENT1, "wa_chats") == {(D, CHAT_A1), (D, CHAT_FREE)}
    # A release by chat id alone touches only the releasing agent's own row.
    release = "delete from public.chat_assignments where chat_id = %s"
    assert affected(session_b, AGENT1, release, (CHAT_A1,)) == 1
    assert as_superuser(
        session_b, "select session, agent_id::text from public.chat_assignments where chat_id = %s",
        (CHAT_A1,),
    ) == [(B, AGENT3)]  # fmt: skip


def test_staff_assign_the_same_jid_in_each_session_independently(session_b: Conn) -> None:
    assert affected(session_b, SUPERVISOR, TAKE, (B, CHAT_A1, AGENT3)) == 1
    rows = "select session, agent_id::text from public.chat_assignments where chat_id = %s"
    assert sorted(as_superuser(session_b, rows, (CHAT_A1,))) == [(B, AGENT3), (D, AGENT1)]


# --- membership ------------------------------------------------------------------------------

SET_SESSIONS = "update public.profiles set sessions = %s where id = %s"


def _sessions(db: Conn, sub: str) -> list[str]:
    [(sessions,)] = as_superuser(db, "select sessions from public.profiles where id = %s", (sub,))
    return list(sessions)


def test_profiles_default_to_the_default_session(db: Conn) -> None:
    rows = as_superuser(db, "select distinct sessions from public.profiles")
    assert rows == [([D],)]


@pytest.mark.parametrize(
    ("sub", "target"),
    [(AGENT1, AGENT1), (SUPERVISOR, SUPERVISOR), (SUPERVISOR, AGENT1)],
    ids=user_id,
)
def test_only_an_admin_changes_a_membership(session_b: Conn, sub: str, target: str) -> None:
    before = _sessions(session_b, target)
    if sub == target:
        refused(session_b, sub, SET_SESSIONS, ([D, B], target))
    else:
        assert affected(session_b, sub, SET_SESSIONS, ([D, B], target)) == 0
    assert _sessions(session_b, target) == before
    # The rest of one's own profile stays editable.
    assert affected(session_b, AGENT1, "update public.profiles set display_name = 'Ana'"
                    " where id = %s", (AGENT1,)) == 1  # fmt: skip


def test_an_admin_changes_a_membership_and_it_takes_effect_at_once(session_b: Conn) -> None:
    assert affected(session_b, ADMIN, SET_SESSIONS, ([D, B], AGENT1)) == 1
    assert (B, CHAT_A1) in keys(session_b, AGENT1, "wa_chats")
    assert affected(session_b, ADMIN, SET_SESSIONS, ([], AGENT1)) == 1
    assert keys(session_b, AGENT1, "wa_chats") == set()
    for bad in (["Sales"], ["a b"], [None], ["x" * 41]):
        with pytest.raises(errors.CheckViolation):
            affected(session_b, ADMIN, SET_SESSIONS, (bad, AGENT1))


def test_a_missing_profile_is_created_with_the_default_membership_only(db: Conn) -> None:
    insert = "insert into public.profiles (id, role, sessions) values (%s, 'agent', %s)"
    refused(db, NO_PROFILE, insert, (NO_PROFILE, [D, B]))
    assert affected(db, NO_PROFILE, insert, (NO_PROFILE, [D])) == 1


# --- the registry ----------------------------------------------------------------------------


@pytest.mark.parametrize("staff", [ADMIN, SUPERVISOR], ids=user_id)
def test_staff_read_the_registry_but_never_the_proxy(db: Conn, staff: str) -> None:
    assert fetch(db, staff, "select id, name from public.whatsapp_sessions") == [("sales", "Sales")]
    refused(db, staff, "select proxy from public.whatsapp_sessions")
    refused(db, staff, "select * from public.whatsapp_sessions")


def test_agents_read_no_session_and_nobody_but_the_service_role_writes(db: Conn) -> None:
    assert fetch(db, AGENT1, "select id from public.whatsapp_sessions") == []
    for sub in (ADMIN, AGENT1):
        refused(db, sub, "insert into public.whatsapp_sessions (id) values ('x')")
        refused(db, sub, "update public.whatsapp_sessions set name = 'x'")
        refused(db, sub, "delete from public.whatsapp_sessions")
    with as_user(db, None, "service_role") as conn:
        conn.execute("update public.whatsapp_sessions set proxy = null where id = 'sales'")
        assert conn.execute("select proxy from public.whatsapp_sessions").fetchall() == [(None,)]


@pytest.mark.parametrize("bad", ["", "Sales", "-x", "a b", "x" * 41])
def test_session_ids_are_slugs(db: Conn, bad: str) -> None:
    with pytest.raises(errors.CheckViolation):
        db.execute("insert into public.whatsapp_sessions (id) values (%s)", (bad,))


# --- keys and the migration of an existing database ------------------------------------------


def primary_keys(db: Conn) -> dict[str, list[str]]:
    rows = as_superuser(
        db,
        "select c.relname, array_agg(a.attname order by k.n) from pg_index i"
        " join pg_class c on c.oid = i.indrelid"
        " join unnest(i.indkey) with ordinality as k (attnum, n) on true"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum"
        " where i.indisprimary and c.relnamespace = 'public'::regnamespace group by c.relname",
    )
    return {table: list(columns) for table, columns in rows}


def test_every_key_starts_with_the_session(db: Conn) -> None:
    keys_by_table = primary_keys(db)
    for table in SESSION_TABLES:
        if table not in ("chat_notes", "activity_logs"):  # identity ids, unique across sessions
            assert keys_by_table[table][0] == "session", table
    assert keys_by_table["chat_assignments"] == ["session", "chat_id"]
    assert keys_by_table["chat_tags"] == ["session", "chat_id", "tag_id"]
    assert keys_by_table["wa_messages"] == ["session", "chat_id", "id"]


OLD_ROWS = b"""
insert into auth.users (id, email) values ('00000000-0000-4000-8000-0000000000a1', 'ana@t');
insert into public.wa_chats (id, name) values ('111@s.whatsapp.net', 'One');
insert into public.wa_messages (chat_id, id, from_me, ts, type, ack)
    values ('111@s.whatsapp.net', 'm1', false, 1, 'waiting', 0);
insert into public.wa_contacts (id, name) values ('111@s.whatsapp.net', 'One');
insert into public.wa_sync_state (id, epoch, seq) values ('bridge', 'e', 3);
insert into public.wa_jid_aliases (lid, pn) values ('1@lid', '111@s.whatsapp.net');
insert into public.wa_labels (id, name) values ('1', 'New');
insert into public.chat_assignments (chat_id, agent_id)
    values ('111@s.whatsapp.net', '00000000-0000-4000-8000-0000000000a1');
insert into public.tags (name) values ('vip');
insert into public.chat_tags (chat_id, tag_id) values ('111@s.whatsapp.net', 1);
insert into public.chat_notes (chat_id, author_id, body)
    values ('111@s.whatsapp.net', '00000000-0000-4000-8000-0000000000a1', 'old note');
insert into public.activity_logs (actor_id, action, chat_id) values
    ('00000000-0000-4000-8000-0000000000a1', 'chat_assigned', '111@s.whatsapp.net'),
    ('00000000-0000-4000-8000-0000000000a1', 'tag_created', null);
"""


def test_the_migration_puts_existing_rows_in_the_default_session(postgres_dsn: str) -> None:
    files = migration_files()
    [target] = [f for f in files if f.name.endswith("_sessions.sql")]
    before, after = files[: files.index(target)], files[files.index(target) :]
    with (
        supabase_database(postgres_dsn, migrate=False) as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        apply_migrations(dsn, before)
        conn.execute(OLD_ROWS)
        apply_migrations(dsn, after)
        for table in SESSION_TABLES:
            query = sql.SQL("select session, count(*) from public.{} group by 1 order by 1")
            counts = conn.execute(query.format(sql.Identifier(table))).fetchall()
            expected = [(D, 1), (None, 1)] if table == "activity_logs" else [(D, 1)]
            assert counts == expected, table  # a global entry (no chat) belongs to no session
        assert as_superuser(conn, "select sessions from public.profiles") == [([D],)]
        # The old rows read as before for their agent, and b may hold the same keys.
        assert fetch(conn, AGENT1, "select session, id from public.wa_chats") == [
            (D, "111@s.whatsapp.net")
        ]
        conn.execute("insert into public.wa_chats (session, id) values ('b', '111@s.whatsapp.net')")
        conn.execute(
            "insert into public.chat_assignments (session, chat_id, agent_id)"
            " values ('b', '111@s.whatsapp.net', %s)",
            (AGENT1,),
        )
        assert as_superuser(conn, "select count(*) from public.chat_assignments") == [(2,)]


def test_realtime_tables_keep_a_replica_identity(db: Conn) -> None:
    """Realtime publishes updates and deletes of these tables: each needs its primary key as
    replica identity, and the moved keys of assignments and chat tags name the session."""
    rows = as_superuser(
        db,
        "select c.relname, c.relreplident from pg_publication_tables t"
        " join pg_class c on c.relname = t.tablename and c.relnamespace = 'public'::regnamespace"
        " where t.pubname = 'supabase_realtime'",
    )
    published = dict(rows)
    assert set(published.values()) == {"d"}  # "default": the primary key
    assert set(published) <= set(primary_keys(db))
    # and such a write goes through (PostgreSQL refuses it on a published table without one)
    assert affected(db, SUPERVISOR, "delete from public.chat_tags where session = 'default'") == 2
