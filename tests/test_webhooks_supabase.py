"""Webhooks on the Supabase backend, end to end: the real `supabase` client over HTTP to the
PostgREST stand-in on a real PostgreSQL. Deliveries go on from RAM while Supabase is away, the
outbox catches up when it is back, and after a kill -9 what was owed is delivered."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from tests.harness import free_port, make_capture, stack, wait_for
from tests.postgrest.conftest import token
from tests.supabase.bootstrap import supabase_database
from tests.test_supabase_backend import start_standin


class Receiver(ThreadingHTTPServer):
    """Counts webhook-ids; answers `status` (settable while it runs)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.status = 200
        self.ids: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"

    def delivered(self) -> set[str]:
        with self.lock:
            return set(self.ids)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        status = self.server.status
        if status == 200:
            with self.server.lock:
                self.server.ids.append(self.headers["webhook-id"])
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def supabase_dsn(postgres_dsn: str) -> Iterator[str]:
    with supabase_database(postgres_dsn) as dsn:
        yield dsn


def outbox(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as db:
        rows = db.execute("select status, count(*) from wa_webhook_deliveries group by status")
        return {status: count for status, count in rows.fetchall()}


def test_webhooks_on_supabase_survive_its_outage_and_a_kill_9(
    tmp_path: Path, supabase_dsn: str, receiver: Receiver
) -> None:
    capture = make_capture(tmp_path / "capture.jsonl", 1500, chats=6)
    port = free_port()
    env = {
        "SUPABASE_URL": f"http://127.0.0.1:{port}",
        "SUPABASE_SERVICE_ROLE_KEY": token("service_role"),
        "ORCH_MEDIA_URL_ALLOWLIST": "127.0.0.1",
        "ORCH_WEBHOOK_RETRY_INITIAL": "0.05",
        "ORCH_WEBHOOK_RETRY_MAX": "0.3",
    }
    with stack(
        tmp_path, capture=capture, bridge=False, orchestrator=False, orchestrator_env=env
    ) as s:
        standin = s.add(start_standin(tmp_path, supabase_dsn, port))
        orchestrator = s.start_orchestrator()
        answer = orchestrator.http.post("/webhooks", json={"url": receiver.url})
        assert answer.status_code == 201, answer.text
        webhook_id = answer.json()["id"]
        with psycopg.connect(supabase_dsn) as db:  # stored, secret and all
            row = db.execute("select secret, enabled from wa_webhooks where id = %s", [webhook_id])
            assert row.fetchone() == (answer.json()["secret"], True)

        s.start_bridge(BRIDGE_REPLAY_RATE=300)
        wait_for("deliveries in Supabase", lambda: outbox(supabase_dsn).get("delivered", 0) > 50)
        standin.kill9()  # Supabase away: deliveries go on from RAM
        wait_for("the store reported down", lambda: not orchestrator.bridge_report()["store"]["up"])
        before = len(receiver.delivered())
        wait_for("deliveries without the store", lambda: len(receiver.delivered()) > before + 50)

        standin = s.add(start_standin(tmp_path, supabase_dsn, port))
        s.applied()
        wait_for("every event delivered", lambda: orchestrator.http.get(
            f"/webhooks/{webhook_id}").json()["health"]["pending"] == 0, timeout=60)  # fmt: skip
        wait_for(
            "the outbox caught up",
            lambda: (
                orchestrator.bridge_report()["store"]["pendingRows"] == 0
                and set(outbox(supabase_dsn)) == {"delivered"}
            ),
            timeout=60,
        )
        delivered = receiver.delivered()
        with psycopg.connect(supabase_dsn) as db:
            stored = {r[0] for r in db.execute("select event_id from wa_webhook_deliveries")}
        assert stored == delivered

        # The receiver fails from now on; helpdesk events (not replayed by the bridge: only
        # the outbox has them) wait as owed; kill -9.
        receiver.status = 500
        chat = orchestrator.http.get("/chats").json()["chats"][0]["id"]
        tag = orchestrator.http.post("/tags", json={"name": "vip"}).json()["id"]
        for n in range(5):  # tags_changed, five times
            if n % 2 == 0:
                changed = orchestrator.http.post(f"/chats/{chat}/tags", json={"tagId": tag})
            else:
                changed = orchestrator.http.delete(f"/chats/{chat}/tags/{tag}")
            assert changed.status_code == 200, changed.text
        wait_for("owed deliveries stored", lambda: outbox(supabase_dsn).get("retrying", 0) >= 1
                 and sum(outbox(supabase_dsn).values()) == len(delivered) + 5)  # fmt: skip
        orchestrator.kill9()
        receiver.status = 200
        orchestrator = s.start_orchestrator()
        s.applied()
        wait_for("what was owed, delivered", lambda: orchestrator.http.get(
            f"/webhooks/{webhook_id}").json()["health"]["pending"] == 0, timeout=60)  # fmt: skip
        wait_for(
            "every delivery stored as made",
            lambda: set(outbox(supabase_dsn)) == {"delivered"},
            timeout=60,
        )
        with psycopg.connect(supabase_dsn) as db:
            stored = {r[0] for r in db.execute("select event_id from wa_webhook_deliveries")}
        assert stored == receiver.delivered()
        assert len(stored) == len(delivered) + 5

        # Again, and this time Supabase is away when the orchestrator starts: the endpoints and
        # what is owed are read once it is back, and delivered.
        receiver.status = 500
        for n in range(3):  # the chat is tagged now: untag, tag, untag
            if n % 2 == 0:
                changed = orchestrator.http.delete(f"/chats/{chat}/tags/{tag}")
            else:
                changed = orchestrator.http.post(f"/chats/{chat}/tags", json={"tagId": tag})
            assert changed.status_code == 200, changed.text
        wait_for("owed deliveries stored", lambda: outbox(supabase_dsn).get("retrying", 0) >= 1
                 and sum(outbox(supabase_dsn).values()) == len(stored) + 3)  # fmt: skip
        orchestrator.kill9()
        standin.kill9()
        receiver.status = 200
        orchestrator = s.start_orchestrator()
        assert orchestrator.http.get(f"/webhooks/{webhook_id}").status_code == 404  # unread yet
        standin = s.add(start_standin(tmp_path, supabase_dsn, port))
        wait_for(
            "what was owed, delivered and stored as made",
            lambda: set(outbox(supabase_dsn)) == {"delivered"},
            timeout=90,
        )
        with psycopg.connect(supabase_dsn) as db:
            final = {r[0] for r in db.execute("select event_id from wa_webhook_deliveries")}
        assert final == receiver.delivered() and len(final) == len(stored) + 3
