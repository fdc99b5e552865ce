"""Owners' votes under Civil Code Art. 278: who may vote, how area and headcount are counted, what passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from community.voting import (
    ORDINARY_RULE,
    SPECIAL_MATTERS,
    SPECIAL_RULE,
    Approvals,
    Ballot,
    BallotBox,
    BallotChoice,
    BallotRefusal,
    Capacity,
    Choice,
    Delegation,
    Election,
    ElectionTally,
    Matter,
    OwnerPerson,
    Proposal,
    Tally,
    Unit,
    VoterRoll,
    check_ballot,
    check_delegation,
    rule_for,
    speaker_refusal,
    tally_election,
    tally_resolution,
)

OPENS = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=14)
DURING = OPENS + timedelta(days=1)
ORDINARY = Matter.PROPERTY_MANAGER
SPECIAL = Matter.REBUILDING

AGREE, OPPOSE, ABSTAIN = Choice.AGREE, Choice.OPPOSE, Choice.ABSTAIN


def unit(
    unit_id: str,
    area: str,
    *owners: str,
    developer: bool = False,
    representative: str | None = None,
) -> Unit:
    return Unit(unit_id, f"1栋1单元{unit_id}", Decimal(area), frozenset(owners), developer, representative)


def roll_of(*units: Unit) -> VoterRoll:
    return VoterRoll(units, frozen_at=OPENS)


def sole_owned(*areas: str) -> VoterRoll:
    """Units u0, u1, … each owned by its own owner o0, o1, …: area and headcount count each unit once."""
    return roll_of(*(unit(f"u{index}", area, f"o{index}") for index, area in enumerate(areas)))


def resolution(matter: Matter = ORDINARY, proposal_id: str = "p1") -> Proposal:
    return Proposal(proposal_id, matter, "议题", OPENS, CLOSES)


def election(candidates: tuple[str, ...], seats: int) -> Proposal:
    return Proposal("e1", Matter.OWNERS_COMMITTEE, "选举业委会", OPENS, CLOSES, Election(candidates, seats))


def owner_ballot(roll: VoterRoll, unit_id: str, choice: BallotChoice, proposal_id: str = "p1") -> Ballot:
    """A ballot by the unit's representative if it has one, else by its first owner."""
    found = roll.unit(unit_id)
    assert found is not None
    voter = found.representative_id or min(found.owner_ids)
    return Ballot(proposal_id, unit_id, voter, Capacity.OWNER, choice)


def count(roll: VoterRoll, proposal: Proposal, votes: dict[str, BallotChoice]) -> BallotBox:
    box = BallotBox(proposal, roll)
    for unit_id, choice in votes.items():
        assert box.cast(owner_ballot(roll, unit_id, choice, proposal.proposal_id), DURING) is None
    return box


def resolve(roll: VoterRoll, matter: Matter, votes: dict[str, BallotChoice]) -> Tally:
    result = count(roll, resolution(matter), votes).tally()
    assert isinstance(result, Tally)
    return result


def votes_of(*choices: Choice | None) -> dict[str, BallotChoice]:
    """Choices for u0, u1, … in order; None means the unit did not vote."""
    return {f"u{index}": choice for index, choice in enumerate(choices) if choice is not None}


# --- matters and rules ---------------------------------------------------------------------------------------------


def test_the_nine_matters_follow_article_278_and_items_6_to_8_are_special() -> None:
    assert [matter.article_item for matter in Matter] == list(range(1, 10))
    assert {matter.article_item for matter in SPECIAL_MATTERS} == {6, 7, 8}
    assert Matter.RAISING_OF_MAINTENANCE_FUNDS.label_zh == "筹集建筑物及其附属设施的维修资金"
    assert Matter.USE_OF_MAINTENANCE_FUNDS.is_special is False
    assert all(matter.label_zh and matter.label_en for matter in Matter)


def test_special_matters_use_three_quarters_and_the_others_a_strict_majority() -> None:
    assert rule_for(Matter.USE_OF_COMMON_PARTS) is SPECIAL_RULE
    assert rule_for(Matter.MANAGEMENT_COVENANT) is ORDINARY_RULE
    assert SPECIAL_RULE.approval.is_met_by(Fraction(3, 4))
    assert not ORDINARY_RULE.approval.is_met_by(Fraction(1, 2))
    assert ORDINARY_RULE.quorum.is_met_by(Fraction(2, 3))
    assert "四分之三以上" in SPECIAL_RULE.statement_zh
    assert "exactly half fails" in ORDINARY_RULE.statement_en


# --- thresholds: table of boundary cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    areas: tuple[str, ...]
    choices: tuple[Choice | None, ...]
    matter: Matter
    quorum_met: bool
    passed: bool


