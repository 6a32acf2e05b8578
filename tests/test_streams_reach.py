"""A client that comes from a replica ahead of this one (its last id is of the same bridge epoch
as this log's newest entry, with a higher seq) waits for this log to reach that id, then resumes
exactly; an id this log will never reach is answered at once (resync), not held."""

from __future__ import annotations

import asyncio

from orchestrator.eventlog import EventLog
from orchestrator.streams import REACH_TIMEOUT, Selection, Streams, StreamSettings


def streams() -> tuple[EventLog, Streams]:
    log = EventLog(max_entries=1000, max_age=3600)
    settings = StreamSettings(ping_interval=30, send_timeout=10, poll_max_timeout=30)
    return log, Streams(log, settings)


def entries(seqs: range) -> list[tuple[str, str, str | None, object]]:
    return [(f"e1:{seq}:0", "new_message", "c@s.whatsapp.net", {"seq": seq}) for seq in seqs]


def test_an_id_ahead_of_this_log_is_waited_for_then_resumed_exactly() -> None:
    async def main() -> tuple[float, list[str], bool]:
        log, hub = streams()
        log.append(entries(range(1, 6)))
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, log.append, entries(range(6, 10)))
        started = loop.time()
        await hub.reach("e1:7:0")
        waited = loop.time() - started
        cursor, resync = hub.start("e1:7:0", Selection(lambda entry: True))
        ids = [entry.id for entry in log.read(cursor.offset, 100)]
        return waited, ids, resync

    waited, ids, resync = asyncio.run(main())
    assert 0.1 < waited < REACH_TIMEOUT, waited
    assert not resync
    assert ids == ["e1:8:0", "e1:9:0"]


def test_ids_this_log_will_not_reach_are_not_held() -> None:
    async def main() -> float:
        log, hub = streams()
        log.append(entries(range(1, 6)))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await hub.reach("e1:3:0")  # retained
        await hub.reach("other:9:0")  # another epoch: not this log's to reach
        await hub.reach("e1:3:0,other:9:0")
        await hub.reach(None)
        await hub.reach("not an id")  # start() says what is wrong with it
        return loop.time() - started

    assert asyncio.run(main()) < 0.5
