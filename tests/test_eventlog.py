from __future__ import annotations

import asyncio

import orjson

from orchestrator.eventlog import EVENT_ID, EventLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def items(first: int, last: int) -> list[tuple[str, str, str | None, object]]:
    return [(f"e1:{i}:0", "new_message", "c", {"n": i}) for i in range(first, last + 1)]


def test_entries_are_encoded_once_as_envelopes() -> None:
    log = EventLog(max_entries=10, max_age=60)
    log.append(items(1, 2))
    log.append([("e2:1:0", "chat_update", "c", {"n": 3})], session="sales")
    [first, second, third] = log.read(0, 10)
    assert orjson.loads(first.json) == {
        "id": "e1:1:0", "type": "new_message", "session": "default", "data": {"n": 1}
    }  # fmt: skip
    expected = b'data: {"id":"e1:2:0","type":"new_message","session":"default","data":{"n":2}}'
    assert second.sse == b"id: e1:2:0\nevent: new_message\n" + expected + b"\n\n"
    assert (third.session, orjson.loads(third.json)["session"]) == ("sales", "sales")


def test_retention_by_count_and_age() -> None:
    clock = Clock()
    log = EventLog(max_entries=5, max_age=60, clock=clock)
    log.append(items(1, 8))
    assert (log.first, log.head) == (3, 8)
    assert log.offset_after("e1:3:0") is None  # evicted
    assert log.offset_after("e1:4:0") == 4
    clock.now = 61
    log.append(items(9, 9))
    assert log.first == 8 and [e.id for e in log.read(0, 10)] == ["e1:9:0"]


def test_wait_wakes_on_append_and_times_out_otherwise() -> None:
    async def scenario() -> tuple[bool, bool]:
        log = EventLog(max_entries=5, max_age=60)
        quiet = await log.wait(0, 0.01)
        waiter = asyncio.create_task(log.wait(0, 5))
        await asyncio.sleep(0)
        log.append(items(1, 1))
        return quiet, await waiter

    assert asyncio.run(scenario()) == (False, True)


def test_event_ids_have_one_strict_shape() -> None:
    assert EVENT_ID.fullmatch("0mwv9cl50-e9d7c555:12:0")
    assert EVENT_ID.fullmatch("0mwv9cl50-e9d7c555:12:r")
    for bad in ("", "x", "a:b:c", "e:1", "e:1:2:3", "../e:1:0", "e:1:0\n"):
        assert not EVENT_ID.fullmatch(bad), bad


def test_a_session_s_newest_evicted_entry_is_still_a_position() -> None:
    """Evicting the last entry of a quiet session loses nothing of it: a client that saw that
    entry resumes (from the start of what is retained); one that saw an older one cannot."""
    log = EventLog(max_entries=4, max_age=60)
    log.append([("a1:1:0", "new_message", "c", {}), ("a1:2:0", "new_message", "c", {})], "a")
    log.append([(f"b1:{n}:0", "new_message", "c", {}) for n in range(1, 5)], "b")
    assert (log.first, log.last_ids) == (2, {"a": "a1:2:0", "b": "b1:4:0"})
    assert log.locate("b1:2:0") == ("b", 4)  # retained (at 3): the offset after it
    assert log.locate("a1:2:0") == ("a", 2)  # a's newest evicted: after it, below `first`
    assert log.locate("a1:1:0") is None  # older: a1:2:0 came after it and is gone
    assert log.locate("zz:1:0") is None
    log.append([("b1:5:0", "new_message", "c", {})], "b")
    assert log.locate("b1:1:0") == ("b", 3)  # b's newest evicted now


def test_the_log_knows_where_its_last_session_deletion_is() -> None:
    log = EventLog(max_entries=10, max_age=60)
    log.append(items(1, 2))
    assert log.deleted_at == -1
    log.append([("hub:0:m1", "session_deleted", None, {"sessionId": "x", "purged": False})], "x")
    log.append(items(3, 3))
    assert log.deleted_at == 2 and log.read(2, 1)[0].session == "x"
