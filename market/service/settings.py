"""The market service's tunables (:class:`MarketSettings`), each bounded, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from market.complaints import DEFAULT_COMPLAINT_DAYS
from market.credit import CreditRules
from market.divisions import Divisions, shipped_divisions
from market.licences import DEFAULT_WARNING_DAYS
from market.rate_limit import RateLimit
from market.scale_delivery import DEFAULT_POLICY, DeliveryPolicy
from market.scans import DEFAULT_MAX_SCAN_BYTES
from webkit.client_address import Network, trusted_networks

MAX_SCAN_BYTES_LIMIT = 64 * 1024**2
"""No scan is larger, whatever the setting: a scan is read whole into memory to be checked and kept."""


@dataclass(frozen=True)
class MarketSettings:
    """Tunables of the market service, each bounded."""

    delivery: DeliveryPolicy = DEFAULT_POLICY
    warning_days: tuple[int, ...] = DEFAULT_WARNING_DAYS
    trace_rate: RateLimit = field(default_factory=RateLimit)
    oversold_tolerance_g: int = 0
    current_batch_lookback: timedelta = timedelta(days=30)
    """How far back a stall's batches are looked at to find the one a sale came from."""
    price_backdating: timedelta = timedelta(minutes=5)
    """How long before publication a price may take effect (a clock a little behind); no more."""
    history_max_days: int = 31
    board_trend_ttl: timedelta = timedelta(seconds=60)
    """How long the public price board's trend charts are reused before the time series is asked again."""
    deliveries_per_tick: int = 200
    epcis_max_sales: int = 10_000
    public_base_url: str | None = None
    """Where the public pages are reached (QR codes, EPCIS identifiers); else the request's own origin."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (addresses or networks, e.g. ``10.0.0.0/8``) whose ``X-Forwarded-For`` names the
    client for the trace lookup's rate limit. Empty: every client is the address it connects from."""
    trusted_proxy_networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)
    scan_dir: Path | None = None
    """Where licence scans are kept (``<data dir>/market-scans``: a folder per market); None: none are taken."""
    max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES
    """The largest scan or photo of a licence taken (SC_MARKET_MAX_SCAN_BYTES)."""
    complaint_days: int = DEFAULT_COMPLAINT_DAYS
    """How many days the operator has to answer a complaint (SC_MARKET_COMPLAINT_DAYS)."""
    complaint_rate: RateLimit = field(default_factory=lambda: RateLimit(capacity=5, refill_per_minute=2))
    """Complaints filed and looked up per client address (a bucket of its own, stricter than the trace lookup's)."""
    complaint_dir: Path | None = None
    """Where complaints' photos are kept (``<data dir>/market-complaints``); None: a photo is refused."""
    max_complaint_photo_bytes: int = DEFAULT_MAX_SCAN_BYTES
    """The largest photo a complaint takes (SC_MARKET_MAX_COMPLAINT_PHOTO_BYTES)."""
    divisions: Divisions = field(default_factory=shipped_divisions, repr=False)
    """The GB/T 2260 list a batch's origin is checked against (the one shipped in market/data)."""
    credit_rules: CreditRules = field(default_factory=CreditRules)
    """How vendors' credit is scored: window, points, caps, grades (docs/market.md, "Vendor credit")."""

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.board_trend_ttl <= timedelta(hours=1):
            raise ValueError("board_trend_ttl: 0 to 1 hour")
        if not 1024 <= self.max_scan_bytes <= MAX_SCAN_BYTES_LIMIT:
            raise ValueError(f"max_scan_bytes: 1 KiB to {MAX_SCAN_BYTES_LIMIT // 1024**2} MiB")
        if not 1024 <= self.max_complaint_photo_bytes <= MAX_SCAN_BYTES_LIMIT:
            raise ValueError(f"max_complaint_photo_bytes: 1 KiB to {MAX_SCAN_BYTES_LIMIT // 1024**2} MiB")
        if not 1 <= self.complaint_days <= 60:
            raise ValueError("complaint_days: 1 to 60")
        object.__setattr__(self, "trusted_proxy_networks", trusted_networks(self.trusted_proxies))
