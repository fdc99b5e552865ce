"""Changes made in the database behind the voting service's back, on SQLite and PostgreSQL: a unit's area or owners
edited in the frozen roll, a delegation inserted into or deleted from the delegations table, a ballot changed in the
log — each is caught by verification, through the service and by `smartcity votes verify`, from the database or from
an exported record without it. And a database upgraded with logs begun before anchoring keeps verifying them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from community.voting.audit import GENESIS_HASH, ChainProblemKind
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.rules import Matter
from community.voting.service import Accepted, Refused, VotingService
from community.voting.storage import ballot_log, delegations, roll_units
from community.voting.tally import Ballot, BallotRefusal, Capacity, Choice, Delegation, Proposal, Unit, VoterRoll
from community.voting.verification import RecordProblemKind
from relational.database import create_engine, migrate
from tests.integration.conftest import empty_engine

pytestmark = pytest.mark.integration

OPENS = datetime(2026, 12, 1, 1, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=7)
DURING = OPENS + timedelta(hours=1)


def proposal(proposal_id: str = "p1") -> Proposal:
    return Proposal(proposal_id, Matter.USE_OF_MAINTENANCE_FUNDS, "更换电梯", OPENS, CLOSES)


def roll() -> VoterRoll:
    return VoterRoll((
        Unit("1-101", "1栋101", Decimal("89.37"), frozenset({"wang"})),
        Unit("1-102", "1栋102", Decimal("120.05"), frozenset({"li", "zhao"}), representative_id="li"),
        Unit("2-201", "2栋201", Decimal("75.50"), frozenset({"sun"})),
    ), OPENS - timedelta(hours=1))


async def vote(service: VotingService, proposal_id: str = "p1") -> None:
    """li hands the co-owned flat to chen; wang and chen agree, sun does not vote."""
    assert await service.record_delegation(Delegation("chen", "li", proposal_id, "1-102"), DURING) is None
    for unit_id, voter, capacity in (("1-101", "wang", Capacity.OWNER), ("1-102", "chen", Capacity.PROXY)):
        outcome = await service.cast(Ballot(proposal_id, unit_id, voter, capacity, Choice.AGREE), DURING)
        assert isinstance(outcome, Accepted), outcome


@pytest.fixture
async def voted(engine: AsyncEngine) -> AsyncIterator[VotingService]:
    service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal(), roll(), body="", created_by="pm-1", now=OPENS)
    await vote(service)
    yield service


async def test_an_untouched_log_with_a_delegation_verifies_clean(voted: VotingService) -> None:
    report = await voted.verify("p1")
    assert report.is_clean and report.log_anchored
    assert (report.entries, report.delegation_entries) == (2, 1)
    chain = await voted.chain("p1")
    assert chain[0].previous_hash == report.roll_digest != GENESIS_HASH


@pytest.mark.parametrize("values", [{"area_m2": "189.37"}, {"owner_ids": ["wang", "mallory"]},
                                    {"representative_id": None}])
async def test_a_frozen_roll_edited_in_the_database_is_caught(voted: VotingService, engine: AsyncEngine,
                                                              values: dict[str, object]) -> None:
    unit_id = "1-102" if "representative_id" in values else "1-101"
    async with engine.begin() as connection:
        await connection.execute(update(roll_units).where(roll_units.c.unit_id == unit_id).values(**values))

    report = await voted.verify("p1")
    assert not report.is_clean
    assert [problem.kind for problem in report.chain_problems] == [ChainProblemKind.ROLL_MISMATCH]


async def test_a_delegation_inserted_into_the_database_is_caught_and_lets_nobody_vote(voted: VotingService,
                                                                                    engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delegations.insert().values(proposal_id="p1", unit_id="2-201", delegate_id="mallory",
                                                             granted_by="sun", recorded_at=DURING))

    outcome = await voted.cast(Ballot("p1", "2-201", "mallory", Capacity.PROXY, Choice.AGREE), DURING)
    assert outcome == Refused(BallotRefusal.NO_DELEGATION), "only a delegation in the log lets a proxy vote"
    repeated = await voted.record_delegation(Delegation("mallory", "sun", "p1", "2-201"), DURING)
    assert repeated == Refused(BallotRefusal.DELEGATION_EXISTS), "a clear refusal, not a database error"
    report = await voted.verify("p1")
    assert [(p.kind, p.delegation.delegate_id) for p in report.record_problems] == [
        (RecordProblemKind.DELEGATION_NOT_IN_LOG, "mallory")]
    assert not report.is_clean


async def test_a_delegation_deleted_from_the_database_is_caught(voted: VotingService, engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(delegations).where(delegations.c.delegate_id == "chen"))

    report = await voted.verify("p1")
    assert [p.kind for p in report.record_problems] == [RecordProblemKind.DELEGATION_NOT_ON_RECORD]
    assert not report.is_clean


async def test_a_ballot_changed_in_the_database_is_still_caught(voted: VotingService, engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        row = (await connection.execute(ballot_log.select().where(ballot_log.c.sequence == 2))).mappings().one()
        await connection.execute(update(ballot_log).where(ballot_log.c.sequence == 2)
                                 .values(record={**row["record"], "choice": "oppose"}))

    report = await voted.verify("p1")
    assert [problem.kind for problem in report.chain_problems] == [ChainProblemKind.ALTERED_ENTRY]


async def test_after_close_a_roll_edit_is_caught_even_when_nobody_voted(engine: AsyncEngine) -> None:
    service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal("p-empty"), roll(), body="", created_by="pm-1", now=OPENS)
    published = await service.close("p-empty", CLOSES, "pm-1")
    assert published.head.length == 0 and published.head.head_hash == published.result["roll_digest"]
    assert (await service.verify("p-empty")).is_clean
    async with engine.begin() as connection:
        await connection.execute(update(roll_units).where(roll_units.c.proposal_id == "p-empty")
                                 .values(area_m2="1.00"))

    report = await service.verify("p-empty")
    assert [problem.kind for problem in report.chain_problems] == [ChainProblemKind.HEAD_MISMATCH]
    assert "roll_digest" in report.discrepancies


# --- `smartcity votes export` and `smartcity votes verify --from`, on a SQLite file ------------------------------

def smartcity(*arguments: str, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, SC_DATABASE_URL=database_url, SC_LOG_LEVEL="WARNING")
    return subprocess.run([str(Path(sys.executable).parent / "smartcity"), *arguments], env=environment,
                          capture_output=True, text=True, timeout=120)


async def test_an_exported_record_is_recounted_without_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'votes.db'}"
    made = create_engine(url)
    await migrate(made, "community")
    service = VotingService(made, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal(), roll(), body="", created_by="pm-1", now=OPENS)
    await vote(service)
    await service.close("p1", CLOSES, "pm-1")
    await made.dispose()

    exported = smartcity("votes", "export", "p1", "--out", str(tmp_path / "p1.json"), database_url=url)
    assert exported.returncode == 0, exported.stderr
    nowhere = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'none.db'}"  # no database: the file is enough
    clean = smartcity("votes", "verify", "--from", str(tmp_path / "p1.json"), database_url=nowhere)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "hash chain intact" in clean.stdout and "recount matches it" in clean.stdout
    assert "participation: area 10471/14246 (73.50%)" in clean.stdout, "209.42 of 284.92 m², rounded as on the pages"
    from_database = smartcity("votes", "verify", "p1", database_url=url)
    assert from_database.returncode == 0 and from_database.stdout == clean.stdout

    document = json.loads((tmp_path / "p1.json").read_text(encoding="utf-8"))
    document["roll"]["units"][2]["area_m2"] = "7.55"
    (tmp_path / "edited.json").write_text(json.dumps(document), encoding="utf-8")
    edited = smartcity("votes", "verify", "--from", str(tmp_path / "edited.json"), database_url=nowhere)
    assert edited.returncode == 1 and "roll_mismatch" in edited.stdout

    to_stdout = smartcity("votes", "export", "p1", database_url=url)
    assert to_stdout.returncode == 0 and json.loads(to_stdout.stdout)["head"]["length"] == 3
    missing = smartcity("votes", "export", "nope", database_url=url)
    assert missing.returncode == 1 and "no proposal 'nope'" in missing.stderr and "Traceback" not in missing.stderr


async def test_an_open_vote_exports_its_hash_chain_alone_which_the_published_record_extends(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'votes.db'}"
    made = create_engine(url)
    await migrate(made, "community")
    service = VotingService(made, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal(), roll(), body="", created_by="pm-1", now=OPENS)
    await vote(service)

    exported = smartcity("votes", "export", "p1", "--out", str(tmp_path / "open.json"), database_url=url)
    assert exported.returncode == 0, exported.stderr
    assert "not published yet: only the log's hash chain is exported" in exported.stderr
    text = (tmp_path / "open.json").read_text(encoding="utf-8")
    for named in ("wang", "li", "chen", "sun", "1-101", "1-102", "agree", "voter_id", "owner_ids", "roll"):
        assert f'"{named}"' not in text, f"{named} is exported before the result is published"
    assert json.loads(text)["format"] == "smartcity-vote-chain/1" and json.loads(text)["head"]["length"] == 3
    nowhere = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'none.db'}"
    checked = smartcity("votes", "verify", "--from", str(tmp_path / "open.json"), database_url=nowhere)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "links intact" in checked.stdout and "result not published yet" in checked.stdout

    await service.close("p1", CLOSES, "pm-1")
    await made.dispose()
    published = smartcity("votes", "export", "p1", "--out", str(tmp_path / "p1.json"), database_url=url)
    assert published.returncode == 0 and "not published" not in published.stderr
    grown = smartcity("votes", "verify", "--from", str(tmp_path / "p1.json"), "--since", str(tmp_path / "open.json"),
                      database_url=nowhere)
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "recount matches it" in grown.stdout and "(3 entries): the log only grew" in grown.stdout


async def test_votes_verify_exits_1_on_a_roll_edited_in_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'votes.db'}"
    made = create_engine(url)
    await migrate(made, "community")
    service = VotingService(made, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal(proposal(), roll(), body="", created_by="pm-1", now=OPENS)
    await vote(service)
    async with made.begin() as connection:
        await connection.execute(update(roll_units).where(roll_units.c.unit_id == "1-101").values(area_m2="300.00"))
    await made.dispose()

    result = smartcity("votes", "verify", "p1", database_url=url)
    assert result.returncode == 1 and "BROKEN" in result.stdout and "roll_mismatch" in result.stdout


# --- a database upgraded with logs begun before anchoring ---------------------------------------------------------

async def downgrade(engine: AsyncEngine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.engine import Connection

    from relational.database import version_table

    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", "community:migrations")
        config.attributes["connection"] = connection
        config.attributes["version_table"] = version_table("community")
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0005(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "community", "0005_ownership")
    yield made
    await made.dispose()


async def test_upgrading_keeps_older_logs_verifiable_and_anchors_the_rest(engine_at_0005: AsyncEngine) -> None:
    from community.voting.audit import append_entry, entry_to_record
    from community.voting.publication import result_document

    engine = engine_at_0005
    frozen = OPENS - timedelta(hours=1)
    first = append_entry(None, Ballot("p-old", "1-101", "wang", Capacity.OWNER, Choice.AGREE), DURING)
    async with engine.begin() as connection:  # what the code of revision 0005 wrote: a log from 64 zeros
        for proposal_id in ("p-old", "p-new", "p-published"):
            await connection.execute(text(
                "INSERT INTO voting_proposals (proposal_id, matter, title, body, opens_at, closes_at, roll_frozen_at, "
                "created_by, attachments, roll_built_at) VALUES (:id, 'use_of_maintenance_funds', '更换电梯', '', "
                ":opens, :closes, :frozen, 'pm-zhang', '[]', :frozen)"),
                {"id": proposal_id, "opens": OPENS, "closes": CLOSES, "frozen": frozen})
            for unit in roll().units:
                await connection.execute(text(
                    "INSERT INTO voting_roll_units (proposal_id, unit_id, label, area_m2, owner_ids, "
                    "held_by_developer, representative_id) "
                    "VALUES (:id, :unit, :label, :area, :owners, false, :representative)"),
                    {"id": proposal_id, "unit": unit.unit_id, "label": unit.label, "area": str(unit.area),
                     "owners": json.dumps(sorted(unit.owner_ids)), "representative": unit.representative_id})
        await connection.execute(text(
            "INSERT INTO voting_delegations (proposal_id, unit_id, delegate_id, granted_by, recorded_at) "
            "VALUES ('p-old', '1-102', 'chen', 'li', :at)"), {"at": DURING})
        await connection.execute(text(
            "INSERT INTO voting_ballot_log (proposal_id, sequence, unit_id, voter_id, entry_hash, record) "
            "VALUES ('p-old', 1, '1-101', 'wang', :hash, :record)"),
            {"hash": first.entry_hash, "record": json.dumps(entry_to_record(first))})
        # closed and published by the code of revision 0005 with nobody voting: an empty log, head 64 zeros
        await connection.execute(text(
            "INSERT INTO voting_results (proposal_id, closed_at, chain_length, chain_head, result, published_by) "
            "VALUES ('p-published', :at, 0, :head, '{}', 'pm-1')"), {"at": CLOSES, "head": "0" * 64})
    await migrate(engine, "community")
    service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)

    published_before = await service.verify("p-published")
    assert not published_before.log_anchored and not published_before.chain_problems, "its head is still 64 zeros"
    async with engine.begin() as connection:  # the document 0005 published: the recount's, without a digest
        await connection.execute(text("UPDATE voting_results SET result = :result WHERE proposal_id = 'p-published'"),
                                 {"result": json.dumps(result_document(published_before.recount.result))})
    assert (await service.verify("p-published")).is_clean

    old = await service.state("p-old", DURING)
    assert not old.roll_state.log_anchored and (await service.state("p-new", DURING)).roll_state.log_anchored
    proxy = await service.cast(Ballot("p-old", "1-102", "chen", Capacity.PROXY, Choice.AGREE), DURING)
    assert isinstance(proxy, Accepted), "the delegation on record still counts for an older log"
    assert proxy.entry.previous_hash == first.entry_hash
    assert await service.record_delegation(Delegation("pat", "sun", "p-old", "2-201"), DURING) is None
    report = await service.verify("p-old")
    assert report.is_clean and not report.log_anchored and report.delegation_entries == 0
    published = await service.close("p-old", CLOSES, "pm-1")
    assert "roll_digest" not in published.result and (await service.verify("p-old")).is_clean

    await vote(service, "p-new")
    new = await service.verify("p-new")
    assert new.is_clean and new.log_anchored and new.delegation_entries == 1

    await downgrade(engine, "0005_ownership")  # and back: the old code reads every entry as a ballot
    async with engine.connect() as connection:
        kinds = (await connection.execute(text(
            "SELECT proposal_id, count(*) FROM voting_ballot_log GROUP BY proposal_id ORDER BY proposal_id"))).all()
    assert [tuple(row) for row in kinds] == [("p-new", 2), ("p-old", 2)], "delegation entries removed"
