"""Issue 14: the orchestrator restarts (SIGTERM, and kill -9) with three sessions, each its own
number and bridge. All three come back from the stored registry; each follows its own bridge
from its own stored position (its applied log holds every event of its bridge exactly once);
every message a simulator sent is in its chat exactly once, those sent while the orchestrator
was down included; and a stream client resuming with its composite position ("the last id I
saw of each session") gets exactly the envelopes it missed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients import SseReader
from tests.harness import wait_for
from tests.multisession import Deployment, deployment, jid

SESSIONS = ("default", "sales", "support")
PER_STEP = 4  # messages per session before the restart, while it is down, and after it


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("three"), SESSIONS) as it:
        yield it


def applied_log(d: Deployment, session: str) -> Path:
    data = d.stack.data
    return data / "applied.log" if session == "default" else data / "sessions" / session / (
        "applied.log"
    )  # fmt: skip


def applied_seqs(d: Deployment, session: str, epoch: str) -> list[int]:
    seqs = []
    for line in applied_log(d, session).read_text().splitlines():
        line_epoch, seq, _event = line.split(" ", 2)
        if line_epoch == epoch:
            seqs.append(int(seq))
    return seqs


def caught_up(d: Deployment, session: str) -> dict[str, Any]:
    """The session's bridge report once it has applied all its bridge journaled."""
    bridge = d.bridge(session).state()
    position = {"epoch": bridge["epoch"], "seq": bridge["seq"]}
    return wait_for(
        f"{session} to apply {position}",
        lambda: (r := d.get(session, "/admin/bridge"))["applied"] == position and r,
    )


def after(event_id: str, position: str) -> bool:
    """Whether `event_id` comes after `position` in the same session (same bridge epoch)."""
    epoch, seq, _ = event_id.split(":")
    position_epoch, position_seq, _ = position.split(":")
    return epoch == position_epoch and int(seq) >= int(position_seq) and event_id != position


def new_messages(envelopes: list[dict[str, Any]], chat_id: str) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for e in envelopes:
        if e["type"] == "new_message" and e["data"]["chatId"] == chat_id:
            ids.setdefault(e["session"], []).append(e["data"]["id"])
    return ids


@dataclass
class Restarted:
    """What a restart scenario left for the tests to check."""

    kill: bool
    chat: str  # the chat of this scenario's contact, in every session
    sent: dict[str, list[str]]  # per session: before, while down, after
    seen_before: set[str]  # envelope ids the client read before the restart
    resume_at: dict[str, str]  # the last id it read of each session
    restored: float  # seconds from the stop to every session caught up again


@pytest.fixture(scope="module", params=[False, True], ids=["sigterm", "kill-9"])
def restarted(d: Deployment, request: pytest.FixtureRequest) -> Restarted:
    """A client reads up to a point; the orchestrator stops (SIGTERM or kill -9); the numbers
    receive while it is down; a new one starts on the same data and port; more arrive."""
    kill: bool = request.param
    phone = "5511950000002" if kill else "5511950000001"
    for number in d.numbers.values():
        number.simulator.post("/contacts", {"phone": phone, "name": "Restart"})
    chat = jid(phone)
    sent: dict[str, list[str]] = {s: [] for s in SESSIONS}

    def write(step: str) -> None:
        for n in range(PER_STEP):
            for session in SESSIONS:
                sent[session].append(d.send(session, phone, f"{step} {n}"))

    since = d.orchestrator.last_event_id()
    write("antes")
    client = SseReader(d.orchestrator.base_url, last_id=since)
    client.run(lambda e: sum(map(len, new_messages(e, chat).values())) == len(SESSIONS) * PER_STEP)
    resume_at = {e["session"]: e["id"] for e in client.envelopes}
    assert set(resume_at) == set(SESSIONS)

    started = time.monotonic()
    d.stop_orchestrator(kill=kill)
    write("durante")  # the numbers go on receiving: their bridges journal it all
    d.start_orchestrator()
    for session in SESSIONS:
        caught_up(d, session)
    restored = time.monotonic() - started
    write("depois")
    return Restarted(kill, chat, sent, {e["id"] for e in client.envelopes}, resume_at, restored)


def test_every_session_is_restored_from_its_own_position_with_its_whole_queue(
    d: Deployment, restarted: Restarted
) -> None:
    listed = {s["id"] for s in d.http.get("/sessions").json()["sessions"]}
    assert listed == set(SESSIONS)
    replayed = {}
    for session in SESSIONS:
        # The total queue: every message the simulator sent, in this chat, once, in order.
        sent = restarted.sent[session]
        assert d.has_messages(session, restarted.chat, sent) == sent, session
        # Its own bridge's events, each applied once: it went on from its own position.
        report = caught_up(d, session)
        replayed[session] = report["replayed"]
        epoch, last = report["applied"]["epoch"], report["applied"]["seq"]
        assert applied_seqs(d, session, epoch) == list(range(1, last + 1)), session
    how = "kill -9" if restarted.kill else "SIGTERM"
    print(f"\n{how}: 3 sessions restored and caught up in {restarted.restored:.1f} s;"
          f" events replayed from each bridge since the restart: {replayed}")  # fmt: skip


def test_a_client_resumes_each_session_exactly_with_its_composite_position(
    d: Deployment, restarted: Restarted
) -> None:
    composite = ",".join(restarted.resume_at.values())
    missing = {s: ids[PER_STEP:] for s, ids in restarted.sent.items()}
    resumed = SseReader(d.orchestrator.base_url, last_id=composite)
    try:
        resumed.run(lambda e: all(set(missing[s]) <= set(new_messages(e, restarted.chat)
                                                         .get(s, [])) for s in SESSIONS),
                    timeout=20)  # fmt: skip
    except AssertionError as exc:
        got = [(e["id"], e["type"], e["session"]) for e in resumed.envelopes]
        raise AssertionError(f"{exc}: resumed at {composite} and got {got}") from None
    assert new_messages(resumed.envelopes, restarted.chat) == missing
    assert all(e["type"] != "resync" for e in resumed.envelopes)
    assert not restarted.seen_before & {e["id"] for e in resumed.envelopes}, "one came twice"
    for e in resumed.envelopes:
        position = restarted.resume_at[e["session"]]
        assert after(e["id"], position), (e["id"], position)
    print(f"\nresumed at {composite}: {len(resumed.envelopes)} envelopes,"
          f" {sum(map(len, missing.values()))} of them the messages it missed")  # fmt: skip


def test_each_number_shows_open_again_after_the_restart(
    d: Deployment, restarted: Restarted
) -> None:
    # The numbers stayed linked and connected through the restart (their bridges ran on).
    for session in SESSIONS:
        status = d.state_is(session, "open", timeout=10)
        assert status["me"]["id"].startswith(d.numbers[session].simulator.phone)
