"""The README's webhook receivers, run for real: each snippet (marked `<!-- snippet: NAME -->`
before its code block) is started as its own process, Python with this interpreter and Node
with the `standardwebhooks` package installed from tests/webhooks/node-receiver/'s lock file
(`make webhook-receiver`), and gets real HTTP requests with the headers the orchestrator sends
(orchestrator/webhook_sender.py: Standard Webhooks, signed by the `standardwebhooks` package)
and secrets it makes (orchestrator/webhook_endpoints.py); and, end to end, the deliveries of a
real orchestrator (following a replaying bridge) for a message it sends."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from orchestrator.eventlog import EVENT_ID
from orchestrator.webhook_endpoints import new_secret
from orchestrator.webhook_sender import headers
from tests import harness

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
NODE_RECEIVER = Path(__file__).resolve().parent / "node-receiver"
SNIPPET = re.compile(
    r"<!-- snippet: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)\n```\n", re.S
)
STARTUP_TIMEOUT = 15.0
LINE_TIMEOUT = 10.0


def snippets() -> dict[str, str]:
    return {m["name"]: m["code"] + "\n" for m in SNIPPET.finditer(README.read_text())}


def signed(body: bytes, event_id: str, *keys: str, at: float | None = None) -> dict[str, str]:
    """A delivery's headers as the orchestrator sends them: one `v1,` signature per secret."""
    return headers(list(keys), event_id, body, time.time() if at is None else at)


def envelope(event_id: str, text: str = "Olá, preciso de ajuda") -> bytes:
    """A stream envelope as the streams encode it (orjson: compact, UTF-8 as is)."""
    message = {
        "id": "3EB0C431C26A1916E4A1",
        "chatId": "5511987654321@s.whatsapp.net",
        "fromMe": False,
        "text": text,
        "timestamp": 1765000000,
    }
    return orjson.dumps(
        {"id": event_id, "type": "new_message", "session": "default", "data": message}
    )


@dataclass
class Receiver:
    """A snippet running as a process: its URL, and the lines it prints."""

    url: str
    lines: queue.Queue[str]
    process: subprocess.Popen[str]

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        return httpx.post(self.url, content=body, headers=headers, timeout=10).status_code

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            code = self.process.poll()
            raise AssertionError(f"the receiver printed nothing (exit code {code})") from None


def command(name: str, code: str) -> tuple[list[str], Path]:
    if name == "webhook-verify-python":
        return [sys.executable, "-c", code], REPO
    if not (NODE_RECEIVER / "node_modules" / "standardwebhooks").is_dir():
        pytest.fail(f"{NODE_RECEIVER}/node_modules is missing: run `make webhook-receiver`")
    # Code given with -e resolves its imports from the working directory.
    return ["node", "--input-type=module", "-e", code], NODE_RECEIVER


SNIPPETS = ["webhook-verify-python", "webhook-verify-node"]


@contextlib.contextmanager
def running(name: str, secret: str) -> Iterator[Receiver]:
    """The snippet `name` as a process, with the secret in WEBHOOK_SECRET, on a port it picks."""
    code = snippets().get(name)
    assert code is not None, f"README.md has no code block after <!-- snippet: {name} -->"
    argv, cwd = command(name, code)
    env = {**os.environ, "WEBHOOK_SECRET": secret, "PORT": "0"}
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        try:
            first = lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"{name} did not start (exit code {process.poll()})") from None
        port = re.fullmatch(r"listening on (\d+)", first)
        assert port, f"{name} printed {first!r} first"
        yield Receiver(f"http://127.0.0.1:{port[1]}/hooks", lines, process)
    finally:
        process.kill()
        process.wait()
        reader.join()
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture(scope="module", params=SNIPPETS)
def receiver(request: pytest.FixtureRequest) -> Iterator[tuple[Receiver, str]]:
    secret = new_secret()
    with running(request.param, secret) as rx:
        yield rx, secret


def test_the_readme_marks_both_snippets() -> None:
    assert set(snippets()) >= set(SNIPPETS)


