"""A test-only PostgREST stand-in over a real PostgreSQL, mounted at /rest/v1/ like Supabase.

Each request is authenticated with an HS256 JWT, then runs in ONE transaction on its own
connection: SET LOCAL ROLE <role claim>, the request.jwt.claims settings, the statement, COMMIT.
So grants and row-level security decide what a caller sees, as they do behind Supabase.
See README.md for the exact subset served and what is deliberately left out.

    python -m tests.postgrest.server --dsn postgresql://... --jwt-secret S [--port 0]
prints {"url": "http://127.0.0.1:<port>"} once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
import psycopg
import uvicorn
from psycopg import sql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.postgrest import statements as st
from tests.postgrest.errors import ApiError, from_database, unsupported
from tests.postgrest.grammar import Preferences, Query, parse_prefer, parse_query, parse_range

ANON_ROLE = "anon"
JSON_TYPE = "application/json; charset=utf-8"
OBJECT_TYPE = "application/vnd.pgrst.object+json; charset=utf-8"
_CLAIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Caller:
    role: str
    claims: dict[str, Any]

    @property
    def anonymous(self) -> bool:
        return self.role == ANON_ROLE


@dataclass
class Outcome:
    """What a handler produced; turned into an HTTP response by `_respond`."""

    status: int
    body: str | None = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


# --- authentication -------------------------------------------------------------------------


def bearer_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return token.strip()
    # Supabase clients also send the key as `apikey`; use it when there is no bearer token.
    return request.headers.get("apikey")


def authenticate(request: Request, secret: str) -> Caller:
    token = bearer_token(request)
    if token is None:
        return Caller(ANON_ROLE, {"role": ANON_ROLE})
    try:
        # PostgREST checks audience only when jwt-aud is configured, which Supabase leaves unset.
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.ExpiredSignatureError as exc:
        raise _jwt_error("JWT expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise _jwt_error("JWSError JWSInvalidSignature") from exc
    except jwt.PyJWTError as exc:
        raise _jwt_error(f"JWSError ({exc})") from exc
    role = claims.get("role")
    return Caller(role if isinstance(role, str) and role else ANON_ROLE, claims)


def _jwt_error(message: str) -> ApiError:
    return ApiError(401, "PGRST301", message)


async def become(conn: psycopg.AsyncConnection[Any], caller: Caller, request: Request) -> None:
    """Switch to the caller's role and publish the claims, transaction-local, as PostgREST does."""
    await conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(caller.role)))
    settings: dict[str, str] = {
        "request.jwt.claims": json.dumps(caller.claims),
        "request.method": request.method,
        "request.path": request.url.path,
        "request.headers": json.dumps({k.lower(): v for k, v in request.headers.items()}),
    }
    # The older per-claim settings, still read by Supabase's auth.uid()/auth.role() first.
    for name, value in caller.claims.items():
        if _CLAIM_NAME.match(name):
            settings[f"request.jwt.claim.{name}"] = (
                value if isinstance(value, str) else json.dumps(value)
            )
    params = st.Params()
    calls = [
        sql.SQL("pg_catalog.set_config({}, {}, true)").format(params.add(k), params.add(v))
        for k, v in settings.items()
    ]
    await conn.execute(sql.SQL("SELECT ") + sql.SQL(", ").join(calls), params.values)


# --- content negotiation --------------------------------------------------------------------


def response_shape(request: Request) -> st.Shape:
    accept = request.headers.get("accept") or "*/*"
    for entry in accept.split(","):
        media, *options = (part.strip() for part in entry.split(";"))
        strip = "nulls=stripped" in options
        if media == "application/vnd.pgrst.object+json":
            return st.Shape(singular=True, strip_nulls=strip)
        if media in {
            "application/json",
            "application/vnd.pgrst.array+json",
            "*/*",
            "application/*",
        }:
            return st.Shape(strip_nulls=strip and media == "application/vnd.pgrst.array+json")
    raise ApiError(406, "PGRST107", f"None of these media types are available: {accept}")


def check_profile(request: Request) -> None:
    header = "accept-profile" if request.method in {"GET", "HEAD"} else "content-profile"
    schema = request.headers.get(header)
    if schema is not None and schema != st.SCHEMA:
        raise ApiError(406, "PGRST106", f"The schema must be one of the following: {st.SCHEMA}")


