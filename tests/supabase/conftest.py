"""Fixtures: one migrated database per test session, reseeded (tests.supabase.seed) before
every test so each test may write freely."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from tests.supabase.bootstrap import PostgresUnavailableError, supabase_database
from tests.supabase.seed import SEED


@pytest.fixture(scope="session")
def supabase_dsn() -> Iterator[str]:
    # A missing server must FAIL the run loudly (CI starts PostgreSQL), never skip.
    with ExitStack() as stack:
        try:
            dsn = stack.enter_context(supabase_database())
        except PostgresUnavailableError as exc:
            unavailable = str(exc)
        else:
            yield dsn
            return
    pytest.fail(unavailable, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture
def db(supabase_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit superuser connection to the freshly reseeded database."""
    with psycopg.connect(supabase_dsn, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(SEED)
        yield conn
