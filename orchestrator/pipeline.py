"""The follower's main consumer: normalize each event, apply it to the state, log the changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
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
Recorder = Callable[[list[Change], Position, str | None, list[Entry]], None]
"""The write-behind's record: changes, the bridge position they bring the store to, the
stream id this session had reached at that position, and the stream log entries just logged."""


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
        customer_listeners: Sequence[Callable[[d.Message], None]] = (),
    ) -> None:
        # Told of each new message of a customer (not ours, not from a history sync), in
        # order, once it is in the state; they must not block (the rules, rules.py).
        self._customer_listeners = customer_listeners
        self._session = session  # whose bridge this follows: every entry it logs is that session's
        self._views = views
        self._record = record  # the write-behind: it must not block
        self._normalize = normalize
        self._state = state
        self._log = event_log
        self._lifecycle = lifecycle
        self._last_connection: ConnectionStatus | None = None
        self._resync_reason: str | None = None

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> None:
        items: list[tuple[str, str, str | None, Any]] = []
        persisted: list[Change] = []
        for envelope in batch:
            changes = self._state.apply(self._normalize(envelope.event, envelope.data))
            persisted += changes
            if self._customer_listeners:
                self._tell_customer_messages(changes)
            if envelope.event == "connection.update":
                changes.extend(self._connection_changes(envelope.data))
            prefix = f"{envelope.epoch}:{envelope.seq}"
            if self._resync_reason is not None:
                items.append((f"{prefix}:r", "resync", None, {"reason": self._resync_reason}))
                self._resync_reason = None
            streamed = [c for c in changes if c.type not in INTERNAL_CHANGES]
            for k, change in enumerate(streamed):
                items.append(
                    (
                        f"{prefix}:{k}",
                        change.type,
                        change.chat_id,
                        self._views.change(change),
                    )
                )
        entries = self._log.append(items, self._session)
        if batch:
            last_id = self._log.last_ids.get(self._session)
            self._record(persisted, batch[-1].position, last_id, entries)

    def _tell_customer_messages(self, changes: list[Change]) -> None:
        for change in changes:
            if change.type == "new_message" and not change.data.from_me:
                for listener in self._customer_listeners:
                    listener(change.data)

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
