"""A cheap MQTT 3.1.1 QoS 1 publisher for load: pre-encoded PUBLISH packets over a plain socket.

paho spends ~200 µs of Python per QoS 1 publish; on a 2-core machine the load generator would
then measure itself, not the gateway. This one writes packets in bulk and counts PUBACKs.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence


def _varint(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, keepalive: int = 0, clean: bool = True) -> bytes:
    flags = 0x02 if clean else 0x00
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _string(client_id)
    return bytes([0x10]) + _varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int, qos: int = 1, retain: bool = False) -> bytes:
    header = 0x30 | (qos << 1) | (1 if retain else 0)
    body = _string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return bytes([header]) + _varint(len(body)) + body


class RawPublisher:
    """Publishes QoS 1 messages as fast as asked; ``acked`` counts the broker's PUBACKs."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(client_id))
        connack = self._recv_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the load publisher: {connack!r}")
        self.acked = 0
        self.sent = 0
        self._next_id = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _recv_exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        buffer = b""
        while not self._closed:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            # PUBACK is 0x40 0x02 <id>: four bytes each, the only packet a publisher gets here
            whole = len(buffer) // 4
            self.acked += whole
            buffer = buffer[whole * 4 :]

    def packets(self, messages: Iterable[tuple[str, bytes]]) -> list[bytes]:
        """Encode messages now, so that sending later costs almost nothing."""
        encoded = []
        for topic, payload in messages:
            self._next_id = self._next_id % 65535 + 1
            encoded.append(publish_packet(topic, payload, self._next_id))
        return encoded

    def send(self, packets: Sequence[bytes]) -> None:
        # keep under 65,535 unacknowledged: packet ids are reused after that
        while self.sent + len(packets) - self.acked > 60_000:
            time.sleep(0.001)
        self._sock.sendall(b"".join(packets))
        self.sent += len(packets)

    def wait_acked(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.sent - self.acked} of {self.sent} publishes not acknowledged")
            time.sleep(0.01)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
        self._sock.close()


def publish_backlog(port: int, messages: Sequence[tuple[str, bytes]], client_id: str) -> None:
    """Queue messages (QoS 1) and return once the broker has acknowledged every one."""
    publisher = RawPublisher("127.0.0.1", port, client_id)
    packets = publisher.packets(messages)
    for offset in range(0, len(packets), 2000):
        publisher.send(packets[offset : offset + 2000])
    publisher.wait_acked()
    publisher.close()
