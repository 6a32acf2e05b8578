"""ORCH_HISTORY and ORCH_IGNORE as setting types: strings that pydantic checks at start with
the parsers the normalizer's filters use, so a wrong value stops the start naming the setting."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from orchestrator.normalize.filters import parse_history, parse_ignore


def _history(value: str) -> str:
    parse_history(value)  # its ValueError becomes a validation error naming the field
    return value


def _ignore(value: str) -> str:
    parse_ignore(value)
    return value


HistorySetting = Annotated[str, AfterValidator(_history)]
"""full, recent, none or days:N."""
IgnoreSetting = Annotated[str, AfterValidator(_ignore)]
"""A comma list of groups, status, newsletters, broadcasts."""
