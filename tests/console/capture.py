"""Capture the client's unit-test fixtures (clients/js/test/fixtures) from a real run: the
Node bridge replaying a capture through its real publishing path, the real orchestrator, and
its real streams and REST.

    .venv/bin/python -m tests.console.capture [scenario ...]

For each scenario it writes `clients/js/test/fixtures/<name>.envelopes.jsonl` (every envelope
of the stream, read with `/events/poll?since=` from the first one until it is drained) and
`<name>.rest.json` beside it: the position and REST snapshots taken the way wa-client.js takes
them (position first, then `/status`, `/chats` and the newest page of a few chats) while the
replay is still going, the answers to the sends made after it, and the REST state once the
replay is done. Run it again only to refresh the fixtures (the tests never start processes).
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from tests.harness import BRIDGE_DIR, Orchestrator, stack, wait_for

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent.parent / "clients" / "js" / "test" / "fixtures"
NOW = 1_767_225_600  # 2026-01-01: the demo capture's "now", fixed so the bytes are too
LID = "100000000000077@lid"
LID_PN = "5511900000021@s.whatsapp.net"  # a person of the --rich capture (chat 3)
# A 1x1 PNG, to send a photo whose stream copy has a media url.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/pQ1uJQAAAABJRU5ErkJggg=="
)


@dataclass
class Scenario:
    capture_args: list[str]
    rate: float
    extra: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str | int] = field(default_factory=dict)
    snapshot: bool = True  # take the snapshot mid-replay, after the history sync
    send: bool = False  # POST /send a text and a photo after the snapshot
    loaded: int = 5  # chats whose newest page the snapshot holds (newest activity first)
    also_loaded: list[str] = field(default_factory=list)
    read_from_seq: int = 0  # start reading the stream once the bridge is past this seq


def lid_merge_events() -> list[dict[str, Any]]:
    """A person first seen under a LID, then the mapping to the phone number: the LID chat is
    merged into the phone chat (`chat_deleted` with `mergedInto`)."""
    key = {"remoteJid": LID, "fromMe": False, "id": "3EB0LIDFIRST0000001"}
    first = {"key": key, "message": {"conversation": "hello, writing from a new phone"},
             "messageTimestamp": 1_700_000_400, "pushName": "Contact 3"}  # fmt: skip
    second = {
        "key": {"remoteJid": LID_PN, "fromMe": False, "id": "3EB0LIDSECOND000002"},
        "message": {"conversation": "same person, by number"},
        "messageTimestamp": 1_700_000_401,
        "pushName": "Contact 3",
    }
    return [
        {"event": "messages.upsert", "data": {"messages": [first], "type": "notify"}},
        {"event": "lid-mapping.update", "data": {"lid": LID, "pn": LID_PN}},
        {"event": "messages.upsert", "data": {"messages": [second], "type": "notify"}},
    ]


QR_EVENTS: list[dict[str, Any]] = [
    {"event": "connection.update", "data": {"connection": "connecting"}},
    {"event": "connection.update", "data": {"qr": "2@first-qr-code,AAAA,BBBB,CCCC"}},
    {"event": "connection.update", "data": {"connection": "connecting"}},
    {"event": "connection.update", "data": {"qr": "2@second-qr-code,DDDD,EEEE,FFFF"}},
    {"event": "connection.update", "data": {"connection": "open"}},
]

SCENARIOS: dict[str, Scenario] = {
    # The helpdesk-shaped demo: history sync in three chunks, then live conversations (two
    # events a second, so messages share seconds), presence, acks, reactions, edits; two sends.
    "demo": Scenario(
        ["--demo", "--events", "300", "--seed", "3", "--now", str(NOW)], rate=40, send=True
    ),
    # The generic capture with reactions, edits and revokes, then a LID chat merged.
    "rich": Scenario(
        ["--events", "260", "--chats", "8", "--seed", "5", "--history", "40", "--rich"],
        rate=40,
        extra=lid_merge_events(),
        also_loaded=[LID_PN],
    ),
    # A tiny retention: a stream read from the start, once more has happened than it holds,
    # begins with `resync`; what follows is streamed.
    "resync": Scenario(
        ["--demo", "--events", "80", "--seed", "4", "--now", str(NOW)],
        rate=20,
        env={"ORCH_STREAM_RETENTION": 20},
        snapshot=False,
        read_from_seq=40,
    ),
    # Not linked: QR codes, then linked.
    "qr": Scenario([], rate=2, extra=QR_EVENTS, snapshot=False, loaded=0),
}


def make_capture(path: Path, scenario: Scenario) -> int:
    lines: list[bytes] = []
    if scenario.capture_args:
        script = BRIDGE_DIR / "scripts" / "make-capture.js"
        subprocess.run(
            ["node", str(script), "--out", str(path), *scenario.capture_args],
            check=True,
            capture_output=True,
        )
        lines = path.read_bytes().splitlines()
    lines += [orjson.dumps(e) for e in scenario.extra]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


class Run:
    def __init__(self, orchestrator: Orchestrator) -> None:
        self.o = orchestrator
        self.envelopes: list[dict[str, Any]] = []
        self.since = ""

    def get(self, path: str) -> Any:
        return self.o.http.get(path).raise_for_status().json()

    def read(self, timeout: float) -> int:
        body = self.get(f"/events/poll?since={quote(self.since)}&timeout={timeout}")
        self.envelopes += body["events"]
        self.since = body["lastEventId"]
        return len(body["events"])

    def pages(self, chat_ids: list[str], limit: int) -> dict[str, list[dict[str, Any]]]:
        return {
            chat_id: self.get(f"/chats/{quote(chat_id)}/messages?limit={limit}")["messages"]
            for chat_id in chat_ids
        }

    def rest(self, chat_ids: list[str], limit: int) -> dict[str, Any]:
        return {
            "status": self.get("/status"),
            "qr": self.get("/qr")["qr"],
            "chats": self.get("/chats?limit=500")["chats"],
            "pages": self.pages(chat_ids, limit),
        }


def capture(name: str, scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory(prefix=f"console-{name}-") as directory:
        tmp = Path(directory)
        capture_file = tmp / "capture.jsonl"
        lines = make_capture(capture_file, scenario)
        bridge_env: dict[str, str | float] = {
            "BRIDGE_REPLAY_RATE": scenario.rate, "BRIDGE_COMMAND_LOG": str(tmp / "commands.jsonl"),
            "BRIDGE_LOG_LEVEL": "warn",
        }  # fmt: skip
        with stack(
            tmp, capture=capture_file, wait=False, bridge_env=bridge_env,
            orchestrator_env=scenario.env,
        ) as s:  # fmt: skip
            bridge, orchestrator = s.bridge, s.orchestrator
            run = Run(orchestrator)
            out: dict[str, Any] = {"scenario": name, "captureLines": lines}

            if scenario.snapshot:
                # Read until the history sync is complete, then snapshot the way the client does.
                def synced() -> bool:
                    run.read(1)
                    return any(
                        e["type"] == "sync_progress" and e["data"]["progress"] == 100
                        for e in run.envelopes
                    )

                wait_for("the history sync", synced, 30)
                position = run.get("/events/poll")["lastEventId"]
                chats = run.get("/chats?limit=500")["chats"]
                loaded = [c["id"] for c in chats[: scenario.loaded]] + scenario.also_loaded
                out["snapshot"] = {"position": position, **run.rest(loaded, 50)}
                if scenario.send:
                    target = next(c["id"] for c in chats if not c["isGroup"])
                    text = {"chatId": target, "text": "Fixture reply: on its way"}
                    pixel = base64.b64encode(PIXEL).decode()
                    media = {"type": "image", "mimetype": "image/png", "fileName": "pixel.png"}
                    photo = {"chatId": target, "media": {**media, "base64": pixel}}
                    out["sends"] = [
                        orchestrator.http.post("/send", json=body).raise_for_status().json()
                        for body in (text, photo)
                    ]
            else:
                loaded = []
                bridge.wait_seq(scenario.read_from_seq, 60)
                run.read(0)
            # Read as a live client does while the replay goes on (a tiny retention evicts
            # what a slower reader has not read yet), then until it is drained.
            deadline = time.monotonic() + 60
            while (state := bridge.state())["seq"] < lines + 2:  # + started, replay_finished
                assert time.monotonic() < deadline, "the replay did not finish"
                run.read(0.5)
            orchestrator.wait_applied(state["epoch"], state["seq"], 60)
            # Drained: the sends' acks follow their answers; wait for a quiet second.
            while run.read(1.5) > 0:
                pass
            if not scenario.snapshot:
                loaded = [c["id"] for c in run.get("/chats?limit=500")["chats"]][: scenario.loaded]
            out["final"] = {"position": run.since, **run.rest(loaded, 500)}

    FIXTURES.mkdir(exist_ok=True)
    stream = FIXTURES / f"{name}.envelopes.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in run.envelopes))
    rest = FIXTURES / f"{name}.rest.json"
    rest.write_bytes(orjson.dumps(out) + b"\n")
    print(f"{name}: {len(run.envelopes)} envelopes -> {stream.relative_to(HERE)}, {rest.name}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (all)")
    names = parser.parse_args(argv).scenarios or list(SCENARIOS)
    if unknown := set(names) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    for name in names:
        started = time.monotonic()
        capture(name, SCENARIOS[name])
        print(f"  ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
