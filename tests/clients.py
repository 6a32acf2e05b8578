"""Stream clients for tests, written from the API contract (not from the server's code):
an SSE reader, a WebSocket reader and a long-poller, each able to drop its connection at
random points and resume from the last id it saw."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
from websockets.sync.client import connect

from tests.harness import TOKEN

Envelope = dict[str, Any]


def parse_sse(lines: Iterator[str]) -> Iterator[Envelope]:
    """Envelopes from an SSE body; checks that `id:` and `event:` agree with the data."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                envelope: Envelope = orjson.loads(fields["data"])
                assert fields.get("id") == envelope["id"], (fields, envelope)
                assert fields.get("event") == envelope["type"], (fields, envelope)
                yield envelope
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


class StreamReader:
    """Reads one kind of stream until `done(envelopes)` says so, reconnecting after every
    `drop_after()` envelopes. `last_id` starts as given (None: from now on)."""

    def __init__(
        self,
        base_url: str,
        *,
        last_id: str | None = None,
        drop_after: Callable[[], int] | None = None,
        path: str = "",
        token: str = TOKEN,
        params: dict[str, str] | None = None,
    ) -> None:
        self.token = token
        self.params = params or {}  # more of the query: ?session=
        self.base_url = base_url
        self.last_id = last_id
        self.drop_after = drop_after or (lambda: 10**9)
        self.path = path
        self.envelopes: list[Envelope] = []
        self.connections = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self, done: Callable[[list[Envelope]], bool], timeout: float = 60) -> None:
        def loop() -> None:
            try:
                while not self.stop.is_set() and not done(self.envelopes):
                    self.connections += 1
                    self._session(self.drop_after(), done)
            except BaseException as exc:  # reported by the test thread
                self.error = exc

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        thread.join(timeout)
        self.stop.set()
        if self.error:
            raise self.error
        assert done(self.envelopes), f"{type(self).__name__}: gave up with {len(self.envelopes)}"

    def run_for(self, seconds: float) -> None:
        """Read for a while: for filtered streams, where no id says 'that was all'."""
        deadline = time.monotonic() + seconds
        self.run(lambda envelopes: time.monotonic() > deadline, timeout=seconds + 10)

    def _take(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)
        self.last_id = envelope["id"]

    def _session(self, budget: int, done: Callable[[list[Envelope]], bool]) -> None:
        raise NotImplementedError


class SseReader(StreamReader):
    def _session(self, budget: int, done: Callable[[list[Envelope]], bool]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        timeout = httpx.Timeout(5.0, read=2.0)
        try:
            with httpx.stream(
                "GET", f"{self.base_url}/events", headers=headers, timeout=timeout,
                params=self.params,
            ) as r:  # fmt: skip
                assert r.status_code == 200, r.read()
                for envelope in parse_sse(r.iter_lines()):
                    self._take(envelope)
                    budget -= 1
                    if budget <= 0 or done(self.envelopes) or self.stop.is_set():
                        return
        except httpx.ReadTimeout:
            return  # quiet stream: reconnect (and re-check done)


class WebSocketReader(StreamReader):
    def _session(self, budget: int, done: Callable[[list[Envelope]], bool]) -> None:
        url = self.base_url.replace("http://", "ws://") + (self.path or "/ws")
        url += f"?access_token={self.token}"
        if self.last_id is not None:
            url += f"&lastEventId={self.last_id}"
        url += "".join(f"&{name}={value}" for name, value in self.params.items())
        # max_queue=None: the client keeps reading the socket even with frames unread here.
        # With the default (16 frames), a close with more unread frames waits out its whole
        # close timeout (10 s) for the server's close reply, which sits unread behind them.
        with connect(url, open_timeout=5, max_queue=None) as ws:
            while True:
                try:
                    frame = ws.recv(timeout=2.0)
                except TimeoutError:
                    return
                self._take(orjson.loads(frame))
                budget -= 1
                if budget <= 0 or done(self.envelopes) or self.stop.is_set():
                    return


class PollReader(StreamReader):
    def _session(self, budget: int, done: Callable[[list[Envelope]], bool]) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=10) as client:
            while budget > 0 and not done(self.envelopes) and not self.stop.is_set():
                params = {"timeout": "2", **self.params}
                if self.last_id is not None:
                    params["since"] = self.last_id
                body = client.get(f"{self.base_url}/events/poll", params=params).json()
                for envelope in body["events"]:
                    self._take(envelope)
                    budget -= 1
                self.last_id = body["lastEventId"]


def random_drops(seed: int, mean: int) -> Callable[[], int]:
    rng = random.Random(seed)
    return lambda: max(1, int(rng.expovariate(1 / mean)))
