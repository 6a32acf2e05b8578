"""The test receiver's own checks: its hand-written verifier agrees with the `standardwebhooks`
package on what the package signs, and refuses every kind of tampering; its behaviours answer
as programmed."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.harness import wait_for
from tests.webhooks.receiver import Receiver, SignatureError, verify


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


SECRET, OTHER = new_secret(), new_secret()
BODY = json.dumps({"id": "e1:7:0", "type": "new_message", "session": "default",
                   "data": {"text": "olá ✓"}}, ensure_ascii=False).encode()  # fmt: skip


def signed(body: bytes = BODY, msg_id: str = "e1:7:0", secret: str = SECRET,
           at: float | None = None) -> dict[str, str]:  # fmt: skip
    """Headers as the package signs them."""
    at = time.time() if at is None else at
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, tz=UTC), body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at)),
            "webhook-signature": signature}  # fmt: skip


def both_verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Ours and the package's verdict, which must agree."""
    try:
        Webhook(secret).verify(body, headers)
        theirs = True
    except WebhookVerificationError:
        theirs = False
    try:
        ours = verify(headers, body, [secret]) == [secret]
    except SignatureError:
        ours = False
    assert ours == theirs, (headers, ours, theirs)
    return ours


def test_what_the_package_signs_verifies_here_and_there() -> None:
    headers = signed()
    assert both_verify(headers, BODY, SECRET)
    # Names in any case; a str body is its UTF-8 bytes, as the package says.
    assert verify({k.upper(): v for k, v in headers.items()}, BODY, [SECRET]) == [SECRET]


def test_tampering_fails_here_as_there() -> None:
    headers = signed()
    tampered_body = BODY.replace(b"ol\xc3\xa1", b"ola!")
    assert not both_verify(headers, tampered_body, SECRET)
    assert not both_verify(headers, BODY, OTHER)  # the wrong secret
    assert not both_verify({**headers, "webhook-id": "e1:8:0"}, BODY, SECRET)
    later = str(int(headers["webhook-timestamp"]) + 1)
    assert not both_verify({**headers, "webhook-timestamp": later}, BODY, SECRET)
    _, _, mac = headers["webhook-signature"].partition(",")
    flipped = base64.b64encode(bytes([base64.b64decode(mac)[0] ^ 1]) + base64.b64decode(mac)[1:])
    assert not both_verify({**headers, "webhook-signature": f"v1,{flipped.decode()}"}, BODY, SECRET)
    assert not both_verify({**headers, "webhook-signature": f"v2,{mac}"}, BODY, SECRET)
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert not both_verify({k: v for k, v in headers.items() if k != missing}, BODY, SECRET)
    for at in (time.time() - 400, time.time() + 400):  # outside the 5 minute tolerance
        assert not both_verify(signed(at=at), BODY, SECRET)
    assert both_verify(signed(at=time.time() - 200), BODY, SECRET)


def test_one_matching_signature_of_several_is_enough() -> None:
    ours = signed()["webhook-signature"]
    theirs = signed(secret=OTHER)["webhook-signature"]
    headers = {**signed(), "webhook-signature": f"{theirs} v1,bm90IGJhc2U2NA== v1,!!! {ours}"}
    assert both_verify(headers, BODY, SECRET)
    assert verify(headers, BODY, [SECRET, OTHER]) == [SECRET, OTHER]  # a rotation's two
    assert verify(headers, BODY, [OTHER, new_secret()]) == [OTHER]


def test_the_id_must_be_the_bodys() -> None:
    """Beyond the spec: a delivery's webhook-id is its envelope's id."""
    body = json.dumps({"id": "e1:9:0"}).encode()
    headers = signed(body=body, msg_id="e1:7:0")
    Webhook(SECRET).verify(body, headers)  # the package does not look at the body
    with pytest.raises(SignatureError, match="body's id"):
        verify(headers, body, [SECRET])


def test_the_receiver_records_verifies_and_answers_as_told() -> None:
    with Receiver([SECRET]) as r, httpx.Client(base_url=r.url, timeout=5) as http:
        assert http.post("/hook", content=BODY, headers=signed()).status_code == 200
        r.behave(500)
        assert http.post("/hook", content=BODY, headers=signed()).status_code == 500
        r.behave(410)
        assert http.post("/hook", content=BODY, headers=signed()).status_code == 410
        r.behave(429, retry_after="7")
        answer = http.post("/hook", content=BODY, headers=signed(secret=OTHER))
        assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
        r.behave(200, delay=0.3)
        started = time.monotonic()
        assert http.post("/other", content=BODY, headers=signed()).status_code == 200
        assert time.monotonic() - started >= 0.3
        got = r.requests
        assert [x.status for x in got] == [200, 500, 410, 429, 200]
        assert [x.ok for x in got] == [True, False, False, False, True]
        assert [x.path for x in got] == ["/hook"] * 4 + ["/other"]
        assert all(x.body == BODY and x.id == "e1:7:0" for x in got)
        assert got[0].envelope is not None and got[0].envelope["data"]["text"] == "olá ✓"
        assert [x.problem is None for x in got] == [True, True, True, False, True]
        assert got[0].matched == [SECRET]
        with pytest.raises(AssertionError, match="1 requests do not verify"):
            r.check()


def test_a_hanging_receiver_never_answers_and_can_be_switched_while_running() -> None:
    with Receiver([SECRET]) as r:
        r.behave(hang=True)
        outcomes: list[str] = []

        def send() -> None:
            try:
                httpx.post(r.url, content=BODY, headers=signed(), timeout=0.5)
                outcomes.append("answered")
            except httpx.ReadTimeout:
                outcomes.append("timeout")

        sender = threading.Thread(target=send)
        sender.start()
        sender.join(5)
        assert outcomes == ["timeout"]
        # A sender that waits longer sees the connection drop, unanswered, when released.
        waiting = threading.Thread(target=lambda: outcomes.append(
            "dropped" if _dropped(r.url) else "answered"))  # fmt: skip
        waiting.start()
        wait_for("the second request held", lambda: r.count() == 2)
        r.behave()  # healthy again: the held request is released unanswered
        waiting.join(5)
        assert outcomes == ["timeout", "dropped"]
        assert httpx.post(r.url, content=BODY, headers=signed(), timeout=5).status_code == 200
        assert [x.ok for x in r.requests] == [False, False, True]
        assert [x.hung for x in r.requests] == [True, True, False]
        r.check()


def _dropped(url: str) -> bool:
    try:
        httpx.post(url, content=BODY, headers=signed(), timeout=10)
    except httpx.TransportError:
        return True
    return False


def test_a_request_cut_short_by_its_sender_is_kept_apart() -> None:
    """A sender killed between its writes leaves the head without the whole body: not a
    delivery, not a signature failure."""
    with Receiver([SECRET]) as r:
        head = "".join(f"{k}: {v}\r\n" for k, v in signed().items())
        with socket.create_connection(("127.0.0.1", int(r.url.rsplit(":", 1)[1]))) as sock:
            sock.sendall(f"POST /hook HTTP/1.1\r\nhost: x\r\ncontent-length: {len(BODY)}\r\n"
                         f"{head}\r\n".encode() + BODY[:10])  # fmt: skip
        wait_for("the cut request", lambda: r.aborted)
        assert r.requests == [] and r.aborted[0].body == BODY[:10]
        r.check()
