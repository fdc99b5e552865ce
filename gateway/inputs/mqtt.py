"""The MQTT source: a persistent QoS 1 subscription whose messages are acknowledged only after storage.

aiomqtt 2.x, used elsewhere in the project, offers no application-controlled acknowledgement
(upstream issue #345) and reads one packet per event-loop turn, which measured at about a third
of paho's own rate here. The gateway's inbound path therefore drives paho-mqtt 2.x directly on
the asyncio loop (the same socket-callback technique aiomqtt uses) with ``manual_ack`` on: PUBACK
is sent when the pipeline says a message is durable, and messages are handed over in bursts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from config.settings import MqttEndpoint
from gateway.inputs.mqtt_frames import Inbound, Next, split_publishes

__all__ = ["Inbound", "MqttRefused", "MqttSource"]

log = logging.getLogger(__name__)

PUBACK_HEADER = bytes([PUBACK, 2])  # MQTT 3.1.1 and 5 (success needs no reason code)
HOLD_SHORT_PAUSE = 5_000  # held while briefly paused; the rest waits in the socket buffers
HOLD_LIMIT = 100_000  # held at most in a long pause (a broker with an unbounded window)
READ_BURST = 512  # packets paho reads per socket-readable callback (TLS) before yielding to the loop
FAST_READ_BURST = 4_096  # messages split from the buffer per callback before yielding to the loop
STABLE_SESSION_S = 10.0
RECV_CHUNK = 256 * 1024


class BrokerClosed(ConnectionError):
    """The broker closed the connection (end of stream)."""


class _BufferedSocket:
    """One large ``recv`` shared by two readers: :func:`split_publishes` takes the PUBLISH packets straight from
    the buffer, and paho reads every other packet (it reads a header a byte at a time, one ``recv`` system call
    per byte on a bare socket). Everything else goes to the real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.data = b""
        self.offset = 0

    def recv(self, size: int) -> bytes:
        if self.offset >= len(self.data):
            self.data = self._sock.recv(RECV_CHUNK)  # BlockingIOError when nothing is there
            self.offset = 0
        chunk = self.data[self.offset : self.offset + size]
        self.offset += len(chunk)
        return chunk

    def fill(self) -> bool:
        """Read what the socket has behind what is still unread; False if it has nothing now."""
        try:
            received = self._sock.recv(RECV_CHUNK)
        except BlockingIOError:
            return False
        if not received:
            raise BrokerClosed("the broker closed the connection")
        rest = self.data[self.offset :]
        self.data = rest + received if rest else received
        self.offset = 0
        return True

    @property
    def buffered(self) -> int:
        return len(self.data) - self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _IngestClient(paho.Client):
    """paho's client, handing each message straight to one callback: paho would otherwise match
    every topic against its (empty, for us) table of per-filter callbacks first."""

    on_inbound: Callable[[paho.MQTTMessage], None]

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        self.on_inbound(message)


