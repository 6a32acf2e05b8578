"""Several WhatsApp numbers in one deployment (issue 14), as the end-to-end tests run them.

One simulator per number (its own phone number and ports), one bridge per number started by the
test against it (its own data directory and ipc:// endpoints, as a compose deployment runs one
bridge service per number), and one orchestrator: its `default` session is the first number's
bridge (ORCH_BRIDGE_PUB/ROUTER), every other session is created with `POST /sessions` naming its
bridge's endpoints. Everything started here is killed when the `deployment()` block ends.

    with deployment(tmp, ["default", "sales"]) as d:
        d.send("sales", "5511911110001", "oi")  # a contact writes to the sales number
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.harness import (
    Bridge,
    Endpoints,
    Orchestrator,
    Stack,
    ipc_endpoints,
    make_capture,
    stack,
    wait_for,
)
from tests.wasim import PHONE, WaSim

# Each session's number: the default keeps the simulator's usual one.
PHONES = {"default": PHONE, "sales": "5511988880000", "support": "5511977770000"}
FAST = {"ORCH_RECONNECT_INITIAL": "0.3", "ORCH_RECONNECT_MAX": "1"}
# Contacts every simulator knows: the same people write to several numbers.
CONTACTS = {"5511911110001": "Ana", "5511922220002": "Bruno", "5511933330003": "Carla"}


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scoped_routes(chat: str, message: str, agent: str) -> list[tuple[str, str, Any]]:
    """Every route family under /sessions/{id}/: (method, route, a body that would otherwise
    be valid)."""
    return [
        ("GET", "/status", None), ("GET", "/qr", None), ("GET", "/qr.svg", None),
        ("GET", "/qr.png", None), ("GET", "/chats", None), ("GET", f"/chats/{chat}", None),
        ("GET", f"/chats/{chat}/messages", None), ("GET", "/contacts", None),
        ("GET", "/labels", None), ("GET", "/waiting-messages", None),
        ("GET", f"/media/{chat}/{message}", None), ("GET", f"/contacts/{chat}/picture", None),
        ("GET", "/activity", None), ("GET", "/agents", None),
        ("POST", "/send", {"chatId": chat, "text": "não devia sair"}),
        ("POST", f"/chats/{chat}/read", None),
        ("POST", f"/chats/{chat}/presence", {"state": "composing"}),
        ("POST", f"/chats/{chat}/agent-presence", {"state": "viewing"}),
        ("PUT", f"/chats/{chat}/assignment", {"agentId": agent}),
        ("DELETE", f"/chats/{chat}/assignment", None),
        ("POST", f"/chats/{chat}/tags", {"tagId": 1}), ("DELETE", f"/chats/{chat}/tags/1", None),
        ("GET", f"/chats/{chat}/notes", None),
        ("POST", f"/chats/{chat}/notes", {"body": "não devia ficar"}),
        ("POST", "/admin/connect", None), ("POST", "/admin/reconnect", None),
        ("POST", "/admin/pairing-code", {"phone": "5511900000000"}),
        ("GET", "/admin/bridge", None), ("POST", "/admin/bridge/restart", None),
        ("POST", "/admin/logout", None),
    ]  # fmt: skip


@dataclass
class Number:
    """One WhatsApp number: its session, its simulator and the bridge the test runs for it."""

    session: str
    sim: WaSim | None  # None: the bridge replays `capture` instead (no WhatsApp at all)
    endpoints: Endpoints
    home: Path  # the bridge's logs; its data in home/"data"
    capture: Path | None = None
    bridge: Bridge | None = None

    @property
    def simulator(self) -> WaSim:
        """The simulator: the phone of this number."""
        assert self.sim is not None, f"{self.session} replays a capture: no simulator"
        return self.sim


class Deployment:
    """The running numbers and orchestrator, and what tests do with one session of it."""

    def __init__(self, s: Stack, numbers: dict[str, Number]) -> None:
        self.stack = s
        self.numbers = numbers

    @property
    def orchestrator(self) -> Orchestrator:
        return self.stack.orchestrator

    @property
    def http(self) -> httpx.Client:
        return self.orchestrator.http

    # ---- processes ----------------------------------------------------------------------

    def start_bridge(self, session: str) -> Bridge:
        """The session's bridge on its own data directory (the same journal and credentials as
        any earlier one): a new epoch."""
        number = self.numbers[session]
        source = (
            number.sim.bridge_env() if number.sim is not None
            else {"BRIDGE_REPLAY": str(number.capture)}
        )  # fmt: skip
        number.bridge = self.stack.add(
            Bridge(number.home, number.home / "data", number.endpoints,
                   BRIDGE_LOG_LEVEL="warn", **source)
        )  # fmt: skip
        return number.bridge

    def bridge(self, session: str) -> Bridge:
        bridge = self.numbers[session].bridge
        assert bridge is not None, f"no bridge started for {session}"
        return bridge

    def create(self, session: str) -> dict[str, Any]:
        """POST /sessions for a number's bridge; the Session answered."""
        endpoints = self.numbers[session].endpoints
        response = self.http.post(
            "/sessions",
            json={"id": session, "name": session.title(),
                  "bridge": {"pub": endpoints.pub, "router": endpoints.router}},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def stop_orchestrator(self, *, kill: bool) -> None:
        """SIGTERM (a clean stop) or kill -9; the bridges go on."""
        old = self.orchestrator
        if kill:
            old.kill9()
        else:
            old.stop()
        old.close()

    def start_orchestrator(self) -> Orchestrator:
        """A new orchestrator on the same data and port as the last one."""
        return self.stack.start_orchestrator(port=self.orchestrator.port, timeout=30, **FAST)

    # ---- one session's REST -------------------------------------------------------------

    @staticmethod
    def path(session: str, route: str) -> str:
        return f"/sessions/{session}{route}"

    def get(self, session: str, route: str, **params: str | int) -> Any:
        response = self.http.get(self.path(session, route), params=params)
        assert response.status_code == 200, (route, response.status_code, response.text)
        return response.json()

    def status(self, session: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(session, "/status")
        return status

    def state_is(self, session: str, *states: str, timeout: float = 40) -> dict[str, Any]:
        try:
            return wait_for(
                f"{session} in {states}",
                lambda: (s := self.status(session))["state"] in states and s,
                timeout=timeout,
            )
        except AssertionError as exc:
            tail = self.orchestrator.log_tail()
            raise AssertionError(f"{exc}\n{self.status(session)}\n{tail}") from None

    def pair(self, session: str) -> dict[str, Any]:
        """Scan the session's QR with its own simulator (the phone of that number)."""
        qr = wait_for(f"a QR for {session}", lambda: self.get(session, "/qr")["qr"], timeout=40)
        self.numbers[session].simulator.scan(qr)
        return self.state_is(session, "open")

    def send(self, session: str, phone: str, text: str) -> str:
        """A contact writes to the session's number; the message id."""
        sent = self.numbers[session].simulator.post("/send", {"from": phone, "kind": "text",
                                                        "text": text})  # fmt: skip
        message_id: str = sent["id"]
        return message_id

    def chats(self, session: str) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.get(session, "/chats", limit=500)["chats"]}

    def messages(self, session: str, chat_id: str) -> list[str]:
        """Every message id of a chat, oldest first, paging back through RAM and the store."""
        ids: list[str] = []
        before: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 50} | ({"before": before} if before else {})
            response = self.http.get(self.path(session, f"/chats/{chat_id}/messages"),
                                     params=params)  # fmt: skip
            if response.status_code == 404:
                return ids
            page = response.raise_for_status().json()["messages"]
            ids[:0] = [m["id"] for m in page]
            if len(page) < 50:
                return ids
            before = page[0]["id"]

    def has_messages(self, session: str, chat_id: str, wanted: Sequence[str],
                     timeout: float = 30) -> list[str]:  # fmt: skip
        """The chat's ids once every one of `wanted` is in it."""
        return wait_for(
            f"{len(wanted)} messages in {session} {chat_id}",
            lambda: (ids := self.messages(session, chat_id)) and set(wanted) <= set(ids) and ids,
            timeout=timeout,
        )

    # ---- one session's store ------------------------------------------------------------

    def store_file(self, session: str) -> Path:
        data = self.stack.data
        if session == "default":
            return data / "store.sqlite3"
        return data / "sessions" / session / "store.sqlite3"

    def flushed(self, session: str) -> None:
        wait_for(
            f"{session}'s store to catch up",
            lambda: self.get(session, "/admin/bridge")["store"]["pendingRows"] == 0,
        )

    def stored_messages(self, session: str) -> list[tuple[str, str]]:
        """(chat id, message id) of every message in the session's SQLite file."""
        with contextlib.closing(sqlite3.connect(self.store_file(session))) as db:
            return db.execute("SELECT chat_id, id FROM wa_messages").fetchall()


