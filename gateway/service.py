"""The composition root of the gateway: builds every part from :class:`Settings` in one place."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

from devices.topics import subscription_filter
from gateway.local_secrets import configured_or_generated
from gateway.metrics import GatewayMetrics
from gateway.mqtt_source import MqttSource
from gateway.pipeline import Pipeline, PipelineLimits
from gateway.points import CredentialHasher, GatewayCounters, gateway_stats_point
from gateway.registry import DeviceRegistry
from gateway.settings import MqttEndpoint, Settings
from gateway.sinks import TimeSeriesStore
from gateway.sinks.embedded import EmbeddedStore
from gateway.sinks.influxdb import InfluxStore
from gateway.spool import Spool

log = logging.getLogger(__name__)


def build_store(settings: Settings) -> TimeSeriesStore:
    if settings.influx_url is None:
        return EmbeddedStore(settings.data_dir / "timeseries.sqlite")
    return InfluxStore(
        settings.influx_url,
        settings.influx_db,
        token=settings.influx_token.get_secret_value() if settings.influx_token else None,
        username=settings.influx_user,
        password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        timeout_s=settings.write_timeout_s,
        create_database=settings.influx_create_db,
    )


def credential_key(settings: Settings) -> bytes:
    """The configured key, else one generated once and kept (mode 0600) under the data directory."""
    configured = settings.credential_hash_key.get_secret_value() if settings.credential_hash_key else None
    return configured_or_generated(configured, settings.data_dir / "credential-hash.key", "SC_CREDENTIAL_HASH_KEY")


GATE_KEY_LABEL = b"smartcity gate site key v1"


def gate_site_key(settings: Settings) -> bytes:
    """The key gates hash what their readers see with: derived from the credential hash key, so one
    setting serves both, yet a key taken out of a stolen controller does not reverse the time
    series' hashes (a different key, and a one-way step from the configured one)."""
    return hmac.new(credential_key(settings), GATE_KEY_LABEL, hashlib.sha256).hexdigest().encode()


def visitor_pass_key(settings: Settings) -> bytes:
    """The key visitor passes are signed with; the gates hold it too, to check passes offline."""
    configured = settings.visitor_pass_key.get_secret_value() if settings.visitor_pass_key else None
    return configured_or_generated(configured, settings.data_dir / "visitor-pass.key", "SC_VISITOR_PASS_KEY")


class Gateway:
    """MQTT source → pipeline → store, with the device registry and metrics the web pages show."""

    def __init__(self, settings: Settings, mqtt_url: str | None = None) -> None:
        self.settings = settings
        self.mqtt_url = mqtt_url or settings.mqtt_url
        self.metrics = GatewayMetrics()
        self.store = build_store(settings)
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        self.registry = DeviceRegistry()
        self.pipeline = Pipeline(
            self.store,
            self.spool,
            self.metrics,
            CredentialHasher(credential_key(settings)),
            PipelineLimits(
                batch_size=settings.batch_size,
                batch_interval_s=settings.batch_interval_ms / 1000,
                max_batches_in_flight=settings.max_batches_in_flight,
                max_payload_bytes=settings.max_payload_bytes,
                dead_letter_payload_bytes=settings.dead_letter_payload_bytes,
                write_retries=settings.write_retries,
            ),
            listeners=[self.registry],
        )
        self.source = MqttSource(
            MqttEndpoint.parse(self.mqtt_url),
            settings.mqtt_client_id,
            subscription_filter(settings.mqtt_share_group or None),
            self.pipeline.on_messages,
            protocol=settings.mqtt_protocol,
            session_expiry_s=settings.mqtt_session_expiry_s,
            receive_maximum=settings.mqtt_receive_maximum,
            keepalive_s=settings.mqtt_keepalive_s,
        )
        self.source.on_connection_change = lambda up: self.metrics.broker_connected.set(1 if up else 0)
        self.pipeline.attach(self.source)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.store.open()
        self._tasks = [
            asyncio.create_task(self.pipeline.run(), name="pipeline"),
            asyncio.create_task(self.source.run(), name="mqtt-source"),
            asyncio.create_task(self._record_counters(), name="gateway-stats"),
        ]
        log.info(
            "gateway started",
            extra={"mqtt": str(MqttEndpoint.parse(self.mqtt_url)), "store": self.store.name,
                   "spool_points": self.spool.depth_points},
        )

    async def stop(self) -> None:
        """Stop taking messages, store and ack everything received, then close."""
        self.source.pause()
        await self.pipeline.drain()
        await self.source.disconnect()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()
        log.info("gateway stopped", extra={"spool_points": self.spool.depth_points})

    def counters(self) -> GatewayCounters:
        m = self.metrics
        stored = m.by_label("sc_gateway_messages_stored_total", "to")
        return GatewayCounters(
            received=int(sum(m.by_label("sc_gateway_messages_received_total", "channel").values())),
            stored=int(sum(stored.values())),
            spooled=int(stored.get("spool", 0)),
            dead_letters=int(sum(m.by_label("sc_gateway_dead_letters_total", "reason").values())),
            spool_points=self.spool.depth_points,
            batches_in_flight=int(m.value("sc_gateway_batches_in_flight")),
            broker_connected=self.source.connected,
            store_up=self.pipeline.store_up,
        )

    async def _record_counters(self) -> None:
        """Every SC_STATS_INTERVAL_S, the gateway's counters go into the time series too, so that
        dashboards built on InfluxDB alone show throughput, dead letters and spool depth."""
        interval = self.settings.stats_interval_s
        while True:
            await asyncio.sleep(interval)
            point = gateway_stats_point(self.settings.site, self.settings.mqtt_client_id, self.counters(),
                                        time.time_ns())
            self.pipeline.add_internal_point(point)

    def readiness(self) -> dict[str, bool]:
        return {
            "broker_connected": self.source.connected and self.source.subscribed,
            "store_up": self.pipeline.store_up,
            "spool_has_room": self.spool.depth_bytes < self.settings.spool_max_bytes * 0.95,
        }
