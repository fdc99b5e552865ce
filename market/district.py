"""The district view (辖区概览) of a market-supervision office: what went wrong at each market it oversees, counted
per market and per stall, and the same counts per day or week as trends.

The facts of each market — licences needing attention today, rapid tests that failed or wait for the laboratory,
batches stopped (recalls), findings, complaints — arrive here as plain values (:class:`MarketFacts`, gathered by
:mod:`market.service.district`); this module only counts them against a :class:`Window` (the last 30 market days,
or the last 12 weeks, ending with the one ``now`` falls in). No clock, no I/O.

What is counted, and over which time:

* licences: as they stand today — expiring within 30 days, expired, missing (a stall's required document that is
  not there at all);
* rapid tests done in the window: failed (positive, or a suspected positive the laboratory confirmed), suspected
  positive still waiting for the laboratory;
* recalls: batches stopped in the window, for a failed test or on the operator's word (a batch held for the
  laboratory is counted as a suspected test, not as a recall, until the laboratory confirms it);
* findings raised about something that happened in the window: about prices (the price paid differs from the
  published one, no published price, an amount that is not weight × price), and the others;
* complaints: open now (whenever filed), overdue now (open past their deadline), closed in the window;
* vendor credit: the vendors holding a stall now graded C (诚信警示) or D (失信经营) — as they stand today, each
  rating over its own window (:mod:`market.credit`, a year by default), not the view's. A stall whose vendor is
  graded C or D is a stall with a problem; a D grade is serious.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from market.complaints import ComplaintCategory, ComplaintState
from market.credit import Grade
from market.findings import FindingKind
from market.licences import Validity
from market.market_time import day_start, market_day
from market.rapid_tests import TestOutcome
from market.tracing import BlockCause

EXPIRY_HORIZON_DAYS: Final = 30
"""A licence expiring within this many days is counted as expiring."""
PRICE_FINDINGS: Final = frozenset({FindingKind.PRICE_DIFFERS, FindingKind.NO_PUBLISHED_PRICE,
                                   FindingKind.AMOUNT_MISMATCH})
"""Findings about prices (明码标价): the price paid is not the one published, or none was published."""
RECALL_CAUSES: Final = frozenset({BlockCause.FAILED_TEST, BlockCause.OPERATOR})


class Period(StrEnum):
    """How far back the view looks, and the trend's step."""

    DAYS = "30d"
    WEEKS = "12w"

    @property
    def label_zh(self) -> str:
        return "近30天（按日）" if self is Period.DAYS else "近12周（按周）"

    @property
    def buckets(self) -> int:
        return 30 if self is Period.DAYS else 12

    @property
    def step(self) -> timedelta:
        return timedelta(days=1) if self is Period.DAYS else timedelta(weeks=1)


@dataclass(frozen=True)
class Window:
    """The market days counted: ``buckets`` days or weeks (weeks from Monday), the last holding ``now``."""

    period: Period
    now: datetime
    first_day: date

    @property
    def since(self) -> datetime:
        """The first instant counted (UTC)."""
        return day_start(self.first_day)

    @property
    def starts(self) -> list[date]:
        """The first market day of each bucket, oldest first."""
        return [self.first_day + self.period.step * index for index in range(self.period.buckets)]

    def contains(self, at: datetime) -> bool:
        return self.since <= at <= self.now

    def bucket(self, at: datetime) -> int | None:
        """The index of the bucket ``at`` falls in; None outside the window."""
        if not self.contains(at):
            return None
        return (market_day(at) - self.first_day) // self.period.step


def window_of(period: Period, now: datetime) -> Window:
    """The window of ``period`` ending with the market day (or the week, from Monday) of ``now``."""
    today = market_day(now)
    last = today if period is Period.DAYS else today - timedelta(days=today.weekday())
    return Window(period, now, last - period.step * (period.buckets - 1))


# -- the facts of a market, as gathered -----------------------------------------------------------------------


@dataclass(frozen=True)
class LicenceFact:
    """A stall's required document that needs attention today (expiring, expired, missing, not yet valid)."""

    stall: str
    requirement: str
    """What is required, in words (营业执照, 健康证明...)."""
    validity: Validity
    valid_to: date | None = None
    days_to_expiry: int | None = None
    number: str | None = None
    """The document's number; None when missing, or personal (a health certificate, an identity card)."""
    person: str | None = None
    """Whose health certificate it is."""
    vendor: str | None = None


