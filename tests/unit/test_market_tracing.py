"""Produce tracing: linking sales to batches, findings on gaps in the trail, recall and its release,
mass balance and its correction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.divisions import shipped_divisions
from market.findings import FindingKind
from market.licences import StallType
from market.rapid_tests import TestOutcome
from market.tracing import (
    CERTIFICATE_RULES,
    Batch,
    BlockCause,
    Certificate,
    CertificateType,
    LinkMethod,
    MassBalance,
    ProductCategory,
    RapidTest,
    ReleaseRefusal,
    Sale,
    block_batch,
    certificate_problems,
    current_batch,
    default_category,
    intake_problems,
    latest_tests,
    link_sale,
    oversold_finding,
    predates_arrival,
    release_batch,
    release_refusal,
    standing_failures,
    stop_reason,
    tracing_findings,
    with_quantity,
)

DAWN = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)  # 05:00 in Shanghai


def batch(batch_id: str, hours: float = 0, plu: str = "1001", stall: str = "A03", grams: int = 50_000) -> Batch:
    return Batch(batch_id, stall, plu, "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市", grams,
                 (Certificate(CertificateType.COMMITMENT, "CD-001"),), DAWN + timedelta(hours=hours),
                 supplier_contact="13800000000", category=ProductCategory.VEGETABLES)


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
    first = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.POSITIVE, "抑制率 62%", "检测员", DAWN)
    retest = replace(first, outcome=TestOutcome.NEGATIVE, value="抑制率 12%", tested_at=DAWN + timedelta(hours=1))
    other = replace(first, item="克伦特罗", method="胶体金", value=None)
    assert latest_tests([retest, first, other]) == [other, retest]
    assert stop_reason(first) == "快检不合格：农药残留（抑制率 62%）"


_Q, _M, _C, _T, _O, _E = (CertificateType.QUARANTINE, CertificateType.MEAT_QUALITY, CertificateType.COMMITMENT,
                          CertificateType.TEST_REPORT, CertificateType.ORIGIN, CertificateType.MARKET_ENTRY)
_PRODUCE = ((), (_C, _T), {_C, _T, _O})
_FOOD = ((), (_T,), {_T})
# From the law, not the code: (each needed, one of these needed, the kinds that fit the product at all).
# Animal products with their quarantine certificate (动物防疫法 Arts. 29, 51), pork also with its meat quality
# certificate (生猪屠宰管理条例 Art. 15); produce with a commitment certificate or another certificate of quality
# (农产品质量安全法 Art. 39); food with its factory inspection certificate (食品安全法 Art. 53).
LAW: dict[ProductCategory, tuple[tuple[CertificateType, ...], tuple[CertificateType, ...], set[CertificateType]]] = {
    ProductCategory.PORK: ((_Q, _M), (), {_Q, _M, _C, _T, _O}),
    ProductCategory.LIVESTOCK_MEAT: ((_Q,), (), {_Q, _M, _C, _T, _O}),
    ProductCategory.POULTRY: ((_Q,), (), {_Q, _C, _T, _O}),
    ProductCategory.VEGETABLES: _PRODUCE,
    ProductCategory.FRUIT: _PRODUCE,
    ProductCategory.AQUATIC: _PRODUCE,
    ProductCategory.EGGS: ((), (_C, _T), {_Q, _C, _T, _O}),
    ProductCategory.SOY_PRODUCTS: _FOOD,
    ProductCategory.COOKED_FOOD: _FOOD,
    ProductCategory.PREPARED_FOOD: _FOOD,
    ProductCategory.PREPACKAGED_FOOD: _FOOD,
}


def test_the_certificate_table_covers_every_category_as_the_law_has_it() -> None:
    assert {c: (r.all_of, r.any_of, set(r.fits)) for c, r in CERTIFICATE_RULES.items()} == LAW
    assert all(rule.basis for rule in CERTIFICATE_RULES.values())


def complete(category: ProductCategory) -> list[Certificate]:
    """The least a batch of ``category`` enters with, by the law's table."""
    needed, one_of, _ = LAW[category]
    return [Certificate(kind, f"N-{kind.value}") for kind in (*needed, *one_of[:1])]


