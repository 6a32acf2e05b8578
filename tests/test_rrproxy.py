"""The test round-robin proxy (tests/rrproxy.py) against real servers: three HTTP/1.1 servers
in processes of their own (so one can be killed -9), a streaming server for SSE and a
WebSocket echo server, reached through the proxy by real clients."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

from tests.harness import wait_for
from tests.rrproxy import Backend, RoundRobinProxy


class HttpBackend:
    """`python -m http.server` (HTTP/1.1, so keep-alive) serving a file holding its name."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        root = directory / name
        root.mkdir()
        (root / "name").write_text(name)
        self.log = directory / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-m", "http.server", "0", "-b", "127.0.0.1",
                 "-p", "HTTP/1.1", "-d", str(root)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        found = wait_for(
            f"{name} listening", lambda: re.search(r"port (\d+)", self.log.read_text())
        )
        self.address: Backend = ("127.0.0.1", int(found.group(1)))

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[list[HttpBackend]]:
    started: list[HttpBackend] = []
    try:
        for name in ("a", "b", "c"):
            started.append(HttpBackend(name, tmp_path))
        yield started
    finally:
        for backend in started:
            backend.kill9()


@pytest.fixture
def proxy(backends: list[HttpBackend]) -> Iterator[RoundRobinProxy]:
    with RoundRobinProxy([b.address for b in backends]) as p:
        yield p


def fresh_get(proxy: RoundRobinProxy) -> str:
    """One request on a new connection: the backend's name."""
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        return client.get("/name").text


def raw_connection(proxy: RoundRobinProxy) -> socket.socket:
    """A client connection that has been answered once, so it is known to reach a backend."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(b"GET /name HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith((b"\r\n\r\na", b"\r\n\r\nb", b"\r\n\r\nc")):
        chunk = sock.recv(4096)
        assert chunk, f"closed before the answer: {answer!r}"
        answer += chunk
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_each_new_connection_goes_to_the_next_backend(
    proxy: RoundRobinProxy, backends: list[HttpBackend]
) -> None:
    assert [fresh_get(proxy) for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]
    assert proxy.connections() == {b.address: 2 for b in backends}
    assert proxy.refusals() == {}
    wait_for("every connection closed", lambda: proxy.open_connections() == {})


def test_a_keep_alive_connection_stays_on_one_backend(
    proxy: RoundRobinProxy, backends: list[HttpBackend]
) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert {client.get("/name").text for _ in range(5)} == {"a"}
        assert proxy.open_connections() == {backends[0].address: 1}
    assert proxy.connections() == {backends[0].address: 1}
    wait_for("the connection closed", lambda: proxy.open_connections() == {})


def test_a_killed_backend_is_skipped_and_its_connections_cut(
    proxy: RoundRobinProxy, backends: list[HttpBackend]
) -> None:
    b = backends[1]
    assert fresh_get(proxy) == "a"
    on_b = raw_connection(proxy)
    b.kill9()
    assert closed_by_peer(on_b)  # the client is not left on a half-open connection
    wait_for("b's connection closed", lambda: b.address not in proxy.open_connections())
    assert [fresh_get(proxy) for _ in range(4)] == ["c", "a", "c", "a"]
    assert proxy.refusals()[b.address] >= 1
    assert proxy.turned_away == 0
    on_b.close()


def test_backends_are_added_and_removed_while_it_runs(
    proxy: RoundRobinProxy, backends: list[HttpBackend]
) -> None:
    a, b, _ = backends
    proxy.remove(b.address)
    assert [fresh_get(proxy) for _ in range(4)] == ["a", "c", "a", "c"]
    proxy.add(b.address)
    assert [fresh_get(proxy) for _ in range(3)] == ["b", "a", "c"]  # at the end, next in turn
    # remove(drop=True) also cuts what is open there; other backends' connections stay.
    on_b, on_a = raw_connection(proxy), raw_connection(proxy)
    assert proxy.open_connections() == {b.address: 1, a.address: 1}
    proxy.remove(a.address, drop=True)
    assert closed_by_peer(on_a)
    assert proxy.open_connections() == {b.address: 1}
    on_b.sendall(b"GET /name HTTP/1.1\r\nHost: x\r\n\r\n")
    assert on_b.recv(4096).startswith(b"HTTP/1.1 200")
    on_a.close()
    on_b.close()


def test_with_no_backend_accepting_the_client_is_closed_at_once(
    backends: list[HttpBackend],
) -> None:
    dead = backends[0]
    dead.kill9()
    with RoundRobinProxy([dead.address]) as proxy:
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        assert closed_by_peer(sock)
        sock.close()
        assert proxy.turned_away == 1
        assert proxy.refusals() == {dead.address: 1}
        assert proxy.connections() == {}


def test_stop_closes_every_connection_and_the_port(proxy: RoundRobinProxy) -> None:
    sock = raw_connection(proxy)
    port = proxy.port
    proxy.stop()
    assert closed_by_peer(sock)
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=10).close()


class _Events(BaseHTTPRequestHandler):
    """An SSE stream of two events; the second is written only once the test allows it."""

    protocol_version = "HTTP/1.1"
    second = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"data: one\n\n")
        self.wfile.flush()
        self.second.wait(10)
        self.wfile.write(b"data: two\n\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_sse_arrives_as_it_is_written() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with (
            RoundRobinProxy([("127.0.0.1", server.server_address[1])]) as proxy,
            httpx.stream("GET", f"{proxy.url}/events", timeout=10) as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == "data: one"  # before the second is even written
            _Events.second.set()
            assert [line for line in lines if line] == ["data: two"]
    finally:
        _Events.second.set()
        server.shutdown()
        server.server_close()


def test_websocket_frames_pass_both_ways() -> None:
    def echo(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    with ws_serve(echo, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        with (
            RoundRobinProxy([("127.0.0.1", port)]) as proxy,
            ws_connect(f"ws://127.0.0.1:{proxy.port}/ws", open_timeout=10) as ws,
        ):
            for text in ("hello", "x" * 200_000):
                ws.send(text)
                assert ws.recv(timeout=10) == text
        server.shutdown()
