"""The webhook routes (admins only): register endpoints, change and delete them, rotate their
secret, look at their deliveries, and deliver stored events again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.errors import BadRequest, Code, Conflict, NotFound
from orchestrator.eventlog import EVENT_ID
from orchestrator.store import Store
from orchestrator.urlguard import check_public_url
from orchestrator.webhook_delivery import OutboxEvent, Webhooks, delivery_json
from orchestrator.webhook_endpoints import NEVER_DELIVERED, Endpoint, created, iso, patched

log = logging.getLogger("orchestrator.webhook_api")

DEFAULT_DELIVERIES = 100
MAX_DELIVERIES = 1000
REPLAY_PAGE = 1000
MAX_DEAD_LETTERS = 100_000  # replayed in one call at most


@dataclass(frozen=True)
class WebhookApiSettings:
    default_concurrency: int
    url_allowlist: frozenset[str]
    secret_overlap: float


class WebhookApi:
    def __init__(
        self,
        webhooks: Webhooks,
        store: Store,
        session_ids: Callable[[], Collection[str]],
        settings: WebhookApiSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._webhooks = webhooks
        self._store = store  # the metadata store: endpoints live there
        self._session_ids = session_ids
        self._settings = settings
        self._clock = clock
        self._writing = asyncio.Lock()  # one change of an endpoint at a time

    async def create(self, call: Call[s.WebhookBody]) -> s.WebhookCreated:
        body = call.body
        await self._check(body)
        endpoint = created(body, self._settings.default_concurrency, self._clock())
        await self._save(endpoint)
        await self._log(call, "webhook_created", endpoint)
        return {**self._json(endpoint), "secret": endpoint.secret}

    async def index(self, call: Call[None]) -> s.WebhookList:
        endpoints = sorted(self._webhooks.endpoints.values(), key=lambda e: e.created_at)
        return {"webhooks": [self._json(e) for e in endpoints]}

    async def get(self, call: Call[None]) -> s.Webhook:
        return self._json(self._endpoint(call))

    async def patch(self, call: Call[s.WebhookPatch]) -> s.Webhook:
        await self._check(call.body)
        async with self._writing:
            endpoint = patched(self._endpoint(call), call.body, self._clock())
            await self._save(endpoint)
        await self._log(call, "webhook_changed", endpoint)
        return self._json(endpoint)

    async def delete(self, call: Call[None]) -> None:
        endpoint = self._endpoint(call)
        async with self._writing:
            await self._store.delete_webhook(endpoint.id)
            self._webhooks.remove(endpoint.id)
        for attached in list(self._webhooks.sessions.values()):
            await attached.store.drop_webhook_deliveries(endpoint.id)
        await self._log(call, "webhook_deleted", endpoint)

    async def rotate_secret(self, call: Call[None]) -> s.WebhookSecret:
        async with self._writing:
            endpoint = self._endpoint(call).rotated(self._clock(), self._settings.secret_overlap)
            await self._save(endpoint)
        await self._log(call, "webhook_secret_rotated", endpoint)
        return {
            "secret": endpoint.secret,
            "previousSecretExpiresAt": iso(endpoint.previous_secret_until),
        }

    async def deliveries(self, call: Call[None]) -> s.WebhookDeliveryList:
        endpoint = self._endpoint(call)
        status = call.query("status")
        if status is not None and status not in s.DELIVERY_STATUSES:
            raise BadRequest(
                Code.BAD_STATUS, f"status must be one of {', '.join(s.DELIVERY_STATUSES)}"
            )
        limit = call.limit(DEFAULT_DELIVERIES, MAX_DELIVERIES)
        # RAM has the latest state of what is queued or just finished (the store may not have
        # it yet); the store the rest.
        queued = {(d.session, d.event_id): d for d in self._webhooks.in_memory(endpoint.id)}
        found: dict[tuple[str, str], tuple[int, s.WebhookDelivery]] = {}
        for session, attached in list(self._webhooks.sessions.items()):
            for row in await attached.store.webhook_deliveries(endpoint.id, status, limit):
                key = (session, row["event_id"])
                if key not in queued:
                    found[key] = (int(row["ord"]), delivery_json(session, row))
        for key, delivery in queued.items():
            if status is None or delivery.status == status:
                found[key] = (delivery.ord, delivery.json())
        newest = sorted(found.values(), key=lambda pair: pair[0], reverse=True)[:limit]
        return {"deliveries": [item for _, item in newest]}

    async def replay(self, call: Call[s.ReplayBody]) -> s.ReplayQueued:
        endpoint = self._endpoint(call)
        body = call.body
        since, dead_letters = body.get("since"), body.get("deadLetters", False)
        if (since is None) == (not dead_letters):
            raise BadRequest(
                Code.BAD_REPLAY, 'give either "since" (a stream id) or "deadLetters": true'
            )
        if not endpoint.enabled:
            raise Conflict(
                Code.WEBHOOK_DISABLED, f"webhook {endpoint.id} is disabled: enable it first"
            )
        if since is not None:
            queued = await self._replay_since(endpoint, since)
        else:
            queued = await self._replay_dead_letters(endpoint)
        log.info("webhook %s: %d events queued again", endpoint.id, queued)
        return {"queued": queued}

    # ---- helpers ------------------------------------------------------------------------

    async def _replay_since(self, endpoint: Endpoint, since: str) -> int:
        if not EVENT_ID.fullmatch(since):
            raise BadRequest(Code.BAD_REPLAY, "since must be a stream id (<epoch>:<seq>:<k>)")
        sessions = list(self._webhooks.sessions.items())
        start: int | None = None
        for _, attached in sessions:
            event = (await attached.store.webhook_events([since])).get(since)
            if event is not None:
                start = int(event["ord"])
                break
        if start is None:
            raise NotFound(Code.UNKNOWN_EVENT, f"no stored webhook event has the id {since!r}")
        found: list[tuple[str, OutboxEvent]] = []
        for session, attached in sessions:
            after = start
            while True:
                page = await attached.store.webhook_events_after(after, REPLAY_PAGE)
                found += [
                    (session, OutboxEvent.from_row(e))
                    for e in page
                    if endpoint.takes(session, e["type"], e.get("chat_id"))
                ]
                if len(page) < REPLAY_PAGE:
                    break
                after = int(page[-1]["ord"])
        return self._requeue(endpoint, found)

    async def _replay_dead_letters(self, endpoint: Endpoint) -> int:
        # The newest dead letters may not be stored yet: RAM has them (and their state wins).
        latest = {(d.session, d.event_id): d for d in self._webhooks.in_memory(endpoint.id)}
        found = [(d.session, d.event()) for d in latest.values() if d.status == "dead"]
        for session, attached in list(self._webhooks.sessions.items()):
            store = attached.store
            rows = await store.webhook_deliveries(endpoint.id, "dead", MAX_DEAD_LETTERS)
            stored = [row["event_id"] for row in rows if (session, row["event_id"]) not in latest]
            events = await store.webhook_events(stored)  # one read, not one per dead letter
            found += [(session, OutboxEvent.from_row(events[i])) for i in stored if i in events]
        queued = self._requeue(endpoint, found)
        stats = self._webhooks.stats.get(endpoint.id)
        if stats is not None:
            stats.dead_letters = max(0, stats.dead_letters - queued)
        return queued

    def _requeue(self, endpoint: Endpoint, found: list[tuple[str, OutboxEvent]]) -> int:
        found.sort(key=lambda pair: pair[1].ord)
        return sum(self._webhooks.requeue(endpoint, session, event) for session, event in found)

    async def _check(self, body: s.WebhookBody | s.WebhookPatch) -> None:
        events = body.get("events") or ()
        refused = sorted(set(events) & NEVER_DELIVERED)
        if refused:
            raise BadRequest(
                Code.BAD_EVENTS, f"events: {', '.join(refused)} is never delivered by webhook"
            )
        known = set(self._session_ids())
        unknown = sorted(set(body.get("sessions") or ()) - known)
        if unknown:
            raise BadRequest(Code.BAD_SESSIONS, f"sessions: no session {', '.join(unknown)}")
        url = body.get("url")
        if url is not None:
            await check_public_url(
                url, self._settings.url_allowlist, field="url", code=Code.WEBHOOK_URL_FORBIDDEN
            )

    async def _save(self, endpoint: Endpoint) -> None:
        await self._store.save_webhook(endpoint.row())
        self._webhooks.put(endpoint)

    def _endpoint(self, call: Call[Any]) -> Endpoint:
        webhook_id = call.path("webhookId")
        endpoint = self._webhooks.endpoints.get(webhook_id)
        if endpoint is None:
            raise NotFound(Code.UNKNOWN_WEBHOOK, f"no webhook {webhook_id[:100]!r}")
        return endpoint

    def _json(self, endpoint: Endpoint) -> s.Webhook:
        return endpoint.json(self._webhooks.health(endpoint.id))

    async def _log(self, call: Call[Any], action: str, endpoint: Endpoint) -> None:
        host = urlsplit(endpoint.url).hostname  # a URL's path or query may hold a token
        log.info("%s %s (%s)", action, endpoint.id, host)
        await self._store.log_activity(
            None, call.user.user_id, action, None, {"webhook": endpoint.id, "host": host}
        )
