"""Prometheus metrics of one gateway, on a registry of its own (several gateways can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "sc_gateway_messages_received", "Messages received, by channel and by transport (mqtt, http)",
            ["channel", "transport"], registry=r
        )
        self.http_answers = Counter(
            "sc_gateway_http_ingest_requests",
            "HTTP ingestion requests, by the status answered (200, 401, 403, 413, 422, 429, ...)",
            ["status"], registry=r,
        )
        self.stored = Counter(
            "sc_gateway_messages_stored",
            "Messages durably stored, by where (store or spool); then acknowledged, unless their "
            "connection was lost meanwhile (the broker redelivers them)",
            ["to"],
            registry=r,
        )
        self.dead_letters = Counter(
            "sc_gateway_dead_letters", "Messages rejected to the dead-letter store, by reason", ["reason"], registry=r
        )
        self.rejected_by_store = Counter(
            "sc_gateway_points_rejected_by_store", "Points the time-series store refused outright", registry=r
        )
        self.replayed = Counter("sc_gateway_points_replayed", "Points replayed from the spool", registry=r)
        self.batch_seconds = Histogram(
            "sc_gateway_batch_write_seconds",
            "Time from a batch's first message to its acknowledgement",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.spool_points = Gauge("sc_gateway_spool_depth_points", "Points waiting in the spool", registry=r)
        self.spool_bytes = Gauge("sc_gateway_spool_depth_bytes", "Bytes waiting in the spool", registry=r)
        self.in_flight = Gauge("sc_gateway_batches_in_flight", "Batches being written", registry=r)
        self.broker_connected = Gauge("sc_gateway_broker_connected", "1 while connected to the broker", registry=r)
        self.store_up = Gauge("sc_gateway_store_up", "1 while the time-series store takes writes", registry=r)
        self.paused = Gauge("sc_gateway_intake_paused", "1 while intake is paused (backpressure)", registry=r)

    def value(self, name: str, **labels: str) -> float:
        found = self.registry.get_sample_value(name, labels)
        return found if found is not None else 0.0

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """Current value of each labelled sample of a counter, e.g. dead letters by reason, summed over its other
        labels (messages received by channel, whichever their transport)."""
        values: dict[str, float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == name and label in sample.labels:
                    key = sample.labels[label]
                    values[key] = values.get(key, 0.0) + sample.value
        return values
