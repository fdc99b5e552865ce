"""Licences at a stall, table-driven from the law: what each kind of stall needs by what it sells (Food Safety Law
Arts. 35 and 45, the market-entity registration regulation Art. 3, the unlicensed-business measures Art. 3 for
farmers), the staff roster's health certificates, a market's stricter policy, validity days.

The tables below are written from the law, not from the code: a test per stall type × document kind says that a
stall holding every document the law asks of it but that one is compliant exactly when the law does not ask it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from market.licences import (
    FOOD_SAFETY_LAW_ART_35,
    FOOD_SAFETY_LAW_ART_45,
    MARKET_ENTITY_REGISTRATION_ART_3,
    MARKET_RULE,
    RULES,
    UNLICENSED_BUSINESS_ART_3,
    Document,
    DocumentKind,
    LicencePolicy,
    Offering,
    Requirement,
    StaffMember,
    StallType,
    Validity,
    assess_stall,
    document_problems,
    document_status,
    offerings_of,
    offerings_text,
    required_documents,
    roster_problem,
)
from market.market_time import market_day

TODAY = date(2026, 11, 23)
HANDLER = "王芳"
LICENCE = Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1))
FILING = Document(DocumentKind.FOOD_FILING, "YB13701020000123", date(2024, 3, 1))
PERMIT = Document(DocumentKind.FOOD_BUSINESS_PERMIT, "JY13701020012345", date(2022, 1, 1), date(2027, 1, 1),
                  scope="热食类食品制售")
RESIDENT_ID = Document(DocumentKind.RESIDENT_ID, "11010519491231002X", date(2015, 1, 1), date(2035, 1, 1),
                       holder="李建国")
VILLAGE = Document(DocumentKind.VILLAGE_CERTIFICATE, "寿村证〔2026〕12号", date(2026, 1, 1), date(2026, 12, 31),
                   holder="李建国")


def health(holder: str, valid_to: date = date(2027, 5, 1)) -> Document:
    return Document(DocumentKind.HEALTH_CERTIFICATE, f"HC-{holder}", valid_to - timedelta(days=364), valid_to,
                    holder=holder)


BL, PERMIT_, FILING_, HEALTH = (DocumentKind.BUSINESS_LICENCE, DocumentKind.FOOD_BUSINESS_PERMIT,
                                DocumentKind.FOOD_FILING, DocumentKind.HEALTH_CERTIFICATE)
PRODUCE_NEEDS = {BL: True, PERMIT_: False, FILING_: False, HEALTH: False}
LAW: dict[StallType, dict[DocumentKind, bool]] = {
    # edible farm produce: a licence, neither permit nor filing (Art. 35), no health certificate (Art. 45)
    StallType.VEGETABLES: PRODUCE_NEEDS,
    StallType.FRUIT: PRODUCE_NEEDS,
    StallType.MEAT: PRODUCE_NEEDS,
    StallType.AQUATIC: PRODUCE_NEEDS,
    StallType.EGGS: PRODUCE_NEEDS,
    # only pre-packaged food: the filing (Art. 35)
    StallType.PREPACKAGED_FOOD: {BL: True, PERMIT_: False, FILING_: True, HEALTH: False},
    # bulk food: the permit (Art. 35); not ready to eat, so no health certificate
    StallType.SOY_PRODUCTS: {BL: True, PERMIT_: True, FILING_: False, HEALTH: False},
    StallType.PREPARED_FOOD: {BL: True, PERMIT_: True, FILING_: False, HEALTH: False},
    # ready-to-eat food: the permit, and every handler's health certificate (Arts. 35, 45)
    StallType.COOKED_FOOD: {BL: True, PERMIT_: True, FILING_: False, HEALTH: True},
}
DOCUMENT_OF: dict[DocumentKind, Document] = {BL: LICENCE, PERMIT_: PERMIT, FILING_: FILING, HEALTH: health(HANDLER)}
ROSTER = (StaffMember(HANDLER),)


def test_the_table_covers_every_stall_type() -> None:
    assert set(LAW) == set(StallType)


@pytest.mark.parametrize("kind", list(DOCUMENT_OF))
@pytest.mark.parametrize("stall_type", list(StallType))
def test_a_stall_lacks_a_document_exactly_when_the_law_asks_it(stall_type: StallType, kind: DocumentKind) -> None:
    held = [DOCUMENT_OF[k] for k, needed in LAW[stall_type].items() if needed and k is not kind]
    status = assess_stall(stall_type.default_offerings, held, TODAY, staff=ROSTER)
    assert status.compliant is not LAW[stall_type][kind], (stall_type, kind, status.attention)


@pytest.mark.parametrize("stall_type", list(StallType))
def test_each_stall_type_is_asked_what_the_law_asks_and_nothing_else(stall_type: StallType) -> None:
    asked = {r.requirement.value for r in required_documents(stall_type.default_offerings)}
    assert asked == {kind.value for kind, needed in LAW[stall_type].items() if needed}


@pytest.mark.parametrize("stall_type", [t for t, needs in LAW.items() if needs == PRODUCE_NEEDS])
def test_a_produce_stall_with_only_its_licence_is_compliant(stall_type: StallType) -> None:
    """The old rule flagged every produce stall without a filing and a health certificate: the law asks neither."""
    status = assess_stall(stall_type.default_offerings, [LICENCE], TODAY)
    assert status.compliant and status.attention == () and status.health_certificates == ()


# each requirement with the basis written beside it
BASIS: dict[Requirement, str] = {
    Requirement.BUSINESS_LICENCE: "《中华人民共和国市场主体登记管理条例》第三条",
    Requirement.FARMER_IDENTITY: "《无证无照经营查处办法》第三条第（一）项",
    Requirement.FOOD_BUSINESS_PERMIT: "《中华人民共和国食品安全法》第三十五条第一款",
    Requirement.FOOD_FILING: "《中华人民共和国食品安全法》第三十五条第一款",
    Requirement.HEALTH_CERTIFICATE: "《中华人民共和国食品安全法》第四十五条第二款",
}


@pytest.mark.parametrize(("offerings", "self_producing", "expected"), [
    ({Offering.FARM_PRODUCE}, False, [Requirement.BUSINESS_LICENCE]),
    ({Offering.FARM_PRODUCE}, True, [Requirement.FARMER_IDENTITY]),
    ({Offering.PREPACKAGED_FOOD}, False, [Requirement.BUSINESS_LICENCE, Requirement.FOOD_FILING]),
    ({Offering.FARM_PRODUCE, Offering.PREPACKAGED_FOOD}, True, [Requirement.BUSINESS_LICENCE,
                                                                  Requirement.FOOD_FILING]),
    ({Offering.PREPACKAGED_FOOD, Offering.BULK_FOOD}, False, [Requirement.BUSINESS_LICENCE,
                                                              Requirement.FOOD_BUSINESS_PERMIT]),
    ({Offering.READY_TO_EAT}, False, [Requirement.BUSINESS_LICENCE, Requirement.FOOD_BUSINESS_PERMIT,
                                      Requirement.HEALTH_CERTIFICATE]),
])
def test_requirements_follow_what_is_sold_each_with_its_legal_basis(
        offerings: set[Offering], self_producing: bool, expected: list[Requirement]) -> None:
    required = required_documents(offerings, self_producing=self_producing)
    assert [r.requirement for r in required] == expected
    assert [r.basis.citation for r in required] == [BASIS[r] for r in expected]


def test_the_rules_table_names_each_basis() -> None:
    assert {rule.basis for rule in RULES} == {MARKET_ENTITY_REGISTRATION_ART_3, UNLICENSED_BUSINESS_ART_3,
                                              FOOD_SAFETY_LAW_ART_35, FOOD_SAFETY_LAW_ART_45, MARKET_RULE}
    assert all(rule.basis.says for rule in RULES)


# -- farmers selling their own produce (自产自销) ------------------------------------------------------------------

@pytest.mark.parametrize(("held", "compliant"), [
    ([VILLAGE], True),
    ([RESIDENT_ID], True),
    ([LICENCE], True),  # a farmer may hold a licence anyway
    ([], False),
    ([health("李建国")], False),
])
def test_a_farmer_is_identified_by_an_identity_card_or_village_certificate_instead_of_a_licence(
        held: list[Document], compliant: bool) -> None:
    status = assess_stall(StallType.VEGETABLES.default_offerings, held, TODAY, self_producing=True)
    assert status.compliant is compliant
    assert [s.required for s in status.required] == [Requirement.FARMER_IDENTITY]


def test_a_farmer_selling_more_than_their_produce_needs_a_licence() -> None:
    status = assess_stall({Offering.FARM_PRODUCE, Offering.PREPACKAGED_FOOD}, [VILLAGE, FILING], TODAY,
                          self_producing=True)
    assert not status.compliant
    assert [(s.required, s.validity) for s in status.attention] == [(Requirement.BUSINESS_LICENCE, Validity.MISSING)]


def test_a_market_may_ask_a_licence_of_farmers_too() -> None:
    policy = LicencePolicy(licence_for_farmers=True)
    status = assess_stall({Offering.FARM_PRODUCE}, [VILLAGE], TODAY, self_producing=True, policy=policy)
    assert not status.compliant
    (licence,) = status.required
    assert licence.required is Requirement.BUSINESS_LICENCE and licence.basis is MARKET_RULE


# -- the roster: every handler of ready-to-eat food with a certificate (Art. 45) -----------------------------------

COOKED = StallType.COOKED_FOOD.default_offerings


def test_an_uncertified_handler_of_ready_to_eat_food_is_found_by_name() -> None:
    staff = (StaffMember("王芳"), StaffMember("赵强"))
    status = assess_stall(COOKED, [LICENCE, PERMIT, health("王芳")], TODAY, staff=staff)
    assert not status.compliant
    assert [(s.person, s.validity) for s in status.health_certificates] == [
        ("王芳", Validity.VALID), ("赵强", Validity.MISSING)]
    assert [(s.required, s.person) for s in status.attention] == [(Requirement.HEALTH_CERTIFICATE, "赵强")]
    assert status.required[-1].person == "赵强", "the worst certificate stands for the stall"


def test_one_valid_certificate_no_longer_covers_the_others() -> None:
    """The old rule took one certificate for the stall; Art. 45 asks one of every person handling the food."""
    staff = (StaffMember("周*"), StaffMember("吴*"))
    status = assess_stall(COOKED, [LICENCE, PERMIT, health("吴*", TODAY + timedelta(days=200)),
                                   health("周*", TODAY - timedelta(days=3))], TODAY, staff=staff)
    assert not status.compliant
    assert [(s.person, s.validity) for s in status.attention] == [("周*", Validity.EXPIRED)]


def test_staff_who_do_not_handle_ready_to_eat_food_need_no_certificate() -> None:
    staff = (StaffMember(HANDLER), StaffMember("收银员", handles_ready_to_eat=False))
    status = assess_stall(COOKED, [LICENCE, PERMIT, health(HANDLER)], TODAY, staff=staff)
    assert status.compliant and [s.person for s in status.health_certificates] == [HANDLER]


def test_a_ready_to_eat_stall_with_nobody_handling_the_food_on_its_roster_misses_the_certificates() -> None:
    for staff in ((), (StaffMember("收银员", handles_ready_to_eat=False),)):
        status = assess_stall(COOKED, [LICENCE, PERMIT], TODAY, staff=staff)
        assert not status.compliant
        assert [(s.required, s.validity, s.person) for s in status.attention] == [
            (Requirement.HEALTH_CERTIFICATE, Validity.MISSING, None)]


def test_a_certificate_of_someone_not_on_the_roster_counts_for_nobody() -> None:
    status = assess_stall(COOKED, [LICENCE, PERMIT, health("离职员工")], TODAY, staff=(StaffMember(HANDLER),))
    assert not status.compliant and [s.person for s in status.attention] == [HANDLER]


def test_a_market_may_ask_every_stall_for_health_certificates() -> None:
    policy = LicencePolicy(health_certificate_every_stall=True)
    produce = StallType.VEGETABLES.default_offerings
    empty = assess_stall(produce, [LICENCE], TODAY, policy=policy)
    assert not empty.compliant and empty.required[-1].basis is MARKET_RULE
    staffed = assess_stall(produce, [LICENCE, health(HANDLER)], TODAY, staff=(StaffMember(HANDLER),), policy=policy)
    assert staffed.compliant
    cashier = StaffMember("收银员", handles_ready_to_eat=False)
    cooked = assess_stall(COOKED, [LICENCE, PERMIT, health(HANDLER)], TODAY, staff=(StaffMember(HANDLER), cashier),
                          policy=policy)
    assert [(s.person, s.validity, s.basis) for s in cooked.health_certificates] == [
        ("收银员", Validity.MISSING, MARKET_RULE), (HANDLER, Validity.VALID, FOOD_SAFETY_LAW_ART_45)]


def test_a_roster_with_a_name_twice_or_too_many_people_is_refused() -> None:
    assert roster_problem([StaffMember("王芳"), StaffMember(" 王芳 ")]) == "王芳 is on the roster twice"
    assert roster_problem([StaffMember(f"员工{n}") for n in range(51)]) is not None
    assert roster_problem([StaffMember("王芳")]) is None
    with pytest.raises(ValueError, match="1 to 64"):
        StaffMember("")


# -- documents and their validity -----------------------------------------------------------------------------

def test_a_bulk_food_stall_may_not_show_a_filing_for_its_permit() -> None:
    status = assess_stall(StallType.SOY_PRODUCTS.default_offerings, [LICENCE, FILING], TODAY)
    permit = next(s for s in status.required if s.required is Requirement.FOOD_BUSINESS_PERMIT)
    assert permit.validity is Validity.MISSING and permit.document is None and not status.compliant


def test_a_prepackaged_food_stall_may_show_a_permit_instead_of_its_filing() -> None:
    status = assess_stall(StallType.PREPACKAGED_FOOD.default_offerings, [LICENCE, PERMIT], TODAY)
    assert status.compliant
    filing = status.required[1]
    assert filing.required is Requirement.FOOD_FILING and filing.document == PERMIT


def test_the_expiry_day_is_the_last_valid_day() -> None:
    certificate = health("张*", TODAY)
    on_the_day = document_status(Requirement.HEALTH_CERTIFICATE, certificate, TODAY)
    assert on_the_day.validity is Validity.EXPIRING and on_the_day.validity.satisfies
    assert on_the_day.days_to_expiry == 0 and on_the_day.warning_days == 0
    day_after = document_status(Requirement.HEALTH_CERTIFICATE, certificate, TODAY + timedelta(days=1))
    assert day_after.validity is Validity.EXPIRED and not day_after.validity.satisfies
    assert day_after.days_to_expiry == -1


@pytest.mark.parametrize(("days_left", "warning"), [(31, None), (30, 30), (8, 30), (7, 7), (1, 7), (0, 0)])
def test_expiry_warnings_come_at_30_7_and_0_days(days_left: int, warning: int | None) -> None:
    status = document_status(Requirement.HEALTH_CERTIFICATE, health("赵*", TODAY + timedelta(days=days_left)),
                             TODAY)
    assert status.warning_days == warning
    assert status.validity is (Validity.VALID if warning is None else Validity.EXPIRING)


def test_a_document_not_yet_in_force_does_not_count() -> None:
    later = Document(DocumentKind.FOOD_FILING, "YB-2", TODAY + timedelta(days=1))
    status = assess_stall({Offering.PREPACKAGED_FOOD}, [LICENCE, later], TODAY)
    assert status.required[1].validity is Validity.NOT_YET_VALID and not status.compliant


def test_long_term_licences_never_expire() -> None:
    status = document_status(Requirement.BUSINESS_LICENCE, LICENCE, date(2099, 12, 31))
    assert status.validity is Validity.VALID and status.days_to_expiry is None


def test_the_renewed_document_is_the_one_shown() -> None:
    old = Document(DocumentKind.FOOD_FILING, "YB-OLD", date(2020, 1, 1), TODAY - timedelta(days=1))
    status = assess_stall({Offering.PREPACKAGED_FOOD}, [LICENCE, old, FILING], TODAY)
    assert status.required[1].document == FILING and status.compliant


@pytest.mark.parametrize(("document", "message"), [
    (lambda: Document(DocumentKind.FOOD_BUSINESS_PERMIT, "SP123", date(2024, 1, 1), date(2029, 1, 1), scope="x"),
     "JY and 14 digits"),
    (lambda: Document(DocumentKind.FOOD_BUSINESS_PERMIT, "JY13701020012345", date(2024, 1, 1)), "scope"),
    (lambda: Document(DocumentKind.HEALTH_CERTIFICATE, "HC1", date(2024, 1, 1), date(2025, 1, 1)), "holder"),
    (lambda: Document(DocumentKind.FOOD_FILING, "YB1", date(2024, 1, 1), date(2023, 1, 1)), "before"),
    (lambda: Document(DocumentKind.RESIDENT_ID, "110105194912310021", date(2024, 1, 1), holder="李"), "check"),
    (lambda: Document(DocumentKind.VILLAGE_CERTIFICATE, "C-1", date(2024, 1, 1)), "holder"),
    (lambda: Document(DocumentKind.BUSINESS_LICENCE, "91440300708461146T", date(2020, 1, 1)), "organisation code"),
])
def test_inconsistent_documents_are_refused(document: Callable[[], Document], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        document()


def test_every_problem_of_a_document_is_named_at_its_field() -> None:
    problems = document_problems(DocumentKind.FOOD_BUSINESS_PERMIT, "SP1", date(2026, 1, 1), None, None, None)
    assert [p.field for p in problems] == ["number", "scope", "valid_to"]
    assert all(p.message_zh for p in problems)


def test_the_market_day_is_the_day_in_shanghai() -> None:
    assert market_day(datetime(2026, 11, 22, 16, 0, tzinfo=UTC)) == date(2026, 11, 23)
    assert market_day(datetime(2026, 11, 22, 15, 59, tzinfo=UTC)) == date(2026, 11, 22)


FULL_WIDTH = "９１４４０３００７０８４６１１３６ｔ"


@pytest.mark.parametrize("typed", ["91440300708461136t", " 91440300708461136T ", FULL_WIDTH])
def test_a_credit_code_typed_in_lower_case_or_full_width_is_taken_in_capitals(typed: str) -> None:
    document = Document(DocumentKind.BUSINESS_LICENCE, typed, date(2020, 1, 1))
    assert document.number == "91440300708461136T"
    assert document == LICENCE, "stored as printed: the same document"


def test_an_identity_number_typed_with_a_small_x_is_taken_as_printed() -> None:
    assert Document(DocumentKind.RESIDENT_ID, "11010519491231002x", date(2015, 1, 1), date(2035, 1, 1),
                    holder="李建国") == RESIDENT_ID


def test_a_lower_case_code_with_a_wrong_check_character_is_still_refused() -> None:
    with pytest.raises(ValueError, match="check character"):
        Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136u", date(2020, 1, 1))


def test_other_document_numbers_keep_their_case() -> None:
    assert Document(DocumentKind.HEALTH_CERTIFICATE, "jk-7", date(2026, 1, 1), date(2026, 12, 31),
                    holder="王").number == "jk-7"


def test_offerings_are_stored_in_a_stable_order() -> None:
    chosen = {Offering.READY_TO_EAT, Offering.FARM_PRODUCE}
    assert offerings_text(chosen) == "farm_produce,ready_to_eat"
    assert offerings_of(offerings_text(chosen)) == chosen
    assert all(offerings_of(offerings_text(t.default_offerings)) == t.default_offerings for t in StallType)
