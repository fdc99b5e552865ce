"""Vendor credit (信用评价): a documented score from 0 to 100 of how a vendor has kept the market's rules over a
window (365 days by default), with every deduction itemised by its reason and the fact it came from, and a grade
(A 诚信经营, B 守信经营, C 诚信警示, D 失信经营) the stall screen shows.

What counts, each from 100 down (the defaults of :class:`CreditRules`, which a market may tune):

* **licences** — the state on the window's last market day of what the vendor's stalls must show
  (:func:`market.licences.assess_stall`): each document missing, expired or not yet valid (an expiring one counts
  nothing by default: it is still good). The same document wanted at two of the vendor's stalls counts once.
  The licence state is the present one, so no recency applies.
* **findings** — what the sales showed of the stall's dealings (:mod:`market.findings`): a price above the one
  published, a sale without a published price, an amount that is not weight × unit price, a sale of a stopped
  batch, a batch sold beyond what came in. Findings of the market's own bookkeeping (an unregistered scale, a sale
  naming no or an unknown batch) count nothing. A finding is raised per sale, so one kind at one stall on one market
  day counts once, however many sales showed it.
* **rapid tests** — per batch: a positive (or a suspected positive the laboratory confirmed) counts most; a
  suspected positive still waiting for the laboratory counts a little; negatives, and suspected positives the
  laboratory cleared, count nothing.
* **complaints** — a complaint the market upheld (closed concluding 投诉属实) counts; one not upheld (resolved
  concluding 不属实, or rejected 不予支持) or still open counts nothing. A complaint resolved before conclusions were
  recorded counts as upheld, as these rules read a resolved complaint then (:attr:`Complaint.upheld`).
* **recalls** — a batch the operator recalled and has not released. A batch stopped by its own rapid test counts
  once, as the test.

Recency: an event in the last ``recent_days`` (90) of the window counts in full, an older one ``older_percent``
(50 %) of its points, rounded up. Each source has a cap, so one bad month does not sink a vendor for good and no
single source outweighs the rest. The events that count most (then the latest) are taken first up to the cap.

Which facts are the vendor's: an event at a stall is theirs when they held the stall then (its tenure,
:func:`held_by`), so a stall handed over takes nobody's record with it. Plain values in, plain values out: no
clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from market.complaints import Complaint
from market.findings import FindingKind, RecordedFinding
from market.licences import DocumentStatus, Validity
from market.market_time import market_day
from market.stalls import StallTenure, tenure_at
from market.tracing import Batch, BlockCause, RapidTest

MAX_WINDOW_DAYS: Final = 3 * 366
"""The longest window a rating looks back over."""


class CreditSource(StrEnum):
    """Where a deduction comes from."""

    LICENCE = "licence"
    FINDING = "finding"
    RAPID_TEST = "rapid_test"
    COMPLAINT = "complaint"
    RECALL = "recall"

    @property
    def label_zh(self) -> str:
        return _SOURCE_ZH[self]


_SOURCE_ZH: Final = {
    CreditSource.LICENCE: "证照", CreditSource.FINDING: "经营问题线索", CreditSource.RAPID_TEST: "快检",
    CreditSource.COMPLAINT: "投诉", CreditSource.RECALL: "召回",
}


class Grade(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"

    @property
    def label_zh(self) -> str:
        return _GRADE_ZH[self]


_GRADE_ZH: Final = {Grade.A: "诚信经营", Grade.B: "守信经营", Grade.C: "诚信警示", Grade.D: "失信经营"}


@dataclass(frozen=True)
class CreditRules:
    """How a score is made: the window, recency, the points each event takes off, each source's cap and the
    grades' thresholds. The defaults are the market's documented table (docs/market.md, "Vendor credit")."""

    window_days: int = 365
    recent_days: int = 90
    """Events this close to the window's end count in full; older ones ``older_percent`` of their points."""
    older_percent: int = 50
    licence_missing: int = 15
    licence_expired: int = 10
    licence_not_yet_valid: int = 10
    licence_expiring: int = 0
    licence_cap: int = 40
    price_differs: int = 3
    no_published_price: int = 2
    amount_mismatch: int = 5
    sale_of_blocked_batch: int = 10
    oversold: int = 2
    finding_cap: int = 30
    count_resolved_findings: bool = True
    """A resolved finding still happened; a market whose operators resolve false alarms may count only open ones."""
    test_positive: int = 20
    test_suspected: int = 5
    test_cap: int = 50
    complaint_upheld: int = 5
    complaint_cap: int = 30
    recall: int = 10
    recall_cap: int = 30
    grade_a: int = 90
    grade_b: int = 75
    grade_c: int = 60

    def __post_init__(self) -> None:
        if not 1 <= self.window_days <= MAX_WINDOW_DAYS:
            raise ValueError(f"window_days: 1 to {MAX_WINDOW_DAYS}")
        if not 1 <= self.recent_days <= self.window_days:
            raise ValueError("recent_days: 1 to window_days")
        if not 0 <= self.older_percent <= 100:
            raise ValueError("older_percent: 0 to 100")
        points = [value for name, value in vars(self).items()
                  if isinstance(value, int) and not isinstance(value, bool)
                  and name not in ("window_days", "recent_days", "older_percent")]
        if any(not 0 <= value <= 100 for value in points):
            raise ValueError("points, caps and thresholds: 0 to 100")
        if not 100 >= self.grade_a > self.grade_b > self.grade_c >= 0:
            raise ValueError("grades: 100 ≥ grade_a > grade_b > grade_c ≥ 0")

    def finding_points(self, kind: FindingKind) -> int:
        """What a finding of ``kind`` takes off (0: the market's bookkeeping, not the vendor's dealings)."""
        return {
            FindingKind.PRICE_DIFFERS: self.price_differs,
            FindingKind.NO_PUBLISHED_PRICE: self.no_published_price,
            FindingKind.AMOUNT_MISMATCH: self.amount_mismatch,
            FindingKind.SALE_OF_BLOCKED_BATCH: self.sale_of_blocked_batch,
            FindingKind.OVERSOLD: self.oversold,
        }.get(kind, 0)

    def licence_points(self, validity: Validity) -> int:
        return {Validity.MISSING: self.licence_missing, Validity.EXPIRED: self.licence_expired,
                Validity.NOT_YET_VALID: self.licence_not_yet_valid,
                Validity.EXPIRING: self.licence_expiring}.get(validity, 0)

    def cap(self, source: CreditSource) -> int:
        return {CreditSource.LICENCE: self.licence_cap, CreditSource.FINDING: self.finding_cap,
                CreditSource.RAPID_TEST: self.test_cap, CreditSource.COMPLAINT: self.complaint_cap,
                CreditSource.RECALL: self.recall_cap}[source]

    def grade(self, score: int) -> Grade:
        if score >= self.grade_a:
            return Grade.A
        if score >= self.grade_b:
            return Grade.B
        return Grade.C if score >= self.grade_c else Grade.D


