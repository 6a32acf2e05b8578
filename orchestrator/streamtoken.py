"""Stream tokens: short-lived, read-only credentials for browsers (`POST /auth/stream-token`),
so the long-lived API token stays on the app's server and never reaches a browser.

A stream token is a compact JWT (HS256) whose key is derived from the API token, as the media
links' is: every replica sharing the API token accepts the others' tokens, and changing the API
token revokes them all. It names a user (`sub`; absent: the operator's view) and, optionally,
the sessions it is narrowed to; the user's role and sessions are read from their profile each
time the token is used, so a changed or removed profile takes effect at once. What it may do
(reads and streams only) is enforced by the gate (`auth.py`) through `Principal.read_only`.
The route that mints them is in `streamtoken_api.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from orchestrator.errors import Code, Unauthorized

log = logging.getLogger("orchestrator.streamtoken")

KEY_LABEL = b"wa-helpdesk stream token v1"
ISSUER = "wa-helpdesk"
AUDIENCE = "wa-helpdesk:stream"
SCOPE = "read"
ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class StreamClaims:
    """What a verified stream token says."""

    user_id: str | None  # None: the operator's view (minted with the API token, no userId)
    sessions: frozenset[str] | None  # None: every session the user may use


class StreamTokens:
    """Mints and verifies stream tokens. Pure: no I/O; the clock is passed in for tests."""

    def __init__(self, api_token: str, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(api_token.encode(), KEY_LABEL, hashlib.sha256).digest()
        self._clock = clock

    def mint(self, user_id: str | None, sessions: list[str] | None, ttl: int) -> tuple[str, int]:
        """The token and its expiry (unix seconds)."""
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "scope": SCOPE,
            "sessions": sessions,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(12),
        }
        if user_id is not None:
            claims["sub"] = user_id
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), now + ttl

    @staticmethod
    def looks_like_one(token: str) -> bool:
        """Whether the token claims to be a stream token (unverified: it only picks which
        verification applies; a Supabase JWT says another issuer)."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return isinstance(claims, dict) and claims.get("iss") == ISSUER

    def verify(self, token: str) -> StreamClaims | None:
        """The claims of a token minted with this key; None for anything else (forged, another
        key, another audience, a scope other than read). An expired token, genuine but old,
        raises Unauthorized with a message saying so: it is no failed sign-in (the browser just
        needs a fresh one), so it must not count towards the address's failure limit."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "jti"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(
                Code.UNAUTHORIZED, "the stream token has expired: ask your server for a new one"
            ) from None
        except jwt.PyJWTError as exc:
            log.info("stream token refused: %s", exc)  # never the token itself
            return None
        sub, sessions = claims.get("sub"), claims.get("sessions")
        valid_sessions = sessions is None or (
            isinstance(sessions, list) and all(isinstance(x, str) for x in sessions)
        )
        if claims.get("scope") != SCOPE or not valid_sessions:
            log.info("stream token refused: unexpected scope or sessions")
            return None
        return StreamClaims(
            None if sub is None else str(sub),
            None if sessions is None else frozenset(sessions),
        )
