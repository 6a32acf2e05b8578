"""Write-behind persistence: the event path records what changed and never waits; a
background task writes it to the store in batches.

Changes are coalesced (a message acked three times is written once, as it is now). When the
store fails, the batch is kept and retried with backoff; past `max_pending` rows it spills to a
local file (JSON Lines, one batch a line), which is drained, oldest first, when the store is
back. Shutdown flushes, or spills what it cannot write.

With the stream log stored (`StoredLog`), each batch also carries the session's new stream log
entries, up to the batch's position, and prunes the stored log to the retention. With a shared
store and several replicas, `may_write` (a writer lease) says whether this one writes: while it
says no, nothing is written and changes keep coalescing in memory; once it says yes, everything
pending goes in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from orchestrator import domain as d
from orchestrator.errors import StoreError
from orchestrator.eventlog import Entry
from orchestrator.lifecycle import backoff_delay
from orchestrator.memory import LARGE_BATCH, release_free_memory
from orchestrator.state import Change, State
from orchestrator.store import Retention, Row, Snapshot, Store, StoredEntry, WriteBatch
from orchestrator.store.rows import chat_row, contact_row, label_row, message_row
from orchestrator.wire import Position

log = logging.getLogger("orchestrator.writebehind")

ENCODE_SLICE = 2000  # messages turned into rows between two passes of the event loop


@dataclass(frozen=True)
class StreamMark:
    """The stored position and this session's last stream id at it. After a restart the
    stream log holds only what follows that position, so a client whose last id is exactly
    this one has missed nothing: it resumes from the log's first entry instead of a resync
    (a clean stop flushes the store right up to what every client has seen)."""

    position: Position
    stream_id: str

    def encode(self) -> bytes:
        p = self.position
        return orjson.dumps(
            {"epoch": p.epoch, "seq": p.seq, "stream": p.stream, "streamId": self.stream_id}
        )

    @classmethod
    def read(cls, path: Path) -> StreamMark | None:
        try:
            data = orjson.loads(path.read_bytes())
            stream = data.get("stream")  # absent in marks from before JetStream
            position = Position(
                str(data["epoch"]), int(data["seq"]), None if stream is None else int(stream)
            )
            return cls(position, str(data["streamId"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none yet, or unreadable: its clients get a resync, as before


K_co = TypeVar("K_co", covariant=True)


class OutboxItem(Protocol[K_co]):
    """A webhook outbox event or delivery (webhook_delivery.py): its key, and its row now."""

    @property
    def key(self) -> K_co: ...

    def row(self) -> Row: ...


@dataclass(frozen=True)
class StoredLog:
    """Keep the session's stream log in the store, bounded as the event log is."""

    max_entries: int
    max_age: float


@dataclass
class WriteBehindStats:
    written_rows: int = 0
    batches: int = 0
    failures: int = 0
    spilled_batches: int = 0
    store_up: bool = True
    last_error: str | None = None


