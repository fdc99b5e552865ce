"""Produce tracing (产品溯源): incoming batches, rapid tests, sales linked to batches, recall.

A batch (进货批次) arrives at a stall from a supplier with a certificate; rapid tests (快检) are run on
it; every sale a scale reports is linked to one batch, so that a receipt's trace code leads back to
supplier, origin, certificate and tests, and a recalled batch leads forward to every sale of it.
Plain values in, plain values out: no clock, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Final

from devices.contract import ScaleRecord
from market.findings import Finding, FindingKind, finding_key
from market.licences import StallType
from market.market_time import market_day

REGION_CODE: Final = re.compile(r"[1-9]\d{5}")  # GB/T 2260 administrative division, e.g. 370783 寿光市
MAX_BATCH_GRAMS: Final = 1_000_000_000  # 1000 t: far above any stall's delivery, below any overflow


class CertificateType(StrEnum):
    QUARANTINE = "quarantine"
    ORIGIN = "origin"
    MARKET_ENTRY = "market_entry"

    @property
    def label_zh(self) -> str:
        return {
            CertificateType.QUARANTINE: "动物检疫合格证明",
            CertificateType.ORIGIN: "产地证明",
            CertificateType.MARKET_ENTRY: "市场准入凭证",
        }[self]


def accepted_certificates(stall_type: StallType) -> frozenset[CertificateType]:
    """Meat enters a market only with its animal quarantine certificate; other produce with any of them."""
    if stall_type is StallType.MEAT:
        return frozenset({CertificateType.QUARANTINE})
    return frozenset(CertificateType)


class BlockCause(StrEnum):
    FAILED_TEST = "failed_test"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Block:
    """A batch stopped from sale: when, why, by whom."""

    at: datetime
    reason: str
    by: str
    cause: BlockCause


@dataclass(frozen=True)
class Batch:
    """An incoming batch. ``supplier_contact`` is private: it never leaves the operator's views."""

    batch_id: str
    stall: str
    plu: str
    product: str
    supplier: str
    origin_code: str
    origin_name: str
    quantity_g: int
    certificate_type: CertificateType
    certificate_number: str
    arrived_at: datetime
    supplier_contact: str | None = None
    block: Block | None = None

    def __post_init__(self) -> None:
        if isinstance(self.quantity_g, bool) or not 0 < self.quantity_g <= MAX_BATCH_GRAMS:
            raise ValueError(f"a batch weighs 1 g to {MAX_BATCH_GRAMS} g, not {self.quantity_g!r}")
        if not REGION_CODE.fullmatch(self.origin_code):
            raise ValueError(f"origin region code {self.origin_code!r}: six digits of GB/T 2260, e.g. 370783")
        if not self.certificate_number:
            raise ValueError("a batch comes with its certificate's number")

    def blocked_at(self, at: datetime) -> bool:
        return self.block is not None and self.block.at <= at


class RapidTestResult(StrEnum):
    PASS = "pass"
    FAIL = "fail"

    @property
    def label_zh(self) -> str:
        return "合格" if self is RapidTestResult.PASS else "不合格"


@dataclass(frozen=True)
class RapidTest:
    """One rapid test (快检) of a batch, e.g. pesticide residue by enzyme inhibition, 抑制率 12.5%."""

    batch_id: str
    item: str
    method: str
    result: RapidTestResult
    value: str | None
    tester: str
    tested_at: datetime


def latest_tests(tests: Iterable[RapidTest]) -> list[RapidTest]:
    """The latest test of each item (a retest replaces the earlier result), by item."""
    latest: dict[str, RapidTest] = {}
    for test in tests:
        known = latest.get(test.item)
        if known is None or test.tested_at >= known.tested_at:
            latest[test.item] = test
    return [latest[item] for item in sorted(latest)]


def standing_failures(tests: Iterable[RapidTest]) -> list[RapidTest]:
    """The failed tests no passing retest of the same item has overturned since (by item)."""
    return [test for test in latest_tests(tests) if test.result is RapidTestResult.FAIL]


def predates_arrival(test: RapidTest, batch: Batch) -> bool:
    """A test dated before its batch arrived tested something else (or the date was mistyped)."""
    return test.tested_at < batch.arrived_at


