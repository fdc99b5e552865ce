"""The in-process MQTT broker (amqtt) for the no-server default, bound to loopback only."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

log = logging.getLogger(__name__)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedBroker:
    """amqtt on 127.0.0.1; ``port`` is the one actually bound (it may differ from the wish)."""

    def __init__(self, wanted_port: int) -> None:
        self.wanted_port = wanted_port
        self.port = wanted_port
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker  # imported late: it is only needed in embedded mode

        if self.wanted_port == 0 or not port_is_free(self.wanted_port):
            self.port = free_port()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._broker = Broker(config)
        await self._broker.start()

    @property
    def moved(self) -> bool:
        return self.port != self.wanted_port

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
