"""Prometheus metrics of the notifications, on a registry of their own (served at /metrics beside the gateway's,
or alone by ``smartcity services``): deliveries by channel and outcome, the outbox's depth, the deliveries waiting,
and the age of the oldest event not yet delivered — the one to alert on (a receiver down, a dispatcher stuck)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

SENT, RETRY, FAILED = "sent", "retry", "failed"
"""Outcomes of an attempt: taken by the receiver; failed and tried again later; failed for good (delivery log)."""


class NotificationMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "sc_notify_deliveries", "Delivery attempts, by channel and outcome (sent, retry: failed and to be tried "
            "again, failed: given up and shown on the delivery log)", ["channel", "outcome"], registry=r)
        self.outbox_depth = Gauge("sc_notify_outbox_depth", "Events recorded and not yet expanded into deliveries",
                                  registry=r)
        self.pending = Gauge("sc_notify_deliveries_pending", "Deliveries not yet through (held by quiet hours "
                             "included)", registry=r)
        self.oldest_age = Gauge(
            "sc_notify_oldest_undelivered_seconds", "Age of the oldest event not yet delivered: an outbox event not "
            "expanded, or a pending delivery not held by quiet hours (0: none)", registry=r)
        self.lanes = Gauge("sc_notify_lanes_in_flight", "Lanes (recipient and channel) delivering now", registry=r)

    def value(self, name: str, **labels: str) -> float:
        found = self.registry.get_sample_value(name, labels)
        return found if found is not None else 0.0
