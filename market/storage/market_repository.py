"""The repository the market's use cases hold: every aggregate's repository on one transaction's connection,
for use cases that span them (a sale is linked to a batch, priced against the stall's prices, and may
raise a finding, all in one transaction)."""

from __future__ import annotations

from market.storage.audit import CorrectionRepository, FindingRepository
from market.storage.complaints import ComplaintRepository
from market.storage.deliveries import DeliveryRepository
from market.storage.directory import SiteRepository, StallRepository, VendorRepository
from market.storage.prices import PriceRepository
from market.storage.tracing import BatchRepository, SaleRepository


class MarketRepository(SiteRepository, VendorRepository, StallRepository, PriceRepository, DeliveryRepository,
                       BatchRepository, SaleRepository, FindingRepository, CorrectionRepository, ComplaintRepository):
    """Each base is a complete repository of one aggregate on the same connection; none calls another."""
