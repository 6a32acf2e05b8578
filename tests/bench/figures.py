"""What every benchmark reports (a Figure: a value beside a baseline measured in the same run)
and how big a run is (a Scale: quick, within `make test`, or full)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    pipeline_events: int
    history_messages: int
    history_chats: int
    fanout_clients: int
    fanout_seconds: int
    fanout_rate: int
    rest_chats: int
    rest_seconds: int
    recovery_messages: int
    e2e_messages: int
    # Several WhatsApp numbers (sessions) in one orchestrator:
    idle_sessions: int  # connected numbers whose memory is measured
    idle_seconds: int  # how long their memory is sampled, once all are connected
    restore_sessions: int  # sessions in the store at start (the default one among them)
    restore_messages: int  # per session
    restore_chats: int  # per session
    restore_rounds: int  # each start is timed this often (alternating), the fastest kept
    fanout_sessions: int  # the fan-out's event rate spread over this many sessions' bridges
    webhook_events: int  # replayed at once to the webhooks (and to stream clients)
    webhook_seconds: int  # the webhooks' latency window (its first 2 s are the warm-up)
    webhook_fanout: int  # endpoints for the webhooks' fan-out figure (0: none)


QUICK = Scale(20_000, 20_000, 1_000, 100, 8, 200, 2_000, 3, 40_000, 100,
              4, 3, 20, 2_000, 100, 1, 10, 200, 6, 0)  # fmt: skip
FULL = Scale(100_000, 100_000, 5_000, 1000, 30, 200, 10_000, 10, 200_000, 500,
             10, 10, 20, 20_000, 500, 3, 10, 5_000, 20, 4)  # fmt: skip


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    target: str
    met: bool | None
    notes: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
