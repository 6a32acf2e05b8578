"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 (port 0) in a thread, which
records every request (headers, body bytes, arrival time, what it answered) and verifies every
signature itself, from the Standard Webhooks spec rather than with the `standardwebhooks`
package the orchestrator signs with (so a bug shared by signer and checker cannot hide):

    signed content = f"{webhook-id}.{webhook-timestamp}.".encode() + body
    key            = base64-decode of the secret after "whsec_"
    header         = space-separated "v1,<base64 HMAC-SHA256(key, signed content)>"; one
                     matching signature is enough; the timestamp within 5 minutes of now;
                     and webhook-id must be the body's "id" (an envelope's id).

What it answers is programmable, and switchable while it runs:

    with Receiver() as r:
        r.secrets = [created["secret"]]
        r.behave(status=500)                   # fail
        r.behave(hang=True)                    # never answer (`release()` or a new behaviour
                                               # drops those connections unanswered)
        r.behave(status=429, retry_after="2")  # ask for a pause
        r.behave()                             # 200
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SECRET_PREFIX = "whsec_"
TOLERANCE = 300.0  # seconds between webhook-timestamp and now


class SignatureError(Exception):
    """Why a delivery does not verify."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a "whsec_<base64>" secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise SignatureError(f"a secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise SignatureError(f"the secret is not base64: {exc}") from None
    if not key:
        raise SignatureError("an empty secret")
    return key


def verify(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float | None = None
) -> list[str]:
    """The `secrets` whose signature the delivery carries (at least one), or SignatureError.
    `headers` in any case; `now` in unix seconds (default: the clock)."""
    lower = {name.lower(): value for name, value in headers.items()}
    msg_id = lower.get("webhook-id")
    timestamp = lower.get("webhook-timestamp")
    signature = lower.get("webhook-signature")
    if not (msg_id and timestamp and signature):
        raise SignatureError("a webhook-id, webhook-timestamp or webhook-signature is missing")
    if not timestamp.isdigit():
        raise SignatureError(f"webhook-timestamp {timestamp!r} is not unix seconds")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE:
        raise SignatureError(f"webhook-timestamp {timestamp} is {now - int(timestamp):.0f}s off")
    given: list[bytes] = []
    for versioned in signature.split(" "):
        version, _, encoded = versioned.partition(",")
        if version != "v1":
            continue  # other schemes (v1a: asymmetric) are not ours to check
        with contextlib.suppress(binascii.Error):
            given.append(base64.b64decode(encoded, validate=True))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    matched = []
    for secret in secrets:
        expected = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            matched.append(secret)
    if not matched:
        raise SignatureError(f"none of {len(given)} v1 signatures matches a known secret")
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise SignatureError(f"the body is not JSON: {exc}") from None
    if not isinstance(envelope, dict) or envelope.get("id") != msg_id:
        raise SignatureError("webhook-id is not the body's id")
    return matched


@dataclass(frozen=True)
class Behaviour:
    """What the receiver answers: `status` after `delay` seconds, or nothing at all (`hang`);
    `retry_after` as a Retry-After header. (A delay past the sender's timeout would be
    recorded as answered: use `hang` for that.)"""

    status: int = 200
    delay: float = 0.0
    hang: bool = False
    retry_after: str | None = None
    body: bytes = b'{"ok": true}'


@dataclass
class Request:
    """One request as it arrived, and what it was answered."""

    path: str
    headers: dict[str, str]  # lowercased names
    body: bytes
    arrived: float  # time.monotonic()
    wall: float  # time.time()
    matched: list[str]  # the secrets whose signature it carries
    problem: str | None  # why it does not verify (None: it does)
    hung: bool = False  # held and never answered
    aborted: bool = False  # cut short by its sender: its body is incomplete
    status: int | None = None  # answered in time (None: not, or not yet)
    answered: float | None = None  # time.monotonic() just before the answer was written
    envelope: dict[str, Any] | None = field(default=None)

    @property
    def id(self) -> str | None:
        return self.headers.get("webhook-id")

    @property
    def ok(self) -> bool:
        """Answered 2xx while the sender waited for it."""
        return self.status is not None and 200 <= self.status < 300 and not self.hung

    @property
    def signatures(self) -> list[str]:
        return self.headers.get("webhook-signature", "").split(" ")


class Receiver:
    """Use as a context manager: serving inside the block, stopped (hung requests released)
    after it."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self.secrets: list[str] = list(secrets)
        self._behaviour = Behaviour()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._aborted_requests: list[Request] = []  # cut short by the sender: not counted
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # ---- behaviour ----------------------------------------------------------------------

    def behave(
        self,
        status: int = 200,
        *,
        delay: float = 0.0,
        hang: bool = False,
        retry_after: str | None = None,
        body: bytes = b'{"ok": true}',
    ) -> None:
        """Answer from now on like this; requests held by an earlier `hang` are released
        (unless this one hangs too)."""
        with self._lock:
            self._behaviour = Behaviour(status, delay, hang, retry_after, body)
        if not hang:
            self.release()

    def release(self) -> None:
        """Drop every request held so far, unanswered (its sender has given up on it by then,
        as a rule; one that has not sees its connection close)."""
        with self._lock:
            released, self._release = self._release, threading.Event()
        released.set()

    # ---- what arrived -------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every complete request, in the order they arrived."""
        with self._lock:
            return list(self._requests)

    @property
    def aborted(self) -> list[Request]:
        """Requests whose sender went away before the whole body (killed mid-write)."""
        with self._lock:
            return list(self._aborted_requests)

    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    def ok_ids(self, path: str | None = None) -> set[str]:
        """The webhook-ids answered 2xx in time (on `path`, or on any)."""
        return {r.id for r in self.requests if r.ok and r.id and (path is None or r.path == path)}

    def problems(self) -> list[tuple[str | None, str]]:
        return [(r.id, r.problem) for r in self.requests if r.problem is not None]

    def check(self) -> None:
        """Every request so far carried a valid signature of a known secret."""
        requests = self.requests
        bad = [r for r in requests if r.problem is not None]
        if not bad:
            return
        first = bad[0]
        others = [r for r in requests if r.id == first.id and r is not first]
        raise AssertionError(
            f"{len(bad)} requests do not verify: {[(r.id, r.problem) for r in bad[:5]]}; the "
            f"first at {first.wall:.3f} with {first.headers} and body {first.body[:300]!r}; "
            f"{len(others)} other requests of its id; verified: "
            f"{[o.problem is None for o in others]}, the same body: "
            f"{[o.body == first.body for o in others]}, at {[round(o.wall, 3) for o in others]}"
        )

    # ---- the server ---------------------------------------------------------------------

    def _arrived(self, path: str, headers: dict[str, str], body: bytes) -> Request:
        now = time.time()
        try:
            matched, problem = verify(headers, body, self.secrets, now), None
        except SignatureError as exc:
            matched, problem = [], str(exc)
        envelope = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
            envelope = parsed if isinstance(parsed, dict) else None
        request = Request(path, headers, body, time.monotonic(), now, matched, problem,
                          envelope=envelope)  # fmt: skip
        with self._lock:
            self._requests.append(request)
            return request

    def _aborted(self, path: str, headers: dict[str, str], body: bytes) -> None:
        request = Request(path, headers, body, time.monotonic(), time.time(), [], None,
                          aborted=True)  # fmt: skip
        with self._lock:
            self._aborted_requests.append(request)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would
            # The head and the body go out in two writes: with Nagle's algorithm the second
            # waits for the sender's delayed ACK (40 ms a request on Linux).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                if len(body) < length:
                    # The sender went away mid-request (a kill -9 between its writes): kept,
                    # as a receiver would drop it, neither verified nor answered.
                    receiver._aborted(self.path, headers, body)
                    self.close_connection = True
                    return
                request = receiver._arrived(self.path, headers, body)
                with receiver._lock:
                    behaviour, release = receiver._behaviour, receiver._release
                if behaviour.hang:
                    # Never answered: released, the connection is closed without an answer
                    # (a sender still waiting sees it drop), so a 2xx is always one it read.
                    request.hung = True
                    release.wait()
                    self.close_connection = True
                    return
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                # Noted before the answer leaves: the sender can only act on it after this.
                request.answered = time.monotonic()
                try:
                    self.send_response(behaviour.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(behaviour.body)))
                    if behaviour.retry_after is not None:
                        self.send_header("retry-after", behaviour.retry_after)
                    self.end_headers()
                    self.wfile.write(behaviour.body)
                    self.wfile.flush()
                except OSError:  # the sender gave up (its timeout) and closed the connection
                    self.close_connection = True
                    return
                request.status = behaviour.status

            def handle(self) -> None:
                # A connection the sender drops mid-request is its business, not an error.
                with contextlib.suppress(OSError):
                    super().handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextlib.contextmanager
def receiver(secrets: Sequence[str] = ()) -> Iterator[Receiver]:
    with Receiver(secrets) as r:
        yield r