@pytest.mark.parametrize("kind", list(CertificateType))
@pytest.mark.parametrize("category", list(ProductCategory))
def test_a_certificate_is_taken_exactly_when_it_fits_the_product(category: ProductCategory,
                                                                 kind: CertificateType) -> None:
    with_it = [*complete(category), Certificate(kind, "EXTRA-1")]
    problems = certificate_problems(category, with_it)
    fits = kind in LAW[category][2]
    assert (problems == []) is fits, problems
    if not fits:
        (refused,) = problems
        assert refused.field == f"certificates.{len(with_it) - 1}.kind" and kind.label_zh in refused.message_zh


@pytest.mark.parametrize("category", list(ProductCategory))
def test_a_batch_without_a_certificate_its_product_needs_is_refused(category: ProductCategory) -> None:
    least = complete(category)
    assert certificate_problems(category, least) == []
    for left_out in range(len(least)):
        problems = certificate_problems(category, least[:left_out] + least[left_out + 1:])
        assert [p.field for p in problems] == ["certificates"], problems


def test_pork_carries_both_its_quarantine_and_its_meat_quality_certificate() -> None:
    quarantine, quality = Certificate(_Q, "3200123456"), Certificate(_M, "R-2026-1123-07")
    assert certificate_problems(ProductCategory.PORK, [quarantine, quality]) == []
    (missing,) = certificate_problems(ProductCategory.PORK, [quarantine])
    assert "肉品品质检验合格证" in missing.message_zh and "生猪屠宰管理条例" in missing.message_zh
    assert "meat_quality missing" in missing.message


def test_produce_comes_with_a_commitment_certificate_or_a_test_report() -> None:
    for kind in (_C, _T):
        assert certificate_problems(ProductCategory.VEGETABLES, [Certificate(kind, "C-1")]) == []
    (missing,) = certificate_problems(ProductCategory.VEGETABLES, [Certificate(_O, "CD-1")])
    assert missing.message_zh.startswith("蔬菜须凭承诺达标合格证或检验检测报告入场")


def test_the_same_certificate_twice_or_too_many_are_refused() -> None:
    twice = certificate_problems(ProductCategory.VEGETABLES, [Certificate(_C, "C-1"), Certificate(_C, "C-1")])
    assert [p.field for p in twice] == ["certificates.1.number"]
    many = certificate_problems(ProductCategory.VEGETABLES, [Certificate(_C, f"C-{n}") for n in range(9)])
    assert [p.field for p in many] == ["certificates"]


def test_a_stall_type_says_the_category_unless_it_sells_several_meats() -> None:
    assert default_category(StallType.VEGETABLES) is ProductCategory.VEGETABLES
    assert default_category(StallType.PREPACKAGED_FOOD) is ProductCategory.PREPACKAGED_FOOD
    assert default_category(StallType.MEAT) is None


@pytest.mark.parametrize(("change", "fields"), [
    ({"origin_code": "999999"}, ["origin_code"]),
    ({"origin_code": "330106"}, []),
    ({"category": None}, ["category"]),
    ({"category": ProductCategory.PORK}, ["certificates"]),
    ({"certificates": (Certificate(_E, "SC-1"),)}, ["certificates.0.kind", "certificates"]),
])
def test_intake_refuses_an_origin_that_is_no_division_and_certificates_that_do_not_fit(
        change: dict[str, object], fields: list[str]) -> None:
    problems = intake_problems(replace(batch("B1"), **change), shipped_divisions())  # type: ignore[arg-type]
    assert [p.field for p in problems] == fields
    if "origin_code" in fields:
        assert "2024" in problems[0].message_zh and "999999" in problems[0].message


@pytest.mark.parametrize(("field", "value", "message"), [
    ("quantity_g", 0, "weighs"), ("origin_code", "37078", "region code"), ("certificates", (), "certificates"),
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
    fail = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.POSITIVE, "抑制率 62%", "检测员", DAWN)
    other = replace(fail, item="克伦特罗", outcome=TestOutcome.NEGATIVE)
    retest = replace(fail, outcome=TestOutcome.NEGATIVE, tested_at=DAWN + timedelta(hours=1))
    blocked = block_batch(batch("B1"), DAWN, stop_reason(fail), "op", BlockCause.FAILED_TEST)
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
    test = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.NEGATIVE, None, "检测员", DAWN + timedelta(hours=1))
    assert predates_arrival(test, arrived)
    assert not predates_arrival(replace(test, tested_at=arrived.arrived_at), arrived)
