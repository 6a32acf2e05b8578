"""Issue 8's security checks: against a real stack, the outbound pace, failed-auth rate limiting
and tokens kept out of the logs; in-process (routes only), the SSRF guard on media URLs and the
CORS allowlist."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.harness import TOKEN, Bridge, Orchestrator, stack, wait_for
from tests.inprocess import Served, served

CHAT = "5511912345678@s.whatsapp.net"
ALLOWLIST = {"media_url_allowlist": "media.internal.test"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orchestrator, Bridge]]:
    env = {"ORCH_SEND_RATE": 4, "ORCH_SEND_BURST": 2, "ORCH_SEND_QUEUE": 5,
           "ORCH_AUTH_FAILURES_PER_MINUTE": 5}  # fmt: skip
    # The demo capture starts linked and open, so sends go out (replay mode answers them).
    with stack(tmp_path_factory.mktemp("security"), events=60, demo=True,
               orchestrator_env=env) as s:  # fmt: skip
        s.wait_open()
        yield s.orchestrator, s.bridge


@contextlib.asynccontextmanager
async def open_in_process(tmp_path: Path, **settings: Any) -> AsyncIterator[Served]:
    """The app in-process with WhatsApp open, so sends get as far as the media checks."""
    async with served(tmp_path, **settings) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        yield s


def appends(bridge: Bridge) -> list[dict[str, Any]]:
    return [e for e in bridge.client.journal()
            if e["event"] == "messages.upsert" and e["data"]["type"] == "append"]  # fmt: skip


def test_sends_go_out_at_the_numbers_pace_and_a_flood_is_refused(
    live: tuple[Orchestrator, Bridge],
) -> None:
    orchestrator, bridge = live
    before = len(appends(bridge))
    statuses = [
        orchestrator.http.post("/send", json={"chatId": CHAT, "text": f"msg {i}"}).status_code
        for i in range(12)
    ]
    accepted = statuses.count(202)
    assert statuses.count(429) >= 1 and set(statuses) <= {202, 429}, statuses
    assert accepted <= 2 + 5 + 2  # the burst, the queue, and what drained meanwhile

    def drained() -> list[dict[str, Any]] | None:
        new = appends(bridge)[before:]
        return new if len(new) == accepted else None

    sent = wait_for("the queue to drain", drained, timeout=20)
    times = [e["ts"] / 1000 for e in sent]
    paced = times[2:]  # after the burst of 2: one every 1/rate seconds
    gaps = [b - a for a, b in itertools.pairwise(paced)]
    assert gaps and min(gaps) >= 0.2, gaps  # 1/4 s, with scheduling slack
    metrics = orchestrator.http.get("/metrics").text
    assert "wa_send_refused_total" in metrics and "wa_send_queue_waiting" in metrics
    response = orchestrator.http.post("/send", json={"chatId": CHAT, "text": "x"})
    assert response.status_code in (202, 429)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/secret", "http://localhost:8080/admin", "http://10.0.0.5/x",
     "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "file:///etc/passwd",
     "ftp://example.com/x", "http://0.0.0.0/"],
)  # fmt: skip
@pytest.mark.anyio
async def test_media_urls_that_point_inside_are_refused(tmp_path: Path, url: str) -> None:
    body = {"chatId": CHAT, "media": {"type": "image", "url": url}}
    async with open_in_process(tmp_path, **ALLOWLIST) as s:
        response = await s.http.post("/send", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("media_url_forbidden", "bad_media")


@pytest.mark.anyio
async def test_an_allowlisted_host_may_be_private(tmp_path: Path) -> None:
    body = {
        "chatId": CHAT,
        "media": {"type": "document", "url": "http://media.internal.test/a.pdf"},
    }
    async with open_in_process(tmp_path, **ALLOWLIST) as s:
        response = await s.http.post("/send", json=body)
    assert response.status_code in (202, 429), response.text


def test_repeated_failed_sign_ins_are_rate_limited_and_tokens_never_logged(
    live: tuple[Orchestrator, Bridge],
) -> None:
    orchestrator, _ = live
    wrong = "definitely-not-the-token-0123456789"
    codes = [
        httpx.get(
            f"{orchestrator.base_url}/chats", headers={"Authorization": f"Bearer {wrong}"}
        ).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429], codes
    blocked = httpx.get(f"{orchestrator.base_url}/chats", headers={"Authorization": "Bearer x"})
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "60"
    assert blocked.json()["error"]["code"] == "too_many_failures"
    # Behind a proxy that serves a whole team, one stale tab's failures must not lock out
    # everyone else: from the blocked address, the right token (header, query, WebSocket)
    # still gets in, while wrong ones stay refused.
    good = httpx.get(f"{orchestrator.base_url}/chats", headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200, good.text
    assert httpx.get(f"{orchestrator.base_url}/me?access_token={TOKEN}").status_code == 200
    ws_url = orchestrator.base_url.replace("http", "ws")
    with connect(f"{ws_url}/ws?access_token={TOKEN}", open_timeout=5) as ws:
        with contextlib.suppress(TimeoutError):  # an envelope, or nothing new: both fine
            ws.recv(timeout=0.5)  # a refusal would close it (4429): ConnectionClosed here
        assert ws.close_code is None
    again = httpx.get(
        f"{orchestrator.base_url}/chats", headers={"Authorization": f"Bearer {wrong}"}
    )
    assert again.status_code == 429
    log = orchestrator.log_path.read_text()
    assert wrong not in log and TOKEN not in log
    assert httpx.get(f"{orchestrator.base_url}/health").status_code == 200


@pytest.mark.anyio
async def test_cors_allows_only_the_configured_origins(tmp_path: Path) -> None:
    preflight = {"Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    async with served(tmp_path, cors_origins="https://helpdesk.example") as s:
        allowed, other = [
            await s.http.options("/chats", headers={"Origin": origin, **preflight})
            for origin in ("https://helpdesk.example", "https://evil.example")
        ]
    assert allowed.headers.get("access-control-allow-origin") == "https://helpdesk.example"
    assert "access-control-allow-origin" not in other.headers
