"""Issue 13, presence and typing, end to end through the real protocol: the orchestrator runs the
bridge itself (as `make run` does), the unmodified Baileys in it talks to the simulator.

- POST /chats/{chatId}/presence `composing` reaches the contact as a `<chatstate>`, after a
  presence subscribe, once per WhatsApp connection (again after a reconnect).
- A contact typing (the simulator's `<chatstate>`) reaches every stream as `presence`.
- ORCH_MARK_ONLINE_ON_CONNECT reaches the spawned bridge: on, the device announces itself
  `available` when it connects; off (the default), `unavailable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import PollReader, SseReader, WebSocketReader
from tests.harness import Stack, stack, wait_for
from tests.wasim import WaSim

ANA = "5511911110001"
ANA_JID = f"{ANA}@s.whatsapp.net"


class Linked:
    def __init__(self, s: Stack, sim: WaSim) -> None:
        self.stack, self.sim, self.orchestrator = s, sim, s.orchestrator
        qr = wait_for("a QR", lambda: self.orchestrator.http.get("/qr").json()["qr"], timeout=30)
        self.device = sim.scan(qr)["jid"]
        s.wait_open(timeout=40)
        sim.post("/contacts", {"phone": ANA, "name": "Ana"})

    def presences(self, **match: Any) -> list[dict[str, Any]]:
        """What the device announced (the simulator's record), those matching `match`."""
        records: list[dict[str, Any]] = self.sim.get("/presences")
        return [r for r in records if all(r.get(k) == v for k, v in match.items())]


@contextlib.contextmanager
def linked_stack(tmp: Path, **orchestrator_env: str) -> Iterator[Linked]:
    """A simulator whose account has a name (Baileys announces no presence without one), and
    an orchestrator that spawns the bridge against it, paired."""
    with stack(tmp, orchestrator=False, spawn_bridge=True) as s:
        sim = s.add(WaSim(tmp))
        sim.post("/account", {"name": "Helpdesk"})
        s.start_orchestrator(
            timeout=30, ORCH_RECONNECT_INITIAL="0.3", ORCH_RECONNECT_MAX="1",
            BRIDGE_LOG_LEVEL="warn", **sim.bridge_env(), **orchestrator_env,
        )  # fmt: skip
        yield Linked(s, sim)


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    tmp = tmp_path_factory.mktemp("presence")
    with linked_stack(tmp, ORCH_MARK_ONLINE_ON_CONNECT="true") as it:
        yield it


def test_mark_online_on_connect_reaches_the_spawned_bridge(linked: Linked) -> None:
    announced = wait_for(
        "the device to announce itself",
        lambda: linked.presences(kind="presence", state="available"),
        timeout=20,
    )
    assert {r["from"] for r in announced} == {linked.device}
    assert announced[0]["name"] == "Helpdesk"
    assert linked.presences(kind="presence", state="unavailable") == []


def test_off_by_default_the_device_announces_itself_unavailable(tmp_path: Path) -> None:
    with linked_stack(tmp_path) as other:
        announced = wait_for(
            "the device to announce itself",
            lambda: other.presences(kind="presence", state="unavailable"),
            timeout=20,
        )
        assert {r["from"] for r in announced} == {other.device}
        assert other.presences(kind="presence", state="available") == []


def test_composing_reaches_the_contact_after_a_presence_subscribe(linked: Linked) -> None:
    http = linked.orchestrator.http
    since = linked.orchestrator.last_event_id()
    first = http.post(f"/chats/{ANA}/presence", json={"state": "composing"})
    assert first.status_code == 202, first.text
    assert first.json() == {"chatId": ANA_JID, "state": "composing", "subscribed": True}
    paused = http.post(f"/chats/{ANA_JID}/presence", json={"state": "paused"})
    assert paused.json()["subscribed"] is False

    def recorded() -> list[tuple[str, str]] | None:
        records = [r for r in linked.presences(to=ANA_JID) if r["from"] == linked.device]
        seen = [(r["kind"], r["state"]) for r in records]
        return seen if len(seen) >= 3 else None

    assert wait_for("the chat states", recorded, timeout=20) == [
        ("subscribe", "subscribe"), ("chatstate", "composing"), ("chatstate", "paused"),
    ]  # fmt: skip

    # WhatsApp answers the subscribe with the contact's presence: it reaches the streams.
    def answered(envelopes: list[dict[str, Any]]) -> bool:
        return any(e["type"] == "presence" and e["data"]["chatId"] == ANA_JID for e in envelopes)

    reader = PollReader(linked.orchestrator.base_url, last_id=since)
    reader.run(answered, timeout=15)
    [presence] = [e["data"] for e in reader.envelopes if e["type"] == "presence"]
    assert presence["presences"][ANA_JID]["lastKnownPresence"] == "unavailable"


def test_a_reconnect_subscribes_again(linked: Linked) -> None:
    http = linked.orchestrator.http
    http.post(f"/chats/{ANA}/presence", json={"state": "composing"}).raise_for_status()
    subscribes = len(linked.presences(kind="subscribe", to=ANA_JID))
    assert subscribes >= 1
    logins = linked.sim.state()["logins"]
    linked.sim.disconnect(428)
    wait_for("the bridge to log in again", lambda: linked.sim.state()["logins"] > logins, 30)
    linked.stack.wait_open(timeout=30)

    # Until the orchestrator has seen the new connection, it still counts the chat subscribed.
    def subscribed_again() -> bool:
        r = http.post(f"/chats/{ANA}/presence", json={"state": "composing"})
        return r.status_code == 202 and r.json()["subscribed"] is True

    wait_for("a presence subscribe on the new connection", subscribed_again, timeout=30)
    wait_for(
        "the second subscribe",
        lambda: len(linked.presences(kind="subscribe", to=ANA_JID)) == subscribes + 1,
        timeout=20,
    )


def test_a_contact_typing_reaches_every_stream(linked: Linked) -> None:
    base = linked.orchestrator.base_url
    since = linked.orchestrator.last_event_id()
    for state, seen in (("composing", "composing"), ("recording", "recording"),
                        ("paused", "available")):  # fmt: skip
        linked.sim.post("/typing", {"from": ANA, "state": state})

        def has(envelopes: list[dict[str, Any]], seen: str = seen) -> bool:
            return any(
                e["type"] == "presence"
                and e["data"] == {"chatId": ANA_JID,
                                  "presences": {ANA_JID: {"lastKnownPresence": seen}}}
                for e in envelopes
            )  # fmt: skip

        for reader in (SseReader(base, last_id=since), WebSocketReader(base, last_id=since),
                       PollReader(base, last_id=since)):  # fmt: skip
            reader.run(has, timeout=15)


def test_a_contact_still_typing_refreshes_the_indicator(linked: Linked) -> None:
    since = linked.orchestrator.last_event_id()
    for _ in range(2):
        linked.sim.post("/typing", {"from": ANA, "state": "composing"})

    def composing(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        typing = {"chatId": ANA_JID, "presences": {ANA_JID: {"lastKnownPresence": "composing"}}}
        return [e for e in envelopes if e["type"] == "presence" and e["data"] == typing]

    reader = PollReader(linked.orchestrator.base_url, last_id=since)
    reader.run(lambda envelopes: len(composing(envelopes)) == 2, timeout=15)
