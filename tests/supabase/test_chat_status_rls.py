"""Row-level security of the chat status migration (issue 16), on a real PostgreSQL: a user
reads and sets the status of the chats he may see, as himself, like an assignment; only staff
delete a status; the chat and session of a row and its time are not the user's to write.
(Anon, truncate, realtime and the service role are covered for every table by test_rls.py,
which lists chat_status in seed.TABLES and CHAT_SCOPED.)

The seed: CHAT_A1 (agent 1's) pending, set by agent 1; CHAT_FREE resolved by the supervisor;
CHAT_A2 (agent 2's) has no row, so it is open."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.supabase.seed import ADMIN, AGENT1, AGENT2, CHAT_A1, CHAT_A2, CHAT_FREE, SUPERVISOR
from tests.supabase.test_rls import affected, as_superuser, fetch, refused, user_id

Conn = psycopg.Connection[Any]

UPSERT = (
    "insert into public.chat_status (chat_id, status, updated_by) values (%s, %s, %s)"
    " on conflict (session, chat_id) do update"
    " set status = excluded.status, updated_by = excluded.updated_by"
)


def status_of(db: Conn, chat_id: str) -> tuple[str, str | None] | None:
    rows = as_superuser(
        db, "select status, updated_by::text from public.chat_status where chat_id = %s", (chat_id,)
    )
    return rows[0] if rows else None


@pytest.mark.parametrize(
    ("sub", "expected"),
    [
        (ADMIN, {(CHAT_A1, "pending"), (CHAT_FREE, "resolved")}),
        (AGENT1, {(CHAT_A1, "pending"), (CHAT_FREE, "resolved")}),
        (AGENT2, {(CHAT_FREE, "resolved")}),  # agent 1's chat is not his
    ],
    ids=user_id,
)
def test_a_user_reads_the_status_of_the_chats_he_sees(
    db: Conn, sub: str, expected: set[tuple[str, str]]
) -> None:
    assert set(fetch(db, sub, "select chat_id, status from public.chat_status")) == expected


def test_an_agent_sets_the_status_of_his_chats_as_himself(db: Conn) -> None:
    before = as_superuser(db, "select updated_at from public.chat_status where chat_id = %s",
                          (CHAT_A1,))[0][0]  # fmt: skip
    assert affected(db, AGENT1, UPSERT, (CHAT_A1, "resolved", AGENT1)) == 1
    assert status_of(db, CHAT_A1) == ("resolved", AGENT1)
    after = as_superuser(db, "select updated_at from public.chat_status where chat_id = %s",
                         (CHAT_A1,))[0][0]  # fmt: skip
    assert after > before  # the trigger stamps every change
    # a first status on his other chat, and one on the free chat (the queue he may take from)
    assert affected(db, AGENT2, UPSERT, (CHAT_A2, "pending", AGENT2)) == 1
    assert affected(db, AGENT2, UPSERT, (CHAT_FREE, "open", AGENT2)) == 1
    assert (status_of(db, CHAT_A2), status_of(db, CHAT_FREE)) == (
        ("pending", AGENT2), ("open", AGENT2),
    )  # fmt: skip


def test_nobody_sets_the_status_of_a_chat_he_may_not_see(db: Conn) -> None:
    refused(db, AGENT1, UPSERT, (CHAT_A2, "resolved", AGENT1))  # agent 2's chat: no row yet
    refused(db, AGENT2, UPSERT, (CHAT_A1, "resolved", AGENT2))  # agent 1's: the row is hidden
    update = "update public.chat_status set status = 'open', updated_by = %s where chat_id = %s"
    assert affected(db, AGENT2, update, (AGENT2, CHAT_A1)) == 0
    assert status_of(db, CHAT_A1) == ("pending", AGENT1)
    assert status_of(db, CHAT_A2) is None


def test_a_status_is_set_only_as_oneself(db: Conn) -> None:
    refused(db, AGENT1, UPSERT, (CHAT_A1, "resolved", SUPERVISOR))
    # leaving updated_by as it was names the last one who set it, not the caller: refused
    refused(db, AGENT1, "update public.chat_status set status = 'open' where chat_id = %s",
            (CHAT_FREE,))  # fmt: skip
    assert status_of(db, CHAT_FREE) == ("resolved", SUPERVISOR)


def test_only_the_three_statuses_exist(db: Conn) -> None:
    with pytest.raises(errors.CheckViolation):
        affected(db, ADMIN, UPSERT, (CHAT_A2, "closed", ADMIN))


@pytest.mark.parametrize(
    "statement",
    [
        "update public.chat_status set chat_id = '999@s.whatsapp.net', updated_by = %s"
        " where chat_id = '111@s.whatsapp.net'",
        "update public.chat_status set session = 'b', updated_by = %s"
        " where chat_id = '111@s.whatsapp.net'",
        "update public.chat_status set updated_at = now() - interval '1 day', updated_by = %s"
        " where chat_id = '111@s.whatsapp.net'",
        "insert into public.chat_status (chat_id, status, updated_by, updated_at)"
        " values ('222@s.whatsapp.net', 'open', %s, now())",
    ],
)
def test_the_row_chat_and_time_are_not_the_users(db: Conn, statement: str) -> None:
    refused(db, ADMIN, statement, (ADMIN,))


def test_only_staff_delete_a_status(db: Conn) -> None:
    delete = "delete from public.chat_status where chat_id = %s"
    assert affected(db, AGENT1, delete, (CHAT_A1,)) == 0  # his own chat: still no
    assert status_of(db, CHAT_A1) == ("pending", AGENT1)
    assert affected(db, SUPERVISOR, delete, (CHAT_A1,)) == 1
    assert status_of(db, CHAT_A1) is None


def test_deleting_a_user_keeps_the_statuses_he_set(db: Conn) -> None:
    db.execute("delete from public.chat_notes where author_id = %s", (AGENT1,))  # they hold him
    db.execute("delete from auth.users where id = %s", (AGENT1,))
    assert status_of(db, CHAT_A1) == ("pending", None)
