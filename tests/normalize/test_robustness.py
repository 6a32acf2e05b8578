"""The normalizer's promises beyond the happy path: pure, idempotent, never raises, and one
unreadable part costs exactly that part."""

from __future__ import annotations

import copy
import random
from typing import Any, get_args

import pytest

from orchestrator.domain import Fact, MessageSeen, Unreadable
from orchestrator.normalize import handled_events, normalize
from tests.normalize.conftest import Cases

FACT_TYPES = get_args(Fact)

GARBAGE: list[Any] = [
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    float("inf"),
    "x",
    "",
    [],
    {},
    [None],
    [1, "x", [], {}],
    [{"key": None}],
    [{"key": {"remoteJid": 1, "id": []}}],
    [{"key": {"remoteJid": "a@s.whatsapp.net", "id": "X"}, "update": "x"}],
    {"messages": "x"},
    {"messages": [None, 10**30, {"key": {}}]},
    {"messages": [{"key": {"remoteJid": "a@s.whatsapp.net", "id": "X"}, "message": []}]},
    {"keys": "x"},
    {"keys": [None, {"remoteJid": "a@s.whatsapp.net"}]},
    {"jid": 5, "all": True},
    {"id": None, "participants": "x", "action": 1},
    {"id": "g@g.us", "participants": [None, {}], "action": "add"},
    {"id": "g@g.us", "participants": [{"id": "a@lid", "admin": []}], "action": "add"},
    {"chats": [{"id": "g@g.us", "participant": [{"userJid": "a@lid", "rank": "x"}]}]},
    {"id": "a@s.whatsapp.net", "presences": []},
    {"lid": 1, "pn": None},
    {"chats": "x", "contacts": None, "messages": [1], "lidPnMappings": {}, "progress": "x"},
    {"$long": "1" * 40},
]


@pytest.mark.parametrize("event", sorted(handled_events()))
@pytest.mark.parametrize("data", GARBAGE, ids=repr)
def test_garbage_yields_only_unreadable(event: str, data: Any) -> None:
    facts = normalize(event, data)
    assert all(isinstance(f, Unreadable) and f.event == event and f.reason for f in facts), facts


@pytest.mark.parametrize("event", sorted(handled_events()))
def test_a_payload_of_the_wrong_type_is_reported(event: str) -> None:
    for data in (None, "x", 10**30):
        facts = normalize(event, data)
        assert facts and all(isinstance(f, Unreadable) for f in facts), (event, data)


@pytest.mark.parametrize("event", ["connection.update", "creds.update", "bridge.heartbeat", ""])
def test_unhandled_events_yield_nothing(event: str) -> None:
    assert normalize(event, {"messages": [1]}) == []
    assert normalize(event, None) == []


def test_a_non_string_event_name_yields_nothing() -> None:
    assert normalize(None, {}) == []  # type: ignore[arg-type]
    assert normalize(["messages.upsert"], {}) == []  # type: ignore[arg-type]


def test_normalize_is_idempotent_and_leaves_its_input_alone(cases: Cases) -> None:
    for name, case in cases.items():
        before = copy.deepcopy(case["data"])
        first = normalize(case["event"], case["data"])
        second = normalize(case["event"], case["data"])
        assert first == second, name
        assert [f.message.raw for f in first if isinstance(f, MessageSeen)] == [
            f.message.raw for f in second if isinstance(f, MessageSeen)
        ], name
        assert case["data"] == before, name


def test_no_case_is_unreadable(cases: Cases) -> None:
    for name, case in cases.items():
        facts = normalize(case["event"], case["data"])
        assert not [f for f in facts if isinstance(f, Unreadable)], name


def test_one_bad_message_costs_only_itself(cases: Cases) -> None:
    data = copy.deepcopy(cases["upsert_media_wrapped"]["data"])
    good = normalize("messages.upsert", data)
    template = data["messages"][0]
    bad_caption = copy.deepcopy(template)
    bad_caption["message"]["ephemeralMessage"]["message"]["imageMessage"]["caption"] = 5
    bad_time = copy.deepcopy(template)
    bad_time["messageTimestamp"] = "yesterday"
    huge_size = copy.deepcopy(template)
    huge_size["message"]["ephemeralMessage"]["message"]["imageMessage"]["fileLength"] = 10**30
    unencodable = copy.deepcopy(template)  # raw cannot be JSON: orjson refuses > 64-bit ints
    unencodable["key"]["extra"] = 10**30
    no_id = copy.deepcopy(template)
    del no_id["key"]["id"]
    bad = [bad_caption, None, bad_time, huge_size, unencodable, no_id]
    data["messages"][1:1] = bad

    facts = normalize("messages.upsert", data)

    assert [f for f in facts if not isinstance(f, Unreadable)] == good
    reasons = [f.reason for f in facts if isinstance(f, Unreadable)]
    assert reasons == [
        "messages[1]: imageMessage.caption: expected a string, got int",
        "messages[2]: message: expected an object, got null",
        "messages[3]: messageTimestamp: expected an integer, got str",
        "messages[4]: imageMessage.fileLength: integer out of the 64-bit range",
        "messages[5]: TypeError: Integer exceeds 64-bit range",
        "messages[6]: key.id: missing",
    ]


def test_one_bad_part_of_a_history_chunk_costs_only_itself(cases: Cases) -> None:
    data = copy.deepcopy(cases["history_set"]["data"])
    good = normalize("messaging-history.set", data)
    data["chats"].insert(0, {"id": 7})
    data["lidPnMappings"].append({"lid": "x@lid"})
    data["progress"] = "half"

    facts = normalize("messaging-history.set", data)

    readable = [f for f in facts if not isinstance(f, Unreadable)]
    assert readable == good[:-1]  # all but SyncProgress, whose progress is now unreadable
    assert [f.reason for f in facts if isinstance(f, Unreadable)] == [
        "lidPnMappings[2]: mapping.pn: missing",
        "chats[0]: chat.id: expected a string, got int",
        "progress: expected an integer, got str",
    ]


def test_reasons_are_bounded() -> None:
    facts = normalize("chats.upsert", [{"id": "x" * 10_000, "name": 1}])
    assert len(facts) == 1 and isinstance(facts[0], Unreadable)
    assert len(facts[0].reason) <= 300


# --- fuzz: real payloads with one part swapped for garbage ----------------------------------

SWAPS: list[Any] = [None, 0, -1, 2**64, 10**30, 1.5, True, "", "x", [], {}, [None], {"$long": "x"}]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*path, index))
    return paths


def _swapped(data: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    data = copy.deepcopy(data)
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return data


def test_fuzzed_payloads_never_raise(cases: Cases) -> None:
    rng = random.Random(20240611)
    tried = 0
    for name, case in sorted(cases.items()):
        paths = _paths(case["data"])
        for path in rng.sample(paths, min(len(paths), 80)):
            data = _swapped(case["data"], path, rng.choice(SWAPS))
            facts = normalize(case["event"], data)
            assert isinstance(facts, list), (name, path)
            assert all(isinstance(f, FACT_TYPES) for f in facts), (name, path)
            tried += 1
    assert tried > 1000
