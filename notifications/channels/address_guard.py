"""Where an organisation's endpoint may be connected to, judged on the addresses its host name resolves to when a
delivery connects (an aiohttp resolver), not only on the URL as registered: a name that resolves to a loopback,
link-local or private address is refused unless SC_NOTIFY_ALLOW_PRIVATE_ENDPOINTS, and the installation's own
host names (SC_PUBLIC_BASE_URL's) always. Aiohttp does not ask a resolver about a literal address: those are judged
before the request (:meth:`EndpointGuard.literal_problem`)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from notifications.endpoints import address_problem


class AddressRefused(OSError):
    """The receiver's host resolves only to addresses a delivery may not connect to; the message says why."""


@dataclass(frozen=True)
class EndpointGuard:
    allow_private: bool = False
    own_hosts: frozenset[str] = field(default_factory=frozenset)
    """Host names of the installation itself (lower case)."""

    def host_problem(self, host: str) -> str | None:
        """Why ``host`` (as written in the URL) may not be connected to, before any resolving, or None."""
        name = host.lower().rstrip(".")
        if name in self.own_hosts:
            return "the installation's own address"
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return None
        return address_problem(name.strip("[]"), self.allow_private)


class GuardedResolver(AbstractResolver):
    """The system's resolver, keeping only the addresses ``guard`` allows; none left: :class:`AddressRefused`."""

    def __init__(self, guard: EndpointGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [result for result in found if address_problem(result["host"], self._guard.allow_private) is None]
        if not allowed:
            reason = address_problem(found[0]["host"], self._guard.allow_private) if found else "no address"
            raise AddressRefused(f"{host} resolves to {reason}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def guarded_connector_args(guard: EndpointGuard) -> dict[str, Any]:
    """The aiohttp TCPConnector's arguments that put ``guard`` between a host name and the connection."""
    return {"resolver": GuardedResolver(guard)}