def singular_check(rows: int, shape: st.Shape) -> None:
    """vnd.pgrst.object+json wants exactly one row; raising in the transaction rolls it back."""
    if shape.singular and rows != 1:
        raise ApiError(
            406,
            "PGRST116",
            "JSON object requested, multiple (or no) rows returned",
            f"The result contains {rows} rows",
        )


def content_range(lower: int, rows: int, total: int | None) -> str:
    """PostgREST's Content-Range: `lower-upper/total`, `*` when empty or when not counted."""
    upper = lower + rows - 1
    span = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{span}/{'*' if total is None else total}"


# --- reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request, parsed, with its open transaction and the table it names."""

    conn: psycopg.AsyncConnection[Any]
    request: Request
    table: st.Table
    query: Query
    prefs: Preferences
    raw: bytes


def page_window(query: Query, range_header: str | None) -> tuple[int, int | None]:
    """Intersect limit/offset with the Range header, as PostgREST does; (offset, limit)."""
    low = query.offset or 0
    high = None if query.limit is None else low + query.limit - 1
    requested = parse_range(range_header)
    if requested is not None:
        low = max(low, requested[0])
        if requested[1] is not None:
            high = requested[1] if high is None else min(high, requested[1])
    return low, None if high is None else max(high - low + 1, 0)


async def read(call: Call) -> Outcome:
    shape = response_shape(call.request)
    offset, limit = page_window(call.query, call.request.headers.get("range"))
    # planned/estimated are approximations of the exact count; the exact count satisfies both.
    counted = call.prefs.count is not None
    statement, params = st.read_statement(call.table, call.query, offset, limit, shape, counted)
    total, rows, body = await _fetch(call.conn, statement, params)
    if total is not None and offset > total:
        raise ApiError(
            416,
            "PGRST103",
            "Requested range not satisfiable",
            f"An offset of {offset} was requested, but there are only {total} rows.",
        )
    singular_check(rows, shape)
    status = 206 if total is not None and rows < total else 200
    headers = {"Content-Range": content_range(offset, rows, total)}
    return Outcome(status, body, OBJECT_TYPE if shape.singular else JSON_TYPE, headers)


async def _fetch(
    conn: psycopg.AsyncConnection[Any], statement: sql.Composed, params: st.Params
) -> tuple[int | None, int, str]:
    cursor = await conn.execute(statement, params.values)
    row = await cursor.fetchone()
    assert row is not None  # An aggregate always yields one row.
    return row[0], row[1], row[2]


# --- writes ---------------------------------------------------------------------------------


def parse_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "PGRST102", "Empty or invalid json", str(exc)) from exc


def insert_plan(query: Query, prefs: Preferences, raw: bytes) -> st.InsertPlan:
    payload = parse_body(raw)
    text = raw.decode()
    if isinstance(payload, dict):
        rows, body_json = [payload], f"[{text}]"  # Wrap textually: the values are not re-encoded.
    elif isinstance(payload, list) and all(isinstance(row, dict) for row in payload):
        rows, body_json = payload, text
    else:
        raise ApiError(400, "PGRST102", "Empty or invalid json", "Expected an object or objects")
    keys = [frozenset(row) for row in rows]
    if query.columns is not None:
        columns = query.columns
    else:
        # Without `columns=`, the keys of the first object are the columns and must be uniform.
        columns = list(rows[0]) if rows else []
        if any(k != keys[0] for k in keys):
            raise ApiError(400, "PGRST102", "All object keys must match")
    return st.InsertPlan(
        columns, keys, body_json, prefs.missing_default, prefs.resolution, query.on_conflict
    )


async def insert(call: Call) -> Outcome:
    plan = insert_plan(call.query, call.prefs, call.raw)
    params = st.Params()
    if not plan.row_keys:
        return await _write_result(call, None, created=True)  # `[]`: nothing to insert.
    if plan.columns:
        statement = st.insert_statement(call.table, plan, params)
    elif len(plan.row_keys) == 1:
        statement = sql.SQL("INSERT INTO {} DEFAULT VALUES").format(call.table.ident)
    else:
        raise unsupported("Bulk insert of empty objects")
    return await _write_result(call, (statement, params), created=True)


