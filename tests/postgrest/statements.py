"""Catalog lookup and SQL generation for the stand-in.

Identifiers come from the request but are checked against the catalog, then quoted with
psycopg.sql.Identifier; every value is a bound parameter. Statements mirror the shape PostgREST
generates (a `pgrst_source` CTE aggregated with json_agg), so PostgreSQL itself does the JSON
encoding of every type, as with the real server.

Request bodies are never re-encoded in Python: the raw JSON text is bound once and read with
json_populate_recordset(NULL::table, body), the same coercion PostgREST relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from tests.postgrest.errors import ApiError, bad_request
from tests.postgrest.grammar import COMPARISONS, Filter, OrderTerm, Query, SelectItem

SCHEMA = "public"
ROW = sql.Identifier("_pgrst_row")

_CATALOG = """
select c.oid, a.attname, coalesce(i.indisprimary, false)
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
     and a.attnum = any(i.indkey)
where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')
order by a.attnum
"""

_IS = {
    "null": "IS NULL",
    "not_null": "IS NOT NULL",
    "true": "IS TRUE",
    "false": "IS FALSE",
    "unknown": "IS UNKNOWN",
}


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(SCHEMA, self.name)

    def column(self, name: str) -> sql.Composable:
        """A qualified reference to a column that must exist (42703 otherwise, like PostgreSQL)."""
        if name not in self.columns:
            raise bad_request("42703", f"column {self.name}.{name} does not exist")
        return sql.Identifier(SCHEMA, self.name, name)

    def payload_column(self, name: str) -> sql.Identifier:
        """A column named by a request body or `columns=`: PostgREST answers PGRST204."""
        if name not in self.columns:
            raise bad_request(
                "PGRST204",
                f"Could not find the '{name}' column of '{self.name}' in the schema cache",
            )
        return sql.Identifier(name)


async def load_table(conn: psycopg.AsyncConnection[Any], name: str) -> Table:
    """Read the table's columns and primary key fresh (no schema cache to reload)."""
    cursor = await conn.execute(_CATALOG, (SCHEMA, name))
    rows = await cursor.fetchall()
    if not rows:
        raise ApiError(
            404,
            "PGRST205",
            f"Could not find the table '{SCHEMA}.{name}' in the schema cache",
        )
    columns = tuple(row[1] for row in rows)
    primary_key = tuple(row[1] for row in rows if row[2])
    return Table(name, columns, primary_key)


