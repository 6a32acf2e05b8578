"""Issue 8's security checks against a real stack: the outbound pace, the SSRF guard on media
URLs, failed-auth rate limiting, the CORS allowlist, and tokens kept out of the logs."""

from __future__ import annotations

import contextlib
import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import Processes
from tests.harness import BRIDGE_DIR, TOKEN, Bridge, Orchestrator, ipc_endpoints, wait_for

CHAT = "5511912345678@s.whatsapp.net"


def demo_capture(path: Path) -> Path:
    """A capture that starts linked and open, so sends go out (replay mode answers them)."""
    subprocess.run(
        ["node", str(BRIDGE_DIR / "scripts" / "make-capture.js"), "--demo", "--events", "60",
         "--out", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orchestrator, Bridge]]:
    tmp = tmp_path_factory.mktemp("security")
    processes = Processes(tmp)
    with ipc_endpoints() as endpoints:
        try:
            bridge = processes.add(
                Bridge(tmp, tmp / "bridge", endpoints, BRIDGE_REPLAY=demo_capture(tmp / "c.jsonl"))
            )
            bridge.wait_seq(62)
            orchestrator = processes.add(
                Orchestrator(tmp, tmp / "orch", endpoints, ORCH_SEND_RATE=4, ORCH_SEND_BURST=2,
                             ORCH_SEND_QUEUE=5, ORCH_AUTH_FAILURES_PER_MINUTE=5,
                             ORCH_CORS_ORIGINS="https://helpdesk.example",
                             ORCH_MEDIA_URL_ALLOWLIST="media.internal.test")
            )  # fmt: skip
            orchestrator.wait_healthy()
            wait_for("open", lambda: orchestrator.status()["connected"])
            yield orchestrator, bridge
        finally:
            processes.cleanup()


def appends(bridge: Bridge) -> list[dict[str, Any]]:
    return [e for e in bridge.client.journal()
            if e["event"] == "messages.upsert" and e["data"]["type"] == "append"]  # fmt: skip


def test_sends_go_out_at_the_numbers_pace_and_a_flood_is_refused(
    stack: tuple[Orchestrator, Bridge],
) -> None:
    orchestrator, bridge = stack
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
def test_media_urls_that_point_inside_are_refused(
    stack: tuple[Orchestrator, Bridge], url: str
) -> None:
    orchestrator, _ = stack
    body = {"chatId": CHAT, "media": {"type": "image", "url": url}}
    response = orchestrator.http.post("/send", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("media_url_forbidden", "bad_media")


def test_an_allowlisted_host_may_be_private(stack: tuple[Orchestrator, Bridge]) -> None:
    orchestrator, _ = stack
    body = {
        "chatId": CHAT,
        "media": {"type": "document", "url": "http://media.internal.test/a.pdf"},
    }
    response = orchestrator.http.post("/send", json=body)
    assert response.status_code in (202, 429), response.text


def test_repeated_failed_sign_ins_are_rate_limited_and_tokens_never_logged(
    stack: tuple[Orchestrator, Bridge],
) -> None:
    orchestrator, _ = stack
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


def test_cors_allows_only_the_configured_origins(stack: tuple[Orchestrator, Bridge]) -> None:
    orchestrator, _ = stack
    preflight = {"Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    url = f"{orchestrator.base_url}/chats"
    allowed = httpx.options(url, headers={"Origin": "https://helpdesk.example", **preflight})
    assert allowed.headers.get("access-control-allow-origin") == "https://helpdesk.example"
    other = httpx.options(url, headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
