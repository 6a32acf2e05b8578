"""SIGTERM while stream clients are connected (issue 12, defect a): every stream ends at once
(SSE: a `retry:` hint, then the end; WebSocket: close 1012; long-poll: its answer), then the
write-behind flushes, the spawned bridge stops, and the process exits. It used to wait for as
long as an SSE client stayed (more than 10 minutes, measured), so `docker compose stop` killed
it after 10 s and the last flush never ran.

The time to exit with 500 clients is a benchmark figure (`make bench`), not bounded here."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.harness import TOKEN, make_capture, stack

EVENTS = 300
SSE, WEBSOCKETS, POLLS = 20, 20, 10


async def sse_client(base: str, started: asyncio.Event, out: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5, read=120)) as client,
        client.stream("GET", f"{base}/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        lines: list[str] = []
        async for line in response.aiter_lines():
            lines.append(line)
            if line.startswith("retry:"):
                started.set()  # the first one comes at connect
        out["lines"] = lines  # the body ended by itself: the server closed it


async def websocket_client(base: str, out: dict[str, Any]) -> None:
    url = base.replace("http", "ws") + f"/ws?access_token={TOKEN}"
    async with connect(url, open_timeout=5) as ws:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
        out["code"] = ws.close_code


async def poll_client(base: str, last_id: str, out: dict[str, Any]) -> None:
    params = {"since": last_id, "timeout": "60", "access_token": TOKEN}
    async with httpx.AsyncClient(timeout=120) as client:
        response = await client.get(f"{base}/events/poll", params=params)
        out["status"] = response.status_code
        out["body"] = response.json()


def test_sigterm_ends_every_stream_then_flushes_stops_the_bridge_and_exits(
    tmp_path: Path,
) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", EVENTS, chats=10)
    # The bridge's events are applied, and (a 30 s flush interval) not yet all stored.
    with stack(
        tmp_path, capture=capture, spawn_bridge=True,
        orchestrator_env={"ORCH_STORE_FLUSH_INTERVAL": "30"},
    ) as s:  # fmt: skip
        orchestrator = s.orchestrator
        report = orchestrator.bridge_report()
        applied, bridge_pid = report["applied"], report["spawned"]["pid"]
        assert report["store"]["pendingRows"] > 0, report["store"]
        last_id = orchestrator.last_event_id()

        results: dict[str, list[dict[str, Any]]] = {"sse": [], "ws": [], "poll": []}

        async def scenario() -> float:
            base = orchestrator.base_url
            started = [asyncio.Event() for _ in range(SSE)]
            tasks = []
            for event in started:
                out: dict[str, Any] = {}
                results["sse"].append(out)
                tasks.append(asyncio.create_task(sse_client(base, event, out)))
            for _ in range(WEBSOCKETS):
                results["ws"].append(out := {})
                tasks.append(asyncio.create_task(websocket_client(base, out)))
            for _ in range(POLLS):
                results["poll"].append(out := {})
                tasks.append(asyncio.create_task(poll_client(base, last_id, out)))
            async with asyncio.timeout(30):
                await asyncio.gather(*(event.wait() for event in started))
                await wait_clients(base, SSE + WEBSOCKETS)
            sent = time.monotonic()
            orchestrator.signal_group(signal.SIGTERM)
            async with asyncio.timeout(30):  # before the fix: never
                await asyncio.gather(*tasks)
                await asyncio.to_thread(orchestrator.popen.wait)
            return time.monotonic() - sent

        took = asyncio.run(scenario())
        print(f"SIGTERM to exit with {SSE + WEBSOCKETS + POLLS} clients: {took:.2f} s")
        assert orchestrator.popen.returncode in (0, -signal.SIGTERM), orchestrator.log_tail()
        for out in results["sse"]:
            # The stream ends with a reconnection hint after the one given at connect.
            assert [line for line in out["lines"] if line.startswith("retry:")][-2:] == [
                "retry: 2000",
                "retry: 3000",
            ], out["lines"][-5:]
        assert {out["code"] for out in results["ws"]} == {1012}
        assert all(out["status"] == 200 and out["body"]["events"] == [] for out in results["poll"])
        # The write-behind flushed on the way out: the store reached what was applied.
        with sqlite3.connect(s.data / "store.sqlite3") as db:
            stored = db.execute(
                "SELECT epoch, seq FROM wa_sync_state WHERE id = 'bridge'"
            ).fetchone()
        assert stored == (applied["epoch"], applied["seq"])
        # The spawned bridge stopped with it (the orchestrator waited for it to exit).
        assert _exited(bridge_pid)
        assert "Finished server process" in orchestrator.log_tail(200)


async def wait_clients(base: str, streams: int) -> None:
    """Until the orchestrator counts every SSE and WebSocket client (from /metrics)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            text = (await client.get(f"{base}/metrics", headers=headers)).text
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("wa_stream_clients{")
            )
            if counted >= streams:
                return
            await asyncio.sleep(0.05)


def _exited(pid: int) -> bool:
    """Gone, or a zombie not yet reaped (it has exited either way)."""
    with contextlib.suppress(FileNotFoundError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    return True
