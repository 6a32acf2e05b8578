"""NATS JetStream transport (issue #15): the bridges' events as a JetStream stream, their
heartbeats and commands as core NATS, behind the same protocols as ZeroMQ.

Subjects, one set per session (the contract both sides follow):
- `<prefix>.<session>.events`: JetStream messages, one envelope each, with `Nats-Msg-Id:
  <epoch>:<seq>` and `Wa-Lease: <term>` (the publishing host's lease revision, "0" without one);
- `<prefix>.<session>.heartbeat`: core messages (not stored), the `bridge.heartbeat` envelopes;
- `<prefix>.<session>.cmd`: core request/reply, the same JSON as the ZeroMQ ROUTER speaks.

The follower above works unchanged: live events come from an ephemeral pull consumer starting
at "new" (PUB/SUB's equivalent: the follower's catch-up fills what came before), each spliced
with `"js": <stream sequence>`, and `replay` is served here, from the stream, instead of by the
bridge. Nothing above this module sees a nats-py exception: no answer in time (NATS down, no
bridge holding the session) is CommandTimeout, as a ZeroMQ bridge that is away.

NatsHub owns the process's one connection (the runtime starts and closes it); each session gets a
NatsLink on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.object_store import ObjectStore

from orchestrator.errors import CommandError, CommandTimeout
from orchestrator.fencing import Fence
from orchestrator.lifecycle import backoff_delay
from orchestrator.sessionlog import SessionLog
from orchestrator.shapes import TransportReport
from orchestrator.transport import answer, retried_on_timeout
from orchestrator.wire import EPOCH, Position, with_stream_sequence

log = logging.getLogger("orchestrator.transport.nats")

MSG_ID = "Nats-Msg-Id"
LEASE = "Wa-Lease"
# An envelope over the server's max_payload: the stream holds a stub (its data null) at its
# place, the envelope itself is this object in the `<prefix>-large` object store.
OBJECT = "Wa-Object"
STATUS = "Status"
DUPLICATE_WINDOW = 120.0
# An ephemeral consumer nobody pulls from for this long is deleted by the server: the ones a
# crash or a lost connection leaves behind go away by themselves.
INACTIVE_THRESHOLD = 30.0

LIVE_BATCH = 1000
LIVE_EXPIRES = 5.0  # a live pull waits this long for messages, then is renewed
LIVE_HEARTBEAT = 1.0
LIVE_STALL = LIVE_EXPIRES + 3.0  # nothing at all (not even the expiry) this long: consumer lost
QUEUE_MAX = 100_000  # as the ZeroMQ SUB's high-water mark: beyond, drop and let replay fill in
REPLAY_MAX_LIMIT = 10_000
PULL_WAIT = 5.0  # for the next message of a no-wait pull that is still coming
SCAN_BATCH = 10_000
RECENT_MAX = 20_000  # delivered msg ids remembered, to locate a position without a scan
NO_RESPONDERS_WAIT = (0.05, 0.5)  # first and longest wait before asking again
CONNECT_BACKOFF = (0.5, 30.0)
API_TIMEOUT = 5.0  # a JetStream API request (making a consumer, deleting one)
RECONNECT_WAIT = 1  # between nats-py's own reconnect attempts, once connected
LIVE_BACKOFF = (0.2, 5.0)  # making a lost live consumer again (replays cover the meantime)


@dataclass(frozen=True)
class NatsConfig:
    url: str
    stream: str
    prefix: str
    max_age: float
    max_bytes: int
    replicas: int
    replica_id: str
    command_timeout: float

    def subject(self, session: str, kind: str) -> str:
        return f"{self.prefix}.{session}.{kind}"


def stream_config(config: NatsConfig) -> api.StreamConfig:
    """The stream as the contract fixes it; the bridge creates it with the same settings."""
    return api.StreamConfig(
        name=config.stream,
        subjects=[f"{config.prefix}.*.events"],
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        max_age=config.max_age,
        max_bytes=config.max_bytes,
        num_replicas=config.replicas,
        discard=api.DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW,
        allow_direct=True,
    )


def without_credentials(url: str) -> str:
    """The URL as it may be logged: no user, password or token."""
    parts = urlsplit(url)
    if parts.hostname is None or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def lease_term(headers: dict[str, str] | None) -> int:
    """The Wa-Lease header's term; 0 when absent or not a number (a bridge without leases)."""
    value = (headers or {}).get(LEASE, "0")
    return int(value) if value.isdigit() else 0


