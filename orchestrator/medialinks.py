"""Signed media links: `/media/<chat>/<message>?exp=<unix>&sig=<hex>` needs no token, so the
API token never sits in an `<img src>` (browser history, proxy logs, screenshots).

The signature is an HMAC-SHA256 over the path and the expiry, with a key derived from the API
token (every replica sharing the token verifies the others' links; changing the token revokes
them all). Expiries are rounded up to a quarter of the lifetime, so every message encoded within
one quarter gets the same link: a page encoded once serves everyone, and a browser caches the
image. A link therefore lives between 3/4 and 4/4 of `ttl`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote

from orchestrator.errors import Code, Forbidden

KEY_LABEL = b"wa-helpdesk media link v1"


def media_path(chat_id: str, message_id: str, session: str = "default") -> str:
    path = f"/media/{quote(chat_id, safe='')}/{quote(message_id, safe='')}"
    return path if session == "default" else f"/sessions/{session}{path}"


class MediaLinks:
    def __init__(
        self,
        secret: str,
        ttl: int,
        clock: Callable[[], float] = time.time,
        session: str = "default",
    ) -> None:
        self._secret = secret
        self._ttl = ttl
        self._key = hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()
        self._quarter = max(1, ttl // 4)
        self._clock = clock
        self.session = session

    def for_session(self, session: str) -> MediaLinks:
        """The signer of one session's links: its path, and a signature no other session's
        link verifies against."""
        return MediaLinks(self._secret, self._ttl, self._clock, session)

    @property
    def period(self) -> int:
        """Changes when links made now change (a cache of encoded links must be dropped)."""
        return int(self._clock() // self._quarter)

    def url(self, chat_id: str, message_id: str) -> str:
        expires = (self.period + 4) * self._quarter
        signature = self._sign(chat_id, message_id, expires)
        return f"{media_path(chat_id, message_id, self.session)}?exp={expires}&sig={signature}"

    def verify(self, chat_id: str, message_id: str, exp: str | None, sig: str | None) -> None:
        """Raises Forbidden unless `sig` signs this path until `exp`, and `exp` is ahead."""
        if not (exp and exp.isascii() and exp.isdigit() and len(exp) <= 12 and sig):
            raise Forbidden(Code.BAD_MEDIA_SIGNATURE, "a media link needs exp and sig")
        expected = self._sign(chat_id, message_id, int(exp))
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise Forbidden(Code.BAD_MEDIA_SIGNATURE, "the media link's signature does not match")
        if int(exp) < self._clock():
            raise Forbidden(
                Code.MEDIA_LINK_EXPIRED, "the media link has expired: fetch the message again"
            )

    def _sign(self, chat_id: str, message_id: str, expires: int) -> str:
        # The default session signs as links did before sessions: those links stay valid.
        scope = "" if self.session == "default" else f"{self.session}\n"
        signed = f"{scope}{chat_id}\n{message_id}\n{expires}".encode()
        return hmac.new(self._key, signed, hashlib.sha256).hexdigest()[:32]