def block_batch(batch: Batch, at: datetime, reason: str, by: str, cause: BlockCause) -> Batch:
    """Stop the batch from sale. A batch is blocked once; raises ValueError if it already is."""
    if batch.block is not None:
        raise ValueError(f"batch {batch.batch_id!r} is blocked already since {batch.block.at.isoformat()}")
    if not reason:
        raise ValueError("a recall says why")
    return replace(batch, block=Block(at, reason, by, cause))


class ReleaseRefusal(StrEnum):
    """Why a block may not be lifted."""

    NOT_BLOCKED = "not_blocked"
    FAILED_TEST_STANDS = "failed_test_stands"
    NO_REASON = "no_reason"


def release_refusal(batch: Batch, tests: Iterable[RapidTest], reason: str) -> ReleaseRefusal | None:
    """Whether the block on ``batch`` may be lifted: it must be blocked, the release must say why, and
    no failed rapid test may stand. A failed test stands until a later test of the same item passes,
    whatever stopped the batch: an operator's recall of a batch that also failed a test is lifted only
    once that item has passed a retest."""
    if batch.block is None:
        return ReleaseRefusal.NOT_BLOCKED
    if not reason.strip():
        return ReleaseRefusal.NO_REASON
    if standing_failures(tests):
        return ReleaseRefusal.FAILED_TEST_STANDS
    return None


def release_batch(batch: Batch) -> Batch:
    """The batch open for sale again; check :func:`release_refusal` first."""
    if batch.block is None:
        raise ValueError(f"batch {batch.batch_id!r} is not blocked")
    return replace(batch, block=None)


class UnchangedQuantity(ValueError):
    """The "corrected" quantity is the one on record."""


def with_quantity(batch: Batch, quantity_g: int) -> Batch:
    """The batch with its received quantity corrected (a typing error at receiving). Raises
    UnchangedQuantity when nothing changes, ValueError when the quantity is out of bounds."""
    if quantity_g == batch.quantity_g:
        raise UnchangedQuantity(f"batch {batch.batch_id!r} was received with {quantity_g} g already: "
                                "nothing to correct")
    return replace(batch, quantity_g=quantity_g)


def failed_test_reason(test: RapidTest) -> str:
    return f"快检不合格：{test.item}" + (f"（{test.value}）" if test.value else "")


@dataclass(frozen=True)
class Sale:
    """A sale a scale reported. ``claimed_batch`` is what the scale said; ``batch_id`` what it is linked to.
    How the customer paid is not kept here: it is nobody's business at the market."""

    scale: str
    record_id: str
    ts: datetime
    stall: str
    plu: str
    product: str | None
    net_g: int
    unit_price_fen: int
    amount_fen: int
    trace_code: str
    claimed_batch: str | None = None
    batch_id: str | None = None
    stall_name: str | None = None
    """The stall's name when the sale was made (stalls are renamed and change hands)."""
    vendor_id: str | None = None
    vendor_name: str | None = None
    """Who held the stall when the sale was made: the vendor a shopper bought from."""

    @classmethod
    def from_record(cls, scale: str, record: ScaleRecord) -> Sale:
        return cls(scale, record.record_id, record.ts, record.stall, record.plu, record.product, record.net_g,
                   record.unit_price_fen, record.amount_fen, record.trace_code, record.batch)


class LinkMethod(StrEnum):
    EXPLICIT = "explicit"  # the scale named the batch
    CURRENT = "current"  # the stall's current batch of the product
    NONE = "none"


@dataclass(frozen=True)
class BatchLink:
    batch: Batch | None
    method: LinkMethod
    unknown_claim: str | None = None  # the scale named a batch that was never received
    mismatched_claim: Batch | None = None  # the scale named a batch of another product


def current_batch(batches: Iterable[Batch], stall: str, plu: str, at: datetime) -> Batch | None:
    """The batch of ``plu`` a stall is selling at ``at``: the latest arrived by then that was not
    blocked by then; if all are blocked, the latest of them (what is on the counter is still traced)."""
    arrived = [b for b in batches if b.stall == stall and b.plu == plu and b.arrived_at <= at]
    open_batches = [b for b in arrived if not b.blocked_at(at)]
    candidates = open_batches or arrived
    return max(candidates, key=lambda b: (b.arrived_at, b.batch_id), default=None)


