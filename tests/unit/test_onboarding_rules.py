"""The rules of onboarding, without I/O: which passwords are too weak to set, what one-time codes look like and
when they can be used, who may invite whom and look after whose account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.domain import AccountRefusal, check_new_account
from accounts.one_time_codes import (
    ACTIVATION_ALPHABET,
    ACTIVATION_CODE_BYTES,
    LINK_CODE_BYTES,
    CodeKind,
    CodeRecord,
    CodeState,
    activation_code,
    code_digest,
    days_of_validity,
    link_code,
    typed_activation_code,
)
from accounts.passwords import PasswordProblem, password_problem
from accounts.stewardship import InvitationTerms, Steward, Ward, invitation_problem, may_look_after, may_see_invitation
from webkit.identity import EVERYTHING, NOTHING, Principal, Role, Scope

NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("password", "account_id", "problem"), [
    ("correct horse battery", "wang", None),
    ("smartcity-demo", "admin", None),
    ("Lotus2027!", "pm-li", None),
    ("北京欢迎你2027", "wang", None),
    ("short1", "wang", PasswordProblem.TOO_SHORT),
    ("x" * 100 + "Y1" * 20, "wang", PasswordProblem.TOO_LONG),
    ("pm-zhang", "pm-zhang", PasswordProblem.LIKE_ACCOUNT_ID),
    ("PM-ZHANG2027", "pm-zhang", PasswordProblem.LIKE_ACCOUNT_ID),
    ("my P010001 flat", "P010001", PasswordProblem.LIKE_ACCOUNT_ID),
    ("lily-of-the-valley", "li", None),  # an id of two letters may be in a good password by chance
    ("123456", "wang", PasswordProblem.TOO_SHORT),
    ("88888888", "wang", PasswordProblem.COMMON),
    ("woaini1314", "wang", PasswordProblem.COMMON),
    ("Qwerty123", "wang", PasswordProblem.COMMON),
    ("ｑｗｅｒｔｙ１２３", "wang", PasswordProblem.COMMON),  # full-width, as a Chinese keyboard may type it
    ("password1", "wang", PasswordProblem.COMMON),
    ("admin123", "root", PasswordProblem.COMMON),
    ("13800138000", "wang", PasswordProblem.ONE_KIND),  # a phone number
    ("19850612", "wang", PasswordProblem.ONE_KIND),  # a birthday
    ("sunflowers", "wang", PasswordProblem.ONE_KIND),
    ("sunflowersandrain", "wang", None),  # one kind, but long
    ("abababababab", "wang", PasswordProblem.REPETITIVE),
    ("aaaaaaaaaaaaaaaaaaaa", "wang", PasswordProblem.REPETITIVE),
])
def test_what_makes_a_password_too_weak(password: str, account_id: str, problem: PasswordProblem | None) -> None:
    assert password_problem(password, account_id) is problem


def test_each_weakness_is_said_in_english_and_in_chinese() -> None:
    for problem in PasswordProblem:
        assert problem.message and problem.text and problem.message != problem.text


@pytest.mark.parametrize(("password", "refusal"), [
    ("88888888", AccountRefusal.COMMON_PASSWORD),
    ("wangfang-home", AccountRefusal.PASSWORD_LIKE_ID),
    ("20250101", AccountRefusal.ONE_KIND_PASSWORD),
    ("a long password", None),
])
def test_an_account_is_refused_a_weak_password(password: str, refusal: AccountRefusal | None) -> None:
    assert check_new_account("wangfang", "王芳", {Role.RESIDENT}, password) is refusal
    if refusal is not None:
        assert refusal.message == password_problem(password, "wangfang").message  # type: ignore[union-attr]


def test_a_link_code_is_url_safe_and_takes_its_random_bytes_whole() -> None:
    code = link_code(bytes(range(LINK_CODE_BYTES)))
    assert len(code) == 32 and all(char.isalnum() or char in "-_" for char in code)
    with pytest.raises(ValueError, match="random bytes"):
        link_code(b"short")


@given(st.binary(min_size=ACTIVATION_CODE_BYTES, max_size=ACTIVATION_CODE_BYTES))
def test_an_activation_code_is_three_groups_of_unambiguous_symbols(random_bytes: bytes) -> None:
    code = activation_code(random_bytes)
    groups = code.split("-")
    assert [len(group) for group in groups] == [4, 4, 4]
    assert all(char in ACTIVATION_ALPHABET for char in "".join(groups))
    assert typed_activation_code(code) == code
    assert typed_activation_code(" " + code.lower().replace("-", " ") + " ") == code


@pytest.mark.parametrize("typed", ["", "ABCD-EFGH", "ABCD-EFGH-JKLMN", "ABCD-EFGH-JKL0", "ABCD-EFGH-JKLI",
                                   "x" * 100, "ABCD-EFGH-JKL\x00"])
def test_what_cannot_be_an_activation_code_is_none(typed: str) -> None:
    assert typed_activation_code(typed) is None


def test_a_full_width_typed_code_is_the_code() -> None:
    assert typed_activation_code("ＡＢＣＤ－ＥＦＧＨ－ＪＫＬＭ") == "ABCD-EFGH-JKLM"


def test_codes_are_stored_as_their_digest() -> None:
    assert code_digest("ABCD-EFGH-JKLM") == code_digest("ABCD-EFGH-JKLM") != code_digest("ABCD-EFGH-JKLN")
    assert "ABCD" not in code_digest("ABCD-EFGH-JKLM") and len(code_digest("x")) == 64


def test_a_code_is_pending_until_used_revoked_or_expired() -> None:
    record = CodeRecord("c1", code_digest("x"), CodeKind.RESET, NOW, NOW + timedelta(hours=24))
    assert record.state(NOW) is CodeState.PENDING
    assert record.state(NOW + timedelta(hours=24)) is CodeState.EXPIRED
    used = CodeRecord("c1", "d", CodeKind.RESET, NOW, NOW + timedelta(hours=1), used_at=NOW, revoked_at=NOW)
    assert used.state(NOW + timedelta(days=2)) is CodeState.USED, "used wins: it says what happened"
    revoked = CodeRecord("c1", "d", CodeKind.RESET, NOW, NOW + timedelta(hours=1), revoked_at=NOW)
    assert revoked.state(NOW) is CodeState.REVOKED and revoked.state(NOW).text == "已撤销"


def test_a_codes_validity_is_bounded() -> None:
    assert days_of_validity(7, 30) == timedelta(days=7)
    assert days_of_validity(0, 30) is None and days_of_validity(31, 30) is None


def principal(roles: set[Role], scope: Scope = NOTHING, subject: str = "me") -> Principal:
    return Principal(subject, frozenset(roles), NOW + timedelta(hours=1), "t", EVERYTHING if Role.ADMIN in roles
                     else scope)


LOTUS, NORTH = "lotus", "lotus-north"
MANAGER = Steward(principal({Role.PROPERTY_MANAGER}, Scope(frozenset({LOTUS}))), "lvcheng")
ADMIN = Steward(principal({Role.ADMIN}), None)
OPERATOR = Steward(principal({Role.MARKET_OPERATOR}, Scope(markets=frozenset({LOTUS}))), "nongmao")


IN_LOTUS = Scope(frozenset({LOTUS}))


def terms(role: Role = Role.PROPERTY_MANAGER, scope: Scope = IN_LOTUS,
          organisation_id: str | None = None, days: int = 7, name: str = "王经理") -> InvitationTerms:
    return InvitationTerms(role, name, organisation_id, scope, days)


@pytest.mark.parametrize(("steward", "asked", "problem"), [
    (MANAGER, terms(), None),
    (MANAGER, terms(organisation_id="lvcheng"), None),
    (MANAGER, terms(organisation_id="other-co"), "your own organisation"),
    (MANAGER, terms(scope=Scope(frozenset({LOTUS, NORTH}))), "within your own"),
    (MANAGER, terms(role=Role.MARKET_OPERATOR, scope=Scope(markets=frozenset({LOTUS}))), "a role you hold"),
    (MANAGER, terms(role=Role.ADMIN, scope=NOTHING), "only an administrator"),
    (MANAGER, terms(role=Role.RESIDENT), "activation letter"),
    (MANAGER, terms(scope=NOTHING), "name the communities"),
    (MANAGER, terms(days=31), "1 to 30 days"),
    (MANAGER, terms(days=0), "1 to 30 days"),
    (MANAGER, terms(name="  "), "name has"),
    (Steward(MANAGER.principal, None), terms(), "no organisation"),
    (Steward(MANAGER.principal, "lvcheng", integration=True), terms(), "integration"),
    (ADMIN, terms(organisation_id="lvcheng", scope=Scope(frozenset({NORTH}))), None),
    (ADMIN, terms(), "name the organisation"),
    (ADMIN, terms(role=Role.ADMIN, scope=NOTHING), None),
    (ADMIN, terms(role=Role.ADMIN, scope=NOTHING, organisation_id="lvcheng"), "belongs to no organisation"),
    (ADMIN, terms(role=Role.SUPERVISOR, organisation_id="office", scope=Scope(frozenset({"x y"}))), "not a community"),
])
def test_who_may_invite_whom(steward: Steward, asked: InvitationTerms, problem: str | None) -> None:
    found = invitation_problem(steward, asked)
    assert (found is None) if problem is None else (found is not None and problem in found), found


@pytest.mark.parametrize(("steward", "ward", "allowed"), [
    (ADMIN, Ward("anyone", frozenset({Role.ADMIN}), None, NOTHING), True),
    (MANAGER, Ward("pm-2", frozenset({Role.PROPERTY_MANAGER}), "lvcheng", Scope(frozenset({LOTUS}))), True),
    (MANAGER, Ward("pm-2", frozenset({Role.PROPERTY_MANAGER}), "lvcheng", Scope(frozenset({LOTUS, NORTH}))), False),
    (MANAGER, Ward("pm-3", frozenset({Role.PROPERTY_MANAGER}), "other-co", Scope(frozenset({LOTUS}))), False),
    (MANAGER, Ward("wang", frozenset({Role.RESIDENT}), None, Scope(frozenset({LOTUS}))), True),
    (MANAGER, Ward("li", frozenset({Role.RESIDENT, Role.COMMITTEE}), None, Scope(frozenset({LOTUS}))), True),
    (MANAGER, Ward("zhao", frozenset({Role.RESIDENT}), None, Scope(frozenset({NORTH}))), False),
    (MANAGER, Ward("new", frozenset({Role.RESIDENT}), None, NOTHING), False),
    (MANAGER, Ward("root", frozenset({Role.ADMIN}), None, NOTHING), False),
    (MANAGER, Ward("api-1", frozenset({Role.PROPERTY_MANAGER}), "lvcheng", Scope(frozenset({LOTUS})), True), False),
    (ADMIN, Ward("api-1", frozenset({Role.PROPERTY_MANAGER}), "lvcheng", Scope(frozenset({LOTUS})), True), False),
    (OPERATOR, Ward("wang", frozenset({Role.RESIDENT}), None, Scope(frozenset({LOTUS}))), False),
    (OPERATOR, Ward("op-2", frozenset({Role.MARKET_OPERATOR}), "nongmao", Scope(markets=frozenset({LOTUS}))), True),
    (Steward(principal({Role.SUPERVISOR}, Scope(frozenset({LOTUS}))), "office"),
     Ward("wang", frozenset({Role.RESIDENT}), None, Scope(frozenset({LOTUS}))), False),
])
def test_whose_account_one_looks_after(steward: Steward, ward: Ward, allowed: bool) -> None:
    assert may_look_after(steward, ward) is allowed


def test_staff_see_the_invitations_to_their_organisation_within_their_scope() -> None:
    assert may_see_invitation(MANAGER, "lvcheng", Scope(frozenset({LOTUS})))
    assert not may_see_invitation(MANAGER, "lvcheng", Scope(frozenset({NORTH})))
    assert not may_see_invitation(MANAGER, "other-co", Scope(frozenset({LOTUS})))
    assert may_see_invitation(ADMIN, None, NOTHING)
    assert not may_see_invitation(Steward(ADMIN.principal, None, integration=True), None, NOTHING)
