"""The PostgREST stand-in, driven by the real supabase client over HTTP on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from postgrest import APIError
from postgrest.types import CountMethod, ReturnMethod

from supabase import Client, acreate_client, create_client
from tests.postgrest.conftest import ALICE, BOB, SECRET, token

# supabase 2.34 passes postgrest-py its own deprecated timeout/verify arguments on every
# create_client; that warning is the library talking to itself, not something these tests do.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The '.*' parameter is deprecated:DeprecationWarning"
)

ClientFactory = Callable[..., Client]
EXACT = CountMethod.exact
MINIMAL = ReturnMethod.minimal
ALL = {"apple", "banana", "carrot", "durian", "eggplant"}


@pytest.fixture
def connect(standin_url: str, db: psycopg.Connection[Any]) -> Iterator[ClientFactory]:
    """create_client(url, jwt) for a role; every client is closed after the test."""
    clients: list[Client] = []

    def make(role: str = "service_role", sub: str | None = None) -> Client:
        client = create_client(standin_url, token(role, sub))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.postgrest.aclose()  # postgrest-py's sync close is (oddly) named aclose


@pytest.fixture
def service(connect: ClientFactory) -> Client:
    return connect("service_role")


def rows_of(result: Any) -> list[dict[str, Any]]:
    """The JSON rows of an APIResponse (typed loosely by postgrest-py)."""
    data: list[dict[str, Any]] = result.data
    return data


def names(rows: Any) -> set[str]:
    return {row["name"] for row in rows}


def raw(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A bare HTTP call, for status codes and headers the client does not expose."""
    headers = {"Authorization": f"Bearer {token('service_role')}", **kwargs.pop("headers", {})}
    with httpx.Client(base_url=url) as client:
        return client.request(method, path, headers=headers, **kwargs)


# --- reads ----------------------------------------------------------------------------------


def test_health(standin_url: str) -> None:
    assert httpx.get(f"{standin_url}/rest/v1/").status_code == 200


def test_select_columns_and_star(service: Client) -> None:
    rows = service.table("items").select("name,qty").eq("name", "apple").execute().data
    assert rows == [{"name": "apple", "qty": 5}]
    row = rows_of(service.table("items").select("*").eq("name", "apple").execute())[0]
    assert row["tags"] == ["fruit", "red"] and row["meta"] == {} and row["price"] == 1.5
    assert row["owner"] == ALICE and isinstance(row["id"], int) and "T" in row["created_at"]


def test_select_alias_and_cast(service: Client) -> None:
    rows = service.table("items").select("label:name,qty::text").eq("name", "apple").execute()
    assert rows.data == [{"label": "apple", "qty": "5"}]


@pytest.mark.parametrize(
    ("apply", "expected"),
    [
        (lambda q: q.eq("qty", 5), {"apple"}),
        (lambda q: q.neq("qty", 5), ALL - {"apple"}),
        (lambda q: q.gt("qty", 5), {"banana", "carrot"}),
        (lambda q: q.gte("qty", 5), {"apple", "banana", "carrot"}),
        (lambda q: q.lt("qty", 5), {"durian", "eggplant"}),
        (lambda q: q.lte("qty", 1), {"durian", "eggplant"}),
        (lambda q: q.like("name", "%an%"), {"banana", "durian", "eggplant"}),
        (lambda q: q.like("name", "*rr*"), {"carrot"}),  # `*` is PostgREST's alias of `%`
        (lambda q: q.ilike("name", "A%"), {"apple"}),
        (lambda q: q.is_("price", None), {"carrot"}),
        (lambda q: q.is_("active", True), {"apple", "durian", "eggplant"}),
        (lambda q: q.is_("active", False), {"banana"}),
        (lambda q: q.not_.is_("price", None), ALL - {"carrot"}),
        (lambda q: q.in_("name", ["apple", "durian"]), {"apple", "durian"}),
        (lambda q: q.in_("note", ["a,b", "ripe"]), {"carrot", "banana"}),  # quoted comma
        (lambda q: q.in_("qty", [0, 1]), {"durian", "eggplant"}),  # coerced to int
        (lambda q: q.in_("name", []), set()),
        (lambda q: q.not_.in_("name", ["apple", "banana"]), {"carrot", "durian", "eggplant"}),
        (lambda q: q.not_.eq("qty", 5), ALL - {"apple"}),
        (lambda q: q.gt("qty", 0).lt("qty", 10), {"apple", "carrot", "durian"}),  # AND
        (lambda q: q.contains("tags", ["fruit", "red"]), {"apple"}),
        (lambda q: q.contained_by("tags", ["veg", "x"]), {"carrot", "eggplant"}),
        (lambda q: q.overlaps("tags", ["red", "veg"]), {"apple", "carrot", "eggplant"}),
        (lambda q: q.filter("name", "match", "^[ab]"), {"apple", "banana"}),
        (lambda q: q.filter("name", "imatch", "^A"), {"apple"}),
        (lambda q: q.filter("note", "isdistinct", "ripe"), ALL - {"banana"}),
        (lambda q: q.eq("owner", BOB), {"durian", "eggplant"}),
    ],
)
def test_filters(service: Client, apply: Callable[[Any], Any], expected: set[str]) -> None:
    assert names(apply(service.table("items").select("name")).execute().data) == expected


