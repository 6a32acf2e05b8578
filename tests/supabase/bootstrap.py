"""A throwaway "Supabase-like" database on a real PostgreSQL.

Supabase is PostgreSQL plus a few fixed pieces the migrations rely on: the API roles (anon,
authenticated, service_role, and authenticator, the login PostgREST uses to switch into them),
the `auth` schema with `auth.users` and the `auth.uid()/role()/jwt()` helpers that read the
request's JWT claims, the `supabase_realtime` publication, and grants that make every new table
reachable by the API roles (row-level security does the filtering). This module recreates those
pieces on a fresh database, applies `supabase/migrations/*.sql` in name order, and drops the
database afterwards.

    from tests.supabase.bootstrap import as_user, supabase_database

    with supabase_database(admin_dsn) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        with as_user(conn, "8c0e...-uuid") as c:          # SET LOCAL ROLE authenticated + claims
            c.execute("select id from public.wa_chats").fetchall()

`admin_dsn` is a role allowed to create roles and databases: in the tests, the superuser of the
session's own cluster (the `postgres_dsn` fixture, tests/pgserver.py).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = REPO / "supabase" / "migrations"
DATABASE_PREFIX = "supabase_test_"

# Supabase CLI naming: <14-digit timestamp>_<name>.sql, applied in name order.
MIGRATION_NAME = re.compile(r"^\d{14}_[A-Za-z0-9_\-]+\.sql$")

# Roles are cluster-wide, so suites sharing a cluster (this one, tests/postgrest) serialise
# their creation on one advisory lock in the maintenance database.
_ROLES_LOCK_KEY = 0x5B_A5E_0001

_ROLES_SQL = b"""
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
end;
$$;
-- Whoever created it, the service role must bypass RLS or every test of it is meaningless.
alter role service_role bypassrls;
grant anon, authenticated, service_role to authenticator;
"""

# What Supabase provides in every project database before any user migration runs. The auth
# functions are Supabase's own definitions (supabase/auth migration "update_auth_functions"):
# the legacy per-claim GUC first, then the request.jwt.claims JSON that PostgREST >= 9 sets.
_DATABASE_SQL = b"""
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
    id    uuid primary key default gen_random_uuid(),
    email text
);
grant all on table auth.users to service_role;

create or replace function auth.uid() returns uuid
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

do $$
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
        create publication supabase_realtime;
    end if;
end;
$$;

-- Supabase's grants: the API roles may use schema public and, through default privileges,
-- every table, sequence and function the migrations (run as this role) create in it.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public
    grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public
    grant all on functions to anon, authenticated, service_role;
"""


def database_dsn(database: str, base: str) -> str:
    """The DSN of `database` on the same server and as the same user as `base`."""
    return make_conninfo(base, dbname=database)


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migrations in the order the Supabase CLI applies them; misnamed files are an error
    (the CLI would skip them silently, and a skipped migration is a security hole)."""
    files = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    bad = [p.name for p in files if not MIGRATION_NAME.match(p.name)]
    if bad:
        raise ValueError(f"migrations not named <14-digit timestamp>_<name>.sql: {bad}")
    return files


def ensure_roles(admin: psycopg.Connection[Any], attempts: int = 5) -> None:
    """Create the Supabase API roles if missing. Retries because another session that does not
    take our lock may create or grant the same roles at the same moment."""
    for attempt in range(attempts):
        try:
            with admin.transaction():
                admin.execute("select pg_advisory_xact_lock(%s)", (_ROLES_LOCK_KEY,))
                admin.execute(_ROLES_SQL)
            return
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject) as exc:
            if attempt == attempts - 1:
                raise RuntimeError("could not create the Supabase roles") from exc
        except psycopg.errors.InternalError as exc:  # "tuple concurrently updated"
            if attempt == attempts - 1:
                raise RuntimeError("could not create the Supabase roles") from exc
        time.sleep(0.05 * (attempt + 1))


def prepare_database(dsn: str) -> None:
    """Install the Supabase-provided pieces (auth schema, publication, grants) in `dsn`."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(_DATABASE_SQL)


def apply_migrations(dsn: str, files: Sequence[Path] | None = None) -> None:
    """Apply each migration in its own transaction, as the Supabase CLI does."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in migration_files() if files is None else files:
            try:
                with conn.transaction():
                    # No parameters: psycopg sends the file as is, several statements at once.
                    conn.execute(path.read_bytes())
            except psycopg.Error as exc:
                raise RuntimeError(f"migration {path.name} failed: {exc}") from exc


@contextmanager
def supabase_database(admin_dsn: str, *, migrate: bool = True) -> Iterator[str]:
    """Create a fresh Supabase-like database on the server of `admin_dsn`, apply the migrations
    (unless `migrate` is False), yield its DSN (superuser: connect as is to act as the database
    owner), drop it at exit."""
    name = DATABASE_PREFIX + secrets.token_hex(6)
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as admin:
        ensure_roles(admin)
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        try:
            dsn = database_dsn(name, admin_dsn)
            prepare_database(dsn)
            if migrate:
                apply_migrations(dsn)
            yield dsn
        finally:
            # FORCE: a pool or server left connected by a test must not leak the database.
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def claims_for(sub: str | None, role: str = "authenticated", **extra: Any) -> dict[str, Any]:
    """JWT claims as Supabase Auth issues them (only what the policies read)."""
    claims: dict[str, Any] = {"role": role, **extra}
    if sub is not None:
        claims["sub"] = sub
    return claims


@contextmanager
def as_user(
    conn: psycopg.Connection[Any],
    sub: str | None,
    role: str = "authenticated",
    claims: Mapping[str, Any] | None = None,
) -> Iterator[psycopg.Connection[Any]]:
    """Run a block as PostgREST runs a request: in one transaction, `SET LOCAL ROLE <role>` and
    the JWT claims in `request.jwt.claims`. Commits at exit, rolls back on an exception; the
    role and claims end with the transaction. `sub=None, role="anon"` is a visitor without a
    session; `role="service_role"` is the orchestrator's key."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        # Inside an open transaction SET LOCAL would outlive this block (until that
        # transaction ends) and the next statements would silently run as this user.
        raise ValueError("as_user needs a connection with no transaction in progress")
    payload = dict(claims) if claims is not None else claims_for(sub, role)
    with conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(payload),))
        yield conn
