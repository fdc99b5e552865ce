"""A bridge's Prometheus metrics, on a registry of its own, and the small HTTP server that serves them at /metrics.

The same counters as the gates' retained states, for a scraper: events forwarded (and read back from the device's
store), dead-lettered by reason, commands by outcome, whether each device answers, pushes refused. Every metric
carries ``vendor`` (``uhppote``, ``hikvision``) so both bridges read alike on one dashboard; ``gate`` is a configured
gate id and ``op`` one of the gate's operations, so no label takes values from the network.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from devices.gate_commands import OPEN, REVOKE_CREDENTIALS, SYNC_WHITELIST, UPSERT_CREDENTIALS

GATE_OPS: Final = frozenset({SYNC_WHITELIST, UPSERT_CREDENTIALS, REVOKE_CREDENTIALS, OPEN})


class BridgeMetrics:
    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self.registry = CollectorRegistry()
        r = self.registry
        self._forwarded = Counter(
            "sc_bridge_events_forwarded", "Events published as contract gate events, by gate",
            ["vendor", "gate"], registry=r)
        self._read_back = Counter(
            "sc_bridge_events_read_back",
            "Of those, events the bridge read back from the device's store (published with offline: true)",
            ["vendor", "gate"], registry=r)
        self._dead_lettered = Counter(
            "sc_bridge_events_dead_lettered",
            "Events and pushes published for the gateway to dead-letter, by reason (unmapped, invalid_json, ...)",
            ["vendor", "gate", "reason"], registry=r)
        self._commands = Counter(
            "sc_bridge_commands",
            "Commands by op and outcome: applied (acked ok), refused (acked not ok), failed (the device did not "
            "carry it out: not acked, the platform retries), invalid (not a contract command)",
            ["vendor", "gate", "op", "outcome"], registry=r)
        self._online = Gauge(
            "sc_bridge_device_online", "1 while the device answers the bridge (its gate's state says online)",
            ["vendor", "gate"], registry=r)
        self._refused = Counter(
            "sc_bridge_pushes_refused",
            "Pushes the listener refused, by reason: address, token (Hikvision, answered 403); bad_packet, "
            "unknown_controller (UHPPOTE)",
            ["vendor", "reason"], registry=r)

    def forwarded(self, gate: str, read_back: bool) -> None:
        self._forwarded.labels(self.vendor, gate).inc()
        if read_back:
            self._read_back.labels(self.vendor, gate).inc()

    def dead_lettered(self, gate: str, reason: str) -> None:
        self._dead_lettered.labels(self.vendor, gate, reason).inc()

    def command(self, gate: str, op: str, outcome: str) -> None:
        self._commands.labels(self.vendor, gate, op if op in GATE_OPS else "other", outcome).inc()

    def device_online(self, gate: str, online: bool) -> None:
        self._online.labels(self.vendor, gate).set(1 if online else 0)

    def push_refused(self, reason: str) -> None:
        self._refused.labels(self.vendor, reason).inc()


def metrics_app(metrics: BridgeMetrics) -> web.Application:
    async def scrape(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    return app


async def serve_metrics(metrics: BridgeMetrics, host: str, port: int) -> web.AppRunner:
    """Serve /metrics on ``host:port`` until the returned runner is cleaned up."""
    runner = web.AppRunner(metrics_app(metrics), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
