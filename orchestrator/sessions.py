"""The sessions registry (which WhatsApp numbers this deployment serves) and its routes.

The registry is stored (the metadata store's `wa_sessions`/`whatsapp_sessions`) and restored on
start; `default` is not stored: it is what ORCH_BRIDGE_PUB/ORCH_BRIDGE_ROUTER describe. Creating
a session starts it (in spawn mode, its bridge, whose QR flow begins); deleting one stops it and,
with purge, deletes its data. Creating and deleting are serialized: the registry changes one
step at a time, so two requests for one id never both win.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.config import Settings
from orchestrator.errors import BadRequest, Code, Conflict, NotFound
from orchestrator.helpdesk import Helpdesk
from orchestrator.principal import Principal
from orchestrator.session import (
    Session,
    SessionSpec,
    Shared,
    proxy_problem,
    proxy_without_credentials,
)
from orchestrator.shapes import DEFAULT_SESSION
from orchestrator.transport import BridgeLink

log = logging.getLogger("orchestrator.sessions")

LinkFactory = Callable[[SessionSpec], BridgeLink | None]
Deleted = Callable[[str, bool, str], None]  # (session id, purged, stream id): the final event


class Sessions:
    def __init__(
        self,
        shared: Shared,
        helpdesk: Helpdesk,
        on_deleted: Deleted,
        link_for: LinkFactory = lambda spec: None,
    ) -> None:
        self.shared = shared
        self.helpdesk = helpdesk
        self._on_deleted = on_deleted
        self._link_for = link_for  # tests hand in-process links; None: ZeroMQ
        self._sessions: dict[str, Session] = {}
        self._changing = asyncio.Lock()

    # ---- reading ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def ids(self) -> list[str]:
        return list(self._sessions)

    def find(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(Code.SESSION_NOT_FOUND, f"no session {session_id[:60]!r}")
        return session

    # ---- changing -----------------------------------------------------------------------

    def build(self, spec: SessionSpec) -> Session:
        session = Session(spec, self.shared, self.helpdesk.scoped(spec.id), self._link_for(spec))
        self._sessions[spec.id] = session
        return session

    async def restore(self, stored: list[SessionSpec]) -> None:
        """Start the default session and every stored one, all at once; serve once each has
        caught up with its bridge (or its bridge failed to answer in time)."""
        for spec in [SessionSpec(DEFAULT_SESSION, DEFAULT_SESSION), *stored]:
            if spec.id not in self._sessions:
                self.build(spec)
        sessions = list(self._sessions.values())
        await asyncio.gather(*(session.start() for session in sessions))
        timeout = self.shared.settings.startup_timeout
        await asyncio.gather(*(session.wait_for_first_catch_up(timeout) for session in sessions))

    async def create(self, spec: SessionSpec) -> Session:
        async with self._changing:
            if spec.id in self._sessions:
                raise Conflict(Code.SESSION_EXISTS, f"a session {spec.id!r} exists")
            await self.shared.metadata_store.save_session(spec.row())
            session = self.build(spec)
            await session.start()
        log.info(
            "session %s created (%s)",
            spec.id, f"bridge at {spec.pub}" if spec.external else "bridge spawned here",
        )  # fmt: skip
        return session

    async def delete(self, session_id: str, *, purge: bool) -> None:
        async with self._changing:
            if session_id == DEFAULT_SESSION:
                raise Conflict(
                    Code.SESSION_IS_DEFAULT,
                    "the default session is the one ORCH_BRIDGE_PUB names: it cannot be deleted",
                )
            session = self.get(session_id)
            del self._sessions[session_id]
            await session.retire()
            await self.shared.metadata_store.delete_session(session_id)
            if purge:
                await self.shared.metadata_store.purge_session(session_id)
                self.helpdesk.forget_session(session_id)
                if self.shared.desk_settings is not None:
                    self.shared.desk_settings.forget(session_id)
                session.purge_files()
            self._on_deleted(session_id, purge, session.announcement_id())
        log.info("session %s deleted%s", session_id, " and its data purged" if purge else "")

    async def stop_all(self) -> None:
        await asyncio.gather(*(session.stop() for session in self._sessions.values()))


class SessionsApi:
    """`/sessions`: list what the caller may use; admins create and delete."""

    def __init__(self, sessions: Sessions, settings: Settings) -> None:
        self.sessions = sessions
        # A session without `bridge` gets one spawned, or (NATS) is served by the bridge host
        # that holds its lease.
        self._spawning = settings.spawn_bridge or settings.nats_url is not None
        self._unencrypted = settings.leaves_unencrypted

    async def create(self, call: Call[s.SessionBody]) -> s.Session:
        body = call.body
        bridge = body.get("bridge")
        if bridge is None and not self._spawning:
            raise BadRequest(
                Code.BRIDGE_REQUIRED,
                "bridge: {pub, router} of the session's bridge is required, since this "
                "orchestrator spawns no bridge (ORCH_SPAWN_BRIDGE=false)",
            )
        if bridge is not None and bridge["pub"] == bridge["router"]:
            raise BadRequest(Code.BAD_BRIDGE, "bridge: pub and router must differ")
        if bridge is not None and any(
            self._unencrypted(e) for e in (bridge["pub"], bridge["router"])
        ):
            raise BadRequest(
                Code.BAD_BRIDGE,
                "bridge: that endpoint leaves this machine, and no CURVE key is configured "
                "(ORCH_BRIDGE_CURVE_SERVER_KEY): the link would be unencrypted",
            )
        problem = proxy_problem(body["proxy"]) if "proxy" in body else None
        if problem is not None:
            raise BadRequest(Code.BAD_PROXY, f"proxy: {problem}")  # never the URL: credentials
        spec = SessionSpec.from_body(body)
        return session_json(await self.sessions.create(spec), call.user)

    async def list_sessions(self, call: Call[None]) -> s.SessionList:
        user = call.user
        return {"sessions": [session_json(x, user) for x in self.sessions if user.may_use(x.id)]}

    async def get(self, call: Call[None]) -> s.Session:
        return session_json(self.visible(call.path("sessionId"), call.user), call.user)

    async def delete(self, call: Call[None]) -> None:
        purge = call.query("purge")
        if purge not in (None, "true", "false"):
            raise BadRequest(Code.BAD_REQUEST, "purge must be true or false")
        await self.sessions.delete(call.path("sessionId"), purge=purge == "true")

    def visible(self, session_id: str, principal: Principal) -> Session:
        """The session, if the principal may use it (404 when there is none, 403 otherwise)."""
        session = self.sessions.get(session_id)
        principal.require(session_id)
        return session


def session_json(session: Session, principal: Principal) -> s.Session:
    lifecycle, supervisor = session.lifecycle, session.supervisor
    can_see = session.helpdesk.can_see
    unread = sum(
        chat.unread_count
        for chat in session.state.chats.values()
        if chat.unread_count and can_see(principal, chat.id)
    )
    return {
        "id": session.id,
        "name": session.spec.name,
        "connected": lifecycle.connected,
        "state": lifecycle.state,
        "me": lifecycle.me,
        "bridge": {
            "alive": session.follower.alive,
            "spawned": supervisor is not None,
            "pid": supervisor.pid if supervisor else None,
            "restarts": supervisor.restarts if supervisor else None,
        },
        "proxy": proxy_without_credentials(session.spec.proxy),
        "unread": unread,
    }
