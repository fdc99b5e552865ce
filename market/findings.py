"""Findings: what the market operator must look into, raised from sales, batches and scales.

A finding carries a ``key`` that says what it is about, so the same fact seen twice (a redelivered
sale, a second sale of an oversold batch) is one finding. Some facts are worth one finding per sale
(a price above the published one is evidence for each sale); others one per stall and day or per
batch, so a misconfigured scale does not bury the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

DetailValue = str | int | bool | None


class FindingKind(StrEnum):
    PRICE_DIFFERS = "price_differs"
    NO_PUBLISHED_PRICE = "no_published_price"
    AMOUNT_MISMATCH = "amount_mismatch"
    STALL_MISMATCH = "stall_mismatch"
    UNREGISTERED_SCALE = "unregistered_scale"
    UNKNOWN_BATCH = "unknown_batch"
    BATCH_MISMATCH = "batch_mismatch"
    NO_BATCH = "no_batch"
    SALE_OF_BLOCKED_BATCH = "sale_of_blocked_batch"
    OVERSOLD = "oversold"

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]


_LABELS_ZH: Final = {
    FindingKind.PRICE_DIFFERS: "售价与公示价格不符",
    FindingKind.NO_PUBLISHED_PRICE: "未公示价格即销售",
    FindingKind.AMOUNT_MISMATCH: "金额与重量单价不符",
    FindingKind.STALL_MISMATCH: "电子秤所报摊位与登记不符",
    FindingKind.UNREGISTERED_SCALE: "未登记的电子秤",
    FindingKind.UNKNOWN_BATCH: "销售记录所指批次未登记进货",
    FindingKind.BATCH_MISMATCH: "销售记录所指批次是其他商品",
    FindingKind.NO_BATCH: "销售无法关联进货批次",
    FindingKind.SALE_OF_BLOCKED_BATCH: "已封控批次仍在销售",
    FindingKind.OVERSOLD: "批次销售量超过进货量",
}


@dataclass(frozen=True)
class Finding:
    """One fact for the operator. ``at`` is when it happened (the sale's time), not when it was seen."""

    kind: FindingKind
    key: str
    stall: str | None
    at: datetime
    detail: Mapping[str, DetailValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key.startswith(self.kind.value + ":"):
            raise ValueError(f"a finding's key starts with its kind: {self.key!r}")


def finding_key(kind: FindingKind, *parts: str) -> str:
    """``kind:part:part``; parts are identifiers (no control characters), so the key is unambiguous
    enough for deduplication, and at most 255 characters."""
    return ":".join((kind.value, *parts))[:255]


@dataclass(frozen=True)
class RecordedFinding:
    """A finding as the operator sees it: numbered, with when it was raised and how it was resolved."""

    finding_id: int
    finding: Finding
    raised_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
