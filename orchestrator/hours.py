"""Business hours: whether an instant falls inside a session's opening hours. Pure.

Hours are wall-clock times in the settings' time zone, so they follow its daylight-saving
changes: 09:00 is 09:00 local in winter and in summer. On the day the clocks go forward, the
skipped hour never happens; on the day they go back, the repeated hour is inside (or outside)
both times, as a wall clock reads it.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

from orchestrator import shapes as s


def is_open(hours: s.BusinessHours, at: float) -> bool:
    """Whether `at` (unix seconds) is within the hours. Hours not enabled: always open."""
    if not hours["enabled"]:
        return True
    local = datetime.fromtimestamp(at, UTC).astimezone(zoneinfo.ZoneInfo(hours["timezone"]))
    now = f"{local.hour:02d}:{local.minute:02d}"  # HH:MM strings order as the times do
    day = s.DAYS[local.weekday()]
    return any(i["start"] <= now < i["end"] for i in hours["week"][day])
