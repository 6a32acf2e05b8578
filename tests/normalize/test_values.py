"""The wire-value readers: what they accept, and what they refuse rather than guess."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.normalize.values import (
    ShapeError,
    is_hidden,
    opt_bool,
    opt_float,
    opt_int,
    opt_jid,
    opt_str,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0, 0),
        (1_700_000_000, 1_700_000_000),
        (-1, -1),
        (12.0, 12),  # JSON has one number type
        ({"$long": "9007199254740993"}, 2**53 + 1),
        ({"$long": "18446744073709551615"}, 2**64 - 1),
        ({"$long": "-9223372036854775808"}, -(2**63)),
    ],
)
def test_opt_int_reads(value: Any, expected: int | None) -> None:
    assert opt_int(value, "f") == expected


@pytest.mark.parametrize(
    "value",
    [
        True,  # a bool is not a number on the wire
        1.5,
        "12",
        [],
        {"$long": 12},
        {"$long": "12x"},
        {"$long": "1" * 30},
        {"$long": "1", "extra": 1},
        2**64,
        -(2**63) - 1,
        {"$long": "18446744073709551616"},
    ],
)
def test_opt_int_refuses(value: Any) -> None:
    with pytest.raises(ShapeError, match=r"^f: "):
        opt_int(value, "f")


def test_opt_str_treats_empty_as_absent_and_refuses_other_types() -> None:
    assert opt_str("", "f") is None
    assert opt_str(None, "f") is None
    assert opt_str("a", "f") == "a"
    with pytest.raises(ShapeError):
        opt_str(1, "f")


def test_opt_jid_wants_a_server() -> None:
    assert opt_jid("1@s.whatsapp.net", "f") == "1@s.whatsapp.net"
    with pytest.raises(ShapeError, match="not a jid"):
        opt_jid("12345", "f")


def test_opt_bool_and_float() -> None:
    assert opt_bool(None, "f") is None
    assert opt_bool(False, "f") is False
    with pytest.raises(ShapeError):
        opt_bool(0, "f")
    assert opt_float(3, "f") == 3.0
    with pytest.raises(ShapeError):
        opt_float("3", "f")


@pytest.mark.parametrize(
    ("jid", "hidden"),
    [
        ("status@broadcast", True),
        ("1700000000@broadcast", True),
        ("120363999999999999@newsletter", True),
        ("5511988887777@s.whatsapp.net", False),
        ("200000000000002@lid", False),
        ("120363040000000001@g.us", False),
    ],
)
def test_is_hidden(jid: str, hidden: bool) -> None:
    assert is_hidden(jid) is hidden
