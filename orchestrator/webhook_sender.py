"""One webhook attempt: sign the envelope as Standard Webhooks says (the `standardwebhooks`
package signs; we do not), POST it, and tell what came of it. Redirects are not followed (a
public URL must not lead us into a private network), and at most EXCERPT_BYTES of an answer
are read.

aiohttp rather than httpx here: on this path it posts 4-10 times as many requests per second
(httpx's connection pool costs more per request than the rest of a delivery together)."""

from __future__ import annotations

import email.utils
import ipaddress
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import aiohttp.abc
from aiohttp.abc import ResolveResult
from standardwebhooks.webhooks import Webhook

USER_AGENT = "wa-helpdesk-webhooks/1"
EXCERPT_BYTES = 1024
EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None  # None: no answer (timeout, connection error)
    latency: float  # seconds
    error: str | None  # None on success
    excerpt: str | None
    retry_after: float | None  # seconds the receiver asked us to wait

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def signature(secrets: list[str], event_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: one `v1,<base64>` per secret, space-separated."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(secret).sign(event_id, moment, body) for secret in secrets)


def headers(secrets: list[str], event_id: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = int(now)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secrets, event_id, timestamp, body),
    }


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value[:9]))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


async def post(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes,
    sent_headers: dict[str, str],
    now: float,
) -> Outcome:
    started = time.monotonic()
    try:
        async with client.post(
            url, data=body, headers=sent_headers, allow_redirects=False
        ) as answer:
            excerpt = await answer.content.read(EXCERPT_BYTES)
            latency = time.monotonic() - started
            code = answer.status
            text = excerpt.decode("utf-8", "replace")[:EXCERPT_CHARS] or None
            return Outcome(
                code,
                latency,
                None if 200 <= code < 300 else f"HTTP {code}",
                text,
                retry_after(answer.headers.get("retry-after"), now),
            )
    except TimeoutError:
        return Outcome(None, time.monotonic() - started, "timeout", None, None)
    except aiohttp.ClientConnectorError as exc:  # "connection refused", not aiohttp's sentence
        errno, strerror = exc.os_error.errno, exc.os_error.strerror
        if isinstance(exc.os_error, NonPublicAddress):
            reason = str(exc.os_error)
        else:
            reason = os.strerror(errno).lower() if errno and errno > 0 else (strerror or str(exc))
        return Outcome(None, time.monotonic() - started, reason[:EXCERPT_CHARS], None, None)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        # Whatever stopped this attempt is the receiver's failure: it is retried.
        reason = str(exc) or type(exc).__name__
        return Outcome(None, time.monotonic() - started, reason[:EXCERPT_CHARS], None, None)


class NonPublicAddress(OSError):
    """A host that resolves, now, to loopback or a private network (DNS rebinding)."""


class PublicResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver, keeping only public addresses unless the host is allowlisted: the
    URL was checked when it was saved, but a host can resolve elsewhere later, so the address
    actually connected to is checked too (an IP literal is fixed, checked when saved)."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        self._allowed = allowed_hosts
        self._resolver = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        if host.lower() in self._allowed:
            return found
        public = [r for r in found if ipaddress.ip_address(r["host"]).is_global]
        if not public:
            raise NonPublicAddress(f"{host} resolves to a non-public address")
        return public

    async def close(self) -> None:
        await self._resolver.close()


def client(
    timeout: float, concurrency: int, allowed_hosts: frozenset[str]
) -> aiohttp.ClientSession:
    """One per endpoint: a receiver that hangs holds its own connections only. `timeout`
    bounds a whole attempt (a receiver dribbling its answer byte by byte included)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=concurrency, resolver=PublicResolver(allowed_hosts), use_dns_cache=False
        ),
        timeout=aiohttp.ClientTimeout(total=timeout),
        auto_decompress=False,  # the excerpt is for people; a compressed one is not worth it
        trust_env=False,
        skip_auto_headers=("accept-encoding",),
    )
