"""The bridge's configuration: a TOML file (``--config`` or ``SC_HIKVISION_CONFIG``) naming the terminals.

The MQTT broker and the site key come from the usual ``SC_`` settings (``SC_MQTT_URL``, ``SC_CREDENTIAL_HASH_KEY``);
the terminals are a list with their ISAPI passwords, which belongs in a file readable by the bridge only (0600;
docs/devices.md)::

    listen = "0.0.0.0:8088"          # where the terminals push their events (their HTTP listening host)
    state_dir = "/var/lib/smartcity/hikvision"
    credentials_file = "/etc/smartcity/hikvision-credentials.txt"   # optional: card numbers, face references
    max_picture_bytes = 2097152      # a push with a bigger picture is refused (413)
    pictures_max_total_bytes = 536870912
    pictures_keep_days = 180         # pictures older than this are deleted (faces are personal data)

    [[terminals]]
    gate = "north-gate-02"           # the gate's device id; the terminal pushes to /hikvision/north-gate-02
    site = "north-compound"
    url = "http://192.168.1.64"      # its ISAPI address
    username = "admin"
    password = "…"
    doors = 1
    push_from = ["192.168.1.64"]     # optional: the addresses its pushes come from (default: the url's host)
    push_token = "…"                 # optional: it pushes to /hikvision/north-gate-02/<push_token>
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bridges.config_files import BridgeConfigError, ListenAddress, listed_lines, listen_host_and_port, load_toml
from devices.contract import DeviceId

MIB = 1024 * 1024


class TerminalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    gate: DeviceId
    site: DeviceId
    url: Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+/?$")]
    username: Annotated[str, Field(min_length=1, max_length=32)]
    password: Annotated[str, Field(min_length=1, max_length=64, repr=False)]
    doors: Annotated[int, Field(ge=1, le=8)] = 1
    # where its pushes may come from; empty: the url's host (an address, or the name resolved when the bridge starts)
    push_from: Annotated[list[str], Field(max_length=16)] = []
    # a shared secret in the push URL's path (/hikvision/<gate>/<token>): what a forged source address lacks
    push_token: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_\-]{16,64}$", repr=False)] = None

    @field_validator("push_from")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        return [canonical_address(address) for address in addresses]

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def push_addresses(self) -> frozenset[str] | None:
        """The addresses its pushes may come from, or None when the url names a host to be resolved."""
        if self.push_from:
            return frozenset(self.push_from)
        try:
            return frozenset({canonical_address(self.host)})
        except ValueError:
            return None


def canonical_address(text: str) -> str:
    """An IPv4 or IPv6 address as the listener compares it (an IPv4-mapped IPv6 address as IPv4); ValueError when
    ``text`` is not one."""
    address = ipaddress.ip_address(text.strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    listen: ListenAddress = "0.0.0.0:8088"
    state_dir: str
    credentials_file: str | None = None
    max_picture_bytes: Annotated[int, Field(ge=1024, le=8 * MIB)] = 2 * MIB
    pictures_max_total_bytes: Annotated[int, Field(ge=MIB, le=1024 * 1024 * MIB)] = 512 * MIB
    pictures_keep_days: Annotated[int, Field(ge=1, le=3650)] = 180
    """As SC_ACCESS_LOG_RETENTION_DAYS's default: a picture is kept no longer than the event it shows."""
    max_templates: Annotated[int, Field(ge=1, le=255)] = 128
    poll_seconds: Annotated[float, Field(gt=0, le=3600, strict=False)] = 30.0
    request_timeout_seconds: Annotated[float, Field(gt=0, le=60, strict=False)] = 5.0
    read_back_page_size: Annotated[int, Field(ge=1, le=100)] = 30  # events per AcsEvent search page
    terminals: Annotated[list[TerminalConfig], Field(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def _unique(self) -> BridgeConfig:
        gates = [terminal.gate for terminal in self.terminals]
        if len(set(gates)) != len(gates):
            raise ValueError("a gate is listed twice (each terminal pushes to /hikvision/<gate>)")
        return self

    @property
    def listen_host(self) -> str:
        return listen_host_and_port(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return listen_host_and_port(self.listen)[1]


def load_config(path: Path) -> BridgeConfig:
    return load_toml(path, BridgeConfig)


def read_credentials(path: Path) -> list[tuple[str, str]]:
    """``card <number>`` and ``face <reference>`` lines: the card numbers issued at the site and the face
    references (employeeNo) enrolled on the terminals; blank lines and ``#`` comments skipped."""
    credentials = []
    for line_number, text in listed_lines(path):
        kind, _, value = text.partition(" ")
        value = value.strip()
        if kind not in ("card", "face") or not value or len(value) > 32 or not value.isprintable() or " " in value:
            raise BridgeConfigError(f"{path}:{line_number}: not 'card <number>' or 'face <reference>' (≤ 32 chars)")
        credentials.append((kind, value))
    return credentials
