"""The ownership register and voter rolls frozen from it, on SQLite and PostgreSQL: recording and importing
ownership, the register as it stood at a moment, freezing at creation or when voting opens (by the tick or the first
ballot), concurrent freezes, and a database upgraded with proposals in it."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.directory import Building, Community, Unit
from community.access.storage import DirectoryRepository
from community.ownership.register import Owner, UnitOwnership
from community.ownership.service import OwnershipRefused, OwnershipService, UnknownCommunity, UnknownUnit
from community.ownership.storage import metadata as ownership_metadata
from community.voting import Ballot, BallotRefusal, Capacity, Choice, Matter, Proposal
from community.voting import Unit as RollUnit
from community.voting import VoterRoll as Roll
from community.voting.deliberation import CommentRefusal
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.register_roll import RollProblemKind
from community.voting.service import (
    Accepted,
    ProposalExists,
    Refused,
    RollNotFrozen,
    UnknownProposal,
    VotingService,
)
from community.voting.storage import metadata as voting_metadata
from community.voting.storage import roll_units
from relational.database import create_engine, migrate
from tests.integration.conftest import empty_engine
from tests.integration.test_voting_integrity import downgrade

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 1, tzinfo=UTC)  # the register is taken over
OPENS = datetime(2026, 12, 1, 1, tzinfo=UTC)  # 09:00 in Shanghai
CLOSES = OPENS + timedelta(days=7)
WANG, LI, ZHAO, CHEN = Owner("wang", "王芳"), Owner("li", "李明"), Owner("zhao", "赵丽"), Owner("chen", "陈刚")
DEVELOPER = Owner("dev-hengda", "恒达置业")
_databases = itertools.count(1)


async def seed_units(engine: AsyncEngine) -> None:
    """The access register's side: community c1 with five units in two buildings, and another community."""
    async with engine.begin() as connection:
        directory = DirectoryRepository(connection)
        await directory.add_community(Community("c1", "c1-site", "荷花小区"))
        await directory.add_community(Community("c2", "c2-site", "桂花小区"))
        for building in (Building("b1", "c1", "1栋"), Building("b2", "c1", "2栋"), Building("o1", "c2", "1栋")):
            await directory.add_building(building)
        for unit in (Unit("b1-101", "b1", "1单元", "101", Decimal("89.37")),
                     Unit("b1-102", "b1", "1单元", "102", Decimal("60.63")),
                     Unit("b1-201", "b1", "1单元", "201", Decimal("120.50")),
                     Unit("b2-101", "b2", "1单元", "101", Decimal("100.00")),
                     Unit("b2-102", "b2", "1单元", "102", Decimal("79.50")),
                     Unit("o1-101", "o1", "1单元", "101", Decimal("70.00"))):
            await directory.add_unit(unit)


REGISTER = [
    UnitOwnership("b1-101", (WANG,)),
    UnitOwnership("b1-102", (WANG,)),
    UnitOwnership("b1-201", (LI, ZHAO), representative_id="li"),
    UnitOwnership("b2-101", (DEVELOPER,), held_by_developer=True),
]  # b2-102 has no owner recorded


def proposal(proposal_id: str = "p-lifts", opens_at: datetime = OPENS) -> Proposal:
    return Proposal(proposal_id, Matter.USE_OF_MAINTENANCE_FUNDS, "更换电梯", opens_at, opens_at + timedelta(days=7))


@pytest.fixture
async def compound(engine: AsyncEngine) -> tuple[OwnershipService, VotingService]:
    await seed_units(engine)
    ownership = OwnershipService(engine)
    await ownership.import_register("c1", REGISTER, "pm-zhang", T0)
    return ownership, VotingService(engine, notice=TEST_INSTALLATION_NOTICE)


# --- the register ---------------------------------------------------------------------------------------------------

async def test_the_register_lists_units_with_their_owners_and_those_without(engine: AsyncEngine) -> None:
    await seed_units(engine)
    service = OwnershipService(engine)
    await service.import_register("c1", REGISTER, "pm-zhang", T0)
    register = await service.register("c1")
    assert [unit.unit_id for unit in register.units] == ["b1-101", "b1-102", "b1-201", "b2-101", "b2-102"]
    assert register.units[2].label == "1栋1单元201" and register.units[2].area == Decimal("120.50")
    assert [unit.unit_id for unit in register.unregistered] == ["b2-102"]
    co_owned = register.entries["b1-201"]
    assert co_owned.ownership == REGISTER[2] and co_owned.recorded_by == "pm-zhang" and co_owned.recorded_at == T0
    with pytest.raises(UnknownCommunity):
        await service.register("nowhere")


