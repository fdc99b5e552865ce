"""Rapid tests as data: the standard items of each category with their method, unit and cutoff; reading a value into
an outcome; the refusals (no unit, an item that does not fit the product, a value out of range); a suspected
positive waiting for the laboratory; farm produce admitted on the market's own negative tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from market.divisions import shipped_divisions
from market.products import ProductCategory
from market.rapid_tests import (
    STANDARD_ITEMS,
    LaboratoryRefusal,
    LaboratoryResult,
    LaboratoryVerdict,
    RapidTest,
    Reading,
    TestItem,
    TestMethod,
    TestOutcome,
    TypedTest,
    admission_problems,
    judged_test,
    laboratory_refusal,
    outcome_of,
    read_value,
    standing_failures,
    stop_reason,
)
from market.refusals import FieldProblem
from market.tracing import Batch, BlockCause, Certificate, CertificateType, intake_problems, stop_cause

DAWN = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
C = ProductCategory
It = TestItem

# category → (item, method, unit, cutoff): the table the market screens by
EXPECTED_ITEMS = [
    (C.VEGETABLES, It.ORGANOPHOSPHATE_CARBAMATE, TestMethod.ENZYME_INHIBITION, "%", "50"),
    (C.FRUIT, It.ORGANOPHOSPHATE_CARBAMATE, TestMethod.ENZYME_INHIBITION, "%", "50"),
    (C.PORK, It.CLENBUTEROL, TestMethod.COLLOIDAL_GOLD, "μg/kg", "0.5"),
    (C.PORK, It.RACTOPAMINE, TestMethod.COLLOIDAL_GOLD, "μg/kg", "0.5"),
    (C.PORK, It.SALBUTAMOL, TestMethod.COLLOIDAL_GOLD, "μg/kg", "0.5"),
    (C.LIVESTOCK_MEAT, It.CLENBUTEROL, TestMethod.COLLOIDAL_GOLD, "μg/kg", "0.5"),
    (C.LIVESTOCK_MEAT, It.RACTOPAMINE, TestMethod.COLLOIDAL_GOLD, "μg/kg", "0.5"),
    (C.LIVESTOCK_MEAT, It.SALBUTAMOL, TestMethod.COLLOIDAL_GOLD, "μg/kg", "0.5"),
    (C.POULTRY, It.ENROFLOXACIN, TestMethod.COLLOIDAL_GOLD, "μg/kg", "100"),
    (C.EGGS, It.ENROFLOXACIN, TestMethod.COLLOIDAL_GOLD, "μg/kg", "2"),
    (C.AQUATIC, It.MALACHITE_GREEN, TestMethod.COLLOIDAL_GOLD, "μg/kg", "2"),
    (C.SOY_PRODUCTS, It.FORMALDEHYDE_SULFOXYLATE, TestMethod.COLORIMETRY, "mg/kg", "10"),
    (C.PREPARED_FOOD, It.SULPHUR_DIOXIDE, TestMethod.COLORIMETRY, "g/kg", "0.1"),
]


def test_each_category_is_screened_for_exactly_its_standard_items() -> None:
    table = {(category, rule.item, rule.method, rule.unit, str(rule.cutoff))
             for category, rules in STANDARD_ITEMS.items() for rule in rules}
    assert table == {(c, i, m, u, cutoff) for c, i, m, u, cutoff in EXPECTED_ITEMS}
    assert STANDARD_ITEMS[C.COOKED_FOOD] == () and STANDARD_ITEMS[C.PREPACKAGED_FOOD] == ()
    assert all(rule.basis for rules in STANDARD_ITEMS.values() for rule in rules), "each item says what it stands on"
    assert "GB/T 5009.199" in STANDARD_ITEMS[C.VEGETABLES][0].basis


@pytest.mark.parametrize(("category", "item", "method", "unit", "cutoff"), EXPECTED_ITEMS)
def test_a_reading_below_the_cutoff_is_negative_and_at_it_suspected(category: ProductCategory, item: TestItem,
                                                                    method: TestMethod, unit: str,
                                                                    cutoff: str) -> None:
    limit = Decimal(cutoff)
    below = read_value(category, item.value, None, str(limit - Decimal("0.001")), unit)
    at = read_value(category, item.value, method.value, str(limit), unit)
    assert isinstance(below, Reading) and isinstance(at, Reading)
    (rule,) = [r for r in STANDARD_ITEMS[category] if r.item is item]
    assert outcome_of(rule, below.value, seller_accepts=True) is TestOutcome.NEGATIVE
    assert outcome_of(rule, at.value, seller_accepts=False) is TestOutcome.SUSPECTED_POSITIVE
    assert outcome_of(rule, at.value, seller_accepts=True) is TestOutcome.POSITIVE
    assert (at.method, at.unit, at.cutoff) == (method, unit, limit)


# (category, item, method, value, unit) → the fields refused
REFUSED = [
    (C.VEGETABLES, "organophosphate_carbamate", None, "12", None, {"unit"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "12", " ", {"unit"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "12", "mg/kg", {"unit"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "120", "%", {"value"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "-1", "%", {"value"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "抑制率12%", "%", {"value"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "NaN", "%", {"value"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "12.3456", "%", {"value"}),
    (C.VEGETABLES, "organophosphate_carbamate", None, "", "%", {"value"}),
    (C.VEGETABLES, "organophosphate_carbamate", "colloidal_gold", "12", "%", {"method"}),
    (C.POULTRY, "clenbuterol", None, "0.1", "μg/kg", {"item"}),  # no clenbuterol screen on chicken
    (C.EGGS, "sulphur_dioxide", None, "0.01", "g/kg", {"item"}),  # nor sulphur dioxide in eggs
    (C.VEGETABLES, "clenbuterol", None, "0.1", "μg/kg", {"item"}),
    (C.COOKED_FOOD, "organophosphate_carbamate", None, "12", "%", {"item"}),
    (C.VEGETABLES, "农药残留", None, "12", "%", {"item"}),
    (C.PORK, "clenbuterol", None, "2000", None, {"value", "unit"}),
]


@pytest.mark.parametrize(("category", "item", "method", "value", "unit", "fields"), REFUSED)
def test_a_reading_that_does_not_fit_is_refused_at_its_field(category: ProductCategory, item: str,
                                                             method: str | None, value: str, unit: str | None,
                                                             fields: set[str]) -> None:
    problems = read_value(category, item, method, value, unit)
    assert isinstance(problems, list) and {p.field for p in problems} == fields
    assert all(p.message and p.message_zh for p in problems)


def test_the_refusals_say_why_in_words() -> None:
    (no_unit,) = read_value(C.VEGETABLES, "organophosphate_carbamate", None, "12", None)  # type: ignore[misc]
    assert no_unit == FieldProblem("unit", "a value without its unit: organophosphate_carbamate is read in %",
                                   "检测值缺少单位：有机磷和氨基甲酸酯类农药的单位是 %")
    (chicken,) = read_value(C.POULTRY, "clenbuterol", None, "0.1", "μg/kg")  # type: ignore[misc]
    assert chicken.message_zh == "禽肉不检克伦特罗：应检恩诺沙星（氟喹诺酮类）"


@pytest.mark.parametrize("unit", ["ug/kg", "UG/KG", "µg/kg", " μg/kg "])
def test_micrograms_are_read_however_typed(unit: str) -> None:
    reading = read_value(C.PORK, "clenbuterol", None, "0.2", unit)
    assert isinstance(reading, Reading) and reading.unit == "μg/kg" and reading.text == "0.2 μg/kg"


def typed(value: str, accepts: bool = False, item: str = "organophosphate_carbamate", unit: str = "%") -> TypedTest:
    return TypedTest("B1", item, None, value, unit, "检测员", DAWN, accepts)


def a_test(value: str, accepts: bool = False, item: str = "organophosphate_carbamate", unit: str = "%",
           category: ProductCategory = C.VEGETABLES) -> RapidTest:
    test = judged_test(category, typed(value, accepts, item, unit))
    assert isinstance(test, RapidTest)
    return test


def lab(verdict: LaboratoryVerdict, hours: int = 3) -> LaboratoryResult:
    return LaboratoryResult(verdict, "市食品检验所", "R-1", DAWN + timedelta(hours=hours), "op")


def test_a_typed_test_becomes_a_test_with_its_reading_and_words() -> None:
    test = a_test("12.50")
    assert (test.item, test.method, test.value, test.outcome) == ("有机磷和氨基甲酸酯类农药", "酶抑制率法", "12.5 %",
                                                                  TestOutcome.NEGATIVE)
    assert test.cleared and test.verdict_zh == "阴性" and stop_cause(test) is None
    problems = judged_test(None, typed("12"))
    assert isinstance(problems, list) and problems[0].field == "item", "a batch of no category cannot be judged"


def test_a_suspected_positive_stands_until_the_laboratory_and_its_verdict_decides() -> None:
    suspected = a_test("62")
    assert suspected.awaiting_laboratory and stop_cause(suspected) is BlockCause.SUSPECTED_TEST
    assert stop_reason(suspected) == "快检疑似阳性，待实验室复检：有机磷和氨基甲酸酯类农药（62 %）"
    assert standing_failures([suspected]) == [suspected]
    passed = replace(suspected, laboratory=lab(LaboratoryVerdict.PASS))
    failed = replace(suspected, laboratory=lab(LaboratoryVerdict.FAIL))
    assert standing_failures([passed]) == [] and passed.verdict_zh == "疑似阳性，复检合格"
    assert standing_failures([failed]) == [failed] and failed.failed and failed.verdict_zh == "疑似阳性，复检不合格"
    positive = a_test("62", accepts=True)
    assert positive.failed and stop_cause(positive) is BlockCause.FAILED_TEST
    retest = replace(a_test("10"), tested_at=DAWN + timedelta(hours=1))
    assert standing_failures([positive, retest]) == [], "a later negative of the item overturns it"
    other = a_test("0.1", item="clenbuterol", unit="μg/kg", category=C.PORK)
    assert standing_failures([suspected, other]) == [suspected]


@pytest.mark.parametrize(("test", "reported_hours", "refusal"), [
    (a_test("62"), 3, None),
    (a_test("62"), -1, LaboratoryRefusal.BEFORE_TEST),
    (a_test("12"), 3, LaboratoryRefusal.NOT_SUSPECTED),
    (a_test("62", accepts=True), 3, LaboratoryRefusal.NOT_SUSPECTED),
    (replace(a_test("62"), laboratory=lab(LaboratoryVerdict.PASS)), 3, LaboratoryRefusal.ALREADY_REPORTED),
])
def test_a_laboratory_result_answers_a_suspected_positive_once(test: RapidTest, reported_hours: int,
                                                               refusal: LaboratoryRefusal | None) -> None:
    assert laboratory_refusal(test, DAWN + timedelta(hours=reported_hours)) is refusal


def produce(*certificates: Certificate, category: ProductCategory = C.VEGETABLES) -> Batch:
    return Batch("B1", "A03", "1001", "小白菜", "寿光蔬菜合作社", "370783", "山东省寿光市", 10_000, certificates, DAWN,
                 category=category, admitted_by_test=not certificates)


def test_produce_without_a_certificate_enters_on_the_markets_negative_tests() -> None:
    divisions = shipped_divisions()
    bare = produce()
    refused = intake_problems(bare, divisions)
    assert [p.field for p in refused] == ["certificates"] and "或经市场快检合格后入场" in refused[0].message_zh
    assert intake_problems(bare, divisions, [a_test("12")]) == []
    suspected = intake_problems(bare, divisions, [a_test("62")])
    assert [p.field for p in suspected] == ["tests.0.value"] and "不得入场" in suspected[0].message_zh
    pork = produce(category=C.PORK)
    assert {p.field for p in intake_problems(pork, divisions, [
        a_test("0.1", item=i, unit="μg/kg", category=C.PORK) for i in ("clenbuterol", "ractopamine", "salbutamol")
    ])} == {"certificates"}, "meat enters with its quarantine certificate, whatever the market tested"
    with_certificate = produce(Certificate(CertificateType.COMMITMENT, "CD-1"))
    assert intake_problems(with_certificate, divisions, [a_test("12")]) == []
    assert intake_problems(with_certificate, divisions, [a_test("62")]) == [], \
        "a batch with its certificates is received, and stopped by its suspected positive"


def test_admission_needs_every_standard_item_of_the_category() -> None:
    assert [p.field for p in admission_problems(C.VEGETABLES, [])] == ["tests"]
    assert admission_problems(C.VEGETABLES, [a_test("49.999")]) == []
    assert [p.field for p in admission_problems(C.COOKED_FOOD, [])] == ["tests"]
