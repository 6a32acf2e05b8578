"""The OpenAPI document against the live orchestrator: schemathesis generates requests (valid
and invalid) for every operation and checks each answer: never a 5xx, only documented
statuses and content types, bodies that match the documented schemas.

The stack is real: the Node bridge replaying a capture (with the connection opened, so sends
get past `not_connected`) and `python -m orchestrator` with the API token.

Left out of the generated run, and why:
- `GET /events`, `/ws`, `/ws/chat/{chatId}`: endless streams / WebSocket upgrades, which a
  request-response fuzzer cannot drive (covered by tests/test_streams.py).
- `POST /admin/logout`: marks the session logged out before asking the bridge, so every later
  send is 409; `POST /admin/connect` and `/admin/reconnect`: harmless to the bridge in replay
  mode (it answers `replay_mode`), but they move the lifecycle to `connecting` for good, which
  would turn the rest of the run's sends into 409s. All three are called once at the end
  instead, and their answers validated against the document.
`POST /admin/bridge/restart` (409 `not_spawned` here) and `/admin/pairing-code` (409 in replay
mode) are harmless and stay in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from orchestrator.config import Settings
from orchestrator.openapi import document
from orchestrator.routes import OPERATIONS
from orchestrator.runtime import Runtime
from tests.harness import TOKEN, Orchestrator, make_capture, stack

EVENTS = 300
PUBLIC_HOOK = "http://93.184.215.14/hook"
CHECKS = [
    not_a_server_error,  # first: left out for a documented 502/503
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NOT_FUZZED = {
    ("GET", "/events"),
    ("GET", "/ws"),
    ("GET", "/ws/chat/{chatId}"),
    ("POST", "/admin/logout"),
    ("POST", "/admin/connect"),
    ("POST", "/admin/reconnect"),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    tmp_path = tmp_path_factory.mktemp("openapi")
    capture = make_capture(tmp_path / "capture.jsonl", EVENTS, history=50, rich=True)
    with capture.open("a") as f:  # WhatsApp open: sends go as far as they can
        f.write(json.dumps({"event": "connection.update", "data": {"connection": "open"}}) + "\n")
    # A long-poll waits at most ORCH_POLL_MAX_TIMEOUT, so a generated `timeout` cannot stall the
    # run; larger ones are 400 bad_timeout (documented).
    with stack(tmp_path, capture=capture, orchestrator_env={"ORCH_POLL_MAX_TIMEOUT": "0.5"}) as s:
        http = s.orchestrator.http
        http.put("/admin/profiles/agent-1", json={"role": "agent"}).raise_for_status()
        http.post("/tags", json={"name": "vip"}).raise_for_status()
        http.post("/quick-replies", json={"shortcut": "hi", "body": "Hello!"}).raise_for_status()
        # A webhook whose id the run names now and then (at a public address literal: its
        # deliveries fail here, without a network, which is what the routes show).
        http.post("/webhooks", json={"url": PUBLIC_HOOK}).raise_for_status()
        yield s.orchestrator


# The document is generated in-process, so the operations are known at collection time; the
# live stack's address is given per call (and the stack serves the same document).
DOCUMENT = json.loads(json.dumps(document()))
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.update(headers={"Authorization": f"Bearer {TOKEN}"})
schema.config.seed = 20260611  # the same requests every run: a failure here reproduces
fuzzed = schema.exclude(
    func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in NOT_FUZZED
)


@dataclass(frozen=True)
class Known:
    """Ids that exist in the running stack: random strings almost never name a chat, so
    without these the generated requests would stop at `invalid_chat_id`."""

    chats: list[str]
    messages: dict[str, list[str]]
    tags: list[int]
    replies: list[int]
    event_id: str
    webhooks: list[str]


@pytest.fixture(scope="module")
def known(live: Orchestrator) -> Known:
    http = live.http
    chats = [c["id"] for c in http.get("/chats", params={"limit": 500}).json()["chats"]]
    messages = {
        chat: [m["id"] for m in http.get(f"/chats/{chat}/messages").json()["messages"]]
        for chat in chats
    }
    return Known(
        chats=chats,
        messages={chat: ids for chat, ids in messages.items() if ids},
        tags=[t["id"] for t in http.get("/tags").json()["tags"]],
        replies=[r["id"] for r in http.get("/quick-replies").json()["quickReplies"]],
        # (timeout=0: the default, 25 s, is over this stack's ORCH_POLL_MAX_TIMEOUT)
        event_id=http.get("/events/poll", params={"timeout": 0}).json()["lastEventId"],
        webhooks=[w["id"] for w in http.get("/webhooks").json()["webhooks"]],
    )


def realistic(case: Any, data: st.DataObject, known: Known) -> None:
    """Now and then, swap a generated id for one that exists (the rest stays generated)."""

    def maybe(values: list[Any]) -> Any:
        return data.draw(st.one_of(st.none(), st.sampled_from(values))) if values else None

    path, query = case.path_parameters, case.query if isinstance(case.query, dict) else {}
    body = case.body if isinstance(case.body, dict) else {}
    chat = maybe(known.chats)
    if chat is not None:
        for where, name in (
            (path, "chatId"),
            (path, "jid"),
            (body, "chatId"),
            (query, "chatId"),
            (query if "chatId" not in path else {}, "before"),
        ):
            if name in where:
                where[name] = chat
    chat = path.get("chatId") or body.get("chatId")
    message = maybe(known.messages.get(chat, []))
    if message is not None:
        reaction = body.get("reaction")
        for where, name in (
            (path, "messageId"),
            (body, "quotedId"),
            (reaction if isinstance(reaction, dict) else {}, "messageId"),
            (query if "chatId" in path else {}, "before"),
        ):
            if name in where:
                where[name] = message
    for where, name, values in (
        (path, "tagId", [str(t) for t in known.tags]),
        (body, "tagId", known.tags),
        (path, "replyId", [str(r) for r in known.replies]),
        (body, "agentId", ["agent-1"]),
        (body, "userId", ["agent-1"]),  # POST /auth/stream-token: a user with a profile
        (query, "assigned", ["me", "none", "agent-1"]),
        (query, "tag", [str(t) for t in known.tags]),
        (query, "since", [known.event_id, ""]),
        # (not DELETE's: one realistic delete early in the run would leave 404s to the rest)
        (path if case.method.upper() != "DELETE" else {}, "webhookId", known.webhooks),
        (body, "since", [known.event_id]),  # POST /webhooks/{webhookId}/replay
        (body, "url", [PUBLIC_HOOK]),  # POST /webhooks, PATCH /webhooks/{webhookId}
        (body, "sessions", [["default"]]),  # a webhook's filter, a profile's membership
    ):
        value = maybe(values) if name in where else None
        if value is not None:
            where[name] = value


def offline(case: Any) -> None:
    """Media and webhook URLs must not make the orchestrator resolve generated host names (no
    network here): swap the host for an address literal, keeping the rest of the URL as
    generated."""
    if not isinstance(case.body, dict):
        return
    media = case.body.get("media")
    if isinstance(media, dict):
        _literal_host(media, "192.0.2.1")  # refused: the guard is what is exercised
    # POST /webhooks, PATCH /webhooks/{webhookId}: a public literal, so that some are created
    _literal_host(case.body, urlsplit(PUBLIC_HOOK).hostname or "")


def _literal_host(holder: dict[str, Any], literal: str) -> None:
    url = holder.get("url")
    if not isinstance(url, str):
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return
    if host and not host.replace(".", "").isdigit() and ":" not in host:
        netloc = parts.netloc.rpartition("@")[2].replace(host, literal, 1)
        holder["url"] = urlunsplit(parts._replace(netloc=netloc))


@fuzzed.parametrize()
@fuzzed.given(data=st.data())
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(
    live: Orchestrator, known: Known, case: Any, data: st.DataObject
) -> None:
    realistic(case, data, known)
    offline(case)
    response = case.call(base_url=live.base_url, timeout=10)
    # A 502/503 the operation documents is the bridge or the store refusing (in replay mode
    # the bridge has no WhatsApp), not a server error; status_code_conformance still checks
    # that it is documented.
    upstream = response.status_code in (502, 503)
    case.validate_response(response, checks=CHECKS[1:] if upstream else CHECKS)


def test_every_route_is_declared_and_every_declaration_routed(tmp_path: Path) -> None:
    """The app's routes against the route table, and the table against the document: a route
    added by hand (not from the table), or a declaration the app does not serve, fails here."""
    runtime = Runtime(
        Settings(
            data_dir=tmp_path,
            bridge_pub=f"ipc://{tmp_path}/pub",
            bridge_router=f"ipc://{tmp_path}/router",
        ),
        TOKEN,
    )
    try:
        app = runtime.app()
        served: set[tuple[str, str]] = set()
        for route in app.routes:
            methods = getattr(route, "methods", None) or {"GET"}  # a WebSocket route: GET
            served |= {(method, getattr(route, "path", "")) for method in methods - {"HEAD"}}
    finally:
        runtime.default.link.close()
    declared = {(op.method, op.path) for op in OPERATIONS}
    assert served == declared
    documented = {
        (method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item
    }
    assert documented == declared
    assert len(declared) == len(OPERATIONS), "an operation is declared twice"


def test_the_document_is_served_publicly(live: Orchestrator) -> None:
    response = httpx.get(f"{live.base_url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == DOCUMENT


@pytest.mark.parametrize(
    ("method", "path", "template", "body"),
    [
        pytest.param("GET", "/chats?limit=%C2%B2", "/chats", None),
        pytest.param("GET", "/chats?limit=" + "1" * 5000, "/chats", None),
        pytest.param("GET", "/activity?limit=%C2%B2", "/activity", None),
        pytest.param(
            "GET", "/messages/CHAT?limit=%C2%B2", "/messages/{chatId}", None,
        ),
        pytest.param(
            "DELETE", "/quick-replies/%C2%B2", "/quick-replies/{replyId}", None,
        ),
        pytest.param(
            "DELETE", "/chats/CHAT/tags/%C2%B2", "/chats/{chatId}/tags/{tagId}", None,
        ),
        pytest.param(
            "DELETE", "/quick-replies/99999999999999999999", "/quick-replies/{replyId}", None,
        ),
        pytest.param(
            "PUT", "/quick-replies/99999999999999999999", "/quick-replies/{replyId}",
            {"shortcut": "a", "body": "b"},
        ),
        pytest.param(
            "POST", "/send", "/send",
            {"chatId": "CHAT", "media": {"type": "image", "url": "http://[::1/x.jpg"}},
        ),
        pytest.param(
            "POST", "/send", "/send",
            {"chatId": "CHAT", "media": {"type": "image", "url": "http://example.com:99999/x"}},
        ),
        pytest.param(
            "POST", "/send", "/send",
            {"chatId": "CHAT", "media": {"type": "image", "base64": "aGk=", "mimetype": 5}},
        ),
    ],
)  # fmt: skip
def test_found_by_fuzzing(
    live: Orchestrator, known: Known, method: str, path: str, template: str, body: Any
) -> None:
    """What schemathesis (and reading the code it pointed at) found: each must answer a
    documented 4xx, or succeed with a body that matches the document."""
    chat = known.chats[0]
    content = None if body is None else json.dumps(body).replace("CHAT", chat)
    response = live.http.request(
        method, path.replace("CHAT", chat), content=content, headers={"Connection": "close"}
    )  # (after a 500 uvicorn drops the connection)
    assert response.status_code < 500, response.text
    schema[template][method].validate_response(response)


def test_poll_without_a_timeout_works_whatever_the_maximum(live: Orchestrator) -> None:
    response = live.http.get("/events/poll", params={"since": ""})
    assert response.status_code == 200, response.text


def test_operator_actions_answer_as_documented(live: Orchestrator) -> None:
    """The three left out of the generated run, once each (logout last: it ends the session;
    so this test runs last in the module)."""
    for path in ("/admin/connect", "/admin/reconnect", "/admin/logout"):
        response = live.http.post(path)
        assert response.status_code < 500 or response.status_code == 502, response.text
        schema[path]["POST"].validate_response(response)
