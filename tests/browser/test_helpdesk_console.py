"""Issue 16: the console becomes a helpdesk, in headless Chromium against the real bridge
replaying the demo capture and the real orchestrator. Two agents (Maria, João: users signed in
with Supabase-style JWTs, roles from their profiles) and an admin (the API token), each in their
own browser context:

1. Assignment: Maria takes an unassigned chat (it moves from Unassigned to Mine, the counts
   change, and it leaves João's list), transfers it to João (it joins his), João releases it
   (back to Unassigned for both); each live on the other screen, the delay measured. What the
   API refuses (a chat taken meanwhile) is shown with its message.
2. Notes: the panel lists a chat's private notes with author and time, live on another
   screen, and nothing reaches WhatsApp (the bridge's command log has no send).
3. Status (once the `status` branch serves PUT /chats/{chatId}/status) and agents' presence
   (once the `presence` branch serves agent-presence): in their own tests below.

Screenshots of each view at 1280x800 and 390x844: test-artifacts/browser/helpdesk_*.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import jwt
import pytest

from tests.browser.conftest import Console, Live
from tests.harness import wait_for

SECRET = "project-jwt-secret-for-console-tests-0123"
PHONE = {"width": 390, "height": 844}
CHATS = 30  # the demo capture's
LIVE_LIMIT_MS = 5000  # the issue asks for 1 s; asserted with room for a busy machine
latencies: dict[str, float] = {}


def user_token(user_id: str) -> str:
    payload = {"sub": user_id, "aud": "authenticated", "role": "authenticated",
               "exp": int(time.time()) + 3600}  # fmt: skip
    return jwt.encode(payload, SECRET, algorithm="HS256")


class Desk:
    """A stack over the demo capture with two agents, Maria and João."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.users = {"maria": str(uuid.uuid4()), "joao": str(uuid.uuid4())}
        for key, name in (("maria", "Maria"), ("joao", "João")):
            body = {"role": "agent", "displayName": name}
            live.orchestrator.http.put(f"/admin/profiles/{self.users[key]}", json=body)
        self.chats = wait_for("the history sync to be applied", self._synced, 30)

    def _synced(self) -> list[dict[str, Any]] | None:
        chats: list[dict[str, Any]] = self.live.rest("/chats?limit=500")["chats"]
        return chats if len(chats) == CHATS and all(c["lastMessage"] for c in chats) else None

    def open(self, console: Callable[..., Console], who: str, **options: Any) -> Console:
        token = user_token(self.users[who])
        c = console(self.live.url, sign_in=False, query=f"access_token={token}", **options)
        c.wait_live("sse")
        c.page.wait_for_selector("#inbox .inbox-tab")
        return c


@pytest.fixture
def desk(stack: Callable[..., Live]) -> Desk:
    s = stack(events=300, rate=0, orchestrator_env={"SUPABASE_JWT_SECRET": SECRET})
    return Desk(s)


def counts(c: Console) -> dict[str, int]:
    """What the inbox buttons say: {"view-mine": n, "status-open": n, ...}."""
    found: dict[str, int] = c.page.eval_on_selector_all(
        "#inbox .inbox-tab",
        "els => Object.fromEntries(els.map(e => [e.dataset.focusKey,"
        " Number(e.querySelector('.count').textContent)]))",
    )
    return found


def listed(c: Console) -> list[str]:
    return c.dom_chat_ids()


def item(chat_id: str) -> str:
    return f'#chat-list > li[data-chat-id="{chat_id}"]'


def measure(name: str, act: Callable[[], None], other: Console, condition: str, arg: Any) -> float:
    """Do `act` on one screen and wait until `condition` (a JS predicate of `arg`) holds on the
    other: the delay in ms, recorded and asserted under LIVE_LIMIT_MS."""
    start = time.monotonic()
    act()
    other.page.wait_for_function(condition, arg=arg, timeout=15_000, polling="raf")
    ms = (time.monotonic() - start) * 1000
    latencies[name] = ms
    print(f"live update {name}: {ms:.0f} ms")
    assert ms < LIVE_LIMIT_MS, f"{name} took {ms:.0f} ms to show on the other screen"
    return ms


