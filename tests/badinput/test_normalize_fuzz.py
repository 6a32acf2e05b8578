"""Hypothesis over real-shaped Baileys payloads: the fixtures of tests/fixtures/make-fixtures.mjs
(real protos, the bridge's own encoder), mutated: fields dropped, values of the wrong type,
huge integers and strings, nested garbage, whole payloads swapped for another event's.

Whatever comes in, `normalize` returns facts and never raises; what it cannot read comes out
as `Unreadable` facts (for that event, with a bounded reason), and `State.apply` counts each
one in `stats.unreadable`. Payloads the bridge could actually send (what orjson decodes) also
go through the whole pipeline, so the state's changes are rendered and encoded as the streams
do it: nothing there raises either.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any, get_args

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.commands import Bridge
from orchestrator.domain import Fact, Unreadable
from orchestrator.eventlog import EventLog
from orchestrator.lifecycle import ConnectionLifecycle, LifecycleSettings
from orchestrator.medialinks import MediaLinks
from orchestrator.normalize import handled_events, normalize
from orchestrator.pipeline import Pipeline
from orchestrator.state import State
from orchestrator.views import Views
from orchestrator.wire import Envelope
from tests.normalize.conftest import Cases

FACT_TYPES = get_args(Fact)
EVENTS = sorted(handled_events())
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---- garbage ---------------------------------------------------------------------------------

HUGE_INTS = st.sampled_from([2**53 + 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30, -(10**40)])
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "x@s.whatsapp.net", "@", "status@broadcast", "1@lid", "g@g.us"]),
    st.builds(lambda n: "x" * n, st.integers(10_000, 200_000)),  # huge strings
    st.fixed_dictionaries({"$long": st.one_of(st.text(max_size=30), st.integers())}),
    st.fixed_dictionaries({"$bytes": st.text(max_size=30)}),
)
GARBAGE = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*path, index))
    return paths


@st.composite
def mutated(draw: st.DrawFn, data: Any) -> Any:
    """`data` with 1-4 mutations, each at a path that exists in it at that moment."""
    data = copy.deepcopy(data)
    nested = False  # once: deeper than that, generation itself (deepcopy) would recurse out
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(data)))
        if not path:
            data = draw(GARBAGE)
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        actions = ["replace", "drop", "wrap", "duplicate"] + ([] if nested else ["nest"])
        action = draw(st.sampled_from(actions))
        if action == "replace":
            parent[key] = draw(GARBAGE)
        elif action == "drop":
            del parent[key]
        elif action == "wrap":  # right value, wrong container
            parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
        elif action == "nest":  # deep nesting: no recursion limit may be hit
            nested = True
            value = parent[key]
            for _ in range(draw(st.integers(10, 120))):
                value = {"message": value} if draw(st.booleans()) else [value]
            parent[key] = value
        elif isinstance(parent, list):
            parent.extend([parent[key]] * draw(st.integers(1, 50)))
        else:
            parent[key] = {"ephemeralMessage": {"message": parent[key]}}
    return data


# ---- the properties --------------------------------------------------------------------------


def check_facts(event: str, data: Any) -> list[Fact]:
    before = copy.deepcopy(data)
    facts = normalize(event, data)
    assert isinstance(facts, list)
    assert all(isinstance(f, FACT_TYPES) for f in facts), facts
    for fact in facts:
        if isinstance(fact, Unreadable):
            assert fact.event == event and fact.reason and len(fact.reason) <= 300, fact
    assert _same(data, before), "normalize changed its input"
    return facts


def _same(a: Any, b: Any) -> bool:
    """Equality that counts NaN as equal to itself (the garbage has NaNs)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def seeded_state(cases: Cases) -> State:
    """A state holding every fixture's facts, so mutated updates find their targets."""
    state = State(window=50, max_messages=1000)
    for case in cases.values():
        state.apply(normalize(case["event"], case["data"]))
    return state


def apply_counts_unreadable(state: State, facts: list[Fact]) -> None:
    before = state.stats.unreadable
    state.apply(facts)
    assert state.stats.unreadable == before + sum(isinstance(f, Unreadable) for f in facts)