def position_of(msg_id: str | None) -> Position | None:
    """The (epoch, seq) a Nats-Msg-Id names, or None if it names none."""
    if not msg_id:
        return None
    epoch, _, seq = msg_id.rpartition(":")
    if not EPOCH.fullmatch(epoch) or not seq.isdigit():
        return None
    return Position(epoch, int(seq))


@dataclass(frozen=True)
class ReplayRequest:
    after: Position | None
    limit: int
    until: Position | None


def replay_request(params: Any) -> ReplayRequest:
    """The bridge's `replay` parameters, validated as the bridge does, plus `stream`."""

    def bad(message: str) -> CommandError:
        return CommandError("replay", "bad_params", message)

    if not isinstance(params, dict):
        raise CommandError("replay", "bad_request", "replay params must be an object")
    epoch, seq, stream = params.get("epoch"), params.get("seq", 0), params.get("stream")
    if epoch is not None and not isinstance(epoch, str):
        raise bad('"epoch" must be a string or null')
    if type(seq) is not int or seq < 0:
        raise bad('"seq" must be a non-negative integer')
    if stream is not None and (type(stream) is not int or stream < 1):
        raise bad('"stream" must be a positive integer')
    limit = params.get("limit", REPLAY_MAX_LIMIT)
    if type(limit) is not int or limit < 1:
        raise bad('"limit" must be a positive integer')
    until = params.get("until")
    if until is not None:
        if not (
            isinstance(until, dict)
            and isinstance(until.get("epoch"), str)
            and type(until.get("seq")) is int
            and until["seq"] >= 1
            and (until.get("stream") is None or type(until.get("stream")) is int)
        ):
            raise bad('"until" must be null or {"epoch": string, "seq": positive integer}')
        until = Position(until["epoch"], until["seq"], until.get("stream"))
    return ReplayRequest(
        None if epoch is None else Position(epoch, seq, stream),
        min(limit, REPLAY_MAX_LIMIT),
        until,
    )


def _is_until(until: Position | None, stream: int, msg_id: str | None) -> bool:
    if until is None:
        return False
    if until.stream is not None:
        return stream >= until.stream
    return msg_id == str(until)


# ---- the connection ---------------------------------------------------------------------------


