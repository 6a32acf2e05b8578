"""Malformed envelopes on the wire: the test is the bridge (the outer edge). It binds its own PUB
socket where the orchestrator's ORCH_BRIDGE_PUB points, and a ROUTER that answers `replay`;
then it publishes garbage between valid envelopes. The orchestrator (the real process) must
stay up, count every malformed envelope in `/admin/bridge`, and advance its applied position
only on valid, in-order envelopes: `applied.log` is exactly the valid sequence.

The ROUTER's journal holds one event (epoch E, seq 1) for the orchestrator's first catch-up,
so that it has a position to advance from; every later `replay` gets an empty page. (From no
position at all, the follower takes events only from the journal: with an always-empty
journal nothing live would ever be applied.)
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import zmq

from tests.harness import Endpoints, Orchestrator, stack, wait_for

EPOCH = "lb2x9k-a1b2c3"
CHAT = "5511900000001@s.whatsapp.net"
DROP = object()  # a field left out of the envelope


def envelope(seq: Any, *, epoch: Any = EPOCH, event: Any = "chats.upsert", **fields: Any) -> bytes:
    body = {
        "v": 1,
        "epoch": epoch,
        "seq": seq,
        "ts": 1_700_000_000_000,
        "event": event,
        "data": [{"id": CHAT, "name": f"{epoch} {seq}"}],
        **fields,
    }
    # json, not orjson: it writes integers past 64 bits (which orjson then reads as floats)
    return json.dumps({k: v for k, v in body.items() if v is not DROP}).encode()


# The bridge's identity, in every heartbeat and `state` reply: the orchestrator follows only
# the bridge it learned on first contact (orchestrator/bridgeid.py).
IDENTITY = {"bridgeId": "fake-bridge-0001", "session": "default"}


def heartbeat(seq: int) -> bytes:
    data = {"connection": "idle", "mode": "replay", **IDENTITY}
    return envelope(seq, event="bridge.heartbeat", data=data)


class FakeBridge:
    """PUB and ROUTER bound on the orchestrator's endpoints. The first `replay` is answered
    with `journal`; every later one with an empty page; `state` with its identity; any other
    command with an error."""

    def __init__(self, endpoints: Endpoints, journal: list[bytes]) -> None:
        self._context = zmq.Context()
        self.pub = self._context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(endpoints.pub)
        self._router = self._context.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        self._router.bind(endpoints.router)
        self._journal: list[bytes] | None = journal
        self.replays = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-bridge-router")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._router.poll(50):
                continue
            identity, *_, payload = self._router.recv_multipart()
            request = orjson.loads(payload)
            reply: dict[str, Any] = {"id": request["id"], "ok": True}
            if request["method"] == "replay":
                self.replays += 1
                events, self._journal = self._journal or [], None
                reply["result"] = {"events": [orjson.loads(e) for e in events], "more": False}
            elif request["method"] == "state":
                reply["result"] = {"connection": "idle", **IDENTITY}
            else:
                reply = {
                    "id": request["id"],
                    "ok": False,
                    "error": {"code": "unknown_method", "message": request["method"]},
                }
            self._router.send_multipart([identity, orjson.dumps(reply)])

    def publish(self, frames: list[bytes]) -> None:
        """Each item one message; a tuple of frames one multipart message."""
        for frame in frames:
            if isinstance(frame, tuple):
                self.pub.send_multipart(list(frame))
            else:
                self.pub.send(frame)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.pub.close()
        self._router.close()
        self._context.term()


@contextlib.contextmanager
def faked(tmp_path: Path, journal: list[bytes]) -> Iterator[tuple[Orchestrator, FakeBridge]]:
    """The fake bridge on a stack's endpoints, then the real orchestrator, healthy."""
    with stack(tmp_path, orchestrator=False) as s:
        bridge = FakeBridge(s.endpoints, journal)
        try:
            yield s.start_orchestrator(), bridge
        finally:
            bridge.close()


