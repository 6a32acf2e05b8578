"""Prometheus metrics, read from the components' own counters at scrape time, so the event
path pays nothing for them. Only the send latency is observed as it happens. Every series of a
WhatsApp number carries its `session` label; the stream clients and the stream log are shared."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from orchestrator.callpolicy import CallPolicy
from orchestrator.calls import Call
from orchestrator.eventlog import EventLog
from orchestrator.normalize.filters import IGNORE_KINDS
from orchestrator.session import Session
from orchestrator.streams import Streams
from orchestrator.webhook_delivery import Webhooks

Family = CounterMetricFamily | GaugeMetricFamily


class Families:
    """Samples gathered session by session into one family per metric name."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def add(
        self,
        kind: type[Family],
        name: str,
        documentation: str,
        value: float,
        labels: dict[str, str],
    ) -> None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = kind(name, documentation, labels=list(labels))
        family.add_metric(list(labels.values()), value)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


class SessionsCollector(Collector):
    def __init__(
        self, sessions: Callable[[], Iterable[Session]], streams: Streams, event_log: EventLog
    ) -> None:
        self._sessions = sessions
        self._streams = streams
        self._event_log = event_log

    def collect(self) -> Iterator[Metric]:
        families = Families()
        for session in self._sessions():
            _session_samples(families, session)
        yield from families

        s = self._streams.stats
        clients = GaugeMetricFamily(
            "wa_stream_clients", "connected stream clients", labels=["kind"]
        )
        clients.add_metric(["sse"], s.sse)
        clients.add_metric(["websocket"], s.websocket)
        yield clients
        yield CounterMetricFamily(
            "wa_stream_dropped_slow", "stream clients dropped as too slow", value=s.dropped_slow
        )
        yield CounterMetricFamily("wa_stream_resyncs", "resync envelopes sent", value=s.resyncs)
        yield GaugeMetricFamily(
            "wa_stream_log_entries", "stream events retained", value=len(self._event_log)
        )


def _session_samples(families: Families, rt: Session) -> None:
    one = {"session": rt.id}

    def counter(name: str, documentation: str, value: float, **labels: str) -> None:
        families.add(CounterMetricFamily, name, documentation, value, {**one, **labels})

    def gauge(name: str, documentation: str, value: float, **labels: str) -> None:
        families.add(GaugeMetricFamily, name, documentation, value, {**one, **labels})

    f = rt.follower.stats
    counter("wa_bridge_events_received", "envelopes received from the bridge", f.received)
    counter("wa_bridge_events_applied", "events applied, exactly once", f.applied)
    counter("wa_bridge_duplicates", "events discarded as already applied", f.duplicates)
    counter("wa_bridge_malformed", "envelopes skipped as malformed", f.malformed)
    counter("wa_bridge_gaps", "seq gaps detected", f.gaps)
    counter("wa_bridge_replays", "replay requests", f.replays)
    counter("wa_bridge_replayed", "events recovered by replay", f.replayed)
    counter("wa_bridge_epoch_changes", "bridge restarts followed", f.epoch_changes)
    counter("wa_bridge_positions_lost", "replays from a position gone", f.positions_lost)
    gauge("wa_bridge_alive", "1 while heartbeats arrive", float(rt.follower.alive))
    gauge("wa_bridge_silence_seconds", "since the bridge last spoke", rt.follower.silence or 0.0)
    if rt.supervisor is not None:
        counter("wa_bridge_restarts", "bridge process restarts", rt.supervisor.restarts)
    transport = rt.link.report()
    if transport["fenced"] is not None:
        counter(
            "wa_nats_fenced",
            "events dropped: published under an outdated lease",
            transport["fenced"],
        )

    lc = rt.lifecycle
    gauge("wa_whatsapp_connected", "1 while WhatsApp is open", float(lc.connected))
    counter("wa_whatsapp_reconnects", "connect commands sent", lc.reconnects)
    for code, count in sorted(lc.closes.items(), key=lambda item: str(item[0])):
        counter("wa_whatsapp_closes", "connection closes by status code", count, reason=str(code))

    pacer = rt.pacer
    gauge("wa_send_queue_waiting", "sends waiting for the number's pace", pacer.waiting)
    counter("wa_send_paced", "sends that went out", pacer.sent)
    counter("wa_send_delayed", "sends that had to wait for the pace", pacer.delayed)
    counter("wa_send_refused", "sends refused: the queue was full", pacer.refused)

    wb = rt.writebehind
    gauge("wa_store_up", "1 while store writes succeed", float(wb.stats.store_up))
    gauge("wa_store_pending_rows", "changes not yet in the store", wb.pending)
    gauge("wa_store_lag_seconds", "age of the oldest change not yet stored", wb.lag_seconds)
    counter("wa_store_written_rows", "rows written to the store", wb.stats.written_rows)
    counter("wa_store_failures", "failed store writes", wb.stats.failures)
    counter("wa_store_spilled_batches", "batches spilled to disk", wb.stats.spilled_batches)

    normalizer = rt.normalizer
    for kind in IGNORE_KINDS:
        counter(
            "wa_ignored", "event items dropped by ORCH_IGNORE, by kind",
            normalizer.ignored[kind], kind=kind,
        )  # fmt: skip
    counter(
        "wa_history_dropped",
        "history-sync messages dropped by ORCH_HISTORY (none, or older than days:N)",
        normalizer.history_dropped,
    )

    st = rt.state.stats
    gauge("wa_state_chats", "chats in RAM", len(rt.state.chats))
    gauge("wa_state_messages", "messages in RAM", st.messages)
    gauge("wa_state_contacts", "contacts in RAM", len(rt.state.contacts))
    counter("wa_state_evicted", "messages evicted by the RAM bounds", st.evicted)
    counter("wa_normalize_unreadable", "event parts that could not be read", st.unreadable)
    counter("wa_state_orphan_updates", "updates for unknown messages", st.orphan_updates)
    waiting = rt.state.waiting
    gauge("wa_messages_waiting", "messages not decrypted yet (type waiting)", waiting.count)
    counter(
        "wa_messages_waiting_resolved",
        "waiting messages that got their content (or an edit's text)",
        waiting.resolved,
    )

    call_samples(families, rt.calls, one)

    rules = rt.rules.stats
    for rule, count in sorted(rules.replies.items()):
        counter("wa_auto_replies", "automatic replies queued, by rule", count, rule=rule)
    counter("wa_rule_assignments", "chats given to an agent by round robin", rules.assigned)
    counter(
        "wa_rule_repeats",
        "rule runs found recorded already (a replay, a duplicate event, another replica)",
        rules.repeats,
    )
    counter("wa_rule_failures", "rule runs that could not act", rules.failures)