class NatsHub:
    """The process's one NATS connection, shared by every session's link. `start` returns at
    once: connecting (and ensuring the stream) goes on in the background, retried with capped,
    jittered backoff, so the orchestrator serves while NATS is away."""

    def __init__(self, config: NatsConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.where = without_credentials(config.url)
        self._rng = rng or random.Random()
        self._client: Client | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Task[Any]] = set()
        self.closing = False
        self._inbox = ""
        self._tokens = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[Msg]] = {}

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="nats-connect")

    async def connection(self) -> Client:
        """The connection once it is up (callers bound the wait with their own timeout)."""
        await self._ready.wait()
        assert self._client is not None
        return self._client

    def link(self, session: str) -> NatsLink:
        return NatsLink(self, session)

    async def request(self, subject: str, body: bytes) -> Msg:
        """One request, its reply (a no-responders status included). Callers bound the wait
        with asyncio.timeout: nats-py's own request waits with wait_for, which in Python 3.11
        can swallow a cancellation, and a follower that cannot be stopped hangs a shutdown."""
        client = await self.connection()
        token = str(next(self._tokens))
        reply: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiting[token] = reply
        try:
            await client.publish(subject, body, reply=f"{self._inbox}.{token}")
            return await reply
        finally:
            self._waiting.pop(token, None)

    async def api(self, subject: str, body: Any = None) -> dict[str, Any]:
        """A JetStream API request (`$JS.API.` + subject); its answer, or JetStreamRefused."""
        msg = await self.request(f"$JS.API.{subject}", b"" if body is None else orjson.dumps(body))
        if _status(msg) == "503":
            raise nats.errors.NoRespondersError
        try:
            answer: dict[str, Any] = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            raise JetStreamRefused(None, f"unreadable answer to {subject}") from None
        error = answer.get("error")
        if error:
            raise JetStreamRefused(error.get("code"), error.get("description", ""))
        return answer

    async def _on_reply(self, msg: Msg) -> None:
        waiter = self._waiting.get(msg.subject.rsplit(".", 1)[-1])
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    def later(self, coroutine: Awaitable[Any]) -> None:
        """Run a cleanup (an unsubscribe, a consumer delete) without waiting for it."""

        async def run() -> None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(API_TIMEOUT):
                    await coroutine

        task = asyncio.get_running_loop().create_task(run())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def close(self) -> None:
        self.closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._cleanups:
            await asyncio.wait(self._cleanups, timeout=2.0)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()

    async def _connect(self) -> None:
        attempt = 0
        while True:
            client = Client()
            try:
                # The first connection without nats-py's own retry loop (a fixed wait, forever,
                # inside connect()): ours backs off with jitter and says once what fails.
                await client.connect(
                    servers=[self.config.url],
                    name=f"wa-orchestrator-{self.config.replica_id}",
                    allow_reconnect=False,
                    max_reconnect_attempts=1,  # and so two tries, then NoServersError
                    reconnect_time_wait=0,
                    connect_timeout=2,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                break
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                delay = CONNECT_BACKOFF[0] + backoff_delay(attempt, *CONNECT_BACKOFF, self._rng)
                say = log.error if attempt == 0 else log.debug
                say(
                    "cannot reach NATS at %s (%s); retrying in %.1fs, with backoff, until it "
                    "answers (the bridges are not reachable until then)",
                    self.where, type(exc).__name__, delay,
                )  # fmt: skip
                attempt += 1
                with contextlib.suppress(Exception):
                    await client.close()
                await asyncio.sleep(delay)
        # From now on nats-py reconnects by itself (subscriptions included), without end.
        client.options["allow_reconnect"] = True
        client.options["max_reconnect_attempts"] = -1
        client.options["reconnect_time_wait"] = RECONNECT_WAIT
        self._inbox = client.new_inbox()
        await client.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        self._client = client
        log.info("connected to NATS at %s", self.where)
        await self._ensure_stream(client)
        self._ready.set()

    async def _ensure_stream(self, client: Client) -> None:
        """Create the stream, or update it to our settings; retried while JetStream does not
        answer, given up (said loudly) when it refuses the settings."""
        config = stream_config(self.config)
        js = client.jetstream()
        attempt = 0
        while True:
            try:
                try:
                    await js.add_stream(config)
                except nats.js.errors.BadRequestError as exc:
                    # 10058: in use with another configuration. 10065, subjects overlap: what
                    # JetStream may answer the loser of two creates of one stream (the bridge
                    # and this start together); only when no stream of our name holds them is
                    # it a real refusal.
                    if exc.err_code == 10065:
                        try:
                            await js.stream_info(self.config.stream)
                        except nats.js.errors.NotFoundError:
                            raise exc from None
                    elif exc.err_code != 10058:
                        raise
                    await js.update_stream(config)
                return
            except nats.js.errors.APIError as exc:
                if isinstance(exc, nats.js.errors.ServiceUnavailableError):
                    pass  # JetStream not ready (yet): retried
                else:
                    log.error("JetStream refused stream %s: %s", config.name, exc.description)
                    return
            except (nats.errors.Error, TimeoutError) as exc:
                if attempt == 0:
                    log.warning("ensuring stream %s failed (%r); retrying", config.name, exc)
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, *CONNECT_BACKOFF, self._rng))

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS at %s: %r", self.where, exc)

    async def _on_disconnected(self) -> None:
        if self._ready.is_set() and not self.closing:
            log.warning("lost the connection to NATS at %s; reconnecting", self.where)

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS at %s", self.where)
        if self._client is not None:
            # A server that lost its store (a new one at the same address) needs the stream.
            self.later(self._ensure_stream(self._client))