def on_the_wire(data: Any) -> Any | None:
    """`data` as the orchestrator would decode it from the bridge (orjson: integers past 64
    bits become floats), or None when no JSON text could carry it (NaN, infinity)."""
    try:
        return orjson.loads(json.dumps(data, allow_nan=False))
    except (ValueError, orjson.JSONDecodeError):
        return None


class NoCommands:
    """The lifecycle in the pipeline only acts on connection.update, which is not fuzzed."""

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        raise AssertionError(f"no command expected, got {method}")

    async def call_idempotent(self, method: str, params: Any = None) -> Any:
        raise AssertionError(f"no command expected, got {method}")

    def close(self) -> None:
        pass


def pipeline(state: State) -> tuple[Pipeline, EventLog]:
    event_log = EventLog(max_entries=100_000, max_age=3600)
    lifecycle = ConnectionLifecycle(
        Bridge(NoCommands()),
        LifecycleSettings(
            reconnect_initial=1, reconnect_max=60, stable_after=30, qr_rounds=5,
            qr_viewer_window=120,
        ),
    )  # fmt: skip
    views = Views(state, MediaLinks("secret", 3600))
    return Pipeline(normalize, state, event_log, lifecycle, lambda *_: None, views), event_log


@pytest.fixture(scope="module")
def state_seed(cases: Cases) -> Cases:
    handled = {name: case for name, case in cases.items() if case["event"] in handled_events()}
    assert len(handled) >= 20, sorted(handled)
    return handled


@FUZZ
@given(data=st.data())
def test_mutated_real_payloads_never_raise_and_unreadable_is_counted(
    state_seed: Cases, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(state_seed)), label="fixture")
    case = state_seed[name]
    payload = data.draw(mutated(case["data"]), label="payload")
    facts = check_facts(case["event"], payload)
    apply_counts_unreadable(seeded_state(state_seed), facts)


@FUZZ
@given(data=st.data())
def test_any_payload_under_any_event_never_raises(state_seed: Cases, data: st.DataObject) -> None:
    """A payload shaped for another event (or garbage) under each handled event name."""
    event = data.draw(st.sampled_from(EVENTS), label="event")
    other = state_seed[data.draw(st.sampled_from(sorted(state_seed)), label="shape of")]
    payload = data.draw(st.one_of(GARBAGE, mutated(other["data"])), label="payload")
    facts = check_facts(event, payload)
    apply_counts_unreadable(State(window=50, max_messages=1000), facts)


@FUZZ
@given(data=st.data())
def test_a_stream_of_wire_payloads_goes_through_the_pipeline(
    state_seed: Cases, data: st.DataObject
) -> None:
    """Several mutated events in a row, decoded as the follower decodes them, applied by the
    pipeline: state, views and stream encoding never raise, every Unreadable is counted."""
    state = seeded_state(state_seed)
    feed, event_log = pipeline(state)
    expected_unreadable = state.stats.unreadable
    names = data.draw(st.lists(st.sampled_from(sorted(state_seed)), min_size=1, max_size=6))
    for seq, name in enumerate(names, start=1):
        case = state_seed[name]
        payload = on_the_wire(data.draw(mutated(case["data"]), label=f"payload {seq}"))
        if payload is None:
            continue
        expected_unreadable += sum(
            isinstance(f, Unreadable) for f in normalize(case["event"], payload)
        )
        feed.apply([Envelope("fuzz", seq, 0, case["event"], payload)], replayed=False)
    assert state.stats.unreadable == expected_unreadable
    for entry in event_log.read(0, len(event_log)):
        assert orjson.loads(entry.json)["id"] == entry.id


def test_unreadable_parts_are_counted_not_dropped(state_seed: Cases) -> None:
    """The counting itself, on a known mutation: one message of a batch made unreadable."""
    case = state_seed["upsert_media_wrapped"]
    data = copy.deepcopy(case["data"])
    data["messages"].append({"key": {"remoteJid": 5}})
    state = State(window=50, max_messages=1000)
    changes = state.apply(normalize(case["event"], data))
    assert state.stats.unreadable == 1
    assert state.last_unreadable is not None
    index = len(data["messages"]) - 1
    assert state.last_unreadable.reason.startswith(f"messages[{index}]: key.remoteJid")
    assert [c.type for c in changes].count("new_message") == index  # the rest went in
