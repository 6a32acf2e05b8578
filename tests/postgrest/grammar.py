"""PostgREST's URL and header grammar, for the subset the stand-in serves.

Everything here is pure parsing: it turns query parameters and headers into small typed values
and never builds SQL, so identifiers reach statements.py only as names to validate and quote.
Quoting follows PostgREST's URL grammar: a double-quoted token may contain reserved characters
(`,` `.` `:` `(` `)`), with `\\"` and `\\\\` as escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.postgrest.errors import ApiError, bad_request, unsupported

# Query parameters with a meaning of their own; every other key is a column filter.
RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict"})
# Operators whose right side is a single literal, and the SQL operator each maps to.
COMPARISONS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "isdistinct": "IS DISTINCT FROM",
}
IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})
_FILTER = re.compile(r"^(?P<not>not\.)?(?P<op>[a-z]+(?:\([^)]*\))?)\.(?P<value>.*)$", re.DOTALL)
_CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ORDER_WORDS = frozenset({"asc", "desc", "nullsfirst", "nullslast"})


@dataclass(frozen=True)
class SelectItem:
    """One entry of `select=`: a column (None for `*`), optional alias and cast."""

    column: str | None
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class OrderTerm:
    column: str
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default for the direction


@dataclass(frozen=True)
class Filter:
    column: str
    operator: str
    negated: bool
    value: str
    values: tuple[str, ...] = ()  # the parsed list for `in`


@dataclass
class Query:
    select: list[SelectItem] = field(default_factory=lambda: [SelectItem(None)])
    filters: list[Filter] = field(default_factory=list)
    order: list[OrderTerm] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    columns: list[str] | None = None
    on_conflict: list[str] | None = None


def split_outside_quotes(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` where it is neither inside double quotes nor inside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = 0
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif char == sep and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def unquote(token: str) -> str:
    """`"a\\"b"` -> `a"b`; an unquoted token is returned as it is."""
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def parse_query(params: Iterable[tuple[str, str]]) -> Query:
    query = Query()
    for key, value in params:
        if key in RESERVED:
            _apply_reserved(query, key, value)
        elif key in {"or", "and", "not.or", "not.and"}:
            raise unsupported(f"The logical filter `{key}=`")
        elif "." in key and not key.startswith('"'):
            raise unsupported(f"The embedded-resource parameter `{key}`")
        else:
            query.filters.append(parse_filter(unquote(key), value))
    return query


def _apply_reserved(query: Query, key: str, value: str) -> None:
    if key == "select":
        query.select = parse_select(value)
    elif key == "order":
        query.order = parse_order(value)
    elif key == "limit":
        query.limit = _non_negative(key, value)
    elif key == "offset":
        query.offset = _non_negative(key, value)
    elif key == "columns":
        query.columns = parse_names(value)
    else:
        query.on_conflict = parse_names(value)


def _non_negative(key: str, value: str) -> int:
    if not value.isdigit():
        raise bad_request("PGRST100", f'"failed to parse {key} parameter ({value})"')
    return int(value)


def parse_names(text: str) -> list[str]:
    """`columns=` and `on_conflict=`: a comma list of (possibly quoted) column names."""
    return [unquote(name.strip()) for name in split_outside_quotes(text) if name.strip()]


def parse_select(text: str) -> list[SelectItem]:
    items = [item.strip() for item in split_outside_quotes(text) if item.strip()]
    return [_select_item(item) for item in items] or [SelectItem(None)]


def _select_item(item: str) -> SelectItem:
    if "(" in item and not item.startswith('"'):
        raise unsupported(f"Resource embedding or aggregates (`{item}`)")
    if "->" in item:
        raise unsupported(f"JSON path selection (`{item}`)")
    if item.startswith("..."):
        raise unsupported(f"The spread operator (`{item}`)")
    rest, cast = _split_cast(item)
    alias, name = _split_alias(rest)
    if name == "*":
        if alias or cast:
            raise bad_request("PGRST100", f'"failed to parse select parameter ({item})"')
        return SelectItem(None)
    return SelectItem(unquote(name), alias, cast)


def _split_cast(item: str) -> tuple[str, str | None]:
    parts = split_outside_quotes(item, ":")
    # `a::text` splits into ["a", "", "text"]; `alias:a::text` into ["alias", "a", "", "text"].
    if len(parts) >= 3 and parts[-2] == "":
        cast = parts[-1]
        if not _CAST.match(cast):
            raise bad_request("PGRST100", f'"failed to parse select parameter ({item})"')
        return ":".join(parts[:-2]), cast
    return item, None


def _split_alias(item: str) -> tuple[str | None, str]:
    parts = split_outside_quotes(item, ":")
    if len(parts) == 1:
        return None, item
    if len(parts) == 2 and parts[0] and parts[1]:
        return unquote(parts[0]), parts[1]
    raise bad_request("PGRST100", f'"failed to parse select parameter ({item})"')


def parse_order(text: str) -> list[OrderTerm]:
    return [_order_term(term.strip()) for term in split_outside_quotes(text) if term.strip()]


def _order_term(term: str) -> OrderTerm:
    if "(" in term or "->" in term:
        raise unsupported(f"Ordering by related tables or JSON paths (`{term}`)")
    words = split_outside_quotes(term, ".")
    column, modifiers = unquote(words[0]), words[1:]
    if not column or any(word not in _ORDER_WORDS for word in modifiers) or len(modifiers) > 2:
        raise bad_request("PGRST100", f'"failed to parse order ({term})"')
    nulls_first: bool | None = None
    if "nullsfirst" in modifiers or "nullslast" in modifiers:
        nulls_first = "nullsfirst" in modifiers
    return OrderTerm(column, "desc" in modifiers, nulls_first)


def parse_filter(column: str, text: str) -> Filter:
    match = _FILTER.match(text)
    if match is None:
        raise bad_request("PGRST100", f'"failed to parse filter ({text})"')
    operator, value, negated = match["op"], match["value"], bool(match["not"])
    if operator in COMPARISONS:
        return Filter(column, operator, negated, value)
    if operator == "is":
        if value.lower() not in IS_VALUES:
            raise bad_request("PGRST100", f'"failed to parse filter ({text})"')
        return Filter(column, operator, negated, value.lower())
    if operator == "in":
        return Filter(column, operator, negated, value, parse_in_list(text, value))
    raise unsupported(f"The filter operator `{operator}`")


def parse_in_list(text: str, value: str) -> tuple[str, ...]:
    """`(a,b,"c,d")` -> ("a", "b", "c,d"); `()` is the empty list (matches no row)."""
    if not (value.startswith("(") and value.endswith(")")):
        raise bad_request("PGRST100", f'"failed to parse filter ({text})"')
    inner = value[1:-1]
    if not inner:
        return ()
    return tuple(unquote(item) for item in split_outside_quotes(inner))


@dataclass(frozen=True)
class Preferences:
    """The `Prefer` header values the stand-in honours (RFC 7240, as PostgREST reads it)."""

    return_representation: bool = False
    count: str | None = None
    resolution: str | None = None  # "merge-duplicates" | "ignore-duplicates"
    missing_default: bool = False
    applied: tuple[str, ...] = ()


def parse_prefer(headers: Iterable[str]) -> Preferences:
    values = [item.strip() for header in headers for item in header.split(",") if item.strip()]
    representation = "return=representation" in values
    count = next((v.split("=", 1)[1] for v in values if v.startswith("count=")), None)
    if count not in {None, "exact", "planned", "estimated"}:
        count = None  # Lenient handling: an unknown preference is ignored, as PostgREST does.
    resolution = next((v.split("=", 1)[1] for v in values if v.startswith("resolution=")), None)
    if resolution not in {None, "merge-duplicates", "ignore-duplicates"}:
        resolution = None
    missing_default = "missing=default" in values
    applied = [f"resolution={resolution}"] if resolution else []
    applied += ["missing=default"] if missing_default else []
    applied += [v for v in values if v.startswith("return=")][:1]
    applied += [f"count={count}"] if count else []
    return Preferences(representation, count, resolution, missing_default, tuple(applied))


_RANGE = re.compile(r"^(?:items=)?\s*(\d+)-(\d*)\s*$")


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """`Range: 0-9` -> (0, 9); `10-` -> (10, None); None when absent."""
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        raise ApiError(416, "PGRST103", "Requested range not satisfiable")
    low = int(match[1])
    high = int(match[2]) if match[2] else None
    if high is not None and high < low:
        raise ApiError(416, "PGRST103", "Requested range not satisfiable")
    return low, high
