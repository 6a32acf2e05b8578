"""Issue 13, richer sends, end to end: what `POST /send` makes of a location, contact cards, a
poll, a forward, an edit and a delete goes through the unmodified Baileys in the bridge to the
simulator, whose contacts decrypt exactly what was meant; the orchestrator's own view follows
(the edited text, the deleted flag, the message gone)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import stack, wait_for
from tests.test_messages_e2e import Linked, jid, received
from tests.wasim import WaSim

ANA, BRUNO = "5511911110001", "5511922220002"


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    tmp = tmp_path_factory.mktemp("sends")
    with stack(tmp, orchestrator=False) as s:
        sim = s.add(WaSim(tmp))
        s.start_bridge(**sim.bridge_env())
        s.start_orchestrator(timeout=30, ORCH_RECONNECT_INITIAL="0.3", ORCH_RECONNECT_MAX="1")
        linked = Linked(s, sim)
        # A helpdesk answers: each contact writes first, as in every chat it serves.
        for phone in (ANA, BRUNO):
            hello = sim.post("/send", {"from": phone, "kind": "text", "text": "oi"})
            linked.message(jid(phone), hello["id"])
        yield linked


def send(linked: Linked, body: dict[str, Any]) -> dict[str, Any]:
    response = linked.orchestrator.http.post("/send", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_a_location_arrives_with_its_coordinates(linked: Linked) -> None:
    place = {"latitude": -23.5613, "longitude": -46.6565, "name": "Loja Paulista",
             "address": "Av. Paulista, 1000"}  # fmt: skip
    answer = send(linked, {"chatId": ANA, "location": place})
    assert answer["message"]["type"] == "location" and answer["message"]["text"] == "Loja Paulista"
    got = received(linked, answer["sendId"])["message"]["locationMessage"]
    assert (got["degreesLatitude"], got["degreesLongitude"]) == (-23.5613, -46.6565)
    assert (got["name"], got["address"]) == ("Loja Paulista", "Av. Paulista, 1000")
    mine = linked.message(jid(ANA), answer["sendId"])
    assert mine["type"] == "location" and mine["text"] == "Loja Paulista" and mine["fromMe"]


def test_contact_cards_arrive_as_vcards(linked: Linked) -> None:
    one = send(linked, {"chatId": ANA, "contacts": [{"name": "Suporte; Nível 2, SP",
                                                     "phone": "+55 (11) 97777-0001"}]})  # fmt: skip
    card = received(linked, one["sendId"])["message"]["contactMessage"]
    assert card["displayName"] == "Suporte; Nível 2, SP"
    assert card["vcard"] == (
        "BEGIN:VCARD\nVERSION:3.0\nN:;Suporte\\; Nível 2\\, SP;;;\nFN:Suporte\\; Nível 2\\, SP\n"
        "TEL;type=CELL;waid=5511977770001:+5511977770001\nEND:VCARD"
    )
    cards_body = [{"name": "Ana", "phone": "5511911110001"}, {"name": "Bruno", "phone": BRUNO}]
    two = send(linked, {"chatId": ANA, "contacts": cards_body})
    cards = received(linked, two["sendId"])["message"]["contactsArrayMessage"]
    assert [c["displayName"] for c in cards["contacts"]] == ["Ana", "Bruno"]
    assert f"TEL;type=CELL;waid={BRUNO}:+{BRUNO}" in cards["contacts"][1]["vcard"]
    assert linked.message(jid(ANA), two["sendId"])["text"] == "Ana, Bruno"


def test_a_poll_arrives_with_its_options_and_secret(linked: Linked) -> None:
    poll = {"name": "Como foi o atendimento?", "options": ["Ótimo", "Bom", "Ruim"],
            "selectableCount": 2}  # fmt: skip
    answer = send(linked, {"chatId": BRUNO, "poll": poll})
    got = received(linked, answer["sendId"])["message"]
    # Baileys sends a multiple-choice poll as pollCreationMessage (V3 is single choice).
    creation = got["pollCreationMessage"]
    assert creation["name"] == "Como foi o atendimento?"
    assert [o["optionName"] for o in creation["options"]] == ["Ótimo", "Bom", "Ruim"]
    assert creation["selectableOptionsCount"] == 2
    assert len(got["messageContextInfo"]["messageSecret"]) > 0  # what votes are encrypted with
    single = send(linked, {"chatId": BRUNO, "poll": {"name": "Sim?", "options": ["Sim", "Não"]}})
    v3 = received(linked, single["sendId"])["message"]["pollCreationMessageV3"]
    assert v3["selectableOptionsCount"] == 1
    mine = linked.message(jid(BRUNO), answer["sendId"])
    assert mine["type"] == "poll" and mine["text"] == "Como foi o atendimento?"


def test_a_forward_carries_the_content_marked_forwarded(linked: Linked) -> None:
    incoming = linked.sim.post("/send", {"from": ANA, "kind": "text", "text": "pedido 77 pago"})
    linked.message(jid(ANA), incoming["id"])
    answer = send(linked, {"chatId": BRUNO, "forward": {"messageId": incoming["id"]}})
    pending = answer["message"]
    assert pending["text"] == "pedido 77 pago" and pending["chatId"] == jid(BRUNO)
    got = received(linked, answer["sendId"])
    assert got["recipients"] == [jid(BRUNO)]
    text = got["message"]["extendedTextMessage"]
    assert text["text"] == "pedido 77 pago"
    context = text["contextInfo"]
    assert context["isForwarded"] is True and context["forwardingScore"] == 1
    assert linked.message(jid(BRUNO), answer["sendId"])["text"] == "pedido 77 pago"


def test_an_edit_changes_the_text_for_the_contact_and_for_us(linked: Linked) -> None:
    original = send(linked, {"chatId": ANA, "text": "o prazo é sexta"})
    linked.message(jid(ANA), original["sendId"])  # Baileys' own echo: now editable
    answer = send(linked, {"chatId": ANA, "edit": {"messageId": original["sendId"],
                                                   "text": "o prazo é segunda"}})  # fmt: skip
    assert answer["targetId"] == original["sendId"] != answer["sendId"]
    assert answer["message"]["id"] == original["sendId"] and answer["message"]["edited"]
    protocol = received(linked, answer["sendId"])["message"]["protocolMessage"]
    assert protocol["type"] == "MESSAGE_EDIT" and protocol["key"]["id"] == original["sendId"]
    assert protocol["editedMessage"]["extendedTextMessage"]["text"] == "o prazo é segunda"
    wait_for("the edit in our view", lambda: (m := linked.message(jid(ANA), original["sendId"]))
             ["edited"] and m["text"] == "o prazo é segunda")  # fmt: skip


def test_a_delete_for_everyone_revokes_it_at_the_contact_and_for_us(linked: Linked) -> None:
    original = send(linked, {"chatId": BRUNO, "text": "mensagem errada"})
    linked.message(jid(BRUNO), original["sendId"])
    answer = send(linked, {"chatId": BRUNO, "delete": {"messageId": original["sendId"],
                                                       "forEveryone": True}})  # fmt: skip
    assert answer["targetId"] == original["sendId"] and answer["message"]["deleted"]
    protocol = received(linked, answer["sendId"])["message"]["protocolMessage"]
    assert protocol["type"] == "REVOKE" and protocol["key"]["id"] == original["sendId"]
    wait_for("the revoke in our view", lambda: (m := linked.message(jid(BRUNO), original["sendId"]))
             ["deleted"] and m["text"] is None)  # fmt: skip


def test_a_delete_for_me_is_an_app_state_patch_and_the_message_goes_for_us(
    linked: Linked,
) -> None:
    http = linked.orchestrator.http
    incoming = linked.sim.post("/send", {"from": ANA, "kind": "text", "text": "apague isto"})
    linked.message(jid(ANA), incoming["id"])
    body = {"chatId": ANA, "delete": {"messageId": incoming["id"], "forEveryone": False}}

    # The phone shares its app-state key right after pairing (409 app_state_not_ready until the
    # device holds it: tests/test_send_refusals.py covers that answer).
    def delete_for_me() -> dict[str, Any] | None:
        response = http.post("/send", json=body)
        if response.status_code == 409:  # the key share is still on its way: nothing changed
            return None
        assert response.status_code == 202, response.text
        return dict(response.json())

    answer = wait_for("the device to hold the app-state key", delete_for_me)
    assert answer["sendId"] is None and answer["targetId"] == incoming["id"]

    def uploaded() -> dict[str, Any] | None:
        mutations = linked.sim.get("/app-state/mutations")
        return next((m for m in mutations if m["index"][2] == incoming["id"]), None)

    mutation = wait_for("the patch at WhatsApp", uploaded)
    assert mutation["index"] == ["deleteMessageForMe", jid(ANA), incoming["id"], "0", "0"]
    assert mutation["action"]["deleteMessageForMeAction"]["deleteMedia"] is True

    def gone() -> bool:
        page = http.get(f"/chats/{jid(ANA)}/messages", params={"limit": 500}).json()["messages"]
        return incoming["id"] not in [m["id"] for m in page]

    wait_for("the message gone from our view", gone)
