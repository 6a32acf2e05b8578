"""The orchestrator in this process, for route tests that need no other process: the real app
and runtime (SQLite store in a temporary directory), the in-memory bridge behind the transport
protocols, and httpx calling the app through its ASGI transport.

    async with served(tmp_path) as s:
        s.bridge.publish("chats.upsert", [...])
        await s.applied()
        chat = (await s.http.get("/chats/...")).json()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from orchestrator.config import Settings
from orchestrator.rules import OnlineAgents
from orchestrator.runtime import Runtime
from orchestrator.transport.memory import CommandHandler, MemoryBridge
from tests.harness import TOKEN

BASE_URL = "http://app"


@dataclass
class Served:
    runtime: Runtime
    bridge: MemoryBridge
    http: httpx.AsyncClient
    """A client with the API token."""
    transport: httpx.ASGITransport

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """Another client of the same app: `token` as its bearer, or no credential at all."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(transport=self.transport, base_url=BASE_URL, headers=headers)

    async def applied(self, timeout: float = 10.0) -> None:
        """Until the orchestrator has applied everything the bridge published."""
        seq = len(self.bridge.journal)
        async with asyncio.timeout(timeout):
            while True:
                position = self.runtime.default.follower.applied
                if seq == 0 or (position is not None and position.seq >= seq):
                    return
                await asyncio.sleep(0.005)

    async def events(self, since: str) -> tuple[list[dict[str, Any]], str]:
        """What the stream holds after `since` (a long-poll that does not wait), and its id."""
        body = (await self.http.get("/events/poll", params={"since": since, "timeout": 0})).json()
        return body["events"], body["lastEventId"]

    def continue_journal(self, journal: list[dict[str, Any]]) -> None:
        """A real bridge's journal outlives the orchestrator: the new in-memory bridge gets the
        old one's events back (seqs the store's position already covers), so new ones follow."""
        for envelope in journal:
            self.bridge.publish(envelope["event"], envelope["data"])

    def publish_capture(self, capture: Path) -> None:
        for line in capture.read_text().splitlines():
            record = json.loads(line)
            self.bridge.publish(record["event"], record["data"])


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path,
    handler: CommandHandler | None = None,
    epoch: str = "memory",
    online_agents: OnlineAgents | None = None,
    **settings: Any,
) -> AsyncIterator[Served]:
    """`epoch`: the bridge's; a restart test serving `tmp_path` again gives another, as a
    restarted bridge has (the same epoch would make its new events look applied already).
    `online_agents`: who is online to take chats (the runtime's parameter)."""
    bridge = MemoryBridge(handler, epoch)
    config = Settings(data_dir=tmp_path, **{"startup_timeout": 5.0, **settings})
    runtime = Runtime(config, TOKEN, link=bridge, online_agents=online_agents)
    transport = httpx.ASGITransport(app=runtime.app())
    async with (
        runtime.running(),
        httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http,
    ):
        yield Served(runtime, bridge, http, transport)