DEFAULT_RULES: Final = CreditRules()


@dataclass(frozen=True)
class LicenceFact:
    """A document one of the vendor's stalls must show, as it stands on the window's last day."""

    stall: str
    status: DocumentStatus


@dataclass(frozen=True)
class VendorFacts:
    """What a rating reads: a vendor's facts over the window [since, until] (facts outside it are ignored), each
    already the vendor's (see :func:`held_by`)."""

    vendor_id: str
    since: datetime
    until: datetime
    licences: Sequence[LicenceFact] = ()
    findings: Sequence[RecordedFinding] = ()
    tests: Sequence[tuple[RapidTest, Batch]] = ()
    complaints: Sequence[Complaint] = ()
    recalls: Sequence[Batch] = ()
    """Batches of the vendor's that stand stopped (any cause: those stopped by a test are left to the test)."""


@dataclass(frozen=True)
class Deduction:
    """Points taken off, why (``reason_zh``), and the fact it came from: its source, ``fact`` (an id the operator
    can look up: a finding's, a batch's, a complaint's reference, a document's requirement), the stall and when."""

    source: CreditSource
    rule: str
    """The :class:`CreditRules` field that set the points."""
    points: int
    full_points: int
    """Before recency (older events count less) and the source's cap."""
    reason_zh: str
    fact: str
    stall: str | None
    at: datetime | None
    older: bool = False
    """Outside the recent days: counts ``older_percent`` of its points."""


@dataclass(frozen=True)
class SourceTotal:
    source: CreditSource
    points: int
    """Taken off the score: the deductions' points, at most ``cap``."""
    uncapped: int
    cap: int
    counted: int
    """Facts that took points off."""
    considered: int
    """Facts read, those that count nothing too (a negative test, a rejected complaint, a licence in order)."""


