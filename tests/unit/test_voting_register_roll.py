"""The voter roll frozen from the ownership register, as a pure function: every unit goes on the roll (a unit without a
recorded owner too, counted in both totals and reported), and the counting rules come from the tally types (one
person per owner set, the representative speaks for a co-owned unit, the developer's held units are one person)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from community.access.demo import demo_community
from community.access.directory import ResidentRole
from community.ownership.demo import (
    CO_OWNER_REPRESENTATIVE,
    COMMITTEE_MEMBER,
    DEVELOPER_HELD,
    OWNER_OF_TWO_UNITS,
    demo_ownership,
)
from community.ownership.register import (
    Owner,
    RegisteredUnit,
    RegisterSnapshot,
    UnitOwnership,
    developer_conflict,
)
from community.voting.participation import Phase, phase_of
from community.voting.register_roll import RollProblemKind, roll_from_register, roll_problems
from community.voting.rules import Matter
from community.voting.tally import (
    Ballot,
    BallotBox,
    BallotRefusal,
    Capacity,
    Choice,
    Delegation,
    OwnerPerson,
    Proposal,
)
from devices.simulator import TrafficGenerator

OPENS = datetime(2026, 12, 1, 1, tzinfo=UTC)
ALICE, BOB, CAROL, DEV = Owner("alice", "艾丽"), Owner("bob", "鲍勃"), Owner("carol", "卡萝"), Owner("dev", "开发商")
UNITS = (
    RegisteredUnit("a1", "1栋1单元101", Decimal("89.37")),
    RegisteredUnit("a2", "1栋1单元102", Decimal("60.63")),
    RegisteredUnit("bc", "1栋1单元201", Decimal("120.50")),
    RegisteredUnit("c1", "1栋1单元202", Decimal("95.00")),
    RegisteredUnit("d1", "2栋1单元101", Decimal("100.00")),
    RegisteredUnit("d2", "2栋1单元102", Decimal("79.50")),
    RegisteredUnit("x9", "2栋1单元201", Decimal("88.88")),
)


def snapshot(*records: UnitOwnership) -> RegisterSnapshot:
    return RegisterSnapshot("c1", OPENS, UNITS, {record.unit_id: record for record in records})


ALL_UNITS_AREA = Decimal("633.88")
"""Every unit of UNITS: the total area of any roll from the register, whoever is recorded."""


@dataclass(frozen=True)
class Case:
    name: str
    records: tuple[UnitOwnership, ...]
    persons: dict[frozenset[str], tuple[str, ...]]
    """The owner persons with a recorded owner; each unit without one is a person of its own besides."""
    without_owner: tuple[str, ...]


CASES = [
    Case("an owner of two units counts once",
         (UnitOwnership("a1", (ALICE,)), UnitOwnership("a2", (ALICE,))),
         {frozenset({"alice"}): ("a1", "a2")}, ("bc", "c1", "d1", "d2", "x9")),
    Case("a co-owned unit counts once, apart from a co-owner's own unit",
         (UnitOwnership("bc", (BOB, CAROL), representative_id="bob"), UnitOwnership("c1", (CAROL,))),
         {frozenset({"bob", "carol"}): ("bc",), frozenset({"carol"}): ("c1",)}, ("a1", "a2", "d1", "d2", "x9")),
    Case("the developer's held units count together once",
         (UnitOwnership("d1", (DEV,), held_by_developer=True), UnitOwnership("d2", (DEV,), held_by_developer=True),
          UnitOwnership("a1", (ALICE,))),
         {frozenset({"dev"}): ("d1", "d2"), frozenset({"alice"}): ("a1",)}, ("a2", "bc", "c1", "x9")),
    Case("a unit without a recorded owner stays on the roll, one person of its own",
         (UnitOwnership("a1", (ALICE,)), UnitOwnership("a2", (ALICE,)),
          UnitOwnership("bc", (BOB, CAROL), representative_id="carol"), UnitOwnership("c1", (CAROL,)),
          UnitOwnership("d1", (DEV,), held_by_developer=True), UnitOwnership("d2", (DEV,), held_by_developer=True)),
         {frozenset({"alice"}): ("a1", "a2"), frozenset({"bob", "carol"}): ("bc",), frozenset({"carol"}): ("c1",),
          frozenset({"dev"}): ("d1", "d2")}, ("x9",)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_roll_from_the_register(case: Case) -> None:
    roll = roll_from_register(snapshot(*case.records), OPENS)
    owned = {person.owner_ids: units for person, units in roll.units_by_person.items() if person.owner_ids}
    assert owned == case.persons
    unowned = [units for person, units in roll.units_by_person.items() if not person.owner_ids]
    assert sorted(unowned) == [(unit_id,) for unit_id in case.without_owner], "one person per unit without owner"
    assert roll.total_headcount == len(case.persons) + len(case.without_owner)
    assert roll.total_area == ALL_UNITS_AREA, "the total area is over every exclusive part (interpretation art. 8)"
    assert [unit.unit_id for unit in roll.units] == [unit.unit_id for unit in UNITS]
    assert roll.frozen_at == OPENS
    problems = roll_problems(roll)
    assert tuple(problem.unit_id for problem in problems) == case.without_owner
    assert all(problem.kind is RollProblemKind.NO_OWNER_RECORDED for problem in problems)
    expected = {(u.label, u.area) for u in UNITS if u.unit_id in case.without_owner}
    assert {(p.label, p.area) for p in problems} == expected


def test_a_unit_without_a_recorded_owner_weighs_on_the_quorum_but_nobody_votes_for_it() -> None:
    roll = roll_from_register(snapshot(UnitOwnership("a1", (ALICE,)), UnitOwnership("a2", (BOB,))), OPENS)
    proposal = Proposal("p", Matter.USE_OF_MAINTENANCE_FUNDS, "更换电梯", OPENS, OPENS + timedelta(days=7))
    box = BallotBox(proposal, roll)
    during = OPENS + timedelta(hours=1)
    assert box.cast(Ballot("p", "a1", "alice", Capacity.OWNER, Choice.AGREE), during) is None
    assert box.cast(Ballot("p", "a2", "bob", Capacity.OWNER, Choice.AGREE), during) is None
    for voter in ("alice", "bob", ""):
        assert box.cast(Ballot("p", "x9", voter, Capacity.OWNER, Choice.AGREE), during) is BallotRefusal.NOT_AN_OWNER
        assert box.delegate(Delegation(voter, voter, "p", "x9"), during) is BallotRefusal.NOT_AN_OWNER
    turnout = box.turnout()
    # left off, the five units without an owner would make this 2 of 2 persons and 150.00 of 150.00 m²: a quorum
    assert (turnout.participating_headcount, turnout.total_headcount) == (2, 7)
    assert (turnout.participating_area, turnout.total_area) == (Decimal("150.00"), ALL_UNITS_AREA)
    assert not turnout.quorum_met


def test_the_units_on_the_roll_carry_label_area_representative_and_developer_flag() -> None:
    roll = roll_from_register(snapshot(UnitOwnership("bc", (BOB, CAROL), representative_id="bob"),
                                       UnitOwnership("d1", (DEV,), held_by_developer=True)), OPENS)
    co_owned, held = roll.units_by_id["bc"], roll.units_by_id["d1"]
    assert (co_owned.label, co_owned.area, co_owned.owner_ids) == ("1栋1单元201", Decimal("120.50"),
                                                                   frozenset({"bob", "carol"}))
    assert co_owned.representative_id == "bob" and not co_owned.held_by_developer
    assert held.held_by_developer and held.owner_ids == frozenset({"dev"})


def test_the_ballot_box_applies_the_rules_to_a_roll_from_the_register() -> None:
    roll = roll_from_register(snapshot(UnitOwnership("bc", (BOB, CAROL), representative_id="bob"),
                                       UnitOwnership("a1", (ALICE,))), OPENS)
    proposal = Proposal("p", Matter.USE_OF_MAINTENANCE_FUNDS, "更换电梯", OPENS, OPENS + timedelta(days=7))
    box = BallotBox(proposal, roll)
    during = OPENS + timedelta(hours=1)
    assert box.cast(Ballot("p", "bc", "carol", Capacity.OWNER, Choice.AGREE), during) \
        is BallotRefusal.DOUBLE_REPRESENTATION, "the representative speaks for the co-owned unit"
    assert box.cast(Ballot("p", "zz", "alice", Capacity.OWNER, Choice.AGREE), during) is BallotRefusal.UNIT_NOT_ON_ROLL
    assert box.cast(Ballot("p", "bc", "bob", Capacity.OWNER, Choice.AGREE), during) is None
    assert box.turnout().participating_headcount == 1 and box.turnout().total_headcount == 2 + 5


def test_a_register_without_any_owner_gives_no_roll() -> None:
    with pytest.raises(ValueError, match="no unit of community 'c1' had a recorded owner"):
        roll_from_register(snapshot(), OPENS)


def test_two_developers_give_no_roll() -> None:
    other = Owner("dev2", "另一开发商")
    with pytest.raises(ValueError, match="developer"):
        roll_from_register(snapshot(UnitOwnership("d1", (DEV,), held_by_developer=True),
                                    UnitOwnership("d2", (other,), held_by_developer=True)), OPENS)


@pytest.mark.parametrize(("record", "problem"), [
    (lambda: UnitOwnership("u", ()), "at least one owner"),
    (lambda: UnitOwnership("u", (ALICE, ALICE)), "listed twice"),
    (lambda: UnitOwnership("u", (ALICE, BOB), representative_id="carol"), "representative"),
    (lambda: UnitOwnership("u", (DEV, ALICE), held_by_developer=True), "only owner"),
    (lambda: UnitOwnership("u", (Owner("alice", " "),)), "a name"),
])
def test_an_ownership_record_that_contradicts_itself_is_refused(record, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=problem):
        record()


def test_the_register_refuses_a_second_developer() -> None:
    current = [UnitOwnership("d1", (DEV,), held_by_developer=True), UnitOwnership("a1", (ALICE,))]
    assert developer_conflict(current, [UnitOwnership("d2", (DEV,), held_by_developer=True)]) is None
    conflict = developer_conflict(current, [UnitOwnership("d2", (Owner("dev2", "乙"),), held_by_developer=True)])
    assert conflict is not None and "dev, dev2" in conflict
    assert developer_conflict(current, [UnitOwnership("d1", (Owner("dev2", "乙"),), held_by_developer=True)]) is None, \
        "replacing the only held unit's developer leaves one developer"


def test_without_a_frozen_roll_a_proposal_is_upcoming_until_it_closes() -> None:
    proposal = Proposal("p", Matter.USE_OF_MAINTENANCE_FUNDS, "更换电梯", OPENS, OPENS + timedelta(days=7))
    during, after = OPENS + timedelta(seconds=1), OPENS + timedelta(days=8)
    assert phase_of(proposal, during) is Phase.OPEN
    assert phase_of(proposal, during, roll_frozen=False) is Phase.UPCOMING
    assert phase_of(proposal, after, roll_frozen=False) is Phase.CLOSED


def test_the_demo_register_shows_every_case_of_the_headcount_rule() -> None:
    community = demo_community("demo", TrafficGenerator("demo", gates=4, scales=0, seed=5).community_roster(), OPENS)
    buildings = {building.building_id: building.name for building in community.buildings}
    units = [RegisteredUnit(u.unit_id, f"{buildings[u.building_id]}{u.entrance}{u.room}", u.area_m2)
             for u in community.units]
    records = demo_ownership(units, community.residents)
    roll = roll_from_register(RegisterSnapshot("demo", OPENS, tuple(units), {r.unit_id: r for r in records}), OPENS)
    owners_living = {r.unit_id: r.resident_id for r in community.residents if r.role is ResidentRole.OWNER}

    assert roll.units_by_person[OwnerPerson(frozenset({OWNER_OF_TWO_UNITS}))] == ("b01-001", "b01-006")
    assert roll.units_by_id["b01-002"].owner_ids == {CO_OWNER_REPRESENTATIVE, "P010005"}
    assert roll.units_by_id["b01-002"].representative_id == CO_OWNER_REPRESENTATIVE
    assert roll.units_by_id["b02-001"].owner_ids == {COMMITTEE_MEMBER}
    held = [unit for unit in roll.units if unit.held_by_developer]
    assert len(held) == DEVELOPER_HELD and len({unit.owner_ids for unit in held}) == 1
    problems = roll_problems(roll)
    assert len(problems) == 1 and problems[0].unit_id not in owners_living, "one let flat unregistered"
    assert len(roll.units) == len(units), "and still on the roll"
    co_owned = [unit for unit in roll.units if unit.is_co_owned]
    assert len(co_owned) == len(community.buildings), "the second household of each building"
    owned_where_they_live = sum(1 for unit in roll.units if owners_living.get(unit.unit_id) in unit.owner_ids)
    assert owned_where_they_live == len(owners_living), "every owner living in the compound owns their flat"
    assert owned_where_they_live > len(roll.units) * 3 // 4, "most units are owned by the owners living there"
    assert Counter(len(ids) for ids in roll.units_by_person.values())[2] == 1, "one person owns two units"
    owned_by_nobody = [unit for unit in roll.units if not unit.has_recorded_owner]
    assert [unit.unit_id for unit in owned_by_nobody] == [problems[0].unit_id]
