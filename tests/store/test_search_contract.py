"""Message search, the same contract on every store backend: SQLite's FTS5 index and the
Supabase function over PostgreSQL's full-text search (through the PostgREST stand-in)."""

from __future__ import annotations

import pytest

from orchestrator import domain as d
from orchestrator.store import Store, WriteBatch
from orchestrator.store.rows import message_from_row
from orchestrator.wire import Position
from tests.store.test_contract import CHAT, LID, batch, message

pytestmark = pytest.mark.anyio

OTHER = "5511900000001@s.whatsapp.net"


def text(
    message_id: str, ts: int, body: str | None, chat: str = CHAT, **fields: object
) -> d.Message:
    return message(message_id, ts, chat, type="text", text=body, media=None, **fields)


async def ids(store: Store, query: str, chat_id: str | None = None, hidden: tuple[str, ...] = (),
              limit: int = 50, offset: int = 0) -> list[str]:  # fmt: skip
    rows = await store.search_messages(query, chat_id, hidden, limit, offset)
    return [row["id"] for row in rows]


async def test_words_all_match_in_any_order_accents_and_case_folded(store: Store) -> None:
    await store.write(
        batch(
            text("m1", 100, "Olá! O café com pão chegou?"),
            text("m2", 101, "pão de queijo"),
            text("m3", 102, "CAFE expresso"),
            text("m4", 103, None),
        )
    )
    assert await ids(store, "pão") == ["m2", "m1"]  # the shorter text (bm25), or the newer
    assert sorted(await ids(store, "cafe")) == ["m1", "m3"]
    assert await ids(store, "chegou CAFÉ") == ["m1"]
    assert await ids(store, "queijo café") == []


async def test_the_last_word_is_a_prefix(store: Store) -> None:
    await store.write(batch(text("m1", 100, "the invoice is attached"), text("m2", 101, "in")))
    assert await ids(store, "invo") == ["m1"]
    assert await ids(store, "attached invo") == ["m1"]
    assert await ids(store, "invo attached") == []  # only the last word is a prefix


async def test_ranked_best_first_ties_newest_first(store: Store) -> None:
    await store.write(
        batch(
            text("once", 100, "refund please, my order number is missing and late"),
            text("twice", 101, "refund refund"),
            text("tie_old", 102, "other words"),
            text("tie_new", 103, "other words"),
        )
    )
    assert await ids(store, "refund") == ["twice", "once"]
    assert await ids(store, "other") == ["tie_new", "tie_old"]


async def test_pages_with_limit_and_offset(store: Store) -> None:
    await store.write(batch(*(text(f"m{i}", 100 + i, "same words here") for i in range(7))))
    assert await ids(store, "words", limit=3) == ["m6", "m5", "m4"]
    assert await ids(store, "words", limit=3, offset=3) == ["m3", "m2", "m1"]
    assert await ids(store, "words", limit=3, offset=6) == ["m0"]
    assert await ids(store, "words", limit=3, offset=9) == []


async def test_one_chat_and_hidden_chats(store: Store) -> None:
    await store.write(batch(text("a", 100, "hello there"), text("b", 101, "hello", chat=OTHER)))
    assert await ids(store, "hello") == ["b", "a"]
    assert await ids(store, "hello", chat_id=CHAT) == ["a"]
    assert await ids(store, "hello", hidden=(OTHER,)) == ["a"]
    assert await ids(store, "hello", chat_id=OTHER, hidden=(OTHER,)) == []
    assert await ids(store, "hello", hidden=tuple(f"{n}@s.whatsapp.net" for n in range(2000))) == [
        "b", "a",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "query",
    ['"', '""', "*", "-", ":", "a:b", "NEAR", "NEAR(a b)", "OR", "AND", "NOT", "hello OR",
     "(", ")", "^hello", "col:hello", "hello*", "'", "'; drop table wa_messages; --", "\\",
     "😀", "😀 hello", "& | !", "<->", "a & b", "!hello", "hello:*", "{", "+", "%", "_"],
)  # fmt: skip
async def test_hostile_queries_are_only_text(store: Store, query: str) -> None:
    await store.write(
        batch(
            text("plain", 100, "hello world"),
            text("odd", 101, 'NEAR OR AND NOT "quoted" a:b col:x 😀 (paren)'),
        )
    )
    found = await ids(store, query)
    assert set(found) <= {"plain", "odd"}
    assert await ids(store, "hello") == ["plain"]  # the index is intact


async def test_operator_words_are_searched_as_words(store: Store) -> None:
    await store.write(batch(text("plain", 100, "hello world"), text("odd", 101, "near or and not")))
    assert await ids(store, "NEAR") == ["odd"]
    assert await ids(store, "hello OR world") == []  # "or" is a word to find, not an operator
    assert await ids(store, "not") == ["odd"]
    assert await ids(store, '"hello"') == ["plain"]
    assert await ids(store, "-hello") == ["plain"]
    assert await ids(store, "😀") == []  # no word to search: nothing, and no error


async def test_edits_deletes_and_renames_keep_the_index_in_step(store: Store) -> None:
    await store.write(batch(text("m1", 100, "first draft"), text("gone", 101, "draft", chat=LID)))
    await store.write(batch(text("m1", 100, "final version", edited=True, ack=d.ACK_READ)))
    assert await ids(store, "draft") == ["gone"]
    assert await ids(store, "final") == ["m1"]
    await store.write(batch(text("m1", 100, "final version", ack=d.ACK_PLAYED)))  # same text
    assert await ids(store, "final") == ["m1"]
    await store.write(batch(text("moved", 102, "draft"), renamed_chats={LID: CHAT}))
    rows = await store.search_messages("draft", None, (), 10, 0)
    assert sorted((r["chat_id"], r["id"]) for r in rows) == [(CHAT, "gone"), (CHAT, "moved")]
    await store.write(batch(text("m1", 100, "final version", deleted=True)))  # text kept
    assert await ids(store, "final") == []
    await store.write(WriteBatch(deleted_chats={CHAT}, position=Position("e", 1)))
    assert await ids(store, "draft") == []


async def test_deleted_messages_are_not_found(store: Store) -> None:
    await store.write(batch(text("m1", 100, "secret words", deleted=True)))
    assert await ids(store, "secret") == []


async def test_results_are_whole_messages(store: Store) -> None:
    original = message("m1", 100, text="a caption to find")
    await store.write(batch(original))
    [row] = await store.search_messages("caption", None, (), 10, 0)
    assert message_from_row(row) == original


async def test_one_message_by_id(store: Store) -> None:
    original = message("m1", 100)
    await store.write(batch(original))
    row = await store.message(CHAT, "m1")
    assert row is not None and message_from_row(row) == original
    assert await store.message(CHAT, "nope") is None
    assert await store.message(OTHER, "m1") is None


async def test_a_page_of_the_largest_size_and_one_more(store: Store) -> None:
    """The API asks one row more than its largest page (500) to know whether another follows."""
    await store.write(batch(*(text(f"m{i:03d}", 100 + i, "many") for i in range(502))))
    assert len(await ids(store, "many", limit=501)) == 501
