"""Organisations and what their people may act on: the rules of accounts.organisations, plain values in and a
reason (or None) out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.organisations import (
    MAX_ORGANISATION_NAME_CHARS,
    STAFF_ROLE,
    STAFF_ROLES,
    Organisation,
    OrganisationKind,
    check_assignment,
    check_ids,
    check_membership,
    check_new_organisation,
    check_organisation_scope,
    held_elsewhere,
)
from webkit.identity import EVERYTHING, NOTHING, Role, Scope

PROPERTY = Organisation("lvcheng", "绿城物业", OrganisationKind.PROPERTY_COMPANY)
MARKETS = Organisation("nongmao", "农贸市场管理公司", OrganisationKind.MARKET_OPERATOR)
OFFICE = Organisation("chengdong", "城东街道办事处", OrganisationKind.SUPERVISION_OFFICE)
HELD = Scope(frozenset({"demo", "demo-north"}), frozenset())
IDS = st.from_regex(r"[A-Za-z0-9_.:-]{1,12}", fullmatch=True)


def communities(*ids: str) -> Scope:
    return Scope(frozenset(ids), frozenset())


def markets(*ids: str) -> Scope:
    return Scope(frozenset(), frozenset(ids))


# -- organisations -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("organisation_id", ["lvcheng", "a", "x" * 64, "org.1:a_b-c"])
def test_an_organisation_id_is_a_short_plain_token(organisation_id: str) -> None:
    assert check_new_organisation(organisation_id, "绿城物业") is None


@pytest.mark.parametrize("organisation_id", ["", "x" * 65, "绿城", "lv cheng", "a/b", "a\n"])
def test_an_organisation_id_with_anything_else_is_refused(organisation_id: str) -> None:
    assert "organisation id is 1–64" in (check_new_organisation(organisation_id, "绿城物业") or "")


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_ORGANISATION_NAME_CHARS + 1), "绿城\n物业", "a\x00b"])
def test_an_organisation_needs_a_short_printable_name(name: str) -> None:
    assert "name is 1–100 printable" in (check_new_organisation("lvcheng", name) or "")
    assert check_new_organisation("lvcheng", f"  {'x' * MAX_ORGANISATION_NAME_CHARS}  ") is None, "trimmed first"


def test_each_kind_holds_its_own_and_has_one_staff_role() -> None:
    assert (PROPERTY.holds_communities, PROPERTY.holds_markets) == (True, False)
    assert (MARKETS.holds_communities, MARKETS.holds_markets) == (False, True)
    assert (OFFICE.holds_communities, OFFICE.holds_markets) == (True, True)
    assert STAFF_ROLE == {OrganisationKind.PROPERTY_COMPANY: Role.PROPERTY_MANAGER,
                          OrganisationKind.MARKET_OPERATOR: Role.MARKET_OPERATOR,
                          OrganisationKind.SUPERVISION_OFFICE: Role.SUPERVISOR}


def test_a_property_company_holds_communities_a_market_operator_markets_an_office_both() -> None:
    assert check_organisation_scope(PROPERTY, communities("demo")) is None
    assert "holds communities, not markets" in (check_organisation_scope(PROPERTY, markets("m1")) or "")
    assert check_organisation_scope(MARKETS, markets("m1")) is None
    assert "holds markets, not communities" in (check_organisation_scope(MARKETS, communities("demo")) or "")
    assert check_organisation_scope(OFFICE, Scope(frozenset({"demo"}), frozenset({"m1"}))) is None


def test_no_organisation_holds_everything_or_a_malformed_id() -> None:
    for organisation in (PROPERTY, MARKETS, OFFICE):
        assert "never everything" in (check_organisation_scope(organisation, EVERYTHING) or "")
    assert "not a community or market id: 'a b'" in (check_organisation_scope(PROPERTY, communities("a b")) or "")


def test_malformed_ids_are_named_a_few_and_cut_short() -> None:
    assert check_ids(["demo", "m-1"]) is None
    message = check_ids(["x" * 500, "a b", "", "c d", "e f"]) or ""
    assert message.count("'") == 6 and len(message) < 200


# -- membership: who belongs to which organisation -----------------------------------------------------------------

@pytest.mark.parametrize(("organisation", "role"), [(PROPERTY, Role.PROPERTY_MANAGER),
                                                    (MARKETS, Role.MARKET_OPERATOR), (OFFICE, Role.SUPERVISOR)])
def test_staff_belong_to_an_organisation_of_their_kind(organisation: Organisation, role: Role) -> None:
    assert check_membership({role}, organisation) is None
    assert "belongs to an organisation" in (check_membership({role}, None) or "")
    for other in (PROPERTY, MARKETS, OFFICE):
        if other is not organisation:
            assert f"its staff are {STAFF_ROLE[other.kind].value}s" in (check_membership({role}, other) or "")


def test_an_administrator_belongs_to_no_organisation_whatever_else_they_hold() -> None:
    assert check_membership({Role.ADMIN}, None) is None
    assert check_membership({Role.ADMIN, Role.PROPERTY_MANAGER}, None) is None
    assert "administrator belongs to no organisation" in (check_membership({Role.ADMIN}, PROPERTY) or "")


def test_residents_and_committee_members_belong_to_no_organisation() -> None:
    for roles in ({Role.RESIDENT}, {Role.COMMITTEE}, {Role.RESIDENT, Role.COMMITTEE}):
        assert check_membership(roles, None) is None
        assert "residents and committee members belong to no organisation" in (check_membership(roles, PROPERTY)
                                                                                 or "")


def test_a_manager_who_lives_in_a_community_is_staff_of_their_company() -> None:
    assert check_membership({Role.PROPERTY_MANAGER, Role.RESIDENT}, PROPERTY) is None


def test_one_account_is_staff_of_one_organisation() -> None:
    both = {Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR}
    assert "one account is staff of one organisation" in (check_membership(both, None) or "")
    for organisation in (PROPERTY, MARKETS, OFFICE):
        assert check_membership(both, organisation) is not None


# -- assignment: what an account acts on ---------------------------------------------------------------------------

def test_staff_are_assigned_what_their_organisation_holds() -> None:
    manager = {Role.PROPERTY_MANAGER}
    assert check_assignment(manager, PROPERTY, HELD, communities("demo")) is None
    assert check_assignment(manager, PROPERTY, HELD, HELD) is None
    outside = check_assignment(manager, PROPERTY, HELD, communities("demo", "east", "west")) or ""
    assert "not held by organisation 'lvcheng': east, west" in outside
    assert "not held" in (check_assignment(manager, PROPERTY, HELD, markets("m1")) or "")
    assert check_assignment(manager, PROPERTY, HELD, NOTHING) is None, "assigned nothing: sees nothing"


@given(held=st.frozensets(IDS, max_size=5), wanted=st.frozensets(IDS, max_size=5))
def test_an_office_member_is_assigned_exactly_the_subsets_of_its_holdings(held: frozenset[str],
                                                                          wanted: frozenset[str]) -> None:
    holdings, asked = Scope(held, held), Scope(wanted, frozenset())
    allowed = check_assignment({Role.SUPERVISOR}, OFFICE, holdings, asked) is None
    assert allowed == (wanted <= held)


def test_no_one_is_assigned_everything_or_a_malformed_id() -> None:
    for roles, organisation in (({Role.PROPERTY_MANAGER}, PROPERTY), ({Role.RESIDENT}, None),
                                ({Role.ADMIN}, None)):
        assert "only an administrator acts on everything" in (
            check_assignment(roles, organisation, HELD, EVERYTHING) or "")
        assert "not a community or market id" in (
            check_assignment(roles, organisation, HELD, communities("demo", "de mo")) or "")


def test_an_administrator_is_assigned_nothing_as_they_act_on_everything() -> None:
    assert check_assignment({Role.ADMIN}, None, NOTHING, NOTHING) is None
    assert "assign nothing" in (check_assignment({Role.ADMIN}, None, NOTHING, communities("demo")) or "")


def test_residents_are_assigned_their_communities_and_no_market() -> None:
    assert check_assignment({Role.RESIDENT}, None, NOTHING, communities("demo")) is None
    assert check_assignment({Role.RESIDENT}, None, NOTHING, communities("demo", "demo-north")) is None, \
        "an owner of flats in two compounds"
    assert "markets are assigned to staff" in (check_assignment({Role.RESIDENT}, None, NOTHING, markets("m1")) or "")


def test_a_committee_member_acts_in_one_community() -> None:
    committee = {Role.RESIDENT, Role.COMMITTEE}
    assert check_assignment(committee, None, NOTHING, communities("demo")) is None
    assert "one community" in (check_assignment(committee, None, NOTHING, communities("demo", "demo-north")) or "")


def test_staff_without_an_organisation_are_assigned_nothing_even_as_residents() -> None:
    for roles in ({Role.PROPERTY_MANAGER}, {Role.PROPERTY_MANAGER, Role.RESIDENT}, {Role.SUPERVISOR}):
        assert "name the organisation first" in (check_assignment(roles, None, NOTHING, communities("demo")) or "")
        assert check_assignment(roles, None, NOTHING, NOTHING) is None


def test_an_account_without_a_role_that_acts_in_a_community_is_assigned_none() -> None:
    assert "communities are assigned to staff" in (check_assignment(set(), None, NOTHING, communities("demo")) or "")
    assert STAFF_ROLES.isdisjoint({Role.RESIDENT, Role.COMMITTEE, Role.ADMIN})


# -- two organisations holding the same -----------------------------------------------------------------------------

def test_another_organisation_of_the_kind_holding_the_same_ids_is_reported() -> None:
    rival = Organisation("wanke", "万科物业", OrganisationKind.PROPERTY_COMPANY)
    holdings = [(PROPERTY, HELD), (rival, communities("demo", "east")), (OFFICE, Scope(HELD.communities)),
                (MARKETS, markets("demo"))]
    assert held_elsewhere(PROPERTY, communities("demo", "west"), holdings) == {"wanke": frozenset({"demo"})}
    assert held_elsewhere(PROPERTY, communities("west"), holdings) == {}
    assert held_elsewhere(rival, communities("demo-north"), holdings) == {"lvcheng": frozenset({"demo-north"})}


def test_offices_overlap_by_design() -> None:
    market_office = Organisation("scjg", "区市场监管所", OrganisationKind.SUPERVISION_OFFICE)
    holdings = [(OFFICE, Scope(frozenset({"demo"}), frozenset({"m1"}))), (market_office, markets("m1"))]
    assert held_elsewhere(market_office, markets("m1"), holdings) == {}