@dataclass(frozen=True)
class TestFact:
    """A rapid test that was not negative (or whose suspected positive the laboratory cleared)."""

    __test__ = False

    test_id: int
    stall: str
    batch_id: str
    product: str
    item: str
    outcome: TestOutcome
    verdict: str
    """What the test says now, in words (阳性, 疑似阳性（待实验室复检）, 疑似阳性，复检不合格...)."""
    tested_at: datetime
    failed: bool
    awaiting_laboratory: bool


@dataclass(frozen=True)
class RecallFact:
    """A batch stopped from sale; ``released_at`` when the block was lifted since."""

    stall: str
    batch_id: str
    product: str
    at: datetime
    cause: BlockCause
    reason: str
    released_at: datetime | None = None


@dataclass(frozen=True)
class FindingFact:
    finding_id: int
    stall: str | None
    kind: FindingKind
    at: datetime
    resolved_at: datetime | None = None

    @property
    def about_prices(self) -> bool:
        return self.kind in PRICE_FINDINGS


@dataclass(frozen=True)
class ComplaintFact:
    """A complaint as the district counts it: nothing of the complainant."""

    complaint_id: int
    reference: str
    stall: str
    category: ComplaintCategory
    state: ComplaintState
    filed_at: datetime
    deadline: datetime
    closed_at: datetime | None = None

    def overdue(self, now: datetime) -> bool:
        return not self.state.closed and now > self.deadline


@dataclass(frozen=True)
class CreditFact:
    """The credit grade of the vendor holding a stall now (a vendor holding two stalls: a fact at each)."""

    stall: str
    vendor_id: str
    vendor: str
    """The vendor's name."""
    grade: Grade
    score: int


@dataclass(frozen=True)
class MarketFacts:
    """What was gathered of one market: its stalls' names by code and its problems."""

    site: str
    name: str
    stalls: dict[str, str] = field(default_factory=dict)
    licences: tuple[LicenceFact, ...] = ()
    tests: tuple[TestFact, ...] = ()
    recalls: tuple[RecallFact, ...] = ()
    findings: tuple[FindingFact, ...] = ()
    complaints: tuple[ComplaintFact, ...] = ()
    truncated: bool = False
    """More of some kind than is gathered at once: the counts are at least these."""
    credit: tuple[CreditFact, ...] = ()
    """The grade of each stall's vendor, of every stall held now."""


# -- counting -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProblemCounts:
    """The district table's columns for one market, one stall, or all of them."""

    licences_expiring: int = 0
    licences_expired: int = 0
    licences_missing: int = 0
    tests_failed: int = 0
    tests_suspected: int = 0
    recalls: int = 0
    price_findings: int = 0
    other_findings: int = 0
    complaints_open: int = 0
    complaints_overdue: int = 0
    complaints_closed: int = 0
    vendors_graded_c: int = 0
    """Vendors holding a stall now graded C (诚信警示): each once, however many stalls they hold."""
    vendors_graded_d: int = 0
    """Graded D (失信经营)."""

    def __add__(self, other: ProblemCounts) -> ProblemCounts:
        return ProblemCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def total(self) -> int:
        """Every problem once (an overdue complaint is an open one; closed complaints are no problem now)."""
        return (self.licences_expiring + self.licences_expired + self.licences_missing + self.tests_failed
                + self.tests_suspected + self.recalls + self.price_findings + self.other_findings
                + self.complaints_open + self.vendors_graded_c + self.vendors_graded_d)

    @property
    def serious(self) -> bool:
        """Something the office acts on first: a failed test, an expired licence, an overdue complaint, a vendor
        graded D."""
        return bool(self.tests_failed or self.licences_expired or self.complaints_overdue or self.vendors_graded_d)


