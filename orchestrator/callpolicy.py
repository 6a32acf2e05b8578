"""What the orchestrator does about incoming WhatsApp calls: count them, and with
ORCH_REJECT_CALLS decline each as it rings, then send ORCH_CALL_REJECT_MESSAGE to the caller
through the paced send queue (the path of POST /send).

A follower consumer beside the pipeline: `apply` only looks at `call` events and starts a
task per call to decline; the tasks do the I/O. The call's message and its outcome are the
state's business (the bridge's `bridge.call_rejected` makes it "rejected").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.commands import Bridge, new_message_id
from orchestrator.domain import CallSeen
from orchestrator.errors import CommandError, TransportError
from orchestrator.normalize import normalize
from orchestrator.pacing import Pacer
from orchestrator.wire import Envelope, Position

log = logging.getLogger("orchestrator.callpolicy")

RING_SECONDS = 60
"""How long WhatsApp lets a call ring: an offer older than this (replayed after a restart) has
ended, and declining it would only send the caller a message about a call long over."""


class CallPolicy:
    def __init__(
        self,
        bridge: Bridge,
        pacer: Pacer,
        *,
        reject: bool,
        message: str | None,
        resolve: Callable[[str], str] = lambda jid: jid,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bridge = bridge
        self._pacer = pacer
        self.reject = reject
        self.message = message
        self._resolve = resolve  # a caller's canonical chat id (a LID's phone jid, when known)
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.seen = 0
        self.rejected = 0
        self.reject_failures = 0
        self.messages = 0
        self.message_failures = 0

    # ---- the follower's Consumer --------------------------------------------------------

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> None:
        for envelope in batch:
            if envelope.event != "call":
                continue
            # normalize never raises: what it cannot read the pipeline counts as unreadable.
            for call in normalize(envelope.event, envelope.data):
                if not isinstance(call, CallSeen):
                    continue
                if call.status != "offer" or call.direction != "incoming":
                    continue
                self.seen += 1
                if self.reject and self._still_ringing(call, envelope):
                    self._start(call)

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        return None

    def _still_ringing(self, call: CallSeen, envelope: Envelope) -> bool:
        # An offer delivered while we were offline, or published long ago (a replay after a
        # restart), is a call that ended: declining it would only message the caller late.
        return not call.offline and self._clock() - envelope.ts / 1000 < RING_SECONDS

    def _start(self, call: CallSeen) -> None:
        task = asyncio.get_running_loop().create_task(self._decline(call), name="call-reject")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the I/O ------------------------------------------------------------------------

    async def _decline(self, call: CallSeen) -> None:
        try:
            await self._bridge.reject_call(call.id, call.caller)
        except (CommandError, TransportError) as exc:
            self.reject_failures += 1
            log.warning("rejecting call %s from %s failed: %s", call.id, call.caller, exc)
            return
        self.rejected += 1
        log.info("rejected call %s from %s", call.id, call.caller)
        if self.message is not None:
            await self._tell(call)

    async def _tell(self, call: CallSeen) -> None:
        """The reject message, paced like POST /send, to the caller's own chat (also for a
        group call: it is the caller who is told)."""
        chat_id = self._resolve(call.caller_alt or call.caller)
        if not self._pacer.admit():
            self.message_failures += 1
            log.warning("no reject message for call %s: the send queue is full", call.id)
            return
        await self._pacer.acquire()
        message_id = new_message_id()
        try:
            await self._bridge.send_message(
                chat_id, {"text": self.message}, {"messageId": message_id}
            )
        except (CommandError, TransportError) as exc:
            # The bridge publishes bridge.send_failed: the message shows as failed in the chat.
            self.message_failures += 1
            log.warning("reject message %s to %s failed: %s", message_id, chat_id, exc)
            return
        self.messages += 1
        log.info("sent reject message %s to %s for call %s", message_id, chat_id, call.id)

    async def drain(self) -> None:
        """Until the declines under way are done."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel the declines under way (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
