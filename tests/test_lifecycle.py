from __future__ import annotations

import asyncio
import random

import pytest

from orchestrator.commands import Bridge
from orchestrator.lifecycle import (
    POLICY,
    PROXY_REFUSED,
    CloseReason,
    ConnectionLifecycle,
    LifecycleSettings,
    Reaction,
    backoff_delay,
)
from orchestrator.transport.memory import MemoryBridge
from orchestrator.wire import Envelope


def close_update(status: int | None, message: str) -> dict[str, object]:
    error = {"$error": {"name": "Error", "message": message, "statusCode": status, "data": None}}
    return {"connection": "close", "lastDisconnect": {"error": error, "date": {"$date": 1}}}


def test_reads_the_status_code_and_message_of_an_encoded_boom() -> None:
    reason = CloseReason.from_update(close_update(428, "Connection Closed"))
    assert reason == CloseReason(428, "Connection Closed", unreachable=False)


@pytest.mark.parametrize("code", ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT"])
def test_network_errors_read_as_unreachable(code: str) -> None:
    reason = CloseReason.from_update(close_update(408, f"WebSocket Error (connect {code} x)"))
    assert reason.unreachable and reason.status_code == 408


def test_a_close_without_an_error_still_has_a_reason() -> None:
    assert CloseReason.from_update({"connection": "close"}).message == "connection closed"
    assert CloseReason.from_update({"lastDisconnect": {"error": "odd"}}).status_code is None


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(60.0, 1.0 * 2**attempt)
        delays = [backoff_delay(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # really spread over the whole range


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (407, "Unexpected server response: 407"),
        (500, "WebSocket Error (Socks5 Authentication failed)"),
    ],
)
def test_a_proxy_refusing_its_credentials_reads_as_407_and_stops(status: int, message: str) -> None:
    """An HTTP proxy answers 407; a SOCKS one makes Baileys close with 500 and this text (as
    measured against the bridge's proxy tests). Either way, retrying cannot help."""
    reason = CloseReason.from_update(close_update(status, message))
    assert reason.status_code == PROXY_REFUSED == 407
    rule = POLICY[PROXY_REFUSED]
    assert (rule.reaction, rule.state) == (Reaction.STOP, "stopped")
    assert "proxy" in rule.explanation


@pytest.mark.anyio
async def test_a_401_learnt_from_a_replay_relinks_once_the_bridge_says_it_is_closed() -> None:
    """A 401 that came while the orchestrator caught up (its bridge restarted, say) arrives as
    history, which acts on nothing; the bridge's heartbeat then says `close`, and the removed
    device's credentials must still be wiped and a new QR asked for."""
    commands: list[str] = []

    def bridge(method: str, params: object) -> object:
        commands.append(method)
        return None

    lifecycle = ConnectionLifecycle(
        Bridge(MemoryBridge(bridge)),
        LifecycleSettings(
            reconnect_initial=0.1, reconnect_max=1, stable_after=30, qr_rounds=5,
            qr_viewer_window=120,
        ),
        viewers=lambda: 0,
    )  # fmt: skip
    logged_out = Envelope("e", 1, 0, "connection.update", close_update(401, "Connection Failure"))
    lifecycle.apply([logged_out], replayed=True)
    assert lifecycle.state == "logged_out" and commands == []
    lifecycle.reconcile("close", "live")
    for _ in range(100):
        if commands == ["logout", "connect"]:
            break
        await asyncio.sleep(0.01)
    assert commands == ["logout", "connect"]
    lifecycle.reconcile("close", "live")  # within the grace after its connect: not again
    await asyncio.sleep(0.05)
    assert commands == ["logout", "connect"]
