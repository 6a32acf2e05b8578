from __future__ import annotations

from pathlib import Path

from orchestrator.applied_log import AppliedLog, read_positions
from orchestrator.wire import Envelope, Position


def batch(epoch: str, first: int, last: int) -> list[Envelope]:
    return [Envelope(epoch, seq, 0, "messages.upsert", None) for seq in range(first, last + 1)]


def test_the_last_line_is_the_restart_position(tmp_path: Path) -> None:
    log = AppliedLog(tmp_path / "applied.log")
    assert log.open() is None
    log.append(batch("e1", 1, 3))
    log.append(batch("e2", 1, 2))
    log.close()
    assert AppliedLog(tmp_path / "applied.log").open() == Position("e2", 2)
    assert list(read_positions(tmp_path / "applied.log"))[-3:] == [
        Position("e1", 3), Position("e2", 1), Position("e2", 2),
    ]  # fmt: skip


def test_a_partial_last_line_from_a_crash_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "applied.log"
    path.write_bytes(b"e1 1 a\ne1 2 a\ne1 3")
    log = AppliedLog(path)
    assert log.open() == Position("e1", 2)
    log.append(batch("e1", 3, 3))
    log.close()
    assert path.read_bytes() == b"e1 1 a\ne1 2 a\ne1 3 messages.upsert\n"


def test_unreadable_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "applied.log"
    path.write_bytes(b"e1 1 a\ngarbage\n")
    assert AppliedLog(path).open() == Position("e1", 1)


def test_compaction_keeps_the_position(tmp_path: Path) -> None:
    path = tmp_path / "applied.log"
    log = AppliedLog(path, compact_at=200)
    log.open()
    for first in range(1, 100, 10):
        log.append(batch("e1", first, first + 9))
    log.close()
    assert path.stat().st_size < 200
    assert AppliedLog(path).open() == Position("e1", 100)
