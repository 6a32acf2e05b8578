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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from orchestrator.app import create_app
from orchestrator.config import Settings
from orchestrator.openapi import DOCUMENT
from orchestrator.runtime import Runtime
from tests.conftest import Processes
from tests.harness import TOKEN, Bridge, Orchestrator, ipc_endpoints, make_capture

EVENTS = 300
CHECKS = [
    not_a_server_error,
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
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    tmp_path = tmp_path_factory.mktemp("openapi")
    processes = Processes(tmp_path)
    capture = make_capture(tmp_path / "capture.jsonl", EVENTS, history=50, rich=True)
    with capture.open("a") as f:  # WhatsApp open: sends go as far as they can
        f.write(json.dumps({"event": "connection.update", "data": {"connection": "open"}}) + "\n")
    with ipc_endpoints() as endpoints:
        try:
            bridge = processes.add(
                Bridge(tmp_path, tmp_path / "bridge", endpoints, BRIDGE_REPLAY=capture)
            )
            state = bridge.wait_seq(EVENTS + 3)
            orchestrator = processes.add(
                Orchestrator(
                    tmp_path,
                    tmp_path / "orch",
                    endpoints,
                    # A long-poll waits at most this long, so a generated `timeout` cannot
                    # stall the run; larger ones are 400 bad_timeout (documented).
                    ORCH_POLL_MAX_TIMEOUT="0.5",
                )
            )
            orchestrator.wait_healthy()
            orchestrator.wait_applied(state["epoch"], EVENTS + 3)
            yield orchestrator
        finally:
            processes.cleanup()


# The document is a Python dict, so the operations are known at collection time; the live
# stack's address is given per call.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)))
schema.config.update(headers={"Authorization": f"Bearer {TOKEN}"})
fuzzed = schema.exclude(
    func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in NOT_FUZZED
)


def offline(case: Any) -> None:
    """Media URLs must not make the orchestrator resolve generated host names (no network
    here): swap the host for an address literal, keeping the rest of the URL as generated."""
    media = case.body.get("media") if isinstance(case.body, dict) else None
    url = media.get("url") if isinstance(media, dict) else None
    if not isinstance(url, str):
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return
    if host and not host.replace(".", "").isdigit() and ":" not in host:
        netloc = parts.netloc.rpartition("@")[2].replace(host, "192.0.2.1", 1)
        media["url"] = urlunsplit(parts._replace(netloc=netloc))


@fuzzed.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(stack: Orchestrator, case: Any) -> None:
    offline(case)
    case.call_and_validate(base_url=stack.base_url, checks=CHECKS, timeout=10)


def test_operator_actions_answer_as_documented(stack: Orchestrator) -> None:
    """The three left out of the generated run, once each (logout last: it ends the session)."""
    for path in ("/admin/connect", "/admin/reconnect", "/admin/logout"):
        response = stack.http.post(path)
        assert response.status_code < 500 or response.status_code == 502, response.text
        schema[path]["POST"].validate_response(response)


def test_the_document_names_every_route_and_only_those(tmp_path: Path) -> None:
    """Compared with the app's own route table (WebSocket routes as GET, the static mount as
    its one path template)."""
    runtime = Runtime(
        Settings(
            data_dir=tmp_path,
            bridge_pub=f"ipc://{tmp_path}/pub",
            bridge_router=f"ipc://{tmp_path}/router",
        ),
        TOKEN,
    )
    try:
        app = create_app(runtime)
        served: set[tuple[str, str]] = set()
        for route in app.routes:
            path = getattr(route, "path", "")
            methods = getattr(route, "methods", None) or {"GET"}
            if path == "/static":
                path = "/static/{file}"
            for method in methods - {"HEAD"}:
                served.add((method, _template(path)))
    finally:
        runtime.events.close()
        runtime.commands.close()
        runtime._context.term()
    documented = {
        (method.upper(), _template(path))
        for path, item in DOCUMENT["paths"].items()
        for method in item
    }
    assert served == documented


def _template(path: str) -> str:
    """`/chats/{chat_id}` and `/chats/{chatId}` name the same route."""
    parts = path.split("/")
    return "/".join("{}" if p.startswith("{") else p for p in parts)


def test_the_document_is_served_publicly(stack: Orchestrator) -> None:
    response = httpx.get(f"{stack.base_url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(json.dumps(DOCUMENT))
