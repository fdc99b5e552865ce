"""The form registering an incoming batch, read into a :class:`~market.tracing.Batch` with each field's problem next
to it: the stall, what the batch is (its category: a meat stall's batch says which meat), its origin as a division of
the GB/T 2260 list (its name filled from the list when left blank), and up to :data:`CERTIFICATE_ROWS` certificates of
the kinds its category requires (pork: quarantine and meat quality; produce: a commitment certificate or a test
report). The domain's own checks (:func:`market.tracing.intake_problems`) word the refusals; the service checks
again and its refusals come back to the same fields (:func:`refuse_intake`).

The same form takes the day's rapid tests of the batch (up to :data:`TEST_ROWS` rows: a standard item of its
category, its method, the value and its unit; one tester and time for them all), each row checked by the API's
own :class:`~market.web.schemas.RapidTestIn` and then read against the category's items, its problems beside it.
A row without a value is no test (its item may be preselected). Farm produce without a commitment certificate
or test report enters on them; a test that is not negative stops a batch with its certificates as the API's
intake does (:meth:`~market.service.MarketService.receive_batch`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from multidict import MultiDictProxy

from market.divisions import Divisions
from market.market_time import market_day
from market.pages.form_fields import (
    ASCII_ID,
    PHONE,
    InputProblem,
    grams_from_kilograms,
    moment_from_local,
    text_field,
)
from market.rapid_tests import STANDARD_ITEMS, UNITS, TestItem, TestMethod, TypedTest, judged_test
from market.refusals import FieldProblem
from market.stalls import CODE, Stall
from market.tracing import (
    CERTIFICATE_RULES,
    Batch,
    Certificate,
    CertificateType,
    ProductCategory,
    certificate_problems,
    default_category,
)
from market.web.schemas import RapidTestIn
from webkit.form_checks import FieldWords, FormState, checked, typed

CERTIFICATE_ROWS: Final = 3
"""Certificate rows the form offers (pork comes with two; a test report may come on top)."""
KIND_FIELDS: Final = tuple(f"cert_kind_{row}" for row in range(CERTIFICATE_ROWS))
NUMBER_FIELDS: Final = tuple(f"cert_number_{row}" for row in range(CERTIFICATE_ROWS))
TEST_ROWS: Final = max(len(rules) for rules in STANDARD_ITEMS.values())
"""Rapid-test rows the form offers: as many as the category with most standard items has (pork: three)."""
TEST_ROW_FIELDS: Final = ("item", "method", "value", "unit")
TEST_FIELDS: Final = (*(f"test_{name}_{row}" for row in range(TEST_ROWS) for name in TEST_ROW_FIELDS),
                      "test_tester", "test_tested_at")
TEST_WORDS: Final = FieldWords({"item": "检测项目", "method": "检测方法", "value": "检测值", "unit": "单位",
                                "tester": "检测人", "tested_at": "检测时间"})
_SHARED_TEST_FIELDS: Final = {"tester": "test_tester", "tested_at": "test_tested_at"}
BATCH_FIELDS: Final = ("batch_id", "stall", "plu", "product", "supplier", "supplier_contact", "category",
                       "origin_code", "origin_name", "quantity_kg", "arrived_at", *KIND_FIELDS, *NUMBER_FIELDS,
                       *TEST_FIELDS)
OFFERED_KINDS: Final = tuple(kind for kind in CertificateType if kind is not CertificateType.MARKET_ENTRY)
"""The kinds a batch is received with now (a 市场准入凭证 is no certificate the rules name)."""


def certificate_guide() -> list[tuple[str, str, str]]:
    """What each category enters with, and why, as the form shows it beside the certificate rows."""
    guide = []
    for category, rule in CERTIFICATE_RULES.items():
        needed = "、".join(kind.label_zh for kind in rule.all_of)
        one_of = "或".join(kind.label_zh for kind in rule.any_of)
        guide.append((category.label_zh, "；".join(part for part in (needed and f"{needed}（均须）",
                                                                     one_of and f"{one_of}（其一）") if part),
                      "；".join(basis.citation for basis in rule.basis)))
    return guide


def test_choices() -> dict[str, list[tuple[str, str]]]:
    """The choices of a test row: the standard items (with the categories they are screened in), methods, units."""
    screened: dict[TestItem, list[str]] = {}
    for category, rules in STANDARD_ITEMS.items():
        for rule in rules:
            screened.setdefault(rule.item, []).append(category.label_zh)
    return {"items": [(item.value, f"{item.label_zh}（{'、'.join(screened[item])}）") for item in screened],
            "methods": [(method.value, method.label_zh) for method in TestMethod],
            "units": [(unit, unit) for unit in UNITS]}


def test_guide() -> list[tuple[str, str]]:
    """What each category is screened for, by which method, against which cutoff, as the form shows it."""
    return [(category.label_zh, "；".join(f"{rule.item.label_zh}（{rule.method.label_zh}，判定值 {rule.cutoff_text}）"
                                         for rule in rules) or "不做市场快检（凭出厂检验合格证明）")
            for category, rules in STANDARD_ITEMS.items()]


def preselected_tests(category: ProductCategory | None) -> dict[str, str]:
    """The test rows as the form offers them for a batch of ``category``: each standard item with its method and
    unit chosen, the value left to type."""
    values: dict[str, str] = {}
    for row, rule in enumerate(STANDARD_ITEMS[category] if category else ()):
        values |= {f"test_item_{row}": rule.item.value, f"test_method_{row}": rule.method.value,
                   f"test_unit_{row}": rule.unit}
    return values


@dataclass
class BatchIntake:
    """What the form describes: the batch (None when something is wrong: every problem is in ``state``), the
    rapid tests typed with it and the row each was typed in."""

    batch: Batch | None
    state: FormState
    tests: list[TypedTest] = field(default_factory=list)
    test_rows: list[int] = field(default_factory=list)


def read_batch_form(form: MultiDictProxy[str], stalls: Mapping[str, Stall], divisions: Divisions,
                    now: datetime) -> BatchIntake:
    """The batch the form describes and its rapid tests, or no batch with every field's problem in the state."""
    state = typed(form, BATCH_FIELDS, codes=("batch_id", "plu", "origin_code", "supplier_contact", "quantity_kg",
                                             "arrived_at", "test_tested_at",
                                             *(f"test_{name}_{row}" for row in range(TEST_ROWS)
                                               for name in ("value", "unit"))))
    values = state.values
    stall = stalls.get(values["stall"])
    if stall is None:
        state.refuse("stall", "请选择摊位")
    batch_id = values["batch_id"] or _new_batch_id(values["stall"], now)
    if not ASCII_ID.fullmatch(batch_id):
        state.refuse("batch_id", "批次号为 1–64 位字母、数字或 _ . : -（留空则自动生成）")
    if not CODE.fullmatch(values["plu"]):
        state.refuse("plu", "商品编码为 1–32 位字母、数字或 _ . : -")
    product = _text(state, "product", "品名", 100)
    supplier = _text(state, "supplier", "供货商", 100)
    contact = values["supplier_contact"] or None
    if contact is not None and not PHONE.fullmatch(contact):
        state.refuse("supplier_contact", "供货商电话为 3–32 位数字、空格、+ 或 -")
    category = _category(state, stall)
    origin_name = _origin(state, divisions)
    grams = _grams(state)
    arrived = _arrival(state, now)
    tests, test_rows = _tests(state, category, arrived, now)
    tested = any(state.values[f"test_value_{row}"] for row in range(TEST_ROWS))
    certificates, rows = _certificates(state, tested)
    if category is not None and certificates:
        refuse_intake(state, certificate_problems(category, certificates, market_tested=tested), rows)
    intake = BatchIntake(None, state, tests, test_rows)
    if (state.failed or stall is None or product is None or supplier is None or origin_name is None
            or grams is None or arrived is None):
        return intake
    try:
        intake.batch = Batch(batch_id, stall.stall, values["plu"], product, supplier, values["origin_code"],
                             origin_name, grams, tuple(certificates), arrived, contact, category=category,
                             admitted_by_test=not certificates)
    except ValueError as invalid:  # the domain's word is final
        state.general.append(f"未被接受：{invalid}")
    return intake


