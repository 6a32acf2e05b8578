"""Issue 13, waiting messages end to end through the real protocol: a simulated contact's
message arrives so that the unmodified Baileys in the bridge cannot decrypt it (a WhisperMessage
of a session it never had); Baileys upserts a CIPHERTEXT stub and asks the contact (retry
receipt) and its phone (placeholder resend) for the content. The orchestrator shows a
`waiting` message, and turns it into its content in place when one of them answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients import Envelope, PollReader, SseReader, WebSocketReader
from tests.harness import Stack, metric, stack, wait_for
from tests.test_messages_e2e import ANA, BRUNO, CARLA, jid
from tests.test_messages_e2e import Linked as PairedStack
from tests.wasim import WaSim

DORA = "5511944440004"
# Baileys asks the phone 3 s (retry manager) + 2 s (resend cache) after the failed decrypt.
PHONE_TIMEOUT = 40.0


class Linked(PairedStack):
    """A paired stack of its own: the waiting gauge and the resolved counter start at 0."""

    def __init__(self, s: Stack, sim: WaSim) -> None:
        super().__init__(s, sim)
        self.http = s.orchestrator.http

    def messages(self, chat_id: str) -> list[dict[str, Any]]:
        page = self.http.get(f"/chats/{chat_id}/messages", params={"limit": 500})
        assert page.status_code == 200, page.text
        messages: list[dict[str, Any]] = page.json()["messages"]
        return messages

    def message_where(
        self, chat_id: str, message_id: str, what: str, pred: Any, timeout: float = 20
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            page = self.http.get(f"/chats/{chat_id}/messages", params={"limit": 500})
            if page.status_code != 200:
                return None
            found = next((m for m in page.json()["messages"] if m["id"] == message_id), None)
            return found if found is not None and pred(found) else None

        return wait_for(f"{what} ({message_id} in {chat_id})", find, timeout=timeout)

    def chat(self, chat_id: str) -> dict[str, Any]:
        chats = {c["id"]: c for c in self.http.get("/chats").json()["chats"]}
        chat: dict[str, Any] = chats[chat_id]
        return chat

    def waiting_ids(self) -> list[str]:
        response = self.http.get("/waiting-messages")
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["messages"]]

    def metric(self, name: str) -> float:
        return metric(self.orchestrator, name)

    def sim_messages(self) -> dict[str, Any]:
        counters: dict[str, Any] = self.sim.state()["messages"]
        return counters


@pytest.fixture
def linked(tmp_path: Any) -> Iterator[Linked]:
    with stack(tmp_path, orchestrator=False) as s:
        sim = s.add(WaSim(tmp_path))
        s.start_bridge(**sim.bridge_env())
        s.start_orchestrator(timeout=30)
        yield Linked(s, sim)


def waiting_is(message: dict[str, Any]) -> bool:
    return message["type"] == "waiting" and message["text"] is None


def about(envelopes: list[Envelope], kind: str, message_id: str) -> list[tuple[int, Envelope]]:
    return [(i, e) for i, e in enumerate(envelopes)
            if e["type"] == kind and e["data"]["id"] == message_id]  # fmt: skip


def check_streams(linked: Linked, since: str, chat_id: str, message_id: str, text: str) -> None:
    """Every stream shows the waiting message once (new_message), then its content under the
    same id (message_update), and the chat's unread count never goes past one."""

    def resolved(envelopes: list[Envelope]) -> bool:
        return any(e["data"]["text"] == text for _, e in about(envelopes, "message_update",
                                                                  message_id))  # fmt: skip

    base = linked.orchestrator.base_url
    for reader in (SseReader(base, last_id=since), WebSocketReader(base, last_id=since),
                   PollReader(base, last_id=since)):  # fmt: skip
        reader.run(resolved, timeout=PHONE_TIMEOUT)
        [(first, new)] = about(reader.envelopes, "new_message", message_id)
        assert waiting_is(new["data"]), new
        assert new["data"]["chatId"] == chat_id and new["data"]["sender"] == chat_id
        updates = about(reader.envelopes, "message_update", message_id)
        assert all(i > first for i, _ in updates)
        final = updates[-1][1]["data"]
        got = (final["id"], final["chatId"], final["type"], final["text"])
        assert got == (message_id, chat_id, "text", text)
        chats = [e["data"] for e in reader.envelopes if e["type"] in ("new_chat", "chat_update")]
        unread = [c["unreadCount"] for c in chats if c["id"] == chat_id]
        assert unread and max(unread) == 1, unread


