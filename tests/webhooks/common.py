"""What the webhook end-to-end tests share: the settings that make retries quick, the REST calls
of the contract, and the orchestrator's own account of what happened (its stream), which every
test compares the receiver's requests with."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

import httpx
import orjson

from tests.harness import Orchestrator, wait_for
from tests.webhooks.receiver import Receiver, Request

# Loopback receivers allowed; retries quick; a hung request given up after a second.
FAST = {
    "ORCH_MEDIA_URL_ALLOWLIST": "127.0.0.1",
    "ORCH_WEBHOOK_RETRY_INITIAL": "0.05",
    "ORCH_WEBHOOK_RETRY_MAX": "0.5",
    "ORCH_WEBHOOK_TIMEOUT": "1",
}
USER_AGENT = "wa-helpdesk-webhooks/1"
Envelope = dict[str, Any]


def create(http: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    """POST /webhooks; the Webhook with its secret."""
    response = http.post("/webhooks", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["secret"].startswith("whsec_"), created
    return created


def get(http: httpx.Client, webhook_id: str) -> dict[str, Any]:
    response = http.get(f"/webhooks/{webhook_id}")
    assert response.status_code == 200, response.text
    webhook: dict[str, Any] = response.json()
    return webhook


def health(http: httpx.Client, webhook_id: str) -> dict[str, Any]:
    state: dict[str, Any] = get(http, webhook_id)["health"]
    return state


def deliveries(
    http: httpx.Client, webhook_id: str, status: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {"limit": limit} | ({"status": status} if status else {})
    response = http.get(f"/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["deliveries"]
    return rows


def disabled(http: httpx.Client, webhook_id: str, timeout: float = 30) -> dict[str, Any]:
    """Until GET shows the endpoint disabled; the Webhook."""

    def probe() -> dict[str, Any] | None:
        webhook = get(http, webhook_id)
        return webhook if webhook["enabled"] is False else None

    return wait_for(f"{webhook_id} disabled", probe, timeout=timeout)


def drained(http: httpx.Client, webhook_id: str, timeout: float = 30) -> dict[str, Any]:
    """Until nothing is pending for the endpoint; its health."""
    return wait_for(
        f"{webhook_id} with nothing pending",
        lambda: (h := health(http, webhook_id))["pending"] == 0 and h,
        timeout=timeout,
    )


def stream_after(orchestrator: Orchestrator, since: str) -> list[Envelope]:
    """Every envelope the orchestrator's stream holds after `since` (long-polls that do not
    wait, page after page): what it says happened. A resync (the position no longer held)
    would make the comparison meaningless, so it fails."""
    envelopes: list[Envelope] = []
    while True:
        response = orchestrator.http.get("/events/poll", params={"since": since, "timeout": 0})
        assert response.status_code == 200, response.text
        body = response.json()
        page = body["events"]
        assert all(e["type"] != "resync" for e in page), f"a resync after {since}"
        envelopes += page
        if not page or body["lastEventId"] == since:
            return envelopes
        since = body["lastEventId"]


def ids_of(envelopes: list[Envelope]) -> list[str]:
    """The ids a webhook gets: every event but the stream-protocol marker."""
    return [e["id"] for e in envelopes if e["type"] != "resync"]


def publish_times(bridge_journal: list[dict[str, Any]]) -> dict[int, float]:
    """Bridge seq -> unix seconds it was published."""
    return {e["seq"]: e["ts"] / 1000 for e in bridge_journal}


def seq_of(event_id: str) -> int:
    return int(event_id.split(":")[1])


# ---- checks on what a receiver got ------------------------------------------------------------


def assert_only_redeliveries(requests: list[Request], expected: list[Envelope]) -> Counter[str]:
    """Every request carried one of the `expected` envelopes, byte for byte the same each time
    it came, with the contract's headers; how many times each id came."""
    by_id = {e["id"]: e for e in expected}
    bodies: dict[str, bytes] = {}
    for request in requests:
        assert request.id is not None and request.id in by_id, f"a delivery of {request.id}"
        assert request.envelope == by_id[request.id], (request.envelope, by_id[request.id])
        first = bodies.setdefault(request.id, request.body)
        assert request.body == first, f"{request.id} came with another body"
        assert request.headers.get("content-type", "").startswith("application/json")
        assert request.headers.get("user-agent") == USER_AGENT, request.headers
    return Counter(r.id for r in requests if r.id is not None)


def lanes(
    expected: list[Envelope], chats: dict[str, str | None]
) -> dict[tuple[str, str | None], list[str]]:
    """(session, chat id) -> its event ids in stream order (`chats`: event id -> chat id)."""
    result: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for envelope in expected:
        result[(envelope["session"], chats[envelope["id"]])].append(envelope["id"])
    return result


def assert_lane_order(
    receiver: Receiver, expected: list[Envelope], chats: dict[str, str | None]
) -> int:
    """Per (session, chat), the first arrival of each event is in stream order, and none came
    before the one before it in its chat had been answered 2xx. The number of lanes."""
    requests = receiver.requests
    first: dict[str, Request] = {}
    success: dict[str, Request] = {}
    for request in requests:
        assert request.id is not None
        first.setdefault(request.id, request)
        if request.ok:
            success.setdefault(request.id, request)
    all_lanes = lanes(expected, chats)
    for lane, ids in all_lanes.items():
        arrivals = [first[i].arrived for i in ids]
        assert arrivals == sorted(arrivals), f"lane {lane}: first arrivals out of stream order"
        for before, after in itertools.pairwise(ids):
            answered = success[before].answered
            assert answered is not None
            assert first[after].arrived >= answered, (
                f"lane {lane}: {after} arrived before {before} had been delivered"
            )
    return len(all_lanes)


def body_of(request: Request) -> Envelope:
    envelope: Envelope = orjson.loads(request.body)
    return envelope