CASES = [
    # quorum: two thirds of area and of headcount, inclusive
    Case("exactly two thirds take part", ("100", "100", "100"), (AGREE, AGREE, None), ORDINARY, True, True),
    Case("area just under two thirds", ("100", "100", "100.01"), (AGREE, AGREE, None), ORDINARY, False, False),
    Case("headcount just under two thirds", ("1",) * 10, (AGREE,) * 6 + (None,) * 4, ORDINARY, False, False),
    Case("headcount two thirds of nine", ("1",) * 9, (AGREE,) * 6 + (None,) * 3, ORDINARY, True, True),
    # 2/3 − 1/n: one person short of the quorum while the area is met with room to spare
    Case("headcount 2/3 - 1/9, area met", ("100",) * 5 + ("1",) * 4, (AGREE,) * 5 + (None,) * 4, ORDINARY, False,
         False),
    Case("headcount 2/3 - 1/30, area met", ("100",) * 19 + ("1",) * 11, (AGREE,) * 19 + (None,) * 11, ORDINARY,
         False, False),
    Case("headcount exactly 2/3 of 30", ("100",) * 20 + ("1",) * 10, (AGREE,) * 20 + (None,) * 10, ORDINARY, True,
         True),
    Case("headcount 2/3 - 1/300, area met", ("100",) * 199 + ("1",) * 101, (AGREE,) * 199 + (None,) * 101, ORDINARY,
         False, False),
    Case("headcount exactly 2/3 of 300", ("100",) * 200 + ("1",) * 100, (AGREE,) * 200 + (None,) * 100, ORDINARY,
         True, True),
    Case("area met, headcount not", ("100", "10", "10", "10"), (AGREE, None, None, None), ORDINARY, False, False),
    Case("headcount met, area not", ("10", "10", "10", "100"), (AGREE, AGREE, AGREE, None), ORDINARY, False, False),
    Case("everyone who voted agrees, no quorum", ("1", "1", "1"), (AGREE, None, None), ORDINARY, False, False),
    # special matters: three quarters of the participating area and headcount, inclusive
    Case("special, exactly three quarters", ("100",) * 4, (AGREE, AGREE, AGREE, OPPOSE), SPECIAL, True, True),
    Case(
        "special, area just under three quarters",
        ("100", "100", "100", "100.01"),
        (AGREE, AGREE, AGREE, OPPOSE),
        SPECIAL,
        True,
        False,
    ),
    Case(
        "special, headcount just under three quarters",
        ("1",) * 8,
        (AGREE,) * 5 + (OPPOSE,) * 3,
        SPECIAL,
        True,
        False,
    ),
    Case("special fails where ordinary passes", ("1",) * 3, (AGREE, AGREE, OPPOSE), SPECIAL, True, False),
    Case("ordinary passes with two of three", ("1",) * 3, (AGREE, AGREE, OPPOSE), ORDINARY, True, True),
    # ordinary matters: more than half, strict
    Case("ordinary, exactly half fails", ("100",) * 4, (AGREE, AGREE, OPPOSE, OPPOSE), ORDINARY, True, False),
    Case("ordinary, just over half", ("100",) * 5, (AGREE, AGREE, AGREE, OPPOSE, OPPOSE), ORDINARY, True, True),
    Case(
        "ordinary, area exactly half with headcount three quarters",
        ("50", "25", "25", "100"),
        (AGREE, AGREE, AGREE, OPPOSE),
        ORDINARY,
        True,
        False,
    ),
    Case(
        "ordinary, area just over half with headcount three quarters",
        ("50", "50", "0.01", "100"),
        (AGREE, AGREE, AGREE, OPPOSE),
        ORDINARY,
        True,
        True,
    ),
    Case(
        "approval area met, headcount not",
        ("100", "10", "10", "10"),
        (AGREE, OPPOSE, OPPOSE, OPPOSE),
        ORDINARY,
        True,
        False,
    ),
    Case(
        "approval headcount met, area not",
        ("10", "10", "10", "100"),
        (AGREE, AGREE, AGREE, OPPOSE),
        ORDINARY,
        True,
        False,
    ),
    # abstentions take part but are not in favour
    Case("an abstention drags approval to half", ("1",) * 4, (AGREE, AGREE, OPPOSE, ABSTAIN), ORDINARY, True, False),
    Case("the same owners without the abstainer", ("1",) * 4, (AGREE, AGREE, OPPOSE, None), ORDINARY, True, True),
    Case("abstentions alone make the quorum", ("1",) * 3, (ABSTAIN, ABSTAIN, AGREE), ORDINARY, True, False),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_quorum_and_approval_thresholds(case: Case) -> None:
    result = resolve(sole_owned(*case.areas), case.matter, votes_of(*case.choices))

    assert (result.turnout.quorum_met, result.passed) == (case.quorum_met, case.passed)


@pytest.mark.parametrize("persons", [3, 9, 30, 300])
def test_the_headcount_quorum_fails_at_exactly_one_person_under_two_thirds(persons: int) -> None:
    """2/3 − 1/n of the persons take part, holding nearly all the area: only the headcount decides."""
    short = 2 * persons // 3 - 1
    areas = ("1000",) * short + ("1",) * (persons - short)
    result = resolve(sole_owned(*areas), ORDINARY, votes_of(*([AGREE] * short + [None] * (persons - short))))

    turnout = result.turnout
    assert turnout.participation_headcount_ratio == Fraction(2, 3) - Fraction(1, persons)
    assert turnout.participation_area_ratio > Fraction(2, 3)
    assert not turnout.quorum_met and not result.passed


def test_a_tally_reports_all_four_ratios_as_exact_fractions() -> None:
    result = resolve(sole_owned("89.37", "100.00", "120.50", "60.13"), SPECIAL, votes_of(AGREE, AGREE, OPPOSE, None))

    assert result.turnout.total_area == Decimal("370.00")
    assert result.turnout.participating_area == Decimal("309.87")
    assert result.in_favour_area == Decimal("189.37")
    assert result.turnout.participation_area_ratio == Fraction(30987, 37000)
    assert result.turnout.participation_headcount_ratio == Fraction(3, 4)
    assert result.approval_area_ratio == Fraction(18937, 30987)
    assert result.approval_headcount_ratio == Fraction(2, 3)
    assert (result.turnout.quorum_met, result.passed) == (True, False)
    assert result.rule is SPECIAL_RULE


def test_nobody_voting_gives_zero_ratios_and_fails() -> None:
    result = resolve(sole_owned("1", "2"), ORDINARY, {})

    assert result.turnout.participation_area_ratio == 0
    assert result.approval_area_ratio == 0
    assert result.approval_headcount_ratio == 0
    assert not result.passed


# --- headcount: who is one person ---------------------------------------------------------------------------------


def compound() -> VoterRoll:
    """alice owns two flats; bob and carol co-own one; carol also owns one alone; the developer holds three."""
    return roll_of(
        unit("a1", "90", "alice"),
        unit("a2", "60", "alice"),
        unit("bc", "100", "bob", "carol"),
        unit("c1", "80", "carol"),
        unit("d1", "70", "developer", developer=True),
        unit("d2", "70", "developer", developer=True),
        unit("d3", "70", "developer", developer=True),
    )


def test_a_person_with_several_units_counts_once_and_the_developer_once_for_all_held_units() -> None:
    roll = compound()

    assert roll.total_headcount == 4  # alice, {bob, carol}, carol, the developer
    assert roll.units_by_person[OwnerPerson(frozenset({"alice"}))] == ("a1", "a2")
    assert roll.units_by_person[OwnerPerson(frozenset({"developer"}))] == ("d1", "d2", "d3")
    assert roll.total_area == Decimal("540")


def test_a_co_owned_unit_is_one_person_distinct_from_a_co_owners_own_unit() -> None:
    roll = compound()

    assert roll.person_of("bc") != roll.person_of("c1")
    result = resolve(roll, ORDINARY, {"bc": AGREE, "c1": OPPOSE})
    assert result.turnout.participating_headcount == 2
    assert result.in_favour_headcount == 1


def test_a_multi_unit_owner_voting_alike_counts_once_in_favour_with_all_their_area() -> None:
    result = resolve(compound(), ORDINARY, {"a1": AGREE, "a2": AGREE, "c1": OPPOSE})

    assert result.turnout.participating_headcount == 2
    assert result.in_favour_headcount == 1
    assert result.in_favour_area == Decimal("150")
    assert result.split_headcount == 0


def test_a_person_whose_units_vote_differently_takes_part_but_is_not_in_favour() -> None:
    result = resolve(compound(), ORDINARY, {"a1": AGREE, "a2": OPPOSE})

    assert result.turnout.participating_headcount == 1
    assert result.in_favour_headcount == 0
    assert result.split_headcount == 1
    assert result.in_favour_area == Decimal("90")  # area still follows each unit's ballot
    assert result.turnout.participating_area == Decimal("150")


def test_a_person_agreeing_on_one_unit_and_abstaining_on_another_is_not_in_favour() -> None:
    result = resolve(compound(), ORDINARY, {"a1": AGREE, "a2": ABSTAIN})

    assert (result.in_favour_headcount, result.split_headcount) == (0, 1)


def test_a_person_voting_with_only_some_of_their_units_is_judged_by_the_units_that_voted() -> None:
    result = resolve(compound(), ORDINARY, {"a1": AGREE})

    assert result.in_favour_headcount == 1
    assert result.turnout.participating_area == Decimal("90")


def test_the_developers_held_units_are_one_person_however_many_vote() -> None:
    result = resolve(compound(), ORDINARY, {"d1": AGREE, "d2": AGREE, "d3": AGREE})

    assert result.turnout.participating_headcount == 1
    assert result.in_favour_headcount == 1
    assert result.turnout.participating_area == Decimal("210")


def test_a_developer_unit_not_flagged_but_owned_by_the_developer_joins_the_developer() -> None:
    roll = roll_of(
        unit("d1", "70", "developer", developer=True), unit("office", "30", "developer"), unit("x", "1", "x")
    )

    assert roll.total_headcount == 2


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ((unit("u", "1", "a"), unit("u", "2", "b")), "twice"),
        ((unit("u", "0", "a"),), "positive"),
        ((unit("u", "-1", "a"),), "positive"),
        ((Unit("u", "x", Decimal("NaN"), frozenset({"a"})),), "positive"),
        ((Unit("u", "x", 89.37, frozenset({"a"})),), "Decimal"),  # type: ignore[arg-type]
        ((unit("u", "1", developer=True),), "lists no owner"),
        ((unit("u", "1", "a", "b", representative="c"),), "representative"),
        ((unit("d1", "1", "dev", developer=True), unit("d2", "1", "dev2", developer=True)), "developer"),
        ((), "no units"),
    ],
)
def test_an_inconsistent_roll_is_rejected(units: tuple[Unit, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VoterRoll(units, frozen_at=OPENS)


# --- ballots: who may cast, when, what ----------------------------------------------------------------------------

DELEGATIONS = (
    Delegation(delegate_id="proxy", granted_by="alice", proposal_id="p1", unit_id="a1"),
    Delegation(delegate_id="other-proposal", granted_by="alice", proposal_id="p2", unit_id="a1"),
    Delegation(delegate_id="other-unit", granted_by="alice", proposal_id="p1", unit_id="a2"),
    Delegation(delegate_id="by-a-stranger", granted_by="mallory", proposal_id="p1", unit_id="a1"),
)


@pytest.mark.parametrize(
    ("ballot", "now", "refusal"),
    [
        (Ballot("p1", "a1", "alice", Capacity.OWNER, AGREE), DURING, None),
        (Ballot("p1", "a1", "alice", Capacity.OWNER, AGREE), OPENS, None),
        (Ballot("p1", "a1", "alice", Capacity.OWNER, AGREE), CLOSES - timedelta(microseconds=1), None),
        (Ballot("p1", "a1", "alice", Capacity.OWNER, AGREE), OPENS - timedelta(seconds=1), BallotRefusal.NOT_OPEN_YET),
        (Ballot("p1", "a1", "alice", Capacity.OWNER, AGREE), CLOSES, BallotRefusal.VOTING_CLOSED),
        (Ballot("p2", "a1", "alice", Capacity.OWNER, AGREE), DURING, BallotRefusal.WRONG_PROPOSAL),
        (Ballot("p1", "zz", "alice", Capacity.OWNER, AGREE), DURING, BallotRefusal.UNIT_NOT_ON_ROLL),
        (Ballot("p1", "a1", "bob", Capacity.OWNER, AGREE), DURING, BallotRefusal.NOT_AN_OWNER),
        (Ballot("p1", "a1", "proxy", Capacity.PROXY, AGREE), DURING, None),
        (Ballot("p1", "a1", "nobody", Capacity.PROXY, AGREE), DURING, BallotRefusal.NO_DELEGATION),
        (Ballot("p1", "a1", "proxy", Capacity.OWNER, AGREE), DURING, BallotRefusal.NOT_AN_OWNER),
        (Ballot("p1", "a1", "other-proposal", Capacity.PROXY, AGREE), DURING, BallotRefusal.NO_DELEGATION),
        (Ballot("p1", "a1", "other-unit", Capacity.PROXY, AGREE), DURING, BallotRefusal.NO_DELEGATION),
        (Ballot("p1", "a1", "by-a-stranger", Capacity.PROXY, AGREE), DURING, BallotRefusal.NO_DELEGATION),
        (Ballot("p1", "a1", "alice", Capacity.OWNER, Approvals(frozenset({"x"}))), DURING, BallotRefusal.WRONG_OPTION),
    ],
    ids=lambda value: value.name if isinstance(value, BallotRefusal) else None,
)
def test_ballot_eligibility(ballot: Ballot, now: datetime, refusal: BallotRefusal | None) -> None:
    box = BallotBox(resolution(), compound(), DELEGATIONS)

    assert box.cast(ballot, now) is refusal
    assert (ballot.unit_id in box.counted_ballots) is (refusal is None)


def test_refusals_explain_themselves_in_both_languages() -> None:
    assert all(refusal.message_zh and refusal.message_en for refusal in BallotRefusal)


def test_every_refusal_has_one_status_for_the_api_and_the_pages() -> None:
    from community.voting import pages, web
    from community.voting.deliberation import CommentRefusal

    assert set(web.REFUSAL_STATUS) == {*BallotRefusal, *CommentRefusal}
    assert pages.REFUSAL_STATUS is web.REFUSAL_STATUS
    assert web.REFUSAL_STATUS[BallotRefusal.UNIT_NOT_ON_ROLL] == 422
    assert all(refusal.message_zh and refusal.message_en for refusal in CommentRefusal)


def test_a_later_ballot_for_the_same_unit_replaces_the_earlier_one() -> None:
    roll = sole_owned("1", "1", "1")
    box = BallotBox(resolution(), roll)
    box.cast(owner_ballot(roll, "u0", AGREE), DURING)
    box.cast(owner_ballot(roll, "u1", AGREE), DURING)
    box.cast(owner_ballot(roll, "u2", AGREE), DURING)
    box.cast(owner_ballot(roll, "u0", OPPOSE), DURING + timedelta(hours=1))
    box.cast(owner_ballot(roll, "u1", OPPOSE), DURING + timedelta(hours=1))

    result = box.tally()
    assert isinstance(result, Tally)
    assert box.counted_ballots["u0"].choice is OPPOSE
    assert result.in_favour_headcount == 1
    assert not result.passed


def test_a_refused_change_leaves_the_counted_ballot_in_place() -> None:
    roll = sole_owned("1")
    box = BallotBox(resolution(), roll)
    box.cast(owner_ballot(roll, "u0", AGREE), DURING)

    assert box.cast(owner_ballot(roll, "u0", OPPOSE), CLOSES) is BallotRefusal.VOTING_CLOSED
    assert box.counted_ballots["u0"].choice is AGREE


def test_a_proxy_with_a_delegation_votes_and_may_change_the_vote() -> None:
    box = BallotBox(resolution(), compound(), DELEGATIONS)

    assert box.cast(Ballot("p1", "a1", "proxy", Capacity.PROXY, AGREE), DURING) is None
    assert box.cast(Ballot("p1", "a1", "proxy", Capacity.PROXY, OPPOSE), DURING) is None
    assert box.counted_ballots["a1"].choice is OPPOSE


def test_once_a_proxy_has_voted_the_owner_cannot_vote_over_them() -> None:
    box = BallotBox(resolution(), compound(), DELEGATIONS)
    box.cast(Ballot("p1", "a1", "proxy", Capacity.PROXY, AGREE), DURING)

    assert box.cast(Ballot("p1", "a1", "alice", Capacity.OWNER, OPPOSE), DURING) is BallotRefusal.DOUBLE_REPRESENTATION
    assert box.counted_ballots["a1"].voter_id == "proxy"


def test_a_second_co_owner_cannot_represent_a_unit_another_co_owner_voted_for() -> None:
    box = BallotBox(resolution(), compound())

    assert box.cast(Ballot("p1", "bc", "bob", Capacity.OWNER, AGREE), DURING) is None
    assert box.cast(Ballot("p1", "bc", "carol", Capacity.OWNER, OPPOSE), DURING) is BallotRefusal.DOUBLE_REPRESENTATION
    assert box.cast(Ballot("p1", "bc", "bob", Capacity.OWNER, ABSTAIN), DURING) is None
    assert box.counted_ballots["bc"].choice is ABSTAIN


def test_a_designated_representative_is_the_only_co_owner_who_votes_for_the_unit() -> None:
    roll = roll_of(unit("bc", "100", "bob", "carol", representative="carol"))
    delegations = (
        Delegation("carols-proxy", "carol", "p1", "bc"),
        Delegation("bobs-proxy", "bob", "p1", "bc"),
    )
    box = BallotBox(resolution(), roll, delegations)

    assert box.cast(Ballot("p1", "bc", "bob", Capacity.OWNER, AGREE), DURING) is BallotRefusal.DOUBLE_REPRESENTATION
    assert box.cast(Ballot("p1", "bc", "bobs-proxy", Capacity.PROXY, AGREE), DURING) is BallotRefusal.NO_DELEGATION
    assert box.cast(Ballot("p1", "bc", "carols-proxy", Capacity.PROXY, AGREE), DURING) is None


def test_two_proxies_for_one_unit_are_double_representation() -> None:
    roll = compound()
    delegations = (Delegation("p-bob", "bob", "p1", "bc"), Delegation("p-carol", "carol", "p1", "bc"))
    box = BallotBox(resolution(), roll, delegations)

    assert box.cast(Ballot("p1", "bc", "p-bob", Capacity.PROXY, AGREE), DURING) is None
    assert box.cast(Ballot("p1", "bc", "p-carol", Capacity.PROXY, AGREE), DURING) is BallotRefusal.DOUBLE_REPRESENTATION


# --- delegations: who may give one, and when ------------------------------------------------------------------------


def represented() -> VoterRoll:
    """compound(), with carol designated to speak for the co-owned flat bc."""
    return roll_of(*(unit("bc", "100", "bob", "carol", representative="carol") if u.unit_id == "bc" else u
                     for u in compound().units))


@pytest.mark.parametrize(
    ("delegation", "now", "refusal"),
    [
        (Delegation("pat", "alice", "p1", "a1"), DURING, None),
        (Delegation("pat", "alice", "p1", "a1"), OPENS - timedelta(days=3), None),  # arranged before voting opens
        (Delegation("pat", "carol", "p1", "bc"), DURING, None),  # the representative
        (Delegation("pat", "bob", "p1", "bc"), DURING, BallotRefusal.DOUBLE_REPRESENTATION),  # not the representative
        (Delegation("pat", "mallory", "p1", "a1"), DURING, BallotRefusal.NOT_AN_OWNER),
        (Delegation("pat", "alice", "p1", "c1"), DURING, BallotRefusal.NOT_AN_OWNER),  # alice's other flats only
        (Delegation("pat", "alice", "p1", "zz"), DURING, BallotRefusal.UNIT_NOT_ON_ROLL),
        (Delegation("pat", "alice", "p2", "a1"), DURING, BallotRefusal.WRONG_PROPOSAL),
        (Delegation("pat", "alice", "p1", "a1"), CLOSES, BallotRefusal.VOTING_CLOSED),
        (Delegation("pat", "alice", "p1", "a1"), CLOSES + timedelta(days=1), BallotRefusal.VOTING_CLOSED),
        (Delegation("proxy", "alice", "p1", "a2"), DURING, BallotRefusal.DELEGATION_EXISTS),
        (Delegation("proxy", "alice", "p1", "a1"), DURING, None),  # the same proxy, another unit
    ],
    ids=lambda value: value.name if isinstance(value, BallotRefusal) else None,
)
def test_delegation_rules(delegation: Delegation, now: datetime, refusal: BallotRefusal | None) -> None:
    box = BallotBox(resolution(), represented(), [Delegation("proxy", "alice", "p1", "a2")])

    assert box.delegate(delegation, now) is refusal
    assert (delegation in box.delegations) is (refusal is None or refusal is BallotRefusal.DELEGATION_EXISTS)


def test_a_repeated_delegation_is_refused_whoever_grants_it() -> None:
    box = BallotBox(resolution(), compound())

    assert box.delegate(Delegation("pat", "bob", "p1", "bc"), DURING) is None
    assert box.delegate(Delegation("pat", "bob", "p1", "bc"), DURING) is BallotRefusal.DELEGATION_EXISTS
    assert box.delegate(Delegation("pat", "carol", "p1", "bc"), DURING) is BallotRefusal.DELEGATION_EXISTS
    assert box.delegate(Delegation("quinn", "carol", "p1", "bc"), DURING) is None, "another proxy: one voice wins"
    assert len(box.delegations) == 2


@pytest.mark.parametrize("person", ["alice", "bob", "carol", "developer", "mallory"])
@pytest.mark.parametrize("unit_id", ["a1", "bc", "c1", "d1"])
def test_whoever_may_cast_a_units_ballot_may_delegate_it_and_nobody_else(person: str, unit_id: str) -> None:
    """One rule (speaker_refusal) for the owner's ballot and the delegation, so the API cannot accept a proxy the
    ballot box later refuses."""
    roll, proposal = represented(), resolution()
    delegation = Delegation("pat", person, "p1", unit_id)
    as_owner = check_ballot(Ballot("p1", unit_id, person, Capacity.OWNER, AGREE), proposal=proposal, roll=roll,
                            delegations=(), counted_ballots={}, now=DURING)
    delegated = check_delegation(delegation, proposal=proposal, roll=roll, delegations=(), now=DURING)
    found = roll.unit(unit_id)
    assert found is not None
    assert as_owner is delegated is speaker_refusal(found, person)
    proxy = check_ballot(Ballot("p1", unit_id, "pat", Capacity.PROXY, AGREE), proposal=proposal, roll=roll,
                         delegations=(delegation,), counted_ballots={}, now=DURING)
    assert (proxy is None) is (delegated is None), "an accepted delegation lets the proxy vote, a refused one not"


def test_a_delegation_handed_to_the_box_is_still_checked_when_the_proxy_votes() -> None:
    """Delegations on record are taken as given, but a proxy whose grantor may not speak for the unit cannot vote."""
    box = BallotBox(resolution(), represented(), [Delegation("bobs-proxy", "bob", "p1", "bc")])

    assert box.cast(Ballot("p1", "bc", "bobs-proxy", Capacity.PROXY, AGREE), DURING) is BallotRefusal.NO_DELEGATION


# --- units without a recorded owner -------------------------------------------------------------------------------


def test_a_unit_without_a_recorded_owner_counts_as_a_person_and_an_area_that_never_takes_part() -> None:
    roll = roll_of(unit("a1", "100", "alice"), unit("b1", "100", "bob"), unit("x1", "50"), unit("x2", "50"))

    assert roll.total_headcount == 4, "one person each: nobody is known to hold both"
    assert roll.total_area == Decimal("300")
    assert roll.person_of("x1") != roll.person_of("x2")
    box = BallotBox(resolution(), roll)
    for voter in ("alice", "bob", "nobody"):
        assert box.cast(Ballot("p1", "x1", voter, Capacity.OWNER, AGREE), DURING) is BallotRefusal.NOT_AN_OWNER
        assert box.delegate(Delegation("pat", voter, "p1", "x1"), DURING) is BallotRefusal.NOT_AN_OWNER
    assert box.cast(Ballot("p1", "x1", "pat", Capacity.PROXY, AGREE), DURING) is BallotRefusal.NO_DELEGATION
    box.cast(Ballot("p1", "a1", "alice", Capacity.OWNER, AGREE), DURING)
    box.cast(Ballot("p1", "b1", "bob", Capacity.OWNER, AGREE), DURING)
    result = box.tally()
    assert isinstance(result, Tally)
    # everyone who can vote agreed: 2/3 of the area, but only 2 of 4 persons — no quorum
    assert result.turnout.participation_area_ratio == Fraction(2, 3)
    assert result.turnout.participation_headcount_ratio == Fraction(1, 2)
    assert not result.passed


def test_live_turnout_shows_participation_while_open() -> None:
    roll = sole_owned("1", "1", "1")
    box = BallotBox(resolution(), roll)
    box.cast(owner_ballot(roll, "u0", OPPOSE), DURING)
    assert box.turnout().participation_headcount_ratio == Fraction(1, 3)
    assert not box.turnout().quorum_met

    box.cast(owner_ballot(roll, "u1", ABSTAIN), DURING)
    assert box.turnout().participating_area == Decimal("2")
    assert box.turnout().quorum_met


def test_the_roll_must_be_frozen_by_the_time_voting_opens() -> None:
    late_roll = VoterRoll((unit("u", "1", "a"),), frozen_at=OPENS + timedelta(seconds=1))

    with pytest.raises(ValueError, match="frozen"):
        BallotBox(resolution(), late_roll)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Proposal("p", ORDINARY, "t", CLOSES, OPENS), "close after"),
        (lambda: Proposal("p", ORDINARY, "t", OPENS.replace(tzinfo=None), CLOSES), "aware"),
        (lambda: Proposal("p", ORDINARY, "t", OPENS, CLOSES, Election(("x",), 1)), "owners' committee"),
        (lambda: election(("x", "y"), 0), "seats"),
        (lambda: election(("x", "y"), 3), "seats"),
        (lambda: election(("x", "x"), 1), "twice"),
    ],
)
def test_an_inconsistent_proposal_is_rejected(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_the_tally_rejects_ballots_the_box_would_have_refused() -> None:
    roll = sole_owned("1")
    with pytest.raises(ValueError, match="not on the roll"):
        tally_resolution(resolution(), roll, [Ballot("p1", "zz", "o0", Capacity.OWNER, AGREE)])
    with pytest.raises(ValueError, match="election ballot"):
        tally_resolution(resolution(), roll, [Ballot("p1", "u0", "o0", Capacity.OWNER, Approvals())])


# --- elections ----------------------------------------------------------------------------------------------------


def elect(roll: VoterRoll, proposal: Proposal, approvals: dict[str, set[str]]) -> ElectionTally:
    votes: dict[str, BallotChoice] = {unit_id: Approvals(frozenset(names)) for unit_id, names in approvals.items()}
    result = count(roll, proposal, votes).tally()
    assert isinstance(result, ElectionTally)
    return result


def test_an_election_ballot_approves_listed_candidates_up_to_the_seats() -> None:
    roll = sole_owned("1")
    box = BallotBox(election(("wang", "li", "zhang"), 2), roll)

    def cast(choice: BallotChoice) -> BallotRefusal | None:
        return box.cast(Ballot("e1", "u0", "o0", Capacity.OWNER, choice), DURING)

    assert cast(Approvals(frozenset({"wang", "li", "zhang"}))) is BallotRefusal.TOO_MANY_CANDIDATES
    assert cast(Approvals(frozenset({"wang", "zhao"}))) is BallotRefusal.WRONG_OPTION
    assert cast(AGREE) is BallotRefusal.WRONG_OPTION
    assert cast(Approvals(frozenset({"wang", "li"}))) is None
    assert cast(Approvals()) is None  # taking part, approving nobody


def test_candidates_with_a_majority_of_area_and_headcount_fill_the_seats_by_area() -> None:
    roll = sole_owned("100", "90", "80", "70", "60")
    result = elect(
        roll,
        election(("wang", "li", "zhang", "zhao"), 2),
        {
            "u0": {"wang", "li"},
            "u1": {"wang", "zhang"},
            "u2": {"li", "zhang"},
            "u3": {"li", "zhang"},
            "u4": {"zhao"},
        },
    )

    by_name = {candidate.candidate: candidate for candidate in result.candidates}
    assert by_name["li"].approval_area == Decimal("250")
    assert by_name["zhang"].approval_area == Decimal("240")
    assert by_name["wang"].approval_headcount == 2
    assert not by_name["wang"].meets_threshold
    assert result.elected == ("li", "zhang")
    assert by_name["li"].elected and not by_name["wang"].elected
    assert result.tied_for_last_seat == ()


def test_a_candidate_without_a_majority_is_not_elected_even_with_seats_free() -> None:
    roll = sole_owned("1", "1", "1", "1")
    result = elect(
        roll, election(("wang", "li"), 2), {"u0": {"wang"}, "u1": {"wang"}, "u2": {"wang", "li"}, "u3": set()}
    )

    assert result.elected == ("wang",)
    assert result.turnout.participating_headcount == 4  # the empty ballot takes part


def test_candidates_tied_for_the_last_seat_are_not_elected() -> None:
    roll = sole_owned("1", "1", "1", "1", "1")
    approvals = {
        "u0": {"wang", "li"},
        "u1": {"wang", "zhang"},
        "u2": {"wang", "li"},
        "u3": {"wang", "zhang"},
        "u4": {"li", "zhang"},
    }
    result = elect(roll, election(("wang", "li", "zhang"), 2), approvals)

    assert [candidate.meets_threshold for candidate in result.candidates] == [True, True, True]
    assert result.elected == ("wang",)
    assert result.tied_for_last_seat == ("li", "zhang")


def test_a_tie_that_fits_the_seats_elects_everyone_in_it() -> None:
    roll = sole_owned("1", "1", "1")
    approvals = {"u0": {"wang", "li"}, "u1": {"wang", "li"}, "u2": {"zhang"}}

    assert elect(roll, election(("wang", "li", "zhang"), 2), approvals).elected == ("wang", "li")


def test_equal_area_is_ranked_by_headcount() -> None:
    roll = roll_of(
        unit("a1", "50", "alice"),
        unit("a2", "50", "alice"),
        unit("b", "50", "bob"),
        unit("c", "50", "carol"),
        unit("d", "0.01", "dave"),
        unit("e", "0.01", "erin"),
    )
    approvals = {
        "a1": {"wang", "zhang"},
        "a2": {"wang", "zhang"},
        "b": {"li", "zhang"},
        "c": {"li", "zhang"},
        "d": {"wang", "li"},
        "e": {"wang", "li"},
    }
    result = elect(roll, election(("wang", "li", "zhang"), 2), approvals)

    # wang and li both hold 100.02 of 200.02 m²; wang is backed by alice, dave, erin; li by bob, carol, dave, erin
    assert [(c.approval_area, c.approval_headcount, c.meets_threshold) for c in result.candidates] == [
        (Decimal("100.02"), 3, True),
        (Decimal("100.02"), 4, True),
        (Decimal("200"), 3, True),
    ]
    assert result.elected == ("zhang", "li")


def test_an_election_without_quorum_elects_nobody() -> None:
    roll = sole_owned("1", "1", "1")
    result = elect(roll, election(("wang",), 1), {"u0": {"wang"}})

    assert result.candidates[0].meets_threshold
    assert result.elected == ()


def test_a_person_approves_a_candidate_only_if_all_their_voting_units_do() -> None:
    roll = roll_of(unit("a1", "10", "alice"), unit("a2", "10", "alice"), unit("b", "10", "bob"))
    result = elect(roll, election(("wang", "li"), 2), {"a1": {"wang", "li"}, "a2": {"wang"}, "b": {"wang", "li"}})

    by_name = {candidate.candidate: candidate for candidate in result.candidates}
    assert by_name["wang"].approval_headcount == 2
    assert by_name["li"].approval_headcount == 1
    assert result.split_headcount == 1


# --- the worked example of docs/voting.md -------------------------------------------------------------------------


def docs_example_roll() -> VoterRoll:
    return roll_of(
        unit("1-101", "89.37", "zhang"),
        unit("1-102", "60.63", "zhang"),
        unit("1-201", "120.50", "li", "wang", representative="li"),
        unit("1-202", "95.00", "wang"),
        unit("2-101", "110.00", "chen"),
        unit("2-102", "110.00", "liu"),
        unit("2-201", "85.00", "zhao"),
        unit("3-101", "100.00", "developer", developer=True),
        unit("3-102", "100.00", "developer", developer=True),
        unit("3-201", "79.50", "developer", developer=True),
    )


DOCS_EXAMPLE_VOTES: dict[str, BallotChoice] = {
    "1-101": AGREE,
    "1-102": AGREE,
    "1-201": AGREE,
    "1-202": OPPOSE,
    "2-101": AGREE,
    "2-102": ABSTAIN,
    "3-101": AGREE,
    "3-102": AGREE,
    "3-201": AGREE,
}


@pytest.mark.parametrize(
    ("matter", "zhang_splits", "in_favour", "approval_area", "approval_headcount", "passed"),
    [
        (Matter.PROPERTY_MANAGER, False, (Decimal("660.00"), 4), Fraction(132, 173), Fraction(2, 3), True),
        (Matter.RAISING_OF_MAINTENANCE_FUNDS, False, (Decimal("660.00"), 4), Fraction(132, 173), Fraction(2, 3), False),
        (Matter.PROPERTY_MANAGER, True, (Decimal("599.37"), 3), Fraction(59937, 86500), Fraction(1, 2), False),
    ],
)
def test_the_worked_example_in_the_docs(
    matter: Matter,
    zhang_splits: bool,
    in_favour: tuple[Decimal, int],
    approval_area: Fraction,
    approval_headcount: Fraction,
    passed: bool,
) -> None:
    roll = docs_example_roll()
    votes = DOCS_EXAMPLE_VOTES | ({"1-102": OPPOSE} if zhang_splits else {})
    result = resolve(roll, matter, votes)

    turnout = result.turnout
    assert (turnout.total_area, turnout.total_headcount) == (Decimal("950.00"), 7)
    assert (turnout.participating_area, turnout.participating_headcount) == (Decimal("865.00"), 6)
    assert (turnout.participation_area_ratio, turnout.participation_headcount_ratio) == (
        Fraction(173, 190),
        Fraction(6, 7),
    )
    assert turnout.quorum_met
    assert (result.in_favour_area, result.in_favour_headcount) == in_favour
    assert (result.approval_area_ratio, result.approval_headcount_ratio) == (approval_area, approval_headcount)
    assert result.passed is passed


def test_the_worked_example_with_units_without_a_recorded_owner() -> None:
    """docs/voting.md, "Variant — units without a recorded owner": three more units, nobody registered for them."""
    roll = roll_of(*docs_example_roll().units, unit("4-101", "80.00"), unit("4-102", "80.00"), unit("4-201", "80.00"))
    result = resolve(roll, Matter.PROPERTY_MANAGER, DOCS_EXAMPLE_VOTES)

    turnout = result.turnout
    assert (turnout.total_area, turnout.total_headcount) == (Decimal("1190.00"), 10)
    assert (turnout.participating_area, turnout.participating_headcount) == (Decimal("865.00"), 6)
    assert turnout.participation_area_ratio == Fraction(173, 238)
    assert turnout.participation_headcount_ratio == Fraction(3, 5)
    assert not turnout.quorum_met and not result.passed
    assert (result.approval_area_ratio, result.approval_headcount_ratio) == (Fraction(132, 173), Fraction(2, 3))


# --- properties: the tally equals a plain recount -----------------------------------------------------------------

OWNER_SETS = [frozenset(owners) for owners in ({"o1"}, {"o2"}, {"o3"}, {"o1", "o2"}, {"o2", "o3"}, {"o4"})]


@st.composite
def rolls(draw: st.DrawFn) -> VoterRoll:
    size = draw(st.integers(1, 10))
    units = []
    for index in range(size):
        area = Decimal(draw(st.integers(1, 30_000))) / 100
        if draw(st.booleans()) and draw(st.booleans()):
            units.append(Unit(f"u{index}", f"#{index}", area, frozenset({"developer"}), held_by_developer=True))
        else:
            units.append(Unit(f"u{index}", f"#{index}", area, draw(st.sampled_from(OWNER_SETS))))
    return VoterRoll(tuple(units), frozen_at=OPENS)


def ballot_plans(roll: VoterRoll) -> st.SearchStrategy[list[tuple[str, Choice]]]:
    """A first round where most units vote (so quorum is often met), then some changed ballots."""
    unit_ids = [u.unit_id for u in roll.units]
    choices = [AGREE, AGREE, AGREE, OPPOSE, ABSTAIN]
    first_round = st.lists(st.sampled_from([None, *choices]), min_size=len(unit_ids), max_size=len(unit_ids))
    changes = st.lists(st.tuples(st.sampled_from(unit_ids), st.sampled_from(choices)), max_size=len(unit_ids))
    return st.tuples(first_round, changes).map(
        lambda plan: [(u, c) for u, c in zip(unit_ids, plan[0], strict=True) if c is not None] + plan[1]
    )


def brute_force_resolution(roll: VoterRoll, matter: Matter, ballots: list[Ballot]) -> dict[str, object]:
    """The count as one would do it by hand on paper, independently of the code under test."""
    last: dict[str, Choice] = {}
    for ballot in ballots:
        assert isinstance(ballot.choice, Choice)
        last[ballot.unit_id] = ballot.choice
    area = {u.unit_id: Fraction(u.area) for u in roll.units}
    people: dict[frozenset[str], list[str]] = {}
    for u in roll.units:
        # a unit nobody is recorded for is somebody unknown: a person of its own
        people.setdefault(u.owner_ids or frozenset({f"<nobody recorded for {u.unit_id}>"}), []).append(u.unit_id)

    total_area = sum(area.values(), Fraction(0))
    total_people = len(people)
    voting_area = sum((area[unit_id] for unit_id in last), Fraction(0))
    agree_area = sum((area[unit_id] for unit_id, choice in last.items() if choice is AGREE), Fraction(0))
    voting_people = 0
    agreeing_people = 0
    for unit_ids in people.values():
        cast = [last[unit_id] for unit_id in unit_ids if unit_id in last]
        if cast:
            voting_people += 1
            if all(choice is AGREE for choice in cast):
                agreeing_people += 1

    quorum = 3 * voting_area >= 2 * total_area and 3 * voting_people >= 2 * total_people
    if matter in SPECIAL_MATTERS:
        approved = 4 * agree_area >= 3 * voting_area and 4 * agreeing_people >= 3 * voting_people
    else:
        approved = 2 * agree_area > voting_area and 2 * agreeing_people > voting_people
    return {
        "total_area": total_area,
        "total_headcount": total_people,
        "participating_area": voting_area,
        "participating_headcount": voting_people,
        "in_favour_area": agree_area,
        "in_favour_headcount": agreeing_people,
        "quorum_met": quorum,
        "passed": quorum and voting_people > 0 and approved,
    }


def observed(result: Tally) -> dict[str, object]:
    turnout = result.turnout
    return {
        "total_area": Fraction(turnout.total_area),
        "total_headcount": turnout.total_headcount,
        "participating_area": Fraction(turnout.participating_area),
        "participating_headcount": turnout.participating_headcount,
        "in_favour_area": Fraction(result.in_favour_area),
        "in_favour_headcount": result.in_favour_headcount,
        "quorum_met": turnout.quorum_met,
        "passed": result.passed,
    }


@settings(max_examples=150, deadline=None)
@given(data=st.data(), roll=rolls(), matter=st.sampled_from(list(Matter)))
def test_the_tally_equals_a_brute_force_recount(data: st.DataObject, roll: VoterRoll, matter: Matter) -> None:
    ballots = [owner_ballot(roll, unit_id, choice) for unit_id, choice in data.draw(ballot_plans(roll))]

    result = tally_resolution(resolution(matter), roll, ballots)

    assert observed(result) == brute_force_resolution(roll, matter, ballots)
    turnout = result.turnout
    assert turnout.participation_area_ratio == Fraction(turnout.participating_area) / Fraction(turnout.total_area)
    assert result.split_headcount <= turnout.participating_headcount


@settings(max_examples=100, deadline=None)
@given(data=st.data(), roll=rolls())
def test_election_approvals_equal_a_brute_force_recount(data: st.DataObject, roll: VoterRoll) -> None:
    candidates = ("wang", "li", "zhang")
    seats = data.draw(st.integers(1, 3))
    proposal = election(candidates, seats)
    unit_ids = [u.unit_id for u in roll.units]
    approval_sets = st.frozensets(st.sampled_from(candidates), max_size=seats)
    first_round = data.draw(st.lists(st.none() | approval_sets, min_size=len(unit_ids), max_size=len(unit_ids)))
    changes = data.draw(st.lists(st.tuples(st.sampled_from(unit_ids), approval_sets), max_size=len(unit_ids)))
    plan = [(u, approved) for u, approved in zip(unit_ids, first_round, strict=True) if approved is not None]
    ballots = [owner_ballot(roll, unit_id, Approvals(approved), "e1") for unit_id, approved in plan + changes]

    result = tally_election(proposal, roll, ballots)

    last: dict[str, frozenset[str]] = {}
    for ballot in ballots:
        assert isinstance(ballot.choice, Approvals)
        last[ballot.unit_id] = ballot.choice.candidates
    people: dict[frozenset[str], list[str]] = {}
    for u in roll.units:
        people.setdefault(u.owner_ids, []).append(u.unit_id)
    area = {u.unit_id: Fraction(u.area) for u in roll.units}
    voting_area = sum((area[unit_id] for unit_id in last), Fraction(0))
    voting_people = sum(1 for unit_ids in people.values() if any(unit_id in last for unit_id in unit_ids))
    qualifying = []
    for candidate, counted in zip(candidates, result.candidates, strict=True):
        approving_area = sum((area[unit_id] for unit_id, names in last.items() if candidate in names), Fraction(0))
        approving_people = 0
        for unit_ids in people.values():
            cast = [last[unit_id] for unit_id in unit_ids if unit_id in last]
            if cast and all(candidate in names for names in cast):
                approving_people += 1
        assert (Fraction(counted.approval_area), counted.approval_headcount) == (approving_area, approving_people)
        if 2 * approving_area > voting_area and 2 * approving_people > voting_people:
            qualifying.append((approving_area, approving_people, candidate))

    if not result.turnout.quorum_met:
        assert result.elected == ()
        return
    # every elected candidate qualifies and beats every qualifying candidate left out
    qualifying_names = {name for _, _, name in qualifying}
    assert set(result.elected) <= qualifying_names
    assert len(result.elected) <= seats
    scores = {name: (a, p) for a, p, name in qualifying}
    for winner in result.elected:
        for loser in qualifying_names - set(result.elected):
            assert scores[winner] > scores[loser]
    if len(qualifying) <= seats:
        assert set(result.elected) == qualifying_names


@settings(max_examples=100, deadline=None)
@given(data=st.data(), roll=rolls())
def test_the_box_counts_the_last_accepted_ballot_of_each_unit(data: st.DataObject, roll: VoterRoll) -> None:
    unit_ids = [u.unit_id for u in roll.units] + ["not-on-roll"]
    box = BallotBox(resolution(), roll)
    accepted: list[Ballot] = []
    for unit_id, choice, voter, offset in data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(unit_ids),
                st.sampled_from(Choice),
                st.sampled_from(["o1", "o2", "o3", "o4", "developer", "stranger"]),
                st.integers(-1, 15),
            )
        )
    ):
        ballot = Ballot("p1", unit_id, voter, Capacity.OWNER, choice)
        if box.cast(ballot, OPENS + timedelta(days=offset)) is None:
            accepted.append(ballot)

    assert box.counted_ballots == {ballot.unit_id: ballot for ballot in accepted}
    assert box.tally() == tally_resolution(resolution(), roll, accepted)
    for ballot in accepted:
        found = roll.unit(ballot.unit_id)
        assert found is not None and ballot.voter_id in found.owner_ids
    voters_per_unit: dict[str, set[str]] = {}
    for ballot in accepted:
        voters_per_unit.setdefault(ballot.unit_id, set()).add(ballot.voter_id)
    assert all(len(voters) == 1 for voters in voters_per_unit.values())


