"""Issue 17: the migration plan's Next.js helpdesk (examples/nextjs-helpdesk), built by
`make example-build` (`next build`) and served by `next start` against the real bridge
replaying a demo capture and the real orchestrator, in Debian's Chromium.

The page is on its own origin (Next's port) and streams from the orchestrator's (CORS allows it):
REST reads and sends go through the example's /api/whatsapp/* routes, which add the backend token
on the server; the WebSocket and the long-poll go to the orchestrator with a short-lived read-only
stream token from /api/whatsapp/stream-token.

1. The chat list renders from the proxy routes; a chat opens with the REST answer; live messages
   show within a second of the bridge publishing them (measured, printed); a chat's helpdesk
   status set elsewhere shows live; older pages load through the messages route.
2. Sending shows the message as pending at once, then with the server's ack.
3. The orchestrator killed (-9) and restarted: nothing lost, nothing twice.
4. WebSockets blocked: the page long-polls, and messages still arrive.
5. The backend token is nowhere the browser can see: the page's HTML, the JS chunks, every
   request and response (URLs, headers, bodies), the WebSocket frames, the storage.
6. The proxy routes pass the backend's answers on as they are (status and JSON body, errors
   included), and say so in the backend's error shape when it is down.
Screenshots: test-artifacts/browser/.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import orjson
import pytest
from playwright.sync_api import Page, Request, Route, WebSocket, WebSocketRoute

from tests import harness
from tests.browser.conftest import Console, Live, wait_dom_matches_rest
from tests.browser.test_console import history_applied, next_new_message
from tests.harness import REPO, TOKEN, free_port, wait_for

EXAMPLE = REPO / "examples" / "nextjs-helpdesk"
NEXT_BIN = EXAMPLE / "node_modules" / "next" / "dist" / "bin" / "next"


def build_canary() -> str:
    """The backend token `make example-build` builds with (the Makefile's EXAMPLE_BUILD_CANARY)."""
    found = re.search(r"^EXAMPLE_BUILD_CANARY := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert found, "the Makefile defines EXAMPLE_BUILD_CANARY"
    return found.group(1)


@pytest.fixture(scope="module")
def example_build() -> Path:
    """`make example-build`: the packages built, the example installed from its lock and
    `next build` (when a source changed). The build directory."""
    started = time.monotonic()
    run = subprocess.run(
        ["make", "--no-print-directory", "example-build"], cwd=REPO, capture_output=True, text=True,
        timeout=1200, check=False,
    )  # fmt: skip
    assert run.returncode == 0, (
        f"make example-build failed:\n{run.stdout[-6000:]}\n{run.stderr[-6000:]}"
    )
    print(f"\nmake example-build: {time.monotonic() - started:.1f} s")
    assert (EXAMPLE / ".next" / "BUILD_ID").exists()
    return EXAMPLE / ".next"


@dataclass
class Helpdesk:
    """The example served by `next start` against a stack (Live)."""

    live: Live
    url: str
    server: harness.Process

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=15, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=15, **kwargs)


@pytest.fixture
def helpdesk(
    stack: Callable[..., Live], example_build: Path, tmp_path: Path
) -> Iterator[Callable[..., Helpdesk]]:
    def start(*, events: int, rate: float, next_env: dict[str, str] | None = None) -> Helpdesk:
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        live = stack(events=events, rate=rate, orchestrator_env={"ORCH_CORS_ORIGINS": origin})
        backend = live.url
        env = {
            **os.environ,
            "NEXT_TELEMETRY_DISABLED": "1",
            "NEXT_PUBLIC_BACKEND_URL": backend,
            "NEXT_PUBLIC_BACKEND_WS_URL": backend.replace("http://", "ws://"),
            "BACKEND_URL": backend,
            "BACKEND_AUTH_TOKEN": TOKEN,
            **(next_env or {}),
        }
        argv = ["node", str(NEXT_BIN), "start", str(EXAMPLE), "-p", str(port), "-H", "127.0.0.1"]
        server = live.stack.add(harness.Process("next", argv, env, tmp_path / "next.log"))

        def serving() -> bool:
            if not server.running:
                raise AssertionError(f"next start exited:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{origin}/", timeout=5).status_code == 200
            return False

        started = time.monotonic()
        wait_for("next start to serve the page", serving, 60)
        print(f"\nnext start: serving in {time.monotonic() - started:.1f} s")
        return Helpdesk(live, origin, server)

    yield start


def open_helpdesk(
    console: Callable[..., Console],
    h: Helpdesk,
    *,
    setup: Callable[[Page], None] | None = None,
    outage: bool = False,
) -> Console:
    """The home page, signed in as nothing: the page gets its stream token from its server."""
    return console(h.url, sign_in=False, setup=setup, outage=outage)


def wait_live(c: Console, transport: str, timeout: float = 20.0) -> None:
    c.page.wait_for_selector(
        f'#wa-status[data-link="live"][data-transport="{transport}"]', timeout=timeout * 1000
    )


def chats_shown(c: Console) -> dict[str, str]:
    """Each listed chat's id and the id of the newest message it shows."""
    pairs = c.page.eval_on_selector_all(
        "#chat-list > li", "els => els.map(e => [e.dataset.chatId, e.dataset.lastMessageId])"
    )
    return dict(pairs)


def pump(c: Console) -> bool:
    """Let Playwright deliver its events (route and network handlers) while a test waits."""
    c.page.evaluate("0")
    return True


# When each message first showed on the page (the page's clock: the bridge's too, one machine).
SEEN_AT = r"""
(() => {
  window.__seenAt = {}
  const note = (el) => {
    if (el.matches?.('li[data-message-id]')) window.__seenAt[el.dataset.messageId] ??= Date.now()
    el.querySelectorAll?.('li[data-message-id]').forEach(note)
  }
  new MutationObserver((records) => {
    for (const r of records) r.addedNodes.forEach((n) => n.nodeType === 1 && note(n))
  }).observe(document, { childList: true, subtree: true })
})()
"""


def published_at(s: Live, envelope_id: str) -> int:
    """When the bridge published the journal entry an envelope comes from (its `ts`, ms):
    envelope ids are `epoch:seq:n`."""
    epoch, seq, _ = envelope_id.split(":")
    page = s.stack.client.result("replay", {"epoch": epoch, "seq": int(seq) - 1, "limit": 1})
    entry = page["events"][0]
    assert (entry["epoch"], entry["seq"]) == (epoch, int(seq)), entry
    ts: int = entry["ts"]
    return ts


def test_chat_list_renders_from_the_proxy_routes_and_live_messages_show_within_a_second(
    helpdesk: Callable[..., Helpdesk], console: Callable[..., Console]
) -> None:
    h = helpdesk(events=600, rate=4)
    s = h.live
    chats = history_applied(s)
    requests: list[tuple[str, str]] = []

    def setup(page: Page) -> None:
        page.add_init_script(SEEN_AT)
        page.on("request", lambda r: requests.append((r.method, r.url)))

    c = open_helpdesk(console, h, setup=setup)
    wait_live(c, "websocket")
    wait_for("every chat listed", lambda: set(c.dom_chat_ids()) == {ch["id"] for ch in chats})
    c.shot("chat-list")
    newest = s.rest("/chats?limit=1")["chats"][0]
    item = c.page.locator(f'#chat-list > li[data-chat-id="{newest["id"]}"]')
    assert newest["name"] in item.inner_text()
    assert c.page.inner_text("#wa-state") == "WhatsApp connected"

    # The list came from this app's route, never from the backend with a token of the page's.
    chat_calls = [u for m, u in requests if m == "GET" and "/chats?" in u]
    assert chat_calls and all(u.startswith(f"{h.url}/api/whatsapp/chats?") for u in chat_calls)

    # A chat opens with the REST answer, through the messages route.
    top = c.dom_chat_ids()[0]
    c.open_chat(top)
    wait_dom_matches_rest(c, s, top)
    assert c.page.inner_text("#chat-title") == s.rest(f"/chats/{top}")["name"]
    route = f"{h.url}/api/whatsapp/messages/{quote(top, safe='')}?"
    assert any(u.startswith(route) for m, u in requests if m == "GET"), requests
    assert not [u for _, u in requests if urlparse(u).path.endswith("/messages")]
    c.shot("chat-open")

    # Live: bridge publish -> on the page, for three messages in a row.
    latencies: list[int] = []
    since = s.orchestrator.last_event_id()
    for _ in range(3):
        envelope = next_new_message(s, top, since)
        message_id = envelope["data"]["id"]
        c.page.wait_for_selector(
            f'#message-list > li[data-message-id="{message_id}"]', timeout=1000
        )
        shown: int = c.page.evaluate("id => window.__seenAt[id]", message_id)
        latencies.append(shown - published_at(s, envelope["id"]))
        since = s.orchestrator.last_event_id()
    print(f"\nbridge publish -> DOM (ms): {latencies}")
    assert max(latencies) < 1000, latencies
    wait_dom_matches_rest(c, s, top)
    c.shot("live-messages")

    # A chat's helpdesk data (useHelpdesk), in the quietest chat (a customer's message would
    # reopen it): a status set elsewhere shows live.
    quiet = c.dom_chat_ids()[-1]
    c.open_chat(quiet)
    assert c.page.get_attribute("#chat-meta", "data-status") == "open"
    s.orchestrator.http.put(f"/chats/{quiet}/status", json={"status": "pending"}).raise_for_status()
    c.page.wait_for_selector('#chat-meta[data-status="pending"]')


def test_older_messages_load_page_by_page_through_the_messages_route(
    helpdesk: Callable[..., Helpdesk], console: Callable[..., Console]
) -> None:
    h = helpdesk(events=600, rate=60)
    s = h.live
    s.replay_done()
    group = "12036304000000000@g.us"  # the demo's busiest chat: more than two pages
    rest = s.message_ids(group)
    assert len(rest) > 2 * 50, len(rest)
    requests: list[str] = []
    c = open_helpdesk(
        console, h, setup=lambda page: page.on("request", lambda r: requests.append(r.url))
    )
    wait_live(c, "websocket")
    c.open_chat(group)
    wait_dom_matches_rest(c, s, group)
    assert len(c.dom_message_ids()) == 50
    older = c.page.get_by_role("button", name="Load older messages")
    for shown in (100, len(rest)):
        older.click()

        def loaded(n: int = shown) -> bool:
            return len(c.dom_message_ids()) == n

        wait_for(f"{shown} messages", loaded)
    assert c.dom_message_ids() == rest, "every message once, in the server's order"
    assert older.count() == 0, "nothing older is left to load"
    route = f"{h.url}/api/whatsapp/messages/{quote(group, safe='')}?"
    pages = [u for u in requests if u.startswith(route) and "before=" in u]
    assert len(pages) == 2, pages
    c.shot("older-loaded")


def test_sending_shows_pending_then_the_server_ack(
    helpdesk: Callable[..., Helpdesk], console: Callable[..., Console]
) -> None:
    h = helpdesk(events=400, rate=1)
    s = h.live
    chats = history_applied(s)
    chat = next(ch["id"] for ch in chats if not ch["isGroup"])
    held: list[Route] = []
    # Each change of a message's ack, as the page showed it.
    acks = r"""
    (() => {
      window.__acks = {}
      new MutationObserver((records) => {
        for (const r of records) {
          const els = r.type === 'attributes' ? [r.target] : [...r.addedNodes]
          for (const el of els) {
            if (el.nodeType !== 1 || !el.matches('li[data-message-id]')) continue
            const seen = (window.__acks[el.dataset.messageId] ??= [])
            if (seen.at(-1) !== el.dataset.ack) seen.push(el.dataset.ack)
          }
        }
      }).observe(document, {
        childList: true, subtree: true, attributes: true, attributeFilter: ['data-ack'],
      })
    })()
    """

    def setup(page: Page) -> None:
        page.add_init_script(acks)
        # The send's request waits until the test lets it go: the page must show it pending.
        page.route("**/api/whatsapp/send", lambda route: held.append(route))

    c = open_helpdesk(console, h, setup=setup)
    wait_live(c, "websocket")
    c.open_chat(chat)
    wait_dom_matches_rest(c, s, chat)

    text = "Your order ships today 📦"
    c.page.fill("#composer-text", text)
    c.page.press("#composer-text", "Enter")
    pending = c.page.locator('#message-list > li.outgoing[data-status="sending"]')
    pending.wait_for()
    assert text in pending.inner_text()
    assert pending.locator(".ticks").get_attribute("aria-label") == "sending"
    wait_for("the send to be held", lambda: pump(c) and held)
    request = held[0].request
    assert (request.method, request.url) == ("POST", f"{h.url}/api/whatsapp/send")
    assert "authorization" not in request.all_headers()
    assert orjson.loads(request.post_data_buffer or b"") == {"chatId": chat, "text": text}
    c.shot("pending")
    held[0].continue_()

    sent = wait_for("sendMessage to reach the bridge", lambda: s.commands("sendMessage"))
    jid, content, options = sent[0]["params"]
    assert (jid, content) == (chat, {"text": text})
    message_id = options["messageId"]
    shown = c.page.locator(f'#message-list > li[data-message-id="{message_id}"]')
    wait_for("the server's ack", lambda: shown.get_attribute("data-ack") == "2")
    assert shown.locator(".ticks").get_attribute("aria-label") == "sent"
    assert text in shown.inner_text()
    assert c.page.locator("#message-list > li.outgoing").count() == 0, "the pending copy stays"
    assert c.dom_message_ids().count(message_id) == 1
    history = c.page.evaluate("id => window.__acks[id]", message_id)
    assert history[-1] == "2" and set(history) <= {"1", "2"}, history
    rest = next(m for m in s.rest(f"/chats/{chat}/messages")["messages"] if m["id"] == message_id)
    assert (rest["text"], rest["status"]) == (text, "sent")
    wait_dom_matches_rest(c, s, chat)
    c.shot("sent")


def test_killing_and_restarting_the_orchestrator_loses_and_duplicates_nothing(
    helpdesk: Callable[..., Helpdesk], console: Callable[..., Console]
) -> None:
    # Live for ~40 s: on a busy machine the page is up late, and the outage must still come
    # while the bridge publishes (at 15/s the replay was over by then once).
    h = helpdesk(events=200, rate=5)
    s = h.live
    history_applied(s)
    c = open_helpdesk(console, h)
    wait_live(c, "websocket")
    top = c.dom_chat_ids()[0]
    c.open_chat(top)
    wait_dom_matches_rest(c, s, top)
    before = c.dom_message_ids()

    port = s.orchestrator.port
    with c.outage():
        s.kill_orchestrator()
        c.page.wait_for_selector('#wa-status[data-link="reconnecting"]')
        c.shot("server-down")
        # The bridge publishes on meanwhile: the page must get those events too.
        bridge = s.stack.bridge
        bridge.wait_seq(min(bridge.state()["seq"] + 10, s.stack.last))
        s.start_orchestrator(port=port)
        wait_live(c, "websocket", timeout=40)
    s.replay_done()
    wait_dom_matches_rest(c, s, top)
    after = c.dom_message_ids()
    assert len(after) > len(before), "messages from during and after the outage should show"
    c.shot("recovered")

    rest = {ch["id"]: ch["lastMessage"]["id"] for ch in s.rest("/chats?limit=500")["chats"]}
    wait_for("the chat list to match the server", lambda: chats_shown(c) == rest, 10)


def test_an_expired_stream_token_is_replaced_and_the_stream_resumes(
    helpdesk: Callable[..., Helpdesk], console: Callable[..., Console]
) -> None:
    """The shortest stream token the backend mints (30 s): a stream open when it expires runs
    on; the reconnection after a restart is refused (4401), the page asks its server for a new
    token and resumes from its last id."""
    h = helpdesk(events=300, rate=8, next_env={"STREAM_TOKEN_TTL_SECONDS": "30"})
    s = h.live
    history_applied(s)
    minted: list[dict[str, Any]] = []

    def on_response(response: Any) -> None:
        if response.url.endswith("/api/whatsapp/stream-token"):
            minted.append(response.json())

    c = open_helpdesk(console, h, setup=lambda page: page.on("response", on_response))
    wait_live(c, "websocket")
    top = c.dom_chat_ids()[0]
    c.open_chat(top)
    wait_dom_matches_rest(c, s, top)
    wait_for("the page's token", lambda: pump(c) and minted)
    first = minted[0]
    wait_for("the token to expire", lambda: time.time() > first["expiresAt"] + 1, 45)
    assert c.page.get_attribute("#wa-status", "data-link") == "live", "the open stream runs on"

    with c.outage():
        s.orchestrator.kill9()
        c.page.wait_for_selector('#wa-status[data-link="reconnecting"]')
        s.start_orchestrator(port=s.orchestrator.port)
        wait_live(c, "websocket", timeout=40)
    assert len(minted) >= 2 and minted[-1]["token"] != first["token"], minted
    s.replay_done()
    wait_dom_matches_rest(c, s, top)
    c.shot("new-token")


def test_blocked_websockets_fall_back_to_polling(
    helpdesk: Callable[..., Helpdesk], console: Callable[..., Console]
) -> None:
    h = helpdesk(events=900, rate=6)
    s = h.live
    history_applied(s)
    polls: list[Request] = []

    def setup(page: Page) -> None:
        def block(ws: WebSocketRoute) -> None:
            ws.close()

        page.route_web_socket(lambda url: urlparse(url).path == "/ws", block)
        page.on("request", lambda r: polls.append(r) if "/events/poll" in r.url else None)

    c = open_helpdesk(console, h, setup=setup, outage=True)
    wait_live(c, "poll", timeout=40)
    assert "polling" in c.page.inner_text("#link-state")
    top = c.dom_chat_ids()[0]
    c.open_chat(top)
    wait_dom_matches_rest(c, s, top)
    for _ in range(2):
        envelope = next_new_message(s, top, s.orchestrator.last_event_id())
        c.page.wait_for_selector(
            f'#message-list > li[data-message-id="{envelope["data"]["id"]}"]', timeout=2000
        )
    wait_dom_matches_rest(c, s, top)
    c.shot("polling")

    # The long-poll goes to the backend with the page's stream token, not the backend's.
    assert polls and all(p.url.startswith(f"{s.url}/events/poll") for p in polls)
    bearer = polls[-1].all_headers()["authorization"]
    assert bearer.startswith("Bearer ") and TOKEN not in bearer


def test_the_backend_token_reaches_the_browser_nowhere(
    helpdesk: Callable[..., Helpdesk],
    console: Callable[..., Console],
    example_build: Path,
) -> None:
    h = helpdesk(events=300, rate=2)
    s = h.live
    chats = history_applied(s)
    chat = next(ch["id"] for ch in chats if not ch["isGroup"])
    requests: list[Request] = []
    sockets: list[WebSocket] = []
    frames: list[str | bytes] = []

    def on_socket(ws: WebSocket) -> None:
        sockets.append(ws)
        # Playwright wraps handlers with attributes: a lambda, not a builtin method.
        ws.on("framereceived", lambda payload: frames.append(payload))
        ws.on("framesent", lambda payload: frames.append(payload))

    def setup(page: Page) -> None:
        page.on("request", lambda r: requests.append(r))
        page.on("websocket", on_socket)

    # A whole session: the list, a chat, a send with its ack, live messages meanwhile.
    c = open_helpdesk(console, h, setup=setup)
    wait_live(c, "websocket")
    c.open_chat(chat)
    wait_dom_matches_rest(c, s, chat)
    c.page.fill("#composer-text", "Checking on your ticket")
    c.page.press("#composer-text", "Enter")
    sent = wait_for("the send to reach the bridge", lambda: s.commands("sendMessage"))
    message_id = sent[0]["params"][2]["messageId"]
    c.page.wait_for_selector(f'li[data-message-id="{message_id}"][data-ack="2"]')

    # Everything the browser got or sent.
    seen: list[tuple[str, bytes]] = [
        ("the page's HTML (DOM)", c.page.content().encode()),
        ("the page's HTML (as served)", h.get("/").content),
        ("storage", c.page.evaluate("JSON.stringify([localStorage, sessionStorage])").encode()),
        ("cookies", orjson.dumps(c.page.context.cookies())),
    ]
    for r in requests:
        seen.append((f"request URL {r.url}", r.url.encode()))
        seen.append((f"request headers {r.url}", orjson.dumps(r.all_headers())))
        seen.append((f"request body {r.url}", r.post_data_buffer or b""))
        response = r.response()
        if response is None:
            continue
        seen.append((f"response headers {r.url}", orjson.dumps(response.all_headers())))
        with contextlib.suppress(Exception):  # a stream cut off by the page has no body
            seen.append((f"response body {r.url}", response.body()))
    for ws in sockets:
        seen.append((f"WebSocket URL {ws.url}", ws.url.encode()))
    for frame in frames:
        seen.append(("a WebSocket frame", frame if isinstance(frame, bytes) else frame.encode()))
    # Every file a browser can be served from the build: the chunks, the prerendered pages.
    files = [p for p in (example_build / "static").rglob("*") if p.is_file()]
    files += [
        p for p in (example_build / "server" / "app").rglob("*")
        if p.is_file() and p.suffix in {".html", ".rsc", ".body", ".meta"}
    ]  # fmt: skip
    assert any(p.suffix == ".js" for p in files), "no JS chunk found"
    seen += [(f"{p.relative_to(example_build)}", p.read_bytes()) for p in files]

    # The capture is real: the page's chunks were fetched, and its stream token was seen.
    chunk_urls = [r.url for r in requests if "/_next/static/chunks/" in r.url]
    assert chunk_urls, "the page loaded no chunk"
    minted = [r for r in requests if r.url == f"{h.url}/api/whatsapp/stream-token"]
    answer = minted[0].response() if minted else None
    assert answer is not None, "the page asked for no stream token"
    stream_token: str = answer.json()["token"]
    assert any(stream_token.encode() in blob for _, blob in seen)
    assert stream_token != TOKEN

    for secret in (TOKEN, build_canary()):
        leaks = [where for where, blob in seen if secret.encode() in blob]
        assert not leaks, f"the backend token is in: {leaks}"
    print(f"\nsearched {len(seen)} items ({len(requests)} requests, {len(frames)} frames, "
          f"{len(files)} build files): no backend token")  # fmt: skip

    # What the page holds can read and stream, never write (the browser logs the 403).
    with c.outage():
        refused = c.page.evaluate(
            """async ([url, token, chat]) => {
              const headers = {Authorization: 'Bearer ' + token, 'Content-Type': 'application/json'}
              const body = JSON.stringify({chatId: chat, text: 'x'})
              const r = await fetch(url + '/send', {method: 'POST', headers, body})
              return [r.status, (await r.json()).error.code]
            }""",
            [s.url, stream_token, chat],
        )
    assert refused == [403, "read_only_token"]


def test_proxy_routes_pass_the_backend_answers_on(helpdesk: Callable[..., Helpdesk]) -> None:
    h = helpdesk(events=200, rate=50)
    s = h.live
    s.replay_done()
    backend = s.orchestrator.http
    chats = s.rest("/chats?limit=500")["chats"]
    chat = next(ch["id"] for ch in chats if not ch["isGroup"])

    def same(route: str, backend_path: str, method: str = "GET", body: bytes | None = None) -> int:
        """The route answers what the backend answers to the same request: status, JSON."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        mine = httpx.request(method, f"{h.url}{route}", content=body, headers=headers, timeout=15)
        theirs = backend.request(method, backend_path, content=body, headers=headers)
        assert (mine.status_code, mine.json()) == (theirs.status_code, theirs.json()), route
        assert mine.headers["cache-control"] == "no-store"
        assert "set-cookie" not in mine.headers
        assert TOKEN not in str(mine.headers) and TOKEN not in mine.text
        return mine.status_code

    assert same("/api/whatsapp/chats?limit=5", "/chats?limit=5") == 200
    assert same("/api/whatsapp/chats?limit=nope", "/chats?limit=nope") == 400
    encoded = quote(chat, safe="")
    path = f"/chats/{encoded}/messages?limit=10"
    assert same(f"/api/whatsapp/messages/{encoded}?limit=10", path) == 200
    # The segment decoded by Next or not, the backend gets it encoded once.
    assert same(f"/api/whatsapp/messages/{chat}?limit=10", path) == 200
    unknown = quote("5511999999999@s.whatsapp.net", safe="")
    code = same(f"/api/whatsapp/messages/{unknown}", f"/chats/{unknown}/messages")
    assert code == 404
    assert same("/api/whatsapp/send", "/send", "POST", b"{not json") == 400
    assert same("/api/whatsapp/send", "/send", "POST", orjson.dumps({"chatId": chat})) == 400

    # Another site's page may not send, nor get a token (its form would carry the user's cookies).
    for route in ("/api/whatsapp/send", "/api/whatsapp/stream-token"):
        crossed = h.post(
            route, json={"chatId": chat, "text": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert (crossed.status_code, crossed.json()["error"]["code"]) == (403, "cross_site_request")
    assert not s.commands("sendMessage")

    # The stream token: only the token and its expiry, readable with GET, no writing.
    minted = h.post("/api/whatsapp/stream-token")
    assert minted.status_code == 200 and minted.headers["cache-control"] == "no-store"
    body = minted.json()
    assert set(body) == {"token", "expiresAt"} and body["expiresAt"] > time.time() + 60
    bearer = {"Authorization": f"Bearer {body['token']}"}
    with httpx.Client(base_url=s.url, headers=bearer, timeout=15) as as_page:
        assert as_page.get("/chats?limit=1").status_code == 200
        assert as_page.post("/send", json={"chatId": chat, "text": "x"}).status_code == 403
    fetched = h.get("/api/whatsapp/stream-token")  # fetch(url) as the packages' READMEs write it
    assert fetched.status_code == 200 and set(fetched.json()) == {"token", "expiresAt"}
    assert fetched.json()["token"] != body["token"], "a new token each time, never a cached one"
    crossed = h.get("/api/whatsapp/stream-token", headers={"Sec-Fetch-Site": "cross-site"})
    assert crossed.status_code == 403

    # The backend down: the backend's error shape, 502, and nothing of the token.
    s.kill_orchestrator()
    for route in ("/api/whatsapp/chats", f"/api/whatsapp/messages/{encoded}"):
        down = h.get(route)
        assert down.status_code == 502
        assert down.json()["error"]["code"] == "backend_unreachable"
        assert TOKEN not in down.text
    assert h.post("/api/whatsapp/stream-token").json()["error"]["code"] == "backend_unreachable"


def test_the_example_type_checks(example_build: Path) -> None:
    run = subprocess.run(
        ["npm", "run", "--silent", "typecheck"], cwd=EXAMPLE, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_packages_are_installed_as_copies_with_one_react(example_build: Path) -> None:
    """.npmrc install-links: the file: packages are copies, not symlinks to clients/ (whose
    own node_modules hold their dev React), so the app and the packages share one React."""
    modules = EXAMPLE / "node_modules"
    for name in ("client", "react"):
        package = modules / "@wa-helpdesk" / name
        assert package.is_dir() and not package.is_symlink(), package
        assert not (package / "node_modules").exists(), f"{package} has modules of its own"
    reacts = [
        p.parent.relative_to(modules)
        for p in modules.rglob("react/package.json")
        if orjson.loads(p.read_bytes()).get("name") == "react"
        and "compiled" not in p.parts  # Next's own vendored copy, used by its app router
    ]  # fmt: skip
    assert reacts == [Path("react")], reacts
