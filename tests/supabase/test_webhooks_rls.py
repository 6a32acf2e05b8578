"""Issue 18's tables in the Supabase schema, on a real PostgreSQL: the webhook endpoints (their
signing secrets included) and the outbox are the service role's alone; no user, admins
included, reads or writes them, nor runs their pruning."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.supabase.bootstrap import as_user
from tests.supabase.seed import ADMIN, AGENT1, NO_PROFILE, SUPERVISOR
from tests.supabase.test_rls import refused, user_id

Conn = psycopg.Connection[Any]
WEBHOOK_TABLES = {"wa_webhooks": "url", "wa_webhook_events": "ord", "wa_webhook_deliveries": "ord"}


@pytest.mark.parametrize("sub", [ADMIN, SUPERVISOR, AGENT1, NO_PROFILE, None], ids=user_id)
@pytest.mark.parametrize("table", WEBHOOK_TABLES)
def test_no_user_reads_or_changes_the_webhook_tables(db: Conn, sub: str | None, table: str) -> None:
    name, column = sql.Identifier(table), sql.Identifier(WEBHOOK_TABLES[table])
    refused(db, sub, sql.SQL("select * from public.{}").format(name))
    refused(db, sub, sql.SQL("delete from public.{}").format(name))
    refused(db, sub, sql.SQL("update public.{} set {} = {}").format(name, column, column))


@pytest.mark.parametrize("sub", [ADMIN, AGENT1, None], ids=user_id)
def test_no_user_adds_an_endpoint_or_prunes_the_outbox(db: Conn, sub: str | None) -> None:
    refused(
        db, sub,
        "insert into public.wa_webhooks (id, url, concurrency, secret, created_at, updated_at) "
        "values ('wh_00000000000000ff', 'https://evil.example', 1, 'whsec_x', 0, 0)",
    )  # fmt: skip
    refused(db, sub, "select public.prune_webhooks('default', 1e12)")


def test_the_service_role_reads_writes_and_prunes(db: Conn) -> None:
    with as_user(db, None, "service_role") as conn:
        [(secret,)] = conn.execute("select secret from public.wa_webhooks").fetchall()
        assert secret.startswith("whsec_")
        conn.execute(
            "update public.wa_webhook_deliveries set status = 'delivered', last_attempt_at = 1"
        )
        conn.execute("select public.prune_webhooks('default', 1800000001)")
        assert conn.execute("select count(*) from public.wa_webhook_deliveries").fetchall() == [
            (0,)
        ]
        assert conn.execute("select count(*) from public.wa_webhook_events").fetchall() == [(0,)]


def test_a_delivery_status_is_one_of_the_four(db: Conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("update public.wa_webhook_deliveries set status = 'sent'")
