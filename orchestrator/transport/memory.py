"""An in-process bridge behind the transport protocols, for tests that need no processes.

What a test publishes becomes an envelope of this bridge's epoch, with the next seq, kept in
a journal (so `replay` works as the real bridge's does) and delivered to the event source.
Commands other than `replay` go to `handler(method, params)`, as httpx's MockTransport hands a
request to its handler: it returns the result or raises CommandError. Without a handler every
command is refused with `replay_mode`, as a replaying bridge refuses WhatsApp's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from orchestrator.errors import CommandError
from orchestrator.shapes import TransportReport

CommandHandler = Callable[[str, Any], Any]


class MemoryBridge:
    def __init__(self, handler: CommandHandler | None = None, epoch: str = "memory") -> None:
        self.epoch = epoch
        self.journal: list[dict[str, Any]] = []
        self._handler = handler
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

    # ---- the test's side -----------------------------------------------------------------

    def publish(self, event: str, data: Any) -> dict[str, Any]:
        """Send one raw Baileys event (wire-encoded `data`, as in a capture file)."""
        envelope = {
            "v": 1,
            "epoch": self.epoch,
            "seq": len(self.journal) + 1,
            "ts": int(time.time() * 1000),
            "event": event,
            "data": data,
        }
        self.journal.append(envelope)
        self._queue.put_nowait(orjson.dumps(envelope))
        return envelope

    # ---- BridgeLink ----------------------------------------------------------------------

    @property
    def events(self) -> MemoryBridge:
        return self

    @property
    def commands(self) -> MemoryBridge:
        return self

    def report(self) -> TransportReport:
        return {
            "kind": "memory",
            "connected": None,
            "stream": None,
            "lastStreamSeq": None,
            "fenced": None,
        }

    def close(self) -> None:
        pass

    # ---- EventSource ---------------------------------------------------------------------

    async def recv_batch(self, max_items: int) -> list[bytes]:
        batch = [await self._queue.get()]
        while len(batch) < max_items and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    # ---- CommandChannel ------------------------------------------------------------------

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        if method == "replay":
            return self._replay(params)
        if self._handler is None:
            raise CommandError(method, "replay_mode", "the in-memory bridge has no WhatsApp")
        return self._handler(method, params)

    async def call_idempotent(self, method: str, params: Any = None) -> Any:
        return await self.call(method, params)

    def _replay(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("epoch") not in (None, self.epoch):
            first = self.journal[0] if self.journal else None
            oldest = {"epoch": self.epoch, "seq": first["seq"]} if first else None
            raise CommandError("replay", "position_gone", "another epoch", {"oldest": oldest})
        start = params["seq"] if params.get("epoch") == self.epoch else 0
        until = params.get("until")
        end = until["seq"] - 1 if until and until.get("epoch") == self.epoch else len(self.journal)
        page = self.journal[start : min(end, start + params["limit"])]
        return {"events": page, "more": start + len(page) < end}
