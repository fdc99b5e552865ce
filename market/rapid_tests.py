"""Rapid tests (快检) as data: the standard items each product category is screened for, by which method, in which
unit and against which cutoff (:data:`STANDARD_ITEMS`); reading a measured value into an outcome (negative,
suspected positive, positive); a suspected positive waiting for its laboratory result; which results stand against
a batch. Plain values in, plain values out: no clock, no I/O.

A rapid method screens. A reading at or beyond the cutoff is a **suspected positive** (初筛阳性): GB/T 5009.199
itself has a sample inhibiting the enzyme by 50 % or more tested again and confirmed by another method, and the Food
Safety Law (Art. 88) lets the seller ask for a recheck, which may not use a rapid method. It stops the batch and
waits for the laboratory: pass → the batch may be sold again, fail → it stays stopped, recalled. When the seller
accepts the rapid result (no recheck asked), it is recorded as **positive** and the batch is recalled at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

from market.products import ProductCategory
from market.refusals import FieldProblem

MAX_VALUE_PLACES: Final = 3
"""Decimal places a reading keeps at most (a spectrophotometer's 12.345 %, a strip reader's 0.125 μg/kg)."""


class TestMethod(StrEnum):
    """How a rapid test measures."""

    __test__ = False  # not a pytest class

    ENZYME_INHIBITION = "enzyme_inhibition"
    COLLOIDAL_GOLD = "colloidal_gold"
    COLORIMETRY = "colorimetry"

    @property
    def label_zh(self) -> str:
        return _METHOD_ZH[self]


_METHOD_ZH: Final = {
    TestMethod.ENZYME_INHIBITION: "酶抑制率法",
    TestMethod.COLLOIDAL_GOLD: "胶体金免疫层析法",
    TestMethod.COLORIMETRY: "比色法",
}


class TestItem(StrEnum):
    """What a rapid test looks for."""

    __test__ = False

    ORGANOPHOSPHATE_CARBAMATE = "organophosphate_carbamate"
    CLENBUTEROL = "clenbuterol"
    RACTOPAMINE = "ractopamine"
    SALBUTAMOL = "salbutamol"
    ENROFLOXACIN = "enrofloxacin"
    MALACHITE_GREEN = "malachite_green"
    FORMALDEHYDE_SULFOXYLATE = "formaldehyde_sulfoxylate"
    SULPHUR_DIOXIDE = "sulphur_dioxide"

    @property
    def label_zh(self) -> str:
        return _ITEM_ZH[self]


_ITEM_ZH: Final = {
    TestItem.ORGANOPHOSPHATE_CARBAMATE: "有机磷和氨基甲酸酯类农药",
    TestItem.CLENBUTEROL: "克伦特罗",
    TestItem.RACTOPAMINE: "莱克多巴胺",
    TestItem.SALBUTAMOL: "沙丁胺醇",
    TestItem.ENROFLOXACIN: "恩诺沙星（氟喹诺酮类）",
    TestItem.MALACHITE_GREEN: "孔雀石绿",
    TestItem.FORMALDEHYDE_SULFOXYLATE: "吊白块（甲醛次硫酸氢钠）",
    TestItem.SULPHUR_DIOXIDE: "二氧化硫",
}

UNITS: Final = ("%", "μg/kg", "mg/kg", "g/kg")
_UNIT_SPELLINGS: Final = {"µg/kg": "μg/kg", "ug/kg": "μg/kg", "％": "%"}


def unit_of(typed: str) -> str:
    """A unit as typed, in the spelling the items use (µ the micro sign or u for μ, a full-width %)."""
    text = typed.strip()
    return _UNIT_SPELLINGS.get("ug/kg" if text.lower() == "ug/kg" else text, text)


@dataclass(frozen=True)
class ItemRule:
    """One standard item of a category: the method, the unit a reading is in, the cutoff (a reading at or beyond it
    is not negative), the largest reading the method gives, and the standards or rules it stands on."""

    item: TestItem
    method: TestMethod
    unit: str
    cutoff: Decimal
    max_value: Decimal
    basis: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS or not Decimal(0) < self.cutoff <= self.max_value:
            raise ValueError(f"{self.item}: a unit of {UNITS} and 0 < cutoff ≤ the largest reading")

    @property
    def cutoff_text(self) -> str:
        return f"{quantity_text(self.cutoff)} {self.unit}"


_GB_T_5009_199: Final = ("GB/T 5009.199-2003《蔬菜中有机磷和氨基甲酸酯类农药残留量的快速检测》（抑制率 ≥ 50 % 为阳性，"
                         "须重复检验并以其他方法确证）；NY/T 448-2001")
_BETA_AGONISTS: Final = ("《食品中可能违法添加的非食用物质名单》（β-受体激动剂）；快检判定值为试剂盒检出限；"
                         "实验室确证 GB/T 22286-2008")
_PESTICIDES: Final = (TestItem.ORGANOPHOSPHATE_CARBAMATE, TestMethod.ENZYME_INHIBITION, "%", Decimal(50),
                      Decimal(100), _GB_T_5009_199)
_MEAT_ITEMS: Final = tuple(
    ItemRule(item, TestMethod.COLLOIDAL_GOLD, "μg/kg", Decimal("0.5"), Decimal(1000), _BETA_AGONISTS)
    for item in (TestItem.CLENBUTEROL, TestItem.RACTOPAMINE, TestItem.SALBUTAMOL))

STANDARD_ITEMS: Final[dict[ProductCategory, tuple[ItemRule, ...]]] = {
    ProductCategory.VEGETABLES: (ItemRule(*_PESTICIDES),),
    ProductCategory.FRUIT: (ItemRule(*_PESTICIDES),),
    ProductCategory.PORK: _MEAT_ITEMS,
    ProductCategory.LIVESTOCK_MEAT: _MEAT_ITEMS,
    ProductCategory.POULTRY: (ItemRule(TestItem.ENROFLOXACIN, TestMethod.COLLOIDAL_GOLD, "μg/kg", Decimal(100),
                                       Decimal(10000), "GB 31650-2019 最大残留限量（禽肌肉，恩诺沙星与环丙沙星之和 "
                                       "100 μg/kg）"),),
    ProductCategory.EGGS: (ItemRule(TestItem.ENROFLOXACIN, TestMethod.COLLOIDAL_GOLD, "μg/kg", Decimal(2),
                                    Decimal(10000), "GB 31650-2019（产蛋期禁用：蛋中不得检出；"
                                    "判定值为试剂盒检出限）"),),
    ProductCategory.AQUATIC: (ItemRule(TestItem.MALACHITE_GREEN, TestMethod.COLLOIDAL_GOLD, "μg/kg", Decimal(2),
                                       Decimal(10000), "农业农村部公告第 250 号（禁用药物：不得检出；判定值为试剂盒"
                                       "检出限）；实验室确证 GB/T 19857-2005"),),
    ProductCategory.SOY_PRODUCTS: (ItemRule(TestItem.FORMALDEHYDE_SULFOXYLATE, TestMethod.COLORIMETRY, "mg/kg",
                                            Decimal(10), Decimal(10000), "《食品中可能违法添加的非食用物质名单》"
                                            "（吊白块：不得添加；判定值为试剂盒检出限）"),),
    ProductCategory.PREPARED_FOOD: (ItemRule(TestItem.SULPHUR_DIOXIDE, TestMethod.COLORIMETRY, "g/kg",
                                             Decimal("0.1"), Decimal(100), "GB 2760-2014 二氧化硫残留量限量"
                                             "（按食品类别 0.03–0.4 g/kg；本市场取 0.1 g/kg）"),),
    ProductCategory.COOKED_FOOD: (),
    ProductCategory.PREPACKAGED_FOOD: (),
}
"""What each category is screened for. Cooked and pre-packaged food come with the factory's inspection: the market
screens them for nothing of its own."""


def item_rule(category: ProductCategory, item: TestItem) -> ItemRule | None:
    """The rule of ``item`` for a batch of ``category``, None when the item is not screened in that category."""
    return next((rule for rule in STANDARD_ITEMS[category] if rule.item is item), None)


class TestOutcome(StrEnum):
    """What a rapid test found."""

    __test__ = False

    NEGATIVE = "negative"
    SUSPECTED_POSITIVE = "suspected_positive"
    POSITIVE = "positive"

    @property
    def label_zh(self) -> str:
        return _OUTCOME_ZH[self]


_OUTCOME_ZH: Final = {TestOutcome.NEGATIVE: "阴性", TestOutcome.SUSPECTED_POSITIVE: "疑似阳性",
                      TestOutcome.POSITIVE: "阳性"}


class RapidTestResult(StrEnum):
    """Pass or fail, as tests were recorded before their items were data (and as the EPCIS export says it)."""

    PASS = "pass"
    FAIL = "fail"

    @property
    def label_zh(self) -> str:
        return "合格" if self is RapidTestResult.PASS else "不合格"

    @property
    def outcome(self) -> TestOutcome:
        return TestOutcome.NEGATIVE if self is RapidTestResult.PASS else TestOutcome.POSITIVE


class LaboratoryVerdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"

    @property
    def label_zh(self) -> str:
        return "复检合格" if self is LaboratoryVerdict.PASS else "复检不合格"


@dataclass(frozen=True)
class LaboratoryResult:
    """A laboratory's result on a suspected positive: which laboratory, its report number, when it reported."""

    verdict: LaboratoryVerdict
    laboratory: str
    report_number: str
    reported_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class Reading:
    """A rapid test's measurement of a standard item: method, value and unit, and the cutoff it was judged by."""

    item: TestItem
    method: TestMethod
    value: Decimal
    unit: str
    cutoff: Decimal

    @property
    def text(self) -> str:
        return f"{quantity_text(self.value)} {self.unit}"


