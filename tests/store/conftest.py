"""The store contract suite runs against every backend: SQLite on a temp file, and Supabase
through the real `supabase` client, over HTTP, to the PostgREST stand-in on the session's own
PostgreSQL with the migrations applied (tests/postgrest/README.md says what that covers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from orchestrator.store import Store
from orchestrator.store.sqlite import SqliteStore
from orchestrator.store.supabase import SupabaseStore
from tests.postgrest.conftest import SECRET, token
from tests.postgrest.server import run_standin
from tests.supabase.bootstrap import supabase_database

TABLES = (
    "wa_messages, wa_chats, wa_contacts, wa_jid_aliases, wa_sync_state, chat_assignments, "
    "chat_tags, tags, chat_notes, quick_replies, settings, activity_logs, profiles, auth.users"
    ", wa_labels, whatsapp_sessions, wa_stream_log, chat_status, session_settings, rule_runs"
    ", rule_cursors, wa_webhooks, wa_webhook_events, wa_webhook_deliveries"
)


@pytest.fixture(scope="session")
def supabase_rest(postgres_dsn: str) -> Iterator[tuple[str, str]]:
    """(dsn, url) of a migrated Supabase-like database and a stand-in serving it."""
    with ExitStack() as stack:
        dsn = stack.enter_context(supabase_database(postgres_dsn))
        yield dsn, stack.enter_context(run_standin(dsn, SECRET))


@pytest.fixture(params=["sqlite", "supabase"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "store.sqlite3")
    else:
        dsn, url = request.getfixturevalue("supabase_rest")
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute(f"truncate {TABLES} restart identity cascade")  # type: ignore[arg-type]
        backend = SupabaseStore(url, token("service_role"), prune_interval=0)
    await backend.open()
    yield backend
    await backend.close()


MakeUser = Callable[..., Awaitable[str]]


@pytest.fixture
def make_user(store: Store, request: pytest.FixtureRequest) -> MakeUser:
    """A helpdesk user with a profile of `role` (and `sessions`, or the default membership);
    returns the user id (a uuid)."""

    async def make(role: str, sessions: list[str] | None = None) -> str:
        user_id = str(uuid.uuid4())
        if isinstance(store, SupabaseStore):
            dsn, _ = request.getfixturevalue("supabase_rest")
            with psycopg.connect(dsn, autocommit=True) as db:
                db.execute(
                    "insert into auth.users (id, email) values (%s, %s)", (user_id, f"{user_id}@t")
                )
        await store.save_profile(user_id, f"{role} {user_id[:4]}", role, sessions)
        return user_id

    return make
