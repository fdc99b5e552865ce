"""Licences at a stall: the credit code's check character, what each stall type needs, validity days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.licences import (
    CREDIT_CODE_ALPHABET,
    CreditCodeProblem,
    Document,
    DocumentKind,
    StallType,
    Validity,
    assess_stall,
    credit_code_check_character,
    credit_code_problem,
    document_status,
    required_documents,
)
from market.market_time import market_day

TODAY = date(2026, 11, 23)
LICENCE = Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1))
FILING = Document(DocumentKind.FOOD_FILING, "YB13701020000123", date(2024, 3, 1))
PERMIT = Document(DocumentKind.FOOD_BUSINESS_PERMIT, "JY13701020012345", date(2022, 1, 1), date(2027, 1, 1),
                  scope="热食类食品制售")


def health(holder: str, valid_to: date) -> Document:
    return Document(DocumentKind.HEALTH_CERTIFICATE, f"HC-{holder}", valid_to - timedelta(days=364), valid_to,
                    holder=holder)


@pytest.mark.parametrize("code", ["91440300708461136T", "91350100M000100Y43", "91110000600037341L"])
def test_published_credit_codes_are_accepted(code: str) -> None:
    assert credit_code_problem(code) is None


@pytest.mark.parametrize(("code", "problem"), [
    ("91440300708461136", CreditCodeProblem.LENGTH),
    ("91440300708461136TX", CreditCodeProblem.LENGTH),
    ("91440300708461136I", CreditCodeProblem.CHARACTER),  # I, O, S, V, Z are not used
    ("91440300708461136t", CreditCodeProblem.CHARACTER),
    ("9144A300708461136T", CreditCodeProblem.REGION),
    ("91440300708461136U", CreditCodeProblem.CHECK_CHARACTER),
    ("91440300708461163T", CreditCodeProblem.CHECK_CHARACTER),  # two digits swapped
])
def test_malformed_credit_codes_say_what_is_wrong(code: str, problem: CreditCodeProblem) -> None:
    assert credit_code_problem(code) is problem


def test_a_business_licence_with_a_bad_credit_code_is_refused() -> None:
    with pytest.raises(ValueError, match="check character"):
        Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136U", date(2020, 1, 1))


codes = st.tuples(
    st.text(CREDIT_CODE_ALPHABET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(CREDIT_CODE_ALPHABET, min_size=9, max_size=9),
).map(lambda parts: "".join(parts))


@given(codes)
def test_the_check_character_completes_any_code(first_17: str) -> None:
    assert credit_code_problem(first_17 + credit_code_check_character(first_17)) is None


@given(codes, st.integers(0, 17), st.sampled_from(CREDIT_CODE_ALPHABET))
def test_any_single_changed_character_is_detected(first_17: str, position: int, replacement: str) -> None:
    code = first_17 + credit_code_check_character(first_17)
    if code[position] == replacement or (2 <= position < 8 and not replacement.isdigit()):
        return  # not a change, or caught as a region problem before the check character
    changed = code[:position] + replacement + code[position + 1:]
    assert credit_code_problem(changed) is CreditCodeProblem.CHECK_CHARACTER


@given(codes, st.integers(0, 15))
def test_any_swap_of_neighbours_is_detected(first_17: str, position: int) -> None:
    code = first_17 + credit_code_check_character(first_17)
    if code[position] == code[position + 1]:
        return
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
    assert credit_code_problem(swapped) in (CreditCodeProblem.CHECK_CHARACTER, CreditCodeProblem.REGION)


def test_produce_stalls_need_a_filing_and_cooked_food_a_permit() -> None:
    assert required_documents(StallType.VEGETABLES) == (
        DocumentKind.BUSINESS_LICENCE, DocumentKind.FOOD_FILING, DocumentKind.HEALTH_CERTIFICATE)
    assert DocumentKind.FOOD_BUSINESS_PERMIT not in required_documents(StallType.MEAT)
    for kind in (StallType.COOKED_FOOD, StallType.PREPARED_FOOD, StallType.SOY_PRODUCTS):
        assert DocumentKind.FOOD_BUSINESS_PERMIT in required_documents(kind)
        assert DocumentKind.FOOD_FILING not in required_documents(kind)


def test_a_cooked_food_stall_with_only_a_filing_misses_its_permit() -> None:
    status = assess_stall(StallType.COOKED_FOOD, [LICENCE, FILING, health("王*", date(2027, 5, 1))], TODAY)
    assert not status.compliant
    permit = next(s for s in status.required if s.required is DocumentKind.FOOD_BUSINESS_PERMIT)
    assert permit.validity is Validity.MISSING and permit.document is None
    assert [s.required for s in status.attention] == [DocumentKind.FOOD_BUSINESS_PERMIT]


def test_a_produce_stall_may_show_a_permit_instead_of_a_filing() -> None:
    status = assess_stall(StallType.MEAT, [LICENCE, PERMIT, health("李*", date(2027, 5, 1))], TODAY)
    assert status.compliant
    food = status.required[1]
    assert food.required is DocumentKind.FOOD_FILING and food.document == PERMIT


def test_a_stall_without_any_document_misses_all_three() -> None:
    status = assess_stall(StallType.FRUIT, [], TODAY)
    assert [s.validity for s in status.required] == [Validity.MISSING] * 3
    assert len(status.attention) == 3


def test_the_expiry_day_is_the_last_valid_day() -> None:
    certificate = health("张*", TODAY)
    on_the_day = document_status(DocumentKind.HEALTH_CERTIFICATE, certificate, TODAY)
    assert on_the_day.validity is Validity.EXPIRING and on_the_day.validity.satisfies
    assert on_the_day.days_to_expiry == 0 and on_the_day.warning_days == 0
    day_after = document_status(DocumentKind.HEALTH_CERTIFICATE, certificate, TODAY + timedelta(days=1))
    assert day_after.validity is Validity.EXPIRED and not day_after.validity.satisfies
    assert day_after.days_to_expiry == -1


@pytest.mark.parametrize(("days_left", "warning"), [(31, None), (30, 30), (8, 30), (7, 7), (1, 7), (0, 0)])
def test_expiry_warnings_come_at_30_7_and_0_days(days_left: int, warning: int | None) -> None:
    status = document_status(DocumentKind.HEALTH_CERTIFICATE, health("赵*", TODAY + timedelta(days=days_left)), TODAY)
    assert status.warning_days == warning
    assert status.validity is (Validity.VALID if warning is None else Validity.EXPIRING)


def test_a_document_not_yet_in_force_does_not_count() -> None:
    later = Document(DocumentKind.FOOD_FILING, "YB-2", TODAY + timedelta(days=1))
    status = assess_stall(StallType.EGGS, [LICENCE, later, health("钱*", date(2027, 1, 1))], TODAY)
    assert status.required[1].validity is Validity.NOT_YET_VALID and not status.compliant


def test_long_term_licences_never_expire() -> None:
    status = document_status(DocumentKind.BUSINESS_LICENCE, LICENCE, date(2099, 12, 31))
    assert status.validity is Validity.VALID and status.days_to_expiry is None


def test_the_renewed_document_is_the_one_shown() -> None:
    old = Document(DocumentKind.FOOD_FILING, "YB-OLD", date(2020, 1, 1), TODAY - timedelta(days=1))
    status = assess_stall(StallType.VEGETABLES, [LICENCE, old, FILING, health("孙*", date(2027, 1, 1))], TODAY)
    assert status.required[1].document == FILING and status.compliant


def test_one_valid_health_certificate_is_enough_but_the_expired_one_is_listed() -> None:
    expired = health("周*", TODAY - timedelta(days=3))
    valid = health("吴*", TODAY + timedelta(days=200))
    status = assess_stall(StallType.AQUATIC, [LICENCE, FILING, expired, valid], TODAY)
    assert status.compliant
    assert [s.document.holder for s in status.health_certificates if s.document] == ["吴*", "周*"]
    assert [(s.document.holder if s.document else None, s.validity) for s in status.attention] == [
        ("周*", Validity.EXPIRED)]


def test_every_staff_certificate_expired_fails_the_stall() -> None:
    status = assess_stall(StallType.AQUATIC, [LICENCE, FILING, health("郑*", TODAY - timedelta(days=1))], TODAY)
    assert not status.compliant and status.required[2].validity is Validity.EXPIRED


@pytest.mark.parametrize(("document", "message"), [
    (lambda: Document(DocumentKind.FOOD_BUSINESS_PERMIT, "SP123", date(2024, 1, 1), date(2029, 1, 1), scope="x"),
     "JY and 14 digits"),
    (lambda: Document(DocumentKind.FOOD_BUSINESS_PERMIT, "JY13701020012345", date(2024, 1, 1)), "scope"),
    (lambda: Document(DocumentKind.HEALTH_CERTIFICATE, "HC1", date(2024, 1, 1), date(2025, 1, 1)), "holder"),
    (lambda: Document(DocumentKind.FOOD_FILING, "YB1", date(2024, 1, 1), date(2023, 1, 1)), "before"),
])
def test_inconsistent_documents_are_refused(document, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        document()


def test_the_market_day_is_the_day_in_shanghai() -> None:
    assert market_day(datetime(2026, 11, 22, 16, 0, tzinfo=UTC)) == date(2026, 11, 23)
    assert market_day(datetime(2026, 11, 22, 15, 59, tzinfo=UTC)) == date(2026, 11, 22)


FULL_WIDTH = "９１４４０３００７０８４６１１３６ｔ"


@pytest.mark.parametrize("typed", ["91440300708461136t", " 91440300708461136T ", FULL_WIDTH])
def test_a_credit_code_typed_in_lower_case_or_full_width_is_taken_in_capitals(typed: str) -> None:
    document = Document(DocumentKind.BUSINESS_LICENCE, typed, date(2020, 1, 1))
    assert document.number == "91440300708461136T"
    assert document == LICENCE, "stored as printed: the same document"


def test_a_lower_case_code_with_a_wrong_check_character_is_still_refused() -> None:
    with pytest.raises(ValueError, match="check character"):
        Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136u", date(2020, 1, 1))


def test_other_document_numbers_keep_their_case() -> None:
    assert Document(DocumentKind.HEALTH_CERTIFICATE, "jk-7", date(2026, 1, 1), date(2026, 12, 31),
                    holder="王").number == "jk-7"