def counts_of(facts: MarketFacts, window: Window, stall: str | None = None) -> ProblemCounts:
    """The counts of a market's facts in ``window`` (of one stall only, when ``stall`` is given)."""
    picked = _of_stall(facts, stall) if stall is not None else facts
    licences = [fact for fact in picked.licences if _counted_licence(fact)]
    tests = [fact for fact in picked.tests if window.contains(fact.tested_at)]
    findings = [fact for fact in picked.findings if window.contains(fact.at)]
    complaints = picked.complaints
    return ProblemCounts(
        licences_expiring=sum(1 for fact in licences if fact.validity is Validity.EXPIRING),
        licences_expired=sum(1 for fact in licences if fact.validity is Validity.EXPIRED),
        licences_missing=sum(1 for fact in licences if fact.validity is Validity.MISSING),
        tests_failed=sum(1 for fact in tests if fact.failed),
        tests_suspected=sum(1 for fact in tests if fact.awaiting_laboratory),
        recalls=sum(1 for fact in picked.recalls if _counted_recall(fact, window)),
        price_findings=sum(1 for fact in findings if fact.about_prices),
        other_findings=sum(1 for fact in findings if not fact.about_prices),
        complaints_open=sum(1 for fact in complaints if not fact.state.closed),
        complaints_overdue=sum(1 for fact in complaints if fact.overdue(window.now)),
        complaints_closed=sum(1 for fact in complaints
                              if fact.closed_at is not None and window.contains(fact.closed_at)),
        vendors_graded_c=len({fact.vendor_id for fact in picked.credit if fact.grade is Grade.C}),
        vendors_graded_d=len({fact.vendor_id for fact in picked.credit if fact.grade is Grade.D}),
    )


def _counted_licence(fact: LicenceFact) -> bool:
    if fact.validity is Validity.EXPIRING:
        return fact.days_to_expiry is not None and fact.days_to_expiry <= EXPIRY_HORIZON_DAYS
    return fact.validity in (Validity.EXPIRED, Validity.MISSING)


def _counted_recall(fact: RecallFact, window: Window) -> bool:
    return fact.cause in RECALL_CAUSES and window.contains(fact.at)


@dataclass(frozen=True)
class MarketRow:
    site: str
    name: str
    counts: ProblemCounts
    stalls_with_problems: int
    truncated: bool = False


def market_row(facts: MarketFacts, window: Window) -> MarketRow:
    stalls = sum(1 for row in stall_rows(facts, window))
    return MarketRow(facts.site, facts.name, counts_of(facts, window), stalls, facts.truncated)


def district_rows(markets: Iterable[MarketFacts], window: Window) -> list[MarketRow]:
    """One row per market, in the order given (by site id, as listed)."""
    return [market_row(facts, window) for facts in markets]


def totals(rows: Iterable[MarketRow]) -> ProblemCounts:
    return sum((row.counts for row in rows), ProblemCounts())


@dataclass(frozen=True)
class StallRow:
    stall: str
    name: str
    counts: ProblemCounts
    credit: CreditFact | None = None
    """The grade of the vendor holding the stall now; None without one."""


def stall_rows(facts: MarketFacts, window: Window) -> list[StallRow]:
    """The market's stalls with any problem in ``window`` (their vendor graded C or D is one), the most problems
    first (then by code)."""
    credit = {fact.stall: fact for fact in facts.credit}
    codes = {fact.stall for kind in (facts.licences, facts.tests, facts.recalls, facts.complaints)
             for fact in kind} | {fact.stall for fact in facts.findings if fact.stall is not None} | set(credit)
    rows = [StallRow(code, facts.stalls.get(code, ""), counts_of(facts, window, code), credit.get(code))
            for code in codes]
    found = [row for row in rows if row.counts.total]
    return sorted(found, key=lambda row: (not row.counts.serious, -row.counts.total, row.stall))


@dataclass(frozen=True)
class StallProblems:
    """One stall's problems in ``window``, each list newest (or most urgent) first."""

    stall: str
    name: str
    counts: ProblemCounts
    licences: list[LicenceFact]
    tests: list[TestFact]
    recalls: list[RecallFact]
    findings: list[FindingFact]
    complaints: list[ComplaintFact]


def stall_problems(facts: MarketFacts, stall: str, window: Window) -> StallProblems:
    picked = in_window(_of_stall(facts, stall), window)
    return StallProblems(stall, facts.stalls.get(stall, ""), counts_of(facts, window, stall), list(picked.licences),
                         list(picked.tests), list(picked.recalls), list(picked.findings), list(picked.complaints))


