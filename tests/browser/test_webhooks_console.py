"""Issue 18's Webhooks panel on the console's settings page, in headless Chromium, against the
real bridge replaying a demo capture, the real orchestrator, and a real receiver on loopback
(a ThreadingHTTPServer here answering 200 or 500 as the test says; ORCH_MEDIA_URL_ALLOWLIST lets
the orchestrator reach it):

1. An admin adds an endpoint through the form (a private URL refused beside the field first),
   sees its secret once and copies it (the deliveries verify with it), then watches its health
   change as sends are delivered, then fail (HTTP 500) until, past a short retry horizon, the
   endpoint is disabled with its reason and the failures are dead letters; a replay while it is
   disabled is refused, enabled again the replay queues them and the receiver gets them; then
   the admin disables it and deletes it (a second click confirms). What the server says is
   shown as text, never markup.
2. The panel polls GET /webhooks every 5 s (the page's clock, Playwright's) only while the tab is
   visible, at once when it is visible again; an agent's settings page has no panel.

Screenshots in test-artifacts/browser/.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect
from standardwebhooks.webhooks import Webhook

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import Console, Live
from tests.harness import wait_for
from tests.test_permissions import SECRET, user_token

RETRY_HORIZON = 3  # seconds: failing that long disables the endpoint, its deliveries dead letters
ENV: dict[str, str | int] = {
    "ORCH_MEDIA_URL_ALLOWLIST": "127.0.0.1",
    "ORCH_WEBHOOK_RETRY_INITIAL": "0.1",
    "ORCH_WEBHOOK_RETRY_MAX": "0.3",
    "ORCH_WEBHOOK_RETRY_HORIZON": RETRY_HORIZON,
    "SUPABASE_JWT_SECRET": SECRET,
}
POLL = "webhookPollMs=300"
PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
SLOW = 20_000  # ms: what waits on retries and the horizon


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on loopback: answers `status`, keeps what it got."""

    url: str = ""
    status: int = 200
    got: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliveries(self) -> list[Delivery]:
        with self.lock:
            return list(self.got)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with state.lock:
                state.got.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body))
                status = state.status
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/wa?via=test"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def person_chat(s: Live) -> str:
    """A person's chat of the demo capture, once it is applied."""
    s.replay_done()
    chats: list[dict[str, Any]] = s.rest("/chats?limit=500")["chats"]
    chat_id: str = next(c["id"] for c in chats if not c["isGroup"])
    return chat_id


def send(s: Live, chat_id: str, text: str) -> None:
    answer = s.orchestrator.http.post("/send", json={"chatId": chat_id, "text": text})
    assert answer.status_code == 202, answer.text


def with_text(receiver: Receiver, secret: str, text: str) -> list[dict[str, Any]]:
    """The deliveries that carry a message with `text`, each verified with the secret."""
    found = []
    for d in receiver.deliveries():
        event: dict[str, Any] = Webhook(secret).verify(d.body, d.headers)
        assert d.headers["webhook-id"] == event["id"]
        assert d.headers["user-agent"] == "wa-helpdesk-webhooks/1"
        if (event.get("data") or {}).get("text") == text:
            found.append(event)
    return found


def open_settings(page: Page) -> None:
    page.click("#settings-toggle")
    page.wait_for_selector("#settings-form")


def health(row: Locator, key: str) -> Locator:
    return row.locator(f'[data-health="{key}"] .n')


NONZERO = re.compile(r"^[1-9]\d*$")


