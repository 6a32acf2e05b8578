"""WhatsApp Business labels end to end: the simulated phone shares its app-state key and serves
`regular` patches built by Baileys' own encoder (tests/wa-sim/lib/appstate.js); the unmodified
Baileys in the bridge decodes them into labels.edit / labels.association; the orchestrator puts
them on the chats, lists them, keeps them across a restart, and takes them off again."""

from __future__ import annotations

from typing import Any

from tests.harness import Orchestrator, stack, wait_for
from tests.wasim import WaSim

ANA, BRUNO = "5511911110001", "5511922220002"
ANA_JID, BRUNO_JID = f"{ANA}@s.whatsapp.net", f"{BRUNO}@s.whatsapp.net"
NEW = {"id": "1", "name": "New customer", "color": 0}
VIP = {"id": "5", "name": "VIP", "color": 3}


def chat_labels(orchestrator: Orchestrator, chat_id: str) -> list[dict[str, Any]] | None:
    """The chat's labels, or None while the chat is not there."""
    chats = orchestrator.http.get("/chats", params={"limit": 500}).json()["chats"]
    found = [c["labels"] for c in chats if c["id"] == chat_id]
    return found[0] if found else None


def labels(orchestrator: Orchestrator) -> list[dict[str, Any]]:
    response = orchestrator.http.get("/labels")
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["labels"]
    return listed


def test_labels_from_the_phone_show_on_chats_survive_a_restart_and_removal_clears_them(
    tmp_path: Any,
) -> None:
    with stack(tmp_path, orchestrator=False) as s:
        sim = s.add(WaSim(tmp_path))
        for phone, name in ((ANA, "Ana"), (BRUNO, "Bruno")):
            sim.post("/contacts", {"phone": phone, "name": name})
        # Made on the phone before the helpdesk was linked: the first app-state sync brings it.
        sim.post("/labels", {"id": "1", "name": "New customer", "color": 0})
        sim.post("/labels/chats", {"labelId": "1", "chat": BRUNO, "add": True})
        s.start_bridge(**sim.bridge_env())
        orchestrator = s.start_orchestrator(timeout=30)
        qr = wait_for("a QR", lambda: orchestrator.http.get("/qr").json()["qr"], timeout=30)
        sim.scan(qr)
        s.wait_open(timeout=40)
        wait_for("the label from before pairing", lambda: chat_labels(orchestrator, BRUNO_JID)
                 == [NEW], timeout=30)  # fmt: skip

        # Made while linked: a patch and a server_sync notification.
        since = orchestrator.last_event_id()
        sim.post("/labels", {"id": "5", "name": "VIP", "color": 3})
        sim.post("/labels/chats", {"labelId": "5", "chat": ANA, "add": True})
        wait_for("VIP on Ana's chat", lambda: chat_labels(orchestrator, ANA_JID) == [VIP])
        assert labels(orchestrator) == [NEW, VIP]
        events = orchestrator.http.get("/events/poll", params={"since": since}).json()["events"]
        assert {"type": "label_update", "id": "5"} in [
            {"type": e["type"], "id": e["data"].get("id")} for e in events
        ]

        # A clean restart: everything comes back from the store.
        port = orchestrator.port
        orchestrator.stop()
        orchestrator = s.start_orchestrator(port=port, timeout=30)
        assert labels(orchestrator) == [NEW, VIP]
        assert chat_labels(orchestrator, ANA_JID) == [VIP]
        assert chat_labels(orchestrator, BRUNO_JID) == [NEW]

        # Renamed on the phone: the chat shows the new name; taken off: the chat has none.
        sim.post("/labels", {"id": "5", "name": "VIP+", "color": 19})
        wait_for("the rename", lambda: chat_labels(orchestrator, ANA_JID)
                 == [{"id": "5", "name": "VIP+", "color": 19}])  # fmt: skip
        sim.post("/labels/chats", {"labelId": "5", "chat": ANA, "add": False})
        wait_for("VIP off Ana's chat", lambda: chat_labels(orchestrator, ANA_JID) == [])
        sim.post("/labels", {"id": "1", "deleted": True})
        wait_for("the deleted label off Bruno's chat",
                 lambda: chat_labels(orchestrator, BRUNO_JID) == [])  # fmt: skip
        assert labels(orchestrator) == [{"id": "5", "name": "VIP+", "color": 19}]
        state = sim.state()["messages"]
        assert (state["decryptFailures"], state["buildFailures"], state["nacks"]) == (0, 0, 0)
