"""Bearer-token authentication: the header, or `?access_token=` for EventSource and WebSocket."""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path

from starlette.requests import HTTPConnection

log = logging.getLogger("orchestrator.auth")


def presented_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return conn.query_params.get("access_token") or None


def token_matches(presented: str | None, expected: str) -> bool:
    # compare_digest takes as long whatever the first differing byte: no timing oracle.
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


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