def in_window(facts: MarketFacts, window: Window) -> MarketFacts:
    """``facts`` keeping what the counts of ``window`` count (and the findings and complaints still open), each kind
    in the order a list shows it: licences the most urgent first, the rest newest first, open complaints by
    deadline; the credit grades, as they stand today, all of them."""
    return MarketFacts(
        facts.site, facts.name, facts.stalls,
        tuple(sorted((f for f in facts.licences if _counted_licence(f) or f.validity is Validity.NOT_YET_VALID),
                     key=_licence_urgency)),
        tuple(sorted((f for f in facts.tests if window.contains(f.tested_at)), key=lambda f: f.tested_at,
                     reverse=True)),
        tuple(sorted((f for f in facts.recalls if _counted_recall(f, window)), key=lambda f: f.at, reverse=True)),
        tuple(sorted((f for f in facts.findings if window.contains(f.at) or f.resolved_at is None),
                     key=lambda f: f.at, reverse=True)),
        tuple(sorted((f for f in facts.complaints
                      if not f.state.closed or (f.closed_at is not None and window.contains(f.closed_at))),
                     key=lambda f: (f.state.closed, f.deadline))),
        facts.truncated, facts.credit)


def _licence_urgency(fact: LicenceFact) -> tuple[int, str, str]:
    days = fact.days_to_expiry
    return (-10**6 if days is None else days), fact.stall, fact.requirement


def _of_stall(facts: MarketFacts, stall: str) -> MarketFacts:
    return MarketFacts(
        facts.site, facts.name, facts.stalls,
        tuple(f for f in facts.licences if f.stall == stall), tuple(f for f in facts.tests if f.stall == stall),
        tuple(f for f in facts.recalls if f.stall == stall), tuple(f for f in facts.findings if f.stall == stall),
        tuple(f for f in facts.complaints if f.stall == stall), facts.truncated,
        tuple(f for f in facts.credit if f.stall == stall))


# -- trends ---------------------------------------------------------------------------------------------------


class TrendKind(StrEnum):
    TESTS_FAILED = "tests_failed"
    TESTS_SUSPECTED = "tests_suspected"
    RECALLS = "recalls"
    PRICE_FINDINGS = "price_findings"
    COMPLAINTS_FILED = "complaints_filed"

    @property
    def label_zh(self) -> str:
        return _TREND_ZH[self]


_TREND_ZH: Final = {TrendKind.TESTS_FAILED: "快检不合格", TrendKind.TESTS_SUSPECTED: "疑似阳性",
                    TrendKind.RECALLS: "召回", TrendKind.PRICE_FINDINGS: "价格问题线索",
                    TrendKind.COMPLAINTS_FILED: "新增投诉"}


@dataclass(frozen=True)
class Trend:
    """How many of ``kind`` each day or week of the window (``counts[i]`` in the bucket starting ``starts[i]``)."""

    kind: TrendKind
    starts: tuple[date, ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


def trends(markets: Iterable[MarketFacts], window: Window) -> list[Trend]:
    """The district's (or one market's) trends of each kind over ``window``, summed over ``markets``."""
    moments: dict[TrendKind, list[datetime]] = {kind: [] for kind in TrendKind}
    for facts in markets:
        moments[TrendKind.TESTS_FAILED] += [f.tested_at for f in facts.tests if f.failed]
        moments[TrendKind.TESTS_SUSPECTED] += [f.tested_at for f in facts.tests if f.awaiting_laboratory]
        moments[TrendKind.RECALLS] += [f.at for f in facts.recalls if f.cause in RECALL_CAUSES]
        moments[TrendKind.PRICE_FINDINGS] += [f.at for f in facts.findings if f.about_prices]
        moments[TrendKind.COMPLAINTS_FILED] += [f.filed_at for f in facts.complaints]
    return [Trend(kind, tuple(window.starts), _bucketed(found, window)) for kind, found in moments.items()]


def _bucketed(moments: Sequence[datetime], window: Window) -> tuple[int, ...]:
    counts = [0] * window.period.buckets
    for moment in moments:
        index = window.bucket(moment)
        if index is not None:
            counts[index] += 1
    return tuple(counts)