class WriteBehind:
    def __init__(
        self,
        store: Store,
        state: State,
        *,
        spill_path: Path,
        mark_path: Path | None = None,
        max_pending: int,
        flush_interval: float,
        retry_max: float = 30.0,
        stored_log: StoredLog | None = None,
        may_write: Callable[[], bool] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.state = state
        self.spill_path = spill_path
        # Where the stored position and the stream id at it are noted after each write: a
        # restart serves clients at exactly that id from its first event (see StreamMark).
        self.mark_path = mark_path
        self.max_pending = max_pending
        self.flush_interval = flush_interval
        self.retry_max = retry_max
        self.stored_log = stored_log
        # None: always. A writer lease's `held`: checked right before each write.
        self.may_write = may_write or (lambda: True)
        self._wall_clock = wall_clock
        self.stats = WriteBehindStats()
        self._chats: set[str] = set()
        self._messages: dict[tuple[str, str], d.Message] = {}
        # Messages being turned into rows a slice at a time (see _encode_messages), and the rows.
        self._encoding: dict[tuple[str, str], d.Message] = {}
        self._message_rows: dict[tuple[str, str], Row] = {}
        self._contacts: set[str] = set()
        self._labels: set[str] = set()
        self._aliases: dict[str, str] = {}
        self._renamed: dict[str, str] = {}
        self._deleted: set[str] = set()
        self._position: Position | None = None
        self._stream_id: str | None = None
        # Stream log entries not stored yet. One more than the retention at most: when older
        # ones had to go (a long outage, or a replica without the writer lease), the oldest
        # kept is the evicted entry before what follows, and pruning drops what precedes it.
        self._entries: deque[Entry] = deque(maxlen=stored_log.max_entries + 1 if stored_log else 0)
        self._last_position: Position | None = None  # entries are stored with a position
        self._last_stream_id: str | None = None
        self._last_ord = 0  # ords increase in log order, across restarts and replicas
        # The store's log, if any, is from before a time it was not kept (the setting was off):
        # the first entries stored from now on replace it, or it would resume across the gap.
        self._stale_log = False
        # The webhook outbox (webhook_delivery.py): events and the latest state of each
        # delivery, stored with the batch that brings the position past their events.
        self._webhook_events: dict[str, OutboxItem[str]] = {}
        self._webhook_deliveries: dict[tuple[str, str], OutboxItem[tuple[str, str]]] = {}
        self._failed: WriteBatch | None = None
        self._oldest_change: float | None = None
        # Flushes begun, and the last one that left nothing behind (see `written`).
        self._flushes_begun = 0
        self._written_through = 0
        self._flush_done = asyncio.Event()
        self._wake = asyncio.Event()  # flush now, not after the interval
        self._attempt = 0
        self._rng = random.Random()

    def loaded(self, snapshot: Snapshot) -> None:
        """What the store held at start: new entries' ords follow the stored ones'."""
        self._last_ord = max(self._last_ord, snapshot.stream_ord or 0)
        self._stale_log = snapshot.position is not None and snapshot.stream_ord is None
        self._last_position = snapshot.position
        self._last_stream_id = snapshot.stream_id

    # ---- the event path: record only --------------------------------------------------

    def record(
        self,
        changes: list[Change],
        position: Position,
        stream_id: str | None = None,
        entries: Sequence[Entry] = (),
    ) -> None:
        for change in changes:
            data = change.data
            if isinstance(data, d.Message):
                self._messages[(data.chat_id, data.id)] = data
                self._chats.add(data.chat_id)
            elif change.type in ("new_chat", "chat_update"):
                self._chats.add(change.chat_id or "")
            elif change.type == "message_ack":
                chat = self.state.chats.get(data["chatId"])
                message = chat.get(data["messageId"]) if chat else None
                if message is not None:
                    self._messages[(message.chat_id, message.id)] = message
            elif change.type == "contact_update":
                self._contacts.add(change.chat_id or "")
            elif change.type == "chat_deleted":
                self._chat_deleted(data["id"], data.get("mergedInto"))
            elif change.type == "label_update":
                self._labels.add(data.id)
        self._aliases.update(self.state.take_new_aliases())
        self._position = self._last_position = position
        self._stream_id = self._last_stream_id = stream_id
        self.log_entries(entries)
        self._changed()

    def log_entries(self, entries: Sequence[Entry]) -> None:
        """Stream log entries to store with the position they follow (a helpdesk event's come
        between two bridge events; the pipeline's with `record`)."""
        if self.stored_log is None or not entries:
            return
        self._entries.extend(entries)
        self._last_stream_id = entries[-1].id
        self._changed()

    def webhook_event(self, event: OutboxItem[str]) -> None:
        self._webhook_events[event.key] = event
        self._changed()

    def webhook_delivery(self, delivery: OutboxItem[tuple[str, str]]) -> None:
        self._webhook_deliveries[delivery.key] = delivery  # its row as it is at the flush
        self._changed()

    def _changed(self) -> None:
        """Something waits to be stored: the lag counts from the oldest such change."""
        if self._oldest_change is None:
            self._oldest_change = time.monotonic()

    def _chat_deleted(self, chat_id: str, merged_into: str | None) -> None:
        self._chats.discard(chat_id)
        unstored: list[str] = []
        pending_rows: list[dict[tuple[str, str], Any]] = [
            self._messages, self._encoding, self._message_rows,
        ]  # fmt: skip
        if self._failed is not None:
            pending_rows.append(self._failed.messages)
        for pending in pending_rows:
            for key in [k for k in pending if k[0] == chat_id]:
                del pending[key]
                unstored.append(key[1])
        if not merged_into:
            self._deleted.add(chat_id)
            return
        # The store renames what it holds; what it does not hold yet goes in under the chat the
        # messages now live in (dropping it would lose a new contact's first messages, which
        # arrive under its LID moments before the mapping that merges the chat).
        self._renamed[chat_id] = merged_into
        target = self.state.chats.get(merged_into)
        for message_id in unstored:
            message = target.get(message_id) if target is not None else None
            if message is not None:
                self._messages[(merged_into, message_id)] = message

    @property
    def pending(self) -> int:
        failed = len(self._failed) if self._failed else 0
        messages = len(self._messages) + len(self._encoding) + len(self._message_rows)
        rows = len(self._chats) + messages + len(self._contacts) + len(self._labels)
        webhooks = len(self._webhook_events) + len(self._webhook_deliveries)
        return failed + rows + len(self._entries) + webhooks

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest change not yet in the store."""
        return 0.0 if self._oldest_change is None else time.monotonic() - self._oldest_change

    # ---- the background task ------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._delay()):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    def _delay(self) -> float:
        if self.stats.store_up:
            return self.flush_interval
        return self.flush_interval + backoff_delay(self._attempt, 0.5, self.retry_max, self._rng)

    async def written(self, timeout: float) -> bool:
        """Until what is pending now is in the store (a flush begun after this call left
        nothing behind), `timeout` seconds at most. False when nothing was pending, when
        another replica is the writer, or when it was not written in time (the store down)."""
        if not self.pending or not self.may_write():
            return False
        wanted = self._flushes_begun + 1
        if self.stats.store_up:  # a store coming back keeps its backoff
            self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                while self._written_through < wanted:
                    await self._flush_done.wait()
        except TimeoutError:
            return False
        return True

    async def flush(self) -> bool:
        """Write everything pending (spilled batches first). True when nothing is left; False
        too while `may_write` says no (everything stays pending)."""
        self._flushes_begun += 1
        number = self._flushes_begun
        if not await self._flush():
            return False
        self._written_through = number
        self._flush_done.set()
        self._flush_done = asyncio.Event()
        return True

    async def _flush(self) -> bool:
        if not self.may_write():
            return False
        if not await self._drain_spill():
            self._take_into_failed()
            self._spill_if_too_big()
            return False
        await self._encode_messages()
        batch = self._take_into_failed()
        if batch is None:
            return True
        if not self.may_write():  # lost while encoding: the batch waits, merged with what follows
            return False
        try:
            await self.store.write(batch)
        except StoreError as exc:
            self._store_failed(exc)
            self._spill_if_too_big()
            return False
        self._failed = None
        self._mark(batch)
        rows = len(batch)
        del batch
        if rows >= LARGE_BATCH:  # a history sync: its parse tree and rows are garbage now
            await asyncio.to_thread(release_free_memory)
        self._store_back(rows)  # counted written (wa_store_written_rows) with the memory back
        return True

    def _mark(self, batch: WriteBatch) -> None:
        if self.mark_path is None or batch.position is None or batch.stream_id is None:
            return
        mark = StreamMark(batch.position, batch.stream_id)
        try:
            _rewrite(self.mark_path, [mark.encode()])
        except OSError as exc:  # a restart then resyncs that id's clients: nothing is lost
            log.warning("cannot note the stream position in %s: %s", self.mark_path, exc)

    async def close(self, timeout: float) -> None:
        """Flush at shutdown; what cannot be written in time goes to the spill file. Without
        the writer lease nothing is kept: the holder writes it, and a spill file drained later
        would put back rows older than the holder's."""
        if not self.may_write():
            if self.pending:
                log.info("not the store's writer: %d pending rows left to it", self.pending)
            return
        try:
            async with asyncio.timeout(timeout):
                if await self.flush():
                    return
        except TimeoutError:
            pass
        self._take_into_failed()
        if self._failed is not None:
            self._spill(self._failed)
            self._failed = None

    async def _encode_messages(self) -> None:
        """Turn pending messages into rows a slice at a time, letting the event loop run in
        between: a history sync's 100,000 rows must not hold up the API for half a second."""
        self._encoding, self._messages = self._messages, {}
        try:
            for n, (key, message) in enumerate(list(self._encoding.items()), 1):
                if key in self._encoding:  # not dropped meanwhile with its chat
                    self._message_rows[key] = message_row(message)
                    del self._encoding[key]
                if n % ENCODE_SLICE == 0:
                    await asyncio.sleep(0)
        finally:  # cancelled (shutdown): what was not encoded is still pending
            for key, message in self._encoding.items():
                self._messages.setdefault(key, message)
            self._encoding = {}

    def _take_into_failed(self) -> WriteBatch | None:
        """Merge what changed since into the batch that failed (newer rows win)."""
        if not (self._chats or self._messages or self._message_rows or self._contacts
                or self._aliases or self._renamed or self._deleted or self._position
                or self._labels or self._entries or self._webhook_events
                or self._webhook_deliveries):  # fmt: skip
            return self._failed
        batch = self._failed or WriteBatch()
        for chat_id in self._chats:
            chat = self.state.chats.get(chat_id)
            if chat is not None:
                batch.chats[chat_id] = chat_row(chat)
        batch.messages.update(self._message_rows)
        for key, message in self._messages.items():  # newer than the encoded rows
            batch.messages[key] = message_row(message)
        for contact_id in self._contacts:
            contact = self.state.contacts.get(contact_id)
            if contact is not None:
                batch.contacts[contact_id] = contact_row(contact)
        for label_id in self._labels:
            batch.labels[label_id] = label_row(self.state.labels[label_id])
        self._labels = set()
        batch.aliases.update(self._aliases)
        for old, new in self._renamed.items():
            batch.chats.pop(old, None)
            batch.renamed_chats[old] = new
        for chat_id in self._deleted:
            batch.chats.pop(chat_id, None)
            batch.deleted_chats.add(chat_id)
        if self._position is not None:
            batch.position, batch.stream_id = self._position, self._stream_id
        for event_id, event in self._webhook_events.items():
            batch.webhook_events[event_id] = event.row()
        for pair, delivery in self._webhook_deliveries.items():
            batch.webhook_deliveries[pair] = delivery.row()
        self._webhook_events, self._webhook_deliveries = {}, {}
        if self.stored_log is not None:
            self._take_entries(batch, self.stored_log)
        self._chats, self._messages, self._contacts = set(), {}, set()
        self._message_rows = {}
        self._aliases, self._renamed, self._deleted = {}, {}, set()
        self._failed = batch
        return batch

    def _take_entries(self, batch: WriteBatch, stored_log: StoredLog) -> None:
        """The pending entries into the batch, each with its ord: increasing, and from the
        wall clock (microseconds), so that a replica taking the writer lease over orders its
        entries after its predecessor's without reading them first."""
        if self._entries and self._last_position is not None:
            now, monotonic = self._wall_clock(), time.monotonic()  # the event log's clock
            floor = batch.retention.floor if batch.retention else None  # a failed batch's
            if self._stale_log:
                floor, self._stale_log = max(int(now * 1_000_000), self._last_ord + 1), False
            last = self._last_ord
            for entry in self._entries:
                last = max(int(now * 1_000_000), last + 1)
                logged = now - (monotonic - entry.at)
                batch.entries.append(
                    StoredEntry(last, entry.id, entry.type, entry.chat_id, entry.json, logged)
                )
            self._last_ord = last
            # Entries count only up to the position stored with them.
            batch.position, batch.stream_id = self._last_position, self._last_stream_id
            horizon = int((now - stored_log.max_age) * 1_000_000)
            batch.retention = Retention(stored_log.max_entries, horizon, floor)
        self._entries.clear()
        if batch.position is not None:
            batch.stream_ord = self._last_ord

    def _store_failed(self, exc: StoreError) -> None:
        if self.stats.store_up:
            log.error("store write failed, the real-time path goes on; retrying: %s", exc)
        self.stats.store_up = False
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        self._attempt += 1

    def _store_back(self, rows: int) -> None:
        if not self.stats.store_up:
            log.warning("store is back; %d rows written", rows)
        self.stats.store_up = True
        self.stats.last_error = None
        self.stats.written_rows += rows
        self.stats.batches += 1
        self._attempt = 0
        self._oldest_change = None

    # ---- spilling -----------------------------------------------------------------------

    def _spill_if_too_big(self) -> None:
        if self._failed is not None and len(self._failed) > self.max_pending:
            self._spill(self._failed)
            self._failed = None

    def _spill(self, batch: WriteBatch) -> None:
        line = orjson.dumps(_encode_batch(batch)) + b"\n"
        try:
            self.spill_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.spill_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            # Nowhere to put it: keep it in RAM and keep retrying rather than drop it.
            log.error("cannot spill %d pending rows to %s: %s", len(batch), self.spill_path, exc)
            self._failed = batch
            return
        self.stats.spilled_batches += 1
        log.warning("store unavailable: spilled %d rows to %s", len(batch), self.spill_path)

    async def _drain_spill(self) -> bool:
        """Write spilled batches, oldest first. False if the store refused one, or this
        replica may no longer write."""
        if not self.spill_path.exists():
            return True
        lines = [line for line in self.spill_path.read_bytes().splitlines() if line.strip()]
        for index, line in enumerate(lines):
            try:
                batch = _decode_batch(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                log.error(
                    "unreadable spilled batch %d in %s skipped: %s", index, self.spill_path, exc
                )
                continue
            if not self.may_write():  # the lease was lost meanwhile
                _rewrite(self.spill_path, lines[index:])
                return False
            try:
                await self.store.write(batch)
            except StoreError as exc:
                self._store_failed(exc)
                _rewrite(self.spill_path, lines[index:])
                return False
            self._store_back(len(batch))
        self.spill_path.unlink()
        return True


def _rewrite(path: Path, lines: list[bytes]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(line + b"\n" for line in lines))
    os.replace(tmp, path)


def _encode_batch(batch: WriteBatch) -> dict[str, Any]:
    return {
        "chats": list(batch.chats.values()),
        "messages": list(batch.messages.values()),
        "contacts": list(batch.contacts.values()),
        "aliases": batch.aliases,
        "renamed": batch.renamed_chats,
        "deleted": sorted(batch.deleted_chats),
        "position": None
        if batch.position is None
        else [batch.position.epoch, batch.position.seq, batch.position.stream],
        "labels": list(batch.labels.values()),
        "streamId": batch.stream_id,
        "entries": [[e.ord, e.id, e.type, e.chat_id, e.json.decode(), e.at] for e in batch.entries],
        "streamOrd": batch.stream_ord,
        "retention": None
        if batch.retention is None
        else [batch.retention.max_entries, batch.retention.horizon, batch.retention.floor],
        "webhookEvents": list(batch.webhook_events.values()),
        "webhookDeliveries": list(batch.webhook_deliveries.values()),
    }


def _decode_batch(data: dict[str, Any]) -> WriteBatch:
    position, retention = data["position"], data.get("retention")
    return WriteBatch(
        # A spill file from before labels were kept has chat rows without them: none.
        chats={row["id"]: {"labels": [], **row} for row in data["chats"]},
        messages={(row["chat_id"], row["id"]): row for row in data["messages"]},
        contacts={row["id"]: row for row in data["contacts"]},
        aliases=dict(data["aliases"]),
        renamed_chats=dict(data["renamed"]),
        deleted_chats=set(data["deleted"]),
        position=None if position is None else Position(*position),
        labels={row["id"]: row for row in data.get("labels", [])},  # absent in older spill files
        # Absent in spill files from before the stream log was stored.
        stream_id=data.get("streamId"),
        entries=[
            StoredEntry(o, i, t, c, j.encode(), at) for o, i, t, c, j, at in data.get("entries", [])
        ],
        stream_ord=data.get("streamOrd"),
        retention=None if retention is None else Retention(*retention),
        # Absent in spill files from before webhooks.
        webhook_events={row["id"]: row for row in data.get("webhookEvents", [])},
        webhook_deliveries={
            (row["webhook_id"], row["event_id"]): row for row in data.get("webhookDeliveries", [])
        },
    )
