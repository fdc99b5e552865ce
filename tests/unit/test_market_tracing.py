"""Produce tracing: linking sales to batches, findings on gaps in the trail, recall and its release,
mass balance and its correction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.findings import FindingKind
from market.licences import StallType
from market.tracing import (
    Batch,
    BlockCause,
    CertificateType,
    LinkMethod,
    MassBalance,
    RapidTest,
    RapidTestResult,
    ReleaseRefusal,
    Sale,
    accepted_certificates,
    block_batch,
    current_batch,
    failed_test_reason,
    latest_tests,
    link_sale,
    oversold_finding,
    predates_arrival,
    release_batch,
    release_refusal,
    standing_failures,
    tracing_findings,
    with_quantity,
)

DAWN = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)  # 05:00 in Shanghai


def batch(batch_id: str, hours: float = 0, plu: str = "1001", stall: str = "A03", grams: int = 50_000) -> Batch:
    return Batch(batch_id, stall, plu, "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市", grams,
                 CertificateType.ORIGIN, "CD-001", DAWN + timedelta(hours=hours), supplier_contact="13800000000")


def sale(hours: float, claimed: str | None = None, plu: str = "1001", record: str = "r-1") -> Sale:
    return Sale("scale-01", record, DAWN + timedelta(hours=hours), "A03", plu, "西红柿", 1250, 680, 850,
                f"demo-A03-{record}", claimed)


def test_a_named_batch_that_was_received_is_linked() -> None:
    old, new = batch("B1", 0), batch("B2", 1)
    link = link_sale(sale(2, claimed="B1"), {"B1": old, "B2": new}, [old, new])
    assert link.batch == old and link.method is LinkMethod.EXPLICIT and tracing_findings(sale(2, "B1"), link) == []


def test_without_a_batch_named_the_stalls_current_batch_of_the_product_is_linked() -> None:
    batches = [batch("B1", 0), batch("B2", 1), batch("B3", 5), batch("C1", 2, plu="1002")]
    link = link_sale(sale(3), {}, batches)
    assert link.batch is not None and link.batch.batch_id == "B2" and link.method is LinkMethod.CURRENT


def test_an_unknown_batch_name_falls_back_and_is_a_finding_per_stall_and_batch() -> None:
    link = link_sale(sale(3, claimed="B20261123-A03-01"), {}, [batch("B1", 0)])
    assert link.batch is not None and link.batch.batch_id == "B1" and link.unknown_claim == "B20261123-A03-01"
    (finding,) = tracing_findings(sale(3, claimed="B20261123-A03-01"), link)
    assert finding.kind is FindingKind.UNKNOWN_BATCH and finding.key == "unknown_batch:A03:B20261123-A03-01"
    assert finding.detail["linked_to"] == "B1"


def test_a_sale_with_no_batch_at_all_is_one_finding_per_stall_product_and_day() -> None:
    link = link_sale(sale(3), {}, [batch("B1", 5)])  # arrived after the sale
    assert link.batch is None and link.method is LinkMethod.NONE
    (finding,) = tracing_findings(sale(3), link)
    assert finding.kind is FindingKind.NO_BATCH and finding.key == "no_batch:A03:1001:2026-11-23"


def test_after_a_recall_the_sale_links_to_an_older_open_batch_if_there_is_one() -> None:
    older = batch("B1", 0)
    recalled = block_batch(batch("B2", 1), DAWN + timedelta(hours=2), "快检不合格", "op", BlockCause.OPERATOR)
    assert current_batch([older, recalled], "A03", "1001", DAWN + timedelta(hours=3)) == older
    assert current_batch([recalled], "A03", "1001", DAWN + timedelta(hours=3)) == recalled
    assert current_batch([older, recalled], "A03", "1001", DAWN + timedelta(hours=1.5)) == recalled


def test_selling_from_a_blocked_batch_is_a_finding_per_sale() -> None:
    blocked = block_batch(batch("B1"), DAWN + timedelta(hours=1), "召回", "op-1", BlockCause.OPERATOR)
    before = link_sale(sale(0.5, "B1"), {"B1": blocked}, [blocked])
    assert tracing_findings(sale(0.5, "B1"), before) == []
    after = link_sale(sale(2, "B1", record="r-7"), {"B1": blocked}, [blocked])
    (finding,) = tracing_findings(sale(2, "B1", record="r-7"), after)
    assert finding.kind is FindingKind.SALE_OF_BLOCKED_BATCH and finding.key == "sale_of_blocked_batch:scale-01:r-7"


def test_a_batch_is_blocked_once() -> None:
    blocked = block_batch(batch("B1"), DAWN, "召回", "op-1", BlockCause.OPERATOR)
    assert blocked.block is not None and blocked.block.cause is BlockCause.OPERATOR
    with pytest.raises(ValueError, match="blocked already"):
        block_batch(blocked, DAWN + timedelta(hours=1), "again", "op-2", BlockCause.OPERATOR)


def test_the_latest_test_of_each_item_counts() -> None:
    first = RapidTest("B1", "农药残留", "酶抑制法", RapidTestResult.FAIL, "抑制率 62%", "检测员", DAWN)
    retest = replace(first, result=RapidTestResult.PASS, value="抑制率 12%", tested_at=DAWN + timedelta(hours=1))
    other = replace(first, item="克伦特罗", method="胶体金", value=None)
    assert latest_tests([retest, first, other]) == [other, retest]
    assert failed_test_reason(first) == "快检不合格：农药残留（抑制率 62%）"


def test_meat_batches_need_a_quarantine_certificate() -> None:
    assert accepted_certificates(StallType.MEAT) == {CertificateType.QUARANTINE}
    assert CertificateType.MARKET_ENTRY in accepted_certificates(StallType.VEGETABLES)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("quantity_g", 0, "weighs"), ("origin_code", "37078", "region code"), ("certificate_number", "", "certificate"),
])
def test_malformed_batches_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(batch("B1"), **{field: value})  # type: ignore[arg-type]


def test_mass_balance_and_the_oversold_finding() -> None:
    received = batch("B1", grams=10_000)
    balanced = MassBalance(10_000, 9_999)
    assert (balanced.remaining_g, balanced.oversold_g, balanced.sold_share) == (1, 0, Fraction(9_999, 10_000))
    assert oversold_finding(received, balanced, DAWN) is None
    over = MassBalance(10_000, 10_250)
    finding = oversold_finding(received, over, DAWN)
    assert finding is not None and finding.key == "oversold:B1" and finding.detail["oversold_g"] == 250
    assert oversold_finding(received, over, DAWN, tolerance_g=250) is None


@given(st.integers(1, 10**9), st.lists(st.integers(1, 1_000_000), max_size=50))
def test_mass_balance_adds_up(received: int, sales: list[int]) -> None:
    balance = MassBalance(received, sum(sales))
    assert balance.remaining_g - balance.oversold_g == received - sum(sales)
    assert min(balance.remaining_g, balance.oversold_g) == 0
    assert balance.oversold() == (sum(sales) > received)
    assert balance.sold_share * received == sum(sales)


def test_a_named_batch_of_another_product_is_not_linked_but_is_a_finding() -> None:
    tomatoes, cabbage = batch("B1", 0), batch("C1", 1, plu="1002")
    sold = sale(2, claimed="C1")  # a tomato sale naming the cabbage batch
    link = link_sale(sold, {"B1": tomatoes, "C1": cabbage}, [tomatoes, cabbage])
    assert link.batch == tomatoes and link.method is LinkMethod.CURRENT and link.mismatched_claim == cabbage
    assert link.unknown_claim is None
    (finding,) = tracing_findings(replace(sold, batch_id="B1"), link)
    assert finding.kind is FindingKind.BATCH_MISMATCH and finding.key == "batch_mismatch:A03:C1:1001"
    assert finding.detail == {"batch": "C1", "batch_plu": "1002", "plu": "1001", "trace_code": sold.trace_code,
                              "linked_to": "B1"}


def test_a_mismatched_name_with_no_batch_of_the_product_is_two_findings() -> None:
    cabbage = batch("C1", 1, plu="1002")
    link = link_sale(sale(2, claimed="C1"), {"C1": cabbage}, [cabbage])
    assert link.batch is None and link.method is LinkMethod.NONE
    assert [f.kind for f in tracing_findings(sale(2, claimed="C1"), link)] == [FindingKind.BATCH_MISMATCH,
                                                                                FindingKind.NO_BATCH]


def test_a_block_is_lifted_only_when_no_failed_test_stands() -> None:
    fail = RapidTest("B1", "农药残留", "酶抑制法", RapidTestResult.FAIL, "抑制率 62%", "检测员", DAWN)
    other = replace(fail, item="克伦特罗", result=RapidTestResult.PASS)
    retest = replace(fail, result=RapidTestResult.PASS, tested_at=DAWN + timedelta(hours=1))
    blocked = block_batch(batch("B1"), DAWN, failed_test_reason(fail), "op", BlockCause.FAILED_TEST)
    assert release_refusal(batch("B1"), [], "复检合格") is ReleaseRefusal.NOT_BLOCKED
    assert release_refusal(blocked, [fail, other], "复检合格") is ReleaseRefusal.FAILED_TEST_STANDS
    assert release_refusal(blocked, [fail, retest], " ") is ReleaseRefusal.NO_REASON
    assert release_refusal(blocked, [fail, other, retest], "复检合格") is None
    earlier_pass = replace(retest, tested_at=DAWN - timedelta(hours=1))
    assert release_refusal(blocked, [earlier_pass, fail], "x") is ReleaseRefusal.FAILED_TEST_STANDS, \
        "a pass before the failure does not overturn it"
    recalled = block_batch(batch("B1"), DAWN, "供货商通报", "op", BlockCause.OPERATOR)
    assert release_refusal(recalled, [], "通报有误") is None
    assert release_refusal(recalled, [fail], "通报有误") is ReleaseRefusal.FAILED_TEST_STANDS, "whoever blocked it"
    assert release_batch(recalled).block is None and standing_failures([fail, retest]) == []


def test_a_received_quantity_is_corrected_only_to_another_sound_value() -> None:
    received = batch("B1", grams=50_000)
    assert with_quantity(received, 500_000).quantity_g == 500_000
    with pytest.raises(ValueError, match="nothing to correct"):
        with_quantity(received, 50_000)
    with pytest.raises(ValueError, match="weighs"):
        with_quantity(received, 0)


def test_a_test_dated_before_its_batch_arrived_is_told() -> None:
    arrived = batch("B1", hours=2)
    test = RapidTest("B1", "农药残留", "酶抑制法", RapidTestResult.PASS, None, "检测员", DAWN + timedelta(hours=1))
    assert predates_arrival(test, arrived)
    assert not predates_arrival(replace(test, tested_at=arrived.arrived_at), arrived)
