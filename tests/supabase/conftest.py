"""Fixtures: one migrated database per test session (in the session's own cluster, the
`postgres_dsn` fixture), reseeded (tests.supabase.seed) before every test so each test may
write freely."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.supabase.bootstrap import supabase_database
from tests.supabase.seed import SEED


@pytest.fixture(scope="session")
def supabase_dsn(postgres_dsn: str) -> Iterator[str]:
    with supabase_database(postgres_dsn) as dsn:
        yield dsn


@pytest.fixture
def db(supabase_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit superuser connection to the freshly reseeded database."""
    with psycopg.connect(supabase_dsn, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(SEED)
        yield conn