@dataclass(frozen=True)
class CreditRating:
    vendor_id: str
    since: datetime
    until: datetime
    score: int
    grade: Grade
    deductions: tuple[Deduction, ...]
    """Those that take points off, by source, then most points and latest first."""
    totals: tuple[SourceTotal, ...]
    rules: CreditRules = field(repr=False)


def held_by(tenures: Iterable[StallTenure], vendor_id: str, at: datetime) -> bool:
    """Whether ``vendor_id`` held the stall of ``tenures`` at ``at``: an event at a stall is its vendor's then."""
    tenure = tenure_at(tenures, at)
    return tenure is not None and tenure.vendor_id == vendor_id


def window(until: datetime, rules: CreditRules = DEFAULT_RULES) -> tuple[datetime, datetime]:
    """[since, until] of a rating made at ``until``."""
    return until - timedelta(days=rules.window_days), until


def rate(facts: VendorFacts, rules: CreditRules = DEFAULT_RULES,
         day_of: Callable[[datetime], date] = market_day) -> CreditRating:
    """The vendor's score, itemised deductions and grade (``day_of``: the market day of an instant)."""
    recent_from = facts.until - timedelta(days=rules.recent_days)

    def inside(at: datetime | None) -> bool:
        return at is not None and facts.since <= at <= facts.until

    def scaled(points: int, at: datetime | None) -> tuple[int, bool]:
        if at is None or at >= recent_from:
            return points, False
        return math.ceil(points * rules.older_percent / 100), True

    candidates: dict[CreditSource, tuple[list[Deduction], int]] = {
        CreditSource.LICENCE: _licences(facts.licences, rules),
        CreditSource.FINDING: _findings([f for f in facts.findings if inside(f.finding.at)], rules, scaled, day_of),
        CreditSource.RAPID_TEST: _tests([(t, b) for t, b in facts.tests if inside(t.tested_at)], rules, scaled),
        CreditSource.COMPLAINT: _complaints([c for c in facts.complaints if inside(c.closed_at or c.filed_at)],
                                            rules, scaled),
        CreditSource.RECALL: _recalls([b for b in facts.recalls if b.block is not None and inside(b.block.at)],
                                      rules, scaled),
    }
    deductions: list[Deduction] = []
    totals = []
    for source, (found, considered) in candidates.items():
        kept = _capped(found, rules.cap(source))
        deductions.extend(kept)
        totals.append(SourceTotal(source, sum(d.points for d in kept), sum(d.points for d in found),
                                  rules.cap(source), len(kept), considered))
    score = max(0, 100 - sum(total.points for total in totals))
    return CreditRating(facts.vendor_id, facts.since, facts.until, score, rules.grade(score), tuple(deductions),
                        tuple(totals), rules)


Scaler = Callable[[int, datetime | None], tuple[int, bool]]


def _capped(found: list[Deduction], cap: int) -> list[Deduction]:
    """The deductions that count up to ``cap``: the heaviest first, then the latest; the one crossing the cap takes
    what is left of it."""
    ordered = sorted(found, key=lambda d: (-d.points, -(d.at.timestamp() if d.at else math.inf), d.fact))
    kept, left = [], cap
    for deduction in ordered:
        if left <= 0 or deduction.points <= 0:
            break
        points = min(deduction.points, left)
        kept.append(deduction if points == deduction.points else _with_points(deduction, points))
        left -= points
    return kept


def _with_points(deduction: Deduction, points: int) -> Deduction:
    return Deduction(deduction.source, deduction.rule, points, deduction.full_points,
                     deduction.reason_zh + "（已达该项上限）", deduction.fact, deduction.stall, deduction.at,
                     deduction.older)


_LICENCE_RULES: Final = {Validity.MISSING: "licence_missing", Validity.EXPIRED: "licence_expired",
                         Validity.NOT_YET_VALID: "licence_not_yet_valid", Validity.EXPIRING: "licence_expiring"}


def _licences(facts: Sequence[LicenceFact], rules: CreditRules) -> tuple[list[Deduction], int]:
    found: dict[tuple[str, str | None, str | None], Deduction] = {}
    for fact in facts:
        status = fact.status
        number = status.document.number if status.document else None
        key = (status.required.value, status.person, number)
        points = rules.licence_points(status.validity)
        if points <= 0 or key in found:
            continue
        whose = f"（{status.person}）" if status.person else ""
        found[key] = Deduction(CreditSource.LICENCE, _LICENCE_RULES[status.validity], points, points,
                               f"{status.required.label_zh}{whose}{status.validity.label_zh}",
                               status.required.value + (f":{number}" if number else ""), fact.stall, None)
    return list(found.values()), len(facts)