def refuse_intake(state: FormState, problems: Sequence[FieldProblem], rows: Sequence[int] | None = None,
                  test_rows: Sequence[int] = ()) -> None:
    """The domain's refusals of a batch at the form's fields: ``certificates.<i>.kind`` at the row the i-th
    certificate was typed in (``rows``: each certificate's row; None: the i-th filled row), ``tests.<i>.value``
    at the row of the i-th test (``test_rows``), ``tests`` (items missing) above the test rows."""
    filled = list(rows) if rows is not None else [
        row for row in range(CERTIFICATE_ROWS) if state.values.get(f"cert_kind_{row}")]
    for problem in problems:
        parts = problem.field.split(".")
        if parts[0] == "certificates" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(filled):
            prefix = "cert_kind" if parts[2] == "kind" else "cert_number"
            state.refuse(f"{prefix}_{filled[int(parts[1])]}", problem.message_zh)
        elif parts[0] == "tests" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(test_rows):
            name = _SHARED_TEST_FIELDS.get(parts[2]) or f"test_{parts[2]}_{test_rows[int(parts[1])]}"
            state.refuse(name if name in TEST_FIELDS else f"test_value_{test_rows[int(parts[1])]}",
                         problem.message_zh)
        elif problem.field in BATCH_FIELDS or problem.field in ("certificates", "tests"):
            state.refuse(problem.field, problem.message_zh)
        else:
            state.general.append(problem.message_zh)


def _text(state: FormState, name: str, label: str, most: int) -> str | None:
    try:
        return text_field(state.values[name], label, most)
    except InputProblem as problem:
        state.refuse(name, str(problem))
        return None


