"""Message search: what a search box's text means, and the SQLite FTS5 expression for it. Pure.

A query is plain words, never a query language: every word must occur (in any order), the
last one as a prefix too (a search box is searched while it is typed). Characters FTS5 or
tsquery would read as syntax (`"`, `*`, `-`, `:`, `^`, `(`, `NEAR`, `OR`, ...) are only
text here, so no query can be a syntax error. A word without a letter or digit (an emoji,
punctuation) is left out: the tokenizers index letters and digits only, and an FTS5 phrase
with no token in it matches nothing. The Supabase function `search_messages` applies the
same rules in SQL (supabase/migrations/20261208120100_message_search.sql).
"""

from __future__ import annotations

MAX_QUERY = 200
"""Characters of a query at most (a longer one is refused: bad_q)."""


# Control characters separate words: FTS5 ends a string at NUL, PostgreSQL refuses it in text.
_CONTROLS = {code: " " for code in (*range(0x20), 0x7F)}


def words(query: str) -> list[str]:
    """The query's searchable words, in order: split on whitespace and control characters,
    those with at least one letter or digit."""
    return [word for word in query.translate(_CONTROLS).split() if any(c.isalnum() for c in word)]


def fts5_match(query: str) -> str | None:
    """The FTS5 MATCH expression for the query, or None when it has no searchable word (then
    nothing matches). Each word is an FTS5 string (a `"` in it doubled), so the tokenizer,
    not the query parser, reads it; the last is a prefix."""
    found = words(query)
    if not found:
        return None
    quoted = ['"' + word.replace('"', '""') + '"' for word in found]
    quoted[-1] += "*"
    return " ".join(quoted)
