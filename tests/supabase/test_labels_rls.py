"""Row-level security of the WhatsApp labels migration: any helpdesk user reads the labels
(they are not tied to one chat, like contacts), nobody but the service role writes them, and
a chat's label ids are read under the chat's own rule. (Anon, truncate and the service role
are covered for every table by test_rls.py, which lists wa_labels in seed.TABLES.)"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.supabase.bootstrap import as_user
from tests.supabase.seed import ADMIN, AGENT1, AGENT2, CHAT_A1, NO_PROFILE

Conn = psycopg.Connection[Any]


def fetch(db: Conn, sub: str, query: bytes) -> list[Any]:
    with as_user(db, sub, "authenticated") as conn:
        return conn.execute(query).fetchall()


@pytest.mark.parametrize("sub", [ADMIN, AGENT1, AGENT2])
def test_helpdesk_users_read_every_label(db: Conn, sub: str) -> None:
    rows = fetch(db, sub, b"select id, name, color, deleted from public.wa_labels order by id")
    assert rows == [("1", "New customer", 0, False), ("5", "VIP", 3, False)]


def test_a_user_without_profile_reads_no_label(db: Conn) -> None:
    assert fetch(db, NO_PROFILE, b"select * from public.wa_labels") == []


@pytest.mark.parametrize(
    "statement",
    [
        b"insert into public.wa_labels (id, name) values ('9', 'x')",
        b"update public.wa_labels set name = 'x'",
        b"delete from public.wa_labels",
    ],
)
def test_users_never_write_labels(db: Conn, statement: bytes) -> None:
    with pytest.raises(errors.InsufficientPrivilege), as_user(db, ADMIN, "authenticated") as conn:
        conn.execute(statement)


def test_a_chats_label_ids_follow_the_chats_rule(db: Conn) -> None:
    query = b"select id, labels from public.wa_chats where labels <> '[]'"
    assert fetch(db, AGENT1, query) == [(CHAT_A1, ["5"])]
    assert fetch(db, AGENT2, query) == []  # agent 1's chat
