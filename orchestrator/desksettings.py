"""Each session's helpdesk settings (business hours, away message, greeting, assignment rule):
their defaults, the stored document, and the routes `GET/PUT /settings`.

The document is stored whole, per session, on the metadata store (`session_settings`), and
kept here for a few seconds: the rules read it on every customer message, and replicas sharing
one store see another's change within `FRESH_FOR` without a request per message. A stored
document that no longer validates (written around the API) counts as the defaults, loudly.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable

from pydantic import TypeAdapter, ValidationError

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.principal import Principal
from orchestrator.store import Store

log = logging.getLogger("orchestrator.desksettings")

FRESH_FOR = 5.0  # seconds a document read from the store is used without reading it again
WORKDAY: list[s.Interval] = [{"start": "09:00", "end": "18:00"}]
WEEK: s.Week = {
    "mon": WORKDAY, "tue": WORKDAY, "wed": WORKDAY, "thu": WORKDAY, "fri": WORKDAY,
    "sat": [], "sun": [],
}  # fmt: skip
DEFAULTS: s.HelpdeskSettings = {
    "businessHours": {"enabled": False, "timezone": "UTC", "week": WEEK},
    "awayMessage": {"enabled": False, "text": ""},
    "greeting": {"enabled": False, "text": ""},
    "assignment": {"rule": "none"},
}
_DOCUMENT = TypeAdapter(s.HelpdeskSettings)


def defaults() -> s.HelpdeskSettings:
    """A fresh copy: callers may keep or change it."""
    return copy.deepcopy(DEFAULTS)


class SettingsBook:
    """Every session's settings document, read through from the store."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._clock = clock
        self._documents: dict[str, tuple[float, s.HelpdeskSettings]] = {}

    async def get(self, session: str) -> s.HelpdeskSettings:
        """The session's document (the defaults until an admin saves one). Raises StoreError
        when it must be read and the store is down."""
        cached = self.cached(session)
        if cached is not None:
            return cached
        row = await self.store.load_settings(session)
        document = defaults() if row is None else _valid(session, row["document"])
        self._documents[session] = (self._clock(), document)
        return document

    def cached(self, session: str) -> s.HelpdeskSettings | None:
        """The session's document if one was read within FRESH_FOR, else None. No I/O."""
        cached = self._documents.get(session)
        if cached is not None and self._clock() - cached[0] < FRESH_FOR:
            return cached[1]
        return None

    async def put(
        self, session: str, document: s.HelpdeskSettings, actor: Principal
    ) -> s.HelpdeskSettings:
        """Store the whole document (validated by the HTTP layer) and log who changed what."""
        before = await self.get(session)
        await self.store.save_settings(session, dict(document), actor.user_id)
        self._documents[session] = (self._clock(), document)
        changed = [key for key in DEFAULTS if before.get(key) != document.get(key)]
        await self.store.log_activity(
            session, actor.user_id, "settings_changed", None, {"changed": changed}
        )
        log.info("session %s: settings changed by %s: %s", session, actor.user_id, changed)
        return document

    def forget(self, session: str) -> None:
        self._documents.pop(session, None)


def _valid(session: str, stored: object) -> s.HelpdeskSettings:
    try:
        document: s.HelpdeskSettings = _DOCUMENT.validate_python(stored, strict=True)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        where = ".".join(map(str, problem["loc"]))
        log.error(
            "session %s: the stored settings are not valid (%s: %s); the defaults apply",
            session, where, problem["msg"],
        )  # fmt: skip
        return defaults()
    return document


class SettingsApi:
    """`/settings` of one session: any of its users reads, admins write (the route table)."""

    def __init__(self, book: SettingsBook, session: str) -> None:
        self.book = book
        self.session = session

    async def get(self, call: Call[None]) -> s.HelpdeskSettings:
        return await self.book.get(self.session)

    async def put(self, call: Call[s.HelpdeskSettings]) -> s.HelpdeskSettings:
        return await self.book.put(self.session, call.body, call.user)