GONE = 'id => !document.querySelector(`#chat-list > li[data-chat-id="${id}"]`)'
SHOWN = 'id => !!document.querySelector(`#chat-list > li[data-chat-id="${id}"]`)'


def test_take_transfer_release_live_on_the_other_agents_screen(
    desk: Desk, console: Callable[..., Console]
) -> None:
    maria = desk.open(console, "maria")
    joao = desk.open(console, "joao")

    # Agents start on Mine (empty), with Unassigned beside it, and no "All" (staff only).
    for c in (maria, joao):
        wait_for("the inbox counts", lambda c=c: counts(c).get("view-unassigned") == CHATS)
        assert counts(c)["view-mine"] == 0
        assert "view-all" not in counts(c)
        assert listed(c) == []
        assert c.page.get_attribute('[data-focus-key="view-mine"]', "aria-pressed") == "true"
    assert "No open chats in Mine" in maria.page.inner_text("#chat-empty")
    maria.shot("agent-mine-empty")
    for c in (maria, joao):
        c.page.click('[data-focus-key="view-unassigned"]')
        wait_for("every chat in Unassigned", lambda c=c: len(listed(c)) == CHATS)
    maria.shot("unassigned")

    # Maria opens a chat and takes it: for her it moves from Unassigned to Mine; on João's
    # screen it leaves the list (he may no longer see it) and his count drops.
    chat = next(x["id"] for x in desk.chats if not x["isGroup"])
    maria.open_chat(chat)
    assert maria.page.inner_text("#assignee") == "Unassigned"
    assert maria.page.locator("#chat-tools button", has_text="Release").count() == 0
    maria.shot("chat-unassigned")
    measure(
        "take", lambda: maria.page.click("#chat-tools button:text-is('Take')"), joao, GONE, chat
    )
    wait_for("João's counts", lambda: counts(joao)["view-unassigned"] == CHATS - 1)
    maria.page.wait_for_selector("#assignee:text-is('👤 You')")
    wait_for(
        "Maria's counts",
        lambda: (counts(maria)["view-mine"], counts(maria)["view-unassigned"]) == (1, CHATS - 1),
    )
    assert chat not in listed(maria), "Unassigned no longer lists it"
    maria.page.click('[data-focus-key="view-mine"]')
    wait_for("Mine to list it", lambda: listed(maria) == [chat])
    assert "👤 You" in maria.page.inner_text(item(chat))
    assert desk.live.rest(f"/chats/{chat}")["assignment"]["agentId"] == desk.users["maria"]
    maria.shot("taken-mine")

    # Transfer to João: it joins his list (fetched: it was not his to see), leaves hers.
    joao.page.click('[data-focus-key="view-mine"]')

    def transfer() -> None:
        maria.page.select_option("#assign-to", desk.users["joao"])

    measure("transfer", transfer, joao, SHOWN, chat)
    assert "👤 João" not in joao.page.inner_text(item(chat))  # his own: "You"
    assert "👤 You" in joao.page.inner_text(item(chat))
    wait_for("Maria's list to drop it", lambda: chat not in listed(maria))
    maria.page.wait_for_selector("#chat-view[hidden]", state="attached")
    assert "Transferred to João" in maria.page.inner_text("#toast")
    assert counts(maria)["view-mine"] == 0
    joao.shot("transferred-mine")

    # João opens it and releases it: back in Unassigned on Maria's screen.
    joao.open_chat(chat)
    joao.page.wait_for_selector("#assignee:text-is('👤 You')")
    maria.page.click('[data-focus-key="view-unassigned"]')
    measure("release", lambda: joao.page.click("#chat-tools button:text-is('Release')"), maria,
            SHOWN, chat)  # fmt: skip
    joao.page.wait_for_selector("#assignee:text-is('Unassigned')")
    wait_for("Maria's Unassigned count", lambda: counts(maria)["view-unassigned"] == CHATS)
    assert desk.live.rest(f"/chats/{chat}")["assignment"] is None
    joao.shot("released")

    # A refusal is shown with the API's message: Maria's page stops hearing the stream, João
    # takes the chat, and Maria's Take (on a chat no longer unassigned) is refused.
    maria.open_chat(chat)
    maria.page.evaluate("window.__waClient.close()")
    joao.page.click("#chat-tools button:text-is('Take')")
    joao.page.wait_for_selector("#assignee:text-is('👤 You')")
    with maria.outage():
        maria.page.click("#chat-tools button:text-is('Take')")
        maria.page.wait_for_selector("#tools-error:not([hidden])")
    assert "is assigned to another agent" in maria.page.inner_text("#tools-error")
    assert desk.live.rest(f"/chats/{chat}")["assignment"]["agentId"] == desk.users["joao"]
    maria.shot("refused")
    print("live update latencies (ms):", {k: round(v) for k, v in latencies.items()})


