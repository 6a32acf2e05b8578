"""URLs the backend will reach on a caller's word (media the bridge fetches, webhook endpoints
it posts to): only public addresses, unless the operator allows a host. Without this, anyone
with a token could make us reach loopback or private-network services (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from orchestrator.errors import BadRequest, Code

RESOLVE_TIMEOUT = 3.0


def allowlist(setting: str) -> frozenset[str]:
    """ORCH_MEDIA_URL_ALLOWLIST's hosts, lowercase."""
    return frozenset(h.strip().lower() for h in setting.split(",") if h.strip())


async def check_public_url(
    url: str,
    allowed_hosts: frozenset[str],
    *,
    field: str = "media.url",
    code: Code = Code.MEDIA_URL_FORBIDDEN,
) -> None:
    """Raise BadRequest (`code`) unless `url` is http(s) and every address its host has is
    public. `field` names the URL in the message.

    (A host can re-resolve differently when it is reached; the allowlist is for the hosts you
    trust, this check for everything else.)"""

    def refused(message: str) -> BadRequest:
        return BadRequest(code, message)

    try:
        parts = urlsplit(url)
        port = parts.port  # raises for an out-of-range port
    except ValueError as exc:
        raise refused(f"{field} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused(f"{field} must be an http(s) URL with a host")
    host = parts.hostname.lower()
    if host in allowed_hosts:
        return
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise refused(f"cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address.is_global:
            raise refused(f"{host} resolves to a non-public address ({address})")
