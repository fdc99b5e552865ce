"""Vendor credit in the domain: what each fact takes off, recency, caps, the grades, what counts nothing, and whose
an event at a stall is (the vendor holding it then)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from market.complaints import Complaint, ComplaintCategory, ComplaintConclusion, ComplaintState
from market.credit import (
    DEFAULT_RULES,
    CreditRating,
    CreditRules,
    CreditSource,
    Grade,
    LicenceFact,
    VendorFacts,
    held_by,
    rate,
    window,
)
from market.findings import Finding, FindingKind, RecordedFinding, finding_key
from market.licences import Document, DocumentKind, DocumentStatus, Requirement, Validity
from market.rapid_tests import LaboratoryResult, LaboratoryVerdict, RapidTest, TestOutcome
from market.stalls import StallTenure
from market.tracing import Batch, Block, BlockCause, Certificate, CertificateType

UNTIL = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
SINCE, _ = window(UNTIL)
RECENT = UNTIL - timedelta(days=10)
OLD = UNTIL - timedelta(days=200)
OUTSIDE = UNTIL - timedelta(days=400)


def batch(batch_id: str = "B1", block: Block | None = None) -> Batch:
    return Batch(batch_id, "A03", "1001", "西红柿", "寿光合作社", "370783", "山东省寿光市", 10_000,
                 (Certificate(CertificateType.COMMITMENT, "CD-1"),), OLD - timedelta(days=30), block=block)


def rapid(outcome: TestOutcome, at: datetime = RECENT, lab: LaboratoryVerdict | None = None,
         batch_id: str = "B1") -> tuple[RapidTest, Batch]:
    laboratory = LaboratoryResult(lab, "市检测所", "R-1", at, "op") if lab else None
    return RapidTest(batch_id, "有机磷和氨基甲酸酯类农药", "酶抑制率法", outcome, "60 %", "op", at,
                     laboratory=laboratory), batch(batch_id)


def finding(kind: FindingKind, at: datetime = RECENT, number: int = 1, resolved: bool = False) -> RecordedFinding:
    return RecordedFinding(number, Finding(kind, finding_key(kind, str(number)), "A03", at), at,
                           resolved_at=at if resolved else None)


def complaint(state: ComplaintState, closed: datetime | None = RECENT, reference: str = "TS23456789AB",
              conclusion: ComplaintConclusion | None = ComplaintConclusion.UPHELD) -> Complaint:
    """A complaint in ``state``; closed as resolved, concluded ``conclusion``; rejected: not upheld."""
    if state is ComplaintState.REJECTED and conclusion is ComplaintConclusion.UPHELD:
        conclusion = ComplaintConclusion.NOT_UPHELD
    return Complaint(reference, "A03", None, ComplaintCategory.SHORT_WEIGHT, "称重少了二两", RECENT - timedelta(days=1),
                     RECENT + timedelta(days=6), state, closed_at=closed if state.closed else None,
                     outcome="已处理" if state.closed else None, conclusion=conclusion if state.closed else None)


def recall(cause: BlockCause = BlockCause.OPERATOR, at: datetime = RECENT, batch_id: str = "B9") -> Batch:
    return batch(batch_id, Block(at, "供货商通报问题批次", "op", cause))


def licence(validity: Validity, requirement: Requirement = Requirement.BUSINESS_LICENCE, stall: str = "A03",
            person: str | None = None) -> LicenceFact:
    document = None if validity is Validity.MISSING else Document(DocumentKind.HEALTH_CERTIFICATE, "JK-1",
                                                                  date(2025, 1, 1), date(2026, 1, 1), "王建国")
    return LicenceFact(stall, DocumentStatus(requirement, document, validity, person=person))


def rated(rules: CreditRules = DEFAULT_RULES, **facts: object) -> CreditRating:
    return rate(VendorFacts("v-wang", SINCE, UNTIL, **facts), rules)  # type: ignore[arg-type]


@pytest.mark.parametrize(("facts", "score", "rule"), [
    ({}, 100, None),
    ({"licences": [licence(Validity.MISSING)]}, 85, "licence_missing"),
    ({"licences": [licence(Validity.EXPIRED)]}, 90, "licence_expired"),
    ({"licences": [licence(Validity.NOT_YET_VALID)]}, 90, "licence_not_yet_valid"),
    ({"licences": [licence(Validity.EXPIRING)]}, 100, None),
    ({"licences": [licence(Validity.VALID)]}, 100, None),
    ({"findings": [finding(FindingKind.PRICE_DIFFERS)]}, 97, "price_differs"),
    ({"findings": [finding(FindingKind.NO_PUBLISHED_PRICE)]}, 98, "no_published_price"),
    ({"findings": [finding(FindingKind.AMOUNT_MISMATCH)]}, 95, "amount_mismatch"),
    ({"findings": [finding(FindingKind.SALE_OF_BLOCKED_BATCH)]}, 90, "sale_of_blocked_batch"),
    ({"findings": [finding(FindingKind.OVERSOLD)]}, 98, "oversold"),
    ({"findings": [finding(FindingKind.UNREGISTERED_SCALE)]}, 100, None),
    ({"findings": [finding(FindingKind.NO_BATCH)]}, 100, None),
    ({"tests": [rapid(TestOutcome.POSITIVE)]}, 80, "test_positive"),
    ({"tests": [rapid(TestOutcome.SUSPECTED_POSITIVE)]}, 95, "test_suspected"),
    ({"tests": [rapid(TestOutcome.SUSPECTED_POSITIVE, lab=LaboratoryVerdict.FAIL)]}, 80, "test_positive"),
    ({"tests": [rapid(TestOutcome.SUSPECTED_POSITIVE, lab=LaboratoryVerdict.PASS)]}, 100, None),
    ({"tests": [rapid(TestOutcome.NEGATIVE)]}, 100, None),
    ({"complaints": [complaint(ComplaintState.RESOLVED)]}, 95, "complaint_upheld"),
    ({"complaints": [complaint(ComplaintState.RESOLVED, conclusion=ComplaintConclusion.NOT_UPHELD)]}, 100, None),
    ({"complaints": [complaint(ComplaintState.RESOLVED, conclusion=None)]}, 95, "complaint_upheld"),  # closed before
    ({"complaints": [complaint(ComplaintState.REJECTED, conclusion=None)]}, 100, None),  # conclusions were kept
    ({"complaints": [complaint(ComplaintState.REJECTED)]}, 100, None),
    ({"complaints": [complaint(ComplaintState.HANDLING)]}, 100, None),
    ({"recalls": [recall()]}, 90, "recall"),
    ({"recalls": [recall(BlockCause.FAILED_TEST)]}, 100, None),
    ({"recalls": [recall(BlockCause.SUSPECTED_TEST)]}, 100, None),
])
def test_what_each_fact_takes_off(facts: dict[str, object], score: int, rule: str | None) -> None:
    rating = rated(**facts)
    assert rating.score == score
    assert [d.rule for d in rating.deductions] == ([rule] if rule else [])
    considered = sum(total.considered for total in rating.totals)
    assert considered == sum(len(v) for v in facts.values())  # type: ignore[arg-type]


@pytest.mark.parametrize(("at", "points", "older"), [
    (RECENT, 20, False),
    (UNTIL - timedelta(days=90), 20, False),
    (UNTIL - timedelta(days=91), 10, True),
    (OLD, 10, True),
    (SINCE, 10, True),
    (SINCE - timedelta(seconds=1), None, None),
    (OUTSIDE, None, None),
    (UNTIL + timedelta(seconds=1), None, None),
])
def test_older_events_count_half_and_those_outside_the_window_nothing(at: datetime, points: int | None,
                                                                      older: bool | None) -> None:
    rating = rated(tests=[rapid(TestOutcome.POSITIVE, at=at)])
    if points is None:
        assert rating.deductions == () and rating.score == 100
        return
    (deduction,) = rating.deductions
    assert (deduction.points, deduction.full_points, deduction.older) == (points, 20, older)


def test_an_older_event_rounds_up_so_it_never_vanishes() -> None:
    (deduction,) = rated(findings=[finding(FindingKind.PRICE_DIFFERS, at=OLD)]).deductions
    assert deduction.points == 2  # 3 × 50 % = 1.5 → 2


@pytest.mark.parametrize(("source", "facts", "cap", "kept"), [
    (CreditSource.RAPID_TEST, {"tests": [rapid(TestOutcome.POSITIVE, batch_id=f"B{i}") for i in range(4)]}, 50, 3),
    (CreditSource.RECALL, {"recalls": [recall(batch_id=f"R{i}") for i in range(5)]}, 30, 3),
    (CreditSource.COMPLAINT, {"complaints": [complaint(ComplaintState.RESOLVED, reference=f"TS{i:010d}")
                                             for i in range(8)]}, 30, 6),
    (CreditSource.LICENCE, {"licences": [licence(Validity.MISSING, r) for r in Requirement]}, 40, 3),
    (CreditSource.FINDING, {"findings": [finding(FindingKind.SALE_OF_BLOCKED_BATCH, RECENT - timedelta(days=i), i)
                                         for i in range(5)]}, 30, 3),
])
def test_each_source_is_capped(source: CreditSource, facts: dict[str, object], cap: int, kept: int) -> None:
    rating = rated(**facts)
    total = next(t for t in rating.totals if t.source is source)
    assert total.points == cap < total.uncapped
    assert total.counted == kept == len(rating.deductions)
    assert rating.score == 100 - cap


def test_the_heaviest_then_the_latest_count_first_under_a_cap() -> None:
    tests = [rapid(TestOutcome.POSITIVE, at=OLD, batch_id="old"),
             rapid(TestOutcome.POSITIVE, at=RECENT, batch_id="new"),
             rapid(TestOutcome.POSITIVE, at=RECENT - timedelta(days=1), batch_id="mid"),
             rapid(TestOutcome.SUSPECTED_POSITIVE, at=RECENT, batch_id="waits")]
    rating = rated(tests=tests)
    assert [(d.fact, d.points) for d in rating.deductions] == [("batch:new", 20), ("batch:mid", 20),
                                                               ("batch:old", 10)]
    assert rating.score == 50


def test_the_deduction_crossing_the_cap_takes_what_is_left() -> None:
    rules = CreditRules(test_cap=30)
    rating = rated(rules, tests=[rapid(TestOutcome.POSITIVE, batch_id=b) for b in ("B1", "B2")])
    assert [d.points for d in rating.deductions] == [20, 10]
    assert rating.deductions[1].full_points == 20 and "上限" in rating.deductions[1].reason_zh


def test_a_kind_of_finding_counts_once_a_stall_and_day() -> None:
    same_day = [finding(FindingKind.PRICE_DIFFERS, RECENT + timedelta(minutes=i), i) for i in range(12)]
    next_day = finding(FindingKind.PRICE_DIFFERS, RECENT + timedelta(days=1), 99)
    other_kind = finding(FindingKind.AMOUNT_MISMATCH, RECENT, 100)
    rating = rated(findings=[*same_day, next_day, other_kind])
    assert sorted((d.rule, d.fact) for d in rating.deductions) == [
        ("amount_mismatch", "finding:100"), ("price_differs", "finding:11"), ("price_differs", "finding:99")]
    assert any("当日 12 次" in d.reason_zh for d in rating.deductions)
    assert rating.score == 100 - 5 - 3 - 3


def test_a_market_may_count_only_open_findings() -> None:
    resolved = [finding(FindingKind.PRICE_DIFFERS, resolved=True)]
    assert rated(findings=resolved).score == 97
    assert rated(CreditRules(count_resolved_findings=False), findings=resolved).score == 100


def test_a_batch_counts_once_however_many_tests_it_had() -> None:
    tests = [rapid(TestOutcome.SUSPECTED_POSITIVE, RECENT), rapid(TestOutcome.POSITIVE, RECENT + timedelta(hours=1)),
             rapid(TestOutcome.NEGATIVE, RECENT + timedelta(hours=2))]
    (deduction,) = rated(tests=tests).deductions
    assert deduction.rule == "test_positive" and deduction.fact == "batch:B1"


def test_the_same_document_wanted_at_two_stalls_counts_once() -> None:
    facts = [licence(Validity.MISSING, stall="A03"), licence(Validity.MISSING, stall="A04"),
             licence(Validity.EXPIRED, Requirement.HEALTH_CERTIFICATE, "A03", "王建国"),
             licence(Validity.EXPIRED, Requirement.HEALTH_CERTIFICATE, "A04", "王建国")]
    rating = rated(licences=facts)
    assert [d.rule for d in rating.deductions] == ["licence_missing", "licence_expired"]
    assert "健康证明（王建国）已过期" in rating.deductions[1].reason_zh


@pytest.mark.parametrize(("score", "grade"), [(100, Grade.A), (90, Grade.A), (89, Grade.B), (75, Grade.B),
                                              (74, Grade.C), (60, Grade.C), (59, Grade.D), (0, Grade.D)])
def test_grades(score: int, grade: Grade) -> None:
    assert CreditRules().grade(score) is grade


def test_grade_labels() -> None:
    assert [g.label_zh for g in Grade] == ["诚信经营", "守信经营", "诚信警示", "失信经营"]


def test_the_score_does_not_go_below_zero() -> None:
    rating = rated(licences=[licence(Validity.MISSING, r) for r in Requirement],
                   tests=[rapid(TestOutcome.POSITIVE, batch_id=f"B{i}") for i in range(3)],
                   recalls=[recall(batch_id=f"R{i}") for i in range(3)],
                   complaints=[complaint(ComplaintState.RESOLVED, reference=f"TS{i:010d}") for i in range(6)],
                   findings=[finding(FindingKind.SALE_OF_BLOCKED_BATCH, RECENT - timedelta(days=i), i)
                             for i in range(3)])
    assert (rating.score, rating.grade) == (0, Grade.D)


def test_a_market_tunes_the_rules() -> None:
    rules = CreditRules(test_positive=40, grade_a=95, older_percent=0)
    rating = rated(rules, tests=[rapid(TestOutcome.POSITIVE), rapid(TestOutcome.POSITIVE, OLD, batch_id="B2")])
    assert (rating.score, rating.grade) == (60, Grade.C)


@pytest.mark.parametrize("changes", [
    {"window_days": 0}, {"window_days": 5000}, {"recent_days": 400}, {"older_percent": 101},
    {"test_positive": -1}, {"grade_a": 70}, {"grade_c": 80}, {"recall_cap": 101},
])
def test_rules_out_of_range_are_refused(changes: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        replace(CreditRules(), **changes)  # type: ignore[arg-type]


TENURES = [StallTenure("A03", "王记蔬菜", "v-wang", UNTIL - timedelta(days=300)),
           StallTenure("A03", "李记蔬菜", "v-li", UNTIL - timedelta(days=100)),
           StallTenure("A03", "空摊位", None, UNTIL - timedelta(days=50))]


@pytest.mark.parametrize(("vendor", "at", "held"), [
    ("v-wang", UNTIL - timedelta(days=200), True),
    ("v-li", UNTIL - timedelta(days=200), False),
    ("v-li", UNTIL - timedelta(days=100), True),
    ("v-wang", UNTIL - timedelta(days=60), False),
    ("v-li", UNTIL - timedelta(days=10), False),
    ("v-wang", UNTIL - timedelta(days=400), True),  # before the first tenure: the stall as first registered
])
def test_an_event_at_a_stall_is_the_vendor_holding_it_then(vendor: str, at: datetime, held: bool) -> None:
    assert held_by(TENURES, vendor, at) is held
    assert held_by([], vendor, at) is False


def test_the_docs_print_the_default_rules() -> None:
    """docs/market.md §5.1 is the documented table: it says what the defaults are."""
    text = (Path(__file__).parents[2] / "docs" / "market.md").read_text(encoding="utf-8")
    r = DEFAULT_RULES
    rows = [
        f"| {r.licence_missing} / {r.licence_expired} / {r.licence_not_yet_valid} / {r.licence_expiring} | "
        f"{r.licence_cap} |",
        f"| {r.price_differs} / {r.no_published_price} / {r.amount_mismatch} / {r.sale_of_blocked_batch} / "
        f"{r.oversold} | {r.finding_cap} |",
        f"| {r.test_positive} / {r.test_suspected} | {r.test_cap} |",
        f"| {r.complaint_upheld} | {r.complaint_cap} |",
        f"| {r.recall} | {r.recall_cap} |",
        f"| A | {r.grade_a}–100 | {Grade.A.label_zh} |",
        f"| B | {r.grade_b}–{r.grade_a - 1} | {Grade.B.label_zh} |",
        f"| C | {r.grade_c}–{r.grade_b - 1} | {Grade.C.label_zh} |",
        f"| D | 0–{r.grade_c - 1} | {Grade.D.label_zh} |",
        f"last {r.window_days} days by default", f"the last {r.recent_days} days counts",
        f"{r.older_percent} % of its points",
    ]
    assert [row for row in rows if row not in text] == []
