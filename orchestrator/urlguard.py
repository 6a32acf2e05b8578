"""Media URLs that the bridge will fetch: only public addresses, unless the operator allows a
host. Without this, anyone with a token could make the bridge fetch loopback or private-network
services (SSRF) and send back what they answer."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from orchestrator.errors import BadRequest, Code

RESOLVE_TIMEOUT = 3.0


def refused(message: str) -> BadRequest:
    return BadRequest(Code.MEDIA_URL_FORBIDDEN, message)


async def check_public_url(url: str, allowed_hosts: frozenset[str]) -> None:
    """Raise BadRequest (media_url_forbidden) unless `url` is http(s) and every address its
    host has is public.

    (A host can re-resolve differently when the bridge fetches it; the allowlist is for the
    hosts you trust, this check for everything else.)"""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for an out-of-range port
    except ValueError as exc:
        raise refused(f"media.url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused("media.url must be an http(s) URL with a host")
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