async def test_recording_replaces_a_units_ownership_and_keeps_the_history(engine: AsyncEngine) -> None:
    await seed_units(engine)
    service = OwnershipService(engine)
    await service.record(UnitOwnership("b1-101", (WANG,)), "pm-zhang", T0)
    await service.record(UnitOwnership("b1-101", (CHEN,)), "pm-zhang", T0 + timedelta(days=10))  # wang sold it
    assert (await service.register("c1")).entries["b1-101"].ownership.owner_ids == {"chen"}
    assert [entry.ownership.owner_ids for entry in await service.history("b1-101")] == [{"wang"}, {"chen"}]
    before = await service.snapshot("c1", T0 + timedelta(days=5))
    after = await service.snapshot("c1", T0 + timedelta(days=10))
    assert before.ownership["b1-101"].owner_ids == {"wang"} and after.ownership["b1-101"].owner_ids == {"chen"}
    assert "b1-101" not in (await service.snapshot("c1", T0 - timedelta(seconds=1))).ownership
    with pytest.raises(UnknownUnit):
        await service.record(UnitOwnership("nope", (WANG,)), "pm-zhang", T0)


async def test_an_import_is_all_or_nothing(engine: AsyncEngine) -> None:
    await seed_units(engine)
    service = OwnershipService(engine)
    with pytest.raises(OwnershipRefused, match="o1-101"):
        await service.import_register("c1", [REGISTER[0], UnitOwnership("o1-101", (CHEN,))], "pm-zhang", T0)
    with pytest.raises(OwnershipRefused, match="more than once"):
        await service.import_register("c1", [REGISTER[0], UnitOwnership("b1-101", (CHEN,))], "pm-zhang", T0)
    with pytest.raises(UnknownCommunity):
        await service.import_register("nowhere", REGISTER, "pm-zhang", T0)
    assert (await service.register("c1")).entries == {}


async def test_the_register_never_holds_two_developers(engine: AsyncEngine) -> None:
    await seed_units(engine)
    service = OwnershipService(engine)
    await service.import_register("c1", REGISTER, "pm-zhang", T0)
    other = UnitOwnership("b2-102", (Owner("dev-other", "另一开发商"),), held_by_developer=True)
    with pytest.raises(OwnershipRefused, match="same developer"):
        await service.record(other, "pm-zhang", T0)
    with pytest.raises(OwnershipRefused, match="same developer"):
        await service.import_register("c1", [other], "pm-zhang", T0)
    await service.record(UnitOwnership("b2-102", (DEVELOPER,), held_by_developer=True), "pm-zhang", T0)
    assert (await service.register("c1")).unregistered == ()


def _table_of(diff: Any) -> str:
    """The table an Alembic autogenerate difference is about."""
    first = diff[0] if isinstance(diff, list) else diff  # modify_* differences come in lists
    item = first[1]
    if isinstance(item, Table):
        return item.name
    if hasattr(item, "table"):  # an index, a constraint
        return str(item.table.name)
    return str(first[2])  # ("add_column", schema, table, column) and the like


async def test_the_migration_matches_the_ownership_and_voting_tables(engine: AsyncEngine) -> None:
    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        # each context answers for its own tables; the others' look "removed" from its metadata
        return [diff for metadata in (ownership_metadata, voting_metadata)
                for diff in compare_metadata(context, metadata) if _table_of(diff) in metadata.tables]

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


# --- freezing -------------------------------------------------------------------------------------------------------

Compound = tuple[OwnershipService, VotingService]