_FINDING_RULES: Final = {FindingKind.PRICE_DIFFERS: "price_differs",
                         FindingKind.NO_PUBLISHED_PRICE: "no_published_price",
                         FindingKind.AMOUNT_MISMATCH: "amount_mismatch",
                         FindingKind.SALE_OF_BLOCKED_BATCH: "sale_of_blocked_batch", FindingKind.OVERSOLD: "oversold"}


def _findings(findings: Sequence[RecordedFinding], rules: CreditRules, scaled: Scaler,
              day_of: Callable[[datetime], date]) -> tuple[list[Deduction], int]:
    """One deduction per kind, stall and market day: a finding is raised per sale, and a day's wrong price is one
    wrong price however often it was paid."""
    days: dict[tuple[FindingKind, str | None, date], list[RecordedFinding]] = {}
    for recorded in findings:
        finding = recorded.finding
        if rules.finding_points(finding.kind) <= 0 or (recorded.resolved_at and not rules.count_resolved_findings):
            continue
        days.setdefault((finding.kind, finding.stall, day_of(finding.at)), []).append(recorded)
    found = []
    for (kind, stall, day), same in days.items():
        latest = max(same, key=lambda r: (r.finding.at, r.finding_id))
        full = rules.finding_points(kind)
        points, older = scaled(full, latest.finding.at)
        times = f"（当日 {len(same)} 次）" if len(same) > 1 else ""
        found.append(Deduction(CreditSource.FINDING, _FINDING_RULES[kind], points, full,
                               f"{day.isoformat()} {kind.label_zh}{times}", f"finding:{latest.finding_id}", stall,
                               latest.finding.at, older))
    return found, len(findings)


def _tests(tests: Sequence[tuple[RapidTest, Batch]], rules: CreditRules, scaled: Scaler
           ) -> tuple[list[Deduction], int]:
    """One deduction per batch: failed (positive, or confirmed by the laboratory), else waiting for the laboratory."""
    batches: dict[str, tuple[Batch, list[RapidTest]]] = {}
    for test, batch in tests:
        batches.setdefault(batch.batch_id, (batch, []))[1].append(test)
    found = []
    for batch, own in batches.values():
        failed = sorted((t for t in own if t.failed), key=lambda t: t.tested_at)
        waiting = sorted((t for t in own if t.awaiting_laboratory), key=lambda t: t.tested_at)
        if failed:
            test, rule, full, words = failed[0], "test_positive", rules.test_positive, "快检不合格"
        elif waiting:
            test, rule, full, words = waiting[0], "test_suspected", rules.test_suspected, "快检疑似阳性（待实验室复检）"
        else:
            continue
        points, older = scaled(full, test.tested_at)
        found.append(Deduction(CreditSource.RAPID_TEST, rule, points, full,
                               f"{batch.product} {words}：{test.item}（{test.verdict_zh}）", f"batch:{batch.batch_id}",
                               batch.stall, test.tested_at, older))
    return found, len(tests)


def _complaints(complaints: Sequence[Complaint], rules: CreditRules, scaled: Scaler) -> tuple[list[Deduction], int]:
    found = []
    for complaint in complaints:
        if not complaint.upheld:
            continue
        points, older = scaled(rules.complaint_upheld, complaint.closed_at)
        found.append(Deduction(CreditSource.COMPLAINT, "complaint_upheld", points, rules.complaint_upheld,
                               f"投诉经核实属实（{complaint.category.label_zh}）", _complaint_fact(complaint),
                               complaint.stall, complaint.closed_at, older))
    return found, len(complaints)


def _complaint_fact(complaint: Complaint) -> str:
    """The complaint's id (the operator's pages are by id), or its reference before it is stored."""
    return f"complaint:{complaint.complaint_id if complaint.complaint_id is not None else complaint.reference}"


def _recalls(batches: Sequence[Batch], rules: CreditRules, scaled: Scaler) -> tuple[list[Deduction], int]:
    found = []
    for batch in batches:
        block = batch.block
        if block is None or block.cause is not BlockCause.OPERATOR:
            continue  # stopped by its own rapid test: counted as the test
        points, older = scaled(rules.recall, block.at)
        found.append(Deduction(CreditSource.RECALL, "recall", points, rules.recall,
                               f"{batch.product} 批次被召回：{block.reason}", f"batch:{batch.batch_id}", batch.stall,
                               block.at, older))
    return found, len(batches)