# ---- pulling from the stream ------------------------------------------------------------------


class Stalled(Exception):
    pass


class JetStreamRefused(Exception):
    def __init__(self, code: int | None, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


def _status(msg: Msg) -> str | None:
    return msg.headers.get(STATUS) if msg.headers else None


class Pull:
    """An ephemeral pull consumer (no acks) on one subject, and the inbox it delivers to."""

    def __init__(
        self,
        hub: NatsHub,
        stream: str,
        name: str,
        inbox: Subscription,
        queue: asyncio.Queue[Msg],
        pending: int,
    ) -> None:
        self._hub = hub
        self._stream = stream
        self._name = name
        self._inbox = inbox
        self._queue = queue
        self.pending = pending

    @classmethod
    async def open(
        cls,
        hub: NatsHub,
        subject: str,
        start: int | None,
        *,
        headers_only: bool = False,
    ) -> Pull:
        """From stream sequence `start` on (0: from the first retained; None: what comes next)."""
        if start is None:
            policy = api.DeliverPolicy.NEW
        elif start <= 1:
            policy = api.DeliverPolicy.ALL
        else:
            policy = api.DeliverPolicy.BY_START_SEQUENCE
        stream, name = hub.config.stream, secrets.token_hex(8)
        config = api.ConsumerConfig(
            name=name,
            filter_subject=subject,
            deliver_policy=policy,
            opt_start_seq=start if policy is api.DeliverPolicy.BY_START_SEQUENCE else None,
            ack_policy=api.AckPolicy.NONE,
            headers_only=headers_only or None,
            inactive_threshold=INACTIVE_THRESHOLD,
            mem_storage=True,
            num_replicas=1,
        )
        # Our own queue, not nats-py's next_msg: that makes a task and a wait_for per message
        # (slow for 100k), and Python 3.11's wait_for can swallow a cancellation.
        queue: asyncio.Queue[Msg] = asyncio.Queue()

        async def deliver(msg: Msg) -> None:
            queue.put_nowait(msg)

        client = await hub.connection()
        inbox = await client.subscribe(client.new_inbox(), cb=deliver)
        try:
            async with asyncio.timeout(API_TIMEOUT):
                info = await hub.api(
                    f"CONSUMER.CREATE.{stream}.{name}.{subject}",
                    {"stream_name": stream, "config": config.as_dict()},
                )
        except BaseException:
            await inbox.unsubscribe()
            raise
        return cls(hub, stream, name, inbox, queue, int(info.get("num_pending") or 0))

    async def request(
        self, batch: int, *, no_wait: bool = False, expires: float | None = None
    ) -> None:
        body: dict[str, Any] = {"batch": batch}
        if no_wait:
            body["no_wait"] = True
        if expires is not None:
            body["expires"] = int(expires * 1e9)
            body["idle_heartbeat"] = int(LIVE_HEARTBEAT * 1e9)
        client = await self._hub.connection()
        await client.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{self._name}",
            orjson.dumps(body),
            reply=self._inbox.subject,
        )

    async def next(self, timeout: float) -> Msg | None:
        """The next message of the current request; None once the request ended (nothing more
        now, expired). Raises Stalled when nothing at all arrives within `timeout`."""
        while True:
            if self._queue.empty():
                try:
                    async with asyncio.timeout(timeout):
                        msg = await self._queue.get()
                except TimeoutError:
                    raise Stalled(f"nothing from the consumer for {timeout:g}s") from None
            else:
                msg = self._queue.get_nowait()
            status = _status(msg)
            if status is None:
                return msg
            if status != "100":  # 100: an idle heartbeat; 404, 408, 409: the request ended
                return None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._inbox.unsubscribe()
        with contextlib.suppress(Exception):
            await self._hub.api(f"CONSUMER.DELETE.{self._stream}.{self._name}")


