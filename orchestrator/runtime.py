"""The composition root: builds the hub (what every session shares) and the sessions (one per
WhatsApp number, `session.py`) from Settings, and runs them for as long as the app lives."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from orchestrator.agentpresence import AgentPresence, AgentPresenceApi
from orchestrator.app import create_app
from orchestrator.auth import FailureLimiter, Gate
from orchestrator.config import Settings
from orchestrator.console import Console
from orchestrator.desksettings import SettingsBook
from orchestrator.errors import MediaStoreConfigError, MediaStoreError, StoreError
from orchestrator.eventlog import AnnouncementNumbers, EventLog
from orchestrator.helpdesk import Helpdesk
from orchestrator.lifecycle import backoff_delay
from orchestrator.medialinks import MediaLinks
from orchestrator.mediastore import LocalMediaStore, MediaStore
from orchestrator.metrics import (
    MetricsApi,
    SessionsCollector,
    WebhooksCollector,
    send_histogram,
    webhook_histogram,
)
from orchestrator.openapi import document_bytes
from orchestrator.principal import Authenticator, Principal
from orchestrator.rules import OnlineAgents
from orchestrator.session import SessionSpec, Shared, open_store, report_crash
from orchestrator.sessions import Sessions, SessionsApi
from orchestrator.shapes import DEFAULT_SESSION, ConsoleConfig, EventType
from orchestrator.streams import StreamRoutes, Streams, StreamSettings
from orchestrator.streamtoken_api import StreamTokenApi
from orchestrator.transport import BridgeLink
from orchestrator.urlguard import allowlist
from orchestrator.webhook_api import WebhookApi, WebhookApiSettings
from orchestrator.webhook_delivery import DeliverySettings, Webhooks

if TYPE_CHECKING:  # imported only when ORCH_NATS_URL is set: nats-py takes 0.3 s to import
    from orchestrator.transport.nats import NatsHub

log = logging.getLogger("orchestrator.runtime")

MEDIA_SWEEP_INTERVAL = 3600.0


class Runtime:
    """The hub: what every session shares (the metadata store and helpdesk, authentication,
    the stream log and its clients, the media store, metrics) and the sessions registry.
    `link`: how to reach the default session's bridge; by default NATS (ORCH_NATS_URL, one
    connection for every session, owned here) or ZeroMQ."""

    def __init__(
        self,
        settings: Settings,
        api_token: str,
        link: BridgeLink | None = None,
        online_agents: OnlineAgents | None = None,
    ) -> None:
        """`online_agents`: who is online to take a session's chats (round-robin); None: the
        agents holding a stream (AgentPresence.online)."""
        self.settings = settings
        self.store = open_store(settings)
        self.helpdesk = Helpdesk(self.store, self.announce)
        self.desk_settings = SettingsBook(self.store)
        secret = settings.supabase_jwt_secret
        self.authenticator = Authenticator(
            api_token,
            jwt_secret=secret.get_secret_value() if secret else None,
            jwks_url=settings.user_jwks_url,
            profile=self.helpdesk.profile,
        )
        self.links = MediaLinks(api_token, settings.media_link_ttl)
        self.event_log = EventLog(
            max_entries=settings.stream_retention, max_age=settings.stream_retention_seconds
        )
        self.streams = Streams(
            self.event_log,
            StreamSettings(
                ping_interval=settings.sse_ping_interval,
                send_timeout=settings.stream_send_timeout,
                poll_max_timeout=settings.poll_max_timeout,
            ),
        )
        # Who of the helpdesk is online and what they do: RAM only, on the ephemeral feed.
        self.agent_presence = AgentPresence(
            self.streams.ephemeral.publish,
            sessions=lambda: self.sessions.ids(),
            may_use=self.helpdesk.may_use,
            name=self.helpdesk.display_name,
        )
        self.streams.ephemeral.snapshot = self.agent_presence.snapshot
        self.media_store = open_media_store(settings)
        self.nats = nats_hub(settings)
        self.registry = CollectorRegistry()
        send_seconds = send_histogram(self.registry)
        webhook_seconds = webhook_histogram(self.registry)
        self.webhooks = Webhooks(
            DeliverySettings(
                timeout=settings.webhook_timeout,
                retry_initial=settings.webhook_retry_initial,
                retry_max=settings.webhook_retry_max,
                horizon=settings.webhook_retry_horizon,
                retention=settings.webhook_retention,
                allowed_hosts=allowlist(settings.media_url_allowlist),
            ),
            save_endpoint=lambda endpoint: self.store.save_webhook(endpoint.row()),
            observe=lambda webhook_id, seconds: webhook_seconds.labels(webhook_id).observe(seconds),
        )
        self.registry.register(WebhooksCollector(self.webhooks))
        shared = Shared(
            settings,
            self.store,
            self.event_log,
            self.media_store,
            self.links,
            viewers=lambda: self.streams.stats.sse + self.streams.stats.websocket,
            announce_counter=AnnouncementNumbers(),
            observe_send=lambda session_id, seconds: send_seconds.labels(session_id).observe(
                seconds
            ),
            nats=self.nats,
            agent_presence=self.agent_presence,
            desk_settings=self.desk_settings,
            # Round-robin picks among the agents online now; a test may name them instead.
            online_agents=online_agents or self.agent_presence.online,
            webhooks=self.webhooks,
        )
        self.sessions = Sessions(
            shared,
            self.helpdesk,
            self._session_deleted,
            link_for=lambda spec: link if spec.id == DEFAULT_SESSION else None,
        )
        # The default session exists from the start (tests and the CLI reach its parts); the
        # stored ones are built once the store is open.
        self.default = self.sessions.build(SessionSpec(DEFAULT_SESSION, DEFAULT_SESSION))
        self.registry.register(
            SessionsCollector(self.sessions.__iter__, self.streams, self.event_log)
        )
        self.gate = Gate(
            self.authenticator,
            FailureLimiter(settings.auth_failures_per_minute),
            self.links,
        )

    def app(self) -> Starlette:
        """The HTTP application over this runtime; it runs the runtime for as long as it lives."""
        handlers: list[object] = [
            Console(document_bytes, console_config(self.settings)),
            SessionsApi(self.sessions, self.settings),
            MetricsApi(self.registry),
            StreamRoutes(
                self.streams, self._can_see, self._chat_id, self.sessions.ids, self.agent_presence
            ),
            AgentPresenceApi(self.agent_presence, self._chat_id),
            StreamTokenApi(self.authenticator.stream_tokens, self.helpdesk.profile),
            WebhookApi(
                self.webhooks,
                self.store,
                self.sessions.ids,
                WebhookApiSettings(
                    default_concurrency=self.settings.webhook_concurrency,
                    url_allowlist=allowlist(self.settings.media_url_allowlist),
                    secret_overlap=self.settings.webhook_secret_overlap,
                ),
            ),
        ]
        return create_app(
            handlers,
            self.gate,
            self._session_handlers,
            max_body=self.settings.max_body_bytes,
            cors_origins=self.settings.cors_origins,
            lifespan=self.lifespan,
        )

    def _session_handlers(self, session_id: str) -> list[object]:
        return self.sessions.get(session_id).handlers

    def _can_see(self, principal: Principal, session_id: str, chat_id: str | None) -> bool:
        session = self.sessions.find(session_id)
        if session is None:
            return principal.is_staff  # a deleted session's last events (session_deleted)
        return session.helpdesk.can_see(principal, chat_id)

    def _chat_id(self, session_id: str, raw_id: str, principal: Principal) -> str:
        return self.sessions.get(session_id).api.chat(raw_id, principal).id

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.running():
            yield

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # First: a media store configured wrong stops the start, before anything else runs.
        try:
            await self.media_store.open()
        except MediaStoreConfigError as exc:
            log.critical("not starting: %s", exc)
            raise
        if self.nats is not None:
            self.nats.start()  # in the background: NATS being away must not stop the start
        stored = await self._open_store()
        tasks = [
            asyncio.create_task(self.streams.run(), name="streams"),
            asyncio.create_task(self.webhooks.prune_forever(), name="webhook-prune"),
        ]
        if self.settings.media_s3_retention_days is not None:
            tasks.append(asyncio.create_task(self._sweep_media_forever(), name="media-sweep"))
        if not self.webhooks.loaded:
            tasks.append(asyncio.create_task(self._load_webhooks_later(), name="webhook-load"))
        for task in tasks:
            task.add_done_callback(report_crash)
        try:
            await self.sessions.restore(stored)
            # What was loaded lives as long as the process: keep the collector from rescanning.
            gc.collect()
            gc.freeze()
            yield
        finally:
            await self.sessions.stop_all()
            await self.webhooks.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.nats is not None:
                await self.nats.close()
            await self.store.close()

    async def _open_store(self) -> list[SessionSpec]:
        """The helpdesk metadata and the stored sessions. A store that is down is not fatal:
        the default session still serves from its bridge's journal."""
        try:
            await self.store.open()
            await self.helpdesk.load()
            self.webhooks.load(await self.store.list_webhooks())
            rows = await self.store.list_sessions()
        except StoreError as exc:
            log.error("store unavailable at start (%s); serving the default session only", exc)
            return []
        declared = {s.id: SessionSpec.from_body(s.model_dump()) for s in self.settings.sessions}
        stored = {row["id"]: SessionSpec.from_row(row) for row in rows}
        return [spec for id_, spec in {**stored, **declared}.items() if id_ != DEFAULT_SESSION]

    async def _load_webhooks_later(self) -> None:
        """The store was down at start: the webhook endpoints once it answers (the sessions
        resume what they owe after that)."""
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, 1.0, 30.0, random.Random()))
            try:
                self.webhooks.load(await self.store.list_webhooks())
            except StoreError as exc:
                log.warning("webhook endpoints still unreadable: %s", exc)
                continue
            log.info("webhook endpoints read: %d", len(self.webhooks.endpoints))
            return

    def announce(
        self, session_id: str, event_type: EventType, chat_id: str | None, data: Any
    ) -> None:
        """A helpdesk event (not a WhatsApp one) onto the streams, in its session's order."""
        session = self.sessions.find(session_id)
        if session is not None:
            session.announce(event_type, chat_id, data)

    def _session_deleted(self, session_id: str, purged: bool, event_id: str) -> None:
        self.streams.session_deleted(session_id, purged, event_id)

    async def _sweep_media_forever(self) -> None:
        """Media retention: at start, then hourly (a day's retention is kept to the hour)."""
        while True:
            try:
                deleted = await self.media_store.sweep(time.time())
                if deleted:
                    log.info("media retention: deleted %d objects", deleted)
            except MediaStoreError as exc:
                log.warning("media retention sweep failed (next in an hour): %s", exc)
            await asyncio.sleep(MEDIA_SWEEP_INTERVAL)


