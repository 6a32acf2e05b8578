"""Row-level security of message search (20261208120100_message_search.sql): the function is
security invoker, so a signed-in user calling it (PostgREST's /rpc, here through the stand-in
and the real supabase client) finds only the messages the wa_messages policies show him; anon
may not call it at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from postgrest import APIError

from supabase import Client, create_client
from tests.postgrest.conftest import SECRET, token
from tests.postgrest.server import run_standin
from tests.supabase.bootstrap import as_user
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

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)

Conn = psycopg.Connection[Any]

# One message per chat with the word "pedido" (accented differently), and one in another
# session that nobody searching 'default' may get.
EXTRA = """
insert into public.wa_messages (chat_id, id, from_me, ts, type, body, ack) values
    ('111@s.whatsapp.net', 's1', false, 40, 'text', 'Pedido atrasado', 3),
    ('222@s.whatsapp.net', 's2', false, 41, 'text', 'meu pédido', 3),
    ('333@s.whatsapp.net', 's3', false, 42, 'text', 'pedidos novos', 3);
insert into public.wa_chats (session, id) values ('sales', '111@s.whatsapp.net');
insert into public.wa_messages (session, chat_id, id, from_me, ts, type, body, ack) values
    ('sales', '111@s.whatsapp.net', 's4', false, 43, 'text', 'pedido', 3);
"""
EVERY = {"s1": CHAT_A1, "s2": CHAT_A2, "s3": CHAT_FREE}
ARGS = {"search_session": "default", "query": "pedi"}


@pytest.fixture
def seeded(db: Conn) -> Conn:
    db.execute(EXTRA.encode())
    return db


@pytest.fixture(scope="module")
def standin(supabase_dsn: str) -> Iterator[str]:
    with run_standin(supabase_dsn, SECRET) as url:
        yield url


@pytest.fixture
def connect(standin: str) -> Iterator[Any]:
    clients: list[Client] = []

    def make(role: str, sub: str | None = None) -> Client:
        client = create_client(standin, token(role, sub))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.postgrest.aclose()  # postgrest-py's sync close is (oddly) named aclose


def ids(rows: Any) -> set[str]:
    return {row["id"] for row in rows}


@pytest.mark.parametrize(
    ("sub", "expected"),
    [(ADMIN, {"s1", "s2", "s3"}), (SUPERVISOR, {"s1", "s2", "s3"}), (AGENT1, {"s1", "s3"}),
     (AGENT2, {"s2", "s3"}), (NO_PROFILE, set())],
)  # fmt: skip
def test_users_find_only_messages_of_chats_they_may_see(
    seeded: Conn, connect: Any, sub: str, expected: set[str]
) -> None:
    rows = connect("authenticated", sub).rpc("search_messages", ARGS).execute().data
    assert ids(rows) == expected
    assert all(EVERY[row["id"]] == row["chat_id"] for row in rows)
    with as_user(seeded, sub) as conn:  # the same in SQL, as PostgREST runs it
        sql_rows = conn.execute(
            "select id from public.search_messages('default', 'pedi')"
        ).fetchall()
    assert {row[0] for row in sql_rows} == expected


def test_hidden_chats_and_one_chat_narrow_within_what_rls_shows(seeded: Conn, connect: Any) -> None:
    agent1 = connect("authenticated", AGENT1)
    hidden = agent1.rpc("search_messages", {**ARGS, "hidden_chats": [CHAT_FREE]}).execute()
    assert ids(hidden.data) == {"s1"}
    # Asking for another agent's chat gives nothing, not an error.
    other = agent1.rpc("search_messages", {**ARGS, "search_chat_id": CHAT_A2}).execute()
    assert other.data == []


def test_the_service_role_sees_every_chat_of_the_session_it_names(
    seeded: Conn, connect: Any
) -> None:
    service = connect("service_role")
    assert ids(service.rpc("search_messages", ARGS).execute().data) == set(EVERY)
    sales = {**ARGS, "search_session": "sales"}
    assert ids(service.rpc("search_messages", sales).execute().data) == {"s4"}


def test_anon_may_not_search(seeded: Conn, connect: Any) -> None:
    with pytest.raises(APIError) as caught:
        connect("anon").rpc("search_messages", ARGS).execute()
    assert caught.value.code == "42501"


def test_the_search_index_is_a_gin_index_over_the_folded_text(db: Conn) -> None:
    [(definition,)] = db.execute(
        "select indexdef from pg_indexes where indexname = 'wa_messages_search_idx'"
    ).fetchall()
    assert " USING gin " in definition and "search_fold" in definition
    # unaccent is installed here: the text is folded ("pédido" is found as "pedido").
    assert db.execute("select public.search_fold('pédido ÇÃO')").fetchone() == ("pedido CAO",)


def test_the_function_searches_through_the_index(seeded: Conn) -> None:
    """The plan of the query inside search_messages, as auto_explain logs it, over enough
    messages for the plan to matter: the GIN index (the query's expression is the index's),
    not a walk through every message of the session."""
    seeded.execute(
        "insert into public.wa_messages (chat_id, id, from_me, ts, type, body, ack) "
        "select '333@s.whatsapp.net', 'f' || n, false, 1000 + n, 'text', 'filler text ' || n, 3 "
        "from generate_series(1, 20000) as n"
    )
    seeded.execute("analyze public.wa_messages")
    notices: list[str] = []
    seeded.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary or ""))
    with seeded.transaction():
        seeded.execute("load 'auto_explain'")
        for setting in ("set local auto_explain.log_min_duration = 0",
                        "set local auto_explain.log_nested_statements = on",
                        "set local auto_explain.log_level = notice"):  # fmt: skip
            seeded.execute(setting)  # type: ignore[arg-type]  # constants
        rows = seeded.execute("select id from public.search_messages('default', 'pedi')")
        assert {row[0] for row in rows.fetchall()} == set(EVERY)
    plans = [n for n in notices if "from public.wa_messages m" in n]
    assert len(plans) == 1 and "wa_messages_search_idx" in plans[0], plans
