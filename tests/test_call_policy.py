"""ORCH_REJECT_CALLS and ORCH_CALL_REJECT_MESSAGE: which calls are declined, what goes to the
bridge (rejectCall, then sendMessage through the pacer), and what is counted. The policy runs
against the real command client over the in-memory bridge, whose handler plays WhatsApp."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.callpolicy import CallPolicy
from orchestrator.commands import Bridge
from orchestrator.errors import CommandError
from orchestrator.metrics import Families, call_samples
from orchestrator.pacing import Pacer
from orchestrator.transport.memory import MemoryBridge
from orchestrator.wire import Envelope

pytestmark = pytest.mark.anyio

ANA = "5511988887777@s.whatsapp.net"
BOB_LID = "300000000000003@lid"
BOB = "5511977776666@s.whatsapp.net"
GROUP = "120363040000000001@g.us"
NOW = 1_700_000_000.0


def offer(call_id: str, caller: str = ANA, **fields: Any) -> dict[str, Any]:
    return {
        "chatId": caller, "from": caller, "id": call_id, "date": {"$date": int(NOW * 1000)},
        "offline": False, "status": "offer", "isVideo": False, "isGroup": False, **fields,
    }  # fmt: skip


def envelope(*calls: dict[str, Any], age: float = 1.0, event: str = "call") -> Envelope:
    return Envelope("e", 1, int((NOW - age) * 1000), event, list(calls))


class WhatsApp:
    """The bridge's side of the commands: records them; `refuse` names methods that fail."""

    def __init__(self, *refuse: str) -> None:
        self.commands: list[tuple[str, Any]] = []
        self.refuse = set(refuse)

    def __call__(self, method: str, params: Any) -> Any:
        self.commands.append((method, params))
        if method in self.refuse:
            raise CommandError(method, "failed", "WhatsApp said no")
        return None


def policy(whatsapp: WhatsApp, *, reject: bool = True, message: str | None = "call later",
           pacer: Pacer | None = None) -> CallPolicy:  # fmt: skip
    return CallPolicy(
        Bridge(MemoryBridge(whatsapp)),
        pacer or Pacer(rate=100, burst=10, max_waiting=10),
        reject=reject,
        message=message,
        resolve=lambda jid: BOB if jid == BOB_LID else jid,
        clock=lambda: NOW,
    )


async def settled(p: CallPolicy) -> None:
    async with asyncio.timeout(5):
        await p.drain()


async def test_a_ringing_call_is_declined_and_the_caller_told() -> None:
    whatsapp = WhatsApp()
    p = policy(whatsapp)
    p.apply([envelope(offer("C1"))], replayed=False)
    await settled(p)
    [reject, send] = whatsapp.commands
    assert reject == ("rejectCall", ["C1", ANA])
    method, (to, content, options) = send
    assert (method, to, content) == ("sendMessage", ANA, {"text": "call later"})
    assert options["messageId"].startswith("3EB0")
    assert (p.seen, p.rejected, p.messages) == (1, 1, 1)


async def test_a_group_call_is_declined_and_its_caller_told_in_their_own_chat() -> None:
    whatsapp = WhatsApp()
    p = policy(whatsapp)
    group_offer = offer("G1", BOB_LID, callerPn=BOB, isGroup=True, groupJid=GROUP)
    p.apply([envelope(group_offer)], replayed=False)
    await settled(p)
    assert [c[1][0] for c in whatsapp.commands] == ["G1", BOB]


async def test_only_live_offers_are_declined() -> None:
    """Later steps, offers delivered offline, and offers older than a ring (replayed after a
    restart) are calls already over: counted when they are offers, never declined."""
    whatsapp = WhatsApp()
    p = policy(whatsapp)
    p.apply(
        [
            envelope({**offer("C1"), "status": "timeout"}),
            envelope(offer("C2", offline=True)),
            envelope(offer("C3"), age=61),
            envelope(offer("C4"), event="messages.upsert"),
            envelope(offer("C5", status="nonsense")),
        ],
        replayed=True,
    )
    await settled(p)
    assert whatsapp.commands == []
    assert (p.seen, p.rejected) == (2, 0)


async def test_nothing_is_declined_by_default_but_calls_are_counted() -> None:
    whatsapp = WhatsApp()
    p = policy(whatsapp, reject=False)
    p.apply([envelope(offer("C1"), offer("C2"))], replayed=False)
    await settled(p)
    assert whatsapp.commands == [] and p.seen == 2


async def test_without_a_message_only_the_decline_goes_out() -> None:
    whatsapp = WhatsApp()
    p = policy(whatsapp, message=None)
    p.apply([envelope(offer("C1"))], replayed=False)
    await settled(p)
    assert [c[0] for c in whatsapp.commands] == ["rejectCall"] and p.messages == 0


async def test_failures_are_counted_and_a_failed_decline_sends_no_message() -> None:
    refused = WhatsApp("rejectCall")
    p = policy(refused)
    p.apply([envelope(offer("C1"))], replayed=False)
    await settled(p)
    assert [c[0] for c in refused.commands] == ["rejectCall"]
    assert (p.rejected, p.reject_failures, p.messages) == (0, 1, 0)

    unsent = WhatsApp("sendMessage")
    p = policy(unsent)
    p.apply([envelope(offer("C2"))], replayed=False)
    await settled(p)
    assert (p.rejected, p.messages, p.message_failures) == (1, 0, 1)


async def test_a_full_send_queue_refuses_the_message_as_it_refuses_a_send() -> None:
    pacer = Pacer(rate=100, burst=10, max_waiting=1)
    assert pacer.admit()  # someone else's send is waiting: the queue is full
    whatsapp = WhatsApp()
    p = policy(whatsapp, pacer=pacer)
    p.apply([envelope(offer("C1"))], replayed=False)
    await settled(p)
    assert [c[0] for c in whatsapp.commands] == ["rejectCall"]
    assert (p.messages, p.message_failures, pacer.refused) == (0, 1, 1)


async def test_the_counters_reach_metrics() -> None:
    whatsapp = WhatsApp()
    p = policy(whatsapp)
    p.apply([envelope(offer("C1"))], replayed=False)
    await settled(p)
    families = Families()
    call_samples(families, p, {"session": "default"})
    samples = {s.name: s.value for m in families for s in m.samples}
    assert samples == {
        "wa_calls_total": 1, "wa_calls_rejected_total": 1, "wa_calls_reject_failures_total": 0,
        "wa_call_reject_messages_total": 1, "wa_call_reject_message_failures_total": 0,
    }  # fmt: skip