def check_resolved(linked: Linked, chat_id: str, message_id: str, text: str) -> None:
    """One message in the chat, the content under the waiting message's id, unread once."""
    [message] = linked.messages(chat_id)
    assert (message["id"], message["type"], message["text"]) == (message_id, "text", text)
    chat = linked.chat(chat_id)
    assert chat["unreadCount"] == 1
    assert chat["lastMessage"]["id"] == message_id and chat["lastMessage"]["text"] == text
    assert linked.waiting_ids() == []
    assert linked.metric("wa_messages_waiting") == 0
    assert linked.metric("wa_messages_waiting_resolved_total") == 1


def test_retry_the_contact_resends_and_the_waiting_message_becomes_its_text(
    linked: Linked,
) -> None:
    chat_id, text = jid(ANA), "o pedido 42 não chegou"
    since = linked.orchestrator.last_event_id()
    sent = linked.sim.post(
        "/send", {"from": ANA, "kind": "text", "text": text, "undecryptable": "retry"}
    )
    check_streams(linked, since, chat_id, sent["id"], text)
    check_resolved(linked, chat_id, sent["id"], text)
    counters = linked.sim_messages()
    assert (counters["undecryptable"], counters["retryReceipts"], counters["resends"]) == (1, 1, 1)
    assert counters["placeholderAnswers"] == 0


def test_phone_the_phone_answers_and_the_waiting_message_becomes_its_text(
    linked: Linked,
) -> None:
    chat_id, text = jid(BRUNO), "pode me ligar?"
    since = linked.orchestrator.last_event_id()
    sent = linked.sim.post(
        "/send", {"from": BRUNO, "kind": "text", "text": text, "undecryptable": "phone"}
    )
    # The phone is asked about 5 s after the stub: time enough to see it waiting everywhere.
    waiting = linked.message_where(chat_id, sent["id"], "the waiting message", waiting_is)
    assert waiting["sender"] == chat_id and not waiting["fromMe"]
    assert linked.chat(chat_id)["unreadCount"] == 1
    check_streams(linked, since, chat_id, sent["id"], text)
    check_resolved(linked, chat_id, sent["id"], text)
    counters = linked.sim_messages()
    assert (counters["retriesIgnored"], counters["placeholderRequests"]) == (1, 1)
    assert (counters["placeholderAnswers"], counters["resends"]) == (1, 0)


def test_unavailable_the_phone_answers_the_request_named_in_a_stub_update(linked: Linked) -> None:
    """No <enc> at all, from a contact with a LID: Baileys asks only its phone and announces the
    request id (messages.update with messageStubParameters); the answer comes on the stub's
    cached key (remoteJidAlt the LID), and the orchestrator resolves the same message in the
    contact's PN chat."""
    linked.sim.post("/contacts", {"phone": DORA, "name": "Dora", "lid": True})
    chat_id, text = jid(DORA), "vim pelo anúncio"
    since = linked.orchestrator.last_event_id()
    sent = linked.sim.post(
        "/send", {"from": DORA, "kind": "text", "text": text, "undecryptable": "unavailable"}
    )
    check_streams(linked, since, chat_id, sent["id"], text)
    check_resolved(linked, chat_id, sent["id"], text)
    counters = linked.sim_messages()
    assert (counters["retryReceipts"], counters["nacks"]) == (0, 0)
    assert (counters["placeholderRequests"], counters["placeholderAnswers"]) == (1, 1)


