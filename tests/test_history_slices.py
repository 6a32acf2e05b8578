"""A large history sync is applied in slices: its chats are served while the rest of its
messages go in, the API and the streams answer between two slices, and the store learns its
position only once it is wholly applied."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from orchestrator.eventlog import Entry, EventLog
from orchestrator.normalize import normalize
from orchestrator.pipeline import HISTORY_SLICE, history_parts
from orchestrator.state import Change, State
from orchestrator.wire import Envelope, Position
from tests.test_chat_status import pipeline

CHATS = 50
MESSAGES = HISTORY_SLICE * 3 + 7  # four slices, the last a short one


def history() -> dict[str, Any]:
    chats = [{"id": f"5511{c:09d}@s.whatsapp.net", "conversationTimestamp": 1_700_000_000 + c,
              "name": f"Chat {c}"} for c in range(CHATS)]  # fmt: skip
    messages = [
        {"key": {"remoteJid": chats[n % CHATS]["id"], "fromMe": False, "id": f"H{n:06d}"},
         "messageTimestamp": 1_700_000_000 + n, "message": {"conversation": f"m{n}"}}
        for n in range(MESSAGES)
    ]  # fmt: skip
    contacts = [{"id": c["id"], "notify": c["name"]} for c in chats]
    return {"chats": chats, "contacts": contacts, "messages": messages, "progress": 100,
            "syncType": 2, "isLatest": True}  # fmt: skip


class Recorded:
    """The write-behind's side of the pipeline: what it was asked to record."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, Position, str | None, list[str]]] = []

    def __call__(
        self,
        changes: list[Change],
        position: Position,
        last_id: str | None,
        entries: Sequence[Entry],
    ) -> None:
        self.calls.append((len(changes), position, last_id, [e.id for e in entries]))


def test_the_parts_hold_every_fact_in_order() -> None:
    data = history()
    parts = history_parts(data, HISTORY_SLICE)
    assert [len(p["messages"]) for p in parts] == [HISTORY_SLICE] * 3 + [7]
    assert [m for p in parts for m in p["messages"]] == data["messages"]
    assert parts[0]["chats"] == data["chats"] and parts[0]["contacts"] == data["contacts"]
    assert all("chats" not in p and "progress" not in p for p in parts[1:-1])
    assert {k: parts[-1][k] for k in ("progress", "syncType", "isLatest")} == {
        "progress": 100,
        "syncType": 2,
        "isLatest": True,
    }
    whole = normalize("messaging-history.set", data)
    assert [f for p in parts for f in normalize("messaging-history.set", p)] == whole


def test_a_large_sync_goes_in_by_slices_and_is_recorded_once_whole() -> None:
    state = State(window=500, max_messages=1_000_000)
    log = EventLog(max_entries=100_000, max_age=3600)
    record = Recorded()
    before = Envelope("e1", 1, 0, "chats.upsert", [{"id": "5511999999999@s.whatsapp.net"}])
    sync = Envelope("e1", 2, 0, "messaging-history.set", history())
    seen: list[tuple[int, int]] = []  # (chats, messages) whenever another task ran

    async def run() -> None:
        stop = asyncio.Event()

        async def look() -> None:
            while not stop.is_set():
                seen.append((len(state.chats), state.stats.messages))
                await asyncio.sleep(0)

        looker = asyncio.create_task(look())
        await asyncio.sleep(0)
        slices = pipeline(state, [], log, record).apply([before, sync], replayed=False)
        assert slices is not None  # the follower awaits it before its next batch
        await slices
        stop.set()
        await looker

    asyncio.run(run())
    assert state.stats.messages == MESSAGES and len(state.chats) == CHATS + 1
    # Between two slices: every chat already, part of the messages.
    between = [m for c, m in seen if c == CHATS + 1 and 0 < m < MESSAGES]
    assert sorted(set(between)) == [HISTORY_SLICE, HISTORY_SLICE * 2, HISTORY_SLICE * 3]
    # The event before the sync on its own, then the sync once, at its position, with every
    # stream entry it made: ids e1:2:0.. without a gap or a repeat.
    assert [(p, ids) for _, p, _, ids in record.calls] == [
        (before.position, ["e1:1:0"]),
        (sync.position, [f"e1:2:{k}" for k in range(2 * CHATS + 1)]),  # chats, contacts, progress
    ]
    assert record.calls[1][0] == CHATS + CHATS + MESSAGES + 1  # every change of the sync
    assert record.calls[1][2] == log.last_id == f"e1:2:{2 * CHATS}"


def test_a_small_sync_is_applied_at_once() -> None:
    state = State(window=500, max_messages=1_000_000)
    record = Recorded()
    data = history() | {"messages": history()["messages"][:HISTORY_SLICE]}
    sync = Envelope("e1", 1, 0, "messaging-history.set", data)
    assert pipeline(state, [], EventLog(max_entries=1000, max_age=60), record).apply(
        [sync], replayed=False
    ) is None  # fmt: skip
    assert state.stats.messages == HISTORY_SLICE and len(record.calls) == 1
