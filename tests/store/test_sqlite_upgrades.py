"""A data directory written by an earlier version opens with this one: the numbered upgrades
run on it, and what it held is still there."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from orchestrator.errors import ConflictError
from orchestrator.store import Metadata, Row, Snapshot
from orchestrator.store.rows import chat_from_row, message_from_row
from orchestrator.store.sqlite import UPGRADES, SqliteStore
from orchestrator.wire import Position

CHAT = "5511912345678@s.whatsapp.net"
GROUP = "120363040000000001@g.us"


def test_a_store_from_before_arrival_ordering_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:2], start=1):  # the arrival column is #3
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO wa_chats (id) VALUES (?)", (CHAT,))
    for message_id in ("b", "a"):
        db.execute(
            "INSERT INTO wa_messages (chat_id, id, from_me, ts, type, ack) "
            "VALUES (?, ?, 0, 100, 'text', 3)",
            (CHAT, message_id),
        )
    db.close()

    async def read() -> tuple[list[str], list[int], int]:
        store = SqliteStore(path)
        await store.open()
        rows = await store.messages_before(CHAT, None, 10) or []
        await store.close()
        with contextlib.closing(sqlite3.connect(path)) as check:
            version = check.execute("PRAGMA user_version").fetchone()[0]
        return [r["id"] for r in rows], [message_from_row(r).arrival for r in rows], version

    ids, arrivals, version = asyncio.run(read())
    assert version == len(UPGRADES)
    assert ids == ["b", "a"] and arrivals == [0, 0]  # rows from before keep the id order


def test_chats_from_before_group_members_load_with_none_known(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:3], start=1):  # the members column is #4
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO wa_chats (id, name, is_group) VALUES (?, 'Support', 1)", (GROUP,))
    db.close()

    async def read() -> list[Row]:
        store = SqliteStore(path)
        await store.open()
        chats = (await store.load(window=10)).chats
        await store.close()
        return chats

    [row] = asyncio.run(read())
    chat = chat_from_row(row)
    assert (chat.id, chat.is_group, chat.name, chat.participants) == (GROUP, True, "Support", None)


def test_case_only_duplicates_from_before_are_renamed_and_then_refused(tmp_path: Path) -> None:
    """Upgrade 5 makes names unique whatever their case on a file that already breaks that:
    the later duplicates are renamed " (n)" with the first n free, and keep their ids."""
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:4], start=1):  # case-insensitive names are #5
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    tags = ["Billing", "billing", "vip", "BILLING", "billing (2)", "VIP", "Billing (2)"]
    db.executemany("INSERT INTO tags (name) VALUES (?)", [(t,) for t in tags])
    db.execute("INSERT INTO chat_tags (chat_id, tag_id) VALUES (?, 4)", (CHAT,))
    shortcuts = ["/hi", "/Hi", "/HI", "/bye"]
    db.executemany(
        "INSERT INTO quick_replies (shortcut, body) VALUES (?, 'x')", [(s,) for s in shortcuts]
    )
    db.close()

    async def upgrade() -> tuple[Metadata, list[Row], list[str]]:
        store = SqliteStore(path)
        await store.open()
        metadata = await store.load_metadata()
        replies = await store.quick_replies()
        refused = []
        for name in ("bIlLiNg", "billing (3)", "Vip"):
            try:
                await store.create_tag(name, None)
            except ConflictError as exc:
                refused.append(exc.message)
        await store.close()
        return metadata, replies, refused

    metadata, replies, refused = asyncio.run(upgrade())
    assert {t["id"]: t["name"] for t in metadata.tags.values()} == {
        1: "Billing",
        2: "billing (3)",  # " (2)" is taken, in another case, by tag 5
        3: "vip",
        4: "BILLING (4)",
        5: "billing (2)",
        6: "VIP (2)",
        7: "Billing (2) (2)",  # a duplicate of tag 5, in its own group
    }
    assert metadata.chat_tags == {("default", CHAT): {4}}
    assert sorted((r["id"], r["shortcut"]) for r in replies) == [
        (1, "/hi"), (2, "/Hi (2)"), (3, "/HI (3)"), (4, "/bye"),
    ]  # fmt: skip
    assert refused == [
        "a tag named 'Billing' exists",
        "a tag named 'billing (3)' exists",
        "a tag named 'vip' exists",
    ]
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(UPGRADES)


def test_metadata_from_before_sessions_is_the_default_sessions(tmp_path: Path) -> None:
    """The sessions upgrade rebuilds the assignment and chat-tag tables (their keys gain the
    session): every row of a single-number file is kept, under the session "default"."""
    path = tmp_path / "store.sqlite3"
    sessions_upgrade = 9
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[: sessions_upgrade - 1], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.executescript(
        f"""
        INSERT INTO profiles (id, display_name, role) VALUES ('ana', 'Ana', 'agent');
        INSERT INTO chat_assignments (chat_id, agent_id, assigned_by, assigned_at)
            VALUES ('{CHAT}', 'ana', 'boss', '2026-01-02T03:04:05.000Z');
        INSERT INTO tags (name) VALUES ('vip');
        INSERT INTO chat_tags (chat_id, tag_id) VALUES ('{CHAT}', 1);
        INSERT INTO chat_notes (chat_id, author_id, body) VALUES ('{CHAT}', 'ana', 'called');
        INSERT INTO activity_logs (actor_id, action, chat_id)
            VALUES ('ana', 'note_added', '{CHAT}');
        INSERT INTO activity_logs (actor_id, action) VALUES ('boss', 'tag_created');
        """  # noqa: S608
    )
    db.close()

    async def upgrade() -> tuple[Metadata, list[Row], list[Row], list[Row], Metadata]:
        store = SqliteStore(path)
        await store.open()
        metadata = await store.load_metadata()
        notes = await store.list_notes("default", CHAT)
        default_log = await store.activity("default", CHAT, 10)
        sales_log = await store.activity("sales", None, 10)
        # the new keys: the same chat in another session is another row, not a replacement
        await store.set_assignment("sales", CHAT, "ana", "boss")
        await store.set_chat_tag("sales", CHAT, 1, True)
        after = await store.load_metadata()
        await store.close()
        return metadata, notes, default_log, sales_log, after

    metadata, notes, default_log, sales_log, after = asyncio.run(upgrade())
    assert [(k, r["agent_id"], r["assigned_by"], r["assigned_at"]) for k, r in
            metadata.assignments.items()] == [
        (("default", CHAT), "ana", "boss", "2026-01-02T03:04:05.000Z")
    ]  # fmt: skip
    assert metadata.chat_tags == {("default", CHAT): {1}}
    assert metadata.profiles["ana"]["sessions"] == ["default"]
    assert [(n["session"], n["body"]) for n in notes] == [("default", "called")]
    assert [r["action"] for r in default_log] == ["note_added"]
    assert [r["action"] for r in sales_log] == ["tag_created"]  # of no session: in every log
    assert set(after.assignments) == {("default", CHAT), ("sales", CHAT)}
    assert after.chat_tags == {("default", CHAT): {1}, ("sales", CHAT): {1}}
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(UPGRADES)
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        assert check.execute("SELECT count(*) FROM wa_sessions").fetchone()[0] == 0


def test_a_position_from_before_the_stored_stream_log_loads_without_it(tmp_path: Path) -> None:
    """Upgrade 10 (the stream log): the stored position is kept, with no JetStream sequence,
    no stream id and no stream log; the first entries stored replace nothing."""
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:9], start=1):  # the stream log is #10
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO wa_sync_state (id, epoch, seq) VALUES ('bridge', 'e1', 42)")
    db.close()

    async def read() -> Snapshot:
        store = SqliteStore(path)
        snapshot = await store.load(10)
        await store.close()
        return snapshot

    snapshot = asyncio.run(read())
    assert snapshot.position == Position("e1", 42) and snapshot.position.stream is None
    assert snapshot.entries == [] and snapshot.stream_id is None and snapshot.stream_ord is None
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(UPGRADES)
    assert "CREATE TABLE wa_stream_log" in UPGRADES[9]  # later upgrades append after it


def test_a_store_from_before_chat_status_has_every_chat_open(tmp_path: Path) -> None:
    """The chat status upgrade (issue 16) adds an empty table: every chat is open, the rest of
    the metadata is kept, and statuses are then stored per session and chat."""
    path = tmp_path / "store.sqlite3"
    status_upgrade = next(n for n, s in enumerate(UPGRADES, start=1) if "chat_status" in s)
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[: status_upgrade - 1], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute(
        "INSERT INTO chat_assignments (session, chat_id, agent_id) VALUES ('default', ?, 'ana')",
        (CHAT,),
    )
    db.close()

    async def upgrade() -> tuple[Metadata, Metadata]:
        store = SqliteStore(path)
        await store.open()
        before = await store.load_metadata()
        await store.set_chat_status("default", CHAT, "resolved", "ana", "")
        after = await store.load_metadata()
        await store.close()
        return before, after

    before, after = asyncio.run(upgrade())
    assert before.statuses == {} and list(before.assignments) == [("default", CHAT)]
    assert [(k, r["status"], r["updated_by"]) for k, r in after.statuses.items()] == [
        (("default", CHAT), "resolved", "ana")
    ]
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(UPGRADES)


def test_messages_stored_before_search_are_indexed_by_its_upgrade(tmp_path: Path) -> None:
    """The message search upgrade indexes what the file already holds; the triggers what is
    written after."""
    search_upgrade = next(i for i, script in enumerate(UPGRADES) if "wa_messages_fts" in script)
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[:search_upgrade], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO wa_chats (id) VALUES (?)", (CHAT,))
    for message_id, body in (("a", "Você já pagou a fatura?"), ("b", None), ("c", "fatura")):
        db.execute(
            "INSERT INTO wa_messages (chat_id, id, from_me, ts, type, ack, body) "
            "VALUES (?, ?, 0, 100, 'text', 3, ?)",
            (CHAT, message_id, body),
        )
    db.close()

    async def search() -> tuple[list[str], list[str], list[str]]:
        store = SqliteStore(path)
        await store.open()
        found = [r["id"] for r in await store.search_messages("voce fatu", None, (), 10, 0)]
        both = [r["id"] for r in await store.search_messages("fatura", None, (), 10, 0)]
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as later:
            later.execute("DELETE FROM wa_messages WHERE id = 'c'")
        after = [r["id"] for r in await store.search_messages("fatura", None, (), 10, 0)]
        await store.close()
        return found, both, after

    found, both, after = asyncio.run(search())
    assert found == ["a"]
    assert sorted(both) == ["a", "c"]
    assert after == ["a"]


def test_settings_and_rule_runs_come_with_an_upgrade_that_keeps_the_metadata(
    tmp_path: Path,
) -> None:
    """The settings and rule runs upgrade (issue 16): a store from before keeps its helpdesk
    rows and gains empty settings, rule runs and rule cursors; a session's purge takes them."""
    path = tmp_path / "store.sqlite3"
    upgrade = next(n for n, script in enumerate(UPGRADES, start=1) if "rule_runs" in script)
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[: upgrade - 1], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO chat_assignments (session, chat_id, agent_id) VALUES ('s', 'c', 'a')")
    db.close()

    async def use() -> tuple[Any, bool, bool, Any, Any]:
        store = SqliteStore(path)
        before = await store.load_settings("s")
        first = await store.claim_rule_run("s", "c", "greeting", "chat")
        again = await store.claim_rule_run("s", "c", "greeting", "chat")
        await store.save_settings("s", {"x": 1}, None)
        await store.set_rule_cursor("s", "round_robin", "a")
        metadata = await store.load_metadata()
        await store.purge_session("s")
        after = (await store.load_settings("s"), await store.rule_cursor("s", "round_robin"))
        await store.close()
        return before, first, again, metadata.assignments, after

    before, first, again, assignments, after = asyncio.run(use())
    assert before is None and (first, again) == (True, False)
    assert list(assignments) == [("s", "c")]
    assert after == (None, None)
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(UPGRADES)
        assert check.execute("SELECT count(*) FROM rule_runs").fetchone()[0] == 0


def test_webhooks_come_with_an_upgrade_that_keeps_the_history(tmp_path: Path) -> None:
    """The webhooks upgrade (issue 18): a store from before keeps its rows and position and
    gains no endpoint and an empty outbox."""
    path = tmp_path / "store.sqlite3"
    upgrade = next(n for n, script in enumerate(UPGRADES, start=1) if "wa_webhooks" in script)
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(UPGRADES[: upgrade - 1], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO wa_chats (id) VALUES (?)", (CHAT,))
    db.execute("INSERT INTO wa_sync_state (id, epoch, seq) VALUES ('bridge', 'e1', 7)")
    db.close()

    async def use() -> tuple[Snapshot, list[Row], int, int]:
        store = SqliteStore(path)
        snapshot = await store.load(window=10)
        webhooks = await store.list_webhooks()
        backlog = await store.webhook_backlog()
        await store.close()
        return snapshot, webhooks, backlog.last_ord, len(backlog.deliveries)

    snapshot, webhooks, last_ord, owed = asyncio.run(use())
    assert [c["id"] for c in snapshot.chats] == [CHAT]
    assert snapshot.position == Position("e1", 7)
    assert (webhooks, last_ord, owed) == ([], 0, 0)
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(UPGRADES)
