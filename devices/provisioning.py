"""Broker credentials for devices: Mosquitto password and ACL files, generated from a device list.

Each device gets its own user and may publish only its own uplink topics and read only its own
``cmd`` topic, so a stolen scale cannot forge a gate's events or another stall's sales. Pure
functions; the CLI (``smartcity provision``) writes the files, and the embedded broker of
``smartcity run`` / ``gateway`` enforces the same :func:`topic_rules` for the users it makes per run.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from devices.topics import DATA_CHANNEL, PREFIX, Channel, DeviceKind, topic_for

PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's own default for its "$7$" hashes
SALT_BYTES = 12

GATEWAY_USER = "gateway"  # reads every uplink
SERVICES_USER = "services"  # the market and community services: read uplinks, send commands


@dataclass(frozen=True, slots=True)
class BrokerUser:
    username: str
    password: str
    kind: str  # gate, scale, gateway, services
    site: str


def mosquitto_password_line(username: str, password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """One line of a Mosquitto 2.x password file (PBKDF2-SHA512, the ``$7$`` format)."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    encoded_salt = base64.b64encode(salt).decode("ascii")
    return f"{username}:$7${iterations}${encoded_salt}${base64.b64encode(digest).decode('ascii')}"


def fleet_users(
    site: str,
    gates: int,
    scales: int,
    token: Callable[[int], str] = secrets.token_urlsafe,
    prefix: str = "",
) -> list[BrokerUser]:
    """Users for one site's ``{prefix}gate-01..`` and ``{prefix}scale-01..`` (the simulator's names, its
    ``id_prefix``), without the service users: a second simulated site adds its own to :func:`device_users`'s."""
    users = [BrokerUser(f"{prefix}gate-{n:02d}", token(18), DeviceKind.GATE.value, site) for n in range(1, gates + 1)]
    users += [BrokerUser(f"{prefix}scale-{n:02d}", token(18), DeviceKind.SCALE.value, site)
              for n in range(1, scales + 1)]
    return users


def device_users(
    site: str,
    gates: int,
    scales: int,
    token: Callable[[int], str] = secrets.token_urlsafe,
    gateway_password: str | None = None,
    services_password: str | None = None,
) -> list[BrokerUser]:
    """Users for ``gate-01..`` and ``scale-01..`` (the simulator's names) plus the two service users,
    whose passwords may be given (they go into the gateways' and services' SC_MQTT_URL)."""
    users = fleet_users(site, gates, scales, token)
    users.append(BrokerUser(GATEWAY_USER, gateway_password or token(24), GATEWAY_USER, site))
    users.append(BrokerUser(SERVICES_USER, services_password or token(24), SERVICES_USER, site))
    return users


def _new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def password_file(users: Iterable[BrokerUser], salt: Callable[[], bytes] = _new_salt) -> str:
    return "".join(mosquitto_password_line(u.username, u.password, salt()) + "\n" for u in users)


class Access(StrEnum):
    """What a topic rule allows, in Mosquitto's words: ``read`` is subscribe and be sent, ``write`` is publish."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class TopicRule:
    access: Access
    pattern: str  # a topic filter: + and # allowed


def topic_rules(user: BrokerUser) -> tuple[TopicRule, ...]:
    """What ``user`` may do on the broker: a device publishes only its own uplinks and reads only its own
    commands; the gateway reads every device; the services read every device and send the commands.

    The one statement of these rights: Mosquitto's ACL file and the embedded broker are both made from it."""
    everything = TopicRule(Access.READ, f"{PREFIX}/#")
    if user.kind == GATEWAY_USER:
        return (everything,)
    if user.kind == SERVICES_USER:
        return everything, TopicRule(Access.WRITE, f"{PREFIX}/+/+/+/{Channel.CMD.value}")
    kind = DeviceKind(user.kind)
    uplinks = (DATA_CHANNEL[kind], Channel.STATE, Channel.ACK)
    return (*(TopicRule(Access.WRITE, topic_for(user.site, kind, user.username, channel)) for channel in uplinks),
            TopicRule(Access.READ, topic_for(user.site, kind, user.username, Channel.CMD)))


def bound_client_id(user: BrokerUser) -> str | None:
    """The client id ``user`` must connect under (see :func:`client_id_allowed`), or None for any. A device
    connects as itself: MQTT resumes a persistent session by client id alone, so a device free to name the
    services' id would be handed their session, and the messages queued for it while they were away."""
    return None if user.kind in (GATEWAY_USER, SERVICES_USER) else user.username


def client_id_allowed(bound: str | None, client_id: str) -> bool:
    """Whether a user bound to ``bound`` may connect as ``client_id``: under that id, or ``<id>:<anything>``
    for a second connection of its own (a maintenance tool beside the running controller)."""
    return bound is None or client_id == bound or client_id.startswith(f"{bound}:")


def acl_file(users: Sequence[BrokerUser]) -> str:
    """Mosquitto ACL: devices publish only their own uplinks and read only their own commands."""
    lines = ["# Generated by `smartcity provision`. Devices: own uplinks only; gateway: read all;",
             "# services: read all and send commands.", ""]
    for user in users:
        lines.append(f"user {user.username}")
        lines += [f"topic {rule.access.value} {rule.pattern}" for rule in topic_rules(user)]
        lines.append("")
    return "\n".join(lines)


def credentials_csv(users: Iterable[BrokerUser]) -> str:
    rows = ["site,kind,username,password"]
    rows += [f"{u.site},{u.kind},{u.username},{u.password}" for u in users]
    return "\n".join(rows) + "\n"


class CredentialsFileError(ValueError):
    """A credentials.csv that cannot be read; the message says which line and why."""


def device_credentials(csv_text: str) -> dict[str, tuple[str, str]]:
    """Device id → (username, password) from a credentials.csv written by :func:`credentials_csv`."""
    lines = csv_text.splitlines()
    if not lines or lines[0].strip() != "site,kind,username,password":
        raise CredentialsFileError("line 1: expected the header site,kind,username,password")
    found: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 4 or not all(fields):
            raise CredentialsFileError(f"line {number}: expected 4 non-empty fields")
        _site, kind, username, password = fields
        if kind in (DeviceKind.GATE.value, DeviceKind.SCALE.value):
            found[username] = (username, password)
    return found
