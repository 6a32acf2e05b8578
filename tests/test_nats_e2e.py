"""The real orchestrator process on NATS JetStream (issue #15): the stand-in bridge of
tests/natsbridge.py publishes a capture's real-shaped events per the contract, and the
orchestrator applies each once and serves them; then the same with the real Node bridge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.harness import make_capture, nats_env, stack, wait_for
from tests.natsbridge import StandInBridge, threaded_bridge
from tests.natsserver import NatsServer, names, nats_server

EXTRA_EVENTS = 2  # bridge.started before a replayed capture, bridge.replay_finished after it


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with nats_server(tmp_path / "nats") as running:
        yield running


def test_stand_in_bridge_events_are_applied_once_and_served(
    server: NatsServer, tmp_path: Path
) -> None:
    events = 5000
    capture = make_capture(tmp_path / "capture.jsonl", events)
    lines = [orjson.loads(line) for line in capture.read_bytes().splitlines()]
    n = names()
    env = nats_env(server.url, n.stream, n.prefix)
    with (
        stack(tmp_path, orchestrator_env=env) as s,
        threaded_bridge(StandInBridge(server.url, n)) as bridge,
    ):

        async def publish(b: StandInBridge) -> None:
            for line in lines:  # in order, each acknowledged before the next, as the bridge
                await b.publish(line["event"], line["data"])

        bridge.run(publish, timeout=300)
        report = s.orchestrator.wait_applied(bridge.bridge.epoch, events, timeout=120)
        positions = s.orchestrator.applied_positions()
        assert positions == [(bridge.bridge.epoch, seq) for seq in range(1, events + 1)]
        assert report["transport"]["kind"] == "nats" and report["transport"]["connected"]
        assert report["transport"]["lastStreamSeq"] == events
        assert report["transport"]["fenced"] == 0

        upserted = {
            m["key"]["id"]
            for line in lines
            if line["event"] == "messages.upsert"
            for m in line["data"]["messages"]
        }
        chats = s.orchestrator.http.get("/chats", params={"limit": 500}).json()["chats"]
        assert chats, "the chats of the capture"
        served = set()
        for chat in chats:
            page = s.orchestrator.http.get(f"/chats/{chat['id']}/messages", params={"limit": 500})
            served |= {m["id"] for m in page.raise_for_status().json()["messages"]}
        assert served and served <= upserted


def test_real_bridge_replaying_a_capture_over_nats(server: NatsServer, tmp_path: Path) -> None:
    """Needs the bridge's NATS publisher (branch bridge-nats): the real Node bridge replays a
    capture to JetStream per the contract, and the orchestrator applies all of it once."""
    events = 2000
    n = names()
    with stack(
        tmp_path,
        capture=make_capture(tmp_path / "capture.jsonl", events),
        wait=False,  # the bridge's ZeroMQ ROUTER is not there to ask: NATS replaces it
        bridge_first=False,
        bridge_env=nats_env(server.url, n.stream, n.prefix, side="BRIDGE"),
        orchestrator_env=nats_env(server.url, n.stream, n.prefix),
    ) as s:
        last = events + EXTRA_EVENTS

        def applied() -> dict[str, Any] | None:
            report: dict[str, Any] = s.orchestrator.bridge_report()
            return report if (report["applied"] or {}).get("seq") == last else None

        try:
            report = wait_for("the whole capture applied", applied, timeout=120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- bridge log:\n{s.bridge.log_tail()}") from None
        epoch = report["applied"]["epoch"]
        assert s.orchestrator.applied_positions() == [(epoch, q) for q in range(1, last + 1)]
        assert report["transport"]["kind"] == "nats"
        assert report["transport"]["lastStreamSeq"] == last