async def test_a_proposal_that_opens_now_is_frozen_at_creation(compound: Compound) -> None:
    _, voting = compound
    now = OPENS + timedelta(seconds=3)
    state = await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-zhang", now=now)
    assert state.is_frozen and state.frozen_at == OPENS and state.built_at == now and state.log_anchored
    problems = (await voting.state("p-lifts", now)).roll_problems
    assert [(problem.unit_id, problem.kind) for problem in problems] == [("b2-102", RollProblemKind.NO_OWNER_RECORDED)]
    _, roll = await voting.load("p-lifts")
    assert [unit.unit_id for unit in roll.units] == ["b1-101", "b1-102", "b1-201", "b2-101", "b2-102"]
    assert roll.units_by_id["b2-102"].owner_ids == frozenset(), "on the roll, with no owner"
    assert roll.frozen_at == OPENS and roll.total_area == Decimal("450.00") and roll.total_headcount == 4
    assert roll.units_by_id["b1-201"].representative_id == "li" and roll.units_by_id["b2-101"].held_by_developer
    outcome = await voting.cast(Ballot("p-lifts", "b1-201", "li", Capacity.OWNER, Choice.AGREE), now)
    assert isinstance(outcome, Accepted)


async def test_a_later_opening_is_frozen_by_the_tick_from_the_register_as_it_stood_then(
    compound: tuple[OwnershipService, VotingService],
) -> None:
    ownership, voting = compound
    created = OPENS - timedelta(days=2)
    state = await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-zhang", now=created)
    assert not state.is_frozen and state.frozen_at == OPENS and state.community_id == "c1"
    with pytest.raises(RollNotFrozen):
        await voting.load("p-lifts")
    await ownership.record(UnitOwnership("b2-102", (CHEN,)), "pm-zhang", OPENS - timedelta(hours=1))  # before: in
    await voting.tick(OPENS - timedelta(seconds=1))
    assert not (await voting.state("p-lifts", OPENS)).roll_state.is_frozen, "not before voting opens"
    await ownership.record(UnitOwnership("b1-101", (ZHAO,)), "pm-zhang", OPENS + timedelta(seconds=1))  # after: out

    late_tick = OPENS + timedelta(seconds=5)
    await voting.tick(late_tick)
    frozen = await voting.state("p-lifts", late_tick)
    assert frozen.roll is not None and frozen.roll_state.built_at == late_tick
    assert frozen.roll.frozen_at == OPENS, "the roll stands for the opening, however late the tick"
    assert frozen.roll.units_by_id["b2-102"].owner_ids == {"chen"}
    assert frozen.roll.units_by_id["b1-101"].owner_ids == {"wang"}, "a change after the opening is not on the roll"
    assert frozen.roll_problems == (), "every unit had an owner recorded when voting opened"

    await ownership.record(UnitOwnership("b1-102", (CHEN,)), "pm-zhang", OPENS + timedelta(days=1))
    await voting.tick(OPENS + timedelta(days=1, seconds=2))
    await voting.freeze_roll("p-lifts", OPENS + timedelta(days=1, seconds=2))
    _, roll = await voting.load("p-lifts")
    assert roll == frozen.roll, "the register changing after freezing does not change the roll"
    assert (await voting.state("p-lifts", OPENS + timedelta(days=2))).roll_state.built_at == late_tick


async def test_concurrent_freezes_write_one_roll(compound: tuple[OwnershipService, VotingService],
                                                 engine: AsyncEngine) -> None:
    _, voting = compound
    for number in range(3):
        await voting.open_proposal_from_register(proposal(f"p{number}"), "c1", body="", created_by="pm-zhang",
                                                 now=OPENS - timedelta(days=1))
    # another process would have its own service over the same database
    second_service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    now = OPENS + timedelta(seconds=2)
    await asyncio.gather(voting.tick(now), second_service.tick(now), voting.freeze_roll("p1", now),
                         second_service.freeze_roll("p1", now))
    async with engine.connect() as connection:
        rows = (await connection.execute(
            select(roll_units.c.proposal_id, func.count()).group_by(roll_units.c.proposal_id))).all()
    assert sorted(rows) == [("p0", 5), ("p1", 5), ("p2", 5)]
    for number in range(3):
        assert (await voting.state(f"p{number}", now)).roll_state.built_at == now


