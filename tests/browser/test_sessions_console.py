"""Issue 14: the console with two WhatsApp numbers (sessions), in headless Chromium, against the
real orchestrator and two real bridges, each replaying its own demo capture: `default` (the
stack's) and `support`, created with POST /sessions at the second bridge's endpoints.

The switcher shows both numbers with their unread counts (GET /sessions' figures), "All" lists
the chats of both with the number each is on, a number's view lists its chats only, opening a
chat of `support` reads it on support's routes (its count drops with the stream's chat_update),
and sending from it goes to `POST /sessions/support/send` and to support's bridge alone. An
orchestrator killed and restarted: the page resumes both numbers from its composite position. An
admin's number that cannot be added says why; removing one from the console takes the console
back to one number, without a switcher.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import orjson
import pytest

from tests import harness
from tests.browser.conftest import Console, Live, demo_capture
from tests.harness import Bridge, wait_for

EVENTS = 300
SECOND = "support"


@pytest.fixture
def endpoints() -> Iterator[harness.Endpoints]:
    with harness.ipc_endpoints() as e:
        yield e


def commands(log: Path, method: str) -> list[dict[str, Any]]:
    """What reached a bridge (BRIDGE_COMMAND_LOG), for one method."""
    if not log.exists():
        return []
    return [c for c in map(orjson.loads, log.read_bytes().splitlines()) if c["method"] == method]


def second_number(s: Live, tmp: Path, endpoints: harness.Endpoints) -> Path:
    """A second bridge replaying its own capture, made the session `support`; once the
    orchestrator has applied all of it. Its command log."""
    capture = demo_capture(tmp / "capture-b.jsonl", EVENTS, seed=11)
    command_log = tmp / "commands-b.jsonl"
    logs = tmp / "bridge-b-logs"
    logs.mkdir()
    bridge = s.stack.add(
        Bridge(
            logs, tmp / "bridge-b", endpoints, BRIDGE_REPLAY=str(capture), BRIDGE_REPLAY_RATE=0,
            BRIDGE_COMMAND_LOG=str(command_log), BRIDGE_LOG_LEVEL="warn",
        )
    )  # fmt: skip
    body = {
        "id": SECOND,
        "name": "Support",
        "bridge": {"pub": endpoints.pub, "router": endpoints.router},
    }
    created = s.orchestrator.http.post("/sessions", json=body)
    assert created.status_code == 201, created.text
    state = bridge.wait_seq(len(capture.read_bytes().splitlines()) + 2)
    applied = {"epoch": state["epoch"], "seq": state["seq"]}
    wait_for(
        "the orchestrator to apply the second capture",
        lambda: s.rest(f"/sessions/{SECOND}/admin/bridge")["applied"] == applied,
        30,
    )
    return command_log


def chats_of(s: Live, session: str) -> list[dict[str, Any]]:
    chats: list[dict[str, Any]] = s.rest(f"/sessions/{session}/chats?limit=500")["chats"]
    return chats


def unread(s: Live) -> dict[str, int]:
    return {x["id"]: x["unread"] for x in s.rest("/sessions")["sessions"]}


def badge(c: Console, session: str) -> int:
    """The unread count the switcher shows for a session ('' for All); 0 without a badge."""
    tab = c.page.locator(f'#sessions > button[data-session="{session}"]')
    return int(tab.locator(".badge").inner_text()) if tab.locator(".badge").count() else 0


def dom_chats(c: Console) -> set[tuple[str, str]]:
    found: list[list[str]] = c.page.eval_on_selector_all(
        "#chat-list > li", "els => els.map(e => [e.dataset.session, e.dataset.chatId])"
    )
    return {(session, chat_id) for session, chat_id in found}


def test_two_numbers_switcher_all_view_and_sending_on_the_right_number(
    stack: Callable[..., Live],
    console: Callable[..., Console],
    tmp_path: Path,
    endpoints: harness.Endpoints,
) -> None:
    s = stack(events=EVENTS, rate=0)
    s.replay_done()
    command_log_b = second_number(s, tmp_path, endpoints)
    a_chats, b_chats = chats_of(s, "default"), chats_of(s, SECOND)
    counts = unread(s)
    assert counts[SECOND] > 0 and counts["default"] > 0, counts

    c = console(s.url)
    c.wait_live("sse")

    # The switcher: All and both numbers, with GET /sessions' unread counts.
    c.page.wait_for_selector(f'#sessions > button[data-session="{SECOND}"]')
    tabs = c.page.eval_on_selector_all(
        "#sessions > button", "els => els.map(e => e.dataset.session)"
    )
    assert tabs == ["", "default", SECOND]
    wait_for(
        "the unread counts of both numbers",
        lambda: (
            (badge(c, "default"), badge(c, SECOND), badge(c, ""))
            == (counts["default"], counts[SECOND], counts["default"] + counts[SECOND])
        ),
    )
    assert c.page.get_attribute('#sessions > button[data-session=""]', "aria-pressed") == "true"

    # All: the chats of both numbers, each saying which number it is on.
    everything = {("default", x["id"]) for x in a_chats} | {(SECOND, x["id"]) for x in b_chats}
    wait_for("the chats of both numbers", lambda: dom_chats(c) == everything)
    chips = c.page.eval_on_selector_all(
        '#chat-list > li[data-session="support"] .session-chip',
        "els => els.map(e => e.textContent)",
    )
    assert chips == ["Support"] * len(b_chats)
    c.shot("all-numbers")

    # One number's view: its chats only, and no chip (it is said once, in the switcher).
    c.page.click(f'#sessions > button[data-session="{SECOND}"]')
    wait_for("support's chats only", lambda: dom_chats(c) == {(SECOND, x["id"]) for x in b_chats})
    assert c.page.locator("#chat-list .session-chip").count() == 0
    c.shot("support-only")

    # Open support's chat with the most unread messages: it is read on support's routes, and
    # support's count drops by its unread when the stream's chat_update comes.
    target = max(b_chats, key=lambda x: (x["unreadCount"], x["timestamp"]))
    assert target["unreadCount"] > 0
    with c.page.expect_request(
        lambda r: (
            r.method == "POST"
            and r.url.endswith(f"/sessions/{SECOND}/chats/{quote(target['id'], safe='')}/read")
        )
    ):
        c.page.click(f'#chat-list > li[data-session="{SECOND}"][data-chat-id="{target["id"]}"]')
    c.page.wait_for_selector("#message-list > li.msg")
    wait_for(
        "support's unread count to drop",
        lambda: badge(c, SECOND) == counts[SECOND] - target["unreadCount"],
    )
    assert badge(c, "default") == counts["default"]
    assert commands(command_log_b, "readMessages"), "the read receipts went to support's bridge"
    assert not s.commands("readMessages")

    # Send: POST /sessions/support/send, and only support's bridge sends it.
    text = "Hello from the support number"
    c.page.fill("#composer-text", text)
    with c.page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/sessions/{SECOND}/send")
    ) as sent_request:
        c.page.press("#composer-text", "Enter")
    assert sent_request.value.post_data_json == {"chatId": target["id"], "text": text}
    sent = wait_for(
        "sendMessage on support's bridge", lambda: commands(command_log_b, "sendMessage")
    )
    jid, content, options = sent[0]["params"]
    assert (jid, content) == (target["id"], {"text": text})
    assert s.commands("sendMessage") == [], "nothing reached the default number's bridge"
    c.page.locator(f'#message-list > li[data-message-id="{options["messageId"]}"]').wait_for()
    assert "on Support" in c.page.inner_text("#chat-sub")
    c.shot("sent-on-support")

    # The orchestrator killed (-9) and restarted on its port: it restores both numbers, and the
    # page resumes from its position, one id per number, never refused; in "All" every chat of
    # both numbers ends with the newest message the server has.
    c.page.evaluate(
        "() => { window.__refused = []; window.__waClient.on('client', (s) => {"
        " if (s.error && s.error.includes('position')) window.__refused.push(s.error) }) }"
    )
    position = c.client_state()["lastEventId"]
    assert len(position.split(",")) == 2, position
    streams: list[str] = []
    c.page.on("request", lambda r: streams.append(r.url) if "/events?" in r.url else None)
    with c.outage():
        s.kill_orchestrator()
        c.page.wait_for_selector('body[data-link="reconnecting"]')
        s.start_orchestrator(port=s.orchestrator.port)
        c.wait_live("sse", timeout=30)
    c.page.click('#sessions > button[data-session=""]')
    newest = {
        (session, x["id"]): x["lastMessage"]["id"]
        for session in ("default", SECOND)
        for x in chats_of(s, session)
    }

    def list_matches() -> bool:
        shown = c.page.eval_on_selector_all(
            "#chat-list > li",
            "els => els.map(e => [e.dataset.session, e.dataset.chatId, e.dataset.lastMessageId])",
        )
        return {(session, chat): last for session, chat, last in shown} == newest

    wait_for("the chat list of both numbers to match the server", list_matches, 15)
    assert c.page.evaluate("window.__refused") == []
    resumed = parse_qs(urlparse(streams[-1]).query)
    assert len(resumed["lastEventId"][0].split(",")) == 2, streams[-1]
    assert resumed["session"] == [f"default,{SECOND}"]
    c.shot("recovered")

    # An admin adds a number: refused here (nothing is spawned, and no bridge was named), and
    # the console says why.
    c.page.click("#numbers-toggle")
    with c.outage():  # the 400 is on the page's console as a failed resource
        c.page.fill("#number-id", "north")
        c.page.click("#number-form button[type=submit]")
        c.page.wait_for_selector("#numbers-error:not([hidden])")
    assert "Not added" in c.page.inner_text("#numbers-error")

    # An admin removes the number: the console goes back to one number, without a switcher.
    remove = c.page.locator(f'#numbers-list > li[data-session="{SECOND}"] button')
    remove.click()
    assert remove.inner_text() == "Remove: sure?"
    remove.click()
    c.page.wait_for_selector("#sessions", state="hidden")
    wait_for(
        "the default number's chats only",
        lambda: dom_chats(c) == {("default", x["id"]) for x in a_chats},
    )
    assert s.orchestrator.http.get(f"/sessions/{SECOND}").status_code == 404
    c.shot("one-number-again")