def call_samples(families: Families, calls: CallPolicy, labels: dict[str, str]) -> None:
    def counter(name: str, documentation: str, value: float) -> None:
        families.add(CounterMetricFamily, name, documentation, value, labels)

    counter("wa_calls", "incoming call offers seen", calls.seen)
    counter("wa_calls_rejected", "incoming calls declined (ORCH_REJECT_CALLS)", calls.rejected)
    counter("wa_calls_reject_failures", "declines the bridge could not send", calls.reject_failures)
    counter(
        "wa_call_reject_messages", "ORCH_CALL_REJECT_MESSAGE texts sent to callers", calls.messages
    )
    counter(
        "wa_call_reject_message_failures",
        "reject messages refused by the send queue or failed",
        calls.message_failures,
    )


def send_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "wa_send_seconds",
        "sendMessage round trip through the bridge",
        labelnames=["session"],
        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 120),
        registry=registry,
    )


def webhook_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "wa_webhook_latency_seconds",
        "webhook attempt round trip (answered or not)",
        labelnames=["webhook"],
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        registry=registry,
    )


class WebhooksCollector(Collector):
    """Each endpoint's counters and queue, read from the dispatcher at scrape time."""

    def __init__(self, webhooks: Webhooks) -> None:
        self._webhooks = webhooks

    def collect(self) -> Iterator[Metric]:
        families = Families()
        webhooks = self._webhooks
        for webhook_id, endpoint in webhooks.endpoints.items():
            stats = webhooks.stats.get(webhook_id)
            if stats is None:
                continue
            one = {"webhook": webhook_id}
            health = webhooks.health(webhook_id)
            for name, documentation, value in (
                ("delivered", "deliveries made", stats.delivered),
                ("failed", "failed attempts (each retry counts)", stats.failed),
                ("dead", "deliveries given up, to the dead letters", stats.dead),
            ):
                families.add(CounterMetricFamily, f"wa_webhook_{name}", documentation, value, one)
            oldest = health["oldestPendingSeconds"]
            for name, documentation, gauge in (
                ("pending", "deliveries not made yet", health["pending"]),
                ("retrying", "deliveries waiting to retry", health["retrying"]),
                ("dead_letters", "dead letters held", health["deadLetters"]),
                ("oldest_pending_seconds", "age of the oldest delivery not made", oldest or 0),
                ("enabled", "1 while the endpoint is enabled", int(endpoint.enabled)),
            ):
                families.add(GaugeMetricFamily, f"wa_webhook_{name}", documentation, gauge, one)
        yield from families


class MetricsApi:
    """`/metrics`, for admins: every session's series and the shared ones."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    async def metrics(self, call: Call[None]) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