# ---- one session ------------------------------------------------------------------------------


@dataclass
class NatsStats:
    last_stream_seq: int | None = None
    fenced: int = 0  # event envelopes dropped as published under an outdated lease
    dropped: int = 0  # live envelopes dropped on a full queue (replay fills them in)
    scans: int = 0  # positions located by scanning the subject's headers
    scan_ms: float = 0.0  # the last scan's duration
    large: int = 0  # envelopes read from the object store (too large for one message)
    large_missing: int = 0  # ... whose object was gone: the stub went on in its place


class Recent:
    """The stream sequences of the last delivered msg ids, to locate a position at once."""

    def __init__(self, size: int = RECENT_MAX) -> None:
        self._size = size
        self._seqs: dict[str, int] = {}

    def add(self, msg_id: str, stream: int) -> None:
        self._seqs[msg_id] = stream
        if len(self._seqs) > self._size:
            del self._seqs[next(iter(self._seqs))]

    def get(self, msg_id: str) -> int | None:
        return self._seqs.get(msg_id)


class SessionStream:
    """What the live source and the replay of one session share: the fence, the msg ids
    delivered, the counters; and how a delivered message becomes an envelope (or is fenced)."""

    def __init__(self, hub: NatsHub, session: str) -> None:
        self.hub = hub
        self.config = hub.config
        self.session = session
        self.subject = hub.config.subject(session, "events")
        self.log = SessionLog(log, session)
        self.fence = Fence()
        self.recent = Recent()
        self.stats = NatsStats()
        # The last stream sequence a replay handed out. Live messages up to it are dropped: the
        # follower has them, and one of an older epoch would look to it like a bridge restart
        # (a replay for nothing) when the live consumer lags behind a big catch-up.
        self.replayed_through = 0
        self._objects: ObjectStore | None = None

    async def envelope(self, msg: Msg) -> bytes | None:
        """The raw envelope with "js" spliced in; None when fenced (counted)."""
        stream = msg.metadata.sequence.stream
        headers = msg.headers or {}
        term = lease_term(headers)
        if not self.fence.admit(stream, term):
            self.stats.fenced += 1
            self.log.warning(
                "dropped %s (stream seq %d): published under lease term %d, below %d",
                headers.get(MSG_ID), stream, term, self.fence.highest,
            )  # fmt: skip
            return None
        msg_id = headers.get(MSG_ID)
        if msg_id:
            self.recent.add(msg_id, stream)
        if self.stats.last_stream_seq is None or stream > self.stats.last_stream_seq:
            self.stats.last_stream_seq = stream
        name = headers.get(OBJECT)
        data = msg.data if name is None else await self._large(name, msg.data)
        return with_stream_sequence(data, stream)

    async def _large(self, name: str, stub: bytes) -> bytes:
        """The envelope kept in the object store; the stub (data null) if it is gone, so the
        stream goes on: said loudly, with its name, and counted."""
        try:
            if self._objects is None:
                client = await self.hub.connection()
                self._objects = await client.jetstream().object_store(f"{self.config.prefix}-large")
            result = await self._objects.get(name)
        except (nats.errors.Error, TimeoutError) as exc:
            self.stats.large_missing += 1
            self.log.error(
                "large envelope %s not in the object store (%s): its stub goes on", name, exc
            )
            return stub
        self.stats.large += 1
        return bytes(result.data or stub)


