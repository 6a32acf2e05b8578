"""Issue 14: the orchestrator restarts (SIGTERM, and kill -9) with three sessions, each its own
number and bridge. All three come back from the stored registry; each follows its own bridge
from its own stored position (its applied log holds every event of its bridge exactly once);
every message a simulator sent is in its chat exactly once, those sent while the orchestrator
was down included; and a stream client resuming with its composite position ("the last id I
saw of each session") gets exactly the envelopes it missed."""

from __future__ import annotations

import time
from collections.abc import Iterator
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


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill-9"])
def test_a_restart_restores_every_session_and_resumes_each_exactly(
    d: Deployment, kill: bool
) -> None:
    phone = "5511950000002" if kill else "5511950000001"
    chat = jid(phone)
    for number in d.numbers.values():
        number.simulator.post("/contacts", {"phone": phone, "name": "Restart"})
    sent: dict[str, list[str]] = {s: [] for s in SESSIONS}

    def write(step: str) -> None:
        for n in range(PER_STEP):
            for session in SESSIONS:
                sent[session].append(d.send(session, phone, f"{step} {n}"))

    # Before: a client reads everything up to here, and keeps its composite position.
    since = d.orchestrator.last_event_id()
    write("antes")
    client = SseReader(d.orchestrator.base_url, last_id=since)
    client.run(lambda e: sum(map(len, new_messages(e, chat).values())) == len(SESSIONS) * PER_STEP)
    seen_before = {e["id"] for e in client.envelopes}
    resume_at = {e["session"]: e["id"] for e in client.envelopes}
    assert set(resume_at) == set(SESSIONS)
    composite = ",".join(resume_at.values())

    started = time.monotonic()
    d.stop_orchestrator(kill=kill)
    write("durante")  # the numbers go on receiving: their bridges journal it all
    restarted = d.start_orchestrator()
    listed = {s["id"] for s in restarted.http.get("/sessions").json()["sessions"]}
    assert listed == set(SESSIONS)
    for session in SESSIONS:
        caught_up(d, session)
    restored = time.monotonic() - started
    write("depois")

    replayed = {}
    for session in SESSIONS:
        # The total queue: every message the simulator sent, in this chat, once, in order.
        ids = d.has_messages(session, chat, sent[session])
        assert ids == sent[session], session
        report = caught_up(d, session)
        replayed[session] = report["replayed"]
        epoch = report["applied"]["epoch"]
        assert applied_seqs(d, session, epoch) == list(range(1, report["applied"]["seq"] + 1))

    resumed = SseReader(restarted.base_url, last_id=composite)
    missing = {s: sent[s][PER_STEP:] for s in SESSIONS}
    try:
        resumed.run(lambda e: all(set(missing[s]) <= set(new_messages(e, chat).get(s, []))
                                  for s in SESSIONS), timeout=20)  # fmt: skip
    except AssertionError as exc:
        got = [(e["id"], e["type"], e["session"]) for e in resumed.envelopes]
        raise AssertionError(f"{exc}: resumed at {composite} and got {got}") from None
    assert new_messages(resumed.envelopes, chat) == missing
    assert all(e["type"] != "resync" for e in resumed.envelopes)
    assert not seen_before & {e["id"] for e in resumed.envelopes}, "an envelope came twice"
    for e in resumed.envelopes:
        assert after(e["id"], resume_at[e["session"]]), (e["id"], resume_at[e["session"]])
    # Each number stayed linked and open through the restart: /status says so again.
    for session in SESSIONS:
        status = d.state_is(session, "open", timeout=10)
        assert status["me"]["id"].startswith(d.numbers[session].simulator.phone)
    print(
        f"\n{'kill -9' if kill else 'SIGTERM'}: 3 sessions restored and caught up in"
        f" {restored:.1f} s;"
        f" replayed from each bridge {replayed}; resumed client got {len(resumed.envelopes)}"
        f" envelopes ({sum(map(len, missing.values()))} messages) it had missed"
    )
