"""Streams across sessions (issue 14): `?session=` with its refusals, what each caller sees,
composite positions that resume every session exactly (also after a restart, which interleaves
the sessions differently), and `session_deleted`.

The stream routes run over real sockets (uvicorn on a free port, in this process) on their own
event log, so a test decides exactly how the sessions interleave; who is asking is a token table
standing in for the authenticator, and visibility an assignment table."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from orchestrator.app import EXCEPTION_HANDLERS, Body, resolver, route
from orchestrator.auth import Access, presented_token
from orchestrator.errors import Code, NotFound, Unauthorized
from orchestrator.eventlog import EventLog
from orchestrator.principal import Principal
from orchestrator.routes import OPERATIONS
from orchestrator.streams import StreamRoutes, Streams, StreamSettings

pytestmark = pytest.mark.anyio

Item = tuple[str, str, str | None, Any]
Envelope = dict[str, Any]

STAFF = "staff-token"
ANA = "ana-token"  # an agent of default and sales, not of support
SESSIONS = {"default", "sales", "support"}
PRINCIPALS = {
    STAFF: Principal("u-staff", "supervisor", "Sam"),
    ANA: Principal("u-ana", "agent", "Ana", frozenset({"default", "sales"})),
}


class Tokens:
    """The gate of these tests: a principal per token (the authenticator's own tests are
    elsewhere)."""

    async def admit(self, conn: HTTPConnection, access: Access) -> Principal:
        principal = PRINCIPALS.get(presented_token(conn) or "")
        if principal is None:
            raise Unauthorized(Code.UNAUTHORIZED, "a valid bearer token is required")
        return principal


@dataclass
class Hub:
    """One orchestrator's streams: its log, and the sessions and assignments it knows."""

    log: EventLog = field(default_factory=lambda: EventLog(max_entries=10_000, max_age=3600))
    sessions: set[str] = field(default_factory=lambda: set(SESSIONS))
    assigned: dict[tuple[str, str], str] = field(default_factory=dict)  # (session, chat): user

    def __post_init__(self) -> None:
        settings = StreamSettings(ping_interval=30, send_timeout=10, poll_max_timeout=30)
        self.streams = Streams(self.log, settings)

    def can_see(self, principal: Principal, session: str, chat_id: str) -> bool:
        agent = self.assigned.get((session, chat_id))
        return principal.may_use(session) and (
            principal.is_staff or agent is None or agent == principal.user_id
        )

    def chat_id(self, session: str, raw_id: str, principal: Principal) -> str:
        if not raw_id.endswith("@s.whatsapp.net"):
            raise NotFound(Code.CHAT_NOT_FOUND, f"no chat {raw_id}")
        return raw_id

    def app(self) -> Starlette:
        routes = StreamRoutes(self.streams, self.can_see, self.chat_id, lambda: self.sessions)
        ops = [op for op in OPERATIONS if op.handler.__qualname__.startswith("StreamRoutes.")]
        gate: Any = Tokens()
        return Starlette(
            routes=[
                route(op, resolver(op, [routes], lambda session: []), gate, Body(1024))
                for op in ops
            ],
            exception_handlers=EXCEPTION_HANDLERS,
        )

    def delete(self, session: str, event_id: str) -> None:
        self.sessions.discard(session)
        self.streams.session_deleted(session, True, event_id)


@dataclass
class Server:
    base: str
    ws: str


