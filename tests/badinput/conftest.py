"""The normalizer's session fixture (real Baileys payloads), shared with tests/normalize."""

from __future__ import annotations

from tests.normalize.conftest import cases

__all__ = ["cases"]
