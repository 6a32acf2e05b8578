"""`POST /auth/stream-token`: an admin (the API token, or an admin user) mints a short-lived,
read-only stream token for a user's view, which the app's server hands to that user's browser
(`streamtoken.py` makes and checks the tokens)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.errors import BadRequest, Code, NotFound
from orchestrator.principal import STAFF_ROLES
from orchestrator.streamtoken import StreamTokens

log = logging.getLogger("orchestrator.streamtoken_api")

DEFAULT_TTL = 900


class StreamTokenApi:
    """Mints for the caller's view, or for the user `userId` names (who must have a profile),
    narrowed to `sessions` when given (each one the user may use)."""

    def __init__(
        self, tokens: StreamTokens, profile: Callable[[str], dict[str, Any] | None]
    ) -> None:
        self._tokens = tokens
        self._profile = profile

    async def mint(self, call: Call[s.StreamTokenBody]) -> s.StreamToken:
        body, caller = call.body, call.user
        user_id = body.get("userId")
        if user_id is None:  # absent or null: the caller's own view
            user_id = caller.user_id
        sessions = body.get("sessions")
        if user_id is not None:
            profile = self._profile(user_id)
            if profile is None:
                raise NotFound(Code.UNKNOWN_USER, f"no helpdesk profile for user {user_id!r}")
            staff = profile.get("role") in STAFF_ROLES
            usable = frozenset(profile.get("sessions", (s.DEFAULT_SESSION,)))
            outside = [x for x in sessions or () if not staff and x not in usable]
            if outside:
                raise BadRequest(
                    Code.BAD_SESSIONS,
                    f"sessions: user {user_id!r} is not a member of {', '.join(outside)}",
                )
        if sessions is not None:
            sessions = sorted(set(sessions))
        token, expires_at = self._tokens.mint(
            user_id, sessions, body.get("ttlSeconds", DEFAULT_TTL)
        )
        log.info(
            "stream token minted for %r (sessions %s) until %d",
            user_id, sessions or "all", expires_at,
        )  # fmt: skip
        return {"token": token, "expiresAt": expires_at, "userId": user_id, "sessions": sessions}
