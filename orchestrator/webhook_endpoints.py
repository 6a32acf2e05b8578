"""Webhook endpoints as data: what an admin registers (a URL, filters, a secret), how it is
stored, which stream events it takes, and its JSON. Pure: no I/O (webhook_delivery.py posts,
webhook_api.py serves the routes)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from orchestrator import shapes as s
from orchestrator.store import Row

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
NEVER_DELIVERED = frozenset({"resync"})  # a stream-protocol marker, meaningless to a receiver
GROUP_SUFFIX = "@g.us"
DIRECT_SUFFIXES = ("@s.whatsapp.net", "@lid")


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and the base64 of random bytes (the HMAC key)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_id() -> str:
    return "wh_" + secrets.token_hex(8)


def iso(when: float | None) -> str | None:
    """Unix seconds as ISO 8601 in UTC, to the millisecond; None stays None."""
    if when is None:
        return None
    moment = datetime.fromtimestamp(when, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chat_type(chat_id: str | None) -> str | None:
    if chat_id is None:
        return None
    if chat_id.endswith(GROUP_SUFFIX):
        return "group"
    if chat_id.endswith(DIRECT_SUFFIXES):
        return "direct"
    return None  # a broadcast list, a newsletter: neither


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    events: frozenset[str] | None  # None: every type
    sessions: frozenset[str] | None  # None: every session
    chat_types: frozenset[str] | None  # None: every event, with a chat or not
    description: str | None
    enabled: bool
    concurrency: int
    secret: str
    previous_secret: str | None
    previous_secret_until: float | None
    disabled_reason: str | None
    disabled_at: float | None
    created_at: float
    updated_at: float

    def takes(self, session: str, event_type: str, chat_id: str | None) -> bool:
        """Whether this endpoint gets the event (by its filters; enabled or not)."""
        if event_type in NEVER_DELIVERED:
            return False
        if self.events is not None and event_type not in self.events:
            return False
        if self.sessions is not None and session not in self.sessions:
            return False
        return self.chat_types is None or chat_type(chat_id) in self.chat_types

    def signing_secrets(self, now: float) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the rotated-out one
        during its overlap (a receiver that has either verifies)."""
        current = [self.secret]
        if self.previous_secret and (self.previous_secret_until or 0) > now:
            current.append(self.previous_secret)
        return current

    def rotated(self, now: float, overlap: float) -> Endpoint:
        return replace(
            self,
            secret=new_secret(),
            previous_secret=self.secret,
            previous_secret_until=now + overlap,
            updated_at=now,
        )

    def disabled(self, reason: str, now: float) -> Endpoint:
        return replace(self, enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)

    def row(self) -> Row:
        return {
            "id": self.id,
            "url": self.url,
            "events": _listed(self.events),
            "sessions": _listed(self.sessions),
            "chat_types": _listed(self.chat_types),
            "description": self.description,
            "enabled": self.enabled,
            "concurrency": self.concurrency,
            "secret": self.secret,
            "previous_secret": self.previous_secret,
            "previous_secret_until": self.previous_secret_until,
            "disabled_reason": self.disabled_reason,
            "disabled_at": self.disabled_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_row(cls, row: Row) -> Endpoint:
        return cls(
            id=str(row["id"]),
            url=str(row["url"]),
            events=_set(row.get("events")),
            sessions=_set(row.get("sessions")),
            chat_types=_set(row.get("chat_types")),
            description=row.get("description"),
            enabled=bool(row["enabled"]),
            concurrency=int(row["concurrency"]),
            secret=str(row["secret"]),
            previous_secret=row.get("previous_secret"),
            previous_secret_until=optional_float(row.get("previous_secret_until")),
            disabled_reason=row.get("disabled_reason"),
            disabled_at=optional_float(row.get("disabled_at")),
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )

    def json(self, health: s.WebhookHealth) -> s.Webhook:
        overlap = self.previous_secret_until if self.previous_secret else None
        return {
            "id": self.id,
            "url": self.url,
            "events": _listed(self.events),  # type: ignore[typeddict-item]
            "sessions": _listed(self.sessions),
            "chatTypes": _listed(self.chat_types),  # type: ignore[typeddict-item]
            "description": self.description,
            "enabled": self.enabled,
            "concurrency": self.concurrency,
            "disabledReason": self.disabled_reason,
            "disabledAt": iso(self.disabled_at),
            "createdAt": iso(self.created_at) or "",
            "updatedAt": iso(self.updated_at) or "",
            "previousSecretExpiresAt": iso(overlap),
            "health": health,
        }


def created(body: s.WebhookBody, default_concurrency: int, now: float) -> Endpoint:
    """A new endpoint from a validated body (the URL and sessions checked by the caller)."""
    return Endpoint(
        id=new_id(),
        url=body["url"],
        events=_set(body.get("events")),
        sessions=_set(body.get("sessions")),
        chat_types=_set(body.get("chatTypes")),
        description=body.get("description") or None,
        enabled=body.get("enabled", True),
        concurrency=body.get("concurrency", default_concurrency),
        secret=new_secret(),
        previous_secret=None,
        previous_secret_until=None,
        disabled_reason=None if body.get("enabled", True) else "disabled by an admin",
        disabled_at=None if body.get("enabled", True) else now,
        created_at=now,
        updated_at=now,
    )


def patched(endpoint: Endpoint, body: s.WebhookPatch, now: float) -> Endpoint:
    changes: dict[str, Any] = {"updated_at": now}
    if "url" in body:
        changes["url"] = body["url"]
    if "events" in body:
        changes["events"] = _set(body["events"])
    if "sessions" in body:
        changes["sessions"] = _set(body["sessions"])
    if "chatTypes" in body:
        changes["chat_types"] = _set(body["chatTypes"])
    if "description" in body:
        changes["description"] = body["description"] or None
    if "concurrency" in body:
        changes["concurrency"] = body["concurrency"]
    if "enabled" in body and body["enabled"] != endpoint.enabled:
        on = body["enabled"]
        changes["enabled"] = on
        changes["disabled_reason"] = None if on else "disabled by an admin"
        changes["disabled_at"] = None if on else now
    return replace(endpoint, **changes)


def _set(values: Any) -> frozenset[str] | None:
    return None if values is None else frozenset(str(v) for v in values)


def _listed(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