def test_a_signed_delivery_is_taken_once(receiver: tuple[Receiver, str]) -> None:
    rx, secret = receiver
    event_id = "1765000000:101:0"
    body = envelope(event_id)
    assert rx.post(body, signed(body, event_id, secret)) in (200, 204)
    assert rx.next_line() == f"default new_message {event_id}"
    # A retry: signed again at another second, the same webhook-id. Acknowledged, not redone.
    assert rx.post(body, signed(body, event_id, secret, at=time.time() - 30)) in (200, 204)
    following = "1765000000:102:0"
    body = envelope(following, "segunda mensagem")
    assert rx.post(body, signed(body, following, secret)) in (200, 204)
    assert rx.next_line() == f"default new_message {following}"


def test_a_tampered_or_foreign_delivery_is_refused(receiver: tuple[Receiver, str]) -> None:
    rx, secret = receiver
    event_id = "1765000000:201:0"
    body = envelope(event_id)
    headers = signed(body, event_id, secret)
    tampered = body.replace(b"ajuda", b"ajudA")  # one byte
    assert tampered != body
    assert rx.post(tampered, headers) == 400
    reencoded = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    assert rx.post(reencoded, headers) == 400  # the same JSON, other bytes
    assert rx.post(body, {**headers, "webhook-id": "1765000000:201:1"}) == 400
    assert rx.post(body, signed(body, event_id, new_secret())) == 400
    assert rx.post(body, signed(body, event_id, secret, at=time.time() - 600)) == 400
    assert rx.post(body, signed(body, event_id, secret, at=time.time() + 600)) == 400
    unsigned = {k: v for k, v in headers.items() if k != "webhook-signature"}
    assert rx.post(body, unsigned) == 400
    # None of them was handled: the next line printed is the good delivery's.
    assert rx.post(body, headers) in (200, 204)
    assert rx.next_line() == f"default new_message {event_id}"


def test_a_rotations_two_signatures_verify_with_either_secret(
    receiver: tuple[Receiver, str],
) -> None:
    """During the overlap a delivery carries the new secret's signature and the old one's; the
    receiver holds one of them (here the fixture's, as the new one and as the old one)."""
    rx, secret = receiver
    for n, keys in enumerate([(new_secret(), secret), (secret, new_secret())]):
        event_id = f"1765000000:30{n}:0"
        body = envelope(event_id)
        assert rx.post(body, signed(body, event_id, *keys)) in (200, 204)
        assert rx.next_line() == f"default new_message {event_id}"


def test_a_real_orchestrators_deliveries_verify_in_both(tmp_path: Path) -> None:
    """End to end: an orchestrator following a replaying bridge posts a sent message's
    new_message to both snippets, each holding the secret POST /webhooks answered."""
    capture = harness.demo_capture(tmp_path / "capture.jsonl", 300, 7, now=int(time.time()) - 60)
    env = {"ORCH_MEDIA_URL_ALLOWLIST": "127.0.0.1"}
    bridge_env: dict[str, str | int] = {"BRIDGE_REPLAY_RATE": 0, "BRIDGE_LOG_LEVEL": "warn"}
    with (
        harness.stack(tmp_path, capture=capture, bridge_env=bridge_env, orchestrator_env=env) as s,
        contextlib.ExitStack() as receivers,
    ):
        http = s.orchestrator.http
        chats = http.get("/chats?limit=500").raise_for_status().json()["chats"]
        chat = next(c["id"] for c in chats if not c["isGroup"])
        started = []
        for name in SNIPPETS:
            # Made disabled at a placeholder address: the receiver needs the secret to start.
            body = {"url": "http://127.0.0.1:9/", "enabled": False, "events": ["new_message"]}
            made = http.post("/webhooks", json=body)
            assert made.status_code == 201, made.text
            rx = receivers.enter_context(running(name, made.json()["secret"]))
            on = {"url": rx.url, "enabled": True}
            http.patch(f"/webhooks/{made.json()['id']}", json=on).raise_for_status()
            started.append(rx)
        sent = http.post("/send", json={"chatId": chat, "text": "para os dois receptores"})
        assert sent.status_code == 202, sent.text
        lines = [rx.next_line() for rx in started]
        assert lines[0] == lines[1], lines
        session, kind, event_id = lines[0].split(" ")
        assert (session, kind) == ("default", "new_message")
        assert EVENT_ID.fullmatch(event_id), event_id