def test_staff_assign_to_any_agent_and_the_views_on_a_phone(
    desk: Desk, console: Callable[..., Console]
) -> None:
    admin = console(desk.live.url)
    admin.wait_live("sse")
    admin.page.wait_for_selector('[data-focus-key="view-all"][aria-pressed="true"]')
    wait_for("All lists every chat", lambda: len(listed(admin)) == CHATS)
    joao = desk.open(console, "joao", viewport=PHONE)
    wait_for("João's counts", lambda: counts(joao).get("view-unassigned") == CHATS)
    joao.shot("phone-inbox")

    # The admin assigns a chat to João from the picker: it shows in his Mine at once.
    chat = next(x["id"] for x in desk.chats if x["isGroup"])
    admin.open_chat(chat)
    options = admin.page.eval_on_selector_all(
        "#assign-to option", "els => els.map(e => e.textContent)"
    )
    assert options[0] == "Assign to…"
    assert any("João" in o for o in options) and any("Maria" in o for o in options)
    admin.shot("assign-picker")
    measure(
        "staff assign", lambda: admin.page.select_option("#assign-to", desk.users["joao"]),
        joao, "n => Number(document.querySelector('[data-focus-key=\"view-mine\"] .count')"
        ".textContent) === n", 1,
    )  # fmt: skip
    wait_for("João's Mine lists it", lambda: listed(joao) == [chat])
    admin.page.wait_for_selector("#assignee:text-is('👤 João')")
    assert admin.page.locator("#chat-tools button", has_text="Release").count() == 1
    wait_for("the admin's Mine count", lambda: counts(admin)["view-all"] == CHATS)
    assert "👤 João" in admin.page.inner_text(item(chat))
    admin.shot("assigned-to-joao")

    # By tag: a tag put on two chats (by REST, as another admin would) appears in the views
    # with its count; picking it lists those two only.
    tag = desk.live.orchestrator.http.post("/tags", json={"name": "VIP", "color": "#d4a017"})
    assert tag.status_code == 201, tag.text
    tag_id = tag.json()["id"]
    tagged = [chat, next(x["id"] for x in desk.chats if not x["isGroup"])]
    for chat_id in tagged:
        put = desk.live.orchestrator.http.post(f"/chats/{chat_id}/tags", json={"tagId": tag_id})
        assert put.status_code == 200, put.text
    admin.page.wait_for_selector(
        f"#inbox-tag option[value='{tag_id}']:text-is('VIP (2)')", state="attached"
    )
    admin.page.select_option("#inbox-tag", str(tag_id))
    wait_for("the VIP view", lambda: sorted(listed(admin)) == sorted(tagged))
    admin.shot("tag-view")
    admin.page.select_option("#inbox-tag", "")
    wait_for("every chat again", lambda: len(listed(admin)) == CHATS)

    # On the phone: the chat, its tools, and the way back.
    joao.open_chat(chat)
    joao.page.wait_for_selector("#assignee:text-is('👤 You')")
    assert joao.page.is_visible("#chat-tools button:text-is('Release')")
    assert joao.page.is_visible("#assign-to")
    joao.shot("phone-chat-tools")
    joao.page.click("#back")
    joao.page.wait_for_selector("#chat-list")
    joao.shot("phone-back-to-mine")


