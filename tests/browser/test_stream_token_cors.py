"""A browser page on another origin (the Next.js app at its own address) using a stream token
against the orchestrator, in Debian's Chromium: `fetch` with the token as Bearer (a CORS
preflight), EventSource and WebSocket with `?access_token=`, and a write refused in a way the
page can read (403 read_only_token). A page on an origin ORCH_CORS_ORIGINS does not list gets
nothing: the same fetch fails in the browser."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from orchestrator.shapes import EVENT_DATA
from tests.harness import Orchestrator, stack

PAGE = b"<!doctype html><html><head><title>app</title></head><body>the app</body></html>"

# What the app's page does with the token its server handed it.
USE_THE_TOKEN = """
async ({ base, token }) => {
  const bearer = { Authorization: `Bearer ${token}` }
  const chats = await (await fetch(`${base}/chats`, { headers: bearer })).json()
  const write = await fetch(`${base}/send`, {
    method: 'POST',
    headers: { ...bearer, 'Content-Type': 'application/json' },
    body: JSON.stringify({ chatId: chats.chats[0].id, text: 'from the browser' }),
  })
  const sse = await new Promise((resolve, reject) => {
    const es = new EventSource(`${base}/events?lastEventId=&access_token=${token}`)
    es.addEventListener('new_message', (e) => { es.close(); resolve(JSON.parse(e.data).type) })
    es.onerror = () => { es.close(); reject(new Error('EventSource failed')) }
  })
  const ws = await new Promise((resolve, reject) => {
    const wsBase = base.replace('http', 'ws')
    const socket = new WebSocket(`${wsBase}/ws?lastEventId=&access_token=${token}`)
    socket.onmessage = (e) => { socket.close(); resolve(JSON.parse(e.data).type) }
    socket.onclose = (e) => reject(new Error(`WebSocket closed ${e.code}`))
  })
  const refusal = (await write.json()).error.code
  return { chats: chats.chats.length, write: [write.status, refusal], sse, ws }
}
"""

TRY_FETCH = """
async ({ base, token }) => {
  try {
    await fetch(`${base}/chats`, { headers: { Authorization: `Bearer ${token}` } })
    return 'read'
  } catch (err) {
    return `refused: ${err.name}`
  }
}
"""


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def app_origins() -> Iterator[tuple[str, str]]:
    """Two web servers standing for apps: the first one's origin is allowed, the other not."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://localhost:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_page_on_the_apps_origin_reads_and_streams_with_the_token(
    browser: Browser, tmp_path: Path, app_origins: tuple[str, str]
) -> None:
    allowed, other = app_origins
    env = {"ORCH_CORS_ORIGINS": allowed}
    with stack(tmp_path, events=60, orchestrator_env=env) as s:
        orchestrator: Orchestrator = s.orchestrator
        orchestrator.http.put("/admin/profiles/agent-7", json={"role": "agent"}).raise_for_status()
        minted = orchestrator.http.post("/auth/stream-token", json={"userId": "agent-7"})
        assert minted.status_code == 201, minted.text
        token = minted.json()["token"]
        base = orchestrator.base_url  # http://127.0.0.1:<port>: another origin than the app's
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{allowed}/")
            result = page.evaluate(USE_THE_TOKEN, {"base": base, "token": token})
            assert result["chats"] > 0
            assert result["write"] == [403, "read_only_token"]
            assert result["sse"] == "new_message"
            assert result["ws"] in EVENT_DATA  # the first envelope, of whatever type
            page.goto(f"{other}/")
            refused = page.evaluate(TRY_FETCH, {"base": base, "token": token})
            assert refused == "refused: TypeError"  # CORS: the browser kept the answer from it
        finally:
            context.close()
