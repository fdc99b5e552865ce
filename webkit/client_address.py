"""Who a request comes from, for per-client limits (the market's trace lookups, the sign-in throttle).

Behind a reverse proxy every request reaches the service from the proxy's address: :func:`client_address`
takes the client from ``X-Forwarded-For`` when, and only when, the peer is a proxy the installation trusts
(``SC_TRUSTED_PROXIES``); anyone else could write any address there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Proxies as written in the settings: addresses or networks (``10.0.0.0/8``, ``::1``). Raises
    ValueError naming the entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {entry!r}: an IP address or network, e.g. 10.0.0.0/8") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def is_trusted_proxy(peer: str | None, trusted: Sequence[Network]) -> bool:
    """Whether ``peer`` (the connection's remote address) is one of the ``trusted`` proxies; a Unix socket or an
    unknown peer is no proxy anyone can vouch for."""
    address = _address(peer) if peer else None
    return address is not None and _trusted(address, trusted)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The address to count a request against. The peer itself, unless it is a trusted proxy: then the
    right-most ``X-Forwarded-For`` entry that is not a trusted proxy, as each proxy appends the address
    it saw and everything left of the first untrusted hop may be forged by the client. If the right-most
    entries make no sense (not an address), or every hop is trusted, the peer: the shared bucket, never a
    bucket a client can choose."""
    peer_address = _address(peer) if peer else None
    if peer_address is None or not _trusted(peer_address, trusted):
        return peer or "unknown"
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        if not _trusted(address, trusted):
            return str(address)
    return str(peer_address)