def test_notes_live_private_and_never_sent_to_whatsapp(
    desk: Desk, console: Callable[..., Console]
) -> None:
    admin = console(desk.live.url)
    admin.wait_live("sse")
    maria = desk.open(console, "maria")
    chat = next(x["id"] for x in desk.chats if not x["isGroup"])
    before = len(desk.live.commands("sendMessage"))

    maria.page.click('[data-focus-key="view-unassigned"]')
    maria.open_chat(chat)
    maria.page.click("#notes-toggle")
    maria.page.wait_for_selector("#notes:not([hidden])")
    assert maria.page.get_attribute("#notes-toggle", "aria-expanded") == "true"
    assert "Only your team sees notes" in maria.page.inner_text("#notes")
    maria.page.wait_for_selector("#notes-empty:not([hidden])")
    admin.page.wait_for_selector(item(chat))
    admin.open_chat(chat)
    admin.page.click("#notes-toggle")
    admin.page.wait_for_selector("#notes-empty:not([hidden])")

    # Maria adds a note: it shows on the admin's panel with her name and the time.
    text = "Customer is a VIP <b>not bold</b>: call back before 18:00"
    maria.page.fill("#note-text", text)

    def add() -> None:
        maria.page.click("#note-add")

    measure("note", add, admin, "t => [...document.querySelectorAll('#notes-list .note-body')]"
            ".some(e => e.textContent === t)", text)  # fmt: skip
    note = admin.page.locator("#notes-list > li.note").last
    assert note.locator(".note-author").inner_text() == "Maria"
    assert note.locator("time").get_attribute("datetime")
    assert note.locator(".note-body b").count() == 0, "a note is text, never markup"
    maria.page.wait_for_selector("#notes-list .note-author:text-is('You')")
    assert maria.page.input_value("#note-text") == ""
    rest = desk.live.rest(f"/chats/{quote(chat)}/notes")["notes"]
    assert [(n["body"], n["authorId"]) for n in rest] == [(text, desk.users["maria"])]
    admin.shot("notes-panel")
    maria.shot("notes-panel-agent")

    # The admin replies with a note: live on Maria's panel, one copy each.
    admin.page.fill("#note-text", "Noted, I'll call.")
    admin.page.keyboard.press("Control+Enter")
    maria.page.wait_for_selector('#notes-list .note-body:text-is("Noted, I\'ll call.")')
    admin.page.wait_for_selector('#notes-list .note-body:text-is("Noted, I\'ll call.")')
    for c in (admin, maria):
        assert c.page.locator("#notes-list > li.note").count() == 2

    # Nothing of it went to WhatsApp, nor into the chat's messages.
    assert len(desk.live.commands("sendMessage")) == before
    bodies = {m["text"] for m in desk.live.rest(f"/chats/{quote(chat)}/messages")["messages"]}
    assert text not in bodies
    assert text not in maria.page.inner_text("#message-list")

    # Escape closes the panel and gives the focus back to its toggle.
    maria.page.focus("#note-text")
    maria.page.keyboard.press("Escape")
    maria.page.wait_for_selector("#notes[hidden]", state="attached")
    assert maria.page.evaluate("document.activeElement.id") == "notes-toggle"

    # On a phone the notes are a full-screen sheet.
    phone = desk.open(console, "maria", viewport=PHONE)
    phone.page.click('[data-focus-key="view-unassigned"]')
    phone.open_chat(chat)
    phone.page.click("#notes-toggle")
    phone.page.wait_for_selector("#notes-list > li.note >> nth=1")
    box = phone.page.locator("#notes").bounding_box()
    assert box is not None and (box["width"], box["height"]) == (390, 844)
    phone.shot("phone-notes-sheet")
    phone.page.click("#notes-close")
    phone.page.wait_for_selector("#notes[hidden]", state="attached")
    assert len(desk.live.commands("sendMessage")) == before


