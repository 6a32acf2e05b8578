"""Issue 16's automatic rules, the pure parts: business hours in a time zone (daylight saving
included), which rules a customer message calls for, and the round-robin rotation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator import shapes as s
from orchestrator.desksettings import defaults
from orchestrator.hours import is_open
from orchestrator.rules import due, next_agent

NINE_TO_SIX: list[s.Interval] = [{"start": "09:00", "end": "18:00"}]


def hours(timezone: str, **days: list[s.Interval]) -> s.BusinessHours:
    week: s.Week = {"mon": [], "tue": [], "wed": [], "thu": [], "fri": [], "sat": [], "sun": []}
    week.update(days)  # type: ignore[typeddict-item]
    return {"enabled": True, "timezone": timezone, "week": week}


def at(text: str) -> float:
    """An instant written in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_hours_not_enabled_are_always_open() -> None:
    closed = hours("UTC") | {"enabled": False}
    assert is_open(closed, at("2026-12-06 03:00"))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-12-07 11:59", False),  # Monday 08:59 in São Paulo (UTC-3, no DST since 2019)
        ("2026-12-07 12:00", True),  # 09:00: the start is inside
        ("2026-12-07 20:59", True),  # 17:59
        ("2026-12-07 21:00", False),  # 18:00: the end is outside
        ("2026-12-06 15:00", False),  # Sunday noon: closed all day
        ("2026-12-08 02:30", False),  # Monday 23:30 local is still Monday, not Tuesday
    ],
)
def test_hours_are_wall_clock_times_of_the_zone(instant: str, expected: bool) -> None:
    assert is_open(hours("America/Sao_Paulo", mon=NINE_TO_SIX), at(instant)) is expected


def test_the_same_utc_time_is_inside_or_outside_as_daylight_saving_moves_the_clock() -> None:
    """New York goes from UTC-5 to UTC-4 on Sunday 2026-03-08: 13:30 UTC is 08:30 local on the
    Friday before (closed) and 09:30 on the Monday after (open)."""
    new_york = hours("America/New_York", mon=NINE_TO_SIX, fri=NINE_TO_SIX)
    assert not is_open(new_york, at("2026-03-06 13:30"))
    assert is_open(new_york, at("2026-03-09 13:30"))
    # And back on Sunday 2026-11-01: 13:30 UTC is 09:30 local on Friday, 08:30 on Monday.
    assert is_open(new_york, at("2026-10-30 13:30"))
    assert not is_open(new_york, at("2026-11-02 13:30"))


def test_the_skipped_and_the_repeated_hours_of_a_dst_change() -> None:
    """Berlin, 2026-03-29: 02:00 local jumps to 03:00, so a 02:00-03:00 interval never happens;
    2026-10-25: 02:00-03:00 local happens twice, and both are inside."""
    night: list[s.Interval] = [{"start": "02:00", "end": "03:00"}]
    berlin = hours("Europe/Berlin", sun=night)
    assert not is_open(berlin, at("2026-03-29 00:59"))  # 01:59 CET
    assert not is_open(berlin, at("2026-03-29 01:00"))  # 03:00 CEST: the hour is gone
    assert is_open(berlin, at("2026-10-25 00:30"))  # 02:30 CEST
    assert is_open(berlin, at("2026-10-25 01:30"))  # 02:30 CET, the same wall clock again
    assert not is_open(berlin, at("2026-10-25 02:00"))  # 03:00 CET


def test_an_interval_to_24_00_runs_to_midnight_and_several_intervals_make_a_day() -> None:
    split: list[s.Interval] = [
        {"start": "08:00", "end": "12:00"},
        {"start": "13:00", "end": "24:00"},
    ]
    utc = hours("UTC", tue=split)
    assert [is_open(utc, at(f"2026-12-08 {t}")) for t in ("07:59", "11:59", "12:30", "23:59")] == [
        False, True, False, True,
    ]  # fmt: skip
    assert not is_open(utc, at("2026-12-09 00:00"))  # Wednesday


def settings(**changes: object) -> s.HelpdeskSettings:
    document = defaults()
    document.update(changes)  # type: ignore[typeddict-item]
    return document


GREET = {"enabled": True, "text": "Hi"}
AWAY = {"enabled": True, "text": "Closed"}


def test_nothing_is_due_with_the_defaults() -> None:
    for first in (True, False):
        assert due(settings(), first=first, open_now=False, assigned=False) == []


def test_the_greeting_is_for_the_first_message_and_the_away_message_for_closed_hours() -> None:
    both = settings(greeting=GREET, awayMessage=AWAY)
    assert due(both, first=True, open_now=True, assigned=False) == ["greeting"]
    assert due(both, first=True, open_now=False, assigned=False) == ["greeting", "away"]
    assert due(both, first=False, open_now=False, assigned=False) == ["away"]
    assert due(both, first=False, open_now=True, assigned=False) == []


def test_round_robin_is_for_unassigned_chats_only() -> None:
    rotating = settings(assignment={"rule": "round_robin"})
    assert due(rotating, first=False, open_now=True, assigned=False) == ["round_robin"]
    assert due(rotating, first=False, open_now=True, assigned=True) == []


def test_the_rotation_goes_by_id_after_the_last_and_wraps_around() -> None:
    assert next_agent([], None) is None
    assert next_agent(["b", "a"], None) == "a"
    assert next_agent(["b", "a"], "a") == "b"
    assert next_agent(["b", "a"], "b") == "a"  # around
    assert next_agent(["a", "c"], "b") == "c"  # "b" went offline: the next one after it
    assert next_agent(["a", "a"], "a") == "a"  # alone: always them
