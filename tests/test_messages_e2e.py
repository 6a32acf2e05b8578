"""Issue 9, end to end through the real protocol: simulated contacts send end-to-end-encrypted
messages that the unmodified Baileys in the bridge decrypts; the orchestrator serves them to real
clients; what the orchestrator sends is decrypted by the simulated contacts."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients import PollReader, SseReader, WebSocketReader
from tests.harness import Stack, stack, wait_for
from tests.wasim import WaSim

ANA, BRUNO, CARLA = "5511911110001", "5511922220002", "5511933330003"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


class Linked:
    """A paired stack whose bridge the tests stop and start themselves."""

    def __init__(self, s: Stack, sim: WaSim) -> None:
        self.stack, self.sim = s, sim
        self.orchestrator = s.orchestrator
        qr = wait_for("a QR", lambda: self.orchestrator.http.get("/qr").json()["qr"], timeout=30)
        self.sim.scan(qr)
        s.wait_open(timeout=40)
        for phone, name in ((ANA, "Ana"), (BRUNO, "Bruno"), (CARLA, "Carla")):
            self.sim.post("/contacts", {"phone": phone, "name": name})

    def message(self, chat_id: str, message_id: str, timeout: float = 20) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            page = self.orchestrator.http.get(f"/chats/{chat_id}/messages", params={"limit": 500})
            if page.status_code != 200:
                return None
            return next((m for m in page.json()["messages"] if m["id"] == message_id), None)

        return wait_for(f"message {message_id} in {chat_id}", find, timeout=timeout)


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    tmp = tmp_path_factory.mktemp("linked")
    with stack(tmp, orchestrator=False) as s:
        sim = s.add(WaSim(tmp))
        s.start_bridge(**sim.bridge_env())
        s.start_orchestrator(timeout=30, ORCH_RECONNECT_INITIAL="0.3", ORCH_RECONNECT_MAX="1")
        yield Linked(s, sim)


def test_a_contact_writes_and_every_client_sees_it(linked: Linked) -> None:
    base = linked.orchestrator.base_url
    since = linked.orchestrator.last_event_id()
    sent = linked.sim.post("/send", {"from": ANA, "kind": "text", "text": "olá, preciso de ajuda"})
    message = linked.message(jid(ANA), sent["id"])
    assert message["text"] == "olá, preciso de ajuda"
    assert message["sender"] == jid(ANA) and not message["fromMe"] and message["type"] == "text"
    assert message["senderName"] == "Ana"
    chats = {c["id"]: c for c in linked.orchestrator.http.get("/chats").json()["chats"]}
    assert chats[jid(ANA)]["lastMessage"]["id"] == sent["id"]

    def has(envelopes: list[dict[str, Any]]) -> bool:
        return any(e["type"] == "new_message" and e["data"]["id"] == sent["id"] for e in envelopes)

    for reader in (SseReader(base, last_id=since), WebSocketReader(base, last_id=since),
                   PollReader(base, last_id=since)):  # fmt: skip
        reader.run(has, timeout=15)
        [seen] = [e["data"] for e in reader.envelopes if e["type"] == "new_message"
                  and e["data"]["id"] == sent["id"]]  # fmt: skip
        assert seen == message


def test_replies_reactions_edits_and_revokes_arrive_as_sent(linked: Linked) -> None:
    chat = jid(BRUNO)
    first = linked.sim.post("/send", {"from": BRUNO, "kind": "text", "text": "meu pedido 123"})
    reply = linked.sim.post("/send", {"from": BRUNO, "kind": "reply", "text": "atrasou",
                                      "target": first["id"]})  # fmt: skip
    assert linked.message(chat, reply["id"])["quotedId"] == first["id"]
    linked.sim.post("/send", {"from": BRUNO, "kind": "reaction", "target": first["id"],
                              "emoji": "👍"})  # fmt: skip
    wait_for("the reaction", lambda: linked.message(chat, first["id"])["reactions"]
             == [{"emoji": "👍", "sender": chat}])  # fmt: skip
    linked.sim.post("/send", {"from": BRUNO, "kind": "edit", "target": first["id"],
                              "text": "meu pedido 124"})  # fmt: skip
    wait_for("the edit", lambda: (m := linked.message(chat, first["id"]))["edited"]
             and m["text"] == "meu pedido 124")  # fmt: skip
    linked.sim.post("/send", {"from": BRUNO, "kind": "revoke", "target": reply["id"]})
    wait_for("the revoke", lambda: (m := linked.message(chat, reply["id"]))["deleted"]
             and m["text"] is None)  # fmt: skip


def test_media_downloads_through_the_orchestrator_byte_for_byte(linked: Linked) -> None:
    image = os.urandom(48_000)
    document = os.urandom(70_000)
    sent_image = linked.sim.post("/send", {"from": ANA, "kind": "image", "text": "foto",
                                           "bytes": base64.b64encode(image).decode()})  # fmt: skip
    sent_doc = linked.sim.post("/send", {"from": ANA, "kind": "document", "fileName": "nota.pdf",
                                         "mimetype": "application/pdf",
                                         "bytes": base64.b64encode(document).decode()})  # fmt: skip
    for sent, data, kind in ((sent_image, image, "image"), (sent_doc, document, "document")):
        message = linked.message(jid(ANA), sent["id"])
        assert message["type"] == kind and message["media"]["size"] == len(data)
        response = linked.orchestrator.http.get(message["media"]["url"])
        assert response.status_code == 200, response.text
        assert response.content == data
    again = linked.orchestrator.http.get(linked.message(jid(ANA), sent_image["id"])["media"]["url"])
    assert again.content == image  # served from the disk cache the second time


def received(linked: Linked, message_id: str) -> dict[str, Any]:
    return wait_for(
        f"the simulator to decrypt {message_id}",
        lambda: next((r for r in linked.sim.get("/received") if r["id"] == message_id), None),
        timeout=20,
    )


def text_of(message: dict[str, Any]) -> str | None:
    """Baileys 7 sends plain text as extendedTextMessage; older clients as conversation."""
    extended = message.get("extendedTextMessage") or {}
    text: str | None = message.get("conversation") or extended.get("text")
    return text


def test_what_the_orchestrator_sends_is_decrypted_exactly_and_acks_follow(linked: Linked) -> None:
    http = linked.orchestrator.http
    incoming = linked.sim.post("/send", {"from": CARLA, "kind": "text", "text": "oi"})
    linked.message(jid(CARLA), incoming["id"])

    text = http.post("/send", json={"chatId": CARLA, "text": "Olá Carla, como posso ajudar?"})
    assert text.status_code == 202
    pending = text.json()["message"]
    assert pending["status"] == "pending" and pending["chatId"] == jid(CARLA)
    got = received(linked, pending["id"])
    assert text_of(got["message"]) == "Olá Carla, como posso ajudar?"
    assert got["recipients"] == [jid(CARLA)]

    reply = http.post(
        "/send", json={"chatId": jid(CARLA), "text": "segue", "quotedId": incoming["id"]}
    )
    context = received(linked, reply.json()["message"]["id"])["message"]["extendedTextMessage"]
    assert context["text"] == "segue" and context["contextInfo"]["stanzaId"] == incoming["id"]

    reaction = http.post("/send", json={"chatId": CARLA, "reaction": {"messageId": incoming["id"],
                                                                      "emoji": "❤️"}})  # fmt: skip
    reacted = received(linked, reaction.json()["message"]["id"])["message"]["reactionMessage"]
    assert reacted["text"] == "❤️" and reacted["key"]["id"] == incoming["id"]

    picture = os.urandom(30_000)
    media = http.post(
        "/send",
        json={
            "chatId": CARLA,
            "text": "o recibo",
            "media": {
                "type": "image",
                "base64": base64.b64encode(picture).decode(),
                "mimetype": "image/png",
            },
        },
    )
    uploaded = received(linked, media.json()["message"]["id"])
    assert (
        base64.b64decode(uploaded["media"]["bytes"]) == picture
        and uploaded["media"]["fileSha256Ok"]
    )
    assert uploaded["message"]["imageMessage"]["caption"] == "o recibo"

    # Receipts from the contact's phone become acks on the streams.
    since = linked.orchestrator.last_event_id()
    for kind, ack in (("delivery", 3), ("read", 4)):
        linked.sim.post("/receipt", {"id": pending["id"], "from": CARLA, "type": kind})
        wait_for(f"ack {ack}", lambda a=ack: linked.message(jid(CARLA), pending["id"])["ack"] == a)
    acks = PollReader(linked.orchestrator.base_url, last_id=since)
    acks.run(lambda e: any(x["type"] == "message_ack" and x["data"]["ack"] == 4 for x in e), 15)
    seen = [x["data"]["status"] for x in acks.envelopes if x["type"] == "message_ack"
            and x["data"]["messageId"] == pending["id"]]  # fmt: skip
    assert seen[-1] == "read"


def test_reading_a_chat_sends_read_receipts_and_clears_its_unread_count(linked: Linked) -> None:
    edu = "5511955550005"  # a contact of its own: no other test reads or writes it
    linked.sim.post("/contacts", {"phone": edu, "name": "Edu"})
    ids = [linked.sim.post("/send", {"from": edu, "kind": "text", "text": t})["id"]
           for t in ("bom dia", "alguém aí?")]  # fmt: skip
    for message_id in ids:
        linked.message(jid(edu), message_id)

    def chat() -> dict[str, Any]:
        response = linked.orchestrator.http.get(f"/chats/{jid(edu)}")
        return dict(response.raise_for_status().json())

    wait_for("two unread", lambda: chat()["unreadCount"] == 2)
    since = linked.orchestrator.last_event_id()
    response = linked.orchestrator.http.post(f"/chats/{edu}/read")
    assert response.status_code == 200, response.text
    assert response.json() == {"chatId": jid(edu), "receipts": 2}

    def read_receipts() -> list[str] | None:
        reads = [r for r in linked.sim.get("/receipts") if r["type"] == "read"]
        got = sorted(i for r in reads for i in r["ids"] if i in ids)
        return got if got == sorted(ids) else None

    wait_for("the read receipts at WhatsApp", read_receipts, timeout=15)
    assert chat()["unreadCount"] == 0
    updates = PollReader(linked.orchestrator.base_url, last_id=since)
    updates.run(lambda e: any(x["type"] == "chat_update" and x["data"]["id"] == jid(edu)
                              for x in e), 15)  # fmt: skip
    updated = [x["data"] for x in updates.envelopes
               if x["type"] == "chat_update" and x["data"]["id"] == jid(edu)]  # fmt: skip
    assert updated[-1]["unreadCount"] == 0
    unknown = linked.orchestrator.http.post(f"/chats/{jid('5511900000000')}/read")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "chat_not_found"


def test_messages_sent_while_the_bridge_was_down_arrive_once(linked: Linked) -> None:
    linked.stack.bridge.terminate()
    wait_for("the bridge declared dead", lambda: not linked.orchestrator.bridge_report()["alive"])
    sent = [linked.sim.post("/send", {"from": ANA, "kind": "text", "text": f"offline {i}"})["id"]
            for i in range(5)]  # fmt: skip
    linked.stack.start_bridge(**linked.sim.bridge_env())
    linked.stack.wait_open(timeout=40)
    for message_id in sent:
        linked.message(jid(ANA), message_id, timeout=40)
    ids = [m["id"] for m in linked.orchestrator.http.get(
        f"/chats/{jid(ANA)}/messages", params={"limit": 500}).json()["messages"]]  # fmt: skip
    # All of them, none twice. (The bridge may deliver an offline batch in any order; within
    # one second the server orders by when it had them, so the order is not the sending one.)
    assert sorted(i for i in ids if i in sent) == sorted(sent)
    assert len(ids) == len(set(ids))


def test_a_group_with_a_lid_participant_is_one_chat_with_phone_senders(linked: Linked) -> None:
    dora = "5511944440004"
    linked.sim.post("/contacts", {"phone": dora, "name": "Dora", "lid": True})
    group = linked.sim.post("/groups", {"subject": "Suporte VIP",
                                        "participants": [ANA, BRUNO, dora]})  # fmt: skip
    ids = [linked.sim.post("/send", {"from": who, "to": group["jid"], "kind": "text",
                                     "text": f"oi de {who}"})["id"]
           for who in (ANA, dora, BRUNO)]  # fmt: skip
    messages = [linked.message(group["jid"], i) for i in ids]
    assert [m["sender"] for m in messages] == [jid(ANA), jid(dora), jid(BRUNO)]
    chat = linked.orchestrator.http.get(f"/chats/{group['jid']}").json()
    assert chat["isGroup"] is True
    assert not any(c["id"].endswith("@lid")
                   for c in linked.orchestrator.http.get("/chats").json()["chats"])  # fmt: skip
    out = linked.orchestrator.http.post("/send", json={"chatId": group["jid"], "text": "olá grupo"})
    got = received(linked, out.json()["message"]["id"])
    assert sorted(got["recipients"]) == sorted(jid(p) for p in (ANA, BRUNO, dora))
