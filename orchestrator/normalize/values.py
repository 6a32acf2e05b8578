"""Readers for the bridge's wire encoding of Baileys values, and jid predicates.

The wire (DESIGN.md, "Lossless payload encoding"): protobuf Longs arrive as JSON numbers when
they are safe integers, else as `{"$long": "<decimal>"}`; enums as numbers; absent proto
fields are simply missing, and plain-object fields may be `null`. Every reader treats `None`
as "not there" and raises `ShapeError` for anything else it cannot read: the normalizer turns
that into an `Unreadable` fact for the part being read, never a wrong value.

Pure and cheap: these run several times per message on the hot path.
"""

from __future__ import annotations

import sys
from typing import Any, overload

# A protobuf int64/uint64 spans [-2^63, 2^64): anything outside is not a Baileys value.
_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1
# Longest decimal we parse from a {"$long"} tag: int() on a huge digit string is quadratic.
_LONG_DIGITS = 21


class ShapeError(ValueError):
    """A value the normalizer cannot read. Internal: `normalize` never lets it escape."""


def owned(value: str) -> str:
    """A string read from an event, copied: a message kept in RAM must not hold on to strings
    of the event's parse tree. One such string in a memory pool keeps the pool, and the arena
    around it, from going back when the tree is freed: held, the strings of a 100,000-message
    history sync kept its 200 MB tree's arenas (1.8 KB per message, measured)."""
    return "".join(("", value))  # joining two: always a new string, even with one empty


@overload
def interned(value: str) -> str: ...
@overload
def interned(value: str | None) -> str | None: ...
def interned(value: str | None) -> str | None:
    """A string many messages repeat (a jid, a sender's name, a mimetype): one copy for all."""
    # Its first copy is the one kept (the event's own string would pin the tree: owned()).
    return value and sys.intern(owned(value))


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def opt_str(value: Any, where: str) -> str | None:
    """A string field; `None` and "" (proto3's default) both mean absent."""
    if value is None:
        return None
    if type(value) is not str:
        raise ShapeError(f"{where}: expected a string, got {type_name(value)}")
    return value or None


def req_str(obj: dict[str, Any], name: str, where: str) -> str:
    """A string field that must be there and non-empty (ids)."""
    value = opt_str(obj.get(name), f"{where}.{name}")
    if value is None:
        raise ShapeError(f"{where}.{name}: missing")
    return value


def opt_jid(value: Any, where: str) -> str | None:
    """A jid field: a string with a server part (`user@server`)."""
    jid = opt_str(value, where)
    if jid is not None and "@" not in jid:
        raise ShapeError(f"{where}: not a jid")
    return jid


def req_jid(obj: dict[str, Any], name: str, where: str) -> str:
    jid = opt_jid(obj.get(name), f"{where}.{name}")
    if jid is None:
        raise ShapeError(f"{where}.{name}: missing")
    return jid


def opt_bool(value: Any, where: str) -> bool | None:
    if value is None or type(value) is bool:
        return value
    raise ShapeError(f"{where}: expected a boolean, got {type_name(value)}")


def opt_int(value: Any, where: str) -> int | None:
    """An integer field: a JSON number, or a `{"$long": "<decimal>"}` tag (a Long > 2^53).

    Floats are accepted only when integral (JSON has one number type); bools are not numbers
    here, although Python says they are.
    """
    if value is None:
        return None
    kind = type(value)
    if kind is int:
        result: int = value + 0  # a new int, not the parse tree's (see owned())
    elif kind is float and value.is_integer():
        result = int(value)
    elif kind is dict and len(value) == 1 and "$long" in value:
        digits = value["$long"]
        if type(digits) is not str or len(digits) > _LONG_DIGITS:
            raise ShapeError(f"{where}: bad $long tag")
        try:
            result = int(digits)
        except ValueError:
            raise ShapeError(f"{where}: bad $long tag") from None
    else:
        raise ShapeError(f"{where}: expected an integer, got {type_name(value)}")
    if not _INT_MIN <= result <= _INT_MAX:
        raise ShapeError(f"{where}: integer out of the 64-bit range")
    return result


def opt_float(value: Any, where: str) -> float | None:
    """A proto double (coordinates). Integral doubles arrive as JSON integers."""
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        return float(value)
    raise ShapeError(f"{where}: expected a number, got {type_name(value)}")


def as_dict(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ShapeError(f"{where}: expected an object, got {type_name(value)}")
    return value


def opt_dict(value: Any, where: str) -> dict[str, Any] | None:
    return None if value is None else as_dict(value, where)


def as_list(value: Any, where: str) -> list[Any]:
    if type(value) is not list:
        raise ShapeError(f"{where}: expected a list, got {type_name(value)}")
    return value


def opt_list(value: Any, where: str) -> list[Any]:
    """A repeated field: absent or null is the empty list."""
    return [] if value is None else as_list(value, where)


def is_group(jid: str) -> bool:
    return jid.endswith("@g.us")


def is_hidden(jid: str) -> bool:
    """Not a chat for the helpdesk: status@broadcast, broadcast lists and newsletters.

    `status@broadcast` is itself an `@broadcast` jid, so one suffix test covers both.
    """
    return jid.endswith("@broadcast") or jid.endswith("@newsletter")
