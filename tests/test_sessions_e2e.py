"""Issue 14, end to end through the real protocol: two sessions, two simulated WhatsApp numbers,
each paired by QR with its own bridge. Messages go in and out of each; nothing of one session
ever shows in the other's chats, streams, store or helpdesk metadata, even for a contact who
writes to both numbers (two conversations)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients import PollReader, SseReader, StreamReader, WebSocketReader
from tests.harness import wait_for
from tests.multisession import Deployment, deployment, jid

SESSIONS = ("default", "sales")


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("two"), SESSIONS) as it:
        yield it


def known_to_both(d: Deployment, phone: str, name: str) -> str:
    """A contact of this test only, who can write to both numbers."""
    for number in d.numbers.values():
        number.simulator.post("/contacts", {"phone": phone, "name": name})
    return jid(phone)


def test_the_sessions_are_two_numbers(d: Deployment) -> None:
    listed = {s["id"]: s for s in d.http.get("/sessions").json()["sessions"]}
    assert set(listed) == set(SESSIONS)
    for session, number in d.numbers.items():
        assert listed[session]["connected"] is True and listed[session]["state"] == "open"
        assert listed[session]["me"]["id"].startswith(number.simulator.phone)
        assert listed[session]["bridge"]["alive"] is True
        assert d.status(session)["me"]["id"].startswith(number.simulator.phone)
    assert d.http.get("/status").json()["me"] == listed["default"]["me"]  # the unscoped alias


def test_inbound_lands_in_its_own_session_only(d: Deployment) -> None:
    both = known_to_both(d, "5511940000001", "Dora")
    only_sales = "5511940000002"
    d.numbers["sales"].simulator.post("/contacts", {"phone": only_sales, "name": "Saulo"})

    to_default = d.send("default", "5511940000001", "oi, número um")
    to_sales = d.send("sales", "5511940000001", "oi, número dois")
    from_saulo = d.send("sales", only_sales, "só no dois")
    assert d.has_messages("default", both, [to_default]) == [to_default]
    assert d.has_messages("sales", both, [to_sales]) == [to_sales]
    assert d.has_messages("sales", jid(only_sales), [from_saulo]) == [from_saulo]

    default_chats, sales_chats = d.chats("default"), d.chats("sales")
    assert default_chats[both]["lastMessage"]["id"] == to_default
    assert sales_chats[both]["lastMessage"]["id"] == to_sales
    assert jid(only_sales) not in default_chats
    for route in (f"/chats/{jid(only_sales)}", f"/chats/{jid(only_sales)}/messages"):
        assert d.http.get(d.path("default", route)).status_code == 404
        assert d.http.get(route).status_code == 404  # the unscoped alias is the default session
    assert d.http.get(f"/chats/{both}/messages").json()["messages"][-1]["id"] == to_default
    print(f"\nchats: default {len(default_chats)}, sales {len(sales_chats)}")


def received(d: Deployment, session: str, message_id: str) -> dict[str, Any]:
    sim = d.numbers[session].simulator
    return wait_for(
        f"{session}'s simulator to decrypt {message_id}",
        lambda: next((r for r in sim.get("/received") if r["id"] == message_id), None),
    )


def test_outbound_leaves_through_its_own_number_only(d: Deployment) -> None:
    both = known_to_both(d, "5511940000003", "Elis")
    for session in SESSIONS:  # she writes first, as customers do (and her keys are known then)
        d.has_messages(session, both, [d.send(session, "5511940000003", "oi")])
    sent = {}
    for session in SESSIONS:
        response = d.http.post(
            d.path(session, "/send"), json={"chatId": both, "text": f"resposta de {session}"}
        )
        assert response.status_code == 202, response.text
        sent[session] = response.json()["message"]["id"]
    for session, other in (("default", "sales"), ("sales", "default")):
        got = received(d, session, sent[session])
        assert got["recipients"] == [both]
        assert got["from"].startswith(d.numbers[session].simulator.phone)
        assert all(r["id"] != sent[session] for r in d.numbers[other].simulator.get("/received"))
        ids = d.has_messages(session, both, [sent[session]])
        assert sent[other] not in ids


def run_until(reader: StreamReader, *ids: str) -> list[dict[str, Any]]:
    def seen(envelopes: list[dict[str, Any]]) -> bool:
        found = {e["data"].get("id") for e in envelopes if e["type"] == "new_message"}
        return set(ids) <= found

    reader.run(seen, timeout=20)
    return reader.envelopes


def test_streams_carry_each_session_under_its_name(d: Deployment) -> None:
    known_to_both(d, "5511940000004", "Fábio")
    since = d.orchestrator.last_event_id()
    ids = {session: d.send(session, "5511940000004", f"stream {session}") for session in SESSIONS}
    base = d.orchestrator.base_url
    counts = {}
    for kind in (SseReader, WebSocketReader, PollReader):
        everything = run_until(kind(base, last_id=since), *ids.values())
        assert {e["session"] for e in everything} <= set(SESSIONS)
        for session, message_id in ids.items():
            [envelope] = [e for e in everything if e["type"] == "new_message"
                          and e["data"]["id"] == message_id]  # fmt: skip
            assert envelope["session"] == session
        for session, other in (("default", "sales"), ("sales", "default")):
            only = run_until(kind(base, last_id=since, params={"session": session}), ids[session])
            assert {e["session"] for e in only} == {session}, kind
            assert all(
                e["data"].get("id") != ids[other] for e in only if e["type"] == "new_message"
            )
            # What the filtered stream carries is exactly that session's part of the whole one.
            # Both reads stopped at some point past the message: compare what both covered.
            mine = [e["id"] for e in everything if e["session"] == session]
            shared = min(len(mine), len(only))
            assert [e["id"] for e in only][:shared] == mine[:shared]
            counts[f"{kind.__name__} {session}"] = len(only)
        counts[f"{kind.__name__} all"] = len(everything)
    print(f"\nenvelopes since the mark: {counts}")


def test_each_session_writes_its_own_store_file(d: Deployment) -> None:
    both = known_to_both(d, "5511940000005", "Gil")
    ids = {session: d.send(session, "5511940000005", f"store {session}") for session in SESSIONS}
    for session in SESSIONS:
        d.has_messages(session, both, [ids[session]])
        d.flushed(session)
    assert d.store_file("default") != d.store_file("sales")
    stored = {session: d.stored_messages(session) for session in SESSIONS}
    for session, other in (("default", "sales"), ("sales", "default")):
        assert (both, ids[session]) in stored[session]
        assert (both, ids[other]) not in stored[session]
        own = {message_id for _, message_id in stored[session]}
        assert not own & {message_id for _, message_id in stored[other]}
    print(f"\nstored messages: { {s: len(rows) for s, rows in stored.items()} }")


def test_metadata_of_one_conversation_stays_in_its_session(d: Deployment) -> None:
    both = known_to_both(d, "5511940000006", "Hana")
    for session in SESSIONS:
        d.has_messages(session, both, [d.send(session, "5511940000006", f"meta {session}")])
    agent = str(uuid.uuid4())
    profile = d.http.put(f"/admin/profiles/{agent}", json={"role": "agent", "displayName": "Iara",
                                                          "sessions": list(SESSIONS)})  # fmt: skip
    assert profile.status_code == 200, profile.text
    tag = d.http.post("/tags", json={"name": f"vip-{uuid.uuid4().hex[:6]}"})
    assert tag.status_code == 201, tag.text
    tag_id = tag.json()["id"]

    chat = f"/chats/{both}"
    assigned = d.http.put(d.path("default", f"{chat}/assignment"), json={"agentId": agent})
    assert assigned.status_code == 200, assigned.text
    tagged = d.http.post(d.path("default", f"{chat}/tags"), json={"tagId": tag_id})
    assert tagged.status_code == 200, tagged.text
    noted = d.http.post(d.path("default", f"{chat}/notes"), json={"body": "cliente do número 1"})
    assert noted.status_code == 201, noted.text
    sales_note = d.http.post(d.path("sales", f"{chat}/notes"), json={"body": "no número 2"})
    assert sales_note.status_code == 201, sales_note.text

    default_chat, sales_chat = d.get("default", chat), d.get("sales", chat)
    assert default_chat["assignment"]["agentId"] == agent
    assert [t["id"] for t in default_chat["tags"]] == [tag_id]
    assert sales_chat["assignment"] is None and sales_chat["tags"] == []
    assert [n["body"] for n in d.get("default", f"{chat}/notes")["notes"]] == [
        "cliente do número 1"
    ]
    assert [n["body"] for n in d.get("sales", f"{chat}/notes")["notes"]] == ["no número 2"]
    assert d.chats("sales")[both]["assignment"] is None
    assert d.chats("default")[both]["assignment"]["agentId"] == agent

    def actions(session: str) -> list[str]:
        return [a["action"] for a in d.get(session, "/activity", chatId=both)["activity"]]

    assert sorted(actions("default")) == ["chat_assigned", "chat_tagged", "note_added"]
    assert actions("sales") == ["note_added"]  # its own note, nothing of the other number's
