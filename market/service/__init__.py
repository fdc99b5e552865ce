"""The market's use cases, one module per group, behind :class:`MarketService`; the names below are what
the web API, the pages, the demo and the composition root use: the service, its settings, the answers
of its use cases and the refusals it raises."""

from market.service.batches import BatchDetail
from market.service.complaints import ComplaintDetail, ComplaintForm
from market.service.directory import ScaleOverview, StallOverview
from market.service.errors import (
    Conflict,
    FieldsRefused,
    NotFound,
    Refused,
    ScanRefused,
    TestBeforeArrival,
    Unchanged,
)
from market.service.lookup import no_market
from market.service.market_service import MarketService
from market.service.oversight import LicenceProblem
from market.service.prices import PriceHistory, PriceItem, Publication
from market.service.rapid_testing import LaboratoryOutcome, TestBoard, TestLine
from market.service.recall import Recall, RecordedTest, Release
from market.service.settings import MarketSettings
from market.service.stall_screen import DisplayBatch, StallDisplay
from market.service.trace_queries import PublicTrace

__all__ = [
    "BatchDetail",
    "ComplaintDetail",
    "ComplaintForm",
    "Conflict",
    "DisplayBatch",
    "FieldsRefused",
    "LaboratoryOutcome",
    "LicenceProblem",
    "MarketService",
    "MarketSettings",
    "NotFound",
    "PriceHistory",
    "PriceItem",
    "PublicTrace",
    "Publication",
    "Recall",
    "RecordedTest",
    "Refused",
    "Release",
    "ScaleOverview",
    "ScanRefused",
    "StallDisplay",
    "StallOverview",
    "TestBeforeArrival",
    "TestBoard",
    "TestLine",
    "Unchanged",
    "no_market",
]
