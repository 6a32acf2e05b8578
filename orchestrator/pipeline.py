"""The follower's main consumer: normalize each event, apply it to the state, log the changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from orchestrator import domain as d
from orchestrator.eventlog import Entry, EventLog
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.shapes import ConnectionStatus
from orchestrator.state import INTERNAL_CHANGES, Change, State
from orchestrator.views import Views
from orchestrator.wire import Envelope, Position

log = logging.getLogger("orchestrator.pipeline")

Normalizer = Callable[[str, Any], list[d.Fact]]
Recorder = Callable[[list[Change], Position, str | None, Sequence[Entry]], None]
"""The write-behind's record: changes, the bridge position they bring the store to, the
stream id this session had reached at that position, and the stream log entries just logged."""

Item = tuple[str, str, str | None, Any]  # a stream entry to log: id, type, chat id, data
HISTORY_EVENT = "messaging-history.set"
# Messages per slice of a history sync: its chats and contacts come with the first, and the
# API and the streams answer between two (2,000 messages: about 50 ms of the event loop).
HISTORY_SLICE = 2000
PROGRESS_FIELDS = ("progress", "syncType", "isLatest")
CustomerWrote = Callable[[str, d.Message], None]
"""(chat id, message): a customer's new message, not ours and not from a history sync."""


def nobody_listens(chat_id: str, message: d.Message) -> None:
    pass


class Pipeline:
    def __init__(
        self,
        normalize: Normalizer,
        state: State,
        event_log: EventLog,
        lifecycle: ConnectionLifecycle,
        record: Recorder,
        views: Views,
        *,
        session: str = "default",
        customer_wrote: CustomerWrote = nobody_listens,
    ) -> None:
        # The helpdesk's rules on a customer's message (reopen, ...): called once the message
        # is in the state, on the streams and recorded, so what they announce comes after it.
        # It must not block (it runs on the event path).
        self._customer_wrote = customer_wrote
        self._session = session  # whose bridge this follows: every entry it logs is that session's
        self._views = views
        self._record = record  # the write-behind: it must not block
        self._normalize = normalize
        self._state = state
        self._log = event_log
        self._lifecycle = lifecycle
        self._last_connection: ConnectionStatus | None = None
        self._resync_reason: str | None = None

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> Awaitable[None] | None:
        """Applied now; a batch holding a large history sync, in slices (the follower awaits
        them): its chats are served while the rest of its messages go in."""
        if any(_is_large_history(e) for e in batch):
            return self._apply_in_slices(batch)
        self._apply_now(batch)
        return None

    async def _apply_in_slices(self, batch: Sequence[Envelope]) -> None:
        for envelope in batch:
            if not _is_large_history(envelope):
                self._apply_now([envelope])
                continue
            prefix = f"{envelope.epoch}:{envelope.seq}"
            parts = history_parts(envelope.data, HISTORY_SLICE)
            items: list[Item] = []
            persisted: list[Change] = []
            entries: list[Entry] = []
            k = 0
            for number, part in enumerate(parts):
                if number:
                    await asyncio.sleep(0)  # the API and the streams, between two slices
                changes = self._state.apply(self._normalize(envelope.event, part))
                persisted += changes
                k = self._stream(prefix, changes, items, k)
                entries += self._log.append(items, self._session)
                items.clear()
            # Recorded once whole: the store's position never says a half-applied event was
            # applied, and the write-behind does not compete with the slices.
            self._record(
                persisted, envelope.position, self._log.last_ids.get(self._session), entries
            )

    def _apply_now(self, batch: Sequence[Envelope]) -> None:
        items: list[Item] = []
        persisted: list[Change] = []
        for envelope in batch:
            changes = self._state.apply(self._normalize(envelope.event, envelope.data))
            persisted += changes
            if envelope.event == "connection.update":
                changes.extend(self._connection_changes(envelope.data))
            self._stream(f"{envelope.epoch}:{envelope.seq}", changes, items)
        entries = self._log.append(items, self._session)
        if batch:
            last_id = self._log.last_ids.get(self._session)
            self._record(persisted, batch[-1].position, last_id, entries)
        for change in persisted:
            # new_message only: history comes as history_message, edits and acks as updates.
            message = change.data
            if (
                change.type == "new_message"
                and isinstance(message, d.Message)
                and not message.from_me
                and change.chat_id is not None
            ):
                self._customer_wrote(change.chat_id, message)

    def _stream(self, prefix: str, changes: list[Change], items: list[Item], first: int = 0) -> int:
        """Add to `items` the stream entries for one event's changes, ids `prefix:k` from
        `first` (a slice of a history sync goes on after the earlier ones); the next k."""
        if self._resync_reason is not None:
            items.append((f"{prefix}:r", "resync", None, {"reason": self._resync_reason}))
            self._resync_reason = None
        k = first
        for change in changes:
            if change.type not in INTERNAL_CHANGES:
                items.append(
                    (f"{prefix}:{k}", change.type, change.chat_id, self._views.change(change))
                )
                k += 1
        return k

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        # Events were lost between the bridge and us: the state may lack them, so every client
        # must refetch its snapshots. The marker goes out with the next event.
        self._resync_reason = "bridge_events_lost"

    def _connection_changes(self, update: Any) -> list[Change]:
        changes = []
        connection = self._lifecycle.connection_status()
        if connection != self._last_connection:
            self._last_connection = connection
            changes.append(Change("connection_status", None, connection))
        if isinstance(update, dict) and isinstance(update.get("qr"), str):
            changes.append(Change("qr", None, {"qr": update["qr"]}))
        return changes


def _is_large_history(envelope: Envelope) -> bool:
    if envelope.event != HISTORY_EVENT or not isinstance(envelope.data, dict):
        return False
    messages = envelope.data.get("messages")
    return isinstance(messages, list) and len(messages) > HISTORY_SLICE


def history_parts(data: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """A history sync's payload as several, in the order its facts come: the first with its
    aliases, chats, contacts and first `size` messages; then `size` messages each; the last
    with the sync's progress (which comes after every message)."""
    messages: list[Any] = data["messages"]
    progress: dict[str, Any] = {k: data[k] for k in PROGRESS_FIELDS if k in data}
    rest = {k: v for k, v in data.items() if k != "messages" and k not in progress}
    parts: list[dict[str, Any]] = [
        {"messages": messages[i : i + size]} for i in range(0, len(messages), size)
    ]
    parts[0] |= rest
    parts[-1] |= progress
    return parts
