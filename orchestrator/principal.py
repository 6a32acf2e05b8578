"""Who is asking: the static operator token, a Supabase user (a verified JWT) with the role
and the sessions (WhatsApp numbers) their profile gives them, or a stream token (read-only, for
a browser: `streamtoken.py`) carrying a user's view or the operator's. Roles: admin,
supervisor, agent."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import jwt

from orchestrator import shapes as s
from orchestrator.errors import Code, Forbidden
from orchestrator.store import DEFAULT_SESSION
from orchestrator.streamtoken import StreamClaims, StreamTokens

log = logging.getLogger("orchestrator.principal")

ROLES = ("admin", "supervisor", "agent")
STAFF_ROLES = ("admin", "supervisor")
JWKS_REFRESH_EVERY = 30.0  # seconds between fetches when a token names an unknown key


def token_matches(presented: str | None, expected: str) -> bool:
    # compare_digest takes as long whatever the first differing byte: no timing oracle.
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str | None  # None: the static API token (an operator)
    role: s.Role
    name: str | None = None
    sessions: frozenset[str] = frozenset({DEFAULT_SESSION})  # the WhatsApp numbers they work on
    read_only: bool = False
    """A stream token: reads and streams only, never an admin route (the gate refuses)."""
    narrowed: frozenset[str] | None = None
    """A stream token narrowed to these sessions (within what the role allows); None: not."""

    def may_use(self, session_id: str) -> bool:
        """Staff work on every session; an agent on those their profile lists; a narrowed
        stream token on those of its sessions."""
        if self.narrowed is not None and session_id not in self.narrowed:
            return False
        return self.is_staff or session_id in self.sessions

    @property
    def session_limit(self) -> frozenset[str] | None:
        """The sessions they may use, or None for every session (also ones created later)."""
        if self.is_staff:
            return self.narrowed
        if self.narrowed is None:
            return self.sessions
        return self.sessions & self.narrowed

    def require(self, session_id: str) -> None:
        """Raise Forbidden unless they may use the session."""
        if not self.may_use(session_id):
            raise Forbidden(Code.FORBIDDEN, f"you are not a member of session {session_id!r}")

    @property
    def is_staff(self) -> bool:
        """Admins and supervisors see and manage every chat."""
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


OPERATOR = Principal(None, "admin", "operator (API token)")


class Authenticator:
    """Verifies tokens. User JWTs: HS256 with the project's JWT secret, or an asymmetric key
    from the project's JWKS (`<SUPABASE_URL>/auth/v1/.well-known/jwks.json`)."""

    def __init__(
        self,
        api_token: str,
        *,
        jwt_secret: str | None,
        jwks_url: str | None,
        profile: Callable[[str], dict[str, Any] | None],
        audience: str = "authenticated",
    ) -> None:
        self._api_token = api_token
        self.stream_tokens = StreamTokens(api_token)
        self._jwt_secret = jwt_secret
        self._jwks_url = jwks_url
        self._profile = profile
        self._audience = audience
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0

    @property
    def accepts_users(self) -> bool:
        return bool(self._jwt_secret or self._jwks_url)

    async def authenticate(self, token: str | None) -> Principal | None:
        """The principal a token names; None for no token or one that is not valid. A valid
        user token without a helpdesk profile raises Forbidden (no_profile): it is not a
        forgery, and its owner needs to hear that an admin must give them a role."""
        if token is None:
            return None
        if token_matches(token, self._api_token):
            return OPERATOR
        if token.count(".") != 2:
            return None
        # Stream tokens work whether or not Supabase users are configured.
        if self.stream_tokens.looks_like_one(token):
            stream = self.stream_tokens.verify(token)
            return None if stream is None else self._stream_principal(stream)
        if not self.accepts_users:
            return None
        claims = await self._verify(token)
        if claims is None:
            return None
        return self._user(str(claims.get("sub") or ""))

    def _user(self, user_id: str) -> Principal:
        """The user as their profile says now."""
        profile = self._profile(user_id) if user_id else None
        if profile is None or profile.get("role") not in ROLES:
            log.info("token for user %s has no helpdesk profile: refused", user_id or "?")
            raise Forbidden(
                Code.NO_PROFILE,
                "this user has no helpdesk profile: an admin must give them a role "
                "(PUT /admin/profiles/{userId})",
            )
        return Principal(
            user_id,
            cast(s.Role, profile["role"]),
            profile.get("display_name"),
            frozenset(profile.get("sessions", (DEFAULT_SESSION,))),
        )

    def _stream_principal(self, claims: StreamClaims) -> Principal:
        """The view a stream token carries, read-only: the operator's, or its user's as their
        profile says now (a removed profile stops the token: no_profile)."""
        view = OPERATOR if claims.user_id is None else self._user(claims.user_id)
        return replace(view, read_only=True, narrowed=claims.sessions)

    async def _verify(self, token: str) -> dict[str, Any] | None:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm == "HS256" and self._jwt_secret:
                key: Any = self._jwt_secret
            elif algorithm in ("RS256", "ES256", "EdDSA") and self._jwks_url:
                key = await self._jwks_key(str(header.get("kid")))
                if key is None:
                    return None
            else:
                return None
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], audience=self._audience,
                options={"require": ["exp", "sub"]},
            )  # fmt: skip
            return claims
        except jwt.PyJWTError as exc:
            log.info("user token refused: %s", exc)  # never the token itself
            return None

    async def _jwks_key(self, kid: str) -> Any:
        if kid not in self._keys and time.monotonic() - self._fetched_at > JWKS_REFRESH_EVERY:
            self._fetched_at = time.monotonic()
            assert self._jwks_url is not None
            import httpx  # here: 0.15 s to import, and only Supabase Auth with RS256 needs it

            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    document = (await client.get(self._jwks_url)).raise_for_status().json()
                keys = jwt.PyJWKSet.from_dict(document).keys
                self._keys = {str(k.key_id): k.key for k in keys if k.key_id}
            except (httpx.HTTPError, jwt.PyJWTError, ValueError) as exc:
                log.error("cannot load the JWKS from %s: %s", self._jwks_url, exc)
        return self._keys.get(kid)