def test_status_control_and_status_views_live(desk: Desk, console: Callable[..., Console]) -> None:
    admin = console(desk.live.url)
    admin.wait_live("sse")
    maria = desk.open(console, "maria")
    maria.page.click('[data-focus-key="view-unassigned"]')
    wait_for("Maria's open count", lambda: counts(maria).get("status-open") == CHATS)
    chat = next(x["id"] for x in desk.chats if not x["isGroup"])
    admin.open_chat(chat)
    assert admin.page.input_value("#chat-status") == "open"

    # Pending: the chat leaves Maria's Open view, the counts move, live.
    measure(
        "status", lambda: admin.page.select_option("#chat-status", "pending"), maria,
        "n => Number(document.querySelector('[data-focus-key=\"status-pending\"] .count')"
        ".textContent) === n", 1,
    )  # fmt: skip
    wait_for("Maria's Open view without it", lambda: chat not in listed(maria))
    assert counts(maria)["status-open"] == CHATS - 1
    maria.page.click('[data-focus-key="status-pending"]')
    wait_for("Pending lists it", lambda: listed(maria) == [chat])
    assert "Pending" in maria.page.inner_text(f"{item(chat)} .status-chip")
    assert desk.live.rest(f"/chats/{chat}")["status"] == "pending"
    maria.shot("pending-view")
    admin.shot("status-pending")

    # Maria resolves it from her own screen; the admin's header follows.
    maria.open_chat(chat)
    maria.page.select_option("#chat-status", "resolved")
    admin.page.wait_for_function(
        "() => document.querySelector('#chat-status').value === 'resolved'"
    )
    wait_for("Maria's Pending view empties", lambda: listed(maria) == [])
    assert (counts(maria)["status-pending"], counts(maria)["status-resolved"]) == (0, 1)
    maria.page.click('[data-focus-key="status-resolved"]')
    wait_for("Resolved lists it", lambda: listed(maria) == [chat])
    maria.shot("resolved-view")
    phone = desk.open(console, "maria", viewport=PHONE)
    phone.page.click('[data-focus-key="view-unassigned"]')
    phone.page.click('[data-focus-key="status-resolved"]')
    phone.open_chat(chat)
    phone.shot("phone-status")


def test_another_agent_viewing_and_replying_shows_in_the_header(
    desk: Desk, console: Callable[..., Console]
) -> None:
    maria = desk.open(console, "maria")
    joao = desk.open(console, "joao")
    chat = next(x["id"] for x in desk.chats if not x["isGroup"])
    for c in (maria, joao):
        c.page.click('[data-focus-key="view-unassigned"]')
    maria.open_chat(chat)

    measure("viewing", lambda: joao.open_chat(chat), maria,
            "() => document.querySelector('#agent-activity').textContent === 'João is viewing'",
            None)  # fmt: skip
    assert maria.page.get_attribute("#agent-activity", "aria-live") == "polite"
    measure("replying", lambda: joao.page.type("#composer-text", "Hello"), maria,
            "() => document.querySelector('#agent-activity').textContent === 'João is replying…'",
            None)  # fmt: skip
    maria.shot("joao-replying")
    # João's own screen shows Maria, never himself.
    assert joao.page.inner_text("#agent-activity") == "Maria is viewing"
    # He leaves the chat: the indicator goes.
    joao.page.fill("#composer-text", "")
    other = next(x["id"] for x in desk.chats if x["id"] != chat and not x["isGroup"])
    joao.open_chat(other)
    maria.page.wait_for_function(
        "() => document.querySelector('#agent-activity').textContent === ''"
    )
    phone = desk.open(console, "joao", viewport=PHONE)
    phone.page.click('[data-focus-key="view-unassigned"]')
    phone.open_chat(chat)
    maria.page.wait_for_function(
        "() => document.querySelector('#agent-activity').textContent === 'João is viewing'"
    )
    maria.shot("joao-viewing")
    # And on João's phone: Maria viewing, in the chat's tools.
    phone.page.wait_for_selector("#agent-activity:text-is('Maria is viewing')")
    phone.shot("phone-maria-viewing")

    # Maria takes the chat: her picker says who is online (João, with two tabs), first.
    maria.page.click("#chat-tools button:text-is('Take')")
    option = f"#assign-to option[value='{desk.users['joao']}']"
    maria.page.wait_for_selector(f"{option}[data-online='yes']", state="attached")
    assert maria.page.inner_text(option) == "● João (online)"
    assert maria.page.get_attribute("#assign-to option:nth-child(2)", "value") == desk.users["joao"]
    maria.shot("picker-online")
    # João closes both tabs: offline in the picker.
    joao.page.close()
    phone.page.close()
    maria.page.wait_for_selector(f"{option}[data-online='no']", state="attached")
    assert maria.page.inner_text(option) == "○ João (offline)"
