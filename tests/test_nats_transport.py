"""The JetStream transport (issue #15) under the real follower, over a real nats-server of the
test's own, with a stand-in bridge (tests/natsbridge.py) speaking the contract.

The invariant, as for ZeroMQ (test_spine.py): every event the bridge published is applied once,
in order; what cannot be (a position no longer retained, an event of a fenced holder) is said.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from pydantic import ValidationError

from orchestrator.applied_log import AppliedLog
from orchestrator.commands import Bridge
from orchestrator.config import Settings
from orchestrator.errors import CommandError, CommandTimeout
from orchestrator.follower import BridgeFollower, Consumer
from orchestrator.runtime import Runtime
from orchestrator.session import SessionSpec
from orchestrator.transport.nats import NatsConfig, NatsHub, NatsLink
from orchestrator.wire import Envelope, Position, parse_envelope
from tests.natsbridge import CommandFailed, StandInBridge
from tests.natsserver import Names, NatsServer, names, nats_server
from tests.test_eventlog import Clock

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with nats_server(tmp_path) as running:
        yield running


def config(url: str, n: Names, command_timeout: float = 5.0) -> NatsConfig:
    return NatsConfig(url, n.stream, n.prefix, 604_800, 1 << 30, 1, "test", command_timeout)


@dataclass
class Recorder:
    """A follower consumer that keeps what it was given."""

    applied: list[Envelope] = field(default_factory=list)
    lost: list[tuple[Position | None, dict[str, Any] | None]] = field(default_factory=list)

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> None:
        self.applied.extend(batch)

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        self.lost.append((last_applied, oldest))

    def seqs(self, epoch: str) -> list[int]:
        return [e.seq for e in self.applied if e.epoch == epoch]


@dataclass
class Following:
    hub: NatsHub
    link: NatsLink
    follower: BridgeFollower
    recorder: Recorder

    async def applied(self, count: int, timeout: float = 60.0) -> list[Envelope]:
        await until(f"{count} events applied", lambda: len(self.recorder.applied) >= count, timeout)
        return self.recorder.applied


async def until(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class HeldConsumer:
    """A consumer whose apply lasts until `release()`, as a history sync applied in slices or a
    window fill reading the store may."""

    def __init__(self) -> None:
        self.holding = False
        self._released = asyncio.Event()

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> Awaitable[None]:
        self.holding = True
        return self._released.wait()

    def release(self) -> None:
        self._released.set()

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        pass


@contextlib.asynccontextmanager
async def following(
    url: str,
    n: Names,
    tmp: Path,
    position: Position | None = None,
    session: str = "default",
    *,
    also: Sequence[Consumer] = (),
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[Following]:
    """The follower of the orchestrator, on a link of its own hub, from `position`; its
    consumers are a Recorder, then `also`."""
    hub = NatsHub(config(url, n))
    hub.start()
    link = hub.link(session)
    recorder = Recorder()
    follower = BridgeFollower(
        link.events,
        Bridge(link.commands),
        AppliedLog(tmp / f"applied-{id(link)}.log"),
        [recorder, *also],
        heartbeat_timeout=3.0,
        replay_page=500,
        clock=clock,
        session=session,
    )
    follower.position = position
    task = asyncio.create_task(follower.run())
    try:
        yield Following(hub, link, follower, recorder)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        link.close()
        follower.close()
        await hub.close()


@contextlib.asynccontextmanager
async def stand_in(url: str, n: Names, **options: Any) -> AsyncIterator[StandInBridge]:
    heartbeat_every = options.pop("heartbeat_every", 0.2)
    bridge = await StandInBridge(url, n, **options).start(heartbeat_every=heartbeat_every)
    try:
        yield bridge
    finally:
        await bridge.close()


def assert_once_in_order(applied: list[Envelope], epoch: str, first: int, last: int) -> None:
    seqs = [e.seq for e in applied if e.epoch == epoch]
    assert seqs == list(range(first, last + 1)), f"{len(seqs)} applied, expected {first}..{last}"


# ---- live, catch-up ------------------------------------------------------------------------


async def test_live_events_are_applied_once_in_order_with_their_stream_sequence(
    server: NatsServer, tmp_path: Path
) -> None:
    n = names()
    async with stand_in(server.url, n) as bridge, following(server.url, n, tmp_path) as f:
        await until("the follower's first catch-up", f.follower.ready.is_set)
        streams = await bridge.publish_many(1000)
        applied = await f.applied(1000)
        assert_once_in_order(applied, bridge.epoch, 1, 1000)
        assert [e.stream for e in applied] == streams
        assert f.follower.position == Position(bridge.epoch, 1000)
        assert f.follower.position is not None and f.follower.position.stream == streams[-1]
        report = f.link.report()
        assert report["kind"] == "nats" and report["connected"] and report["stream"] == n.stream
        assert report["lastStreamSeq"] == streams[-1] and report["fenced"] == 0


async def test_time_spent_applying_is_not_the_bridges_silence(
    server: NatsServer, tmp_path: Path
) -> None:
    """A batch that takes a minute to apply does not make a live bridge look dead (the watchdog
    would declare it so, and a supervisor restart it): the silence clock stands still while
    the follower is not listening, and starts again where it stood."""
    n = names()
    clock, held = Clock(), HeldConsumer()
    async with (
        stand_in(server.url, n) as bridge,
        following(server.url, n, tmp_path, also=[held], clock=clock) as f,
    ):
        await until("the follower's first catch-up", f.follower.ready.is_set)
        await bridge.publish("test.event", {"n": 1})
        await until("the event being applied", lambda: held.holding)
        heard_before = f.follower.silence
        assert heard_before is not None
        clock.now += 60.0
        assert f.follower.silence == heard_before
        assert f.follower.alive
        held.release()
        await until("the event applied", lambda: f.follower.applied is not None)
        silence = f.follower.silence
        assert silence is not None and silence < 1.0, silence
        clock.now += 5.0  # listening now: the bridge's silence counts again
        assert f.follower.silence == pytest.approx(silence + 5.0)


@pytest.mark.parametrize("with_stream", [True, False], ids=["with-stream", "without-stream"])
async def test_catch_up_from_a_stored_position(
    server: NatsServer, tmp_path: Path, with_stream: bool
) -> None:
    n = names()
    async with stand_in(server.url, n) as bridge:
        streams = await bridge.publish_many(1200)
        stored = Position(bridge.epoch, 200, streams[199] if with_stream else None)
        async with following(server.url, n, tmp_path, stored) as f:
            applied = await f.applied(1000)
            await until("caught up", f.follower.ready.is_set)
            assert_once_in_order(applied, bridge.epoch, 201, 1200)
            assert all(e.stream == streams[e.seq - 1] for e in applied)
            # Only a position without its stream sequence needs the headers scanned.
            assert f.link.stats.scans == (0 if with_stream else 1)
            assert f.recorder.lost == []


async def test_a_position_no_longer_retained_is_gone_with_the_oldest_named(
    server: NatsServer, tmp_path: Path
) -> None:
    n = names()
    async with stand_in(server.url, n) as bridge:
        streams = await bridge.publish_many(300)
        async with await nats.connect(server.url) as client:
            await client.jetstream().purge_stream(n.stream, keep=100)  # 1..200 expire
        oldest = {"epoch": bridge.epoch, "seq": 201}
        hub = NatsHub(config(server.url, n))
        hub.start()
        link = hub.link("default")
        try:
            for after in (
                {"epoch": bridge.epoch, "seq": 50},
                {"epoch": bridge.epoch, "seq": 50, "stream": streams[49]},
                {"epoch": "another", "seq": 3},
            ):
                with pytest.raises(CommandError) as gone:
                    await link.commands.call("replay", {**after, "limit": 10})
                assert gone.value.code == "position_gone"
                assert gone.value.extra["oldest"] == oldest
            # The event right after a position is retained: nothing is lost, it is not gone.
            page = await link.commands.call("replay", {"epoch": bridge.epoch, "seq": 200})
            assert [parse_envelope(e).seq for e in page["events"]] == list(range(201, 301))
        finally:
            link.close()
            await hub.close()
        async with following(server.url, n, tmp_path, Position(bridge.epoch, 50)) as f:
            applied = await f.applied(100)
            assert f.recorder.lost == [(Position(bridge.epoch, 50), oldest)]
            assert_once_in_order(applied, bridge.epoch, 201, 300)


async def test_replay_pages_stop_before_until(server: NatsServer, tmp_path: Path) -> None:
    n = names()
    async with stand_in(server.url, n) as bridge:
        streams = await bridge.publish_many(50)
        hub = NatsHub(config(server.url, n))
        hub.start()
        link = hub.link("default")
        try:
            until_20 = {"epoch": bridge.epoch, "seq": 20}
            for until in (until_20, {**until_20, "stream": streams[19]}):
                page = await link.commands.call(
                    "replay", {"epoch": bridge.epoch, "seq": 10, "limit": 100, "until": until}
                )
                assert [parse_envelope(e).seq for e in page["events"]] == list(range(11, 20))
                assert page["more"] is False
            page = await link.commands.call("replay", {"epoch": None, "seq": 0, "limit": 30})
            assert len(page["events"]) == 30 and page["more"] is True
            with pytest.raises(CommandError) as bad:
                await link.commands.call("replay", {"epoch": 7, "seq": 0})
            assert bad.value.code == "bad_params"
        finally:
            link.close()
            await hub.close()


async def test_a_second_epoch_is_followed_across_the_restart(
    server: NatsServer, tmp_path: Path
) -> None:
    n = names()
    async with stand_in(server.url, n) as bridge, following(server.url, n, tmp_path) as f:
        await until("the follower's first catch-up", f.follower.ready.is_set)
        first = bridge.epoch
        await bridge.publish_many(300)
        bridge.new_epoch()
        await bridge.publish_many(300)
        applied = await f.applied(600)
        assert_once_in_order(applied, first, 1, 300)
        assert_once_in_order(applied, bridge.epoch, 1, 300)
        assert [e.epoch for e in applied] == [first] * 300 + [bridge.epoch] * 300


# ---- fencing --------------------------------------------------------------------------------


async def test_events_of_a_fenced_holder_are_dropped_live_and_in_replay(
    server: NatsServer, tmp_path: Path
) -> None:
    n = names()
    async with (
        stand_in(server.url, n, term=5) as old,
        following(server.url, n, tmp_path) as live,
    ):
        await until("the follower's first catch-up", live.follower.ready.is_set)
        await old.publish_many(20)
        await live.applied(20)
        async with stand_in(server.url, n, term=9, answer_commands=False) as new:
            await new.publish_many(10)
            await live.applied(30)
            await old.publish("late.event", {"from": "the paused holder"})  # term 5: fenced
            await new.publish_many(10)
            applied = await live.applied(40)
            await until("the stale event counted", lambda: live.link.stats.fenced == 1)
            assert_once_in_order(applied, old.epoch, 1, 20)
            assert_once_in_order(applied, new.epoch, 1, 20)
            # A replica replaying everything from the start sees the same: the old holder's
            # events before the new one's term began are applied, the late one is not.
            async with following(server.url, n, tmp_path) as replay:
                replayed = await replay.applied(40)
                await until("caught up", replay.follower.ready.is_set)
                assert [(e.epoch, e.seq) for e in replayed] == [(e.epoch, e.seq) for e in applied]
                assert replay.link.report()["fenced"] == 1


# ---- commands -------------------------------------------------------------------------------


async def test_commands_are_answered_by_the_bridge_holding_the_session(
    server: NatsServer, tmp_path: Path
) -> None:
    n = names()

    async def handler(method: str, params: Any) -> Any:
        if method == "sendMessage":
            raise CommandFailed("not_connected", "WhatsApp is not connected")
        if method == "groupMetadata":
            await asyncio.sleep(2)
        return {"method": method, "params": params}

    hub = NatsHub(config(server.url, n, command_timeout=0.5))
    hub.start()
    link = hub.link("s1")
    try:
        async with stand_in(server.url, n, session="s1", handler=handler) as bridge:
            assert await link.commands.call("state") == {"method": "state", "params": {}}
            assert await link.commands.call_idempotent("onWhatsApp", ["1"]) == {
                "method": "onWhatsApp",
                "params": ["1"],
            }
            with pytest.raises(CommandError) as refused:
                await link.commands.call("sendMessage", ["x@s.whatsapp.net", {"text": "hi"}])
            assert (refused.value.code, refused.value.message) == (
                "not_connected",
                "WhatsApp is not connected",
            )
            with pytest.raises(CommandTimeout):
                await link.commands.call("groupMetadata", ["g@g.us"])
            # No bridge holds the session: as a ZeroMQ bridge that is away, a timeout...
            await bridge.stop_listening()
            started = time.monotonic()
            with pytest.raises(CommandTimeout):
                await link.commands.call("state", timeout=0.6)
            assert time.monotonic() - started >= 0.55
            # ... unless one takes the session over within it.
            asked = asyncio.create_task(link.commands.call("state", timeout=10))
            await asyncio.sleep(0.5)
            await bridge.listen()
            assert (await asked)["method"] == "state"
    finally:
        link.close()
        await hub.close()


# ---- NATS away ------------------------------------------------------------------------------


async def test_nats_down_at_start_then_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    n = names()
    server = NatsServer(tmp_path / "jetstream")  # a port of its own, not started yet
    caplog.set_level(logging.DEBUG, logger="orchestrator.transport.nats")
    try:
        async with following(server.url, n, tmp_path) as f:
            with pytest.raises(CommandTimeout):
                await f.link.commands.call("state", timeout=0.5)
            assert not f.link.report()["connected"]
            await asyncio.sleep(3)
            attempts = [r for r in caplog.records if "cannot reach NATS" in r.getMessage()]
            said = [r for r in attempts if r.levelno == logging.ERROR]
            assert len(said) == 1 and server.url in said[0].getMessage()
            assert 2 <= len(attempts) <= 8, "retries back off, no tight loop"
            await asyncio.to_thread(server.start)
            async with stand_in(server.url, n) as bridge:
                await bridge.publish_many(200)
                applied = await f.applied(200, timeout=60)
                assert_once_in_order(applied, bridge.epoch, 1, 200)
                assert f.link.report()["connected"]
    finally:
        server.stop()


async def test_nats_restart_mid_traffic_loses_and_repeats_nothing(
    server: NatsServer, tmp_path: Path
) -> None:
    n = names()
    total = 3000
    async with stand_in(server.url, n) as bridge, following(server.url, n, tmp_path) as f:
        await until("the follower's first catch-up", f.follower.ready.is_set)

        async def traffic() -> None:
            for i in range(total):  # one at a time, each acknowledged: the bridge's order
                await bridge.publish("test.event", {"i": i})
                if i % 50 == 0:
                    await asyncio.sleep(0.02)

        publishing = asyncio.create_task(traffic())
        await until("traffic under way", lambda: len(f.recorder.applied) >= 300)
        await asyncio.to_thread(server.restart)
        await publishing
        applied = await f.applied(total, timeout=90)
        await asyncio.sleep(0.5)  # anything applied twice would show up by now
        assert_once_in_order(f.recorder.applied, bridge.epoch, 1, total)
        assert len(applied) == total


# ---- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["wa.x", "wa x", "", "wa*"])
def test_a_prefix_or_stream_that_cannot_be_in_a_subject_is_refused(name: str) -> None:
    for setting in ("nats_prefix", "nats_stream", "replica_id"):
        with pytest.raises(ValidationError):
            Settings(**{setting: name})  # type: ignore[arg-type]


def test_the_contract_defaults() -> None:
    settings = Settings()
    assert (settings.nats_url, settings.nats_stream, settings.nats_prefix) == (
        None,
        "WA_EVENTS",
        "wa",
    )
    assert (settings.nats_max_age_s, settings.nats_max_bytes, settings.nats_replicas) == (
        604_800,
        1_073_741_824,
        1,
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]+", settings.replica_id)


# ---- a big catch-up -------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_100k_catch_up_is_fast(server: NatsServer, tmp_path: Path) -> None:
    """Measures (prints) a 100k-event catch-up from the start, and locating a position stored
    without its stream sequence near the end (the headers scan)."""
    n, total = names(), 100_000
    async with stand_in(server.url, n) as bridge:
        await bridge.publish_many(total)
        started = time.monotonic()
        async with following(server.url, n, tmp_path) as f:
            f.follower._replay_page = 2000  # the orchestrator's default page
            await f.applied(total, timeout=300)
            caught_up = time.monotonic() - started
            assert_once_in_order(f.recorder.applied, bridge.epoch, 1, total)
        started = time.monotonic()
        async with following(server.url, n, tmp_path, Position(bridge.epoch, total - 10)) as f:
            await f.applied(10, timeout=120)
            located = time.monotonic() - started
            scan_ms = f.link.stats.scan_ms
    print(
        f"\n100k catch-up: {caught_up:.1f}s; locating a position without stream seq: "
        f"{located:.2f}s (headers scan {scan_ms:.0f} ms)"
    )


def test_a_spawned_bridge_is_put_on_the_same_stream_and_its_session(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        spawn_bridge=True,
        nats_url="nats://127.0.0.1:4222",
        nats_stream="S1",
        nats_prefix="p1",
    )
    runtime = Runtime(settings, "token-0123456789abcdef")
    other = runtime.sessions.build(SessionSpec("s2", "s2"))
    for session, name in ((runtime.default, "default"), (other, "s2")):
        assert isinstance(session.link, NatsLink)
        assert session.supervisor is not None
        env = session.supervisor.env
        assert env["BRIDGE_NATS_URL"] == "nats://127.0.0.1:4222"
        assert (env["BRIDGE_NATS_STREAM"], env["BRIDGE_NATS_PREFIX"]) == ("S1", "p1")
        assert env["BRIDGE_SESSION"] == name
        assert session.link.report()["kind"] == "nats"
