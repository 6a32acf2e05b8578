"""Issue 13, calls, end to end through the real protocol: the simulator places calls the way
a caller's server signals them, the unmodified Baileys in the bridge emits `call` events, and
the orchestrator shows each call as one message and streams its steps. With
ORCH_REJECT_CALLS the bridge's rejectCall reaches the simulator as `<reject>`, and the caller
decrypts ORCH_CALL_REJECT_MESSAGE."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.clients import PollReader
from tests.harness import Orchestrator, metric, stack, wait_for
from tests.wasim import WaSim

ANA = "5511911110001"
REJECT_TEXT = "Não atendemos ligações por aqui: escreva sua mensagem, por favor."


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


@contextlib.contextmanager
def linked(tmp: Path, **orchestrator_env: str) -> Iterator[tuple[Orchestrator, WaSim]]:
    """A stack paired with a fresh simulator, which knows Ana (who never wrote)."""
    with stack(tmp, orchestrator=False) as s:
        sim = s.add(WaSim(tmp))
        s.start_bridge(**sim.bridge_env())
        s.start_orchestrator(timeout=30, **orchestrator_env)
        qr = wait_for("a QR", lambda: s.orchestrator.http.get("/qr").json()["qr"], timeout=30)
        sim.scan(qr)
        s.wait_open(timeout=40)
        # With a LID, as every WhatsApp user has now: Baileys 7 finds no device to encrypt
        # for when it first writes to a phone jid whose LID it cannot learn.
        sim.post("/contacts", {"phone": ANA, "name": "Ana", "lid": True})
        yield s.orchestrator, sim


def call_message(orchestrator: Orchestrator, call_id: str, outcome: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        page = orchestrator.http.get(f"/chats/{jid(ANA)}/messages")
        if page.status_code != 200:
            return None
        found = next((m for m in page.json()["messages"] if m["id"] == call_id), None)
        return found if found and found["call"]["outcome"] == outcome else None

    return wait_for(f"call {call_id} {outcome}", find, timeout=20)


def metrics(orchestrator: Orchestrator) -> dict[str, float]:
    names = ("wa_calls_total", "wa_calls_rejected_total", "wa_call_reject_messages_total")
    return {name: metric(orchestrator, name) for name in names}


def test_an_unanswered_call_is_a_missed_call_message_and_call_events(tmp_path: Path) -> None:
    with linked(tmp_path) as (orchestrator, sim):
        since = orchestrator.last_event_id()
        placed = sim.post("/call", {"from": ANA, "then": "timeout"})
        message = call_message(orchestrator, placed["id"], "missed")
        assert message["type"] == "call" and message["text"] is None and not message["fromMe"]
        assert message["sender"] == jid(ANA)  # no name: Baileys drops the stanza's notify
        assert message["call"] == {
            "direction": "incoming", "kind": "voice", "outcome": "missed", "isGroup": False,
        }  # fmt: skip
        page = orchestrator.http.get(f"/chats/{jid(ANA)}/messages").json()["messages"]
        assert [m["id"] for m in page].count(placed["id"]) == 1
        chat = orchestrator.http.get(f"/chats/{jid(ANA)}").json()
        assert chat["unreadCount"] == 1 and chat["lastMessage"]["id"] == placed["id"]

        def calls(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [e["data"] for e in envelopes if e["type"] == "call"]

        reader = PollReader(orchestrator.base_url, last_id=since)
        reader.run(lambda e: [c["status"] for c in calls(e)] == ["offer", "timeout"], timeout=15)
        offer, timeout = calls(reader.envelopes)
        assert {k: offer[k] for k in ("id", "chatId", "from", "kind", "isGroup", "outcome")} == {
            "id": placed["id"], "chatId": jid(ANA), "from": jid(ANA), "kind": "voice",
            "isGroup": False, "outcome": "ringing",
        }  # fmt: skip
        assert timeout["outcome"] == "missed" and timeout["timestamp"] >= offer["timestamp"]
        kinds = [e["type"] for e in reader.envelopes if e["data"].get("id") == placed["id"]]
        assert kinds.count("new_message") == 1 and "message_update" in kinds
        assert metrics(orchestrator) == {
            "wa_calls_total": 1.0, "wa_calls_rejected_total": 0.0,
            "wa_call_reject_messages_total": 0.0,
        }  # fmt: skip
        assert sim.get("/calls")[0]["rejects"] == []  # rejecting is off by default


def test_reject_calls_declines_it_and_the_caller_gets_the_message(tmp_path: Path) -> None:
    env = {"ORCH_REJECT_CALLS": "true", "ORCH_CALL_REJECT_MESSAGE": REJECT_TEXT}
    with linked(tmp_path, **env) as (orchestrator, sim):
        placed = sim.post("/call", {"from": ANA, "video": True})

        def rejects() -> list[dict[str, Any]] | None:
            call = next(c for c in sim.get("/calls") if c["id"] == placed["id"])
            return call["rejects"] or None

        [reject] = wait_for("Baileys' <reject> at the simulator", rejects, timeout=20)
        assert reject["callCreator"] == jid(ANA)
        message = call_message(orchestrator, placed["id"], "rejected")
        assert message["call"]["kind"] == "video"

        def told() -> list[dict[str, Any]] | None:
            texts = [r for r in sim.get("/received", to=ANA)
                     if (r["message"].get("extendedTextMessage") or {}).get("text") == REJECT_TEXT
                     or r["message"].get("conversation") == REJECT_TEXT]  # fmt: skip
            return texts or None

        [sent] = wait_for("Ana to decrypt the reject message", told, timeout=20)
        assert sent["recipients"] == [jid(ANA)]
        wait_for(
            "both counted",
            lambda: metrics(orchestrator)
            == {"wa_calls_total": 1.0, "wa_calls_rejected_total": 1.0,
                "wa_call_reject_messages_total": 1.0},
        )  # fmt: skip
        chat = orchestrator.http.get(f"/chats/{jid(ANA)}").json()
        assert chat["unreadCount"] == 0  # declined, not missed
