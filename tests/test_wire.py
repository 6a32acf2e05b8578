from __future__ import annotations

import orjson
import pytest

from orchestrator.errors import MalformedEnvelope
from orchestrator.wire import (
    Envelope,
    Position,
    Verdict,
    classify,
    is_behind,
    parse_envelope,
    with_stream_sequence,
)


def raw(**fields: object) -> bytes:
    base: dict[str, object] = {"v": 1, "epoch": "e1", "seq": 5, "ts": 1, "event": "x", "data": {}}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


def test_parses_a_valid_envelope() -> None:
    envelope = parse_envelope(raw(data={"a": [1]}))
    assert envelope == Envelope("e1", 5, 1, "x", {"a": [1]})
    assert envelope.position == Position("e1", 5)


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (raw(v=2), "version"),
        (raw(v=...), "version"),
        (raw(epoch=""), "epoch"),
        (raw(seq=...), "seq"),
        (raw(seq="5"), "seq"),
        (raw(seq=True), "seq"),
        (raw(seq=-1), "seq"),
        (raw(ts=1.5), "ts"),
        (raw(event=None), "event"),
    ],
)
def test_rejects_envelopes_that_break_the_contract(payload: bytes, complaint: str) -> None:
    with pytest.raises(MalformedEnvelope, match=complaint):
        parse_envelope(payload)


def envelope(epoch: str, seq: int, event: str = "x") -> Envelope:
    return Envelope(epoch, seq, 0, event, None)


@pytest.mark.parametrize(
    ("applied", "incoming", "verdict"),
    [
        (Position("e1", 4), envelope("e1", 5), Verdict.APPLY),
        (Position("e1", 5), envelope("e1", 5), Verdict.DUPLICATE),
        (Position("e1", 5), envelope("e1", 2), Verdict.DUPLICATE),
        (Position("e1", 5), envelope("e1", 7), Verdict.GAP),
        (Position("e1", 5), envelope("e2", 1), Verdict.NEW_EPOCH),
        (None, envelope("e1", 1), Verdict.NEW_EPOCH),
    ],
)
def test_classifies_live_events(
    applied: Position | None, incoming: Envelope, verdict: Verdict
) -> None:
    assert classify(applied, incoming) is verdict


def test_a_heartbeat_past_the_applied_seq_means_a_lost_tail() -> None:
    heartbeat = envelope("e1", 9, "bridge.heartbeat")
    assert is_behind(Position("e1", 8), heartbeat)
    assert not is_behind(Position("e1", 9), heartbeat)
    assert is_behind(Position("e0", 100), heartbeat)
    assert is_behind(None, heartbeat)


def test_a_stream_sequence_is_spliced_in_and_read_back() -> None:
    raw = orjson.dumps({"v": 1, "epoch": "e1", "seq": 3, "ts": 1, "event": "x", "data": {}})
    spliced = with_stream_sequence(raw, 42)
    assert spliced.startswith(b'{"js":42,"v":1,')
    envelope = parse_envelope(spliced)
    assert (envelope.stream, envelope.position.stream) == (42, 42)
    assert envelope.position == Position("e1", 3), "equality stays (epoch, seq)"
    assert parse_envelope(raw).stream is None


@pytest.mark.parametrize("bad", [0, -1, "7", 1.5, True])
def test_a_bad_stream_sequence_is_malformed(bad: object) -> None:
    raw = orjson.dumps({"js": bad, "v": 1, "epoch": "e1", "seq": 3, "ts": 1, "event": "x"})
    with pytest.raises(MalformedEnvelope, match="stream sequence"):
        parse_envelope(raw)
