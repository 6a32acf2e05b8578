"""Issue 13 in the console, in headless Chromium against a real stack (the simulator, the
unmodified Baileys in a bridge the orchestrator spawns): a missed call shows as WhatsApp words
it, in the chat and in the chat list; a WhatsApp Business label put on the chat on the phone
shows on its row, and goes when it is taken off; a message Baileys cannot decrypt shows as
WhatsApp Web shows it, without reply or reaction, and becomes its text in the same bubble."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.browser.conftest import Console
from tests.test_presence_e2e import ANA, ANA_JID, linked_stack

ROW = f'#chat-list > li[data-chat-id="{ANA_JID}"]'


def test_calls_and_labels_show_in_the_console(
    tmp_path: Path, console: Callable[..., Console]
) -> None:
    with linked_stack(tmp_path) as linked:
        hello = linked.sim.post("/send", {"from": ANA, "kind": "text", "text": "vou te ligar"})
        c = console(linked.orchestrator.base_url)
        page = c.page
        page.wait_for_selector(f'{ROW}[data-last-message-id="{hello["id"]}"]')
        c.open_chat(ANA_JID)

        # A voice call that rings out: one message, ringing first, then missed, in place.
        call = linked.sim.post("/call", {"from": ANA, "then": "timeout"})
        bubble = f'#messages li[data-message-id="{call["id"]}"]'
        page.wait_for_selector(f"{bubble} .text:text-is('📵 Missed voice call')")
        page.wait_for_selector(f"{ROW} .preview:text-is('📵 Missed voice call')")
        assert page.locator(bubble).count() == 1
        c.shot("missed-call")

        # A label made on the phone and put on Ana's chat, then taken off.
        linked.sim.post("/labels", {"id": "3", "name": "Novo cliente", "color": 1})
        linked.sim.post("/labels/chats", {"labelId": "3", "chat": ANA})
        page.wait_for_selector(f"{ROW} .tag.label:text-is('🏷 Novo cliente')")
        c.shot("labelled")
        linked.sim.post("/labels/chats", {"labelId": "3", "chat": ANA, "add": False})
        page.wait_for_selector(f"{ROW} .tag.label", state="detached")

        # A message nobody can resend: waiting, until an edit from the contact gives it text.
        body = {"from": ANA, "kind": "text", "text": "primeira", "undecryptable": "never"}
        waiting = linked.sim.post("/send", body)
        bubble = f'#messages li[data-message-id="{waiting["id"]}"]'
        page.wait_for_selector(f"{bubble} .text:has-text('Waiting for this message')")
        assert page.locator(f"{bubble} .actions").count() == 0
        c.shot("waiting")
        edit = {"from": ANA, "kind": "edit", "target": waiting["id"], "text": "primeira, corrigida"}
        linked.sim.post("/send", edit)
        page.wait_for_selector(f"{bubble} .text:text-is('primeira, corrigida')")
        page.wait_for_selector(f"{bubble} .actions")
        assert page.locator(bubble).count() == 1
        page.close()  # before the stack stops: its stream must not break under a live page