def wait_heard(orchestrator: Orchestrator, bridge: FakeBridge) -> None:
    # PUB/SUB joins late: heartbeat until the orchestrator hears them.
    seen = 0

    def hears() -> bool:
        nonlocal seen
        bridge.publish([heartbeat(1)])
        seen += 1
        return bool(orchestrator.bridge_report()["alive"])

    wait_for("the orchestrator to hear the fake bridge", hears, timeout=20, interval=0.1)
    assert orchestrator.bridge_report()["applied"] == {"epoch": EPOCH, "seq": 1}


MALFORMED: list[Any] = [
    b"not json",
    b"",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b"null",
    b'{"v": 1, "epoch": "' + EPOCH.encode() + b'", "seq": 2',  # truncated
    envelope(2, v=2),  # wrong version
    envelope(2, v=DROP),
    envelope(2, v="1"),
    envelope(DROP),  # missing seq
    envelope("2"),
    envelope(-1),
    envelope(2.0),
    envelope(True),
    envelope(10**30),  # orjson: a float
    envelope(2, epoch=""),
    envelope(2, epoch=DROP),
    envelope(2, epoch=7),
    envelope(2, ts=DROP),
    envelope(2, ts=1.5),
    envelope(2, event=""),
    envelope(2, event=None),
    (b"two", b"frames"),  # a multipart message: two malformed envelopes
    b"{" * 100_000,  # deep nesting
    b'"' + b"x" * 2_000_000 + b'"',  # 2 MB of one string
]
MALFORMED_COUNT = len(MALFORMED) + 1  # the multipart message counts twice


def test_garbage_is_counted_and_never_moves_the_position(tmp_path: Path) -> None:
    with faked(tmp_path, journal=[envelope(1)]) as (orchestrator, fake_bridge):
        wait_heard(orchestrator, fake_bridge)
        before = orchestrator.bridge_report()
        frames = [
            *MALFORMED[:7],
            envelope(2),  # valid, in order: applied
            envelope(1),  # seq going backwards: a duplicate
            envelope(2),  # the same seq again: a duplicate
            *MALFORMED[7:],
            envelope(3),  # applied
            envelope(5),  # a gap: replay (empty page), not applied
            envelope(4),  # in order again: applied
            envelope(1, epoch="other-epoch"),  # a new epoch: replay (empty page), not applied
            envelope(5),  # applied
            heartbeat(5),
        ]
        fake_bridge.publish(frames)

        report = wait_for(
            "the orchestrator to apply seq 5",
            lambda: (
                (r := orchestrator.bridge_report())["applied"] == {"epoch": EPOCH, "seq": 5} and r
            ),
            timeout=20,
        )
        wait_for(
            "every frame to be received",
            lambda: (
                orchestrator.bridge_report()["received"] - before["received"] >= len(frames) + 1
            ),
        )
        report = orchestrator.bridge_report()
        assert report["malformed"] - before["malformed"] == MALFORMED_COUNT
        assert report["duplicates"] - before["duplicates"] == 2
        assert report["gaps"] - before["gaps"] == 1
        assert report["applied"] == {"epoch": EPOCH, "seq": 5}
        assert report["alive"] is True
        # The durable record: exactly the valid, in-order envelopes, each once.
        assert orchestrator.applied_positions() == [(EPOCH, seq) for seq in range(1, 6)]
        chat = orchestrator.http.get(f"/chats/{CHAT}").raise_for_status().json()
        assert chat["name"] == f"{EPOCH} 5"
        assert orchestrator.running and orchestrator.http.get("/health").status_code == 200


def test_an_epoch_outside_the_id_alphabet_is_malformed(tmp_path: Path) -> None:
    """Epochs become stream ids and applied.log fields: an epoch with a quote, a space or a
    newline must be refused like any other malformed envelope, not applied."""
    odd = 'odd epoch"\n'
    with faked(tmp_path, journal=[envelope(1, epoch=odd)]) as (orchestrator, _):
        poll = orchestrator.http.get("/events/poll", params={"since": "", "timeout": 0})
        assert poll.status_code == 200
        poll.json()  # the envelopes are spliced in as JSON: this must still parse
        report = orchestrator.bridge_report()
        assert report["applied"] is None and report["malformed"] == 1