def test_never_the_message_stays_waiting_and_is_listed_and_counted(linked: Linked) -> None:
    chat_id = jid(CARLA)
    sent = linked.sim.post(
        "/send", {"from": CARLA, "kind": "text", "text": "perdida", "undecryptable": "never"}
    )
    linked.message_where(chat_id, sent["id"], "the waiting message", waiting_is)
    # Both were asked and neither answers: after the phone's request nothing else can come.
    wait_for("the phone to be asked", lambda: linked.sim_messages()["placeholderRequests"] == 1,
             timeout=PHONE_TIMEOUT)  # fmt: skip
    assert linked.sim_messages()["retriesIgnored"] == 1
    later = linked.sim.post("/send", {"from": CARLA, "kind": "text", "text": "alô?"})
    linked.message_where(chat_id, later["id"], "a later message", lambda m: m["text"] == "alô?")

    messages = {m["id"]: m for m in linked.messages(chat_id)}
    assert set(messages) == {sent["id"], later["id"]}
    assert waiting_is(messages[sent["id"]])
    assert linked.chat(chat_id)["unreadCount"] == 2
    assert linked.waiting_ids() == [sent["id"]]
    response = linked.http.get("/waiting-messages")
    [listed] = response.json()["messages"]
    assert listed == messages[sent["id"]]
    assert linked.metric("wa_messages_waiting") == 1
    assert linked.metric("wa_messages_waiting_resolved_total") == 0


def test_an_edit_gives_a_waiting_message_its_text_and_a_revoke_deletes_one(
    linked: Linked,
) -> None:
    chat_id = jid(ANA)
    edited, revoked = (
        linked.sim.post(
            "/send", {"from": ANA, "kind": "text", "text": text, "undecryptable": "never"}
        )
        for text in ("primeira", "segunda")
    )
    for sent in (edited, revoked):
        linked.message_where(chat_id, sent["id"], "the waiting message", waiting_is)
    assert sorted(linked.waiting_ids()) == sorted([edited["id"], revoked["id"]])
    assert linked.metric("wa_messages_waiting") == 2

    linked.sim.post("/send", {"from": ANA, "kind": "edit", "target": edited["id"],
                              "text": "primeira, corrigida"})  # fmt: skip
    linked.sim.post("/send", {"from": ANA, "kind": "revoke", "target": revoked["id"]})
    message = linked.message_where(chat_id, edited["id"], "the edit", lambda m: m["edited"])
    assert (message["type"], message["text"]) == ("text", "primeira, corrigida")
    message = linked.message_where(chat_id, revoked["id"], "the revoke", lambda m: m["deleted"])
    assert (message["type"], message["text"]) == ("waiting", None)
    assert linked.waiting_ids() == []
    assert linked.metric("wa_messages_waiting") == 0
    assert linked.metric("wa_messages_waiting_resolved_total") == 1
    assert len(linked.messages(chat_id)) == 2


def test_a_waiting_message_survives_a_kill_9_and_resolves_after_it(linked: Linked) -> None:
    chat_id = jid(BRUNO)
    sent = linked.sim.post(
        "/send", {"from": BRUNO, "kind": "text", "text": "antes", "undecryptable": "never"}
    )
    linked.message_where(chat_id, sent["id"], "the waiting message", waiting_is)
    linked.orchestrator = linked.stack.restart_orchestrator()
    linked.http = linked.orchestrator.http
    wait_for("the waiting message listed again", lambda: linked.waiting_ids() == [sent["id"]])
    assert linked.metric("wa_messages_waiting") == 1
    assert waiting_is(next(m for m in linked.messages(chat_id) if m["id"] == sent["id"]))

    linked.sim.post("/send", {"from": BRUNO, "kind": "edit", "target": sent["id"],
                              "text": "depois"})  # fmt: skip
    message = linked.message_where(chat_id, sent["id"], "the edit", lambda m: m["edited"])
    assert (message["type"], message["text"]) == ("text", "depois")
    assert linked.waiting_ids() == []
    assert linked.metric("wa_messages_waiting") == 0
    assert linked.metric("wa_messages_waiting_resolved_total") == 1
    assert [m["id"] for m in linked.messages(chat_id)] == [sent["id"]]
