"""The numbers that identify a stall's holder: the unified social credit code (GB 32100: its authority and entity
type, the GB 11714 organisation code inside it, its own check character) and the citizen identity number (GB
11643)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.identity_numbers import (
    CREDIT_CODE_ALPHABET,
    REGISTRATION_AUTHORITIES,
    CreditCodeProblem,
    IdNumberProblem,
    credit_code_check_character,
    credit_code_problem,
    id_number_check_character,
    id_number_problem,
    organisation_code_check_character,
    registrant_kind,
)


@pytest.mark.parametrize("code", ["91440300708461136T", "91350100M000100Y43", "91110000600037341L"])
def test_published_credit_codes_are_accepted(code: str) -> None:
    assert credit_code_problem(code) is None


@pytest.mark.parametrize(("body", "check"), [("70846113", "6"), ("M000100Y", "4"), ("60003734", "1")])
def test_the_organisation_codes_inside_published_credit_codes_check(body: str, check: str) -> None:
    assert organisation_code_check_character(body) == check


def with_check(first_17: str) -> str:
    return first_17 + credit_code_check_character(first_17)


@pytest.mark.parametrize(("code", "problem"), [
    ("91440300708461136", CreditCodeProblem.LENGTH),
    ("91440300708461136TX", CreditCodeProblem.LENGTH),
    ("91440300708461136I", CreditCodeProblem.CHARACTER),  # I, O, S, V, Z are not used
    ("91440300708461136t", CreditCodeProblem.CHARACTER),
    (with_check("B1440300708461136"), CreditCodeProblem.AUTHORITY),  # no authority B
    (with_check("94440300708461136"), CreditCodeProblem.ENTITY_TYPE),  # market regulation registers 1, 2, 3
    (with_check("Y2440300708461136"), CreditCodeProblem.ENTITY_TYPE),  # "other" registers type 1 only
    (with_check("9144A300708461136"), CreditCodeProblem.REGION),
    # the 17th character is the organisation code's own check (70846113-6): a 7 there passes the old check of
    # the 18th character once that is recomputed, and is still wrong
    (with_check("91440300708461137"), CreditCodeProblem.ORGANISATION_CODE),
    ("91440300708461136U", CreditCodeProblem.CHECK_CHARACTER),
    ("91440300708461163T", CreditCodeProblem.ORGANISATION_CODE),  # two digits swapped inside the organisation code
])
def test_malformed_credit_codes_say_what_is_wrong(code: str, problem: CreditCodeProblem) -> None:
    assert credit_code_problem(code) is problem
    assert problem.message and problem.message_zh


def test_a_code_names_who_registered_it() -> None:
    assert registrant_kind("92440300MA5FXXXXXX") == "工商 · 个体工商户"
    assert registrant_kind("93371300MA3CXXXXXX") == "工商 · 农民专业合作社"
    assert registrant_kind("N2330106XXXXXXXXXX") == "农业 · 村级集体经济组织"
    assert registrant_kind("94") is None


def valid_codes() -> st.SearchStrategy[str]:
    """Well-formed codes: an authority and one of its types, six digits, an organisation code with its check."""
    pairs = [(a, t) for a, (_, types) in REGISTRATION_AUTHORITIES.items() for t in types]
    body_alphabet = CREDIT_CODE_ALPHABET

    def assemble(parts: tuple[tuple[str, str], str, str]) -> str:
        (authority, kind), region, body = parts
        first_17 = f"{authority}{kind}{region}{body}{organisation_code_check_character(body)}"
        return with_check(first_17)

    return st.tuples(st.sampled_from(pairs), st.text("0123456789", min_size=6, max_size=6),
                     st.text(body_alphabet, min_size=8, max_size=8)).map(assemble)


@given(valid_codes())
def test_the_check_characters_complete_any_code(code: str) -> None:
    assert credit_code_problem(code) is None


@given(valid_codes(), st.integers(0, 17), st.sampled_from(CREDIT_CODE_ALPHABET))
def test_any_single_changed_character_is_detected(code: str, position: int, replacement: str) -> None:
    if code[position] == replacement:
        return
    assert credit_code_problem(code[:position] + replacement + code[position + 1:]) is not None


@given(valid_codes(), st.integers(0, 16))
def test_any_swap_of_neighbours_is_detected(code: str, position: int) -> None:
    if code[position] == code[position + 1]:
        return
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
    assert credit_code_problem(swapped) is not None


# -- citizen identity numbers (GB 11643) ------------------------------------------------------------------------

def test_the_standards_own_example_is_well_formed() -> None:
    assert id_number_check_character("11010519491231002") == "X"
    assert id_number_problem("11010519491231002X") is None


@pytest.mark.parametrize(("number", "problem"), [
    ("1101051949123100", IdNumberProblem.FORMAT),
    ("11010519491231002x", IdNumberProblem.FORMAT),  # printed with a capital X: normalise before checking
    ("1101051949123100AX", IdNumberProblem.FORMAT),
    ("110105194902300021", IdNumberProblem.BIRTH_DATE),  # 30 February
    ("110105194912310021", IdNumberProblem.CHECK_CHARACTER),
])
def test_malformed_identity_numbers_say_what_is_wrong(number: str, problem: IdNumberProblem) -> None:
    assert id_number_problem(number) is problem


@given(st.text("0123456789", min_size=6, max_size=6), st.dates(date(1900, 1, 1), date(2099, 12, 31)),
       st.text("0123456789", min_size=3, max_size=3), st.integers(0, 16), st.integers(1, 9))
def test_any_single_changed_digit_of_an_identity_number_is_detected(region: str, born: date, sequence: str,
                                                                     position: int, step: int) -> None:
    first_17 = f"{region}{born:%Y%m%d}{sequence}"
    number = first_17 + id_number_check_character(first_17)
    assert id_number_problem(number) is None
    changed = number[:position] + str((int(number[position]) + step) % 10) + number[position + 1:]
    assert id_number_problem(changed) is not None