def link_sale(sale: Sale, known: Mapping[str, Batch], stall_batches: Iterable[Batch]) -> BatchLink:
    """The batch a sale came from: the one the scale named if it was received (at this market, as
    ``known`` holds only this market's batches) and is of the product sold; else the stall's current
    batch of the product. A name that was never received, or that is a batch of another product (a
    scale with a stale batch table, a mistyped slot), is remembered: each is worth a finding, and
    linking it would put the wrong goods in the trace and the wrong grams in that batch's balance."""
    claimed = sale.claimed_batch
    named = known.get(claimed) if claimed is not None else None
    if named is not None and named.plu == sale.plu:
        return BatchLink(named, LinkMethod.EXPLICIT)
    current = current_batch(stall_batches, sale.stall, sale.plu, sale.ts)
    method = LinkMethod.CURRENT if current else LinkMethod.NONE
    if named is not None:
        return BatchLink(current, method, mismatched_claim=named)
    return BatchLink(current, method, claimed)


def tracing_findings(sale: Sale, link: BatchLink) -> list[Finding]:
    """Gaps in the trail of one sale: an unknown batch named, a batch of another product named, no
    batch at all, a blocked batch sold."""
    findings = []
    if link.unknown_claim is not None:
        findings.append(Finding(FindingKind.UNKNOWN_BATCH,
                                finding_key(FindingKind.UNKNOWN_BATCH, sale.stall, link.unknown_claim),
                                sale.stall, sale.ts,
                                {"batch": link.unknown_claim, "plu": sale.plu, "trace_code": sale.trace_code,
                                 "linked_to": link.batch.batch_id if link.batch else None}))
    if link.mismatched_claim is not None:
        named = link.mismatched_claim
        findings.append(Finding(FindingKind.BATCH_MISMATCH,
                                finding_key(FindingKind.BATCH_MISMATCH, sale.stall, named.batch_id, sale.plu),
                                sale.stall, sale.ts,
                                {"batch": named.batch_id, "batch_plu": named.plu, "plu": sale.plu,
                                 "trace_code": sale.trace_code,
                                 "linked_to": link.batch.batch_id if link.batch else None}))
    if link.batch is None:
        day = market_day(sale.ts).isoformat()
        findings.append(Finding(FindingKind.NO_BATCH, finding_key(FindingKind.NO_BATCH, sale.stall, sale.plu, day),
                                sale.stall, sale.ts, {"plu": sale.plu, "trace_code": sale.trace_code}))
    elif link.batch.blocked_at(sale.ts):
        findings.append(Finding(FindingKind.SALE_OF_BLOCKED_BATCH,
                                finding_key(FindingKind.SALE_OF_BLOCKED_BATCH, sale.scale, sale.record_id),
                                sale.stall, sale.ts,
                                {"batch": link.batch.batch_id, "trace_code": sale.trace_code, "net_g": sale.net_g,
                                 "scale": sale.scale}))
    return findings


@dataclass(frozen=True)
class MassBalance:
    """Grams sold against grams received; selling more than came in means the trail is wrong somewhere
    (sales of another batch linked here, an unrecorded delivery, or a scale reporting wrong weights)."""

    received_g: int
    sold_g: int

    @property
    def remaining_g(self) -> int:
        return max(0, self.received_g - self.sold_g)

    @property
    def oversold_g(self) -> int:
        return max(0, self.sold_g - self.received_g)

    @property
    def sold_share(self) -> Fraction:
        return Fraction(self.sold_g, self.received_g)

    def oversold(self, tolerance_g: int = 0) -> bool:
        return self.oversold_g > tolerance_g


def oversold_finding(batch: Batch, balance: MassBalance, at: datetime, tolerance_g: int = 0) -> Finding | None:
    """One finding per batch once its sales exceed what was received (beyond ``tolerance_g``)."""
    if not balance.oversold(tolerance_g):
        return None
    return Finding(FindingKind.OVERSOLD, finding_key(FindingKind.OVERSOLD, batch.batch_id), batch.stall, at,
                   {"batch": batch.batch_id, "received_g": balance.received_g, "sold_g": balance.sold_g,
                    "oversold_g": balance.oversold_g})


@dataclass(frozen=True)
class ForwardTrace:
    """Every sale of a batch (the page of them asked for) with the batch's totals: what a recall needs
    to tell the public which receipts are affected."""

    batch: Batch
    balance: MassBalance
    sales_count: int
    sales: Sequence[Sale]
    first_sale_at: datetime | None
    last_sale_at: datetime | None
