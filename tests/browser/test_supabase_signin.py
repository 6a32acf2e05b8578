"""The console's email + password sign-in through Supabase Auth, in headless Chromium against a
real stack (the bridge replaying a demo capture, the orchestrator serving the console) and the
GoTrue stand-in (tests/gotrue.py), which issues 20 s access tokens signed with the project's JWT
secret the orchestrator verifies them with.

A wrong password shows Supabase's words; the right one opens the console with the user's name
and role in the header; the access token is refreshed before it expires and handed to the live
client: messages keep arriving on the same stream after the first token expired, and REST calls
carry the new token (the orchestrator refuses the old one by then). Sign-out forgets it.
Screenshots of the sign-in page at 1280x800 and 390x844 go to test-artifacts/browser.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.browser.conftest import Console, Live
from tests.gotrue import GoTrue
from tests.harness import wait_for
from tests.test_permissions import SECRET

ANON_KEY = "anon-key-of-the-test-project"
EMAIL = "carla@example.com"
PASSWORD = "correct horse battery staple"
LIFETIME = 20  # seconds: the console refreshes at three quarters of it
PHONE = {"width": 390, "height": 844}


def next_new_message(s: Live, since: str, timeout: float = 30.0) -> dict[str, Any]:
    """Long-poll the orchestrator (with the API token, not the page) for the next message of
    any chat: its `new_message` envelope."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = s.rest(f"/events/poll?since={since}&timeout=3")
        since = body["lastEventId"]
        for envelope in body["events"]:
            if envelope["type"] == "new_message":
                found: dict[str, Any] = envelope
                return found
    raise AssertionError(f"no new message within {timeout}s")


def test_email_sign_in_refreshes_its_token_without_dropping_the_stream(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    with GoTrue(SECRET, ANON_KEY, lifetime=LIFETIME) as auth:
        user_id = str(uuid.uuid4())
        auth.add_user(EMAIL, PASSWORD, user_id)
        env = {"SUPABASE_URL": auth.url, "SUPABASE_ANON_KEY": ANON_KEY,
               "SUPABASE_JWT_SECRET": SECRET}  # fmt: skip
        s = stack(events=500, rate=5, orchestrator_env=env)  # 100 s of live traffic
        profile = {"role": "supervisor", "displayName": "Carla Souza"}
        s.orchestrator.http.put(f"/admin/profiles/{user_id}", json=profile).raise_for_status()

        # The sign-in page offers both ways in, on a phone and on a laptop.
        phone = console(s.url, sign_in=False, viewport=PHONE)
        phone.page.wait_for_selector("#signin-email-form:not([hidden])")
        assert phone.page.is_visible("#signin-form")
        phone.shot("signin-390x844")
        c = console(s.url, sign_in=False)
        page = c.page
        page.wait_for_selector("#signin-email-form:not([hidden])")
        assert page.is_visible("#signin-token")
        c.shot("signin-1280x800")

        # A wrong password: Supabase's own words under the form.
        with c.outage():  # the 400 is logged by the browser
            page.fill("#signin-email", EMAIL)
            page.fill("#signin-password", "not the password")
            page.click("#signin-email-submit")
            page.wait_for_selector("#signin-email-error:not([hidden])")
        assert page.inner_text("#signin-email-error") == "Invalid login credentials"
        assert page.is_visible("#signin")
        c.shot("wrong-password")

        # The right one: the console, with who is signed in.
        page.fill("#signin-password", PASSWORD)
        page.press("#signin-password", "Enter")
        c.wait_live("sse")
        assert page.inner_text("#me-name") == "Carla Souza"
        assert page.text_content("#me-role") == "supervisor"
        assert page.evaluate("sessionStorage.getItem('wa-console-token')") is None
        first = auth.grants[-1]
        assert first.grant_type == "password"
        assert page.evaluate("window.__waClient.token") == first.access_token
        c.shot("signed-in")
        # Refreshed before it expires, and handed to the client.
        refreshes = wait_for(
            "a refresh",
            lambda: [g for g in auth.grants if g.grant_type == "refresh_token"],
            timeout=LIFETIME + 20,
        )
        assert refreshes[0].at < first.expires_at, "refreshed only after the token expired"
        print(f"\nrefreshed {first.expires_at - refreshes[0].at:.1f} s before the expiry")
        wait_for("the first token to expire", lambda: time.time() > first.expires_at + 1,
                 timeout=LIFETIME + 5)  # fmt: skip
        current = page.evaluate("window.__waClient.token")
        assert current in {g.access_token for g in refreshes}
        stored = page.evaluate("JSON.parse(sessionStorage.getItem('wa-console-supabase'))")
        assert stored["accessToken"] == current

        # The orchestrator refuses the first token now; the console's calls carry the new one.
        old = httpx.get(f"{s.url}/me", headers={"Authorization": f"Bearer {first.access_token}"})
        assert old.status_code == 401
        me = page.evaluate("window.__waClient.me()")
        assert (me["userId"], me["name"], me["role"]) == (user_id, "Carla Souza", "supervisor")

        # The stream was never dropped, and it still brings messages: the next one the server
        # streams after the first token expired reaches the page's cache.
        envelope = next_new_message(s, s.orchestrator.last_event_id())
        chat_id, timestamp = envelope["data"]["chatId"], envelope["data"]["timestamp"]
        wait_for(
            "the page to have a message that came after the first token expired",
            lambda: page.evaluate(
                "([id, ts]) => (window.__waClient.chat(id)?.lastMessage?.timestamp ?? 0) >= ts",
                [chat_id, timestamp],
            ),
            timeout=15,
        )
        state = c.client_state()
        assert (state["link"], state["transport"], state["attempt"]) == ("live", "sse", 0)
        assert page.is_visible("#app") and not page.is_visible("#signin")

        # Sign-out forgets the session.
        page.click("#signout")
        page.wait_for_selector("#signin-email-form:not([hidden])")
        assert page.evaluate("sessionStorage.getItem('wa-console-supabase')") is None


def test_the_api_token_still_signs_in_and_the_header_says_operator(
    stack: Callable[..., Live], console: Callable[..., Console]
) -> None:
    """Without Supabase configured the page is as before (the token form alone), and the header
    names the operator."""
    s = stack(events=40, rate=50)
    c = console(s.url)  # ?access_token=
    c.wait_live("sse")
    assert c.page.is_hidden("#signin-email-form")
    assert c.page.inner_text("#me-name") == "operator (API token)"
    assert c.page.text_content("#me-role") == "admin"