class NatsEventSource:
    """Live events and heartbeats of one session, in stream order, as raw envelopes."""

    def __init__(self, shared: SessionStream) -> None:
        self._shared = shared
        self._queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()  # (stream seq, raw)
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random()

    async def recv_batch(self, max_items: int) -> list[bytes]:
        if self._task is None:  # started by the first reader, in its loop
            self._task = asyncio.create_task(
                self._run(), name=f"nats-events[{self._shared.session}]"
            )
        batch: list[bytes] = []
        while not batch:
            item = await self._queue.get()
            while True:
                # A replay handed out meanwhile what waited here: drop it (heartbeats are 0).
                if not 0 < item[0] <= self._shared.replayed_through:
                    batch.append(item[1])
                if len(batch) >= max_items or self._queue.empty():
                    break
                item = self._queue.get_nowait()
        return batch

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _put(self, stream: int, raw: bytes) -> None:
        if self._queue.qsize() >= QUEUE_MAX:
            self._shared.stats.dropped += 1
            if self._shared.stats.dropped == 1:
                self._shared.log.warning("live queue full: dropping, replays will fill in")
            return
        self._queue.put_nowait((stream, raw))

    async def _run(self) -> None:
        shared = self._shared
        client = await shared.hub.connection()
        heartbeats = await client.subscribe(
            shared.config.subject(shared.session, "heartbeat"), cb=self._on_heartbeat
        )
        try:
            await self._follow()
        finally:
            shared.hub.later(heartbeats.unsubscribe())

    async def _on_heartbeat(self, msg: Msg) -> None:
        if self._shared.fence.admit_live(lease_term(msg.headers)):
            self._put(0, msg.data)

    async def _follow(self) -> None:
        """Pull live events for as long as the link lives. A consumer that is lost (the server
        restarted, the connection broke) is made again from the stream sequence after the last
        one delivered: nothing is skipped, and the follower discards what it already has."""
        shared = self._shared
        start: int | None = None
        failures = 0
        while True:
            pull: Pull | None = None
            try:
                pull = await Pull.open(shared.hub, shared.subject, start)
                expected = 1
                while True:
                    await pull.request(LIVE_BATCH, expires=LIVE_EXPIRES)
                    for _ in range(LIVE_BATCH):
                        msg = await pull.next(LIVE_STALL)
                        if msg is None:
                            break
                        sequence = msg.metadata.sequence
                        if sequence.consumer != expected:
                            raise Stalled(f"consumer sequence {sequence.consumer}, not {expected}")
                        expected += 1
                        start = sequence.stream + 1
                        if sequence.stream <= shared.replayed_through:
                            continue
                        raw = await shared.envelope(msg)
                        if raw is not None:
                            self._put(sequence.stream, raw)
                    failures = 0
            except (Stalled, JetStreamRefused, nats.errors.Error, TimeoutError) as exc:
                if shared.hub.closing:
                    return
                say = shared.log.warning if failures == 0 else shared.log.debug
                say("live consumer lost (%s); making it again from stream seq %s", exc, start)
                failures += 1
            finally:
                if pull is not None:
                    shared.hub.later(pull.close())
            await asyncio.sleep(backoff_delay(failures, *LIVE_BACKOFF, self._rng))


