"""What every bridge's configuration file shares: a TOML file validated by the bridge's own pydantic model, and the
plain-text lists beside it (one entry a line, blank lines and ``#`` comments skipped); each problem says where."""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError

_Config = TypeVar("_Config", bound=BaseModel)


class BridgeConfigError(Exception):
    """The file cannot configure the bridge; the message says where."""


def _ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address (0.0.0.0: every interface)") from None
    return value


def _listen_address(value: str) -> str:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be <IPv4 address>:<port 1-65535>, e.g. 0.0.0.0:8088")
    _ipv4(host)
    return value


IPv4Text = Annotated[str, AfterValidator(_ipv4)]
"""An IPv4 address, as text."""


def _reachable_ipv4(value: str) -> str:
    address = ipaddress.IPv4Address(_ipv4(value))
    if address.is_unspecified or address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError(f"{value!r} is no one host's address: give the address the devices reach this host at")
    return value


ReachableIPv4 = Annotated[str, AfterValidator(_reachable_ipv4)]
"""An IPv4 address devices send to: one host's (not 0.0.0.0, a broadcast or a multicast address)."""


ListenAddress = Annotated[str, AfterValidator(_listen_address)]
"""Where a bridge's listener binds: ``<IPv4 address>:<port>``."""


def listen_host_and_port(listen: str) -> tuple[str, int]:
    """A :data:`ListenAddress` taken apart."""
    host, _, port = listen.rpartition(":")
    return host, int(port)


def load_toml(path: Path, model: type[_Config]) -> _Config:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BridgeConfigError(f"{path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise BridgeConfigError(f"{path}: not TOML: {error}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as invalid:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                             for error in invalid.errors(include_url=False, include_input=False))
        raise BridgeConfigError(f"{path}: {problems}") from None


def listed_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The entries of a list file with their line numbers: comments cut, blanks skipped."""
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            yield line_number, text
