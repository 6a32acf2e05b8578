"""The durable record of what the orchestrator applied: one line per event, `epoch seq event`.

The last complete line is the restart position, so the position can never disagree with the
record it describes (it *is* that record): a `kill -9` between two writes loses neither and
repeats neither. Each batch is one append; the file is compacted to its last line when large.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from orchestrator.wire import Envelope, Position

log = logging.getLogger("orchestrator.applied_log")

COMPACT_AT_BYTES = 64 * 1024 * 1024
MAX_UNWRITTEN = 16 * 1024 * 1024  # ~400k records held while the disk is full


class AppliedLog:
    def __init__(self, path: Path, compact_at: int = COMPACT_AT_BYTES) -> None:
        self.path = path
        self.compact_at = compact_at
        self._fd = -1
        self._size = 0
        self._unwritten = b""
        self.failures = 0
        self.dropped = 0  # records lost because the disk stayed full past MAX_UNWRITTEN

    def open(self) -> Position | None:
        """Open for appending and return the last applied position (None for a new log)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        position = self._repair_and_read_last()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        return position

    def append(self, envelopes: Iterable[Envelope]) -> None:
        """Record a batch. Never raises: a full or read-only disk must not stop the real-time
        path. What cannot be written waits in memory (bounded) and goes out, in order and
        from exactly where a partial write stopped, once the disk takes it again."""
        self._unwritten += "".join(f"{e.epoch} {e.seq} {e.event}\n" for e in envelopes).encode()
        if not self._unwritten:
            return
        try:
            while self._unwritten:
                written = os.write(self._fd, self._unwritten)
                self._size += written
                self._unwritten = self._unwritten[written:]
        except OSError as exc:
            if self.failures == 0:
                log.error("cannot write the applied log %s: %s; holding records", self.path, exc)
            self.failures += 1
            if len(self._unwritten) > MAX_UNWRITTEN:
                cut = self._unwritten.index(b"\n", len(self._unwritten) - MAX_UNWRITTEN) + 1
                self.dropped += self._unwritten[:cut].count(b"\n")
                self._unwritten = self._unwritten[cut:]
            return
        if self.failures:
            log.warning("applied log %s writable again after %d failures", self.path, self.failures)
            self.failures = 0
        if self._size >= self.compact_at:
            self._compact()

    def retry(self) -> None:
        """Write what a full disk held back, if anything (called periodically)."""
        if self._unwritten:
            self.append(())

    def close(self) -> None:
        """Write what a full disk held back, if it takes it now, then sync and close. Never
        raises. Records left in memory would be lost for good: the next start resumes from
        the store's position, which may be past them, so they are never replayed to the log."""
        if self._fd < 0:
            return
        self.retry()
        if self._unwritten:
            log.error(
                "applied log %s: closing with %d records the disk refused; they are missing "
                "from the record",
                self.path,
                self._unwritten.count(b"\n"),
            )
        try:
            os.fsync(self._fd)
        except OSError as exc:
            log.error("cannot sync the applied log %s: %s", self.path, exc)
        os.close(self._fd)
        self._fd = -1

    def _compact(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(max(0, self._size - 4096))
                last_line = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"
            tmp = self.path.with_suffix(".compact")
            tmp.write_bytes(last_line)
            os.replace(tmp, self.path)
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
            self._size = len(last_line)
        except OSError as exc:
            log.error("cannot compact the applied log %s: %s", self.path, exc)
            return
        log.info("applied log compacted to its last position in %s", self.path)

    def _repair_and_read_last(self) -> Position | None:
        if not self.path.exists():
            return None
        data = self.path.read_bytes()
        # A crash mid-append can leave a partial last line: cut it, it was never applied.
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            log.warning("applied log %s: dropped a partial last line", self.path)
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        for line in reversed(complete.splitlines()):
            position = parse_line(line)
            if position is not None:
                return position
            log.error("applied log %s: unreadable line %r skipped", self.path, line[:80])
        return None


def parse_line(line: bytes) -> Position | None:
    parts = line.split(b" ")
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return Position(parts[0].decode(), int(parts[1]))


def read_positions(path: Path) -> Iterator[Position]:
    """Every position recorded, oldest first (for audits and tests)."""
    with open(path, "rb") as f:
        for line in f:
            position = parse_line(line.rstrip(b"\n"))
            if position is not None:
                yield position
