"""The voting context's storage on both databases: SQLite and a real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.engine import make_url
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
from community.voting.storage import LogConflict, VotingRepository, ballot_log
from gateway.database import create_engine, migrate, version_table
from tests.servers import PostgreSQL

pytestmark = pytest.mark.integration

OPENS = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
_databases = iter(range(1, 10_000))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``SC_TEST_POSTGRES_URL`` when given (an admin URL), else a cluster of our own on a free port."""
    given = os.environ.get("SC_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        server = PostgreSQL()
        server.start()
    except (FileNotFoundError, OSError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL server binaries ({error}); `make test` installs Debian's postgresql")
    yield server.url
    server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        made = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'smartcity.db'}")
    else:
        admin_url = request.getfixturevalue("postgres_server")
        name = f"voting_{os.getpid()}_{next(_databases)}"
        admin = create_engine(admin_url)
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        made = create_engine(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    await migrate(made, "community")
    yield made
    await made.dispose()


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
            "voting_comments"} <= tables
    assert version == "0001_voting"


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
