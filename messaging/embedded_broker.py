"""The in-process MQTT broker (amqtt) for the no-server default, bound to loopback only.

It takes no anonymous client: each run makes its own users (the gateway, the services and one per
simulated device, :func:`devices.provisioning.device_users`) with fresh passwords, and holds each to
the topic rights ``smartcity provision`` gives Mosquitto. The clear passwords are written, mode 0600,
to a credentials file in ``credentials.csv``'s format for whoever else on this machine should connect
(a ``smartcity simulate --credentials``, a test), and removed when the broker stops.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devices.provisioning import Access, BrokerUser, bound_client_id, credentials_csv, topic_rules
from devices.topics import DeviceKind

log = logging.getLogger(__name__)

HOST = "127.0.0.1"

CREDENTIALS_FILE = "embedded-broker-credentials.csv"
"""Under SC_DATA_DIR (``smartcity run`` / ``gateway``): the running broker's users and passwords, mode 0600."""


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def access_config(users: Sequence[BrokerUser]) -> dict[str, Any]:
    """The access plugin's configuration: each user's password, client id and topic rights."""
    def patterns(user: BrokerUser, access: Access) -> list[str]:
        return [rule.pattern for rule in topic_rules(user) if rule.access is access]

    return {
        "passwords": {user.username: user.password for user in users},
        "client_ids": {user.username: client_id for user in users if (client_id := bound_client_id(user))},
        "publish": {user.username: patterns(user, Access.WRITE) for user in users},
        "read": {user.username: patterns(user, Access.READ) for user in users},
    }


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user alone, the file never open to others meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # a file left by an earlier run keeps its mode under O_CREAT
        file.write(text)


class EmbeddedBroker:
    """amqtt on 127.0.0.1 for ``users`` alone; ``port`` is the one actually bound (it may differ from the wish).

    ``credentials_file``: where the users' passwords are written while the broker runs (none: not written).
    """

    def __init__(self, wanted_port: int, users: Sequence[BrokerUser], credentials_file: Path | None = None) -> None:
        self.wanted_port = wanted_port
        self.port = wanted_port
        self.users = tuple(users)
        self.credentials_file = credentials_file
        self._broker: Any = None

    async def start(self) -> None:
        from messaging.embedded_broker_access import PLUGIN, SubscribersOnlyBroker  # late: it imports amqtt

        if self.wanted_port == 0 or not port_is_free(self.wanted_port):
            self.port = free_port()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{self.port}"}},
            "plugins": {PLUGIN: access_config(self.users)},
        }
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        if self.credentials_file is not None:  # first: a folder that cannot take it stops us before we serve
            write_private(self.credentials_file, credentials_csv(self.users))
        self._broker = SubscribersOnlyBroker(config)
        try:
            await self._broker.start()
        except BaseException:
            self._broker = None
            self._forget_credentials()
            raise

    @property
    def moved(self) -> bool:
        return self.port != self.wanted_port

    @property
    def url(self) -> str:
        """The broker's address, with no user: what the simulated devices reach with their own."""
        return f"mqtt://{HOST}:{self.port}"

    def url_for(self, username: str) -> str:
        """The broker's address with ``username``'s login in it (SC_MQTT_URL's form)."""
        user = next((user for user in self.users if user.username == username), None)
        if user is None:
            raise KeyError(f"the embedded broker has no user {username!r}")
        return f"mqtt://{quote(user.username, safe='')}:{quote(user.password, safe='')}@{HOST}:{self.port}"

    def device_credentials(self) -> dict[str, tuple[str, str]]:
        """Device id → (username, password) of every device user, as the simulator takes them."""
        devices = {DeviceKind.GATE.value, DeviceKind.SCALE.value}
        return {user.username: (user.username, user.password) for user in self.users if user.kind in devices}

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
        self._forget_credentials()

    def _forget_credentials(self) -> None:
        if self.credentials_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.credentials_file.unlink()
