"""ORCH_IGNORE and ORCH_HISTORY at the normalizer, on the fixtures built from real protos."""

from __future__ import annotations

from collections import Counter

import pytest

from orchestrator import domain as d
from orchestrator.normalize import normalize
from orchestrator.normalize.filters import (
    IGNORE_KINDS,
    HistoryPolicy,
    IgnoreKind,
    Normalizer,
    Options,
    kind_of,
    parse_history,
    parse_ignore,
)
from tests.normalize.conftest import ANA_PN, GROUP, GROUP2, Cases, T

DAY = 86_400


def normalizer(
    ignore: frozenset[IgnoreKind] = frozenset(), history: str = "recent", now: float = T
) -> Normalizer:
    return Normalizer(Options(ignore, parse_history(history)), lambda: now)


def chats_named(fact: d.Fact) -> set[str]:
    """Every chat a fact is about."""
    match fact:
        case d.MessageSeen():
            return {fact.message.chat_id}
        case d.ChatSeen() | d.ChatRemoved() | d.ContactSeen():
            return {fact.id}
        case (
            d.MessageChanged()
            | d.MessagesRemoved()
            | d.ChatRemovedAllMessages()
            | d.ReactionSet()
            | d.PresenceSeen()
            | d.ParticipantsChanged()
            | d.ChatLabelled()
        ):
            return {fact.chat_id}
        case d.CallSeen():
            # A group call's later steps name only the caller; the state files them under
            # the group its offer named.
            return {fact.chat_id, "@g.us"} if fact.is_group else {fact.chat_id}
    return set()


def test_settings_words_are_parsed_and_unknown_ones_refused() -> None:
    assert parse_ignore("") == frozenset()
    assert parse_ignore(" Groups, status ,newsletters,broadcasts,") == frozenset(IGNORE_KINDS)
    with pytest.raises(ValueError, match="'calls'"):
        parse_ignore("groups,calls")
    assert parse_history("FULL") == HistoryPolicy("full")
    assert parse_history("none").bridge_mode == "none"
    assert parse_history("days:30") == HistoryPolicy("days", 30)
    assert parse_history("days:30").bridge_mode == "recent"
    for bad in ("days:0", "days:", "days:-1", "week", "days:1.5", ""):
        with pytest.raises(ValueError):
            parse_history(bad)


def test_kinds_of_jids() -> None:
    assert kind_of(GROUP) == "groups"
    assert kind_of("status@broadcast") == "status"
    assert kind_of("1700000000@broadcast") == "broadcasts"
    assert kind_of("120363999999999999@newsletter") == "newsletters"
    assert kind_of(ANA_PN) is None
    assert kind_of(None) is None


def test_without_options_the_normalizer_is_normalize(cases: Cases) -> None:
    plain = normalizer(history="full")
    for name, case in cases.items():
        assert plain(case["event"], case["data"]) == normalize(case["event"], case["data"]), name
    assert plain.ignored == Counter() and plain.history_dropped == 0


def test_ignoring_groups_drops_every_group_fact_and_nothing_else(cases: Cases) -> None:
    """Messages, chats, contacts, receipts, reactions, presences, participants and history
    items of groups: gone, and counted; what is not about a group comes out unchanged."""
    ignoring = normalizer(frozenset({"groups"}))
    dropped_somewhere = []
    for name, case in cases.items():
        before = ignoring.ignored["groups"]
        facts = ignoring(case["event"], case["data"])
        expected = [
            f for f in normalize(case["event"], case["data"]) if kind_of_any(chats_named(f)) is None
        ]
        assert facts == expected, name
        if ignoring.ignored["groups"] > before:
            dropped_somewhere.append(name)
    assert {
        "upsert_group_lid_quoted",
        "history_set",
        "receipts_group",
        "groups_upsert",
        "group_participants_objects",
        "chats_delete",
        "call_offer_group_video",
        "call_accept_group",
        "label_chat_remove",
    } <= set(dropped_somewhere)
    assert set(ignoring.ignored) == {"groups"}


def kind_of_any(jids: set[str]) -> str | None:
    return next((k for k in map(kind_of, jids) if k is not None), None)


def test_a_history_chunk_loses_its_group_items_one_by_one(cases: Cases) -> None:
    ignoring = normalizer(frozenset({"groups"}))
    case = cases["history_set"]
    facts = ignoring(case["event"], case["data"])
    # two group chats, one group contact, two group messages
    assert ignoring.ignored == Counter({"groups": 5})
    assert not any(GROUP in chats_named(f) or GROUP2 in chats_named(f) for f in facts)
    assert any(isinstance(f, d.SyncProgress) for f in facts)
    assert any(isinstance(f, d.JidAlias) for f in facts)
    assert case["data"]["chats"][0]["id"] == GROUP  # the payload itself is not changed


def test_status_newsletters_and_broadcasts_are_counted_by_kind(cases: Cases) -> None:
    ignoring = normalizer(frozenset({"status", "newsletters", "broadcasts"}))
    case = cases["upsert_hidden_chats"]
    assert ignoring(case["event"], case["data"]) == []
    assert ignoring.ignored == Counter({"status": 2, "newsletters": 1, "broadcasts": 1})
    for name in ("receipts_group", "reaction_events", "chats_update", "chats_delete"):
        case = cases[name]
        before = sum(ignoring.ignored.values())
        facts = ignoring(case["event"], case["data"])
        assert facts == normalize(case["event"], case["data"]), name  # hidden anyway
        assert sum(ignoring.ignored.values()) > before, name
    history = cases["history_set"]
    before = ignoring.ignored.copy()
    ignoring(history["event"], history["data"])
    # a status chat and a status message; a newsletter chat
    assert ignoring.ignored - before == Counter({"status": 2, "newsletters": 1})


def test_history_none_keeps_the_chats_but_no_message(cases: Cases) -> None:
    none = normalizer(history="none")
    case = cases["history_set"]
    facts = none(case["event"], case["data"])
    everything = normalize(case["event"], case["data"])
    assert not any(isinstance(f, d.MessageSeen) for f in facts)
    assert none.history_dropped == sum(isinstance(f, d.MessageSeen) for f in everything) > 0
    assert [f for f in facts if isinstance(f, d.ChatSeen)] == [
        f for f in everything if isinstance(f, d.ChatSeen)
    ]
    live = cases["upsert_text_1to1"]  # live traffic is not history
    assert none(live["event"], live["data"]) == normalize(live["event"], live["data"])


def test_history_days_keeps_only_the_messages_of_the_last_n_days(cases: Cases) -> None:
    case = cases["history_set"]
    everything = normalize(case["event"], case["data"])
    stamps = sorted(f.message.timestamp for f in everything if isinstance(f, d.MessageSeen))
    assert len(stamps) >= 3
    cutoff = stamps[1] + 1  # the two oldest are older than the cutoff
    days = normalizer(history="days:2", now=cutoff + 2 * DAY)
    facts = days(case["event"], case["data"])
    kept = [f.message.timestamp for f in facts if isinstance(f, d.MessageSeen)]
    assert kept and all(t >= cutoff for t in kept)
    assert days.history_dropped == 2 == len(stamps) - len(kept)
    assert [f for f in facts if isinstance(f, d.ChatSeen)] == [
        f for f in everything if isinstance(f, d.ChatSeen)
    ]
    recent = normalizer(history="days:2", now=T)  # every message is within 2 days of T
    assert recent(case["event"], case["data"]) == everything