async def test_ballots_are_refused_until_the_roll_is_frozen_and_the_first_after_opening_freezes_it(
    compound: tuple[OwnershipService, VotingService],
) -> None:
    _, voting = compound
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-zhang",
                                             now=OPENS - timedelta(days=1))
    early = await voting.cast(Ballot("p-lifts", "b1-101", "wang", Capacity.OWNER, Choice.AGREE),
                              OPENS - timedelta(minutes=1))
    assert early == Refused(BallotRefusal.ROLL_NOT_FROZEN)
    with pytest.raises(RollNotFrozen):
        await voting.turnout("p-lifts")
    with pytest.raises(RollNotFrozen):
        await voting.verify("p-lifts")
    first = await voting.cast(Ballot("p-lifts", "b1-101", "wang", Capacity.OWNER, Choice.AGREE),
                              OPENS + timedelta(milliseconds=300))  # before any tick
    assert isinstance(first, Accepted)
    assert (await voting.turnout("p-lifts")).participating_headcount == 1
    assert (await voting.verify("p-lifts")).is_clean


async def test_before_freezing_the_owners_the_register_lists_now_deliberate(
    compound: tuple[OwnershipService, VotingService],
) -> None:
    ownership, voting = compound
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-zhang",
                                             now=OPENS - timedelta(days=3))
    now = OPENS - timedelta(days=2)
    state = await voting.state("p-lifts", now)
    assert state.roll is None and state.preview is not None and state.is_owner("zhao") and not state.is_owner("chen")
    assert [problem.unit_id for problem in state.preview_problems] == ["b2-102"]
    assert await voting.post_comment("p-lifts", "chen", "我也想发言", now) is CommentRefusal.NOT_ON_ROLL
    await ownership.record(UnitOwnership("b2-102", (CHEN,)), "pm-zhang", now)
    posted = await voting.post_comment("p-lifts", "chen", "充电桩也该一起考虑", now + timedelta(minutes=1))
    assert not isinstance(posted, CommentRefusal)
    assert [comment.author_id for comment in await voting.comments("p-lifts", moderator=False)] == ["chen"]


async def test_a_register_that_gives_no_roll(engine: AsyncEngine) -> None:
    await seed_units(engine)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    with pytest.raises(ValueError, match="no unit of community 'c1' had a recorded owner"):
        await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-zhang", now=OPENS)
    with pytest.raises(UnknownProposal):  # nothing was stored
        await voting.state("p-lifts", OPENS)
    with pytest.raises(UnknownCommunity):
        await voting.open_proposal_from_register(proposal(), "nowhere", body="", created_by="pm-zhang", now=OPENS)

    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-zhang",
                                             now=OPENS - timedelta(days=1))
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", OPENS + timedelta(seconds=1))
    await voting.tick(OPENS + timedelta(seconds=2))  # the register was empty when voting opened: it stays so
    state = (await voting.state("p-lifts", OPENS + timedelta(seconds=2))).roll_state
    assert not state.is_frozen and state.problem is not None and "had a recorded owner" in state.problem
    refused = await voting.cast(Ballot("p-lifts", "b1-101", "wang", Capacity.OWNER, Choice.AGREE),
                                OPENS + timedelta(seconds=3))
    assert refused == Refused(BallotRefusal.ROLL_NOT_FROZEN)
    with pytest.raises(RollNotFrozen):
        await voting.close("p-lifts", CLOSES, "li")
    with pytest.raises(ProposalExists):
        await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-zhang", now=OPENS)


# --- upgrading a database with proposals in it ----------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "community", "0004_access")
    yield made
    await made.dispose()