class JetStreamJournal:
    """`replay` served from the stream, with the bridge journal's answers: pages of `limit`
    from after a position, stopping before `until`, `position_gone` (with `oldest`) when what
    came after the position is no longer retained."""

    def __init__(self, shared: SessionStream) -> None:
        self._shared = shared
        self._scans: dict[str, asyncio.Task[int]] = {}

    async def replay(self, params: Any) -> dict[str, Any]:
        request = replay_request(params)
        start = 0 if request.after is None else await self._start_after(request.after)
        return await self._read(start, request.limit, request.until)

    async def _read(self, start: int, limit: int, until: Position | None) -> dict[str, Any]:
        shared = self._shared
        pull = await Pull.open(shared.hub, shared.subject, start)
        events: list[bytes] = []
        more, through = pull.pending > 0, 0
        try:
            while more and len(events) < limit:
                wanted = limit - len(events)
                await pull.request(wanted, no_wait=True)
                got = 0
                while got < wanted and (msg := await pull.next(PULL_WAIT)) is not None:
                    got += 1
                    stream = msg.metadata.sequence.stream
                    if _is_until(until, stream, (msg.headers or {}).get(MSG_ID)):
                        more = False
                        break
                    more, through = msg.metadata.num_pending > 0, stream
                    raw = await shared.envelope(msg)
                    if raw is not None:
                        events.append(raw)
                if got == 0:
                    more = False
        finally:
            shared.hub.later(pull.close())
        shared.replayed_through = max(shared.replayed_through, through)
        return {"events": events, "more": more}

    async def _start_after(self, after: Position) -> int:
        """The stream sequence to read from, right after `after`."""
        shared, msg_id = self._shared, str(after)
        known = shared.recent.get(msg_id)
        if known is not None:
            return known + 1
        if after.stream is not None:
            # Still the same message there? (A stream made again restarts its sequences.)
            found = await self._message_at({"seq": after.stream})
            if found is not None and (found[0], found[1]) == (shared.subject, msg_id):
                return after.stream + 1
        return await self._located(after)

    async def _located(self, after: Position) -> int:
        """A scan goes on when its caller gives up (the follower's first, brief attempt): the
        next attempt finds it done, or waits for the same one."""
        key = str(after)
        scan = self._scans.get(key)
        if scan is None:
            scan = asyncio.create_task(self._scan_for(after), name=f"nats-scan[{key}]")
            self._scans[key] = scan

            def done(task: asyncio.Task[int]) -> None:
                self._scans.pop(key, None)
                if not task.cancelled():
                    task.exception()  # retrieved: whoever awaited it got it

            scan.add_done_callback(done)
        return await asyncio.shield(scan)

    def close(self) -> None:
        for scan in list(self._scans.values()):
            scan.cancel()

    async def _message_at(
        self, query: dict[str, Any], subject: str | None = None
    ) -> tuple[str, str | None, int] | None:
        """(subject, msg id, stream sequence) of the message a direct get finds, or None."""
        stream = self._shared.config.stream
        if subject is None:
            msg = await self._shared.hub.request(
                f"$JS.API.DIRECT.GET.{stream}", orjson.dumps(query)
            )
        else:  # the last message on the subject
            msg = await self._shared.hub.request(f"$JS.API.DIRECT.GET.{stream}.{subject}", b"")
        status = _status(msg)
        if status == "404":
            return None
        headers = msg.headers or {}
        if status is not None or "Nats-Sequence" not in headers:
            raise JetStreamRefused(int(status or 0), headers.get("Description", "direct get"))
        return headers.get("Nats-Subject", ""), headers.get(MSG_ID), int(headers["Nats-Sequence"])

    async def _scan_for(self, after: Position) -> int:
        """Locate `after` by reading the subject's headers from its first message (a position
        stored without its stream sequence). As the bridge journal: the event after it must
        still be there, else the position is gone."""
        shared = self._shared
        started, scanned, found = time.monotonic(), 0, None
        seen_epoch = False
        async with contextlib.aclosing(self._headers()) as headers:
            async for stream, position in headers:
                scanned += 1
                if position is None or position.epoch != after.epoch:
                    if seen_epoch:
                        break  # the epoch ended before `after`: a position never published
                    continue
                seen_epoch = True
                if position.seq == after.seq:
                    found = stream + 1
                elif position.seq == after.seq + 1:
                    found = stream  # `after` itself is gone, but nothing after it
                if found is not None or position.seq > after.seq:
                    break
        shared.stats.scans += 1
        shared.stats.scan_ms = (time.monotonic() - started) * 1000
        shared.log.info(
            "position %s %s by scanning %d message headers in %.0f ms",
            after, "located" if found else "not found", scanned, shared.stats.scan_ms,
        )  # fmt: skip
        if found is None:
            raise await self._gone(after)
        shared.recent.add(str(after), found - 1)  # the next attempt starts at once
        return found

    async def _headers(self) -> AsyncGenerator[tuple[int, Position | None]]:
        """(stream sequence, position its msg id names) of every message on the subject."""
        shared = self._shared
        pull = await Pull.open(shared.hub, shared.subject, 0, headers_only=True)
        try:
            left = pull.pending
            while left > 0:
                wanted = min(SCAN_BATCH, left)
                await pull.request(wanted, no_wait=True)
                got = 0
                while got < wanted and (msg := await pull.next(PULL_WAIT)) is not None:
                    got += 1
                    yield msg.metadata.sequence.stream, position_of((msg.headers or {}).get(MSG_ID))
                if got == 0:
                    return
                left -= got
        finally:
            shared.hub.later(pull.close())

    async def _gone(self, after: Position) -> CommandError:
        shared = self._shared

        def position(found: tuple[str, str | None, int] | None) -> dict[str, Any] | None:
            named = position_of(found[1]) if found else None
            return None if named is None else {"epoch": named.epoch, "seq": named.seq}

        oldest = await self._message_at({"seq": 1, "next_by_subj": shared.subject})
        last = await self._message_at({}, subject=shared.subject)
        return CommandError(
            "replay",
            "position_gone",
            f"position {after} is no longer in stream {shared.config.stream}",
            {"oldest": position(oldest), "last": position(last)},
        )


