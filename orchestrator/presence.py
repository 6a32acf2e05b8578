"""Our presence on WhatsApp: an agent typing (`composing`, `recording`, `paused`) in a chat, and
the account shown online or not (`available`, `unavailable`), through Baileys'
`sendPresenceUpdate`.

WhatsApp relays a chat state only to whom we are subscribed to (a `<presence type=subscribe>`
per contact, per connection: Baileys keeps no record of it), so the first chat state for a
chat on each WhatsApp connection is preceded by a `presenceSubscribe`. Which chats are
subscribed is learned from the event stream: any new connection (or a restarted bridge)
starts with none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from orchestrator import shapes as s
from orchestrator.api import Api
from orchestrator.calls import Call
from orchestrator.commands import Bridge
from orchestrator.errors import Code, Conflict
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.wire import Envelope, Position

log = logging.getLogger("orchestrator.presence")

ACCOUNT_WIDE: frozenset[s.PresenceState] = frozenset({"available", "unavailable"})


class PresenceSubscriptions:
    """The chats subscribed to on the current WhatsApp connection. A follower consumer: it
    forgets them all when a connection opens or closes, or the bridge restarts."""

    def __init__(self) -> None:
        self._chats: set[str] = set()
        self.generation = 0  # bumped at each reset: a subscribe in flight across one is stale

    def __contains__(self, chat_id: object) -> bool:
        return chat_id in self._chats

    def add(self, chat_id: str, generation: int) -> None:
        """Remember a subscribe sent during `generation` (ignored if a reset came since)."""
        if generation == self.generation:
            self._chats.add(chat_id)

    def reset(self) -> None:
        self._chats.clear()
        self.generation += 1

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> None:
        for envelope in batch:
            if envelope.event == "bridge.started" or (
                envelope.event == "connection.update"
                and isinstance(envelope.data, dict)
                and envelope.data.get("connection") in ("open", "close")
            ):
                self.reset()

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        self.reset()  # a reconnect may be among the lost events


class PresenceApi:
    """`POST /chats/{chatId}/presence`."""

    def __init__(
        self,
        api: Api,
        bridge: Bridge,
        lifecycle: ConnectionLifecycle,
        subscriptions: PresenceSubscriptions,
    ) -> None:
        self.api = api
        self.bridge = bridge
        self.lifecycle = lifecycle
        self.subscriptions = subscriptions

    async def send(self, call: Call[s.PresenceBody]) -> s.PresenceSent:
        chat_id = self.api.chat_id(call.path("chatId"), call.user)
        state = call.body["state"]
        if not self.lifecycle.connected:
            raise Conflict(
                Code.NOT_CONNECTED, f"WhatsApp is not connected (state: {self.lifecycle.state})"
            )
        if state in ACCOUNT_WIDE:
            me = self.lifecycle.me
            # Baileys drops an account-wide presence silently when it knows no name for us.
            if me is not None and not me.get("name"):
                raise Conflict(
                    Code.NO_PUSH_NAME,
                    "WhatsApp has not given this account a name yet; "
                    "Baileys announces no presence without one",
                )
            await self.bridge.send_presence(state, None)
            return {"chatId": chat_id, "state": state, "subscribed": False}
        subscribed = False
        if chat_id not in self.subscriptions:
            generation = self.subscriptions.generation
            await self.bridge.presence_subscribe(chat_id)
            self.subscriptions.add(chat_id, generation)
            subscribed = True
            log.info("subscribed to the presence of %s", chat_id)
        await self.bridge.send_presence(state, chat_id)
        return {"chatId": chat_id, "state": state, "subscribed": subscribed}
