"""The :class:`~messaging.downlink.Downlink` over MQTT (aiomqtt): its own connection, kept up with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl

import aiomqtt

from config.settings import MqttEndpoint
from devices.contract import Command
from devices.topics import Channel, DeviceKind, topic_for
from messaging.downlink import DownlinkUnavailable, command_payload

log = logging.getLogger(__name__)


PUBLISH_TIMEOUT_S = 5.0


BACKOFF_INITIAL_S = 0.2


BACKOFF_MAX_S = 15.0


class MqttDownlink:
    """A :class:`Downlink` over its own MQTT connection, kept up with backoff by :meth:`run`."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str, publish_timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        self._endpoint = endpoint
        self._client_id = client_id
        self._publish_timeout_s = publish_timeout_s
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()

    async def send(self, site: str, kind: DeviceKind, device: str, command: Command) -> None:
        client = self._client
        if client is None:
            raise DownlinkUnavailable("not connected to the MQTT broker")
        topic = topic_for(site, kind, device, Channel.CMD)
        try:
            await client.publish(topic, command_payload(command), qos=1, timeout=self._publish_timeout_s)
        except aiomqtt.MqttError as error:
            raise DownlinkUnavailable(f"the broker did not take the command: {error}") from None
        log.info("command sent", extra={"topic": topic, "cmd_id": command.cmd_id, "op": command.op})

    async def run(self) -> None:
        """Connect and stay connected until cancelled."""
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0
            except aiomqtt.MqttError as error:
                failures += 1
                log.warning("downlink connection lost", extra={"error": str(error), "attempt": failures})
            finally:
                self._client = None
                self.connected.clear()
            delay = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** min(failures, 10))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _session(self) -> None:
        endpoint = self._endpoint
        client = aiomqtt.Client(
            endpoint.host,
            endpoint.port,
            username=endpoint.username,
            password=endpoint.password,
            identifier=self._client_id,
            tls_context=ssl.create_default_context() if endpoint.tls else None,
            timeout=self._publish_timeout_s,
        )
        async with client:
            self._client = client
            self.connected.set()
            log.info("downlink connected", extra={"mqtt": str(endpoint)})
            # Nothing is subscribed: iterating ends with an MqttError when the connection is lost.
            async for _message in client.messages:
                pass