class NatsCommandChannel:
    """Core request/reply to the bridge holding the session; `replay` from the stream."""

    def __init__(self, shared: SessionStream) -> None:
        self._shared = shared
        self._subject = shared.config.subject(shared.session, "cmd")
        self._journal = JetStreamJournal(shared)
        self._ids = itertools.count(1)
        self._prefix = f"{shared.config.replica_id}-{os.getpid()}-"

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        seconds = self._shared.config.command_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(seconds):
                if method == "replay":
                    return await self._replay(params)
                return await self._request(method, params)
        except TimeoutError:
            raise CommandTimeout(method, seconds) from None

    async def call_idempotent(self, method: str, params: Any = None) -> Any:
        return await retried_on_timeout(lambda: self.call(method, params))

    async def _replay(self, params: Any) -> Any:
        try:
            return await self._journal.replay(params)
        except JetStreamRefused as exc:
            raise CommandError("replay", "failed", f"JetStream: {exc.description}") from None
        except (nats.errors.Error, Stalled):
            # NATS is away or slow: as a bridge that does not answer (the caller retries).
            raise TimeoutError from None

    async def _request(self, method: str, params: Any) -> Any:
        request_id = f"{self._prefix}{next(self._ids)}"
        body = orjson.dumps(
            {"id": request_id, "method": method, "params": {} if params is None else params}
        )
        wait = NO_RESPONDERS_WAIT[0]
        while True:
            try:
                reply = await self._shared.hub.request(self._subject, body)
            except (nats.errors.Error, OSError):
                reply = None  # the connection is down: as nobody answering
            if reply is not None and _status(reply) is None:
                break
            # No responders: no bridge holds the session now. Asked again until the timeout
            # around us, as a ZeroMQ request waits for a bridge to come up.
            await asyncio.sleep(wait)
            wait = min(wait * 2, NO_RESPONDERS_WAIT[1])
        try:
            message = orjson.loads(reply.data)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            raise CommandError(method, "bad_reply", "the bridge's reply is not a JSON object")
        return answer(method, message)

    def close(self) -> None:
        self._journal.close()


class NatsLink:
    """One session's events and commands over the hub's connection."""

    def __init__(self, hub: NatsHub, session: str) -> None:
        self._shared = SessionStream(hub, session)
        self.events = NatsEventSource(self._shared)
        self.commands = NatsCommandChannel(self._shared)

    @property
    def stats(self) -> NatsStats:
        return self._shared.stats

    def report(self) -> TransportReport:
        shared = self._shared
        return {
            "kind": "nats",
            "connected": shared.hub.connected,
            "stream": shared.config.stream,
            "lastStreamSeq": shared.stats.last_stream_seq,
            "fenced": shared.stats.fenced,
        }

    def close(self) -> None:
        self.events.close()
        self.commands.close()