def test_order(service: Client) -> None:
    def ordered(**kwargs: Any) -> list[str]:
        query = service.table("items").select("name").order("price", **kwargs)
        return [row["name"] for row in rows_of(query.order("name").execute())]

    # PostgreSQL's defaults: NULLs sort last ascending and first descending.
    assert ordered() == ["banana", "apple", "eggplant", "durian", "carrot"]
    assert ordered(desc=True) == ["carrot", "durian", "eggplant", "apple", "banana"]
    assert ordered(nullsfirst=True)[0] == "carrot"
    assert ordered(desc=True, nullsfirst=False)[-1] == "carrot"


def test_limit_offset_and_range(service: Client) -> None:
    def page(query: Any) -> list[str]:
        return [row["name"] for row in rows_of(query.execute())]

    base = service.table("items").select("name").order("name")
    assert page(base.limit(2)) == ["apple", "banana"]
    base = service.table("items").select("name").order("name")
    assert page(base.limit(2).offset(3)) == ["durian", "eggplant"]
    base = service.table("items").select("name").order("name")
    assert page(base.range(1, 2)) == ["banana", "carrot"]


def test_count_exact_and_content_range(service: Client, standin_url: str) -> None:
    result = service.table("items").select("name", count=EXACT).limit(2).execute()
    assert result.count == 5 and len(result.data) == 2
    empty = service.table("items").select("name", count=EXACT).eq("qty", 99).execute()
    assert empty.count == 0 and empty.data == []
    head = service.table("items").select("*", count=EXACT, head=True).execute()
    assert head.count == 5

    partial = raw(standin_url, "GET", "/rest/v1/items?limit=2", headers={"Prefer": "count=exact"})
    assert partial.status_code == 206 and partial.headers["content-range"] == "0-1/5"
    whole = raw(standin_url, "GET", "/rest/v1/items", headers={"Prefer": "count=exact"})
    assert whole.status_code == 200 and whole.headers["content-range"] == "0-4/5"
    none = raw(standin_url, "GET", "/rest/v1/items?qty=eq.99", headers={"Prefer": "count=exact"})
    assert none.status_code == 200 and none.headers["content-range"] == "*/0"
    uncounted = raw(standin_url, "GET", "/rest/v1/items?offset=1")
    assert uncounted.headers["content-range"] == "1-4/*"


def test_range_header(standin_url: str) -> None:
    response = raw(
        standin_url,
        "GET",
        "/rest/v1/items?select=name&order=name",
        headers={"Range-Unit": "items", "Range": "1-2"},
    )
    assert [row["name"] for row in response.json()] == ["banana", "carrot"]
    assert response.headers["content-range"] == "1-2/*"
    beyond = raw(standin_url, "GET", "/rest/v1/items?offset=9", headers={"Prefer": "count=exact"})
    assert beyond.status_code == 416 and beyond.json()["code"] == "PGRST103"


def test_single(service: Client) -> None:
    row = service.table("items").select("name,qty").eq("name", "banana").single().execute()
    assert row.data == {"name": "banana", "qty": 12}
    for query in (
        service.table("items").select("name").eq("name", "nothing"),
        service.table("items").select("name").gt("qty", 0),
    ):
        with pytest.raises(APIError) as caught:
            query.single().execute()
        assert caught.value.code == "PGRST116"
    assert service.table("items").select("name").eq("name", "x").maybe_single().execute() is None


# --- writes ---------------------------------------------------------------------------------


def test_insert_representation_fills_defaults(service: Client) -> None:
    rows = rows_of(service.table("items").insert({"name": "fig", "tags": ["a", "b,c"]}).execute())
    assert len(rows) == 1
    assert rows[0]["qty"] == 0 and rows[0]["tags"] == ["a", "b,c"] and rows[0]["active"] is True


def test_insert_minimal_returns_nothing(service: Client, db: psycopg.Connection[Any]) -> None:
    result = service.table("items").insert({"name": "fig"}, returning=MINIMAL).execute()
    assert result.data == []
    assert db.execute("select count(*) from items where name = 'fig'").fetchone() == (1,)


