"""Issue 16's automatic replies end to end: the Node bridge replays a customer writing (through
its real publishing path), the orchestrator (`python -m orchestrator`) applies the settings an
admin saved and queues the greeting and the away message on the paced send path, and the
bridge receives exactly one sendMessage for each (BRIDGE_COMMAND_LOG). Then the orchestrator is
killed before its write-behind stored anything and started again on the same data: it replays
the customer's message from the bridge's journal, finds both runs recorded, and sends nothing.
And through the WhatsApp simulator, the customer's phone decrypts one greeting and one away
message."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from tests.harness import Orchestrator, metric, stack, wait_for
from tests.test_calls_e2e import ANA, jid, linked

CUSTOMER = "5511987650001@s.whatsapp.net"
GREETING = "Olá! Aqui é a Loja Exemplo. Já vamos te atender."
AWAY = "Estamos fora do horário agora; respondemos amanhã a partir das 9h."
CLOSED = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SETTINGS = {
    "businessHours": {"enabled": True, "timezone": "America/Sao_Paulo", "week": CLOSED},
    "awayMessage": {"enabled": True, "text": AWAY},
    "greeting": {"enabled": True, "text": GREETING},
    "assignment": {"rule": "none"},
}


def customer_capture(path: Path) -> Path:
    """WhatsApp open, then the customer's first message, just written."""
    events = [
        {"event": "connection.update", "data": {"connection": "open"}},
        {"event": "messages.upsert", "data": {"type": "notify", "messages": [{
            "key": {"remoteJid": CUSTOMER, "fromMe": False, "id": "3EB0C0FFEE0001"},
            "messageTimestamp": int(time.time()), "pushName": "Ana",
            "message": {"conversation": "Boa noite! Vocês entregam no sábado?"},
        }]}},
    ]  # fmt: skip
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def sends(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    commands = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    return [c["params"] for c in commands if c["method"] == "sendMessage"]


def texts(log: Path) -> list[tuple[str, str]]:
    return [(p[0], p[1]["text"]) for p in sends(log)]


def stored(data: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{data / 'store.sqlite3'}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def test_a_customer_gets_the_greeting_and_away_message_once_even_after_a_restart(
    tmp_path: Path,
) -> None:
    log = tmp_path / "commands.jsonl"
    # The write-behind holds everything (no flush within the test): a kill -9 loses the
    # applied position, so the restarted orchestrator must apply the customer's message again.
    env = {"ORCH_STORE_FLUSH_INTERVAL": "3600"}
    with stack(tmp_path, orchestrator=False) as s:
        orchestrator: Orchestrator = s.start_orchestrator(**env)
        orchestrator.http.put("/settings", json=SETTINGS).raise_for_status()
        # Two seconds between events: the orchestrator follows the bridge live by the time the
        # customer writes, as in production (not a late joiner's catch-up).
        s.start_bridge(
            customer_capture(tmp_path / "customer.jsonl"),
            BRIDGE_COMMAND_LOG=str(log),
            BRIDGE_REPLAY_RATE="0.5",
        )

        wait_for("the greeting and the away message", lambda: len(sends(log)) >= 2, timeout=30)
        assert texts(log) == [(CUSTOMER, GREETING), (CUSTOMER, AWAY)]
        # How long the customer waited: the bridge's echo of our message (ReplaySends answers
        # sendMessage as WhatsApp would) after the bridge published theirs.
        journal = s.client.journal()
        [theirs] = [e for e in journal if e["event"] == "messages.upsert"
                    and not e["data"]["messages"][0]["key"]["fromMe"]]  # fmt: skip

        def echoes() -> list[dict[str, Any]]:
            return [
                e for e in s.client.journal()
                if e["event"] == "messages.upsert" and e["data"]["messages"][0]["key"]["fromMe"]
            ]  # fmt: skip

        ours = wait_for("our replies echoed", echoes)
        latency = (ours[0]["ts"] - theirs["ts"]) / 1000
        print(f"\ngreeting queued and sent {latency * 1000:.0f} ms after the customer's message")
        assert latency < 5
        ids = [p[2]["messageId"] for p in sends(log)]

        def replies_logged() -> list[dict[str, Any]]:
            activity = orchestrator.http.get("/activity").json()["activity"]
            return [a for a in activity if a["action"] == "auto_reply_sent"]

        logged = wait_for("both replies in the activity log", replies_logged)
        assert sorted(a["details"]["messageId"] for a in logged) == sorted(ids)
        assert {a["details"]["rule"] for a in logged} == {"greeting", "away"}
        assert stored(s.data, "SELECT count(*) FROM wa_messages") == [(0,)]  # not stored yet
        assert stored(s.data, "SELECT count(*) FROM rule_runs") == [(2,)]  # the runs are

        restarted = s.restart_orchestrator()
        s.applied()
        wait_for(
            "the replayed message found its runs recorded",
            lambda: metric(restarted, "wa_rule_repeats_total") == 2,
            timeout=30,
        )
        chat = restarted.http.get(f"/chats/{CUSTOMER}/messages").json()["messages"]
        assert [m["fromMe"] for m in chat].count(False) == 1  # it was applied again
        assert metric(restarted, 'wa_auto_replies_total{rule="greeting"}') == 0
        assert texts(log) == [(CUSTOMER, GREETING), (CUSTOMER, AWAY)]  # nothing more


def test_through_whatsapp_the_customer_reads_one_greeting_and_one_away_message(
    tmp_path: Path,
) -> None:
    """The same with the WhatsApp simulator: Ana writes twice from her phone, the unmodified
    Baileys in the bridge decrypts both (live `notify` upserts), and Ana decrypts exactly one
    greeting and one away message, sent through the number's paced queue."""
    with linked(tmp_path) as (orchestrator, sim):
        orchestrator.http.put("/settings", json=SETTINGS).raise_for_status()
        sim.post("/send", {"from": ANA, "kind": "text", "text": "Oi! Vocês abrem amanhã?"})

        def received() -> list[str]:
            texts = []
            for r in sim.get("/received", to=ANA):
                message = r["message"]
                text = message.get("conversation") or (
                    message.get("extendedTextMessage") or {}
                ).get("text")
                if text:
                    texts.append(text)
            return texts

        wait_for("Ana to decrypt both replies", lambda: len(received()) >= 2, timeout=30)
        sim.post("/send", {"from": ANA, "kind": "text", "text": "Alô?"})
        wait_for(
            "her second message to find the away message sent",
            lambda: metric(orchestrator, "wa_rule_repeats_total") == 1,
            timeout=30,
        )
        assert received() == [GREETING, AWAY]
        assert metric(orchestrator, 'wa_auto_replies_total{rule="greeting"}') == 1
        assert metric(orchestrator, 'wa_auto_replies_total{rule="away"}') == 1
        chat = orchestrator.http.get(f"/chats/{jid(ANA)}/messages").json()["messages"]
        assert [m["text"] for m in chat if m["fromMe"]] == [GREETING, AWAY]
