"""Raw Baileys events -> domain facts (`orchestrator.domain`). Pure: no I/O, no logging.

    facts = normalize(envelope.event, envelope.data)

Modules: `events` (the dispatch table, one small handler per event), `messages` (what a
WebMessageInfo, a message update, a receipt or a reaction means), `values` (readers for the
bridge's wire encoding of Baileys values), `filters` (the operator's ORCH_IGNORE and
ORCH_HISTORY around `normalize`: the `Normalizer` the pipeline calls).
"""

from __future__ import annotations

from orchestrator.normalize.events import handled_events, normalize
from orchestrator.normalize.messages import SELF

__all__ = ["SELF", "handled_events", "normalize"]