def test_insert_select_subset_and_count(service: Client) -> None:
    result = (
        service.table("items")
        .insert([{"name": "fig"}, {"name": "kiwi"}], count=EXACT)
        .select("name")
        .execute()
    )
    assert result.data == [{"name": "fig"}, {"name": "kiwi"}] and result.count == 2


def test_bulk_insert_missing_keys_are_null_unless_missing_default(service: Client) -> None:
    # Documented PostgREST behaviour: keys missing from some objects are NULL, so NOT NULL fails.
    rows: list[dict[str, Any]] = [{"name": "fig", "qty": 3}, {"name": "kiwi"}]
    with pytest.raises(APIError) as caught:
        service.table("items").insert(rows).execute()
    assert caught.value.code == "23502"
    inserted = rows_of(service.table("items").insert(rows, default_to_null=False).execute())
    assert [(row["name"], row["qty"]) for row in inserted] == [("fig", 3), ("kiwi", 0)]


def test_upsert_merge_on_conflict(service: Client, db: psycopg.Connection[Any]) -> None:
    rows = [{"name": "apple", "qty": 50}, {"name": "fig", "qty": 1}]
    result = rows_of(service.table("items").upsert(rows, on_conflict="name").execute())
    assert [(row["name"], row["qty"]) for row in result] == [("apple", 50), ("fig", 1)]
    # Only the given columns are updated: apple keeps its price and note.
    assert db.execute("select qty, price from items where name = 'apple'").fetchone() == (
        50,
        pytest.approx(1.5),
    )


def test_upsert_ignore_duplicates(service: Client, db: psycopg.Connection[Any]) -> None:
    rows = [{"name": "apple", "qty": 50}, {"name": "fig", "qty": 1}]
    result = (
        service.table("items").upsert(rows, on_conflict="name", ignore_duplicates=True).execute()
    )
    assert names(result.data) == {"fig"}
    assert db.execute("select qty from items where name = 'apple'").fetchone() == (5,)


def test_upsert_defaults_to_primary_key(service: Client, db: psycopg.Connection[Any]) -> None:
    apple_id = db.execute("select id from items where name = 'apple'").fetchone()
    assert apple_id is not None
    service.table("items").upsert({"id": apple_id[0], "name": "apple", "qty": 9}).execute()
    assert db.execute("select qty from items where name = 'apple'").fetchone() == (9,)


def test_update(service: Client, db: psycopg.Connection[Any]) -> None:
    result = service.table("items").update({"note": "sale", "qty": 1}).eq("owner", BOB).execute()
    assert names(result.data) == {"durian", "eggplant"}
    assert all(row["note"] == "sale" for row in rows_of(result))
    minimal = (
        service.table("items")
        .update({"meta": {"k": [1, 2]}}, returning=MINIMAL, count=EXACT)
        .eq("name", "apple")
        .execute()
    )
    assert minimal.data == [] and minimal.count == 1
    meta = db.execute("select meta from items where name = 'apple'").fetchone()
    assert meta == ({"k": [1, 2]},)


def test_delete(service: Client, db: psycopg.Connection[Any]) -> None:
    result = service.table("items").delete().in_("name", ["apple", "banana"]).execute()
    assert names(result.data) == {"apple", "banana"}
    service.table("items").delete(returning=MINIMAL).eq("name", "carrot").execute()
    assert db.execute("select count(*) from items").fetchone() == (2,)


def test_singular_mutation_rolls_back(service: Client, db: psycopg.Connection[Any]) -> None:
    with pytest.raises(APIError) as caught:
        service.table("items").update({"note": "x"}).gt("qty", 0).single().execute()
    assert caught.value.code == "PGRST116"
    assert db.execute("select count(*) from items where note = 'x'").fetchone() == (0,)