async def until(condition: Callable[[], object]) -> None:
    """Until `condition` holds: state of the server in this process, which has no event to
    await."""
    async with asyncio.timeout(10):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def serving(hub: Hub) -> AsyncIterator[Server]:
    config = uvicorn.Config(hub.app(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    finally:
        hub.streams.shutdown()
        server.should_exit = True
        await task


def items(session: str, count: int, start: int = 1) -> list[Item]:
    """`count` events of one session's bridge (its own epoch), over a few chats."""
    return [
        (f"ep-{session}:{n}:0", "new_message", f"{n % 3}@s.whatsapp.net", {"n": n})
        for n in range(start, start + count)
    ]


def interleaved(sequences: dict[str, list[Item]], seed: int) -> list[tuple[str, Item]]:
    """The sessions' sequences merged at random, each keeping its own order."""
    rng = random.Random(seed)
    queues = {s: list(seq) for s, seq in sequences.items()}
    merged = []
    while any(queues.values()):
        session = rng.choice([s for s, q in queues.items() if q])
        merged.append((session, queues[session].pop(0)))
    return merged


def append(log: EventLog, merged: Iterable[tuple[str, Item]]) -> None:
    for session, item in merged:
        log.append([item], session)


def per_session(envelopes: list[Envelope]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for envelope in envelopes:
        ids.setdefault(envelope["session"], []).append(envelope["id"])
    return ids


def composite(envelopes: list[Envelope]) -> str:
    """What a client keeping the last id of each session resumes with."""
    return ",".join(ids[-1] for ids in per_session(envelopes).values())


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def poll(server: Server, token: str = STAFF, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(headers=auth(token), timeout=10) as client:
        return await client.get(server.base + "/events/poll", params={"timeout": "0", **params})


async def read_sse(
    server: Server, count: int, token: str = STAFF, **params: str
) -> tuple[list[Envelope], bool]:
    """The first `count` envelopes, and whether the server ended the stream (before `count`)."""
    envelopes: list[Envelope] = []
    async with (
        httpx.AsyncClient(headers=auth(token), timeout=httpx.Timeout(10)) as client,
        client.stream("GET", server.base + "/events", params=params) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                envelopes.append(orjson.loads(line[6:]))
                if len(envelopes) == count:
                    return envelopes, False
    return envelopes, True


def websocket(server: Server, path: str = "/ws", token: str = STAFF, **params: str) -> connect:
    query = httpx.QueryParams({"access_token": token, **params})
    # max_queue=None: with frames left unread, a bounded queue holds back the server's close
    # reply behind them, and the close waits out its timeout (as in tests/clients.py).
    return connect(f"{server.ws}{path}?{query}", open_timeout=5, max_queue=None)


async def receive(ws: ClientConnection, count: int) -> list[Envelope]:
    return [orjson.loads(await ws.recv()) for _ in range(count)]


async def refusal(server: Server, path: str = "/ws", **params: str) -> tuple[int | None, str]:
    async with websocket(server, path, **params) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return ws.close_code, orjson.loads(ws.close_reason or "{}")["code"]


# ---- what each caller sees --------------------------------------------------------------------


async def test_envelopes_name_their_session_and_callers_see_only_sessions_they_may_use() -> None:
    hub = Hub()
    hub.assigned[("sales", "1@s.whatsapp.net")] = "u-other"  # in sales only: not Ana's
    append(hub.log, interleaved({s: items(s, 6) for s in sorted(SESSIONS)}, seed=1))
    everything = [orjson.loads(e.json) for e in hub.log.read(0, 100)]
    async with serving(hub) as server:
        body = (await poll(server, since="")).json()
        assert body["events"] == everything
        assert {e["session"] for e in everything} == SESSIONS
        assert all(e["id"].startswith(f"ep-{e['session']}:") for e in everything)
        # The poll answers with the last id of each session it passed.
        assert sorted(body["lastEventId"].split(",")) == sorted(
            ids[-1] for ids in per_session(everything).values()
        )

        for selected in ("sales", "sales,support", "support,default"):
            body = (await poll(server, since="", session=selected)).json()
            wanted = set(selected.split(","))
            assert body["events"] == [e for e in everything if e["session"] in wanted]
            assert {i.split(":")[0] for i in body["lastEventId"].split(",")} == {
                f"ep-{s}" for s in wanted
            }

        # Ana: default and sales, without the sales chat assigned to someone else (the same
        # chat id in default is hers to see), never support, not even as a position.
        def anas(e: Envelope) -> bool:
            hidden = e["session"] == "sales" and e["data"]["n"] % 3 == 1
            return e["session"] in ("default", "sales") and not hidden

        expected = [e for e in everything if anas(e)]
        assert any(e["session"] == "default" and e["data"]["n"] % 3 == 1 for e in expected)
        body = (await poll(server, ANA, since="")).json()
        assert body["events"] == expected
        assert "ep-support" not in body["lastEventId"]
        sse, ended = await read_sse(server, len(expected), ANA, lastEventId="")
        assert (sse, ended) == (expected, False)
        async with websocket(server, token=ANA, lastEventId="") as ws:
            assert await receive(ws, len(expected)) == expected
        no_position = (await poll(server, ANA)).json()
        assert no_position["events"] == []
        assert sorted(no_position["lastEventId"].split(",")) == sorted(
            body["lastEventId"].split(",")
        )


async def test_a_session_that_does_not_exist_is_404_and_one_not_yours_403() -> None:
    hub = Hub()
    append(hub.log, [("default", i) for i in items("default", 2)])
    async with serving(hub) as server:
        for token, selected, status, code in (
            (STAFF, "nope", 404, "session_not_found"),
            (STAFF, "sales,nope", 404, "session_not_found"),
            (STAFF, "", 404, "session_not_found"),
            (ANA, "support", 403, "forbidden"),
            (ANA, "default,support", 403, "forbidden"),
            (ANA, "x" * 500, 404, "session_not_found"),
        ):
            response = await poll(server, token, session=selected)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
            async with httpx.AsyncClient(headers=auth(token)) as client:
                sse = await client.get(server.base + "/events", params={"session": selected})
            assert (sse.status_code, sse.json()["error"]["code"]) == (status, code)
            assert await refusal(server, token=token, session=selected) == (4000 + status, code)
        # The chat WebSocket is the default session's: one who may not use it is refused.
        hub.sessions.add("solo")
        PRINCIPALS["solo-token"] = Principal("u-solo", "agent", None, frozenset({"solo"}))
        try:
            chat = "/ws/chat/5@s.whatsapp.net"
            assert await refusal(server, chat, token="solo-token") == (4403, "forbidden")
        finally:
            del PRINCIPALS["solo-token"]
        assert await refusal(server, "/ws/chat/bad") == (4404, "chat_not_found")


# ---- composite positions ----------------------------------------------------------------------


async def test_composite_positions_are_checked_like_single_ones() -> None:
    hub = Hub()
    append(hub.log, interleaved({s: items(s, 3) for s in ("default", "sales")}, seed=2))
    async with serving(hub) as server:
        too_many = ",".join(f"e{n}:1:0" for n in range(65))
        for bad in (
            "ep-sales:1:0,garbage",
            "ep-sales:1:0,",
            ",ep-sales:1:0",
            too_many,
            "ep-sales:1:0,ep-sales:2:0",  # two positions of one session
            "ep-sales:1:0,ep-sales:1:0",
        ):
            response = await poll(server, since=bad)
            assert response.status_code == 400, bad
            assert response.json()["error"]["code"] == "bad_event_id"
            assert await refusal(server, lastEventId=bad) == (4400, "bad_event_id")
        # 64 ids are fine: the unknown ones make it a resync, one envelope per session.
        many = ",".join(["ep-sales:1:0", *(f"e{n}:1:0" for n in range(63))])
        body = (await poll(server, since=many)).json()
        resyncs = sorted((e["type"], e["session"], e["id"]) for e in body["events"])
        assert resyncs == [
            ("resync", "default", "ep-default:3:0"),
            ("resync", "sales", "ep-sales:3:0"),
        ]
        assert body["lastEventId"] == ",".join(e["id"] for e in body["events"])


@pytest.mark.parametrize("transport", ["poll", "sse", "websocket"])
@pytest.mark.parametrize("seed", [3, 4, 5])
async def test_a_composite_position_resumes_every_session_exactly_after_a_restart(
    transport: str, seed: int
) -> None:
    """Log 1 gets sessions a and b interleaved one way; a client reads a prefix. Log 2, a new
    process's, gets the same sequences interleaved another way; the client resumes with the
    last id it saw of each session and gets exactly the rest of each: nothing twice, nothing
    lost. (One id alone names a place in one process's interleaving, and cannot.)"""
    rng = random.Random(seed)
    sequences = {"a": items("a", 40), "b": items("b", 40)}
    hub1, hub2 = Hub(sessions={"a", "b"}), Hub(sessions={"a", "b"})
    append(hub1.log, interleaved(sequences, seed))
    append(hub2.log, interleaved(sequences, seed + 100))
    hub2.log.from_the_start = False  # it rebuilt from the bridges' journals
    total = len(hub1.log)
    seen_count = rng.randrange(5, total - 5)

    async def read(server: Server, position: str, count: int) -> list[Envelope]:
        if transport == "sse":
            envelopes, _ = await read_sse(server, count, lastEventId=position)
            return envelopes
        if transport == "websocket":
            async with websocket(server, lastEventId=position) as ws:
                return await receive(ws, count)
        envelopes = []
        while len(envelopes) < count:  # a poll answers with whatever there is: keep `count`
            body = (await poll(server, since=position)).json()
            envelopes += body["events"]
            position = body["lastEventId"]
        return envelopes[:count]

    async with serving(hub1) as server:
        seen = await read(server, "", seen_count)
    assert [e["id"] for e in seen] == [e.id for e in hub1.log.read(0, seen_count)]

    position = composite(seen)
    async with serving(hub2) as server:
        rest = await read(server, position, total - seen_count)
        # Nothing more is pending for it: the next entry it gets is a new one.
        hub2.log.append(items("a", 1, start=41), "a")
        [after] = await read(server, composite(seen + rest), 1)
    assert after["id"] == "ep-a:41:0"
    for session, sequence in sequences.items():
        got = per_session(seen + rest)[session]
        assert got == [item[0] for item in sequence], session


async def test_only_what_a_client_reads_decides_a_resync_and_a_quiet_session_is_not_one() -> None:
    """Session a is quiet while b is busy: a's last entry is evicted, but a client that saw it
    missed nothing of a, and resumes without a resync. One that saw an older a entry did miss
    one, and gets a resync (one envelope per session, positioned at each session's last id)."""
    hub = Hub(log=EventLog(max_entries=10, max_age=3600), sessions={"a", "b"})
    append(hub.log, [("a", i) for i in items("a", 2)])
    append(hub.log, [("b", i) for i in items("b", 8)])
    async with serving(hub) as server:
        seen = (await poll(server, since="")).json()
        assert seen["lastEventId"] == "ep-a:2:0,ep-b:8:0"
        append(hub.log, [("b", i) for i in items("b", 4, start=9)])  # a1, a2, b1, b2 evicted
        body = (await poll(server, since=seen["lastEventId"])).json()
        assert [e["id"] for e in body["events"]] == [f"ep-b:{n}:0" for n in range(9, 13)]
        assert body["lastEventId"] == "ep-a:2:0,ep-b:12:0"
        # b2 is b's newest evicted entry, so nothing of b after it was lost either.
        body = (await poll(server, since="ep-a:2:0,ep-b:2:0")).json()
        assert [e["id"] for e in body["events"]] == [f"ep-b:{n}:0" for n in range(3, 13)]
        for stale in ("ep-a:1:0,ep-b:12:0", "ep-a:2:0,ep-b:1:0", "ep-b:1:0"):
            body = (await poll(server, since=stale)).json()
            assert [(e["type"], e["id"], e["session"]) for e in body["events"]] == [
                ("resync", "ep-a:2:0", "a"), ("resync", "ep-b:12:0", "b")
            ], stale  # fmt: skip
            assert body["lastEventId"] == "ep-a:2:0,ep-b:12:0"
        # b resumes from a2 when unnamed, and b1, b2 came after it: a client of both lost
        # them, a client of a alone nothing; from the start, that one lost a1, a2.
        body = (await poll(server, since="ep-a:2:0")).json()
        assert [(e["type"], e["session"]) for e in body["events"]] == [
            ("resync", "a"),
            ("resync", "b"),
        ]
        body = (await poll(server, since="ep-a:2:0", session="a")).json()
        assert body == {"events": [], "lastEventId": "ep-a:2:0"}
        body = (await poll(server, since="", session="a")).json()
        assert [(e["type"], e["id"]) for e in body["events"]] == [("resync", "ep-a:2:0")]
        async with websocket(server, lastEventId="ep-a:2:0,ep-b:9:0") as ws:
            assert [e["id"] for e in await receive(ws, 3)] == [
                "ep-b:10:0", "ep-b:11:0", "ep-b:12:0"
            ]  # fmt: skip
        sse, _ = await read_sse(server, 2, lastEventId="ep-a:1:0")
        assert [(e["type"], e["session"]) for e in sse] == [("resync", "a"), ("resync", "b")]


async def test_a_stream_that_falls_behind_gets_a_resync_only_if_it_lost_what_it_reads() -> None:
    hub = Hub(log=EventLog(max_entries=10, max_age=3600), sessions={"a", "b"})
    append(hub.log, [("a", i) for i in items("a", 1)])
    async with (
        serving(hub) as server,
        websocket(server) as both,
        websocket(server, session="a") as a_only,
        websocket(server, session="b") as b_only,
    ):
        await until(lambda: hub.log.waiting == 3)  # all three idle at the head
        hub.log.append(items("b", 30), "b")  # one append: 20 of them gone before any send
        resyncs = {"both": await receive(both, 2), "b": await receive(b_only, 1)}
        assert {k: [(e["type"], e["id"]) for e in v] for k, v in resyncs.items()} == {
            "both": [("resync", "ep-a:1:0"), ("resync", "ep-b:30:0")],
            "b": [("resync", "ep-b:30:0")],
        }
        hub.log.append(items("a", 1, start=2), "a")
        for ws in (both, a_only):  # a_only lost nothing of a: no resync, just the news
            assert [e["id"] for e in await receive(ws, 1)] == ["ep-a:2:0"]


# ---- session_deleted --------------------------------------------------------------------------


async def test_a_deleted_session_ends_the_streams_that_named_only_it() -> None:
    hub = Hub()
    append(hub.log, [("sales", i) for i in items("sales", 2)])
    start = "ep-sales:2:0"
    final = {
        "id": "hub:1:m1", "type": "session_deleted", "session": "sales",
        "data": {"sessionId": "sales", "purged": True},
    }  # fmt: skip
    async with serving(hub) as server:
        sales_sse = asyncio.create_task(read_sse(server, 100, lastEventId=start, session="sales"))
        async with (
            websocket(server, lastEventId=start, session="sales") as sales_ws,
            websocket(server, lastEventId=start, session="sales,support") as two_ws,
            websocket(server, token=ANA, lastEventId=start) as anas_ws,
        ):
            hub.log.append(items("sales", 1, start=3), "sales")
            for ws in (sales_ws, two_ws, anas_ws):
                assert [e["id"] for e in await receive(ws, 1)] == ["ep-sales:3:0"]
            await until(lambda: hub.streams.stats.sse == 1)  # the SSE client is in
            hub.delete("sales", "hub:1:m1")
            assert await receive(sales_ws, 1) == [final]
            with pytest.raises(ConnectionClosed):
                await sales_ws.recv()
            assert sales_ws.close_code == 1000
            # A stream that named another session too, or none, goes on.
            for ws in (two_ws, anas_ws):
                assert await receive(ws, 1) == [final]
            hub.log.append(items("support", 1), "support")
            hub.log.append(items("default", 1), "default")
            assert [e["id"] for e in await receive(two_ws, 1)] == ["ep-support:1:0"]
            assert [e["id"] for e in await receive(anas_ws, 1)] == ["ep-default:1:0"]
        envelopes, ended = await sales_sse
        assert ended and [e["id"] for e in envelopes] == ["ep-sales:3:0", "hub:1:m1"]
        # From now on the session is not there, on any stream.
        response = await poll(server, since=start, session="sales")
        assert (response.status_code, response.json()["error"]["code"]) == (
            404, "session_not_found"
        )  # fmt: skip
        assert await refusal(server, session="sales,support") == (4404, "session_not_found")


async def test_a_long_poll_waiting_on_a_session_answers_with_its_deletion() -> None:
    hub = Hub()
    append(hub.log, [("sales", i) for i in items("sales", 2)])
    async with serving(hub) as server:
        waiting = asyncio.create_task(
            poll(server, since="ep-sales:2:0", session="sales", timeout="20")
        )
        await until(lambda: hub.log.waiting)  # the poll is in, waiting for news
        hub.delete("sales", "hub:1:m1")
        answer = (await waiting).json()
        assert [e["type"] for e in answer["events"]] == ["session_deleted"]
        assert answer["lastEventId"] == "hub:1:m1"