def quantity_text(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 50 → "50", 12.50 → "12.5"."""
    return format(value.normalize(), "f")


def outcome_of(rule: ItemRule, value: Decimal, seller_accepts: bool) -> TestOutcome:
    """Below the cutoff: negative. At or beyond it: a suspected positive waiting for the laboratory, or positive when
    the seller accepts the rapid result and asks for no recheck (Food Safety Law Art. 88)."""
    if value < rule.cutoff:
        return TestOutcome.NEGATIVE
    return TestOutcome.POSITIVE if seller_accepts else TestOutcome.SUSPECTED_POSITIVE


def read_value(category: ProductCategory, item: str, method: str | None, value: str | Decimal | None,
               unit: str | None) -> Reading | list[FieldProblem]:
    """A reading of ``item`` on a batch of ``category``, or each field's problem: an item that is no standard item or
    is not screened in this category, a method that is not the item's, a value missing, not a number, negative,
    beyond what the method reads or with more than 3 decimal places, a unit missing or not the item's."""
    try:
        known = TestItem(item)
    except ValueError:
        return [FieldProblem("item", f"{item!r} is no standard rapid-test item: one of "
                                     f"{', '.join(i.value for i in TestItem)}", "请选择标准检测项目")]
    rule = item_rule(category, known)
    if rule is None:
        fitting = STANDARD_ITEMS[category]
        en = ", ".join(r.item.value for r in fitting) or "nothing (it comes with its factory inspection)"
        zh = "、".join(r.item.label_zh for r in fitting) or "无（凭出厂检验合格证明）"
        return [FieldProblem("item", f"{known.value} is not screened in {category.value}: it is tested for {en}",
                             f"{category.label_zh}不检{known.label_zh}：应检{zh}")]
    problems: list[FieldProblem] = []
    if method and method != rule.method.value:
        problems.append(FieldProblem("method", f"{known.value} is tested by {rule.method.value}",
                                     f"{known.label_zh}用{rule.method.label_zh}检测"))
    number = _decimal(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(FieldProblem("value", "the measured value is missing", "请填写检测值"))
    elif number is None:
        problems.append(FieldProblem("value", f"{value!r} is not a number", "检测值须为数字，例如 12.5"))
    elif not Decimal(0) <= number <= rule.max_value:
        problems.append(FieldProblem("value", f"{known.value} reads 0 to {quantity_text(rule.max_value)} {rule.unit}",
                                     f"检测值超出范围：{known.label_zh}为 0–{quantity_text(rule.max_value)} "
                                     f"{rule.unit}"))
    elif _places(number) > MAX_VALUE_PLACES:
        problems.append(FieldProblem("value", f"at most {MAX_VALUE_PLACES} decimal places",
                                     f"检测值最多 {MAX_VALUE_PLACES} 位小数"))
    if unit is None or not unit.strip():
        problems.append(FieldProblem("unit", f"a value without its unit: {known.value} is read in {rule.unit}",
                                     f"检测值缺少单位：{known.label_zh}的单位是 {rule.unit}"))
    elif unit_of(unit) != rule.unit:
        problems.append(FieldProblem("unit", f"{known.value} is read in {rule.unit}, not {unit!r}",
                                     f"单位不对：{known.label_zh}的单位是 {rule.unit}"))
    if problems or number is None:
        return problems
    return Reading(known, rule.method, number, rule.unit, rule.cutoff)


def _places(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _decimal(value: str | Decimal | None) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value if value is None or value.is_finite() else None
    try:
        number = Decimal(value.strip().replace("，", ".").replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


@dataclass(frozen=True)
class RapidTest:
    """One rapid test (快检) of a batch: a standard item's reading (``reading``) judged against its cutoff, or, for
    a test recorded before items were data, the item, method and value as typed (``reading`` None) with the pass or
    fail of then (negative or positive now). ``item``, ``method`` and ``value`` are the words shown."""

    __test__ = False

    batch_id: str
    item: str
    method: str
    outcome: TestOutcome
    value: str | None
    tester: str
    tested_at: datetime
    reading: Reading | None = None
    laboratory: LaboratoryResult | None = None
    test_id: int | None = None

    @classmethod
    def of_reading(cls, batch_id: str, reading: Reading, outcome: TestOutcome, tester: str,
                   tested_at: datetime) -> RapidTest:
        return cls(batch_id, reading.item.label_zh, reading.method.label_zh, outcome, reading.text, tester,
                   tested_at, reading)

    @property
    def key(self) -> str:
        """What a retest of the same thing shares: the standard item, or the item's words of an older test."""
        return self.reading.item.value if self.reading else self.item

    @property
    def awaiting_laboratory(self) -> bool:
        return self.outcome is TestOutcome.SUSPECTED_POSITIVE and self.laboratory is None

    @property
    def failed(self) -> bool:
        """Positive, or a suspected positive the laboratory confirmed."""
        if self.outcome is TestOutcome.POSITIVE:
            return True
        return self.laboratory is not None and self.laboratory.verdict is LaboratoryVerdict.FAIL

    @property
    def cleared(self) -> bool:
        """Negative, or a suspected positive the laboratory did not confirm."""
        return not self.failed and not self.awaiting_laboratory

    @property
    def result(self) -> RapidTestResult:
        """Pass while nothing stands against the batch from this test; fail otherwise (also while it waits)."""
        return RapidTestResult.PASS if self.cleared else RapidTestResult.FAIL

    @property
    def verdict_zh(self) -> str:
        """What the test says now, in words: 阴性, 疑似阳性（待实验室复检）, 阳性, 疑似阳性 → 复检合格..."""
        if self.laboratory is not None:
            return f"{self.outcome.label_zh}，{self.laboratory.verdict.label_zh}"
        if self.awaiting_laboratory:
            return "疑似阳性（待实验室复检）"
        return self.outcome.label_zh


def latest_tests(tests: Iterable[RapidTest]) -> list[RapidTest]:
    """The latest test of each item (a retest replaces the earlier result), by item."""
    latest: dict[str, RapidTest] = {}
    for test in tests:
        known = latest.get(test.key)
        if known is None or test.tested_at >= known.tested_at:
            latest[test.key] = test
    return [latest[key] for key in sorted(latest)]


def standing_failures(tests: Iterable[RapidTest]) -> list[RapidTest]:
    """The latest test of each item that keeps the batch stopped: positive, confirmed by the laboratory, or a
    suspected positive still waiting for it (by item). A later negative of the same item overturns a positive."""
    return [test for test in latest_tests(tests) if not test.cleared]


def stop_reason(test: RapidTest) -> str:
    """Why a test stops its batch, as the scales and the recall show it."""
    words = "快检疑似阳性，待实验室复检" if test.awaiting_laboratory else "快检不合格"
    return f"{words}：{test.item}" + (f"（{test.value}）" if test.value else "")


@dataclass(frozen=True)
class TypedTest:
    """A rapid test as the tester gives it, before it is read against the batch's category (:func:`judged_test`)."""

    __test__ = False

    batch_id: str
    item: str
    method: str | None
    value: str | Decimal | None
    unit: str | None
    tester: str
    tested_at: datetime
    seller_accepts: bool = False


def judged_test(category: ProductCategory | None, typed: TypedTest, prefix: str = "") -> RapidTest | list[FieldProblem]:
    """The test ``typed`` says, its outcome judged by the item's cutoff, or each field's problem (named ``prefix`` +
    field). A batch whose category was never recorded cannot be judged: its tests wait for it."""
    if category is None:
        return [FieldProblem(prefix + "item", "the batch's category is not recorded: its standard items are unknown",
                             "该批次未登记商品类别，无法对照标准检测项目")]
    reading = read_value(category, typed.item, typed.method, typed.value, typed.unit)
    if isinstance(reading, list):
        return [FieldProblem(prefix + p.field, p.message, p.message_zh) for p in reading]
    rule = item_rule(category, reading.item)
    assert rule is not None
    return RapidTest.of_reading(typed.batch_id, reading, outcome_of(rule, reading.value, typed.seller_accepts),
                                typed.tester, typed.tested_at)


class LaboratoryRefusal(StrEnum):
    """Why a laboratory result cannot be recorded on a test."""

    NOT_SUSPECTED = "not_suspected"
    ALREADY_REPORTED = "already_reported"
    BEFORE_TEST = "before_test"


def laboratory_refusal(test: RapidTest, reported_at: datetime) -> LaboratoryRefusal | None:
    """A laboratory result answers a suspected positive, once, and not before the rapid test was done."""
    if test.outcome is not TestOutcome.SUSPECTED_POSITIVE:
        return LaboratoryRefusal.NOT_SUSPECTED
    if test.laboratory is not None:
        return LaboratoryRefusal.ALREADY_REPORTED
    if reported_at < test.tested_at:
        return LaboratoryRefusal.BEFORE_TEST
    return None


def admission_problems(category: ProductCategory, tests: Sequence[RapidTest]) -> list[FieldProblem]:
    """Why the market's own rapid tests do not admit a batch of farm produce that came with neither a commitment
    certificate nor a test report: each standard item of its category tested, every result negative. Empty: they
    do (Agricultural Product Quality Safety Law Art. 39, Food Safety Law Art. 65: the market checks the produce
    itself when it comes without a certificate)."""
    rules = STANDARD_ITEMS[category]
    if not rules:
        return [FieldProblem("tests", f"{category.value} is not admitted on the market's rapid tests",
                             f"{category.label_zh}不能凭市场快检入场")]
    problems: list[FieldProblem] = []
    tested = {test.reading.item for test in tests if test.reading is not None}
    missing = [rule.item for rule in rules if rule.item not in tested]
    if missing:
        problems.append(FieldProblem(
            "tests", f"without a commitment certificate or a test report, a batch of {category.value} enters once "
                     f"the market tested {', '.join(i.value for i in missing)}",
            f"无承诺达标合格证或检验检测报告的{category.label_zh}，须经市场快检"
            f"{'、'.join(i.label_zh for i in missing)}合格后入场"))
    for index, test in enumerate(tests):
        if test.outcome is not TestOutcome.NEGATIVE:
            problems.append(FieldProblem(
                f"tests.{index}.value", f"{test.item}: {test.outcome.value}: the batch does not enter",
                f"{test.item}{test.outcome.label_zh}（{test.value}），该批次不得入场"))
    return problems
