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


class AppliedLog:
    def __init__(self, path: Path, compact_at: int = COMPACT_AT_BYTES) -> None:
        self.path = path
        self.compact_at = compact_at
        self._fd = -1
        self._size = 0

    def open(self) -> Position | None:
        """Open for appending and return the last applied position (None for a new log)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        position = self._repair_and_read_last()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        return position

    def append(self, envelopes: Iterable[Envelope]) -> None:
        data = "".join(f"{e.epoch} {e.seq} {e.event}\n" for e in envelopes).encode()
        if not data:
            return
        os.write(self._fd, data)
        self._size += len(data)
        if self._size >= self.compact_at:
            self._compact(data.splitlines()[-1] + b"\n")

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _compact(self, last_line: bytes) -> None:
        tmp = self.path.with_suffix(".compact")
        tmp.write_bytes(last_line)
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
        self._size = len(last_line)
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