async def update(call: Call) -> Outcome:
    payload = parse_body(call.raw)
    if not isinstance(payload, dict):
        raise unsupported("A PATCH body other than one JSON object")
    _refuse_limited_write(call.query)
    columns = call.query.columns if call.query.columns is not None else list(payload)
    if not columns:
        return await _write_result(call, None, created=False)  # `{}`: nothing to change.
    params = st.Params()
    statement = st.update_statement(
        call.table, columns, call.raw.decode(), call.query.filters, params
    )
    return await _write_result(call, (statement, params), created=False)


async def delete(call: Call) -> Outcome:
    _refuse_limited_write(call.query)
    params = st.Params()
    statement = st.delete_statement(call.table, call.query.filters, params)
    return await _write_result(call, (statement, params), created=False)


def _refuse_limited_write(query: Query) -> None:
    if query.limit is not None or query.offset is not None or query.order:
        raise unsupported("Limited update/delete (order/limit/offset on PATCH or DELETE)")


async def _mutate(
    call: Call, mutation: tuple[sql.Composed, st.Params] | None, shape: st.Shape
) -> tuple[int, str]:
    """Run the statement; (affected rows, representation body)."""
    if mutation is None:
        return 0, "[]"
    statement, params = mutation
    if call.prefs.return_representation:
        returning = st.returning(statement, call.table, call.query.select, shape)
        _, rows, body = await _fetch(call.conn, returning, params)
        return rows, body
    # return=minimal issues no RETURNING, so no SELECT right or policy is needed (as PostgREST).
    cursor = await call.conn.execute(statement, params.values)
    return max(cursor.rowcount, 0), "[]"


async def _write_result(
    call: Call, mutation: tuple[sql.Composed, st.Params] | None, *, created: bool
) -> Outcome:
    """Run the mutation (None: nothing to change) and answer with PostgREST's status/headers."""
    prefs = call.prefs
    shape = response_shape(call.request) if prefs.return_representation else st.Shape()
    rows, body = await _mutate(call, mutation, shape)
    if prefs.return_representation:
        singular_check(rows, shape)
    total = rows if prefs.count else None
    # POST reports `*/total`; PATCH and DELETE report the affected span.
    span = (1, 0) if created else (0, rows)
    headers = {"Content-Range": content_range(*span, total)}
    if prefs.applied:
        headers["Preference-Applied"] = ", ".join(prefs.applied)
    if not prefs.return_representation:
        return Outcome(201 if created else 204, None, headers=headers)
    content_type = OBJECT_TYPE if shape.singular else JSON_TYPE
    return Outcome(201 if created else 200, body, content_type, headers)


# --- HTTP plumbing --------------------------------------------------------------------------


def _respond(outcome: Outcome, request: Request) -> Response:
    headers = dict(outcome.headers)
    if outcome.body is None or outcome.status == 204:
        return Response(status_code=outcome.status, headers=headers)
    content = b"" if request.method == "HEAD" else outcome.body.encode()
    headers["Content-Type"] = outcome.content_type
    return Response(content, status_code=outcome.status, headers=headers)


def _error_response(error: ApiError) -> Response:
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{error.message}"'
        )
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


class StandIn:
    """The Starlette app's state: where to connect and which secret signs the JWTs."""

    def __init__(self, dsn: str, jwt_secret: str) -> None:
        self.dsn = dsn
        self.jwt_secret = jwt_secret

    async def table_endpoint(self, request: Request) -> Response:
        caller: Caller | None = None
        try:
            caller = authenticate(request, self.jwt_secret)
            check_profile(request)
            outcome = await self._serve(request, caller)
        except ApiError as error:
            return _error_response(error)
        except psycopg.Error as exc:
            return _error_response(from_database(exc, anonymous=caller is None or caller.anonymous))
        return _respond(outcome, request)

    async def rpc_endpoint(self, request: Request) -> Response:
        caller: Caller | None = None
        try:
            caller = authenticate(request, self.jwt_secret)
            check_profile(request)
            raw = await request.body()
            args = rpc_arguments(request, raw)
            async with await self._connect() as conn:
                outcome = await call_function(conn, request, caller, args, raw)
        except ApiError as error:
            return _error_response(error)
        except psycopg.Error as exc:
            return _error_response(from_database(exc, anonymous=caller is None or caller.anonymous))
        return _respond(outcome, request)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(self.dsn)
        except psycopg.OperationalError as exc:
            raise ApiError(503, "PGRST000", "Database connection error", str(exc)) from exc

    async def _serve(self, request: Request, caller: Caller) -> Outcome:
        if request.method == "PUT":
            raise unsupported("PUT (single-row upsert)")
        query = parse_query(request.query_params.multi_items())
        prefs = parse_prefer(request.headers.getlist("prefer"))
        raw = await request.body()
        conn = await self._connect()
        async with conn, conn.transaction():
            if request.method in {"GET", "HEAD"}:
                await conn.execute("SET TRANSACTION READ ONLY")  # PostgREST reads read-only.
            table = await st.load_table(conn, request.path_params["table"])
            await become(conn, caller, request)
            call = Call(conn, request, table, query, prefs, raw)
            return await _HANDLERS[request.method](call)


