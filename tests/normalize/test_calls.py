"""Baileys' `call` events (built by make-fixtures.mjs exactly as handleCall builds them) and
the bridge's `bridge.call_rejected` -> CallSeen facts. test_events.py runs CALL_EXPECTED with
every other case; the tests here cover what one fixture cannot."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from orchestrator.domain import CallSeen, Fact, Unreadable
from orchestrator.normalize import normalize
from tests.normalize.conftest import ANA_PN, BOB_LID, BOB_PN, GROUP, Cases, T

_ANA_VOICE = CallSeen(
    id="CALLA1", chat_id=ANA_PN, caller=ANA_PN, caller_alt=None, status="offer", timestamp=T,
    offline=False, video=False, is_group=False,
)  # fmt: skip
_BOB_GROUP = CallSeen(
    id="CALLG1", chat_id=GROUP, caller=BOB_LID, caller_alt=BOB_PN, status="offer",
    timestamp=T + 60, offline=False, video=True, is_group=True,
)  # fmt: skip


def _step(call: CallSeen, **fields: Any) -> CallSeen:
    return dataclasses.replace(call, **fields)


CALL_EXPECTED: dict[str, list[Fact]] = {
    "call_offer_voice": [_ANA_VOICE],
    "call_relaylatency": [_step(_ANA_VOICE, status="relaylatency", timestamp=T + 1)],
    "call_timeout": [_step(_ANA_VOICE, status="timeout", timestamp=T + 45)],
    "call_offer_group_video": [_BOB_GROUP],
    # Later steps of a group call name the caller, not the group (Baileys keeps groupJid for
    # the offer): the state finds the call's message by its id.
    "call_accept_group": [_step(_BOB_GROUP, chat_id=BOB_LID, status="accept", timestamp=T + 62)],
    # After an accept Baileys has forgotten the offer: the kind is not said any more.
    "call_terminate_group": [
        _step(
            _BOB_GROUP,
            chat_id=BOB_LID,
            status="terminate",
            timestamp=T + 90,
            video=None,
            is_group=None,
        )
    ],
    "call_offline_offer_then_reject": [
        _step(_ANA_VOICE, id="CALLO1", timestamp=T + 100, offline=True, video=True),
        _step(
            _ANA_VOICE, id="CALLO1", status="reject", timestamp=T + 101, offline=True, video=True
        ),
    ],
    "call_unknown_step": [
        _step(
            _ANA_VOICE, id="CALLX1", status="ringing", timestamp=T + 200, video=None, is_group=None
        )
    ],
    "call_status_broadcast": [],
    "bridge_call_rejected": [
        _step(
            _ANA_VOICE, id="CALLA2", status="reject", timestamp=T + 300, video=None, is_group=None
        )
    ],
}


def test_every_call_is_incoming(cases: Cases) -> None:
    """Baileys reports only `<call>` stanzas sent to this account."""
    for name in CALL_EXPECTED:
        for fact in normalize(cases[name]["event"], cases[name]["data"]):
            assert isinstance(fact, CallSeen) and fact.direction == "incoming", name


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"status": "exploded"}, "call.status: unknown status"),
        ({"status": None}, "call.status: missing"),
        ({"id": ""}, "call.id: missing"),
        ({"from": "not a jid"}, "call.from: not a jid"),
        ({"date": 1700000000}, "call.date: expected an object"),
        ({"date": {"$long": "1"}}, "call.date: not a $date tag"),
        ({"isVideo": "yes"}, "call.isVideo: expected a boolean"),
    ],
)
def test_a_call_it_cannot_read_is_unreadable_alone(
    cases: Cases, patch: dict[str, Any], reason: str
) -> None:
    good = cases["call_offer_voice"]["data"][0]
    facts = normalize("call", [{**good, **patch}, good])
    assert facts[1] == _ANA_VOICE
    assert isinstance(facts[0], Unreadable) and facts[0].event == "call"
    assert facts[0].reason.startswith(f"calls[0]: {reason}"), facts[0].reason


def test_an_invalid_date_is_time_zero(cases: Cases) -> None:
    """A stanza without `t` gives Baileys an invalid Date, which the bridge encodes as null."""
    good = cases["call_offer_voice"]["data"][0]
    assert normalize("call", [{**good, "date": {"$date": None}}]) == [
        _step(_ANA_VOICE, timestamp=0)
    ]
