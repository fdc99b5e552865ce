"""A token bucket per client, in memory and bounded, for the public trace lookup.

Each client (address) may make ``capacity`` lookups at once and then ``refill_per_minute`` a minute.
The table of clients is bounded: the least recently seen client is forgotten first (it comes back
with a full bucket, which errs on the side of the public). Times are passed in; tokens are exact.

Behind a reverse proxy every shopper reaches the service from the proxy's address: :func:`client_address`
takes the client from ``X-Forwarded-For`` when, and only when, the peer is a proxy the market trusts.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class RateLimit:
    capacity: int = 20
    refill_per_minute: int = 30
    max_clients: int = 10_000

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.refill_per_minute < 1 or self.max_clients < 1:
            raise ValueError("a rate limit allows at least one request, one a minute, for one client")


@dataclass
class _Bucket:
    tokens: Fraction
    updated: datetime


class TokenBuckets:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, now: datetime) -> int:
        """Take a token for ``client``: 0 if it may go ahead, else the seconds until it may (Retry-After)."""
        limit = self.limit
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(Fraction(limit.capacity), now)
        elapsed = max(Fraction((now - bucket.updated) // MICROSECOND, 1_000_000), Fraction(0))
        bucket.tokens = min(Fraction(limit.capacity), bucket.tokens + elapsed * limit.refill_per_minute / 60)
        bucket.updated = max(now, bucket.updated)
        self._buckets[client] = bucket
        while len(self._buckets) > limit.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) * 60 / limit.refill_per_minute))

    def __len__(self) -> int:
        return len(self._buckets)


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
