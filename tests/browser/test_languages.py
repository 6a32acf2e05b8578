"""Issue 20 in headless Chromium, against the real bridge replaying a demo capture and the real
orchestrator: the console speaks pt-BR and English, works from the keyboard alone, and passes
axe-core's WCAG A/AA checks.

1. A browser in pt-BR (São Paulo) and one in en-US (New York): every word of the console's own
   chrome on the chat, settings and shortcut views is the locale's (no text or label of the other
   language's catalog left), clock times and day separators follow the locale and the timezone,
   the catalogs have no missing key, and axe finds nothing serious or critical on each view.
   Screenshots of each view in both languages.
2. The header's switch changes the language and is remembered after a reload.
3. Keyboard only: open the next unread chat, reply with a quick reply, add a note, resolve, move
   on to the next unread one, list the shortcuts; no mouse or pointer event reaches the page.
4. New messages are announced politely to screen readers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import Console, Live
from tests.browser.test_helpdesk_tools import DESK, composer, history_applied, popup_options
from tests.harness import wait_for

# A browser's language and timezone: the console's language, and its clock (Intl in the browser's
# own tag: en-GB's is 24-hour, en-US's 12-hour).
LOCALES = {
    "pt-BR": {"tz": "America/Sao_Paulo", "lang": "pt-BR", "send": "Enviar", "clock": "%H:%M"},
    "en-US": {"tz": "America/New_York", "lang": "en", "send": "Send", "clock": "%I:%M %p"},
    "en-GB": {"tz": "Europe/London", "lang": "en", "send": "Send", "clock": "%H:%M"},
}

# The texts of the console's own chrome in the page, with the label-like attributes; the
# contents of chats (names, messages, notes: WhatsApp's and users' words) are left out.
CHROME_TEXTS = """() => {
  const skip = ['#message-list .bubble', '#chat-title', '#chat-sub', '.chat-name', '.preview',
    '.notes-list', '.tag', '.session-name', '#me-name', '#reply-text', '.quick-reply-body',
    '.agent-name'].join(', ')
  const out = new Set()
  const visible = (el) => el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement
    if (!el || el.closest(skip) || !visible(el)) continue
    const text = n.textContent.trim()
    if (text) out.add(text)
  }
  for (const el of document.querySelectorAll('[aria-label], [placeholder], [title], img[alt]')) {
    if (el.closest(skip)) continue
    for (const a of ['aria-label', 'placeholder', 'title', 'alt']) {
      const v = el.getAttribute(a)
      if (v && v.trim()) out.add(v.trim())
    }
  }
  return [...out]
}"""


def catalogs(page: Page) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = page.evaluate(
        """async () => Object.fromEntries(await Promise.all(['en', 'pt-BR'].map(async (name) =>
             [name, await (await fetch(`static/messages.${name}.json`)).json()])))"""
    )
    return found


def other_language_texts(page: Page, lang: str) -> list[str]:
    """Texts on the page that are the other language's catalog text (and not this one's)."""
    books = catalogs(page)
    other = books["pt-BR" if lang == "en" else "en"]
    mine = books[lang]

    def texts(entry: Any) -> list[str]:
        return [entry] if isinstance(entry, str) else list(entry.values())

    own = {x for entry in mine.values() for x in texts(entry)}
    # Whole texts only (no placeholders): each is what a page would show verbatim.
    foreign = {x for entry in other.values() for x in texts(entry) if "{" not in x} - own
    shown: list[str] = page.evaluate(CHROME_TEXTS)
    return sorted(x for x in shown if x in foreign)


MONTHS = {
    "pt-BR": [
        "janeiro",
        "fevereiro",
        "março",
        "abril",
        "maio",
        "junho",
        "julho",
        "agosto",
        "setembro",
        "outubro",
        "novembro",
        "dezembro",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def expected_clock(ts: int, tz: str, clock: str) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime(clock)


def expected_day(ts: int, tz: str, lang: str) -> str | None:
    """The day separator's words for today and yesterday (older days: None, Intl's own)."""
    zone = ZoneInfo(tz)
    days = (dt.datetime.now(zone).date() - dt.datetime.fromtimestamp(ts, zone).date()).days
    words = {"pt-BR": ["Hoje", "Ontem"], "en": ["Today", "Yesterday"]}[lang]
    return words[days] if days in (0, 1) else None


@pytest.mark.parametrize("browser_locale", list(LOCALES))
def test_the_console_speaks_the_browsers_language(
    browser_locale: str, stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    want = LOCALES[browser_locale]
    lang, tz = want["lang"], want["tz"]
    s = stack(events=300, rate=0, orchestrator_env=DESK)
    chats = history_applied(s)
    s.replay_done()

    # Sign-in page, in the browser's language.
    signin = console(s.url, sign_in=False, locale=browser_locale, timezone=tz)
    signin.page.wait_for_selector("#signin:not([hidden])")
    assert signin.page.get_attribute("html", "lang") == lang
    assert signin.page.inner_text("#signin-form button") == (
        "Entrar" if lang == "pt-BR" else "Sign in"
    )
    assert other_language_texts(signin.page, lang) == []
    assert_accessible(signin.page, f"signin-{browser_locale}")
    signin.shot(f"{browser_locale}-signin")

    c = console(s.url, locale=browser_locale, timezone=tz)
    page = c.page
    c.wait_live("sse")
    assert page.get_attribute("html", "lang") == lang
    problems = page.evaluate(
        "async (books) => (await import('./static/i18n.js')).catalogProblems(books)",
        catalogs(page),
    )
    assert problems == [], problems

    # A chat open: the words, the clock times and the day separators of the locale and zone.
    chat = next(x for x in chats if not x["isGroup"] and x["name"])
    c.open_chat(chat["id"])
    assert page.inner_text("#send") == want["send"]
    # The chat list and the messages: landmarks named in the locale's words.
    chats_name, messages_name = (
        ("Conversas", "Mensagens") if lang == "pt-BR" else ("Chats", "Messages")
    )
    assert page.get_by_role("navigation", name=chats_name, exact=True).count() == 1
    assert page.get_by_role("region", name=messages_name, exact=True).count() == 1
    messages = s.rest(f"/chats/{chat['id']}/messages?limit=50")["messages"]
    stamps = {m["id"]: m["timestamp"] for m in messages}
    shown = page.eval_on_selector_all(
        "#message-list > li.msg",
        """els => els.map(e => [e.dataset.messageId, e.querySelector('.footer time').textContent,
                                e.querySelector('.day')?.textContent ?? null])""",
    )
    assert shown, "no message shown"
    assert shown[0][2] is not None, "the first message shown starts a day"
    for message_id, clock, day in shown:
        assert clock == expected_clock(stamps[message_id], tz, want["clock"]), (message_id, clock)
        if day is not None:
            words = expected_day(stamps[message_id], tz, lang)
            assert day == words if words else any(m in day for m in MONTHS[lang]), day
    assert other_language_texts(page, lang) == []
    assert_accessible(page, f"chat-{browser_locale}")
    c.shot(f"{browser_locale}-chat")

    # Settings, with business hours in the timezone chosen there.
    page.click("#settings-toggle")
    page.wait_for_selector("#settings:not([hidden]) #bh-timezone")
    page.wait_for_function("() => document.getElementById('bh-now')?.textContent")
    assert other_language_texts(page, lang) == []
    assert_accessible(page, f"settings-{browser_locale}")
    c.shot(f"{browser_locale}-settings")
    page.click("#settings-toggle")
    page.wait_for_selector("#settings", state="hidden")

    # The shortcuts dialog.
    page.locator("#messages").focus()
    page.keyboard.press("?")
    page.wait_for_selector("#shortcuts[open] tr[data-action]")
    assert other_language_texts(page, lang) == []
    assert_accessible(page, f"shortcuts-{browser_locale}", include="#shortcuts")
    c.shot(f"{browser_locale}-shortcuts")
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcuts:not([open])", state="attached")


def test_the_language_switch_is_remembered(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    s = stack(events=60, rate=0)
    c = console(s.url, locale="en-US")
    page = c.page
    c.wait_live("sse")
    assert page.inner_text("#settings-toggle") == "Settings"
    with page.expect_navigation():
        page.select_option("#locale-switch", "pt-BR")
    c.wait_live("sse")
    assert page.get_attribute("html", "lang") == "pt-BR"
    assert page.inner_text("#settings-toggle") == "Configurações"
    page.reload()
    c.wait_live("sse")
    assert page.inner_text("#settings-toggle") == "Configurações"
    assert page.input_value("#locale-switch") == "pt-BR"


def test_keyboard_only_works_a_chat_from_start_to_end(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    s = stack(events=300, rate=0, orchestrator_env=DESK)
    chats = history_applied(s)
    s.replay_done()
    s.orchestrator.http.post(
        "/quick-replies", json={"shortcut": "thanks", "body": "Obrigado, {name}!"}
    ).raise_for_status()
    unread = {x["id"] for x in s.rest("/chats?limit=500")["chats"] if x["unreadCount"] > 0}
    assert len(unread) >= 2, "the demo capture has unread chats"

    c = console(s.url)
    page = c.page
    c.wait_live("sse")
    page.evaluate(
        """() => {
             window.__pointer = []
             const kinds = ['pointerdown', 'pointerup', 'mousedown', 'mouseup', 'mousemove']
             const record = (e) => window.__pointer.push(e.type)
             for (const type of [...kinds, 'wheel']) window.addEventListener(type, record, true)
           }"""
    )

    # u: the next unread chat opens.
    page.keyboard.press("u")
    page.wait_for_selector("#chat-view:not([hidden])")
    first = page.get_attribute("#chat-list > li.selected", "data-chat-id")
    assert first in unread
    name = next(x for x in chats if x["id"] == first)["name"]

    # r: the composer; a quick reply picked and sent with Enter.
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "composer-text"
    page.keyboard.type("/thanks")
    wait_for("/thanks listed", lambda: popup_options(page) == ["/thanks"])
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    sent = wait_for("sendMessage to reach the bridge", lambda: s.commands("sendMessage"))
    # {name}: the chat's name, else its phone number (app.js's phoneOf).
    assert sent[0]["params"][:2] == [
        first,
        {"text": f"Obrigado, {name or '+' + first.split('@')[0]}!"},
    ]
    wait_for("the composer emptied", lambda: composer(page) == "")

    # Escape leaves the composer; n: a note, added with Ctrl+Enter; Escape closes the notes.
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "messages"
    page.keyboard.press("n")
    page.wait_for_selector("#notes:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "note-text"
    page.keyboard.type("Pediu a segunda via do boleto")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#notes-list li:has-text('Pediu a segunda via do boleto')")
    assert_accessible(page, "notes")
    notes = s.rest(f"/chats/{first}/notes")["notes"]
    assert [n["body"] for n in notes] == ["Pediu a segunda via do boleto"]
    page.keyboard.press("Escape")
    page.wait_for_selector("#notes", state="hidden")

    # e: resolved, on the server.
    page.keyboard.press("e")
    wait_for("the chat resolved", lambda: s.rest(f"/chats/{first}")["status"] == "resolved")
    wait_for("the announcement", lambda: "resolved" in page.inner_text("#announcer"))

    # u again: the next unread chat, another one.
    page.keyboard.press("u")
    wait_for(
        "another chat open",
        lambda: page.get_attribute("#chat-list > li.selected", "data-chat-id") not in (None, first),
    )
    second = page.get_attribute("#chat-list > li.selected", "data-chat-id")
    assert second in unread

    # Alt+↓ (Alt+↑ from the last row) in the reply box: the chat below (above) opens, the focus
    # stays in the box; Escape leaves it.
    page.keyboard.press("r")
    ids = c.dom_chat_ids()
    at = ids.index(second)
    key, neighbour = (
        ("Alt+ArrowDown", ids[at + 1]) if at + 1 < len(ids) else ("Alt+ArrowUp", ids[at - 1])
    )
    page.keyboard.press(key)
    page.wait_for_selector(f'#chat-list > li.selected[data-chat-id="{neighbour}"]')
    assert page.evaluate("document.activeElement.id") == "composer-text"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "messages"

    # ?: the shortcuts; Escape closes them and the focus comes back.
    before = page.evaluate("document.activeElement.dataset.chatId ?? document.activeElement.id")
    page.keyboard.press("?")
    page.wait_for_selector("#shortcuts[open]")
    actions = page.eval_on_selector_all(
        "#shortcuts tr[data-action]", "els => els.map(e => e.dataset.action)"
    )
    assert set(actions) >= {
        "nextChat",
        "previousChat",
        "nextUnread",
        "reply",
        "search",
        "take",
        "resolve",
        "note",
        "help",
    }
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcuts:not([open])", state="attached")
    assert (
        page.evaluate("document.activeElement.dataset.chatId ?? document.activeElement.id")
        == before
    )
    c.shot("keyboard")

    assert page.evaluate("window.__pointer") == [], "a mouse or pointer event reached the page"


def test_new_messages_are_announced_politely(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    s = stack(events=600, rate=4)
    chats = history_applied(s)
    names = {x["name"] or "+" + x["id"].split("@")[0] for x in chats}
    c = console(s.url, locale="pt-BR")
    page = c.page
    c.wait_live("sse")
    assert page.get_attribute("#announcer", "aria-live") == "polite"
    page.evaluate(
        """() => {
             window.__said = []
             const el = document.getElementById('announcer')
             const watch = () => { if (el.textContent) window.__said.push(el.textContent) }
             const what = { childList: true, characterData: true, subtree: true }
             new MutationObserver(watch).observe(el, what)
           }"""
    )
    top = c.dom_chat_ids()[0]
    c.open_chat(top)

    def announced() -> list[str] | None:
        said: list[str] = page.evaluate("window.__said")
        return said if len(said) >= 3 else None

    said = wait_for("three announcements", announced, 60)
    for text in said:
        many = text.endswith("mensagens novas") and int(text.split()[0]) < 10
        other = (
            text.startswith("Nova mensagem de ") and text.removeprefix("Nova mensagem de ") in names
        )
        open_chat = any(text.startswith(f"{name}: ") for name in names)
        assert many or other or open_chat, f"not an announcement of news: {text!r} (all: {said})"


def test_the_accessibility_check_fails_on_a_violation(browser: Browser) -> None:
    """The check itself: a nameless button and grey-on-white text fail it, by rule."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            """<html lang="en"><title>t</title><main><button></button>
               <p style="color:#bbb;background:#fff">faint</p></main></html>"""
        )
        with pytest.raises(AssertionError) as failed:
            assert_accessible(page, "check-fails")
        assert "button-name [critical]" in str(failed.value)
        assert "color-contrast [serious]" in str(failed.value)
    finally:
        context.close()