class MqttSource:
    """Keeps one persistent session subscribed, reconnecting with backoff, and hands messages on.

    ``on_messages`` is called on the event loop with each burst of messages; the caller later
    calls :meth:`ack` for them. Acks for a connection that has since been lost are dropped: the
    broker redelivers those messages on the new connection, and storage is idempotent.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        subscription: str,
        on_messages: Callable[[list[Inbound]], None],
        *,
        protocol: int = 4,
        session_expiry_s: int = 7 * 24 * 3600,
        receive_maximum: int = 40_000,
        keepalive_s: int = 30,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 15.0,
    ) -> None:
        self._endpoint = endpoint
        self._client_id = client_id
        self._subscription = subscription
        self._on_messages = on_messages
        self._protocol = protocol
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._keepalive_s = keepalive_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._generation = 0
        self._client: paho.Client | None = None
        self._buffer: list[Inbound] = []
        self._paused = False
        self._reading_stopped = False
        self._stopped_reading_at = 0.0
        self._hold_cap = HOLD_SHORT_PAUSE
        self._stopping = False
        self._sock: int | None = None
        self._buffered: _BufferedSocket | None = None
        self._starved = False
        self._lost: asyncio.Future[None] | None = None
        self._connack: asyncio.Future[None] | None = None
        self.connected = False
        self.subscribed = False
        self.connects = 0
        self.on_connection_change: Callable[[bool], None] | None = None

    # -- public API -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, subscribe and keep the session until cancelled."""
        failures = 0
        while not self._stopping:
            began = time.monotonic()
            try:
                await self._session()
            except (OSError, ConnectionError, MqttRefused, TimeoutError) as error:
                if self._stopping:
                    break
                log.warning("mqtt connection failed", extra={"error": str(error), "attempt": failures + 1})
            # Back off unless the session lasted: a broker that keeps dropping us at once (refused
            # subscription, another process taking over our client id) must not be hammered.
            failures = 0 if time.monotonic() - began >= STABLE_SESSION_S else failures + 1
            delay = min(self._backoff_max_s, self._backoff_initial_s * 2 ** min(failures, 10))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    def ack(self, tokens: Sequence[tuple[int, int, int]]) -> int:
        """Acknowledge ``(generation, mid, qos)`` tokens; returns how many reached the broker."""
        client = self._client
        if client is None or not self.connected:
            return 0
        pubacks = bytearray()
        sent = 0
        for generation, mid, qos in tokens:
            if generation != self._generation or qos == 0:
                continue
            if qos == 1:
                pubacks += PUBACK_HEADER + mid.to_bytes(2, "big")
            else:
                client.ack(mid, qos)
            sent += 1
        if pubacks:
            # One write for the whole batch: paho would queue, wake its loop and send() each
            # 4-byte PUBACK separately, two system calls per stored message.
            client._packet_queue(PUBACK, bytes(pubacks), 0, 0)
        return sent

    def pause(self) -> None:
        """Stop handing messages over; they are held here instead.

        A short pause (batches being written) holds up to ``HOLD_SHORT_PAUSE`` messages, then
        stops reading: the rest waits in the socket buffers, costing no memory here. A pause
        longer than half the keep-alive (InfluxDB down and the spool full) reads again, so that
        keep-alive answers behind the queued messages get through and the connection stays up;
        the broker's in-flight window (MQTT 5 Receive Maximum, Mosquitto's max_inflight_messages)
        bounds what is then held, and ``HOLD_LIMIT`` guards against a broker without one.
        """
        self._paused = True

    def resume(self) -> None:
        self._hold_cap = HOLD_SHORT_PAUSE
        if self._paused:
            self._paused = False
            if self._sock is not None and self._reading_stopped:
                self._reading_stopped = False
                asyncio.get_running_loop().add_reader(self._sock, self._on_readable)
            self._on_readable()  # hand over what was held, and read what waits in the buffers

    async def disconnect(self) -> None:
        """Leave the session for good (it stays on the broker: what is unacked is redelivered)."""
        self._stopping = True
        if self._client is not None and self.connected:
            self._client.disconnect()
            if self._lost is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._lost), 2)

    # -- connection lifecycle -------------------------------------------------------------------

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        self._generation += 1
        self._buffered = None
        self._buffer = []  # held messages of the last connection: the broker redelivers them
        client = self._new_client(loop)
        self._client = client
        self._lost = loop.create_future()
        self._connack = loop.create_future()
        misc = None
        try:
            connect_properties = None
            clean_start: Any = paho.MQTT_CLEAN_START_FIRST_ONLY
            if self._protocol == 5:
                clean_start = False
                connect_properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                connect_properties.SessionExpiryInterval = self._session_expiry_s
                connect_properties.ReceiveMaximum = self._receive_maximum
            await loop.run_in_executor(
                None,
                lambda: client.connect(
                    self._endpoint.host,
                    self._endpoint.port,
                    self._keepalive_s,
                    clean_start=clean_start,
                    properties=connect_properties,
                ),
            )
            misc = loop.create_task(self._misc_loop(client))
            # Only the CONNACK is awaited: with a persistent session the broker may send a long
            # backlog before it answers our SUBSCRIBE, and that backlog is exactly what we want.
            await asyncio.wait_for(asyncio.shield(self._connack), 30)
            await self._lost
        finally:
            if misc is not None:
                misc.cancel()
            self._set_connected(False)
            self.subscribed = False
            self._drop_socket()
            with contextlib.suppress(Exception):  # the socket is gone either way
                client.disconnect()
            # paho closes its socket again when the client object is collected, maybe after the
            # loop is gone: it must not call back into it then
            client.on_socket_close = client.on_socket_unregister_write = None
            client.on_socket_open = client.on_socket_register_write = None

    def _new_client(self, loop: asyncio.AbstractEventLoop) -> paho.Client:
        protocol = MQTTProtocolVersion.MQTTv5 if self._protocol == 5 else MQTTProtocolVersion.MQTTv311
        client = _IngestClient(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=protocol,
            clean_session=False if self._protocol != 5 else None,
            manual_ack=True,
        )
        if self._endpoint.username is not None:
            client.username_pw_set(self._endpoint.username, self._endpoint.password)
        if self._endpoint.tls:
            client.tls_set_context(ssl.create_default_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_inbound = self._on_message
        # paho calls these from the executor thread that runs connect(), and later from the loop
        def threadsafe(callback: Callable[..., None], *args: Any) -> None:
            loop.call_soon_threadsafe(callback, *args)

        def socket_opened(c: paho.Client, _u: Any, sock: Any) -> None:
            if not self._endpoint.tls:
                self._wrap_socket(c, sock)  # before the CONNECT packet is sent
            threadsafe(self._adopt_socket, sock)

        client.on_socket_open = socket_opened
        client.on_socket_close = lambda _c, _u, _sock: threadsafe(self._drop_socket)
        client.on_socket_register_write = lambda c, _u, sock: threadsafe(self._want_write, c, sock.fileno())
        client.on_socket_unregister_write = lambda _c, _u, _sock: threadsafe(self._write_done)
        return client

    def _wrap_socket(self, client: paho.Client, sock: Any) -> None:
        self._buffered = _BufferedSocket(sock)
        client._sock = self._buffered  # see _BufferedSocket

    # Sockets are registered by descriptor number, remembered here: paho may close a socket
    # before the loop hears of it, and a closed socket object no longer knows its number.
    def _adopt_socket(self, sock: Any) -> None:
        self._sock = sock.fileno()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        # always read a new connection, paused or not: its CONNACK must get through
        self._reading_stopped = False
        self._hold_cap = HOLD_LIMIT if self._paused else HOLD_SHORT_PAUSE
        asyncio.get_running_loop().add_reader(self._sock, self._on_readable)

    def _drop_socket(self) -> None:
        if self._sock is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._sock)
            loop.remove_writer(self._sock)
            self._sock = None

    def _want_write(self, client: paho.Client, fd: int) -> None:
        if fd >= 0 and fd == self._sock:
            asyncio.get_running_loop().add_writer(fd, self._writable, client)

    def _write_done(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_writer(self._sock)

    def _writable(self, client: paho.Client) -> None:
        try:
            client.loop_write()
        except OSError as error:
            self._connection_lost(error)

    async def _misc_loop(self, client: paho.Client) -> None:
        while client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._keep_long_pause_alive()
            await asyncio.sleep(min(1.0, self._keepalive_s / 4))
        self._connection_lost(ConnectionError("keep-alive failed"))

    def _keep_long_pause_alive(self) -> None:
        long_pause = time.monotonic() - self._stopped_reading_at >= self._keepalive_s / 2
        if self._reading_stopped and long_pause and self._hold_cap < HOLD_LIMIT and self._sock is not None:
            log.info("long pause: reading on to keep the connection alive", extra={"held": len(self._buffer)})
            self._hold_cap = HOLD_LIMIT
            self._reading_stopped = False
            asyncio.get_running_loop().add_reader(self._sock, self._on_readable)

    def _on_readable(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            if self._buffered is not None:
                self._starved = self._read_split(client, self._buffered)
            else:
                self._read_with_paho(client)
        except OSError as error:
            self._connection_lost(error)
        if self._buffer and not self._paused:
            burst, self._buffer = self._buffer, []
            self._on_messages(burst)
        elif len(self._buffer) >= self._hold_cap and not self._reading_stopped and self._sock is not None:
            if self._hold_cap >= HOLD_LIMIT:
                log.warning("holding too many messages while paused: reading stops",
                            extra={"held": len(self._buffer)})
            asyncio.get_running_loop().remove_reader(self._sock)
            self._reading_stopped = True
            self._stopped_reading_at = time.monotonic()
        if not self._reading_stopped and self._sock is not None and self._has_pending_bytes(client):
            # whole packets may wait in our buffer (or decrypted in TLS) while the socket itself
            # has nothing new to say, so it will not wake us
            asyncio.get_running_loop().call_soon(self._on_readable)

    def _read_split(self, client: paho.Client, reader: _BufferedSocket) -> bool:
        """PUBLISH packets split here (:mod:`gateway.inputs.mqtt_frames`), any other packet read by paho; True if
        it stopped for want of bytes (what is buffered is part of a packet: only the socket can wake us)."""
        starved = False
        wanted = FAST_READ_BURST if not self._paused else max(0, self._hold_cap - len(self._buffer))
        before = len(self._buffer)
        paho_reads = 0  # packets that add no message (PINGRESP, QoS 2) must not keep the loop from others either
        while len(self._buffer) - before < wanted and paho_reads < READ_BURST:
            if client._in_packet["command"]:  # paho is inside a packet: it reads on until its end
                paho_reads += 1
                if not self._paho_read(client) or client._in_packet["command"]:
                    break
                continue
            reader.offset, why = split_publishes(
                reader.data, reader.offset, mqtt5=self._protocol == 5, generation=self._generation,
                limit=wanted - (len(self._buffer) - before), into=self._buffer)
            if why is Next.OTHER_PACKET:
                paho_reads += 1
                if not self._paho_read(client):
                    break
            elif why is Next.MORE_BYTES:
                try:
                    filled = reader.fill()
                except BrokerClosed:
                    # paho hears the end of the stream itself (it reads what is left, then the empty read), so it
                    # closes its socket and reports the disconnection as it would have
                    self._paho_read(client)
                    raise
                if not filled:
                    starved = True
                    break
        if len(self._buffer) > before:
            # paho's keep-alive watches the bytes it received itself: these count too
            client._last_bytes_received = time.monotonic()
        return starved

    def _paho_read(self, client: paho.Client) -> bool:
        rc = client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._connection_lost(ConnectionError(f"read failed: {paho.error_string(rc)}"))
            return False
        return self._client is client and self._sock is not None

    def _read_with_paho(self, client: paho.Client) -> None:
        for _ in range(READ_BURST):
            before = len(self._buffer)
            rc = client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._connection_lost(ConnectionError(f"read failed: {paho.error_string(rc)}"))
                break
            if len(self._buffer) == before:
                break

    def _has_pending_bytes(self, client: paho.Client) -> bool:
        if self._buffered is not None:
            return self._buffered.buffered > 0 and not self._starved
        sock = client.socket()
        pending = getattr(sock, "pending", None)
        return bool(pending and pending() > 0)

    def _connection_lost(self, error: BaseException) -> None:
        if self._lost is not None and not self._lost.done():
            if self._stopping:  # our own disconnect at shutdown: nothing is wrong
                log.info("mqtt disconnected")
            else:
                log.warning("mqtt connection lost", extra={"error": str(error)})
            self._lost.set_result(None)
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectionError(str(error)))

    def _set_connected(self, value: bool) -> None:
        if self.connected != value:
            self.connected = value
            if self.on_connection_change is not None:
                self.on_connection_change(value)

    # -- paho callbacks (run on the event loop, inside loop_read/loop_write) -----------------------

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            if self._connack is not None and not self._connack.done():
                self._connack.set_exception(MqttRefused(f"broker refused the connection: {reason}"))
            return
        self.connects += 1
        self._set_connected(True)
        session_present = bool(flags.session_present)
        log.info("mqtt connected", extra={"session_present": session_present, "client_id": self._client_id})
        # A present session already holds our subscription; subscribing again is harmless and
        # covers a changed filter, but readiness need not wait behind the backlog for its SUBACK.
        self.subscribed = session_present
        client.subscribe(self._subscription, qos=1)
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(None)

    def _on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            self.subscribed = False
            self._connection_lost(MqttRefused(f"broker refused the subscription {self._subscription!r}: {reasons}"))
            return
        self.subscribed = True
        log.info("mqtt subscribed", extra={"filter": self._subscription})

    def _on_disconnect(self, _c: paho.Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self._connection_lost(ConnectionError(f"disconnected: {reason}"))

    def _on_message(self, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", "backslashreplace")
        self._buffer.append(
            Inbound(topic, bytes(message.payload), message.mid, message.qos, self._generation, message.retain)
        )


class MqttRefused(Exception):
    """The broker answered, and said no (bad credentials, not authorised, refused subscription)."""
