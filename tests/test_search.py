"""What a search box's text means (orchestrator.search): plain words, never syntax."""

from __future__ import annotations

import sqlite3

import pytest

from orchestrator.search import fts5_match, words


def test_words_split_on_whitespace_and_need_a_letter_or_digit() -> None:
    assert words("  hello\tworld\n") == ["hello", "world"]
    assert words("😀 - * \" ' : hi") == ["hi"]
    assert words("café 42 a:b") == ["café", "42", "a:b"]
    assert words("") == [] and words("   ") == []
    assert words("a\x00b\x7fc\x1fd") == ["a", "b", "c", "d"]


def test_each_word_is_an_fts5_string_and_the_last_a_prefix() -> None:
    assert fts5_match("hello wor") == '"hello" "wor"*'
    assert fts5_match('say "hi"') == '"say" """hi"""*'
    assert fts5_match("NEAR OR NOT") == '"NEAR" "OR" "NOT"*'
    assert fts5_match("😀 ***") is None


HOSTILE = [
    '"', '"hello', 'hello"', '""""', "*", "hello*", "*hello", "-hello", "hello -world", ":",
    "body:hello", "a:b", "NEAR", "NEAR(a b, 2)", "a NEAR b", "OR", "a OR b", "AND", "NOT a",
    "(a", "a)", "^a", "+a", "{a b}", "[a]", "a AND (b OR", "😀", "😀hello", "hello😀",
    "naïve café", "ÇÃO", "x" * 200, "'", "\\", "\x00a", "a\u200bb", "١٢٣", "日本語",
]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE)
def test_no_query_is_an_fts5_syntax_error(query: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')"
    )
    db.execute("INSERT INTO t (body) VALUES (?)", (query,))
    match = fts5_match(query)
    if match is None:
        assert not words(query)
        return
    db.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,)).fetchall()  # raises on syntax


def test_accents_fold_in_the_index() -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')"
    )
    db.execute("INSERT INTO t (body) VALUES ('Atenção: a reunião é amanhã')")
    for query in ("atencao", "REUNIAO", "amanhã", "reuni"):
        assert db.execute(
            "SELECT count(*) FROM t WHERE t MATCH ?", (fts5_match(query),)
        ).fetchone() == (1,)