def console_config(settings: Settings) -> ConsoleConfig:
    """Where the console signs users in: Supabase Auth when its URL and anon key are set."""
    if settings.supabase_url and settings.supabase_anon_key:
        url = settings.supabase_url.rstrip("/")
        return {"supabase": {"url": url, "anonKey": settings.supabase_anon_key}}
    return {"supabase": None}


def nats_hub(settings: Settings) -> NatsHub | None:
    if settings.nats_url is None:
        return None
    from orchestrator.transport.nats import NatsConfig, NatsHub  # nats-py: 0.3 s to import

    return NatsHub(
        NatsConfig(
            url=settings.nats_url,
            stream=settings.nats_stream,
            prefix=settings.nats_prefix,
            max_age=settings.nats_max_age_s,
            max_bytes=settings.nats_max_bytes,
            replicas=settings.nats_replicas,
            replica_id=settings.replica_id,
            command_timeout=settings.command_timeout,
        )
    )


def open_media_store(settings: Settings) -> MediaStore:
    """The S3-compatible bucket when ORCH_MEDIA_S3_URL is set; otherwise data_dir/media."""
    if settings.media_s3_url is None or settings.media_s3_bucket is None:
        return LocalMediaStore(settings.data_dir / "media")
    from orchestrator.mediastore_s3 import S3MediaStore, S3Settings  # boto3: 0.2 s to import

    secret = settings.media_s3_secret_key
    return S3MediaStore(
        S3Settings(
            endpoint=settings.media_s3_url,
            bucket=settings.media_s3_bucket,
            access_key=settings.media_s3_access_key,
            secret_key=secret.get_secret_value() if secret else None,
            region=settings.media_s3_region,
            presign=settings.media_s3_presign,
            public_endpoint=settings.media_s3_public_url,
            retention_days=settings.media_s3_retention_days,
        )
    )