_HANDLERS = {"GET": read, "HEAD": read, "POST": insert, "PATCH": update, "DELETE": delete}


# --- RPC ------------------------------------------------------------------------------------


def rpc_arguments(request: Request, raw: bytes) -> dict[str, Any]:
    """POST /rpc/<function> with a JSON object of named arguments (what postgrest-py's `rpc`
    sends); anything else is outside the subset."""
    if request.method != "POST":
        raise unsupported(f"RPC called with {request.method}")
    if request.query_params:
        raise unsupported("Filters, order or paging on an RPC's result")
    if parse_prefer(request.headers.getlist("prefer")).count is not None:
        raise unsupported("Counting an RPC's result")
    payload = parse_body(raw) if raw.strip() else {}
    if not isinstance(payload, dict):
        raise unsupported("An RPC body other than one JSON object")
    return payload


async def call_function(
    conn: psycopg.AsyncConnection[Any],
    request: Request,
    caller: Caller,
    args: dict[str, Any],
    raw: bytes,
) -> Outcome:
    """As PostgREST: the overload named by the arguments, READ ONLY when it is stable or
    immutable, run as the caller (a security invoker function sees what RLS shows him)."""
    async with conn.transaction():  # the lookup first: READ ONLY must open the call's
        function = await st.load_function(conn, request.path_params["function"], set(args))
    shape = response_shape(request)
    if function.returns_rows and not function.returns_set:
        shape = st.Shape(singular=True, strip_nulls=shape.strip_nulls)
    statement, params = st.rpc_statement(function, args, raw.decode() or "{}", shape)
    async with conn.transaction():
        if function.read_only:
            await conn.execute("SET TRANSACTION READ ONLY")
        await become(conn, caller, request)
        _, rows, body = await _fetch(conn, statement, params)
        if function.returns_set:
            singular_check(rows, shape)
    content_type = OBJECT_TYPE if shape.singular else JSON_TYPE
    return Outcome(200, body, content_type)


async def _health(request: Request) -> Response:
    return JSONResponse({"standin": "postgrest", "schema": st.SCHEMA})


def create_app(dsn: str, jwt_secret: str) -> Starlette:
    standin = StandIn(dsn, jwt_secret)
    methods = ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"]
    return Starlette(
        routes=[
            Route("/rest/v1/", _health, methods=["GET", "HEAD"]),
            Route("/rest/v1/rpc/{function}", standin.rpc_endpoint, methods=methods),
            Route("/rest/v1/{table}", standin.table_endpoint, methods=methods),
        ]
    )


# --- running it -----------------------------------------------------------------------------


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _server(dsn: str, jwt_secret: str) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(dsn, jwt_secret),
        log_level="warning",
        lifespan="off",
        ws="none",
        access_log=False,
    )
    return uvicorn.Server(config)


@contextmanager
def run_standin(dsn: str, jwt_secret: str, *, port: int = 0) -> Iterator[str]:
    """Serve in a background thread; yields the base URL (give it to create_client as-is)."""
    sock = _listen(port)
    server = _server(dsn, jwt_secret)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the PostgREST stand-in did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def _serve_forever(dsn: str, jwt_secret: str, port: int) -> None:
    sock = _listen(port)
    server = _server(dsn, jwt_secret)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    # uvicorn exposes readiness only as a flag, so poll it (briefly) before announcing the URL.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if server.started:
        print(json.dumps({"url": f"http://127.0.0.1:{sock.getsockname()[1]}"}), flush=True)
    await task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", required=True, help="PostgreSQL DSN (a role that may SET ROLE)")
    parser.add_argument("--jwt-secret", required=True, help="HS256 secret the JWTs are signed with")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args.dsn, args.jwt_secret, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
