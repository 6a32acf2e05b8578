"""Issue 18: an endpoint's filters (event types, sessions, chat types), end to end with two
WhatsApp numbers (sessions `default` and `sales`), each a bridge replaying a capture with two
group chats among direct ones. One endpoint without filters gets everything: what each filtered
endpoint must get is computed from that, by the contract's rules, and compared exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness import ipc_endpoints, make_capture, stack, wait_for
from tests.multisession import Deployment, Number
from tests.webhooks.common import (
    FAST,
    Envelope,
    assert_only_redeliveries,
    create,
    deliveries,
    drained,
    stream_after,
)
from tests.webhooks.receiver import Receiver


def chat_type(chat: str | None) -> str | None:
    if chat is None:
        return None
    if chat.endswith("@g.us"):
        return "group"
    if chat.endswith(("@s.whatsapp.net", "@lid")):
        return "direct"
    return None


# path -> (the endpoint's filters, which (envelope, chat id) it must get)
Rule = Callable[[Envelope, str | None], bool]
FILTERS: dict[str, tuple[dict[str, Any], Rule]] = {
    "/all": ({}, lambda e, chat: True),
    "/nulls": ({"events": None, "sessions": None, "chatTypes": None}, lambda e, chat: True),
    "/messages": (
        {"events": ["new_message", "message_ack"]},
        lambda e, chat: e["type"] in ("new_message", "message_ack"),
    ),
    "/sales": ({"sessions": ["sales"]}, lambda e, chat: e["session"] == "sales"),
    "/default-groups": (
        {"sessions": ["default"], "chatTypes": ["group"]},
        lambda e, chat: e["session"] == "default" and chat_type(chat) == "group",
    ),
    "/direct": ({"chatTypes": ["direct"]}, lambda e, chat: chat_type(chat) == "direct"),
    "/both-types": (
        {"chatTypes": ["direct", "group"]},
        lambda e, chat: chat_type(chat) in ("direct", "group"),
    ),
    "/sales-chats": (
        {"events": ["new_chat"], "sessions": ["sales"]},
        lambda e, chat: e["type"] == "new_chat" and e["session"] == "sales",
    ),
    "/none": ({"events": ["call"], "sessions": ["sales"]}, lambda e, chat: False),
}


def applied(d: Deployment, session: str, position: dict[str, Any]) -> None:
    def probe() -> bool:
        reached: bool = d.get(session, "/admin/bridge")["applied"] == position
        return reached

    wait_for(f"{session} to apply its capture", probe)


def test_events_sessions_and_chat_types_filter_exactly(tmp_path: Path) -> None:
    with stack(tmp_path, orchestrator=False) as s, ipc_endpoints() as sales, Receiver() as r:
        numbers = {}
        for seed, (session, endpoints) in enumerate(
            (("default", s.endpoints), ("sales", sales)), 1
        ):
            home = tmp_path / session
            home.mkdir()
            capture = make_capture(home / "capture.jsonl", 150, seed=seed, chats=6)
            with capture.open("a") as f:  # WhatsApp opens: events of no chat
                f.write(json.dumps({"event": "connection.update",
                                    "data": {"connection": "open"}}) + "\n")  # fmt: skip
            numbers[session] = Number(session, None, endpoints, home, capture)
        d = Deployment(s, numbers)
        s.orchestrator_env.update(FAST)
        s.start_orchestrator()
        d.create("sales")
        hooks = {path: create(d.http, f"{r.url}{path}", **body)
                 for path, (body, _) in FILTERS.items()}  # fmt: skip
        for path, (body, _) in FILTERS.items():
            for name, value in body.items():  # as sets: the order given need not be kept
                shown = hooks[path][name]
                assert (shown if value is None else sorted(shown)) == (
                    value if value is None else sorted(value)
                ), (path, hooks[path])
        r.secrets = [hook["secret"] for hook in hooks.values()]
        start = d.orchestrator.last_event_id()
        for session, number in numbers.items():
            bridge = d.start_bridge(session)
            assert number.capture is not None
            last = len(number.capture.read_bytes().splitlines()) + 2
            state = bridge.client.wait_seq(last)
            applied(d, session, {"epoch": state["epoch"], "seq": state["seq"]})
        expected = [e for e in stream_after(d.orchestrator, start) if e["type"] != "resync"]
        assert {e["session"] for e in expected} == {"default", "sales"}
        wait_for("the unfiltered endpoint", lambda: {e["id"] for e in expected}
                 <= r.ok_ids("/all"), timeout=60)  # fmt: skip
        for hook in hooks.values():
            drained(d.http, hook["id"])
        r.check()
        assert_only_redeliveries(r.requests, expected)

        # The chat of each event, as the contract's Delivery says it (checked against the
        # data where the data names it), and what each endpoint must have got.
        rows = deliveries(d.http, hooks["/all"]["id"])
        chats: dict[str, str | None] = {row["eventId"]: row["chatId"] for row in rows}
        assert set(chats) == {e["id"] for e in expected}
        for envelope in expected:
            if envelope["type"] in ("new_message", "message_ack"):
                assert chats[envelope["id"]] == envelope["data"]["chatId"]
        kinds = [chat_type(chats[e["id"]]) for e in expected]
        assert {"group", "direct", None} <= set(kinds), kinds
        got = {path: r.ok_ids(path) for path in FILTERS}
        for path, (_, rule) in FILTERS.items():
            wanted = {e["id"] for e in expected if rule(e, chats[e["id"]])}
            assert got[path] == wanted, (
                path, sorted(wanted - got[path])[:5], sorted(got[path] - wanted)[:5]
            )  # fmt: skip
            listed = {row["eventId"] for row in deliveries(d.http, hooks[path]["id"])}
            assert listed == wanted, path
        assert not got["/none"]
        print(f"\n{len(expected)} events, {kinds.count(None)} without a chat; got: "
              + ", ".join(f"{path} {len(ids)}" for path, ids in got.items()))  # fmt: skip
