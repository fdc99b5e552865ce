"""A token bucket per client, in memory and bounded, for the public trace lookup.

Each client (address) may make ``capacity`` lookups at once and then ``refill_per_minute`` a minute.
The table of clients is bounded: the least recently seen client is forgotten first (it comes back
with a full bucket, which errs on the side of the public). Times are passed in; tokens are exact.

Behind a reverse proxy every shopper reaches the service from the proxy's address: the client is
:func:`webkit.client_address.client_address` (kept importable from here), which the sign-in throttle uses too.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from webkit.client_address import Network, client_address, trusted_networks

__all__ = ["Network", "RateLimit", "TokenBuckets", "client_address", "trusted_networks"]

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
