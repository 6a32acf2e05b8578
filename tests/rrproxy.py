"""A TCP round-robin proxy for tests: what a load balancer in front of orchestrator replicas
does, small enough to reason about, and controllable from the test.

One listening port on 127.0.0.1; each new client connection goes to the next backend in turn.
A backend that refuses (or does not accept within `connect_timeout`) is skipped for the next
one, and counted; when every backend refuses, the client's connection is closed. Bytes are
copied both ways unchanged, so HTTP keep-alive, SSE and WebSocket all pass (one client
connection stays on one backend for its life, as behind a real LB). Backends can be added and
removed while it runs. The proxy runs its own event loop in a thread, so sync and async tests
use it alike:

    with RoundRobinProxy([("127.0.0.1", a), ("127.0.0.1", b)]) as proxy:
        httpx.get(f"{proxy.url}/health")
        proxy.remove(("127.0.0.1", a), drop=True)   # and cut its open connections
        proxy.connections()                         # {("127.0.0.1", a): 1, ...}
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Iterable
from types import TracebackType

Backend = tuple[str, int]

_CHUNK = 65536


class RoundRobinProxy:
    def __init__(
        self,
        backends: Iterable[Backend] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        # Shared with the loop's thread; every access holds the lock.
        self._lock = threading.Lock()
        self._backends: list[Backend] = list(backends)
        self._cursor = 0
        self._connections: Counter[Backend] = Counter()
        self._refusals: Counter[Backend] = Counter()
        self._open: Counter[Backend] = Counter()
        self._turned_away = 0
        # Loop-thread only: each live client connection's task and the backend it reached.
        self._live: dict[asyncio.Task[None], Backend | None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- control, from any thread ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Listen (on a free port unless one was given) and return once it accepts."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(started))
            except BaseException as exc:  # reported by start(), never lost in the thread
                failure.append(exc)
                started.set()

        self._thread = threading.Thread(target=run, name=f"rrproxy-{self.port}", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise RuntimeError(f"the proxy did not start within {timeout}s")
        if failure:
            raise RuntimeError("the proxy failed to start") from failure[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening and close every client and backend connection."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is None or stopping is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the proxy did not stop within {timeout}s")
        self._loop = self._stopping = self._thread = None

    def add(self, backend: Backend) -> None:
        """Put `backend` in the rotation (at the end); adding one already there does nothing."""
        with self._lock:
            if backend not in self._backends:
                self._backends.append(backend)

    def remove(self, backend: Backend, *, drop: bool = False) -> None:
        """Take `backend` out of the rotation; with `drop`, also close its open connections
        (returns once they are closed), as an LB that marks a backend down may."""
        with self._lock:
            if backend in self._backends:
                self._backends.remove(backend)
        if drop and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._drop(backend), self._loop).result(10)

    @property
    def backends(self) -> list[Backend]:
        with self._lock:
            return list(self._backends)

    def connections(self) -> dict[Backend, int]:
        """Client connections each backend accepted, since the start."""
        with self._lock:
            return dict(self._connections)

    def refusals(self) -> dict[Backend, int]:
        """Connection attempts each backend refused (or left unanswered), since the start."""
        with self._lock:
            return dict(self._refusals)

    def open_connections(self) -> dict[Backend, int]:
        """Client connections to each backend open right now."""
        with self._lock:
            return {backend: n for backend, n in self._open.items() if n}

    @property
    def turned_away(self) -> int:
        """Client connections closed because no backend accepted them."""
        with self._lock:
            return self._turned_away

    def __enter__(self) -> RoundRobinProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the loop's thread ----------------------------------------------------------------

    async def _serve(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            # Connections accepted just now have a handler task that has not run yet: let them
            # start, so that cancelling them closes their sockets (a task cancelled before its
            # first step runs no `finally`).
            await asyncio.sleep(0)
            for task in list(self._live):
                task.cancel()
            await asyncio.gather(*self._live, return_exceptions=True)
            await server.wait_closed()

    def _rotation(self) -> list[Backend]:
        """The backends in the order this connection tries them: from the cursor on."""
        with self._lock:
            n = len(self._backends)
            if n == 0:
                return []
            start = self._cursor % n
            return self._backends[start:] + self._backends[:start]

    async def _connect(self) -> tuple[Backend, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for backend in self._rotation():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*backend), self.connect_timeout
                )
            except (OSError, TimeoutError):
                with self._lock:
                    self._refusals[backend] += 1
                continue
            with self._lock:
                self._connections[backend] += 1
                self._open[backend] += 1
                # The next connection starts after this one, even if it was not the cursor's.
                if backend in self._backends:
                    self._cursor = self._backends.index(backend) + 1
            return backend, reader, writer
        return None

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._live[task] = None
        backend: Backend | None = None
        try:
            upstream = await self._connect()
            if upstream is None:
                with self._lock:
                    self._turned_away += 1
                return
            backend, up_r, up_w = upstream
            self._live[task] = backend
            to_backend = asyncio.create_task(_pipe(client_r, up_w, half_close=True))
            try:
                # The backend's side decides when the connection ends: its EOF (a server that
                # closes, or dies) closes the client's connection too, so no client is left on
                # a half-open connection to a backend that is gone.
                await _pipe(up_r, client_w, half_close=False)
            finally:
                # Abort before awaiting anything: a cancellation (stop) landing on the await
                # below must not leave the backend's socket open.
                up_w.transport.abort()
                to_backend.cancel()
                await asyncio.gather(to_backend, return_exceptions=True)
            client_w.close()  # what is buffered goes out first
        except asyncio.CancelledError:
            # stop() or remove(drop=True). Ending quietly: asyncio (3.11) logs the cancellation
            # of a connection handler as an error.
            pass
        finally:
            if not client_w.transport.is_closing():
                client_w.transport.abort()  # cancelled, or failed: cut at once
            del self._live[task]
            if backend is not None:
                with self._lock:
                    self._open[backend] -= 1

    async def _drop(self, backend: Backend) -> None:
        tasks = [task for task, to in self._live.items() if to == backend]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, half_close: bool
) -> None:
    """Copy until EOF, then (with `half_close`) pass the EOF on, as TCP allows: a client may
    shut its sending side and still read the answer. An error on either side resets `writer`,
    which the caller's closing of both connections then completes."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.transport.abort()
