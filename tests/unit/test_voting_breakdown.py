"""The result's breakdown: choices by area and heads, each Art. 278 criterion with its margin, split owners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from community.voting.breakdown import Criterion, breakdown
from community.voting.rules import Matter
from community.voting.tally import Ballot, Capacity, Choice, Election, Proposal, Unit, VoterRoll

OPENS = datetime(2026, 12, 1, tzinfo=UTC)
PROPOSAL = Proposal("p", Matter.USE_OF_MAINTENANCE_FUNDS, "电梯", OPENS, OPENS + timedelta(days=7))
ROLL = VoterRoll((
    Unit("101", "1栋101", Decimal("100"), frozenset({"wang"})),
    Unit("102", "1栋102", Decimal("50"), frozenset({"wang"})),
    Unit("201", "2栋201", Decimal("80"), frozenset({"li"})),
    Unit("202", "2栋202", Decimal("70"), frozenset({"zhao"})),
    Unit("301", "3栋301", Decimal("60"), frozenset({"chen"})),
    Unit("302", "3栋302", Decimal("40"), frozenset()),  # no recorded owner: never votes
), OPENS)


def ballots(*votes: tuple[str, str, Choice]) -> list[Ballot]:
    return [Ballot("p", unit, voter, Capacity.OWNER, choice) for unit, voter, choice in votes]


def test_areas_and_heads_add_up_and_a_split_owner_is_listed() -> None:
    result = breakdown(PROPOSAL, ROLL, ballots(("101", "wang", Choice.AGREE), ("102", "wang", Choice.OPPOSE),
                                               ("201", "li", Choice.AGREE), ("202", "zhao", Choice.ABSTAIN)))
    assert (result.agree.area, result.oppose.area, result.abstain.area) == (Decimal(180), Decimal(50), Decimal(70))
    assert (result.agree.headcount, result.oppose.headcount, result.abstain.headcount) == (1, 0, 1)
    assert result.split.headcount == 1 and result.not_voted.headcount == 2  # chen, and the unit without an owner
    assert result.not_voted.area == Decimal(100)
    total = result.agree.area + result.oppose.area + result.abstain.area + result.not_voted.area
    assert total == ROLL.total_area
    heads = (result.agree.headcount + result.oppose.headcount + result.abstain.headcount + result.split.headcount
             + result.not_voted.headcount)
    assert heads == ROLL.total_headcount
    assert [(owner.owner_ids, owner.units) for owner in result.split_owners] == [
        (("wang",), (("1栋101", Choice.AGREE), ("1栋102", Choice.OPPOSE)))]


def test_each_criterion_says_by_how_much_it_was_met_or_failed() -> None:
    # 300 of 400 m² take part (3/4, quorum met by 300 - 800/3 m²); 3 of 5 persons (needed 4: failed by one person)
    result = breakdown(PROPOSAL, ROLL, ballots(("101", "wang", Choice.AGREE), ("102", "wang", Choice.AGREE),
                                               ("201", "li", Choice.OPPOSE), ("202", "zhao", Choice.AGREE)))
    outcomes = {outcome.criterion: outcome for outcome in result.criteria}
    area = outcomes[Criterion.QUORUM_AREA]
    assert area.met and area.ratio == Fraction(3, 4) and area.margin == Fraction(300) - Fraction(800, 3)
    heads = outcomes[Criterion.QUORUM_HEADCOUNT]
    assert not heads.met and heads.needed == 4 and heads.margin == -1
    assert [outcome.criterion for outcome in result.failed] == [Criterion.QUORUM_HEADCOUNT]
    assert not result.passed


def test_exactly_half_in_favour_fails_the_majority_by_nothing() -> None:
    roll = VoterRoll(tuple(Unit(str(n), str(n), Decimal(10), frozenset({f"o{n}"})) for n in range(4)), OPENS)
    result = breakdown(PROPOSAL, roll, ballots(("0", "o0", Choice.AGREE), ("1", "o1", Choice.AGREE),
                                               ("2", "o2", Choice.OPPOSE), ("3", "o3", Choice.OPPOSE)))
    outcomes = {outcome.criterion: outcome for outcome in result.criteria}
    assert not outcomes[Criterion.APPROVAL_AREA].met and outcomes[Criterion.APPROVAL_AREA].margin == 0
    heads = outcomes[Criterion.APPROVAL_HEADCOUNT]
    assert not heads.met and heads.needed == 3 and heads.margin == -1  # more than half of 4 persons is 3


def test_the_breakdown_agrees_with_the_tally_on_passing() -> None:
    result = breakdown(PROPOSAL, ROLL, ballots(("101", "wang", Choice.AGREE), ("102", "wang", Choice.AGREE),
                                               ("201", "li", Choice.AGREE), ("202", "zhao", Choice.AGREE),
                                               ("301", "chen", Choice.OPPOSE)))
    assert result.passed and not result.failed


def test_an_election_has_no_single_breakdown() -> None:
    election = Proposal("e", Matter.OWNERS_COMMITTEE, "选举", OPENS, OPENS + timedelta(days=1), Election(("a",), 1))
    with pytest.raises(ValueError):
        breakdown(election, ROLL, [])
