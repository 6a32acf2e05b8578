"""Issue 16's "Done means", as one agent's shift in headless Chromium against the real bridge
replaying the demo capture and the real orchestrator: sign in (email + password through the
GoTrue stand-in), see the queue, take a chat, answer with a quick reply, leave a note, resolve
the chat, and find an old conversation by its text.

Each piece has its own test (test_helpdesk_console.py, test_helpdesk_tools.py,
test_supabase_signin.py); this one checks they work together, in that order, for one agent.
Screenshots of each step at 1280x800: test-artifacts/browser/an_agents_shift-*.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from tests.browser.conftest import Console, Live
from tests.browser.test_helpdesk_console import counts, item, listed
from tests.browser.test_helpdesk_tools import (
    CHATS,
    composer,
    history_applied,
    in_view,
    old_unique_message,
    popup_options,
)
from tests.browser.test_supabase_signin import ANON_KEY, EMAIL, PASSWORD
from tests.gotrue import GoTrue
from tests.harness import wait_for
from tests.test_permissions import SECRET

AGENT = "Carla Souza"
REPLY = "Olá, {name}! Aqui é {agent}, do suporte. Como posso ajudar?"
LINK = {"state", "replay"}  # the orchestrator's, not an action's
NOTE = "Cliente pediu retorno até sexta <b>sem negrito</b>"


def chat_commands(s: Live) -> list[dict[str, Any]]:
    """What the console's actions sent to the bridge (BRIDGE_COMMAND_LOG), in order, whatever
    the method; not the orchestrator's own questions about the link (`state`, `replay`), which
    it may ask again at any time on a busy machine."""
    if not s.command_log.exists():
        return []
    log = map(orjson.loads, s.command_log.read_bytes().splitlines())
    return [x for x in log if x["method"] not in LINK]


def test_an_agents_shift(stack: Callable[..., Live], console: Callable[..., Console]) -> None:
    with GoTrue(SECRET, ANON_KEY) as auth:
        user_id = str(uuid.uuid4())
        auth.add_user(EMAIL, PASSWORD, user_id)
        env = {"SUPABASE_URL": auth.url, "SUPABASE_ANON_KEY": ANON_KEY,
               "SUPABASE_JWT_SECRET": SECRET}  # fmt: skip
        s = stack(events=900, rate=0, orchestrator_env=env)
        chats = history_applied(s)
        s.replay_done()
        admin = s.orchestrator.http
        profile = {"role": "agent", "displayName": AGENT, "sessions": ["default"]}
        admin.put(f"/admin/profiles/{user_id}", json=profile).raise_for_status()
        created = admin.post("/quick-replies", json={"shortcut": "ola", "body": REPLY})
        assert created.status_code == 201, created.text
        # The old conversation the shift ends on, and another chat (a named person) to work.
        old, number = old_unique_message(s, chats)
        person = next(
            c for c in chats if not c["isGroup"] and c["name"] and c["id"] != old["chatId"]
        )
        chat = person["id"]
        old_chat = next(c for c in chats if c["id"] == old["chatId"])

        # 1. Sign in with email and password: the header says who and in which role.
        c = console(s.url, sign_in=False)
        page = c.page
        page.wait_for_selector("#signin-email-form:not([hidden])")
        page.fill("#signin-email", EMAIL)
        page.fill("#signin-password", PASSWORD)
        c.shot("signin")
        page.click("#signin-email-submit")
        c.wait_live("sse", timeout=30)
        page.wait_for_selector("#inbox .inbox-tab")
        assert page.inner_text("#me-name") == AGENT
        assert page.text_content("#me-role") == "agent"
        assert [g.grant_type for g in auth.grants] == ["password"]
        assert page.evaluate("window.__waClient.token") == auth.grants[0].access_token

        # 2. The queue: Mine is empty, Unassigned lists every chat with its count.
        wait_for("the inbox counts", lambda: counts(c).get("view-unassigned") == CHATS, 30)
        assert counts(c)["view-mine"] == 0
        assert page.get_attribute('[data-focus-key="view-mine"]', "aria-pressed") == "true"
        page.click('[data-focus-key="view-unassigned"]')
        wait_for("every chat in Unassigned", lambda: len(listed(c)) == CHATS, 30)
        c.shot("queue")

        # 3. Take one: it leaves Unassigned and is the one chat in Mine.
        c.open_chat(chat)
        page.wait_for_selector("#assignee:text-is('Unassigned')")
        page.click("#chat-tools button:text-is('Take')")
        page.wait_for_selector("#assignee:text-is('👤 You')")
        wait_for(
            "the counts after taking it",
            lambda: (counts(c)["view-mine"], counts(c)["view-unassigned"]) == (1, CHATS - 1),
        )
        wait_for("Unassigned without it", lambda: chat not in listed(c))
        page.click('[data-focus-key="view-mine"]')
        wait_for("Mine to list it", lambda: listed(c) == [chat])
        assert s.rest(f"/chats/{chat}")["assignment"]["agentId"] == user_id
        c.shot("taken")

        # 4. Answer with the quick reply: "/ola", Enter fills it in, Enter sends it.
        assert s.commands("sendMessage") == []
        page.locator("#composer-text").click()
        page.keyboard.type("/ola")
        wait_for("/ola listed", lambda: popup_options(page) == ["/ola"])
        page.keyboard.press("Enter")
        filled = REPLY.format(name=person["name"], agent=AGENT)
        assert composer(page) == filled
        assert s.commands("sendMessage") == [], "Enter with the popup open inserts, never sends"
        page.keyboard.press("Enter")
        sent = wait_for("sendMessage to reach the bridge", lambda: s.commands("sendMessage"))
        assert len(sent) == 1
        jid, content, _ = sent[0]["params"]
        assert (jid, content) == (chat, {"text": filled})
        wait_for("the composer emptied", lambda: composer(page) == "")
        page.wait_for_selector(f"#message-list li.msg.out:has-text('{filled}')", timeout=30_000)
        c.shot("replied")

        # 5. A note: in the notes panel, and nothing more reaches the bridge. What the reply
        # set off is in the log first: the send, and `paused` for the typing indicator.
        def settled() -> list[dict[str, Any]] | None:
            log = chat_commands(s)
            presence = [x["params"][0] for x in log if x["method"] == "sendPresenceUpdate"]
            sent = any(x["method"] == "sendMessage" for x in log)
            return log if sent and presence[-1:] == ["paused"] else None

        before = wait_for("the reply's commands", settled, 15)
        page.click("#notes-toggle")
        page.wait_for_selector("#notes-empty:not([hidden])")
        page.fill("#note-text", NOTE)
        page.click("#note-add")
        note = page.locator("#notes-list > li.note").last
        note.locator(".note-body").wait_for()
        assert note.locator(".note-body").inner_text() == NOTE
        assert note.locator(".note-author").inner_text() == "You"
        assert note.locator(".note-body b").count() == 0, "a note is text, never markup"
        rest = s.rest(f"/chats/{chat}/notes")["notes"]
        assert [(n["body"], n["authorId"]) for n in rest] == [(NOTE, user_id)]
        assert chat_commands(s) == before, "a note sent something to WhatsApp"
        assert NOTE not in page.inner_text("#message-list")
        c.shot("note")
        page.click("#notes-close")
        page.wait_for_selector("#notes[hidden]", state="attached")

        # 6. Resolve it: it leaves Mine's Open view and shows in Resolved.
        assert page.input_value("#chat-status") == "open"
        assert page.get_attribute('[data-focus-key="status-open"]', "aria-pressed") == "true"
        page.select_option("#chat-status", "resolved")
        wait_for("the Open view without it", lambda: chat not in listed(c))
        wait_for("the Resolved count", lambda: counts(c)["status-resolved"] == 1)
        assert counts(c)["view-mine"] == 0
        assert s.rest(f"/chats/{chat}")["status"] == "resolved"
        page.click('[data-focus-key="status-resolved"]')
        wait_for("Resolved to list it", lambda: listed(c) == [chat])
        assert "Resolved" in page.inner_text(f"{item(chat)} .status-chip")
        c.shot("resolved")

        # 7. Find an old conversation by its text: the match opens its chat at that message,
        # in view and highlighted.
        page.click("#search-messages")
        assert page.get_attribute("#search-messages", "aria-pressed") == "true"
        page.fill("#search", number)
        hit = page.locator(f'#search-results .search-hit[data-message-id="{old["id"]}"]')
        hit.wait_for(timeout=30_000)
        assert page.locator("#search-results .search-hit").count() == 1
        assert old_chat["name"] in hit.inner_text()
        assert hit.locator("mark").inner_text() == number
        c.shot("search")
        started = time.monotonic()
        hit.click()
        message = f'#message-list > li[data-message-id="{old["id"]}"]'
        page.wait_for_selector(f"{message}.flash", timeout=30_000)
        print(f"\nsearch hit -> its message shown: {(time.monotonic() - started) * 1000:.0f} ms")
        assert page.inner_text("#chat-title") == old_chat["name"]
        assert in_view(page, message)
        assert number in page.inner_text(message)
        c.shot("found")
