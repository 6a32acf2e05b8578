"""Who may call a route: the bearer token (or `?access_token=` for EventSource and WebSocket),
the role the route table asks for, what a read-only stream token may do, signed media links,
and the limit on failed sign-ins."""

from __future__ import annotations

import enum
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from starlette.requests import HTTPConnection

from orchestrator.errors import Code, Forbidden, TooMany, Unauthorized
from orchestrator.medialinks import MediaLinks
from orchestrator.principal import Authenticator, Principal

log = logging.getLogger("orchestrator.auth")

MAX_TRACKED_CLIENTS = 10_000


class Access(enum.Enum):
    """Who may call a route."""

    PUBLIC = "no credential"
    USER = "any signed-in user"
    STAFF = "admins and supervisors"
    ADMIN = "admins"
    SIGNED = "a signed link, or any signed-in user"


def presented_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return conn.query_params.get("access_token") or None


def load_or_create_token(path: Path) -> str:
    """The API token when none is configured: made once, kept owner-only in the data directory."""
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    log.info("no ORCH_API_TOKEN set: generated one, stored in %s", path)
    return token


def reads(conn: HTTPConnection) -> bool:
    """A request that changes nothing: GET or HEAD, or a WebSocket stream (its handshake is a
    GET; the scope has no method)."""
    return conn.scope["type"] == "websocket" or conn.scope["method"] in ("GET", "HEAD")


class FailureLimiter:
    """Failed authentications per client address in a sliding minute; bounded memory."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def failed(self, client: str) -> None:
        times = self._failures.pop(client, None) or deque()
        times.append(self._clock())
        self._failures[client] = times
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)

    def blocked(self, client: str) -> bool:
        times = self._failures.get(client)
        if not times:
            return False
        horizon = self._clock() - 60
        while times and times[0] < horizon:
            times.popleft()
        return len(times) >= self.per_minute


class Gate:
    """Checks a connection against what its route asks for; raises the refusal."""

    def __init__(
        self, authenticator: Authenticator, failures: FailureLimiter, links: MediaLinks
    ) -> None:
        self._authenticator = authenticator
        self._failures = failures
        self._links = links

    async def admit(self, conn: HTTPConnection, access: Access) -> Principal | None:
        """The principal, or None on a public route or a signed media link."""
        if access is Access.PUBLIC:
            return None
        params = conn.query_params
        if access is Access.SIGNED and "sig" in params:
            path = conn.path_params
            links = self._links.for_session(path.get("sessionId", "default"))
            links.verify(path["chatId"], path["messageId"], params.get("exp"), params["sig"])
            return None
        principal = await self._authenticator.authenticate(presented_token(conn))
        if principal is None:
            # A valid credential is never refused for the failures of others behind the same
            # address (a proxy serving a whole team): only failures are limited.
            client = (conn.client.host if conn.client else None) or "?"
            if self._failures.blocked(client):
                raise TooMany(
                    Code.TOO_MANY_FAILURES,
                    "too many failed sign-ins from this address; wait a minute",
                )
            self._failures.failed(client)
            log.info("authentication failed from %s on %s", client, conn.url.path)
            raise Unauthorized(Code.UNAUTHORIZED, "a valid bearer token is required")
        if principal.read_only and (access is Access.ADMIN or not reads(conn)):
            raise Forbidden(
                Code.READ_ONLY_TOKEN,
                "a stream token may only read and stream: writes and admin routes need the "
                "app's server",
            )
        if access is Access.STAFF and not principal.is_staff:
            raise Forbidden(Code.FORBIDDEN, "this route is for admins and supervisors")
        if access is Access.ADMIN and not principal.is_admin:
            raise Forbidden(Code.FORBIDDEN, "this route is for admins")
        return principal
