"""The demo compound of `smartcity run` votes: ownership recorded for the access demo's community, an open proposal
with a roll from the register and ballots in, an upcoming special matter frozen when it opens — on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.demo import seed_demo
from community.access.service import AccessService
from community.ownership.demo import (
    CO_OWNER_REPRESENTATIVE,
    COMMITTEE_MEMBER,
    DEMO_OWNERS,
    DEVELOPER,
    NORTH_DEVELOPER,
    OWNER_OF_TWO_UNITS,
    seed_demo_ownership,
)
from community.ownership.service import OwnershipService
from community.voting.demo import COMMON_PARTS, LIFTS, demo_proposal_ids, seed_demo_proposals
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.participation import Phase, phase_of
from community.voting.rules import Matter
from community.voting.service import Accepted, VotingService
from community.voting.tally import Ballot, Capacity, Choice, OwnerPerson
from devices.simulator import GateKeys, TrafficGenerator
from messaging.downlink import RecordingDownlink
from tests.integration.test_access_service import KEYS, PASS_KEY, SETTINGS, SITE_KEY, Clock

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai


async def test_the_demo_compound_has_a_live_vote_and_an_upcoming_one(engine: AsyncEngine) -> None:
    generator = TrafficGenerator("demo", gates=4, scales=0, seed=3, gate_keys=GateKeys(SITE_KEY, PASS_KEY))
    access = AccessService(engine, RecordingDownlink(), Clock(NOW), KEYS, SETTINGS)
    assert await seed_demo(access, "demo", generator.community_roster(), NOW)
    ownership, voting = OwnershipService(engine), VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    assert await seed_demo_ownership(ownership, access, "demo", NOW)
    assert await seed_demo_proposals(voting, "demo", NOW)
    assert not await seed_demo_ownership(ownership, access, "demo", NOW), "seeding twice changes nothing"
    assert not await seed_demo_proposals(voting, "demo", NOW)

    lifts = await voting.state(LIFTS, NOW)
    assert lifts.community_id == "demo" and (await voting.state(COMMON_PARTS, NOW)).community_id == "demo"
    assert lifts.proposal.matter is Matter.USE_OF_MAINTENANCE_FUNDS and phase_of(lifts.proposal, NOW) is Phase.OPEN
    assert lifts.proposal.opens_at == NOW - timedelta(hours=1) and lifts.proposal.closes_at == NOW + timedelta(days=7)
    roll = lifts.roll
    assert roll is not None and roll.frozen_at == lifts.proposal.opens_at
    assert roll.units_by_person[OwnerPerson(frozenset({OWNER_OF_TWO_UNITS}))] == ("b01-001", "b01-006")
    assert roll.units_by_id["b01-002"].representative_id == CO_OWNER_REPRESENTATIVE
    assert any(COMMITTEE_MEMBER in unit.owner_ids for unit in roll.units)
    held = roll.units_by_person[OwnerPerson(frozenset({DEVELOPER.owner_id}))]
    assert len(held) == 5 and all(roll.units_by_id[unit_id].held_by_developer for unit_id in held)
    assert len(lifts.roll_problems) == 1, "one let flat has no owner registered: reported"
    assert not roll.units_by_id[lifts.roll_problems[0].unit_id].owner_ids, "and on the roll, counted"

    entries = await voting.log(LIFTS)
    turnout = await voting.turnout(LIFTS)
    assert entries and 0 < turnout.participating_headcount < turnout.total_headcount
    assert all(entry.cast_at <= NOW for entry in entries) and (await voting.verify(LIFTS)).is_clean
    demo_units = {unit.unit_id for unit in roll.units if unit.owner_ids & set(DEMO_OWNERS)}
    assert not {entry.unit_id for entry in entries} & demo_units, "the demo owners cast their own ballots"
    for owner_id, unit_id in ((OWNER_OF_TWO_UNITS, "b01-006"), (CO_OWNER_REPRESENTATIVE, "b01-002")):
        cast = await voting.cast(Ballot(LIFTS, unit_id, owner_id, Capacity.OWNER, Choice.AGREE), NOW)
        assert isinstance(cast, Accepted)

    chargers = await voting.state(COMMON_PARTS, NOW)
    assert chargers.proposal.matter.is_special and chargers.roll is None
    assert chargers.proposal.opens_at == datetime(2026, 12, 4, 1, tzinfo=UTC), "tomorrow 09:00 Beijing time"
    assert phase_of(chargers.proposal, NOW, roll_frozen=False) is Phase.UPCOMING
    assert chargers.is_owner(COMMITTEE_MEMBER), "owners see the upcoming vote and may discuss it"
    await voting.tick(chargers.proposal.opens_at + timedelta(seconds=2))
    frozen = await voting.state(COMMON_PARTS, chargers.proposal.opens_at)
    assert frozen.roll is not None and frozen.roll.total_headcount == roll.total_headcount


async def test_a_demo_without_gates_has_no_owners_and_no_vote(engine: AsyncEngine) -> None:
    access = AccessService(engine, RecordingDownlink(), Clock(NOW), KEYS, SETTINGS)
    assert await seed_demo(access, "demo", (), NOW)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    assert not await seed_demo_ownership(OwnershipService(engine), access, "demo", NOW)
    assert not await seed_demo_proposals(voting, "demo", NOW)
    assert await voting.proposal_ids(10) == []


async def test_the_second_demo_community_gets_its_own_register_and_proposals(engine: AsyncEngine) -> None:
    north = "demo-north"  # the all-in-one demo's second community, f"{site}-north"
    generator = TrafficGenerator(north, gates=3, scales=0, seed=5, gate_keys=GateKeys(SITE_KEY, PASS_KEY))
    access = AccessService(engine, RecordingDownlink(), Clock(NOW), KEYS, SETTINGS)
    assert await seed_demo(access, north, generator.community_roster(), NOW)
    ownership, voting = OwnershipService(engine), VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    assert await seed_demo_ownership(ownership, access, north, NOW, developer=NORTH_DEVELOPER)
    assert await seed_demo_proposals(voting, north, NOW, created_by="pm-north")
    assert not await seed_demo_proposals(voting, north, NOW, created_by="pm-north"), "seeding twice changes nothing"

    lifts_id, chargers_id = demo_proposal_ids(north)
    assert (lifts_id, chargers_id) == ("demo-north-lifts", "demo-north-chargers")
    assert sorted(await voting.proposal_ids(10, [north])) == sorted([lifts_id, chargers_id])
    assert await voting.proposal_ids(10, ["demo"]) == [], "the first community has none of them"
    lifts = await voting.state(lifts_id, NOW)
    assert lifts.community_id == north and lifts.roll_state.community_id == north and lifts.roll is not None
    assert any(unit.owner_ids == {NORTH_DEVELOPER.owner_id} for unit in lifts.roll.units)
    assert not any(DEVELOPER.owner_id in unit.owner_ids for unit in lifts.roll.units)
    assert (await voting.state(chargers_id, NOW)).community_id == north
