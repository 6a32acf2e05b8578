"""Issue 13, typing in the console, in headless Chromium against a real stack: the simulator,
the unmodified Baileys in a bridge the orchestrator spawns, the orchestrator serving the console.

1. A simulated contact types: the open chat's header and its row in the chat list show
   "typing…" ("recording audio…"), cleared on paused and, when nothing more comes, by a timeout.
2. The agent types in the reply box: the contact gets `composing` (after a presence subscribe),
   at most one per 5 s while typing goes on, then `paused` when the agent stops, or sends.
   The page's clock is Playwright's: the test moves it forward instead of waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Console
from tests.harness import wait_for
from tests.test_presence_e2e import ANA, ANA_JID, Linked, linked_stack

ROW = f'#chat-list > li[data-chat-id="{ANA_JID}"]'


def chat_states(linked: Linked) -> list[str]:
    """What the device told Ana, in order: subscribe, composing, paused."""
    return [r["state"] for r in linked.presences(to=ANA_JID) if r["from"] == linked.device]


def test_typing_both_ways(tmp_path: Path, console: Callable[..., Console]) -> None:
    with linked_stack(tmp_path) as linked:
        hello = linked.sim.post("/send", {"from": ANA, "kind": "text", "text": "oi, tudo bem?"})
        c = console(linked.orchestrator.base_url, setup=lambda page: page.clock.install())
        page = c.page
        page.wait_for_selector(f'{ROW}[data-last-message-id="{hello["id"]}"]')
        c.open_chat(ANA_JID)

        # 1. The contact types, records audio, pauses.
        linked.sim.post("/typing", {"from": ANA, "state": "composing"})
        page.wait_for_selector("#chat-sub.typing:text-is('typing…')")
        page.wait_for_selector(f"{ROW} .preview.typing:text-is('typing…')")
        c.shot("contact-typing")
        linked.sim.post("/typing", {"from": ANA, "state": "recording"})
        page.wait_for_selector("#chat-sub.typing:text-is('recording audio…')")
        linked.sim.post("/typing", {"from": ANA, "state": "paused"})
        page.wait_for_selector("#chat-sub:not(.typing)")
        page.wait_for_selector(f"{ROW} .preview:not(.typing):text-is('oi, tudo bem?')")
        # A `paused` that never comes: the indicator goes by itself after 25 s.
        linked.sim.post("/typing", {"from": ANA, "state": "composing"})
        page.wait_for_selector("#chat-sub.typing")
        page.clock.fast_forward(26_000)
        page.wait_for_selector("#chat-sub:not(.typing)")
        page.wait_for_selector(f"{ROW} .preview:not(.typing)")

        # 2. The agent types continuously for 11 s (of the page's clock), a key a second.
        assert chat_states(linked) == []
        page.focus("#composer-text")
        for _ in range(12):
            page.keyboard.type("a")
            page.clock.fast_forward(1000)
        wait_for("three composing", lambda: chat_states(linked).count("composing") >= 3, 15)
        page.clock.fast_forward(3000)  # silence: the agent stopped
        wait_for("paused", lambda: "paused" in chat_states(linked), 15)
        assert chat_states(linked) == ["subscribe", "composing", "composing", "composing", "paused"]

        # Typing again, then sending: composing, then paused before the message goes out.
        page.keyboard.type(" ok")
        wait_for("composing again", lambda: chat_states(linked).count("composing") == 4, 15)
        page.keyboard.press("Enter")
        wait_for("paused on send", lambda: chat_states(linked).count("paused") == 2, 15)

        def sent() -> dict[str, Any] | None:
            received: list[dict[str, Any]] = linked.sim.get("/received", to=ANA)
            return next((r for r in received if "aaaaaaaaaaaa ok" in str(r["message"])), None)

        wait_for("the message at Ana's", sent, 20)
        assert chat_states(linked)[-2:] == ["composing", "paused"]
        c.shot("agent-typed")
        page.close()  # before the stack stops: its stream must not break under a live page