def test_an_admin_adds_watches_fixes_and_deletes_an_endpoint(
    stack: Callable[..., Live], console: Callable[..., Console], receiver: Receiver
) -> None:
    s = stack(events=300, rate=0, orchestrator_env=ENV)
    chat = person_chat(s)
    c = console(s.url, query=POLL)
    page = c.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=s.url)
    c.wait_live("sse")
    open_settings(page)
    panel = page.locator("#webhooks")
    expect(panel.locator("#webhooks-empty")).to_be_visible()

    # A private address that the allowlist does not name: refused beside the URL.
    with c.outage():  # Chromium logs the 400 as a console error
        page.fill("#webhook-url", "http://10.1.2.3/hook")
        page.click("#webhook-add")
        expect(page.locator("#webhook-url-error")).to_contain_text("Not added")
    assert page.get_attribute("#webhook-url", "aria-invalid") == "true"
    assert s.rest("/webhooks")["webhooks"] == []

    # Added: the secret shown once, copied; the row lists the endpoint as given, as text.
    description = 'CRM <b>teste</b> & "aspas" <img src=x onerror=alert(1)>'
    page.fill("#webhook-url", receiver.url)
    page.fill("#webhook-description", description)
    page.fill("#webhook-events", "new_message, message_ack")
    page.click("#webhook-add")
    expect(page.locator("#webhook-secret-box")).to_be_visible()
    secret = page.input_value("#webhook-secret")
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret), secret
    page.click("#webhook-secret-copy")
    expect(page.locator("#webhook-secret-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    row = panel.locator("tr.wh-row")
    expect(row).to_have_count(1)
    [listed] = s.rest("/webhooks")["webhooks"]
    assert "secret" not in listed
    assert row.get_attribute("data-webhook-id") == listed["id"]
    expect(row.locator(".wh-url")).to_have_text(receiver.url)
    expect(row.locator(".wh-description")).to_have_text(description)
    assert row.locator(".wh-description *").count() == 0  # no markup made from it
    expect(row.locator(".wh-filters")).to_have_text("message_ack, new_message")  # sorted
    expect(row.locator(".wh-state")).to_have_text("Enabled")
    expect(health(row, "delivered")).to_have_text("0")
    expect(row.locator(".wh-last-success")).to_have_text("never")
    c.shot("webhook-added")
    page.click("#webhook-secret-done")
    expect(page.locator("#webhook-secret")).to_have_count(0)
    assert secret not in page.content()

    # Delivered: the receiver verifies the first send with the secret; the health follows.
    send(s, chat, "webhook one")
    wait_for("the first send delivered", lambda: with_text(receiver, secret, "webhook one"))
    expect(health(row, "delivered")).to_have_text(NONZERO)
    expect(row.locator(".wh-last-success")).to_have_text(re.compile(r"ago$"))
    expect(health(row, "pending")).to_have_text("0")
    expect(row.locator(".wh-replay")).to_be_disabled()

    # Failing: HTTP 500 retried, then past the horizon the endpoint is disabled, its
    # deliveries dead letters.
    receiver.status = 500
    send(s, chat, "webhook two")
    expect(health(row, "failed")).to_have_text(NONZERO, timeout=SLOW)
    expect(row.locator(".wh-last-error")).to_have_text("HTTP 500")
    expect(row.locator(".wh-last-failure")).to_have_text(re.compile(r"ago$"))
    expect(row.locator(".wh-state")).to_have_text("Disabled", timeout=SLOW)
    expect(row.locator(".wh-reason")).to_contain_text("failed every delivery")
    expect(health(row, "deadLetters")).to_have_text(NONZERO)
    expect(health(row, "pending")).to_have_text("0")
    dead = int(health(row, "deadLetters").inner_text())
    failing = with_text(receiver, secret, "webhook two")
    assert failing, "the failing deliveries reached the receiver"
    c.shot("webhook-dead")
    assert_accessible(c.page, "webhooks")

    # Replaying while disabled: refused with the API's message.
    receiver.status = 200
    with c.outage():  # the 409
        row.locator(".wh-replay").click()
        expect(row.locator(".wh-row-status")).to_contain_text("Not replayed")
    expect(row.locator(".wh-row-status")).to_contain_text("disabled")

    # Enabled again, the dead letters replayed: the receiver gets them again, the same ids.
    row.locator(".wh-toggle").click()
    expect(row.locator(".wh-state")).to_have_text("Enabled")
    expect(row.locator(".wh-reason")).to_be_hidden()
    before = len(receiver.deliveries())
    row.locator(".wh-replay").click()
    word = "letter" if dead == 1 else "letters"
    expect(row.locator(".wh-row-status")).to_have_text(f"Queued {dead} dead {word} again.")
    wait_for("the dead letters delivered", lambda: len(receiver.deliveries()) >= before + dead)
    again = with_text(receiver, secret, "webhook two")
    assert {e["id"] for e in again} == {e["id"] for e in failing}
    expect(health(row, "deadLetters")).to_have_text("0")
    expect(health(row, "pending")).to_have_text("0")
    c.shot("webhook-replayed")
    page.set_viewport_size(PHONE)
    row.scroll_into_view_if_needed()
    c.shot("webhook-phone")
    page.set_viewport_size(LAPTOP)

    # Disabled by the admin, then deleted: the first click asks, the second deletes.
    row.locator(".wh-toggle").click()
    expect(row.locator(".wh-state")).to_have_text("Disabled")
    expect(row.locator(".wh-reason")).to_have_text("disabled by an admin")
    assert s.rest(f"/webhooks/{listed['id']}")["enabled"] is False
    remove = row.locator(".wh-delete")
    remove.click()
    expect(remove).to_have_text("Delete: sure?")
    assert len(s.rest("/webhooks")["webhooks"]) == 1
    remove.click()
    expect(panel.locator("tr.wh-row")).to_have_count(0)
    expect(panel.locator("#webhooks-empty")).to_be_visible()
    assert s.rest("/webhooks")["webhooks"] == []
    c.shot("webhook-deleted")


COUNT_GETS = """
window.__webhookGets = 0
const original = window.fetch
window.fetch = (input, init) => {
  const get = (init?.method ?? 'GET') === 'GET'
  if (get && String(input).endsWith('/webhooks')) window.__webhookGets++
  return original(input, init)
}
"""
VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' })
  document.dispatchEvent(new Event('visibilitychange'))
}"""


def test_the_panel_polls_only_while_visible_and_only_for_admins(
    stack: Callable[..., Live], console: Callable[..., Console], receiver: Receiver
) -> None:
    s = stack(events=300, rate=0, orchestrator_env=ENV)
    chat = person_chat(s)
    created = s.orchestrator.http.post("/webhooks", json={"url": receiver.url})
    assert created.status_code == 201, created.text

    def setup(page: Page) -> None:
        page.clock.install()
        page.add_init_script(COUNT_GETS)

    c = console(s.url, setup=setup)
    page = c.page
    c.wait_live("sse")

    def gets() -> int:
        return int(page.evaluate("window.__webhookGets"))

    assert gets() == 0  # nothing before the settings page opens
    open_settings(page)
    row = page.locator("tr.wh-row")
    expect(row).to_have_count(1)
    expect(row.locator(".wh-filters")).to_have_text("All events")
    wait_for("the first GET /webhooks", lambda: gets() == 1)

    # Visible: one GET every 5 s of the page's clock, the numbers follow.
    send(s, chat, "polled")
    wait_for("the send delivered", lambda: receiver.deliveries())
    page.clock.fast_forward(5_000)
    wait_for("the second GET /webhooks", lambda: gets() == 2)
    expect(health(row, "delivered")).to_have_text(NONZERO)

    # Hidden: a minute passes without one; visible again: one at once.
    page.evaluate(VISIBILITY, "hidden")
    page.clock.fast_forward(60_000)
    page.clock.fast_forward(60_000)
    assert gets() == 2
    page.evaluate(VISIBILITY, "visible")
    wait_for("a GET /webhooks when visible again", lambda: gets() == 3)
    page.clock.fast_forward(5_000)
    wait_for("polling again", lambda: gets() == 4)

    # Leaving the page stops it.
    page.click("#settings-close")
    page.clock.fast_forward(60_000)
    assert gets() == 4

    # An agent's settings page: no panel, no call.
    user_id = str(uuid.uuid4())
    profile = {"role": "agent", "displayName": "Ana", "sessions": ["default"]}
    s.orchestrator.http.put(f"/admin/profiles/{user_id}", json=profile).raise_for_status()
    s.orchestrator.http.put(f"/chats/{chat}/assignment", json={"agentId": user_id})
    agent = console(s.url, sign_in=False, query=f"access_token={user_token(user_id)}")
    agent.wait_live("sse")
    seen: list[str] = []
    agent.page.on("request", lambda r: seen.append(r.url))
    open_settings(agent.page)
    agent.page.wait_for_selector("#settings-readonly")
    expect(agent.page.locator("#webhooks")).to_have_count(0)
    assert not [u for u in seen if "/webhooks" in u]
    assert orjson.loads(created.content)["id"] == s.rest("/webhooks")["webhooks"][0]["id"]
