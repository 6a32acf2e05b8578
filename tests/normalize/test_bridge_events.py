from __future__ import annotations

from orchestrator.domain import ACK_ERROR, ChatSeen, MessageSeen, Unreadable
from orchestrator.normalize import normalize


def test_a_failed_send_becomes_a_failed_own_message() -> None:
    data = {
        "jid": "5511912345678@s.whatsapp.net",
        "messageId": "3EB0AA",
        "text": "hello",
        "timestamp": 1700000000,
        "error": {"$error": {"name": "Error", "message": "boom", "statusCode": 500, "data": None}},
    }
    [fact] = normalize("bridge.send_failed", data)
    assert isinstance(fact, MessageSeen) and not fact.live
    message = fact.message
    assert (message.id, message.chat_id, message.from_me, message.ack, message.text) == (
        "3EB0AA", "5511912345678@s.whatsapp.net", True, ACK_ERROR, "hello",
    )  # fmt: skip


def test_a_send_failure_without_an_id_is_unreadable_not_an_exception() -> None:
    facts = normalize("bridge.send_failed", {"jid": "5511912345678@s.whatsapp.net"})
    assert [type(f) for f in facts] == [Unreadable]


def test_read_receipts_make_each_chat_read_once() -> None:
    pn, group = "5511912345678@s.whatsapp.net", "120363000000000001@g.us"
    keys = [
        {"remoteJid": pn, "id": "A", "fromMe": False},
        {"remoteJid": pn, "id": "B", "fromMe": False},
        {"remoteJid": group, "id": "C", "fromMe": False, "participant": pn},
        {"remoteJid": "status@broadcast", "id": "D", "fromMe": False},
    ]
    assert normalize("bridge.messages_read", {"keys": keys}) == [
        ChatSeen(pn, False, unread_count=0),
        ChatSeen(group, True, unread_count=0),
    ]
    assert [type(f) for f in normalize("bridge.messages_read", {"keys": [{"id": "X"}]})] == [
        Unreadable
    ]