@contextlib.contextmanager
def deployment(tmp: Path, sessions: Sequence[str], **orchestrator_env: str) -> Iterator[Deployment]:
    """`sessions` (the first is `default`), each a simulated number of its own, created and
    paired."""
    with _deployment(tmp, sessions, None, orchestrator_env) as d:
        started = time.monotonic()
        for session in sessions:
            d.pair(session)
        print(f"\npaired {len(sessions)} sessions in {time.monotonic() - started:.1f} s")
        yield d


@contextlib.contextmanager
def replaying(
    tmp: Path, sessions: Sequence[str], events: int, **orchestrator_env: str
) -> Iterator[Deployment]:
    """`sessions` whose bridges replay a capture each (different seeds: different chats), all
    applied when this yields. For what needs traffic but no WhatsApp: permissions, bad input."""
    with _deployment(tmp, sessions, events, orchestrator_env) as d:
        for session, number in d.numbers.items():
            capture = number.capture
            assert capture is not None
            # One envelope per line, between bridge.started and bridge.replay_finished.
            last = len(capture.read_bytes().splitlines()) + 2
            state = d.bridge(session).client.wait_seq(last)
            position = {"epoch": state["epoch"], "seq": state["seq"]}
            wait_for(
                f"{session} to apply its capture",
                lambda s=session, p=position: d.get(s, "/admin/bridge")["applied"] == p,
            )
        yield d


@contextlib.contextmanager
def _deployment(
    tmp: Path, sessions: Sequence[str], events: int | None, orchestrator_env: dict[str, str]
) -> Iterator[Deployment]:
    assert sessions[0] == "default"
    with contextlib.ExitStack() as exits:
        s = exits.enter_context(stack(tmp, orchestrator=False))
        numbers: dict[str, Number] = {}
        for seed, session in enumerate(sessions, 1):
            home = tmp / session
            home.mkdir()
            endpoints = s.endpoints if session == "default" else exits.enter_context(
                ipc_endpoints()
            )  # fmt: skip
            if events is not None:
                capture = make_capture(home / "capture.jsonl", events, seed=seed, chats=6)
                numbers[session] = Number(session, None, endpoints, home, capture)
                continue
            sim = s.add(WaSim(home, phone=PHONES[session]))
            for phone, name in CONTACTS.items():
                sim.post("/contacts", {"phone": phone, "name": name})
            numbers[session] = Number(session, sim, endpoints, home)
        d = Deployment(s, numbers)
        for session in sessions:
            d.start_bridge(session)
        s.start_orchestrator(timeout=30, **FAST, **orchestrator_env)
        for session in sessions[1:]:
            d.create(session)
        yield d
