"""Chat status at the helpdesk and pipeline level (issue 16), on a real SQLite store: a change
is stored, logged and announced as a chat_update; a customer's message reopens a pending or
resolved chat unless it is older than the status; the pipeline calls its one seam
(`customer_wrote`) for a customer's new message only, never for ours, history, or an update."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import domain as d
from orchestrator.commands import Bridge
from orchestrator.eventlog import EventLog
from orchestrator.helpdesk import Helpdesk, SessionHelpdesk
from orchestrator.lifecycle import ConnectionLifecycle, LifecycleSettings
from orchestrator.medialinks import MediaLinks
from orchestrator.normalize import normalize
from orchestrator.pipeline import Pipeline, Recorder
from orchestrator.principal import Principal
from orchestrator.state import State
from orchestrator.store.sqlite import SqliteStore
from orchestrator.transport.memory import MemoryBridge
from orchestrator.views import Views
from orchestrator.wire import Envelope

pytestmark = pytest.mark.anyio
CHAT = "5511912345678@s.whatsapp.net"
BOSS = Principal("boss", "admin", "Boss")

Announced = list[tuple[str, str, str | None, Any]]


def message(message_id: str, timestamp: int, *, from_me: bool = False) -> d.Message:
    return d.Message(
        id=message_id, chat_id=CHAT, chat_alt=None, from_me=from_me, sender=CHAT,
        sender_alt=None, sender_name=None, timestamp=timestamp, type="text", text="hi",
        quoted_id=None, media=None, ack=d.ACK_DELIVERED,
    )  # fmt: skip


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[Helpdesk, SessionHelpdesk, Announced]]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    announced: Announced = []
    helpdesk = Helpdesk(store, lambda *event: announced.append(event))
    await helpdesk.load()
    support = helpdesk.scoped("default")
    support.bind_chat_view(lambda chat_id: {"id": chat_id, "status": support.chat_status(chat_id)})
    yield helpdesk, support, announced
    await store.close()


async def test_a_change_is_stored_logged_and_announced_once(
    desk: tuple[Helpdesk, SessionHelpdesk, Announced],
) -> None:
    helpdesk, support, announced = desk
    assert support.chat_status(CHAT) == "open"
    generation = helpdesk.generation
    await support.set_status(BOSS, CHAT, "pending")
    assert support.chat_status(CHAT) == "pending" and helpdesk.generation > generation
    assert announced == [("default", "chat_update", CHAT, {"id": CHAT, "status": "pending"})]
    await support.set_status(BOSS, CHAT, "pending")  # unchanged: nothing more
    assert len(announced) == 1
    [entry] = await support.activity(CHAT, 10)
    assert (entry["actorId"], entry["action"], entry["details"]) == (
        "boss", "status_changed", {"from": "open", "to": "pending"},
    )  # fmt: skip
    assert helpdesk.scoped("sales").chat_status(CHAT) == "open"  # another number's chat
    await helpdesk.load()  # as after a restart
    assert support.chat_status(CHAT) == "pending"
    helpdesk.forget_session("default")  # a purged session leaves nothing in RAM
    assert helpdesk.scoped("default").chat_status(CHAT) == "open"


async def test_a_customers_message_reopens_unless_older_than_the_status(
    desk: tuple[Helpdesk, SessionHelpdesk, Announced],
) -> None:
    helpdesk, support, announced = desk
    support.customer_wrote(CHAT, message("M0", int(time.time())))  # open already: nothing
    assert announced == []
    await support.set_status(BOSS, CHAT, "resolved")
    announced.clear()
    resolved_at = int(time.time())
    support.customer_wrote(CHAT, message("OLD", resolved_at - 60))  # seen before resolving
    assert support.chat_status(CHAT) == "resolved" and announced == []
    generation = helpdesk.generation
    support.customer_wrote(CHAT, message("NEW", resolved_at))  # the same second counts as newer
    assert support.chat_status(CHAT) == "open" and helpdesk.generation > generation
    assert announced == [("default", "chat_update", CHAT, {"id": CHAT, "status": "open"})]
    async with asyncio.timeout(10):
        await support.flush()
    entry = (await support.activity(CHAT, 10))[0]
    assert (entry["actorId"], entry["action"], entry["details"]) == (
        None, "status_reopened", {"from": "resolved", "to": "open", "messageId": "NEW"},
    )  # fmt: skip
    await helpdesk.load()
    assert support.chat_status(CHAT) == "open"  # stored, not only in RAM


async def test_a_replica_that_does_not_write_reopens_in_ram_only(
    desk: tuple[Helpdesk, SessionHelpdesk, Announced],
) -> None:
    helpdesk, support, announced = desk
    await support.set_status(BOSS, CHAT, "pending")
    support.customer_wrote(CHAT, message("NEW", int(time.time()) + 1), persist=False)
    assert support.chat_status(CHAT) == "open" and announced[-1][3]["status"] == "open"
    await support.flush()
    assert [e["action"] for e in await support.activity(CHAT, 10)] == ["status_changed"]
    await helpdesk.load()  # the writing replica stores it; this one left the store alone
    assert support.chat_status(CHAT) == "pending"


def pipeline(
    state: State,
    seen: list[tuple[str, str]],
    log: EventLog | None = None,
    record: Recorder = lambda *_: None,
) -> Pipeline:
    lifecycle = ConnectionLifecycle(
        Bridge(MemoryBridge()),
        LifecycleSettings(
            reconnect_initial=1, reconnect_max=60, stable_after=30, qr_rounds=5,
            qr_viewer_window=120,
        ),
    )  # fmt: skip
    return Pipeline(
        normalize, state, EventLog(max_entries=1000, max_age=3600) if log is None else log,
        lifecycle, record,
        Views(state, MediaLinks("secret", 3600)),
        customer_wrote=lambda chat_id, m: seen.append((chat_id, m.id)),
    )  # fmt: skip


def upsert(message_id: str, *, kind: str = "notify", from_me: bool = False) -> dict[str, Any]:
    return {"type": kind, "messages": [{
        "key": {"remoteJid": CHAT, "id": message_id, "fromMe": from_me},
        "messageTimestamp": 1_800_000_000, "message": {"conversation": message_id},
    }]}  # fmt: skip


def test_the_pipeline_calls_the_seam_for_a_customers_new_message_only() -> None:
    state = State(window=50, max_messages=1000)
    seen: list[tuple[str, str]] = []
    acked = [{"key": {"remoteJid": CHAT, "id": "CUSTOMER", "fromMe": False},
              "update": {"status": 4}}]  # fmt: skip
    history = {"chats": [], "contacts": [], "isLatest": False, "messages": [{
        "key": {"remoteJid": CHAT, "id": "HISTORY", "fromMe": False},
        "messageTimestamp": 1_800_000_000, "message": {"conversation": "old"},
    }]}  # fmt: skip
    events = [
        ("messages.upsert", upsert("CUSTOMER")),
        ("messages.upsert", upsert("CUSTOMER")),  # again (a duplicate delivery): not new
        ("messages.upsert", upsert("OURS", from_me=True)),
        ("messages.upsert", upsert("OFFLINE", kind="append")),  # delivered while we were away
        ("messages.update", acked),
        ("messaging-history.set", history),
    ]
    envelopes = [Envelope("e1", n, 0, event, data) for n, (event, data) in enumerate(events, 1)]
    pipeline(state, seen).apply(envelopes, replayed=False)
    assert {m.id for m in state.chats[CHAT].messages.values()} == {
        "CUSTOMER", "OURS", "OFFLINE", "HISTORY",
    }  # fmt: skip
    assert seen == [(CHAT, "CUSTOMER"), (CHAT, "OFFLINE")]
