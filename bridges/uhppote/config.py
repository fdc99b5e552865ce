"""The bridge's configuration: a TOML file (``--config`` or ``SC_UHPPOTE_CONFIG``) naming the controllers.

The MQTT broker and the site key come from the usual ``SC_`` settings (``SC_MQTT_URL``, ``SC_CREDENTIAL_HASH_KEY``);
the controllers are a list, which an environment variable holds badly, so they live in a file (docs/devices.md)::

    listen = "0.0.0.0:60001"      # where the controllers push their events
    advertise = "192.168.1.10"    # the bridge's address as the controllers reach it
    state_dir = "/var/lib/smartcity/uhppote"
    cards_file = "/etc/smartcity/uhppote-cards.txt"   # optional: card numbers issued at the site

    [[controllers]]
    serial = 405419896
    address = "192.168.1.100:60000"
    site = "north-compound"
    gate = "north-gate-01"
    doors = 4
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridges.config_files import (
    BridgeConfigError,
    IPv4Text,
    ListenAddress,
    ReachableIPv4,
    listed_lines,
    listen_host_and_port,
    load_toml,
)
from devices.contract import DeviceId


class ControllerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    serial: Annotated[int, Field(ge=1, le=0xFFFFFFFF)]
    address: Annotated[str, Field(pattern=r"^[0-9.]+(:[0-9]{1,5})?$")]
    site: DeviceId
    gate: DeviceId
    doors: Annotated[int, Field(ge=1, le=4)] = 4

    @property
    def endpoint(self) -> str:
        return self.address if ":" in self.address else f"{self.address}:60000"


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    listen: ListenAddress = "0.0.0.0:60001"
    advertise: ReachableIPv4
    bind: IPv4Text = "0.0.0.0"
    state_dir: str
    cards_file: str | None = None
    poll_seconds: Annotated[float, Field(gt=0, le=3600, strict=False)] = 30.0
    clock_drift_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    request_timeout_seconds: Annotated[float, Field(gt=0, le=30, strict=False)] = 1.5
    controllers: Annotated[list[ControllerConfig], Field(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def _unique(self) -> BridgeConfig:
        serials = [controller.serial for controller in self.controllers]
        gates = [(controller.site, controller.gate) for controller in self.controllers]
        if len(set(serials)) != len(serials):
            raise ValueError("a controller serial number is listed twice")
        if len(set(gates)) != len(gates):
            raise ValueError("two controllers map to the same site and gate")
        return self

    @property
    def listen_host(self) -> str:
        return listen_host_and_port(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return listen_host_and_port(self.listen)[1]


def load_config(path: Path) -> BridgeConfig:
    return load_toml(path, BridgeConfig)


def read_card_roster(path: Path) -> list[int]:
    """Card numbers, one per line, decimal as the controller reports them; blank lines and ``#`` comments skipped."""
    numbers = []
    for line_number, text in listed_lines(path):
        if not text.isdigit() or not 0 < int(text) <= 0xFFFFFFFF:
            raise BridgeConfigError(f"{path}:{line_number}: not a card number (1 to 4294967295)")
        numbers.append(int(text))
    return numbers