def _category(state: FormState, stall: Stall | None) -> ProductCategory | None:
    chosen = state.values["category"]
    try:
        category = ProductCategory(chosen) if chosen else None
    except ValueError:
        state.refuse("category", "请选择商品类别")
        return None
    if category is None and stall is not None:
        category = default_category(stall.stall_type)
        if category is None:
            state.refuse("category", f"{stall.stall_type.label_zh}摊位的批次请选择类别（猪肉、牛羊等畜肉或禽肉）："
                                     "所需凭证不同")
    return category


def _origin(state: FormState, divisions: Divisions) -> str | None:
    """The origin's name: as typed, else the division's full name in the list; None when the code is no division."""
    code = state.values["origin_code"]
    problem = divisions.problem(code)
    if problem is not None:
        state.refuse("origin_code", problem.message_zh(divisions.version))
    typed_name = state.values["origin_name"]
    if typed_name:
        return _text(state, "origin_name", "产地名称", 100)
    division = divisions.get(code)
    return division.full_name if division else None


def _grams(state: FormState) -> int | None:
    try:
        return grams_from_kilograms(state.values["quantity_kg"])
    except InputProblem as problem:
        state.refuse("quantity_kg", str(problem))
        return None


def _arrival(state: FormState, now: datetime) -> datetime | None:
    try:
        arrived = moment_from_local(state.values["arrived_at"]) or now
    except InputProblem as problem:
        state.refuse("arrived_at", str(problem))
        return None
    if arrived > now + timedelta(minutes=5):
        state.refuse("arrived_at", "到货时间不能晚于现在")
        return None
    return arrived


def _tests(state: FormState, category: ProductCategory | None, arrived: datetime | None, now: datetime
           ) -> tuple[list[TypedTest], list[int]]:
    """The rapid tests typed, with the row each was typed in: a row with a value is a test (an item preselected
    alone is none), checked as the API checks it (:class:`RapidTestIn`), then read against the category's items;
    each problem beside its row's field."""
    rows = [row for row in range(TEST_ROWS) if state.values[f"test_value_{row}"]]
    if not rows:
        return [], []
    tested_at = _tested_at(state, arrived, now)
    tests: list[TypedTest] = []
    test_rows: list[int] = []
    for row in rows:
        names = {name: f"test_{name}_{row}" for name in TEST_ROW_FIELDS} | _SHARED_TEST_FIELDS
        row_state = FormState({name: state.values[field_name] for name, field_name in names.items()
                               if name != "tested_at"})
        data = checked(RapidTestIn, row_state, TEST_WORDS, tested_at=tested_at or now)
        if data is not None and category is not None:
            test = TypedTest("", data.item.value, data.method.value if data.method else None,
                             row_state.values["value"], data.unit, data.tester, tested_at or now)
            read = judged_test(category, test)
            if isinstance(read, list):
                for refusal in read:
                    row_state.refuse(refusal.field, refusal.message_zh)
            else:
                tests.append(test)
                test_rows.append(row)
        for name, words in row_state.problems.items():
            state.refuse(names.get(name, f"test_value_{row}"), words)
    return tests, test_rows


def _tested_at(state: FormState, arrived: datetime | None, now: datetime) -> datetime | None:
    """When the intake tests were done: as typed, else now; not before the batch arrived, not in the future."""
    try:
        tested_at = moment_from_local(state.values["test_tested_at"]) or now
    except InputProblem as problem:
        state.refuse("test_tested_at", str(problem))
        return None
    if tested_at > now + timedelta(minutes=5):
        state.refuse("test_tested_at", "检测时间不能晚于现在")
    elif arrived is not None and tested_at < arrived:
        state.refuse("test_tested_at", "检测时间不能早于到货时间")
    return tested_at


def _certificates(state: FormState, tested: bool = False) -> tuple[list[Certificate], list[int]]:
    """The certificates typed, with the row each was typed in; a row left blank is skipped. None at all is a
    problem, unless the batch comes with the market's rapid tests (``tested``: the rules say whether they
    admit it)."""
    certificates: list[Certificate] = []
    rows: list[int] = []
    for row, (kind_field, number_field) in enumerate(zip(KIND_FIELDS, NUMBER_FIELDS, strict=True)):
        kind_text, number = state.values[kind_field], state.values[number_field]
        if not kind_text and not number:
            continue
        kind = CertificateType(kind_text) if kind_text in {k.value for k in OFFERED_KINDS} else None
        if kind is None:
            state.refuse(kind_field, "请选择凭证类型")
        try:
            checked_number = text_field(number, "凭证编号", 64)
        except InputProblem as problem:
            state.refuse(number_field, str(problem))
            continue
        if kind is not None:
            certificates.append(Certificate(kind, checked_number))
            rows.append(row)
    if not certificates and not tested and not any(state.problems.get(name)
                                                   for name in (*KIND_FIELDS, *NUMBER_FIELDS)):
        state.refuse("certificates", "请登记随货入场的凭证（至少一份）")
    return certificates, rows


def _new_batch_id(stall: str, now: datetime) -> str:
    middle = f"-{stall}" if ASCII_ID.fullmatch(stall) and len(stall) <= 32 else ""
    return f"B{market_day(now):%Y%m%d}{middle}-{secrets.token_hex(2).upper()}"
