"""Lease fencing along a session's stream (orchestrator/fencing.py)."""

from __future__ import annotations

from orchestrator.fencing import Fence


def test_terms_rising_along_the_stream_are_all_admitted() -> None:
    fence = Fence()
    assert all(fence.admit(seq, term) for seq, term in [(1, 0), (2, 5), (3, 5), (4, 9), (5, 12)])
    assert fence.highest == 12


def test_a_lower_term_after_a_higher_one_is_fenced() -> None:
    fence = Fence()
    assert fence.admit(10, 5) and fence.admit(11, 9)
    assert not fence.admit(12, 5)  # the paused old holder's late publish
    assert fence.admit(13, 9)


def test_an_old_event_replayed_after_newer_live_ones_is_judged_by_what_came_before_it() -> None:
    fence = Fence()
    assert fence.admit(100, 9)  # live, from the newest
    assert fence.admit(40, 5)  # replayed: before term 9 began, it is legitimate
    assert fence.admit(60, 5)
    assert not fence.admit(101, 5)  # after term 9 began: fenced
    assert fence.admit(50, 5) and fence.admit(100, 9)  # seen again: the same verdicts


def test_heartbeats_below_the_highest_term_are_fenced() -> None:
    fence = Fence()
    assert fence.admit_live(5) and fence.admit_live(9)
    assert not fence.admit_live(5)
    assert fence.admit(1, 3), "events are judged by the stream, not by heartbeats"


def test_steps_are_bounded() -> None:
    fence = Fence(max_steps=8)
    for seq in range(1, 100):
        assert fence.admit(seq, seq)
    assert not fence.admit(100, 98)