# --- properties: proxies and co-owners' representatives, decided on paper ------------------------------------------

PEOPLE = ["o1", "o2", "o3", "o4", "developer", "stranger"]
PROXIES = ["px1", "px2"]


@st.composite
def represented_rolls(draw: st.DrawFn) -> VoterRoll:
    """Rolls with co-owned units that may have a designated representative, the developer's units, and units
    without a recorded owner."""
    units = []
    for index in range(draw(st.integers(1, 9))):
        area = Decimal(draw(st.integers(1, 30_000))) / 100
        kind = draw(st.sampled_from(["owned", "owned", "owned", "developer", "nobody"]))
        if kind == "developer":
            units.append(Unit(f"u{index}", f"#{index}", area, frozenset({"developer"}), held_by_developer=True))
        elif kind == "nobody":
            units.append(Unit(f"u{index}", f"#{index}", area, frozenset()))
        else:
            owners = draw(st.sampled_from(OWNER_SETS))
            representative = draw(st.none() | st.sampled_from(sorted(owners))) if len(owners) > 1 else None
            units.append(Unit(f"u{index}", f"#{index}", area, owners, representative_id=representative))
    return VoterRoll(tuple(units), frozen_at=OPENS)


@st.composite
def actions(draw: st.DrawFn, roll: VoterRoll) -> list[tuple[object, ...]]:
    """Delegations and ballots in any order: mostly by the unit's owners (any co-owner, not only the representative)
    and proxies within the window, now and then by a stranger, for a unit not on the roll, or out of time."""
    units = {u.unit_id: u for u in roll.units}
    days = st.one_of(st.integers(0, 13), st.integers(0, 13), st.sampled_from([-2, -1, 14, 15]))
    choices = st.sampled_from([AGREE, AGREE, OPPOSE, ABSTAIN])
    planned: list[tuple[object, ...]] = []
    delegated: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 30))):
        if delegated and draw(st.integers(0, 3)) == 0:  # a proxy uses a delegation planned earlier
            unit_id, proxy = draw(st.sampled_from(delegated))
            planned.append(("vote", unit_id, proxy, Capacity.PROXY, draw(choices), draw(days)))
            continue
        unit_id = draw(st.sampled_from(sorted(units)) if draw(st.integers(0, 9)) else st.just("not-on-roll"))
        owners = sorted(units[unit_id].owner_ids) if unit_id in units else []
        if draw(st.integers(0, 3)) == 0:
            proxy = draw(st.sampled_from(PROXIES))
            planned.append(("delegate", unit_id, proxy, draw(st.sampled_from([*owners, *owners, "stranger"])),
                            draw(days)))
            delegated.append((unit_id, proxy))
            continue
        voter = draw(st.sampled_from([*owners, *owners, *PROXIES, "stranger"]))
        capacity = Capacity.PROXY if voter in PROXIES and draw(st.integers(0, 4)) else Capacity.OWNER
        planned.append(("vote", unit_id, voter, capacity, draw(choices), draw(days)))
    return planned