@dataclass
class Params:
    """Named parameters; psycopg binds a name used twice (e.g. in the count) only once."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> sql.Placeholder:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


@dataclass(frozen=True)
class Shape:
    """How the response body is shaped: one object (vnd.pgrst.object) and/or nulls stripped."""

    singular: bool = False
    strip_nulls: bool = False


def select_list(table: Table, items: list[SelectItem]) -> sql.Composable:
    parts: list[sql.Composable] = []
    for item in items:
        if item.column is None:
            parts.append(sql.SQL("{}.*").format(table.ident))
            continue
        expr = table.column(item.column)
        if item.cast:
            # The cast name passed grammar._CAST (a bare identifier), so it is safe as SQL text.
            expr = sql.SQL("CAST({} AS {})").format(expr, sql.SQL(item.cast))
        parts.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(item.alias or item.column)))
    return sql.SQL(", ").join(parts)


def where_clause(table: Table, filters: list[Filter], params: Params) -> sql.Composable:
    if not filters:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(_condition(table, f, params) for f in filters)


def _condition(table: Table, f: Filter, params: Params) -> sql.Composable:
    column = table.column(f.column)
    expr: sql.Composable
    if f.operator in COMPARISONS:
        # `*` is PostgREST's URL-friendly alias of `%` in like/ilike patterns.
        value = f.value.replace("*", "%") if f.operator in {"like", "ilike"} else f.value
        expr = sql.SQL("{} {} {}").format(
            column, sql.SQL(COMPARISONS[f.operator]), params.add(value)
        )
    elif f.operator == "is":
        expr = sql.SQL("{} {}").format(column, sql.SQL(_IS[f.value]))
    elif f.values:
        # Each value is an untyped literal, so PostgreSQL coerces it to the column's type.
        expr = sql.SQL("{} IN ({})").format(
            column, sql.SQL(", ").join(params.add(v) for v in f.values)
        )
    else:
        expr = sql.SQL("FALSE")  # `in.()` matches nothing.
    return sql.SQL("NOT ({})").format(expr) if f.negated else expr


def order_clause(table: Table, terms: list[OrderTerm]) -> sql.Composable:
    if not terms:
        return sql.SQL("")
    parts = []
    for term in terms:
        direction = "DESC" if term.descending else "ASC"
        nulls = (
            ""
            if term.nulls_first is None
            else (" NULLS FIRST" if term.nulls_first else " NULLS LAST")
        )
        parts.append(
            sql.SQL("{} {}{}").format(table.column(term.column), sql.SQL(direction), sql.SQL(nulls))
        )
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(parts)


def aggregate(inner: sql.Composable, shape: Shape, total: sql.Composable) -> sql.Composed:
    """Wrap a row source: (total or NULL, rows in this page, JSON body text)."""
    body: sql.Composable = (
        sql.SQL("pg_catalog.json_agg({}) -> 0").format(ROW)
        if shape.singular
        else sql.SQL("coalesce(pg_catalog.json_agg({}), '[]'::json)").format(ROW)
    )
    if shape.strip_nulls:
        body = sql.SQL("pg_catalog.json_strip_nulls({})").format(body)
    return sql.SQL(
        "WITH pgrst_source AS ({inner}) "
        "SELECT {total}, pg_catalog.count(*), ({body})::text FROM pgrst_source AS {row}"
    ).format(inner=inner, total=total, body=body, row=ROW)


def read_statement(
    table: Table, query: Query, offset: int, limit: int | None, shape: Shape, count: bool
) -> tuple[sql.Composed, Params]:
    params = Params()
    where = where_clause(table, query.filters, params)
    inner = sql.SQL(
        "SELECT {cols} FROM {table} WHERE {where}{order} LIMIT {limit} OFFSET {offset}"
    ).format(
        cols=select_list(table, query.select),
        table=table.ident,
        where=where,
        order=order_clause(table, query.order),
        limit=sql.Literal(limit),
        offset=sql.Literal(offset),
    )
    total = (
        sql.SQL("(SELECT pg_catalog.count(*) FROM {} WHERE {})").format(table.ident, where)
        if count
        else sql.SQL("NULL::bigint")
    )
    return aggregate(inner, shape, total), params


@dataclass(frozen=True)
class InsertPlan:
    """What an INSERT needs from the request: the columns and which keys each row carries."""

    columns: list[str]
    row_keys: list[frozenset[str]]
    body_json: str  # always a JSON array text
    missing_default: bool
    resolution: str | None
    on_conflict: list[str] | None


def insert_statement(table: Table, plan: InsertPlan, params: Params) -> sql.Composed:
    names = _columns_to_send(plan)
    columns = sql.SQL(", ").join(table.payload_column(name) for name in names)
    if plan.missing_default and any(not keys.issuperset(names) for keys in plan.row_keys):
        source = _values_with_defaults(table, plan, names, params)
    else:
        # PostgREST's own statement: keys a row lacks read as NULL; the body is parsed once.
        source = sql.SQL(
            "SELECT {cols} FROM pg_catalog.json_populate_recordset(NULL::{t}, {b}::json) AS _"
        ).format(cols=columns, t=table.ident, b=params.add(plan.body_json))
    statement = sql.SQL("INSERT INTO {table} ({cols}) {source}").format(
        table=table.ident, cols=columns, source=source
    )
    return statement + _on_conflict(table, plan)


def _columns_to_send(plan: InsertPlan) -> list[str]:
    """With missing=default, a column no row carries is left out, so it simply takes DEFAULT."""
    if not plan.missing_default:
        return plan.columns
    present = [name for name in plan.columns if any(name in keys for keys in plan.row_keys)]
    return present or plan.columns


def _values_with_defaults(
    table: Table, plan: InsertPlan, names: list[str], params: Params
) -> sql.Composed:
    """missing=default with rows of different shapes: DEFAULT is only legal in VALUES.

    Each row's exact JSON text is its own parameter (parsing one shared body per cell would make
    planning quadratic); the values still go through json_populate_record, unchanged.
    """
    rows = []
    for text, keys in zip(split_json_array(plan.body_json), plan.row_keys, strict=True):
        row = params.add(text)
        cells = [
            sql.SQL("(pg_catalog.json_populate_record(NULL::{t}, {r}::json)).{c}").format(
                t=table.ident, r=row, c=sql.Identifier(name)
            )
            if name in keys
            else sql.SQL("DEFAULT")
            for name in names
        ]
        rows.append(sql.SQL("({})").format(sql.SQL(", ").join(cells)))
    return sql.SQL("VALUES ") + sql.SQL(", ").join(rows)


def split_json_array(text: str) -> list[str]:
    """The exact source text of each element of a (valid) JSON array, without re-encoding."""
    elements: list[str] = []
    depth, start = 0, -1
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == 2:
                start = index
        elif char in "]}":
            if depth == 2:
                elements.append(text[start : index + 1])
            depth -= 1
    return elements


def _on_conflict(table: Table, plan: InsertPlan) -> sql.Composable:
    if plan.resolution is None:
        return sql.SQL("")
    targets = plan.on_conflict if plan.on_conflict is not None else list(table.primary_key)
    target = (
        sql.SQL(" ({})").format(sql.SQL(", ").join(table.payload_column(t) for t in targets))
        if targets
        else sql.SQL("")
    )
    if plan.resolution == "ignore-duplicates" or not plan.columns:
        return sql.SQL(" ON CONFLICT{} DO NOTHING").format(target)
    if not targets:
        raise bad_request(
            "PGRST100", f"Upsert on '{table.name}' needs on_conflict: the table has no primary key"
        )
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(name)) for name in plan.columns
    )
    return sql.SQL(" ON CONFLICT{} DO UPDATE SET {}").format(target, updates)


def update_statement(
    table: Table, columns: list[str], body_json: str, filters: list[Filter], params: Params
) -> sql.Composed:
    """UPDATE ... FROM the one-row body, as PostgREST builds it (the body is parsed once)."""
    body = params.add(body_json)
    assignments = sql.SQL(", ").join(
        sql.SQL("{c} = pgrst_body.{c}").format(c=table.payload_column(name)) for name in columns
    )
    return sql.SQL(
        "UPDATE {t} SET {set}"
        " FROM (SELECT * FROM pg_catalog.json_populate_record(NULL::{t}, {b}::json)) AS pgrst_body"
        " WHERE {where}"
    ).format(t=table.ident, set=assignments, b=body, where=where_clause(table, filters, params))


def delete_statement(table: Table, filters: list[Filter], params: Params) -> sql.Composed:
    return sql.SQL("DELETE FROM {} WHERE {}").format(
        table.ident, where_clause(table, filters, params)
    )


def returning(
    mutation: sql.Composed, table: Table, items: list[SelectItem], shape: Shape
) -> sql.Composed:
    """return=representation. RETURNING needs SELECT rights and policies, as on PostgREST."""
    inner = sql.SQL("{} RETURNING {}").format(mutation, select_list(table, items))
    return aggregate(inner, shape, sql.SQL("NULL::bigint"))


# --- RPC ------------------------------------------------------------------------------------

_FUNCTIONS = """
select p.oid, coalesce(p.proargnames, '{}'), p.pronargs, p.pronargdefaults, p.proretset,
    p.provolatile, t.typtype,
    array(select pg_catalog.format_type(a, null) from unnest(p.proargtypes) as a)
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_type t on t.oid = p.prorettype
where n.nspname = %s and p.proname = %s and p.prokind = 'f'
"""


@dataclass(frozen=True)
class Function:
    """A function callable through /rpc: its named input arguments (name -> SQL type) and
    whether it returns rows (a set or a composite) or one scalar."""

    name: str
    arguments: dict[str, str]
    required: frozenset[str]
    returns_rows: bool
    returns_set: bool
    read_only: bool  # stable or immutable: PostgREST runs it in a READ ONLY transaction

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(SCHEMA, self.name)


async def load_function(conn: psycopg.AsyncConnection[Any], name: str, keys: set[str]) -> Function:
    """The overload of `name` whose argument names fit the body's keys, as PostgREST picks it:
    every key an argument, every argument without a default given. 404 PGRST202 otherwise."""
    cursor = await conn.execute(_FUNCTIONS, (SCHEMA, name))
    for _, names, count, defaults, retset, volatility, rettype, types in await cursor.fetchall():
        inputs = names[:count]
        if len(inputs) != count or not all(inputs):
            continue  # unnamed arguments: not callable with named parameters
        required = frozenset(inputs[: count - defaults])
        if keys <= set(inputs) and required <= keys:
            return Function(
                name,
                dict(zip(inputs, types, strict=True)),
                required,
                returns_rows=retset or rettype == "c",
                returns_set=retset,
                read_only=volatility in ("s", "i"),
            )
    listed = ", ".join(sorted(keys))
    raise ApiError(
        404,
        "PGRST202",
        f"Could not find the function {SCHEMA}.{name}({listed}) in the schema cache",
    )


def rpc_statement(
    function: Function, args: dict[str, Any], body_json: str, shape: Shape
) -> tuple[sql.Composed, Params]:
    """SELECT from the function with named arguments read from the JSON body by
    json_to_record (PostgREST's way: PostgreSQL converts each value to the argument's type).
    A function returning rows is aggregated like a table read; a scalar one gives its value."""
    params = Params()
    given = [name for name in function.arguments if name in args]
    record = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(function.arguments[n])) for n in given
    )
    call = sql.SQL("{}({})").format(
        function.ident,
        sql.SQL(", ").join(
            sql.SQL("{} := pgrst_args.{}").format(sql.Identifier(n), sql.Identifier(n))
            for n in given
        ),
    )
    source = (
        sql.SQL("pg_catalog.json_to_record({}::json) AS pgrst_args({})").format(
            params.add(body_json), record
        )
        if given
        else sql.SQL("(SELECT) AS pgrst_args")
    )
    if function.returns_rows:
        inner = sql.SQL("SELECT pgrst_call.* FROM {}, LATERAL {} AS pgrst_call").format(
            source, call
        )
        return aggregate(inner, shape, sql.SQL("NULL::bigint")), params
    inner = sql.SQL("SELECT {} AS pgrst_scalar FROM {}").format(call, source)
    return (
        sql.SQL(
            "WITH pgrst_source AS ({}) SELECT NULL::bigint, pg_catalog.count(*), "
            "coalesce(pg_catalog.to_json((SELECT pgrst_scalar FROM pgrst_source))::text, 'null') "
            "FROM pgrst_source"
        ).format(inner),
        params,
    )
