"""The ingestion path assembled: MQTT and HTTP sources → decode and validate → points → batches (spool) → the store.

The store and the credential key are handed in by the composition root (:mod:`smartcity.bootstrap`), which
builds them from :class:`~config.settings.Settings`; the gateway builds only its own parts."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from config.settings import MqttEndpoint, Settings
from devices.topics import subscription_filter
from gateway.batching.pipeline import Pipeline, PipelineLimits
from gateway.batching.spool import Spool
from gateway.inputs.http import DeviceTokens, HttpIngestLimits, HttpSource
from gateway.inputs.mqtt import MqttSource
from gateway.metrics import GatewayMetrics
from gateway.outputs import TimeSeriesStore
from gateway.processors.points import CredentialHasher, GatewayCounters, gateway_stats_point
from gateway.registry import DeviceRegistry

log = logging.getLogger(__name__)


class Gateway:
    """MQTT source (and the HTTP source, for devices without MQTT) → pipeline → store, with the device registry and
    metrics the web pages show."""

    def __init__(self, settings: Settings, store: TimeSeriesStore, credential_key: bytes,
                 mqtt_url: str | None = None, spool_dir: Path | None = None) -> None:
        """``spool_dir``: SC_DATA_DIR/spool unless given (a worker of several has its own)."""
        self.settings = settings
        self.mqtt_url = mqtt_url or settings.mqtt_url
        self.metrics = GatewayMetrics()
        self.store = store
        self.spool = Spool(spool_dir or settings.spool_dir, settings.spool_max_bytes)
        self.registry = DeviceRegistry()
        self.pipeline = Pipeline(
            self.store,
            self.spool,
            self.metrics,
            CredentialHasher(credential_key),
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
        self.device_tokens = DeviceTokens(settings.http_tokens_file)
        self.http_source = HttpSource(
            self.pipeline,
            self.device_tokens,
            HttpIngestLimits(
                max_body_bytes=settings.http_ingest_max_body_bytes,
                max_messages=settings.http_ingest_max_messages,
                wait_s=settings.http_ingest_wait_s,
                retry_after_s=settings.http_ingest_retry_after_s,
            ),
            self.metrics,
        )
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
                   "spool_points": self.spool.depth_points, "http_device_tokens": len(self.device_tokens)},
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
