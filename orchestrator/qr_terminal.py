"""Draws each new QR in the terminal, so `make run` can be linked without opening a browser."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import segno

from orchestrator.wire import Envelope, Position


class TerminalQr:
    """A follower consumer: live `connection.update`s that carry a QR are drawn on `out`."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out

    def apply(self, batch: Sequence[Envelope], *, replayed: bool) -> None:
        if replayed:
            return  # an old QR is useless: it expired long ago
        for envelope in batch:
            data = envelope.data
            if envelope.event == "connection.update" and isinstance(data, dict):
                qr = data.get("qr")
                if isinstance(qr, str):
                    self.draw(qr)

    def draw(self, qr: str) -> None:
        picture = io.StringIO()
        segno.make_qr(qr, error="l").terminal(out=picture, compact=True, border=2)
        self.out.write(
            "\nScan with WhatsApp (Settings > Linked devices > Link a device):\n"
            + picture.getvalue()
            + "\n"
        )
        self.out.flush()

    def position_lost(self, last_applied: Position | None, oldest: dict[str, Any] | None) -> None:
        """Nothing to redraw: a lost QR is an expired QR."""