class PaperClerk:
    """The rules as a clerk applies them with a pen: who may give a delegation, who may vote for a unit."""

    def __init__(self, roll: VoterRoll) -> None:
        self.units = {u.unit_id: u for u in roll.units}
        self.proxies: set[tuple[str, str]] = set()  # (unit, proxy) delegated by someone entitled
        self.speaker: dict[str, str] = {}

    def entitled(self, unit_id: str, person: str) -> bool:
        found = self.units[unit_id]
        return person in found.owner_ids and found.representative_id in (None, person)

    def delegate(self, unit_id: str, proxy: str, grantor: str, day: int) -> bool:
        if day >= 14 or unit_id not in self.units or not self.entitled(unit_id, grantor):
            return False
        if (unit_id, proxy) in self.proxies:
            return False
        self.proxies.add((unit_id, proxy))
        return True

    def vote(self, unit_id: str, voter: str, capacity: Capacity, day: int) -> bool:
        if not 0 <= day < 14 or unit_id not in self.units:
            return False
        allowed = self.entitled(unit_id, voter) if capacity is Capacity.OWNER else (unit_id, voter) in self.proxies
        if not allowed or self.speaker.get(unit_id, voter) != voter:
            return False
        self.speaker[unit_id] = voter
        return True


@settings(max_examples=200, deadline=None)
@given(data=st.data(), roll=represented_rolls(), matter=st.sampled_from(list(Matter)))
def test_with_proxies_and_representatives_the_tally_equals_a_brute_force_recount(
    data: st.DataObject, roll: VoterRoll, matter: Matter
) -> None:
    box, clerk = BallotBox(resolution(matter), roll), PaperClerk(roll)
    accepted: list[Ballot] = []
    for action in data.draw(actions(roll)):
        if action[0] == "delegate":
            _, unit_id, proxy, grantor, day = action
            assert isinstance(unit_id, str) and isinstance(proxy, str) and isinstance(grantor, str)
            assert isinstance(day, int)
            refusal = box.delegate(Delegation(proxy, grantor, "p1", unit_id), OPENS + timedelta(days=day))
            assert (refusal is None) is clerk.delegate(unit_id, proxy, grantor, day), action
        else:
            _, unit_id, voter, capacity, choice, day = action
            assert isinstance(unit_id, str) and isinstance(voter, str) and isinstance(capacity, Capacity)
            assert isinstance(choice, Choice) and isinstance(day, int)
            ballot = Ballot("p1", unit_id, voter, capacity, choice)
            refusal = box.cast(ballot, OPENS + timedelta(days=day))
            assert (refusal is None) is clerk.vote(unit_id, voter, capacity, day), action
            if refusal is None:
                accepted.append(ballot)

    result = box.tally()
    assert isinstance(result, Tally)
    assert observed(result) == brute_force_resolution(roll, matter, accepted)
    assert all(ballot.unit_id in clerk.units and clerk.units[ballot.unit_id].owner_ids for ballot in accepted)
