"""Produce tracing (产品溯源): incoming batches, rapid tests, sales linked to batches, recall.

A batch (进货批次) arrives at a stall from a supplier with its certificates, of the kinds its product's category
requires (:data:`CERTIFICATE_RULES`: pork with its quarantine and meat quality certificates, produce with a
commitment certificate or a test report, each with its legal basis), from an origin that is a division of the
GB/T 2260 list; rapid tests (快检) are run on it; every sale a scale reports is linked to one batch, so that a
receipt's trace code leads back to supplier, origin, certificates and tests, and a recalled batch leads forward to
every sale of it. Plain values in, plain values out: no clock, no I/O.
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
from market.divisions import Divisions
from market.findings import Finding, FindingKind, finding_key
from market.licences import LegalBasis, StallType
from market.market_time import market_day

# re-exported: defined here before categories and rapid tests had modules of their own
from market.products import EDIBLE_FARM_PRODUCE
from market.products import ProductCategory as ProductCategory
from market.rapid_tests import RapidTest as RapidTest
from market.rapid_tests import RapidTestResult as RapidTestResult
from market.rapid_tests import admission_problems
from market.rapid_tests import latest_tests as latest_tests
from market.rapid_tests import standing_failures as standing_failures
from market.rapid_tests import stop_reason as stop_reason
from market.refusals import FieldProblem

REGION_CODE: Final = re.compile(r"[1-9][0-9]{5}")  # GB/T 2260 administrative division, e.g. 370783 寿光市
MAX_BATCH_GRAMS: Final = 1_000_000_000  # 1000 t: far above any stall's delivery, below any overflow
MAX_CERTIFICATES: Final = 8
"""Certificates one batch comes with at most (pork: quarantine, meat quality, a test report...)."""

ANIMAL_EPIDEMIC_LAW_ARTS_29_51: Final = LegalBasis(
    "《中华人民共和国动物防疫法》", "第二十九条、第五十一条",
    "Animal products are traded only when quarantined: they come with their quarantine certificate "
    "(动物检疫合格证明) and mark.")
PIG_SLAUGHTER_ART_15: Final = LegalBasis(
    "《生猪屠宰管理条例》", "第十五条",
    "Pork leaves the designated slaughterhouse only after meat quality inspection, with its meat quality "
    "inspection certificate (肉品品质检验合格证).")
FARM_PRODUCE_QUALITY_LAW_ART_39: Final = LegalBasis(
    "《中华人民共和国农产品质量安全法》", "第三十九条",
    "Producers and cooperatives issue a commitment certificate (承诺达标合格证) with what they sell; buyers collect "
    "and keep it or another certificate of quality, and markets check them.")
FOOD_SAFETY_LAW_ART_65: Final = LegalBasis(
    "《中华人民共和国食品安全法》", "第六十五条",
    "A seller of edible farm produce keeps a purchase inspection record and the supplier's documents.")
FOOD_SAFETY_LAW_ART_53: Final = LegalBasis(
    "《中华人民共和国食品安全法》", "第五十三条第一款",
    "A food seller checks the supplier's licence and the food's factory inspection certificate or other "
    "certificate of conformity.")


class CertificateType(StrEnum):
    """A kind of certificate a batch comes with. ``market_entry`` is kept for batches recorded before the kinds
    were typed; no batch is received with it any more."""

    QUARANTINE = "quarantine"
    MEAT_QUALITY = "meat_quality"
    COMMITMENT = "commitment"
    TEST_REPORT = "test_report"
    ORIGIN = "origin"
    MARKET_ENTRY = "market_entry"

    @property
    def label_zh(self) -> str:
        return _CERTIFICATE_ZH[self]


_CERTIFICATE_ZH: Final = {
    CertificateType.QUARANTINE: "动物检疫合格证明",
    CertificateType.MEAT_QUALITY: "肉品品质检验合格证",
    CertificateType.COMMITMENT: "承诺达标合格证",
    CertificateType.TEST_REPORT: "检验检测报告",
    CertificateType.ORIGIN: "产地证明",
    CertificateType.MARKET_ENTRY: "市场准入凭证",
}


@dataclass(frozen=True)
class Certificate:
    """One certificate a batch came with: its kind and number as printed on it."""

    kind: CertificateType
    number: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.number) <= 64:
            raise ValueError("a certificate's number has 1 to 64 characters")


@dataclass(frozen=True)
class CertificateRule:
    """The certificates a category of product enters the market with: each of ``all_of``, at least one of
    ``any_of`` (if any are named); the kinds that ``fit`` it at all (another kind is refused: a quarantine
    certificate is no certificate of a cabbage); and why."""

    all_of: tuple[CertificateType, ...]
    any_of: tuple[CertificateType, ...]
    fits: frozenset[CertificateType]
    basis: tuple[LegalBasis, ...]


_C = CertificateType
_PRODUCE_FITS: Final = frozenset({_C.COMMITMENT, _C.TEST_REPORT, _C.ORIGIN})
_MEAT: Final = CertificateRule((_C.QUARANTINE,), (), _PRODUCE_FITS | {_C.QUARANTINE},
                               (ANIMAL_EPIDEMIC_LAW_ARTS_29_51,))
_PRODUCE: Final = CertificateRule((), (_C.COMMITMENT, _C.TEST_REPORT), _PRODUCE_FITS,
                                  (FARM_PRODUCE_QUALITY_LAW_ART_39, FOOD_SAFETY_LAW_ART_65))
_FOOD: Final = CertificateRule((), (_C.TEST_REPORT,), frozenset({_C.TEST_REPORT}), (FOOD_SAFETY_LAW_ART_53,))
CERTIFICATE_RULES: Final[dict[ProductCategory, CertificateRule]] = {
    ProductCategory.VEGETABLES: _PRODUCE,
    ProductCategory.FRUIT: _PRODUCE,
    ProductCategory.PORK: CertificateRule((_C.QUARANTINE, _C.MEAT_QUALITY), (),
                                          _PRODUCE_FITS | {_C.QUARANTINE, _C.MEAT_QUALITY},
                                          (ANIMAL_EPIDEMIC_LAW_ARTS_29_51, PIG_SLAUGHTER_ART_15)),
    ProductCategory.LIVESTOCK_MEAT: CertificateRule(_MEAT.all_of, (), _MEAT.fits | {_C.MEAT_QUALITY}, _MEAT.basis),
    ProductCategory.POULTRY: _MEAT,
    ProductCategory.AQUATIC: _PRODUCE,
    # eggs are animal products: a quarantine certificate may come with them, it does not stand for quality
    ProductCategory.EGGS: CertificateRule((), _PRODUCE.any_of, _PRODUCE_FITS | {_C.QUARANTINE}, _PRODUCE.basis),
    ProductCategory.SOY_PRODUCTS: _FOOD,
    ProductCategory.COOKED_FOOD: _FOOD,
    ProductCategory.PREPARED_FOOD: _FOOD,
    ProductCategory.PREPACKAGED_FOOD: _FOOD,
}
"""What each category enters the market with; :func:`certificate_problems` applies it."""

_CATEGORIES_OF: Final = {
    StallType.VEGETABLES: (ProductCategory.VEGETABLES,),
    StallType.FRUIT: (ProductCategory.FRUIT,),
    StallType.MEAT: (ProductCategory.PORK, ProductCategory.LIVESTOCK_MEAT, ProductCategory.POULTRY),
    StallType.AQUATIC: (ProductCategory.AQUATIC,),
    StallType.EGGS: (ProductCategory.EGGS,),
    StallType.SOY_PRODUCTS: (ProductCategory.SOY_PRODUCTS,),
    StallType.COOKED_FOOD: (ProductCategory.COOKED_FOOD,),
    StallType.PREPARED_FOOD: (ProductCategory.PREPARED_FOOD,),
    StallType.PREPACKAGED_FOOD: (ProductCategory.PREPACKAGED_FOOD,),
}


def default_category(stall_type: StallType) -> ProductCategory | None:
    """The category of a batch of a stall of this trade when none is said: the trade's one, None for meat (pork,
    other livestock and poultry need different certificates: the batch says which it is)."""
    categories = _CATEGORIES_OF[stall_type]
    return categories[0] if len(categories) == 1 else None


def _kinds_zh(kinds: Iterable[CertificateType], joiner: str) -> str:
    return joiner.join(kind.label_zh for kind in kinds)


def _kinds_en(kinds: Iterable[CertificateType], joiner: str) -> str:
    return joiner.join(kind.value for kind in kinds)


def certificate_problems(category: ProductCategory, certificates: Sequence[Certificate], *,
                         market_tested: bool = False) -> list[FieldProblem]:
    """Everything wrong with ``certificates`` for a batch of ``category``, each at its field (``certificates.<i>.kind``
    for a kind that does not fit, ``certificates`` for one missing); empty when the batch may enter.
    ``market_tested``: the market's own rapid tests stand in for a commitment certificate or test report (farm
    produce only: :func:`by_test`)."""
    rule = CERTIFICATE_RULES[category]
    problems: list[FieldProblem] = []
    if len(certificates) > MAX_CERTIFICATES:
        return [FieldProblem("certificates", f"a batch comes with at most {MAX_CERTIFICATES} certificates",
                             f"一个批次最多登记 {MAX_CERTIFICATES} 份凭证")]
    seen: set[tuple[CertificateType, str]] = set()
    for index, certificate in enumerate(certificates):
        if certificate.kind not in rule.fits:
            fitting = [kind for kind in CertificateType if kind in rule.fits]
            problems.append(FieldProblem(
                f"certificates.{index}.kind",
                f"a {certificate.kind.value} certificate does not fit {category.value}: it comes with "
                f"{_kinds_en(fitting, ', ')}",
                f"{category.label_zh}不凭{certificate.kind.label_zh}入场：可登记{_kinds_zh(fitting, '、')}"))
        elif (certificate.kind, certificate.number) in seen:
            problems.append(FieldProblem(f"certificates.{index}.number", "the same certificate twice",
                                         "同一份凭证登记了两次"))
        seen.add((certificate.kind, certificate.number))
    held = {certificate.kind for certificate in certificates}
    missing = [kind for kind in rule.all_of if kind not in held]
    basis = "；".join(b.citation for b in rule.basis)
    if missing:
        problems.append(FieldProblem(
            "certificates",
            f"a batch of {category.value} enters the market with {_kinds_en(rule.all_of, ' and ')}: "
            f"{_kinds_en(missing, ' and ')} missing",
            f"{category.label_zh}须凭{_kinds_zh(rule.all_of, '和')}入场，缺少{_kinds_zh(missing, '、')}（{basis}）"))
    if rule.any_of and not held & set(rule.any_of) and not (market_tested and category in EDIBLE_FARM_PRODUCE):
        produce = category in EDIBLE_FARM_PRODUCE
        problems.append(FieldProblem(
            "certificates",
            f"a batch of {category.value} enters the market with {_kinds_en(rule.any_of, ' or ')}"
            + (", or on the market's own negative rapid tests" if produce else ""),
            f"{category.label_zh}须凭{_kinds_zh(rule.any_of, '或')}入场"
            + ("，或经市场快检合格后入场" if produce else "") + f"（{basis}）"))
    return problems


def intake_problems(batch: Batch, divisions: Divisions, tests: Sequence[RapidTest] = ()) -> list[FieldProblem]:
    """Why a batch may not be received as it is: no category, an origin that is no division of the GB/T 2260
    list, certificates that do not fit the product or are missing. Farm produce with neither a commitment
    certificate nor a test report enters on the market's own rapid tests (``tests``, done at intake: every
    standard item of its category, all negative). A batch with its certificates may come with tests that are not
    negative: it is received, and stopped by them (:func:`stop_cause`). Empty: it may."""
    problems: list[FieldProblem] = []
    if batch.category is None:
        problems.append(FieldProblem("category", "say what the batch is (pork, other livestock meat, poultry...): "
                                                 "each needs its own certificates", "请选择商品类别"))
    origin = divisions.problem(batch.origin_code)
    if origin is not None:
        problems.append(FieldProblem("origin_code", f"origin {batch.origin_code!r}: "
                                                    f"{origin.message(divisions.version)}",
                                     origin.message_zh(divisions.version)))
    if batch.category is None:
        return problems
    entering_by_test = by_test(batch.category, batch.certificates) and bool(tests)
    problems.extend(certificate_problems(batch.category, batch.certificates, market_tested=entering_by_test))
    if entering_by_test:
        problems.extend(admission_problems(batch.category, tests))
    # a batch that entered on its certificates is received whatever its tests read: a test that is not
    # negative stops it as a later one would (the service holds or recalls it), and its record is kept
    return problems


def by_test(category: ProductCategory, certificates: Sequence[Certificate]) -> bool:
    """Whether a batch enters on the market's rapid tests: farm produce whose rule asks for a commitment certificate
    or a test report, and that came with neither."""
    any_of = CERTIFICATE_RULES[category].any_of
    held = {certificate.kind for certificate in certificates}
    return category in EDIBLE_FARM_PRODUCE and bool(any_of) and not held & set(any_of)


class BlockCause(StrEnum):
    FAILED_TEST = "failed_test"
    SUSPECTED_TEST = "suspected_test"
    """A rapid test's suspected positive: stopped until the laboratory's result."""
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
    certificates: tuple[Certificate, ...]
    arrived_at: datetime
    supplier_contact: str | None = None
    block: Block | None = None
    category: ProductCategory | None = None
    """None: received before categories were recorded (a meat batch then did not say which meat)."""
    admitted_by_test: bool = False
    """Farm produce that came with neither a commitment certificate nor a test report and entered on the market's
    own negative rapid tests."""

    def __post_init__(self) -> None:
        if isinstance(self.quantity_g, bool) or not 0 < self.quantity_g <= MAX_BATCH_GRAMS:
            raise ValueError(f"a batch weighs 1 g to {MAX_BATCH_GRAMS} g, not {self.quantity_g!r}")
        if not REGION_CODE.fullmatch(self.origin_code):
            raise ValueError(f"origin region code {self.origin_code!r}: six digits of GB/T 2260, e.g. 370783")
        if not self.certificates and not self.admitted_by_test:
            raise ValueError("a batch comes with its certificates, or is admitted on the market's rapid tests")

    def blocked_at(self, at: datetime) -> bool:
        return self.block is not None and self.block.at <= at


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


def stop_cause(test: RapidTest) -> BlockCause | None:
    """Whether a rapid test stops its batch, and as what: a positive recalls it, a suspected positive holds it until
    the laboratory reports; a negative stops nothing."""
    if test.failed:
        return BlockCause.FAILED_TEST
    if test.awaiting_laboratory:
        return BlockCause.SUSPECTED_TEST
    return None


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
