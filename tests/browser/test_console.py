"""Issue 6: the operator console and wa-client.js in headless Chromium, against the real bridge
replaying a demo capture and the real orchestrator.

1. It lists the chats, opens one with its messages, and shows live messages within a second.
2. The orchestrator killed (-9) and restarted on the same port: the page recovers by itself,
   with no lost and no duplicated message.
3. Streams blocked (SSE, or WebSocket): the client long-polls and keeps up; unblocked, it
   streams again.
4. Sending from the composer (a reply, an attachment, a reaction) reaches the bridge as
   `sendMessage` with the right content, and the message shows with its ack.
Plus the QR and pairing form when WhatsApp is not linked. Screenshots: test-artifacts/browser/.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import pytest
from playwright.sync_api import Page, Route, WebSocketRoute

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import Console, Live, demo_capture, wait_dom_matches_rest
from tests.harness import TOKEN, wait_for

PHONE = {"width": 390, "height": 844}
CHATS = 30  # the demo capture's


def history_applied(s: Live) -> list[dict[str, Any]]:
    """The chats, once the capture's history sync has been applied (every chat has a message)."""

    def ready() -> list[dict[str, Any]] | None:
        chats: list[dict[str, Any]] = s.rest("/chats?limit=500")["chats"]
        done = len(chats) == CHATS and all(c["lastMessage"] for c in chats)
        return chats if done else None

    return wait_for("the history sync to be applied", ready, 20)


def last_message_chat(capture: Path) -> str:
    """The chat the capture's last message goes to."""
    for line in reversed(capture.read_bytes().splitlines()):
        record = orjson.loads(line)
        if record["event"] == "messages.upsert":
            chat: str = record["data"]["messages"][-1]["key"]["remoteJid"]
            return chat
    raise AssertionError(f"{capture} holds no message")


