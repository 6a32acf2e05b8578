"""Issue 18, end to end: the Node bridge replays a capture, `python -m orchestrator` delivers its
stream to a real HTTP receiver (tests/webhooks/receiver.py), which checks every signature with
its own implementation of the spec. What must arrive is what the orchestrator's own stream says
happened after the endpoint was created (the bridge starts only then)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.harness import make_capture, metric, stack, wait_for
from tests.webhooks.common import (
    FAST,
    assert_lane_order,
    assert_only_redeliveries,
    create,
    deliveries,
    disabled,
    drained,
    get,
    health,
    ids_of,
    stream_after,
)
from tests.webhooks.receiver import Receiver


def test_failing_then_hanging_then_healthy_delivers_everything_in_chat_order(
    tmp_path: Path,
) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 300, chats=8)
    with stack(tmp_path, capture=capture, bridge=False, orchestrator_env=FAST) as s, \
            Receiver() as r:  # fmt: skip
        http = s.orchestrator.http
        r.behave(500)
        hook = create(http, f"{r.url}/hook", concurrency=4)
        r.secrets = [hook["secret"]]
        start = s.orchestrator.last_event_id()
        s.start_bridge()

        wait_for("an event tried three times", lambda: max(
            Counter(x.id for x in r.requests).values(), default=0) >= 3)  # fmt: skip
        failing = r.count()
        r.behave(hang=True)  # longer than ORCH_WEBHOOK_TIMEOUT: the orchestrator gives up

        def retried_after_a_timeout() -> bool:
            held: set[str | None] = set()
            for x in r.requests[failing:]:
                if x.id in held:
                    return True
                if x.hung:
                    held.add(x.id)
            return False

        wait_for("a hung delivery retried", retried_after_a_timeout, timeout=20)
        hung = sum(x.hung for x in r.requests)
        r.behave()  # healthy: the held requests are dropped unanswered
        s.applied()
        expected = [e for e in stream_after(s.orchestrator, start) if e["type"] != "resync"]
        ids = ids_of(expected)
        assert len(ids) > 250
        wait_for("every event delivered", lambda: set(ids) <= r.ok_ids(), timeout=60)
        state = drained(http, hook["id"])
        r.check()

        requests = r.requests
        counts = assert_only_redeliveries(requests, expected)
        successes = Counter(x.id for x in requests if x.ok)
        assert set(successes.values()) == {1}, "an event acknowledged twice was sent again"
        # At once, not once the store has caught up: the listing reads RAM's state first.
        rows = {d["eventId"]: d for d in deliveries(http, hook["id"])}
        assert set(rows) == set(ids)
        for event_id, row in rows.items():
            assert row["status"] == "delivered" and row["statusCode"] == 200, row
            assert row["attempts"] == counts[event_id], (row, counts[event_id])
        chats = {event_id: row["chatId"] for event_id, row in rows.items()}
        for envelope in expected:  # the contract's chat of an event, where the data says it
            if envelope["type"] in ("new_message", "message_ack"):
                assert chats[envelope["id"]] == envelope["data"]["chatId"], envelope
        lane_count = assert_lane_order(r, expected, chats)
        failed = sum(not x.ok for x in requests)
        assert state["delivered"] == len(ids) and state["failed"] == failed, (state, failed)
        assert state["lastSuccessAt"] and state["lastFailureAt"] and state["retrying"] == 0
        print(f"\n{len(ids)} events in {lane_count} lanes: {len(requests)} requests, "
              f"{failing} failing, {hung} held; last error: {state['lastError']}")  # fmt: skip


def test_kill_9_with_5000_pending_then_every_event_arrives(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 5300, chats=20)
    with stack(tmp_path, capture=capture, bridge=False, orchestrator_env=FAST) as s, \
            Receiver() as r:  # fmt: skip
        r.behave(503)
        hook = create(s.orchestrator.http, f"{r.url}/hook")
        r.secrets = [hook["secret"]]
        start = s.orchestrator.last_event_id()
        s.start_bridge()
        state = wait_for(
            "5000 deliveries pending, and attempts under way",
            lambda: (h := health(s.orchestrator.http, hook["id"]))["pending"] >= 5000
            and r.count() >= 20 and h,
            timeout=90,
        )  # fmt: skip
        gauge = metric(s.orchestrator, f'wa_webhook_pending{{webhook="{hook["id"]}"}}')
        assert gauge >= 5000, gauge
        before = r.count()
        # What must arrive, from the stream before the kill (since "" a restarted one may
        # answer a resync: tests/faults/test_orchestrator_kill.py).
        s.applied(timeout=60)
        expected = [e for e in stream_after(s.orchestrator, start) if e["type"] != "resync"]
        ids = ids_of(expected)
        orchestrator = s.restart_orchestrator()
        r.behave()
        s.applied(timeout=60)
        assert len(ids) >= 5000
        started = time.monotonic()
        wait_for("every event delivered after the restart", lambda: set(ids) <= r.ok_ids(),
                 timeout=150)  # fmt: skip
        took = time.monotonic() - started
        drained(orchestrator.http, hook["id"])
        r.check()
        counts = assert_only_redeliveries(r.requests, expected)
        twice = sum(1 for x in r.requests if x.ok) - len(ids)
        print(f"\nkilled with {state['pending']} pending ({before} failed requests, "
              f"{len(r.aborted)} cut short by the kill); "
              f"{len(ids)} delivered {took:.1f}s after the restart; {twice} acknowledged twice; "
              f"at most {max(counts.values())} requests for one event")  # fmt: skip


def test_410_disables_the_endpoint_and_nothing_more_is_sent(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 250, chats=6)
    with stack(tmp_path, capture=capture, bridge=False, orchestrator_env=FAST) as s, \
            Receiver() as gone, Receiver() as control:  # fmt: skip
        http = s.orchestrator.http
        gone.behave(410, body=b'{"error": "unsubscribed"}')
        hook = create(http, f"{gone.url}/hook", concurrency=2)
        other = create(http, f"{control.url}/hook")
        gone.secrets, control.secrets = [hook["secret"]], [other["secret"]]
        start = s.orchestrator.last_event_id()
        s.start_bridge(BRIDGE_REPLAY_RATE=100)  # events go on arriving after the 410
        off = disabled(http, hook["id"])
        assert off["disabledReason"] and off["disabledAt"], off
        s.applied()
        ids = ids_of(stream_after(s.orchestrator, start))
        # The healthy endpoint got everything: the dispatcher went past every event.
        wait_for("the control endpoint", lambda: set(ids) <= control.ok_ids(), timeout=60)
        drained(http, other["id"])
        gone.check()
        # At most what was in flight when the first 410 came (the endpoint's concurrency).
        assert 1 <= gone.count() <= 2, [x.id for x in gone.requests]
        state = health(http, hook["id"])
        dead = deliveries(http, hook["id"], "dead")
        assert state["pending"] == 0 and state["retrying"] == 0, state
        assert dead and state["deadLetters"] == len(dead), (state, len(dead))
        assert {x.id for x in gone.requests} <= {d["eventId"] for d in dead}
        answered = [d for d in dead if d["attempts"]]
        assert answered and all(d["statusCode"] == 410 for d in answered), answered
        assert any("unsubscribed" in (d["responseExcerpt"] or "") for d in answered), answered
        enabled = metric(s.orchestrator, f'wa_webhook_enabled{{webhook="{hook["id"]}"}}')
        assert enabled == 0
        print(f"\ndisabled: {off['disabledReason']!r}; {len(dead)} dead letters")


def test_dead_letters_after_the_horizon_then_reenable_and_replay(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 80, chats=4)
    env = {**FAST, "ORCH_WEBHOOK_RETRY_HORIZON": "2"}
    with stack(tmp_path, capture=capture, bridge=False, orchestrator_env=env) as s, \
            Receiver() as r:  # fmt: skip
        http = s.orchestrator.http
        r.behave(500, body=b'{"error": "down for maintenance"}')
        hook = create(http, f"{r.url}/hook")
        r.secrets = [hook["secret"]]
        start = s.orchestrator.last_event_id()
        s.start_bridge()
        s.applied()
        expected = [e for e in stream_after(s.orchestrator, start) if e["type"] != "resync"]
        ids = ids_of(expected)

        off = disabled(http, hook["id"])  # for failing the whole horizon
        assert off["disabledReason"] and off["disabledAt"], off

        # (settled: the dead letters listed are the ones counted)
        def settled() -> list[dict[str, Any]] | None:
            rows = deliveries(http, hook["id"], "dead")
            return rows if rows and health(http, hook["id"])["deadLetters"] == len(rows) else None

        dead = wait_for("the dead letters", settled)
        for row in dead:
            assert row["status"] == "dead" and row["eventId"] in ids, row
        tried = [row for row in dead if row["attempts"]]
        assert tried and all(row["statusCode"] == 500 for row in tried), tried
        assert all("500" in (row["error"] or "") for row in tried), tried
        assert any("maintenance" in (row["responseExcerpt"] or "") for row in tried), tried
        state = health(http, hook["id"])
        refused = http.post(f"/webhooks/{hook['id']}/replay", json={"deadLetters": True})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "webhook_disabled"
        requests_while_disabled = r.count()

        r.behave()
        patched = http.patch(f"/webhooks/{hook['id']}", json={"enabled": True})
        assert patched.status_code == 200, patched.text
        assert patched.json()["enabled"] is True
        assert patched.json()["disabledReason"] is None and patched.json()["disabledAt"] is None
        replayed = http.post(f"/webhooks/{hook['id']}/replay", json={"deadLetters": True})
        assert replayed.status_code == 202, replayed.text
        assert replayed.json() == {"queued": len(dead)}
        wait_for("every event delivered", lambda: set(ids) <= r.ok_ids(), timeout=60)
        drained(http, hook["id"])
        assert health(http, hook["id"])["deadLetters"] == 0
        r.check()
        assert_only_redeliveries(r.requests, expected)

        # Replay from a stream id: everything after it again, in order, and nothing before.
        wait_for("the store to catch up",
                 lambda: s.orchestrator.bridge_report()["store"]["pendingRows"] == 0)  # fmt: skip
        middle = len(ids) // 2
        seen = Counter(x.id for x in r.requests if x.ok)
        again = http.post(f"/webhooks/{hook['id']}/replay", json={"since": ids[middle]})
        assert again.status_code == 202, again.text
        assert again.json() == {"queued": len(ids) - middle - 1}
        after = ids[middle + 1 :]

        def successes() -> Counter[str | None]:
            return Counter(x.id for x in r.requests if x.ok)

        wait_for("the events after it delivered again",
                 lambda: all(successes()[i] > seen[i] for i in after), timeout=30)  # fmt: skip
        drained(http, hook["id"])
        assert successes() == seen + Counter(after), "the replay sent something else"
        replayed_ids = [x.id for x in r.requests if x.ok][sum(seen.values()) :]
        chats = {row["eventId"]: row["chatId"] for row in deliveries(http, hook["id"])}
        by_chat: dict[str | None, list[str]] = {}
        for event_id in replayed_ids:
            assert event_id is not None
            by_chat.setdefault(chats[event_id], []).append(event_id)
        for chat, chat_ids in by_chat.items():
            assert chat_ids == [i for i in after if chats[i] == chat], chat
        print(f"\n{len(dead)} dead letters ({state}); {requests_while_disabled} requests "
              f"before re-enabling; replay since the {middle}th: {len(replayed_ids)}")  # fmt: skip


def test_a_rotated_secret_signs_alongside_the_old_one_until_it_expires(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 40, chats=3)
    env = {**FAST, "ORCH_WEBHOOK_SECRET_OVERLAP": "3"}
    with stack(tmp_path, capture=capture, bridge=False, orchestrator_env=env) as s, \
            Receiver() as r:  # fmt: skip
        http = s.orchestrator.http
        r.behave(500)
        hook = create(http, f"{r.url}/hook", concurrency=1)
        old = hook["secret"]
        r.secrets = [old]
        start = s.orchestrator.last_event_id()
        s.start_bridge()
        wait_for("a delivery signed with the first secret", lambda: r.count() >= 1)

        rotating = time.time()
        rotated = http.post(f"/webhooks/{hook['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        r.secrets = [old, new]
        rotated_at = time.time()
        assert new != old and new.startswith("whsec_")
        expires = datetime.fromisoformat(rotated.json()["previousSecretExpiresAt"]).timestamp()
        assert rotating + 2 <= expires <= rotated_at + 4, (rotating, expires)
        for text in (http.get(f"/webhooks/{hook['id']}").text, http.get("/webhooks").text):
            assert old not in text and new not in text and "whsec_" not in text, text
            assert '"secret"' not in text
        shown = get(http, hook["id"])
        assert shown["previousSecretExpiresAt"] == rotated.json()["previousSecretExpiresAt"]

        wait_for("a delivery signed with both", lambda: any(
            len(x.matched) == 2 for x in r.requests))  # fmt: skip
        wait_for("the old secret to expire", lambda: time.time() > expires + 0.5)
        r.behave()
        s.applied()
        ids = ids_of(stream_after(s.orchestrator, start))
        wait_for("every event delivered", lambda: set(ids) <= r.ok_ids(), timeout=30)
        r.check()
        phases: Counter[str] = Counter()
        for x in r.requests:
            v1 = [sig for sig in x.signatures if sig.startswith("v1,")]
            if x.wall < rotating:
                assert x.matched == [old] and len(v1) == 1, x.headers
                phases["old"] += 1
            elif rotated_at + 0.2 < x.wall < expires - 0.5:
                assert x.matched == [old, new] and len(v1) == 2, x.headers
                phases["both"] += 1
            elif x.wall > expires + 0.5:
                assert x.matched == [new] and len(v1) == 1, x.headers
                phases["new"] += 1
        assert phases["old"] and phases["both"] and phases["new"], phases
        assert get(http, hook["id"])["previousSecretExpiresAt"] in (
            None, rotated.json()["previousSecretExpiresAt"])  # fmt: skip
        print(f"\nrequests signed with: {dict(phases)}")


def test_a_token_in_a_receivers_url_stays_out_of_the_log(tmp_path: Path) -> None:
    """Receivers often authenticate with a token in the URL's query: the log (info level and
    up) must not write it, however often the endpoint is posted to, failing or not."""
    token = "q-token-7f3a9c1e5b"
    capture = make_capture(tmp_path / "capture.jsonl", 30, chats=3)
    with stack(tmp_path, capture=capture, bridge=False, orchestrator_env=FAST) as s, \
            Receiver() as r:  # fmt: skip
        http = s.orchestrator.http
        r.behave(500)
        hook = create(http, f"{r.url}/hook?token={token}")
        r.secrets = [hook["secret"]]
        start = s.orchestrator.last_event_id()
        s.start_bridge()
        wait_for("failed attempts", lambda: r.count() >= 5)
        r.behave()
        s.applied()
        ids = ids_of(stream_after(s.orchestrator, start))
        wait_for("every event delivered", lambda: set(ids) <= r.ok_ids(), timeout=30)
        assert all(x.path == f"/hook?token={token}" for x in r.requests)
        log = s.orchestrator.log_path.read_text(errors="replace")
        leaks = [line for line in log.splitlines() if token in line]
        assert not leaks, f"{len(leaks)} log lines name the token, e.g. {leaks[0]}"
