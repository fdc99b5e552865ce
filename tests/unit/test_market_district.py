"""The district view's counting (market.district) and its exports (market.district_exports): plain values in."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from market import district_exports as exports
from market.complaints import ComplaintCategory, ComplaintState
from market.credit import Grade
from market.district import (
    ComplaintFact,
    CreditFact,
    FindingFact,
    LicenceFact,
    MarketFacts,
    Period,
    ProblemCounts,
    RecallFact,
    TestFact,
    TrendKind,
    district_rows,
    stall_problems,
    stall_rows,
    totals,
    trends,
    window_of,
)
from market.findings import FindingKind
from market.licences import Validity
from market.rapid_tests import TestOutcome
from market.tracing import BlockCause

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
DAY = timedelta(days=1)


def problem_test(stall: str, at: datetime, outcome: TestOutcome = TestOutcome.POSITIVE, test_id: int = 1) -> TestFact:
    failed = outcome is TestOutcome.POSITIVE
    return TestFact(test_id, stall, f"B-{test_id}", "西红柿", "有机磷和氨基甲酸酯类农药", outcome,
                    outcome.label_zh, at, failed, outcome is TestOutcome.SUSPECTED_POSITIVE)


def complaint(stall: str, filed: datetime, state: ComplaintState = ComplaintState.RECEIVED,
              closed: datetime | None = None, complaint_id: int = 1) -> ComplaintFact:
    return ComplaintFact(complaint_id, f"TS{complaint_id:010d}", stall, ComplaintCategory.SHORT_WEIGHT, state, filed,
                         filed + 7 * DAY, closed)


def market() -> MarketFacts:
    return MarketFacts(
        "xinfadi", "新发地农贸市场", {"A01": "王记蔬菜", "B02": "李家肉铺", "C03": "张记水果"},
        licences=(LicenceFact("A01", "营业执照", Validity.EXPIRED, date(2026, 11, 1), -24, "91440300708461136T"),
                  LicenceFact("A01", "健康证明", Validity.EXPIRING, date(2026, 12, 5), 10, None, "王建国"),
                  LicenceFact("B02", "食品经营许可证", Validity.MISSING),
                  LicenceFact("C03", "健康证明", Validity.EXPIRING, date(2027, 3, 1), 96)),  # beyond 30 days
        tests=(problem_test("A01", NOW - DAY, test_id=1),
               problem_test("B02", NOW - 2 * DAY, TestOutcome.SUSPECTED_POSITIVE, 2),
               problem_test("A01", NOW - 40 * DAY, test_id=3)),  # before a 30-day window
        recalls=(RecallFact("A01", "B-1", "西红柿", NOW - DAY, BlockCause.FAILED_TEST, "快检不合格"),
                 RecallFact("B02", "B-2", "猪肉", NOW - 2 * DAY, BlockCause.SUSPECTED_TEST, "待复检"),
                 RecallFact("B02", "B-9", "猪肉", NOW - 3 * DAY, BlockCause.OPERATOR, "供货商通报", NOW - DAY)),
        findings=(FindingFact(1, "A01", FindingKind.PRICE_DIFFERS, NOW - DAY),
                  FindingFact(2, "A01", FindingKind.NO_BATCH, NOW - DAY, NOW),
                  FindingFact(3, None, FindingKind.UNREGISTERED_SCALE, NOW - DAY)),
        complaints=(complaint("B02", NOW - 10 * DAY, complaint_id=1),  # open past its deadline
                    complaint("B02", NOW - 2 * DAY, ComplaintState.HANDLING, complaint_id=2),
                    complaint("A01", NOW - 5 * DAY, ComplaintState.RESOLVED, NOW - DAY, 3),
                    complaint("A01", NOW - 60 * DAY, ComplaintState.REJECTED, NOW - 50 * DAY, 4)))


def test_the_window_of_30_days_ends_today_and_the_one_of_12_weeks_with_this_weeks_monday() -> None:
    days = window_of(Period.DAYS, NOW)
    assert days.starts[0] == date(2026, 10, 27) and days.starts[-1] == date(2026, 11, 25)
    assert len(days.starts) == 30
    weeks = window_of(Period.WEEKS, NOW)
    assert weeks.starts[-1] == date(2026, 11, 23) and weeks.starts[-1].weekday() == 0
    assert weeks.starts[0] == date(2026, 9, 7) and len(weeks.starts) == 12
    # 00:30 in Shanghai is the next market day already, an hour before is the day before
    late = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
    assert days.bucket(late) == 29 and days.bucket(late - timedelta(hours=1)) == 28
    assert days.bucket(days.since - timedelta(seconds=1)) is None and days.bucket(NOW + DAY) is None


def test_a_market_is_counted_as_the_office_reads_it() -> None:
    [row] = district_rows([market()], window_of(Period.DAYS, NOW))
    assert row.counts == ProblemCounts(
        licences_expiring=1, licences_expired=1, licences_missing=1, tests_failed=1, tests_suspected=1,
        recalls=2, price_findings=1, other_findings=2, complaints_open=2, complaints_overdue=1,
        complaints_closed=1)
    assert row.stalls_with_problems == 2  # C03's certificate runs out beyond 30 days: no problem yet


def test_twelve_weeks_count_what_thirty_days_leave_out() -> None:
    [row] = district_rows([market()], window_of(Period.WEEKS, NOW))
    assert row.counts.tests_failed == 2
    assert row.counts.complaints_closed == 2  # the one closed 50 days ago too


def test_district_totals_add_up_the_markets() -> None:
    window = window_of(Period.DAYS, NOW)
    other = MarketFacts("beiyuan", "北苑农贸市场", {"N01": "赵记"}, tests=(problem_test("N01", NOW - DAY),))
    rows = district_rows([market(), other], window)
    assert [row.site for row in rows] == ["xinfadi", "beiyuan"]
    assert totals(rows).tests_failed == 2 and totals(rows).recalls == 2


def test_stalls_with_serious_problems_come_first_and_a_stall_lists_only_its_own() -> None:
    window = window_of(Period.DAYS, NOW)
    rows = stall_rows(market(), window)
    assert [row.stall for row in rows] == ["A01", "B02"]
    assert rows[0].name == "王记蔬菜" and rows[0].counts.tests_failed == 1
    problems = stall_problems(market(), "A01", window)
    assert [t.test_id for t in problems.tests] == [1]  # the one 40 days ago is outside the window
    assert [f.finding_id for f in problems.findings] == [1, 2]
    assert [c.complaint_id for c in problems.complaints] == [3]
    assert problems.licences[0].validity is Validity.EXPIRED  # the most urgent first
    assert {r.batch_id for r in stall_problems(market(), "B02", window).recalls} == {"B-9"}  # a hold is no recall


def test_trends_count_each_day_and_sum_markets() -> None:
    window = window_of(Period.DAYS, NOW)
    other = MarketFacts("beiyuan", "北苑", {}, tests=(problem_test("N01", NOW - DAY),))
    found = {trend.kind: trend for trend in trends([market(), other], window)}
    failed = found[TrendKind.TESTS_FAILED]
    assert failed.counts[-2] == 2 and failed.total == 2  # yesterday, both markets; 40 days ago outside
    assert found[TrendKind.TESTS_SUSPECTED].counts[-3] == 1
    assert found[TrendKind.RECALLS].total == 2
    assert found[TrendKind.COMPLAINTS_FILED].total == 3
    assert len(failed.counts) == len(failed.starts) == 30


@given(st.lists(st.integers(min_value=0, max_value=200 * 24), max_size=40), st.sampled_from(list(Period)))
def test_every_moment_in_the_window_lands_in_exactly_one_bucket(hours_ago: list[int], period: Period) -> None:
    window = window_of(period, NOW)
    tests = tuple(problem_test("A01", NOW - timedelta(hours=h), test_id=i) for i, h in enumerate(hours_ago))
    [failed] = [t for t in trends([MarketFacts("x", "x", tests=tests)], window) if t.kind is TrendKind.TESTS_FAILED]
    assert failed.total == sum(1 for t in tests if window.since <= t.tested_at)


def test_the_csv_opens_in_excel_with_chinese_and_no_formula() -> None:
    window = window_of(Period.DAYS, NOW)
    body = exports.csv_bytes(exports.summary_table(district_rows([market()], window)))
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["市场编号", "市场名称", "有问题的摊位"]
    assert rows[1][:6] == ["xinfadi", "新发地农贸市场", "2", "1", "1", "1"]
    assert exports.spreadsheet_safe('=HYPERLINK("x")') == "'=HYPERLINK(\"x\")"
    assert exports.spreadsheet_safe("-24") == "-24"


def test_detail_tables_name_market_and_stall_on_each_row() -> None:
    window = window_of(Period.DAYS, NOW)
    tests = exports.tests_table([market()], window)
    assert tests.header[:4] == ("市场编号", "市场名称", "摊位号", "摊位名称")
    assert [row[:4] for row in tests.rows] == [("xinfadi", "新发地农贸市场", "A01", "王记蔬菜"),
                                                ("xinfadi", "新发地农贸市场", "B02", "李家肉铺")]
    overdue = [row for row in exports.complaints_table([market()], window).rows if row[-1] == "是"]
    assert [row[4] for row in overdue] == ["TS0000000001"]
    licences = exports.licences_table([market()], window).rows
    assert [(row[2], row[7]) for row in licences] == [("B02", "缺失"), ("A01", "已过期"), ("A01", "即将到期")]
    assert licences[0][8] == ""  # a missing document has no end date


def with_credit(facts: MarketFacts) -> MarketFacts:
    """``facts`` with its vendors' grades: one vendor graded C holding A01 and D04 (D04: nothing else wrong), one
    graded D at E05 (nothing else wrong), B02's vendor graded B, C03's graded A."""
    return replace(facts, stalls={**facts.stalls, "D04": "王记干货", "E05": "赵记鲜蔬"}, credit=(
        CreditFact("A01", "v-wang", "王建国", Grade.C, 62), CreditFact("B02", "v-li", "李秀英", Grade.B, 80),
        CreditFact("C03", "v-zhang", "张伟", Grade.A, 96), CreditFact("D04", "v-wang", "王建国", Grade.C, 62),
        CreditFact("E05", "v-zhao", "赵国强", Grade.D, 50)))


def test_vendors_graded_c_and_d_are_counted_once_each_and_their_stalls_are_problem_stalls() -> None:
    window = window_of(Period.DAYS, NOW)
    [row] = district_rows([with_credit(market())], window)
    assert (row.counts.vendors_graded_c, row.counts.vendors_graded_d) == (1, 1)  # v-wang at two stalls: once
    assert row.stalls_with_problems == 4  # A01 and B02 as before, D04 and E05 for their vendors' grades
    rows = {r.stall: r for r in stall_rows(with_credit(market()), window)}
    assert set(rows) == {"A01", "B02", "D04", "E05"}  # C03: its vendor is graded A, its certificate not due
    assert rows["E05"].counts.total == 1 and rows["E05"].counts.serious, "a D vendor is serious"
    assert rows["D04"].counts.total == 1 and not rows["D04"].counts.serious, "a C vendor is a warning"
    assert rows["D04"].credit is not None and rows["D04"].credit.grade is Grade.C
    assert rows["B02"].credit is not None and rows["B02"].credit.grade is Grade.B
    assert [r.stall for r in stall_rows(with_credit(market()), window)] == ["A01", "B02", "E05", "D04"]  # serious first
    assert (stall_problems(with_credit(market()), "E05", window).counts.vendors_graded_d) == 1
    without = district_rows([market()], window)[0]
    assert (without.counts.vendors_graded_c, without.counts.vendors_graded_d) == (0, 0)


def test_district_totals_add_up_the_vendors_of_each_market() -> None:
    window = window_of(Period.DAYS, NOW)
    other = MarketFacts("beiyuan", "北苑农贸市场", {"N01": "赵记"},
                        credit=(CreditFact("N01", "v-wang", "王建国", Grade.C, 70),))  # another market's v-wang
    total = totals(district_rows([with_credit(market()), other], window))
    assert (total.vendors_graded_c, total.vendors_graded_d) == (2, 1)


def test_the_summaries_carry_the_vendors_graded_c_and_d_and_each_stalls_grade() -> None:
    window = window_of(Period.DAYS, NOW)
    facts = with_credit(market())
    summary = exports.summary_table(district_rows([facts], window))
    assert summary.header[-3:] == ("信用C级（诚信警示）经营者", "信用D级（失信经营）经营者", "数据不全")
    assert summary.rows[0][-3:] == ("1", "1", "")
    stalls = exports.stalls_table(facts, stall_rows(facts, window))
    assert stalls.header[-1] == "经营者信用等级"
    assert {row[1]: row[-1] for row in stalls.rows} == {"A01": "C 诚信警示", "E05": "D 失信经营", "B02": "B 守信经营",
                                                        "D04": "C 诚信警示"}