def next_new_message(s: Live, chat_id: str, since: str, timeout: float = 30.0) -> dict[str, Any]:
    """Long-poll the orchestrator (not the page) for the next message in `chat_id`: the
    `new_message` envelope."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = s.rest(f"/events/poll?since={since}&timeout=3")
        since = body["lastEventId"]
        for envelope in body["events"]:
            if envelope["type"] == "new_message" and envelope["data"]["chatId"] == chat_id:
                found: dict[str, Any] = envelope
                return found
    raise AssertionError(f"no new message in {chat_id} within {timeout}s")


def shows_message(c: Console, message_id: str, timeout_ms: float) -> None:
    c.page.wait_for_selector(
        f'#message-list > li[data-message-id="{message_id}"]', timeout=timeout_ms
    )


def test_lists_chats_opens_one_and_shows_live_messages(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    s = stack(events=600, rate=4)
    chats = history_applied(s)

    # A refused token: the sign-in form says so; a good one opens the console.
    c = console(s.url, sign_in=False, query="access_token=not-the-token", outage=True)
    c.page.wait_for_selector("#signin-error:not([hidden])")
    assert "refused" in c.page.inner_text("#signin-error")
    assert "access_token" not in c.page.url, "the token must leave the address bar"
    c.shot("token-refused")
    c.page.fill("#signin-token", TOKEN)
    c.page.press("#signin-token", "Enter")
    c.wait_live("sse")
    c._outage = False
    assert c.page.evaluate("sessionStorage.getItem('wa-console-token')") == TOKEN
    c.page.evaluate("window.__sameDocument = true")

    # The list: every chat, with its name, its newest message, its unread badge.
    wait_for("every chat listed", lambda: set(c.dom_chat_ids()) == {ch["id"] for ch in chats})
    first = c.page.locator(f'#chat-list > li[data-chat-id="{chats[-1]["id"]}"]')
    assert chats[-1]["name"] in first.inner_text()
    assert c.page.locator("#chat-list .badge").count() > 0
    assert c.page.inner_text("#wa-state") == "WhatsApp connected"
    c.shot("chat-list")

    # Search narrows the list; clearing it brings everything back.
    c.page.fill("#search", chats[-1]["name"])
    wait_for("search to narrow the list", lambda: c.dom_chat_ids() == [chats[-1]["id"]])
    c.page.fill("#search", "")
    wait_for("search cleared", lambda: len(c.dom_chat_ids()) == CHATS)

    # Open the busiest chat (newest activity): its messages are the REST answer.
    top = c.dom_chat_ids()[0]
    c.open_chat(top)
    wait_dom_matches_rest(c, s, top)
    assert c.page.inner_text("#chat-title") == s.rest(f"/chats/{top}")["name"]
    c.shot("chat-open")

    # Live: each new message shows within a second of the server having it, without a reload.
    since = s.orchestrator.last_event_id()
    for _ in range(2):
        envelope = next_new_message(s, top, since)
        shows_message(c, envelope["data"]["id"], 1000)
        since = s.orchestrator.last_event_id()
    assert c.page.evaluate("window.__sameDocument") is True
    wait_dom_matches_rest(c, s, top)
    c.shot("live-message")

    # Applied once: the same envelope again, or a stale ack, changes nothing on the page.
    shown = c.dom_message_ids()
    message = envelope["data"]
    c.page.evaluate("e => window.__waClient._receive(e)", envelope)
    c.page.evaluate("e => window.__waClient._receive(e)", {**envelope, "id": "other:1:0"})
    stale = {"chatId": top, "messageId": message["id"], "ack": 1, "status": "pending"}
    c.page.evaluate(
        "a => window.__waClient._receive({id: 'other:2:0', type: 'message_ack', data: a})", stale
    )
    assert c.dom_message_ids() == shown
    item = c.page.locator(f'#message-list > li[data-message-id="{message["id"]}"]')
    assert item.get_attribute("data-ack") == str(message["ack"])

    # Keyboard: "/" searches, Tab reaches the list, arrows move, Enter opens and focuses the reply.
    c.page.locator("#composer-text").blur()
    c.page.keyboard.press("/")
    assert c.page.evaluate("document.activeElement.id") == "search"
    c.page.keyboard.press("Tab")
    # Beside the box, its "Messages" mode (message search, issue #16); then the list.
    assert c.page.evaluate("document.activeElement.id") == "search-messages"
    c.page.keyboard.press("Tab")
    focused = c.page.evaluate("document.activeElement.dataset.chatId")
    assert focused == top, "the open chat is the list's tab stop"
    c.page.keyboard.press("ArrowDown")
    second = c.page.evaluate("document.activeElement.dataset.chatId")
    assert second != top and second in c.dom_chat_ids()
    c.page.keyboard.press("Enter")
    wait_for(
        "the reply box to have the focus",
        lambda: c.page.evaluate("document.activeElement.id") == "composer-text",
    )
    assert c.page.inner_text("#chat-title") == s.rest(f"/chats/{second}")["name"]

    # The same console on a phone: one pane at a time.
    phone = console(s.url, viewport=PHONE)
    phone.wait_live("sse")
    phone.page.wait_for_selector("#chat-list > li")
    assert not phone.page.is_visible("#chat")
    phone.shot("phone-list")
    phone.open_chat(top)
    assert not phone.page.is_visible("#chat-list")
    phone.shot("phone-chat")
    phone.page.click("#back")
    phone.page.wait_for_selector("#chat-list", state="visible")


@pytest.mark.parametrize("retention", [None, 20], ids=["default-retention", "tiny-retention"])
def test_recovers_after_the_orchestrator_is_killed_and_restarted(
    retention: int | None, stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    """A restarted orchestrator reloads its state from the store and follows the bridge from
    the position stored with it: a page whose last event came after that position resumes
    exactly (the ids derive from the bridge's journal); one whose position is older gets
    `resync` and reloads its snapshots. With a tiny retention it is always `resync`. Either
    way the page ends equal to the server: nothing lost, nothing twice."""
    env = {} if retention is None else {"ORCH_STREAM_RETENTION": retention}
    s = stack(events=200, rate=15, orchestrator_env=env)
    history_applied(s)
    c = console(s.url)
    c.wait_live("sse")
    # The chat of the capture's last message gets one after the outage, however late the kill
    # comes; the chat on top of the list may get none.
    chat = last_message_chat(s.stack.capture)
    c.open_chat(chat)
    wait_dom_matches_rest(c, s, chat)
    before = c.dom_message_ids()

    c.page.evaluate(
        "() => { window.__resyncs = 0; window.__waClient.on('resync', () => window.__resyncs++) }"
    )
    port = s.orchestrator.port
    with c.outage():
        seq_at_kill = s.stack.client.state()["seq"]
        s.kill_orchestrator()
        c.page.wait_for_selector('body[data-link="reconnecting"]')
        assert c.page.is_visible("#banner")
        assert "Reconnecting" in c.page.inner_text("#banner")
        c.shot("server-down")
        # The bridge publishes meanwhile, more than a tiny retention holds.
        s.stack.client.wait_seq(seq_at_kill + 25)
        s.start_orchestrator(port=port)
        c.wait_live("sse", timeout=30)
    assert not c.page.is_visible("#banner")
    s.replay_done()
    wait_dom_matches_rest(c, s, chat)
    after = c.dom_message_ids()
    assert len(after) > len(before), "messages from during and after the outage should show"
    c.shot("recovered")
    resyncs = c.page.evaluate("window.__resyncs")
    if retention is not None:
        assert resyncs >= 1, resyncs

    # The chat list recovered too: every chat with the newest message the server has.
    rest = {ch["id"]: ch["lastMessage"]["id"] for ch in s.rest("/chats?limit=500")["chats"]}

    def list_matches() -> bool:
        shown = c.page.eval_on_selector_all(
            "#chat-list > li", "els => els.map(e => [e.dataset.chatId, e.dataset.lastMessageId])"
        )
        return dict(shown) == rest

    wait_for("the chat list to match the server", list_matches, 10)


def test_a_click_on_a_chat_whose_row_is_rebuilt_between_press_and_release_opens_it(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    """A chat's row is rebuilt when the chat changes (a new message, a read). The browser gives
    no click when the pressed element leaves the page before the release, so a busy chat would
    not open for an agent whose press straddles a change: the release opens it."""
    s = stack(events=200, rate=50)
    chats = history_applied(s)
    s.replay_done()
    chat = next(ch for ch in chats if not ch["isGroup"] and ch["unreadCount"])
    c = console(s.url)
    c.wait_live("sse")
    row = f'#chat-list > li[data-chat-id="{chat["id"]}"]'
    c.page.locator(row).scroll_into_view_if_needed()
    c.page.eval_on_selector(row, "el => { window.__pressed = el }")
    box = c.page.locator(row).bounding_box()
    assert box is not None
    c.page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2)
    c.page.mouse.down()
    # Another agent reads that chat meanwhile: its unread count goes, its row is rebuilt.
    read = s.orchestrator.http.post(f"/chats/{chat['id']}/read")
    assert read.status_code == 200, read.text
    wait_for("the row rebuilt", lambda: c.page.evaluate("() => !window.__pressed.isConnected"))
    assert c.page.locator(f"{row} .badge").count() == 0
    c.page.mouse.up()
    c.page.wait_for_selector("#message-list > li.msg")
    assert c.page.inner_text("#chat-title") == chat["name"]
    assert c.page.get_attribute(row, "aria-selected") == "true"


# Answers the server gave, handed to the page only once the test calls window.__release().
HOLD_ANSWERS = r"""
(() => {
  const held = (method, url) => %s
  const fetchNow = window.fetch.bind(window)
  let release
  const released = new Promise((resolve) => { release = resolve })
  window.__held = 0
  window.__release = () => release()
  window.fetch = async (input, init) => {
    const response = await fetchNow(input, init)
    const url = String(input instanceof Request ? input.url : input)
    if (held(init?.method ?? 'GET', url)) {
      window.__held++
      await released
    }
    return response
  }
})()
"""
FIRST_MESSAGE_PAGES = r"/\/chats\/[^/]+\/messages\?/.test(url) && !url.includes('before=')"
SEND_ANSWERS = "method === 'POST' && url.endsWith('/send')"


def hold_answers(held: str) -> Callable[[Page], None]:
    """A console `setup` that holds the answers `held(method, url)` (JavaScript) picks."""
    return lambda page: page.add_init_script(HOLD_ANSWERS % held)


def one_second_capture(path: Path) -> tuple[Path, int]:
    """The demo capture with every live message in the same second, as in a busy group."""
    demo_capture(path, events=200)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    live = [e for e in lines if e["event"] == "messages.upsert" and e["data"]["type"] == "notify"]
    second = live[0]["data"]["messages"][0]["messageTimestamp"]
    for event in live:
        for message in event["data"]["messages"]:
            message["messageTimestamp"] = second
    path.write_bytes(b"\n".join(map(orjson.dumps, lines)) + b"\n")
    return path, second


def test_messages_of_one_second_show_in_the_server_order_however_they_arrive(
    stack: Callable[..., Live], console: Callable[..., Console], tmp_path: Path
) -> None:
    """WhatsApp's timestamps are whole seconds; the server orders the messages of one second by
    when it had them (`arrival`). A chat's first page answered before a message of the same
    second, but handed to the page after that message came over the stream, must still show
    the server's order, not the order the page learned of them."""
    capture, second = one_second_capture(tmp_path / "capture.jsonl")
    s = stack(events=200, rate=5, capture=capture)
    history_applied(s)
    group = "12036304000000000@g.us"  # the demo's busiest chat
    wait_for(
        "a live message in the group",
        lambda: any(
            m["timestamp"] == second for m in s.rest(f"/chats/{group}/messages")["messages"]
        ),
    )
    c = console(s.url, setup=hold_answers(FIRST_MESSAGE_PAGES))
    c.wait_live("sse")
    c.page.click(f'#chat-list > li[data-chat-id="{group}"]')
    wait_for("the page to have its answer", lambda: c.page.evaluate("window.__held") == 1)
    newer = next_new_message(s, group, s.orchestrator.last_event_id())["data"]
    assert newer["timestamp"] == second
    wait_for(
        "the stream to bring the newer message",
        lambda: (
            newer["id"]
            in c.page.evaluate("id => window.__waClient.cachedMessages(id).map(m => m.id)", group)
        ),
    )
    c.page.evaluate("window.__release()")
    wait_dom_matches_rest(c, s, group)


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_falls_back_to_polling_when_streams_are_blocked_and_streams_again(
    transport: str, stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    s = stack(events=900, rate=6)
    history_applied(s)
    blocked = {"on": True}

    def block_sse(route: Route) -> None:
        if blocked["on"]:
            route.abort()
        else:
            route.continue_()

    def block_ws(ws: WebSocketRoute) -> None:
        if blocked["on"]:
            ws.close()
        else:
            ws.connect_to_server()

    def setup(page: Page) -> None:
        page.route(lambda url: urlparse(url).path == "/events", block_sse)
        page.route_web_socket(lambda url: urlparse(url).path == "/ws", block_ws)

    query = f"transport={transport}&streamRetryMs=2000"
    c = console(s.url, query=query, setup=setup, outage=True)
    c.wait_live("poll", timeout=30)
    state = c.client_state()
    assert state["blockedStreams"] >= 3, state
    assert "polling" in c.page.inner_text("#link-state")
    top = c.dom_chat_ids()[0]
    c.open_chat(top)
    wait_dom_matches_rest(c, s, top)
    envelope = next_new_message(s, top, s.orchestrator.last_event_id())
    shows_message(c, envelope["data"]["id"], 2000)
    c.shot("polling")

    blocked["on"] = False
    c.wait_live(transport, timeout=15)
    c._outage = False
    envelope = next_new_message(s, top, s.orchestrator.last_event_id())
    shows_message(c, envelope["data"]["id"], 1000)
    wait_dom_matches_rest(c, s, top)
    c.shot("streaming-again")


def png(width: int, height: int) -> bytes:
    """A real PNG (a green gradient), so the page can decode and show it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (20, 120 + x * 100 // width, 90))
        for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_sending_reaches_the_bridge_and_shows_with_its_ack(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    s = stack(events=400, rate=1)
    chats = history_applied(s)
    chat = next(ch["id"] for ch in chats if not ch["isGroup"])
    c = console(s.url)
    c.wait_live("sse")
    c.open_chat(chat)
    wait_dom_matches_rest(c, s, chat)

    # A reply to the newest incoming message.
    target = c.page.eval_on_selector_all(
        "#message-list > li.msg.in", "els => els.map(e => e.dataset.messageId)"
    )[-1]
    item = c.page.locator(f'#message-list > li[data-message-id="{target}"]')
    item.hover()
    item.get_by_role("button", name="Reply to this message").click()
    assert c.page.is_visible("#reply-box")
    text = "Thanks for waiting: your refund is on its way ✅"
    c.page.fill("#composer-text", text)
    c.shot("reply-typed")
    c.page.press("#composer-text", "Enter")

    sent = wait_for("sendMessage to reach the bridge", lambda: s.commands("sendMessage"))
    jid, content, options = sent[0]["params"]
    assert (jid, content) == (chat, {"text": text})
    assert options["quoted"]["key"]["id"] == target
    message_id = options["messageId"]
    shown = c.page.locator(f'#message-list > li[data-message-id="{message_id}"]')
    shown.wait_for()
    assert text in shown.inner_text()
    assert shown.locator("blockquote.quoted").count() == 1
    c.page.wait_for_selector(f'li[data-message-id="{message_id}"][data-ack="2"]')
    assert shown.locator(".ticks").inner_text() == "✓"
    assert shown.locator(".ticks").get_attribute("aria-label") == "sent"
    assert not c.page.is_visible("#reply-box")
    rest = next(m for m in s.rest(f"/chats/{chat}/messages")["messages"] if m["id"] == message_id)
    assert (rest["text"], rest["quotedId"], rest["status"]) == (text, target, "sent")
    c.shot("reply-sent")

    # An attachment: a photo, sent as base64, shown from the orchestrator's media route.
    photo = png(96, 64)
    c.page.set_input_files(
        "#file", files=[{"name": "label.png", "mimeType": "image/png", "buffer": photo}]
    )
    assert "label.png" in c.page.inner_text("#file-box")
    c.page.click("#send")
    sent = wait_for("the photo to reach the bridge", lambda: s.commands("sendMessage")[1:])
    jid, content, options = sent[0]["params"]
    assert jid == chat
    assert content == {
        "image": {"$bytes": base64.b64encode(photo).decode()},
        "mimetype": "image/png",
        "fileName": "label.png",
    }
    photo_id = options["messageId"]
    img = c.page.locator(f'li[data-message-id="{photo_id}"] img')
    img.wait_for()
    wait_for("the photo to load", lambda: img.evaluate("i => i.complete && i.naturalWidth") == 96)
    c.page.wait_for_selector(f'li[data-message-id="{photo_id}"][data-ack="2"]')
    c.shot("photo-sent")

    # A reaction to the customer's message.
    item.hover()
    item.get_by_role("button", name="React to this message").click()
    c.page.get_by_role("menuitem", name="👍").click()
    sent = wait_for("the reaction to reach the bridge", lambda: s.commands("sendMessage")[2:])
    jid, content, _ = sent[0]["params"]
    assert jid == chat
    assert content["react"]["text"] == "👍"
    assert content["react"]["key"]["id"] == target
    item.locator(".reactions").wait_for()
    assert "👍" in item.locator(".reactions").inner_text()
    c.shot("reacted")

    # Nothing else reached the bridge as a send.
    assert len(s.commands("sendMessage")) == 3
    log = orjson.loads(s.command_log.read_bytes().splitlines()[0])
    assert set(log) == {"method", "params"}


def test_a_send_answered_after_the_stream_brought_its_message_keeps_the_stream_copy(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    """The stream can deliver a sent photo (with its media url and ack) before the answer to
    POST /send reaches the page: the pending copy in that answer must not replace it."""
    s = stack(events=400, rate=1)
    chats = history_applied(s)
    chat = next(ch["id"] for ch in chats if not ch["isGroup"])
    c = console(s.url, setup=hold_answers(SEND_ANSWERS))
    c.wait_live("sse")
    c.open_chat(chat)
    c.page.set_input_files(
        "#file", files=[{"name": "label.png", "mimeType": "image/png", "buffer": png(96, 64)}]
    )
    c.page.click("#send")
    sent = wait_for("the photo to reach the bridge", lambda: s.commands("sendMessage"))
    photo_id = sent[0]["params"][2]["messageId"]

    def cached() -> dict[str, Any] | None:
        found: dict[str, Any] | None = c.page.evaluate(
            "([chat, id]) => window.__waClient.cachedMessages(chat).find((m) => m.id === id)",
            [chat, photo_id],
        )
        return found

    wait_for("the stream to bring the photo", lambda: (cached() or {}).get("ack") == 2)
    c.page.evaluate("window.__release()")
    c.page.wait_for_selector("#file-box", state="hidden")  # the send has resolved
    after = cached()
    assert after is not None and after["media"]["url"] is not None, after
    assert after["ack"] == 2, after
    img = c.page.locator(f'li[data-message-id="{photo_id}"] img')
    wait_for("the photo to load", lambda: img.evaluate("i => i.complete && i.naturalWidth") == 96)
    assert c.dom_message_ids().count(photo_id) == 1


def test_shows_the_qr_and_the_pairing_form_when_not_linked(
    stack: Callable[..., Live], console: Callable[..., Console], tmp_path: Path
) -> None:
    events = [
        {"event": "connection.update", "data": {"connection": "connecting"}},
        {"event": "connection.update", "data": {"qr": "2@first-qr-code,AAAA,BBBB,CCCC"}},
        *[{"event": "connection.update", "data": {"connection": "connecting"}}] * 5,
        {"event": "connection.update", "data": {"qr": "2@second-qr-code,DDDD,EEEE,FFFF"}},
    ]
    capture = tmp_path / "qr.jsonl"
    capture.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    s = stack(events=0, rate=1.5, capture=capture)
    c = console(s.url)
    c.page.wait_for_selector("#qr:not([hidden])")
    assert c.page.is_visible("#link")
    assert c.page.inner_text("#wa-state") == "Waiting for the QR scan"
    qr = c.page.locator("#qr")
    wait_for("the QR image", lambda: qr.evaluate("i => i.complete && i.naturalWidth") > 0)
    first = qr.get_attribute("src")
    c.shot("qr")
    assert_accessible(c.page, "qr")
    wait_for("a new QR", lambda: qr.get_attribute("src") != first, 15)
    wait_for("the new QR image", lambda: qr.evaluate("i => i.complete && i.naturalWidth") > 0)

    # Pairing by phone number: the replaying bridge cannot, and the form says why.
    with c.outage():
        c.page.fill("#pairing-phone", "+55 11 98888 7777")
        c.page.click("#pairing-form button")
        result = c.page.locator("#pairing-result")
        wait_for("the pairing answer", lambda: result.inner_text().startswith("Could not"))
    assert "replaying a capture" in result.inner_text(), result.inner_text()
    c.shot("pairing-refused")
