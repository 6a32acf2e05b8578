"""Prometheus metrics, read from the components' own counters at scrape time, so the event
path pays nothing for them. Only the send latency is observed as it happens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.eventlog import EventLog
from orchestrator.follower import BridgeFollower
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.pacing import Pacer
from orchestrator.state import State
from orchestrator.streams import Streams
from orchestrator.supervisor import BridgeSupervisor
from orchestrator.writebehind import WriteBehind


def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


@dataclass(frozen=True)
class Measured:
    """The components whose counters are exported."""

    follower: BridgeFollower
    supervisor: BridgeSupervisor | None
    lifecycle: ConnectionLifecycle
    streams: Streams
    event_log: EventLog
    pacer: Pacer
    writebehind: WriteBehind
    state: State


class ComponentCollector(Collector):
    def __init__(self, measured: Measured) -> None:
        self.measured = measured

    def collect(self) -> Iterator[Metric]:
        rt = self.measured
        f = rt.follower.stats
        yield counter("wa_bridge_events_received", "envelopes received from the bridge", f.received)
        yield counter("wa_bridge_events_applied", "events applied, exactly once", f.applied)
        yield counter("wa_bridge_duplicates", "events discarded as already applied", f.duplicates)
        yield counter("wa_bridge_malformed", "envelopes skipped as malformed", f.malformed)
        yield counter("wa_bridge_gaps", "seq gaps detected", f.gaps)
        yield counter("wa_bridge_replays", "replay requests", f.replays)
        yield counter("wa_bridge_replayed", "events recovered by replay", f.replayed)
        yield counter("wa_bridge_epoch_changes", "bridge restarts followed", f.epoch_changes)
        yield counter("wa_bridge_positions_lost", "replays from a position gone", f.positions_lost)
        yield gauge("wa_bridge_alive", "1 while heartbeats arrive", float(rt.follower.alive))
        silence = rt.follower.silence
        yield gauge("wa_bridge_silence_seconds", "since the bridge last spoke", silence or 0.0)
        if rt.supervisor is not None:
            yield counter("wa_bridge_restarts", "bridge process restarts", rt.supervisor.restarts)

        lc = rt.lifecycle
        yield gauge("wa_whatsapp_connected", "1 while WhatsApp is open", float(lc.connected))
        yield counter("wa_whatsapp_reconnects", "connect commands sent", lc.reconnects)
        closes = CounterMetricFamily(
            "wa_whatsapp_closes", "connection closes by status code", labels=["reason"]
        )
        for code, count in sorted(lc.closes.items(), key=lambda item: str(item[0])):
            closes.add_metric([str(code)], count)
        yield closes

        s = rt.streams.stats
        clients = GaugeMetricFamily(
            "wa_stream_clients", "connected stream clients", labels=["kind"]
        )
        clients.add_metric(["sse"], s.sse)
        clients.add_metric(["websocket"], s.websocket)
        yield clients
        yield counter(
            "wa_stream_dropped_slow", "stream clients dropped as too slow", s.dropped_slow
        )
        yield counter("wa_stream_resyncs", "resync envelopes sent", s.resyncs)
        yield gauge("wa_stream_log_entries", "stream events retained", len(rt.event_log))

        pacer = rt.pacer
        yield gauge("wa_send_queue_waiting", "sends waiting for the number's pace", pacer.waiting)
        yield counter("wa_send_paced", "sends that went out", pacer.sent)
        yield counter("wa_send_delayed", "sends that had to wait for the pace", pacer.delayed)
        yield counter("wa_send_refused", "sends refused: the queue was full", pacer.refused)

        wb = rt.writebehind
        yield gauge("wa_store_up", "1 while store writes succeed", float(wb.stats.store_up))
        yield gauge("wa_store_pending_rows", "changes not yet in the store", wb.pending)
        yield gauge(
            "wa_store_lag_seconds", "age of the oldest change not yet stored", wb.lag_seconds
        )
        yield counter("wa_store_written_rows", "rows written to the store", wb.stats.written_rows)
        yield counter("wa_store_failures", "failed store writes", wb.stats.failures)
        yield counter(
            "wa_store_spilled_batches", "batches spilled to disk", wb.stats.spilled_batches
        )

        st = rt.state.stats
        yield gauge("wa_state_chats", "chats in RAM", len(rt.state.chats))
        yield gauge("wa_state_messages", "messages in RAM", st.messages)
        yield gauge("wa_state_contacts", "contacts in RAM", len(rt.state.contacts))
        yield counter("wa_state_evicted", "messages evicted by the RAM bounds", st.evicted)
        yield counter(
            "wa_normalize_unreadable", "event parts that could not be read", st.unreadable
        )
        yield counter("wa_state_orphan_updates", "updates for unknown messages", st.orphan_updates)
        waiting = rt.state.waiting
        yield gauge(
            "wa_messages_waiting", "messages not decrypted yet (type waiting)", waiting.count
        )
        yield counter(
            "wa_messages_waiting_resolved",
            "waiting messages that got their content (or an edit's text)",
            waiting.resolved,
        )


def build_registry(measured: Measured) -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    registry.register(ComponentCollector(measured))
    send_latency = Histogram(
        "wa_send_seconds",
        "sendMessage round trip through the bridge",
        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 120),
        registry=registry,
    )
    return registry, send_latency