def test_write_statuses_and_headers(standin_url: str) -> None:
    created = raw(standin_url, "POST", "/rest/v1/items", json={"name": "fig"})
    assert created.status_code == 201 and created.content == b""
    assert created.headers["content-range"] == "*/*"
    counted = raw(
        standin_url,
        "POST",
        "/rest/v1/items",
        json=[{"name": "kiwi"}, {"name": "lime"}],
        headers={"Prefer": "return=representation,count=exact"},
    )
    assert counted.status_code == 201 and counted.headers["content-range"] == "*/2"
    assert "return=representation" in counted.headers["preference-applied"]
    patched = raw(standin_url, "PATCH", "/rest/v1/items?name=eq.fig", json={"qty": 2})
    assert patched.status_code == 204
    deleted = raw(
        standin_url,
        "DELETE",
        "/rest/v1/items?name=in.(fig,kiwi)",
        headers={"Prefer": "return=representation"},
    )
    assert deleted.status_code == 200 and deleted.headers["content-range"] == "0-1/*"
    head = raw(standin_url, "HEAD", "/rest/v1/items", headers={"Prefer": "count=exact"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-range"] == "0-5/6"


def test_strip_nulls(service: Client) -> None:
    result = service.table("items").select("name,note").eq("name", "apple").strip_nulls()
    assert result.execute().data == [{"name": "apple"}]


# --- errors ---------------------------------------------------------------------------------


def test_unique_violation_is_409_23505(service: Client, standin_url: str) -> None:
    with pytest.raises(APIError) as caught:
        service.table("items").insert({"name": "apple"}).execute()
    assert caught.value.code == "23505"
    assert "items_name_key" in (caught.value.message or "")
    response = raw(standin_url, "POST", "/rest/v1/items", json={"name": "apple"})
    assert response.status_code == 409
    assert set(response.json()) == {"code", "message", "details", "hint"}


def test_unknown_table_and_column(service: Client, standin_url: str) -> None:
    with pytest.raises(APIError) as caught:
        service.table("nope").select("*").execute()
    assert caught.value.code == "PGRST205"
    assert raw(standin_url, "GET", "/rest/v1/nope").status_code == 404
    with pytest.raises(APIError) as caught:
        service.table("items").select("name,bogus").execute()
    assert caught.value.code == "42703"
    with pytest.raises(APIError) as caught:
        service.table("items").select("name").eq("bogus", 1).execute()
    assert caught.value.code == "42703"
    with pytest.raises(APIError) as caught:
        service.table("items").insert({"name": "fig", "bogus": 1}).execute()
    assert caught.value.code == "PGRST204"


def test_bad_values_are_400(service: Client, standin_url: str) -> None:
    with pytest.raises(APIError) as caught:
        service.table("items").select("name").eq("qty", "lots").execute()
    assert caught.value.code == "22P02"
    assert raw(standin_url, "GET", "/rest/v1/items?qty=eq.lots").status_code == 400


def test_bad_jwt_is_401(standin_url: str, db: psycopg.Connection[Any]) -> None:
    forged = create_client(standin_url, token("service_role") + "x")
    expired = create_client(standin_url, token("service_role", exp=int(time.time()) - 10))
    try:
        for client in (forged, expired):
            with pytest.raises(APIError) as caught:
                client.table("items").select("*").execute()
            assert caught.value.code == "PGRST301"
    finally:
        forged.postgrest.aclose()
        expired.postgrest.aclose()
    response = httpx.get(
        f"{standin_url}/rest/v1/items", headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers


def test_insufficient_privilege_is_401_for_anon_403_otherwise(
    connect: ClientFactory, standin_url: str
) -> None:
    with pytest.raises(APIError) as caught:
        connect("anon").table("items").select("*").execute()
    assert caught.value.code == "42501"
    assert httpx.get(f"{standin_url}/rest/v1/items").status_code == 401  # no JWT: anon
    user = {"Authorization": f"Bearer {token('authenticated', ALICE)}"}
    response = httpx.delete(f"{standin_url}/rest/v1/inbox?id=eq.1", headers=user)
    assert response.status_code == 403 and response.json()["code"] == "42501"


def test_unsupported_features_fail_loudly(service: Client) -> None:
    with pytest.raises(APIError) as caught:
        service.table("items").select("name, owner(name)").execute()
    assert caught.value.code == "STANDIN501"
    with pytest.raises(APIError) as caught:
        service.table("items").select("name").or_("qty.eq.1,qty.eq.5").execute()
    assert caught.value.code == "STANDIN501"
    with pytest.raises(APIError) as caught:
        service.rpc("items_named", {"pattern": "%"}, get=True).execute()
    assert caught.value.code == "STANDIN501"
    with pytest.raises(APIError) as caught:
        service.rpc("items_named", {"pattern": "%"}).limit(1).execute()
    assert caught.value.code == "STANDIN501"


# --- RPC ------------------------------------------------------------------------------------


def test_rpc_set_returning_function_with_defaults(service: Client) -> None:
    rows = rows_of(service.rpc("items_named", {"pattern": "%a%"}).execute())
    assert [r["name"] for r in rows] == ["apple", "banana", "carrot", "durian", "eggplant"]
    rows = rows_of(service.rpc("items_named", {"pattern": "%a%", "min_qty": 6}).execute())
    assert [r["name"] for r in rows] == ["banana", "carrot"]
    assert rows[0]["price"] == 0.25 and rows[0]["tags"] == ["fruit", "yellow"]


def test_rpc_security_invoker_sees_through_rls(connect: ClientFactory) -> None:
    rows = rows_of(connect("authenticated", BOB).rpc("items_named", {"pattern": "%"}).execute())
    assert [r["name"] for r in rows] == ["durian", "eggplant"]


def test_rpc_single_row_and_scalar(service: Client) -> None:
    assert service.rpc("item_named", {"item_name": "apple"}).execute().data["qty"] == 5
    assert service.rpc("add_qty", {"a": 2, "b": 40}).execute().data == 42


def test_rpc_transaction_is_read_only_unless_volatile(
    service: Client, db: psycopg.Connection[Any]
) -> None:
    assert service.rpc("add_to_inbox", {"body": "hi"}).execute().data == 1
    assert db.execute("select body from inbox").fetchall() == [("hi",)]
    # Stable and immutable functions run in a read-only transaction, volatile ones do not.
    assert service.rpc("read_only_stable", {}).execute().data == "on"
    assert service.rpc("read_only_volatile", {}).execute().data == "off"


def test_rpc_unknown_function_or_arguments_is_404(service: Client, standin_url: str) -> None:
    for name, args in (("nothing", {}), ("items_named", {"pattern": "%", "other": 1}),
                       ("items_named", {"min_qty": 1})):  # fmt: skip
        with pytest.raises(APIError) as caught:
            service.rpc(name, args).execute()
        assert caught.value.code == "PGRST202"
    response = raw(standin_url, "POST", "/rest/v1/rpc/nothing", json={})
    assert response.status_code == 404


def test_rpc_bad_argument_value_is_400(service: Client) -> None:
    with pytest.raises(APIError) as caught:
        service.rpc("add_qty", {"a": "lots", "b": 1}).execute()
    assert caught.value.code == "22P02"


# --- row-level security ---------------------------------------------------------------------


def test_rls_filters_reads_per_user(connect: ClientFactory) -> None:
    assert names(connect("service_role").table("items").select("name").execute().data) == ALL
    alice = connect("authenticated", ALICE)
    assert names(alice.table("items").select("name").execute().data) == {
        "apple",
        "banana",
        "carrot",
    }
    bob = connect("authenticated", BOB)
    assert bob.table("items").select("name", count=EXACT).execute().count == 2


def test_rls_filters_writes(connect: ClientFactory, db: psycopg.Connection[Any]) -> None:
    alice = connect("authenticated", ALICE)
    touched = alice.table("items").update({"note": "mine"}).eq("name", "durian").execute()
    assert touched.data == []  # Bob's row is invisible to Alice, so nothing is updated.
    # `owner` defaults from request.jwt.claim.sub, which the insert policy then checks.
    created = rows_of(alice.table("items").insert({"name": "fig"}).execute())
    assert created[0]["owner"] == ALICE
    with pytest.raises(APIError) as caught:
        alice.table("items").insert({"name": "kiwi", "owner": BOB}).execute()
    assert caught.value.code == "42501"  # new row violates row-level security policy
    assert db.execute("select note from items where name = 'durian'").fetchone() == ("smelly",)


def test_return_minimal_needs_no_select_policy(connect: ClientFactory) -> None:
    # As on PostgREST: representation adds RETURNING, which the SELECT policies must allow.
    alice = connect("authenticated", ALICE)
    minimal = alice.table("inbox").insert({"body": "hi"}, returning=MINIMAL).execute()
    assert minimal.data == []
    with pytest.raises(APIError) as caught:
        alice.table("inbox").insert({"body": "hi"}).execute()
    assert caught.value.code == "42501"
    assert len(connect("service_role").table("inbox").select("*").execute().data) == 1


# --- other ways in --------------------------------------------------------------------------


def test_async_client(standin_url: str, db: psycopg.Connection[Any]) -> None:
    async def scenario() -> list[dict[str, Any]]:
        client = await acreate_client(standin_url, token("authenticated", BOB))
        try:
            result = await client.table("items").select("name").order("name").execute()
            return rows_of(result)
        finally:
            await client.postgrest.aclose()

    assert asyncio.run(scenario()) == [{"name": "durian"}, {"name": "eggplant"}]


def test_command_line(database_dsn: str) -> None:
    repo = Path(__file__).resolve().parents[2]  # `tests` must be importable as a package
    command = [sys.executable, "-m", "tests.postgrest.server", "--dsn", database_dsn]
    command += ["--jwt-secret", SECRET, "--port", "0"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline())["url"]
        assert httpx.get(f"{url}/rest/v1/").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
