"""Pure parsing pieces of the stand-in (no database)."""

from __future__ import annotations

import pytest

from tests.postgrest.errors import ApiError, status_for_sqlstate
from tests.postgrest.grammar import OrderTerm, SelectItem, parse_filter, parse_order, parse_select
from tests.postgrest.statements import split_json_array


def test_in_list_quoting() -> None:
    parsed = parse_filter("note", 'not.in.(a,"b,c","say \\"hi\\"",\\x)')
    assert parsed.negated and parsed.operator == "in"
    assert parsed.values == ("a", "b,c", 'say "hi"', "\\x")


def test_order_terms() -> None:
    assert parse_order('a.desc.nullslast,b,"c.d".asc') == [
        OrderTerm("a", descending=True, nulls_first=False),
        OrderTerm("b"),
        OrderTerm("c.d"),
    ]
    with pytest.raises(ApiError):
        parse_order("a.sideways")


def test_select_items() -> None:
    assert parse_select("*,label:name,qty::text") == [
        SelectItem(None),
        SelectItem("name", alias="label"),
        SelectItem("qty", cast="text"),
    ]
    with pytest.raises(ApiError):
        parse_select("qty::text;drop")


def test_split_json_array_keeps_exact_text() -> None:
    text = '[{"a":"x]}\\"{","n":1.10}, {"b":[1,{"c":2}]},{}]'
    assert split_json_array(text) == ['{"a":"x]}\\"{","n":1.10}', '{"b":[1,{"c":2}]}', "{}"]


@pytest.mark.parametrize(
    ("sqlstate", "anonymous", "status"),
    [
        ("23505", False, 409),
        ("23503", False, 409),
        ("23502", False, 400),
        ("22P02", False, 400),
        ("42501", True, 401),
        ("42501", False, 403),
        ("42P01", False, 404),
        ("P0001", False, 400),
        ("PT402", False, 402),
        ("40001", False, 500),
        ("08006", False, 503),
        ("XX000", False, 500),
    ],
)
def test_status_mapping(sqlstate: str, anonymous: bool, status: int) -> None:
    assert status_for_sqlstate(sqlstate, anonymous=anonymous) == status