async def test_upgrading_a_database_with_proposals_keeps_them_working(engine_at_0004: AsyncEngine) -> None:
    engine = engine_at_0004
    frozen = OPENS - timedelta(days=1)
    async with engine.begin() as connection:  # what the code of revision 0004 wrote
        await connection.execute(text(
            "INSERT INTO voting_proposals (proposal_id, matter, title, body, opens_at, closes_at, roll_frozen_at, "
            "created_by, attachments) VALUES ('p-old', 'use_of_maintenance_funds', '更换电梯', '', :opens, :closes, "
            ":frozen, 'pm-zhang', '[]')"), {"opens": OPENS, "closes": CLOSES, "frozen": frozen})
        await connection.execute(text(
            "INSERT INTO voting_roll_units (proposal_id, unit_id, label, area_m2, owner_ids, held_by_developer) "
            "VALUES ('p-old', '1-101', '1栋101', '89.37', '[\"wang\"]', false)"))
        await connection.execute(text(
            "INSERT INTO voting_comments (proposal_id, author_id, body, posted_at) "
            "VALUES ('p-old', 'wang', '同意', :at)"), {"at": frozen})
    await migrate(engine, "community")
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    proposal_loaded, roll = await voting.load("p-old")
    assert roll == Roll((RollUnit("1-101", "1栋101", Decimal("89.37"), frozenset({"wang"})),), frozen)
    state = (await voting.state("p-old", OPENS)).roll_state
    assert state.is_frozen and state.community_id is None
    assert isinstance(await voting.cast(Ballot("p-old", "1-101", "wang", Capacity.OWNER, Choice.AGREE),
                                        OPENS + timedelta(hours=1)), Accepted)
    assert len(await voting.comments("p-old", moderator=False)) == 1
    assert proposal_loaded.title == "更换电梯"

    await migrate(engine, "community", "0004_access")  # and back, keeping what the old code can read
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM voting_ballot_log"))).scalar() == 1


async def test_votes_verify_says_a_proposal_that_has_not_opened_has_nothing_to_verify(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'votes.db'}"
    made = create_engine(url)
    await migrate(made, "community")
    await seed_units(made)
    await OwnershipService(made).import_register("c1", REGISTER, "pm-zhang", T0)
    await VotingService(made, notice=TEST_INSTALLATION_NOTICE).open_proposal_from_register(
        proposal("p-later"), "c1", body="", created_by="pm-1", now=OPENS - timedelta(days=3))
    await made.dispose()
    smartcity = str(Path(sys.executable).parent / "smartcity")
    environment = dict(os.environ, SC_DATABASE_URL=url, SC_LOG_LEVEL="WARNING")
    result = subprocess.run([smartcity, "votes", "verify", "p-later"], env=environment, capture_output=True, text=True)
    assert result.returncode == 1
    assert "has not opened yet" in result.stderr and "Traceback" not in result.stderr


# --- upgrading to proposals that belong to a community (0008) -------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0007(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "community", "0007_access_face_hints")
    yield made
    await made.dispose()


async def test_upgrading_gives_proposals_the_community_their_roll_names_or_none(engine_at_0007: AsyncEngine) -> None:
    engine = engine_at_0007
    await seed_units(engine)
    rolls = {
        "p-register": None,  # a roll from c2's register: its community
        "p-c1-units": ["b1-101", "b2-102"],  # every unit one of c1's
        "p-mixed": ["b1-101", "o1-101"],  # units of two communities: no guess
        "p-by-hand": ["b1-101", "9-999"],  # a unit the access register does not know: no guess
    }
    async with engine.begin() as connection:  # what the code of revision 0007 wrote
        for proposal_id, unit_ids in rolls.items():
            await connection.execute(text(
                "INSERT INTO voting_proposals (proposal_id, matter, title, body, opens_at, closes_at, roll_frozen_at, "
                "created_by, attachments, roll_community_id) VALUES (:id, 'use_of_maintenance_funds', '更换电梯', '', "
                ":opens, :closes, :opens, 'pm-zhang', '[]', :community)"),
                {"id": proposal_id, "opens": OPENS, "closes": CLOSES, "community": None if unit_ids else "c2"})
            for unit_id in unit_ids or ():
                await connection.execute(text(
                    "INSERT INTO voting_roll_units (proposal_id, unit_id, label, area_m2, owner_ids, held_by_developer)"
                    " VALUES (:id, :unit, :unit, '80.00', '[\"wang\"]', false)"), {"id": proposal_id, "unit": unit_id})
    await migrate(engine, "community")
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    communities = {proposal_id: (await voting.state(proposal_id, OPENS)).community_id for proposal_id in rolls}
    assert communities == {"p-register": "c2", "p-c1-units": "c1", "p-mixed": None, "p-by-hand": None}
    assert await voting.proposal_ids(10, ["c1"]) == ["p-c1-units"]
    assert sorted(await voting.proposal_ids(10)) == sorted(rolls), "an administrator's list: every proposal"

    await downgrade(engine, "0007_access_face_hints")  # and back: the column goes, the proposals stay
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM voting_proposals"))).scalar() == 4
        columns = await connection.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns(
            "voting_proposals")})
    assert "community_id" not in columns
