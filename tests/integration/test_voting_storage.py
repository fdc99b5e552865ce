"""The voting context's storage on both databases: SQLite and a real PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from community.voting import (
    Approvals,
    Ballot,
    BallotBox,
    Capacity,
    Choice,
    Delegation,
    Election,
    Matter,
    Proposal,
    Unit,
    VoterRoll,
    append_entry,
    recount_from_log,
    verify_chain,
)
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.storage import LogConflict, VotingRepository, ballot_log
from relational.database import create_engine, migrate, version_table

pytestmark = pytest.mark.integration

OPENS = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def roll() -> VoterRoll:
    return VoterRoll((
        Unit("1-101", "1栋1单元101", Decimal("89.37"), frozenset({"wang"})),
        Unit("1-102", "1栋1单元102", Decimal("120.05"), frozenset({"li", "zhao"}), representative_id="li"),
        Unit("2-201", "2栋2单元201", Decimal("75.5"), frozenset({"dev"}), held_by_developer=True),
    ), frozen_at=OPENS - timedelta(hours=1))


def proposal(proposal_id: str = "p1", election: Election | None = None) -> Proposal:
    matter = Matter.OWNERS_COMMITTEE if election else Matter.USE_OF_MAINTENANCE_FUNDS
    return Proposal(proposal_id, matter, "更换电梯 Replace the lifts", OPENS, OPENS + timedelta(days=7), election)


async def test_migrations_create_the_tables_in_the_contexts_own_version_table(engine: AsyncEngine) -> None:
    await migrate(engine, "community")  # a second run changes nothing
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        version = (await connection.execute(text(f"SELECT version_num FROM {version_table('community')}"))).scalar()
    assert {"voting_proposals", "voting_roll_units", "voting_delegations", "voting_ballot_log",
            "voting_comments", "voting_results", "ownership_records"} <= tables
    assert version == community_head(), "the newest revision (0006_voting_anchors, or one chained after it)"
    assert "0006_voting_anchors" in community_revisions()


def community_revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", "community:migrations")
    return [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]


def community_head() -> str:
    return community_revisions()[0]  # walk_revisions goes from the head down


async def test_a_proposal_and_its_frozen_roll_come_back_exactly(engine: AsyncEngine) -> None:
    election = Election(("张三", "李四", "王五"), seats=2)
    async with engine.begin() as connection:
        repository = VotingRepository(connection)
        await repository.add_proposal(proposal(), roll(), body="详见附件", created_by="pm-1")
        await repository.add_proposal(proposal("p2", election), roll(), body="", created_by="pm-1")
    async with engine.connect() as connection:
        repository = VotingRepository(connection)
        assert await repository.proposal("p1") == proposal()
        assert await repository.proposal("p2") == proposal("p2", election)
        stored = await repository.roll("p1")
        assert await repository.proposal("nope") is None and await repository.roll("nope") is None
    assert stored == roll()
    assert stored is not None and stored.total_area == Decimal("284.92")
    assert stored.frozen_at.tzinfo is not None


async def test_delegations_come_back(engine: AsyncEngine) -> None:
    delegation = Delegation("chen", "wang", "p1", "1-101")
    async with engine.begin() as connection:
        repository = VotingRepository(connection)
        await repository.add_proposal(proposal(), roll(), body="", created_by="pm-1")
        await repository.add_delegation(delegation, OPENS)
    async with engine.connect() as connection:
        assert await VotingRepository(connection).delegations("p1") == [delegation]


async def test_the_ballot_log_round_trips_verifies_and_recounts(engine: AsyncEngine) -> None:
    box = BallotBox(proposal(), roll())
    ballots = [
        Ballot("p1", "1-101", "wang", Capacity.OWNER, Choice.AGREE),
        Ballot("p1", "1-102", "li", Capacity.OWNER, Choice.OPPOSE),
        Ballot("p1", "1-101", "wang", Capacity.OWNER, Choice.ABSTAIN),  # changed: the last one counts
    ]
    async with engine.begin() as connection:
        repository = VotingRepository(connection)
        await repository.add_proposal(proposal(), roll(), body="", created_by="pm-1")
        for minute, ballot in enumerate(ballots):
            now = OPENS + timedelta(minutes=minute)
            assert box.cast(ballot, now) is None
            await repository.append(append_entry(await repository.log_tail("p1"), ballot, now))
    async with engine.connect() as connection:
        repository = VotingRepository(connection)
        entries = await repository.log("p1")
        tail = await repository.log_tail("p1")
    assert [e.ballot for e in entries] == ballots
    assert tail == entries[-1]
    assert verify_chain(entries) == []
    assert recount_from_log(entries, proposal(), roll()).result == box.tally()


async def test_two_ballots_racing_for_one_sequence_number_cannot_both_land(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await VotingRepository(connection).add_proposal(proposal(), roll(), body="", created_by="pm-1")
    first = append_entry(None, Ballot("p1", "1-101", "wang", Capacity.OWNER, Choice.AGREE), OPENS)
    second = append_entry(None, Ballot("p1", "1-102", "li", Capacity.OWNER, Choice.AGREE), OPENS)
    async with engine.begin() as connection:
        repository = VotingRepository(connection)
        await repository.append(first)
        with pytest.raises(LogConflict):
            await repository.append(second)
        assert [e.unit_id for e in await repository.log("p1")] == ["1-101"]


async def test_a_ballot_changed_in_the_database_is_caught_by_the_chain(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        repository = VotingRepository(connection)
        await repository.add_proposal(proposal("e1", Election(("张三", "李四"), seats=1)), roll(), body="",
                                      created_by="pm-1")
        ballot = Ballot("e1", "1-101", "wang", Capacity.OWNER, Approvals(frozenset({"张三"})))
        entry = append_entry(None, ballot, OPENS)
        await repository.append(entry)
        tampered = {**(await connection.execute(ballot_log.select())).mappings().one()["record"]}
        tampered["choice"] = {"approve": ["李四"]}
        await connection.execute(update(ballot_log).values(record=tampered))
        entries = await repository.log("e1")
    assert entries[0].choice == Approvals(frozenset({"李四"}))
    assert [problem.kind.value for problem in verify_chain(entries)] == ["altered_entry"]


# -- the use cases on top --------------------------------------------------------------------------

async def test_casting_checks_the_rules_keeps_the_last_ballot_and_gives_receipts(engine: AsyncEngine) -> None:
    from community.voting import BallotRefusal, ReceiptStatus
    from community.voting.service import Accepted, Refused, VotingService

    service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal(), roll(), body="", created_by="pm-1", now=OPENS)
    first = await service.cast(Ballot("p1", "1-101", "wang", Capacity.OWNER, Choice.OPPOSE), OPENS)
    assert isinstance(first, Accepted)
    second = await service.cast(Ballot("p1", "1-101", "wang", Capacity.OWNER, Choice.AGREE), OPENS + timedelta(1))
    assert isinstance(second, Accepted)
    # zhao co-owns 1-102, but the co-owners named li to vote for it
    represented = await service.cast(Ballot("p1", "1-102", "zhao", Capacity.OWNER, Choice.AGREE), OPENS)
    assert represented == Refused(BallotRefusal.DOUBLE_REPRESENTATION)
    stranger = await service.cast(Ballot("p1", "1-101", "zhao", Capacity.OWNER, Choice.AGREE), OPENS)
    assert stranger == Refused(BallotRefusal.NOT_AN_OWNER)
    late = await service.cast(Ballot("p1", "1-102", "li", Capacity.OWNER, Choice.AGREE), OPENS + timedelta(days=8))
    assert late == Refused(BallotRefusal.VOTING_CLOSED)
    proxy = await service.cast(Ballot("p1", "2-201", "chen", Capacity.PROXY, Choice.AGREE), OPENS)
    assert proxy == Refused(BallotRefusal.NO_DELEGATION)
    await service.record_delegation(Delegation("chen", "dev", "p1", "2-201"), OPENS)
    assert isinstance(await service.cast(Ballot("p1", "2-201", "chen", Capacity.PROXY, Choice.AGREE), OPENS),
                      Accepted)

    assert await service.receipt("p1", first.receipt) is ReceiptStatus.SUPERSEDED
    assert await service.receipt("p1", second.receipt) is ReceiptStatus.COUNTED
    assert await service.receipt("p1", "0000-0000-0000-0000") is ReceiptStatus.NOT_FOUND
    turnout = await service.turnout("p1")
    assert turnout.participating_area == Decimal("164.87") and turnout.participating_headcount == 2
    report = await service.verify("p1")
    assert report.is_clean and report.entries == 3


async def test_concurrent_ballots_all_land_in_one_unbroken_chain(engine: AsyncEngine) -> None:
    import asyncio

    from community.voting.service import Accepted, VotingService

    service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    units = [Unit(f"u{n}", f"{n}", Decimal("50"), frozenset({f"o{n}"})) for n in range(12)]
    big_roll = VoterRoll(tuple(units), frozen_at=OPENS - timedelta(hours=1))
    await service.open_proposal(proposal(), big_roll, body="", created_by="pm-1", now=OPENS)
    results = await asyncio.gather(*[
        service.cast(Ballot("p1", f"u{n}", f"o{n}", Capacity.OWNER, Choice.AGREE), OPENS) for n in range(12)
    ])
    assert all(isinstance(result, Accepted) for result in results)
    report = await service.verify("p1")
    assert report.entries == 12 and report.is_clean


async def test_votes_verify_command_recounts_and_flags_tampering(tmp_path: Path) -> None:
    import subprocess
    import sys

    from community.voting.service import VotingService

    url = f"sqlite+aiosqlite:///{tmp_path / 'votes.db'}"
    made = create_engine(url)
    await migrate(made, "community")
    service = VotingService(made, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal(), roll(), body="", created_by="pm-1", now=OPENS)
    await service.cast(Ballot("p1", "1-101", "wang", Capacity.OWNER, Choice.AGREE), OPENS)
    await service.cast(Ballot("p1", "1-102", "li", Capacity.OWNER, Choice.AGREE), OPENS)
    smartcity = str(Path(sys.executable).parent / "smartcity")
    environment = dict(os.environ, SC_DATABASE_URL=url, SC_LOG_LEVEL="WARNING")

    clean = subprocess.run([smartcity, "votes", "verify", "p1"], env=environment, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    assert "hash chain intact" in clean.stdout and "quorum met" in clean.stdout and "PASSED" in clean.stdout

    async with made.begin() as connection:
        row = (await connection.execute(ballot_log.select().where(ballot_log.c.sequence == 2))).mappings().one()
        await connection.execute(update(ballot_log).where(ballot_log.c.sequence == 2)
                                 .values(record={**row["record"], "choice": "oppose"}))
    await made.dispose()
    tampered = subprocess.run([smartcity, "votes", "verify", "p1"], env=environment, capture_output=True, text=True)
    assert tampered.returncode == 1
    assert "BROKEN" in tampered.stdout

    missing = subprocess.run([smartcity, "votes", "verify", "nope"], env=environment, capture_output=True, text=True)
    assert missing.returncode != 0 and "no proposal 'nope'" in missing.stderr


async def test_a_published_result_catches_a_log_truncated_afterwards(engine: AsyncEngine) -> None:
    from sqlalchemy import delete

    from community.voting.service import StillOpen, VotingService

    service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal(), roll(), body="", created_by="pm-1", now=OPENS)
    await service.cast(Ballot("p1", "1-101", "wang", Capacity.OWNER, Choice.AGREE), OPENS)
    await service.cast(Ballot("p1", "1-102", "li", Capacity.OWNER, Choice.AGREE), OPENS)
    with pytest.raises(StillOpen):
        await service.close("p1", OPENS + timedelta(days=1), by="pm-1")
    closed_at = OPENS + timedelta(days=7)
    published = await service.close("p1", closed_at, by="pm-1")
    # two of three persons (2/3 of headcount, 73 % of area) took part, both in favour
    assert published.head.length == 2 and published.result["passed"] is True
    assert await service.close("p1", closed_at + timedelta(hours=1), by="pm-2") == published, "published once"
    assert (await service.verify("p1")).is_clean

    async with engine.begin() as connection:  # someone drops the last ballot from the log
        await connection.execute(delete(ballot_log).where(ballot_log.c.sequence == 2))
    report = await service.verify("p1")
    assert not report.is_clean
    assert "head_mismatch" in {problem.kind.value for problem in report.chain_problems}
    assert "turnout" in report.discrepancies
