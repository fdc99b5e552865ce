"""The demo's meetings on SQLite and PostgreSQL, with the law's 15-day notice: one owners' assembly in notice (the
chargers, tomorrow) and one held with its minutes published (the lifts), each notice published the notice period
before what it announces; in each an owner appointed a committee member as proxy (委托出席) — still to be withdrawn at
the one in notice, signed in for the owner at the held one; seeding twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.demo import DemoAccount, seed_demo_accounts
from accounts.service import AccountService
from community.access.demo import seed_demo
from community.access.service import AccessService
from community.ownership.demo import seed_demo_ownership
from community.ownership.service import OwnershipService
from community.voting.demo import demo_meeting_ids, seed_demo_meetings, seed_demo_proposals
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles
from community.voting.meetings import MinutesState
from community.voting.service import VotingService
from devices.simulator import GateKeys, TrafficGenerator
from messaging.downlink import RecordingDownlink
from tests.integration.test_access_service import KEYS, PASS_KEY, SETTINGS, SITE_KEY, Clock
from webkit.identity import Role

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, 6, 30, tzinfo=UTC)


async def demo_community(engine: AsyncEngine, tmp_path: Path) -> MeetingService:
    """The demo compound, its register and proposals; the meetings' service, nothing seeded by it yet."""
    generator = TrafficGenerator("demo", gates=4, scales=0, seed=3, gate_keys=GateKeys(SITE_KEY, PASS_KEY))
    access = AccessService(engine, RecordingDownlink(), Clock(NOW), KEYS, SETTINGS)
    assert await seed_demo(access, "demo", generator.community_roster(), NOW)
    assert await seed_demo_ownership(OwnershipService(engine), access, "demo", NOW)
    voting = VotingService(engine, notice=timedelta(days=15))
    assert await seed_demo_proposals(voting, "demo", NOW)
    return MeetingService(engine, voting, MaterialFiles(tmp_path / "materials"))


async def test_without_the_proxys_account_the_demo_holds_its_meetings_without_a_proxy(engine: AsyncEngine,
                                                                                     tmp_path: Path) -> None:
    meetings = await demo_community(engine, tmp_path)  # accounts made before the demo: none of its people's
    assert await seed_demo_meetings(meetings, "demo", NOW, committee=("P010001", "P020001"))
    upcoming_id, held_id = demo_meeting_ids("demo")
    upcoming, held = await meetings.view(upcoming_id, NOW), await meetings.view(held_id, NOW)
    assert upcoming.proxies == () and held.proxies == ()
    assert held.minutes is not None and held.minutes.state is MinutesState.PUBLISHED and len(held.sign_ins) > 0


async def test_the_demo_holds_a_meeting_in_notice_and_one_with_published_minutes(engine: AsyncEngine,
                                                                                tmp_path: Path) -> None:
    meetings = await demo_community(engine, tmp_path)
    # the proxy is a person of the community who can sign in (the demo makes the accounts before the meetings)
    await seed_demo_accounts(AccountService(engine), NOW, [DemoAccount("P010001", "委员一", (Role.COMMITTEE,))],
                             communities=["demo"])
    assert await seed_demo_meetings(meetings, "demo", NOW, committee=("P010001", "P020001"))
    assert not await seed_demo_meetings(meetings, "demo", NOW), "seeding twice changes nothing"

    upcoming_id, held_id = demo_meeting_ids("demo")
    upcoming, held = await meetings.view(upcoming_id, NOW), await meetings.view(held_id, NOW)
    assert upcoming.notice_published_at is not None and upcoming.meeting.starts_at > NOW, "in notice"
    assert upcoming.meeting.starts_at - upcoming.notice_published_at >= timedelta(days=15)
    assert upcoming.minutes is None and len(upcoming.materials) == 1 and len(upcoming.agenda) == 1
    assert held.minutes is not None and held.minutes.state is MinutesState.PUBLISHED
    assert held.meeting.ends_at <= NOW and len(held.sign_ins) > 0
    assert [e.kind for e in held.chain] == ["notice", "minutes"] and not held.chain_problems
    present = await meetings.attendance(held_id, NOW)
    assert present is not None and 0 < present.persons < present.total_persons

    (appointed,) = upcoming.proxies
    assert (appointed.proxy_id, appointed.granted_by) == ("P010001", "P020001"), "committee[1] appointed committee[0]"
    assert await meetings.withdrawable(upcoming, "P020001", NOW) == (appointed.unit_id,), "theirs to withdraw still"
    (attended,) = held.proxies
    assert attended.proxy_id == "P010001" and attended.granted_by not in {s.person_id for s in held.sign_ins}
    assert present.proxy_units == 1
    assert [p.proxy_units for p in present.present if p.person_id == "P010001"] == [
        ((attended.unit_id, attended.granted_by),)], "the proxy signed in for the owner who did not come"
    assert await meetings.withdrawable(held, attended.granted_by, NOW) == (), "signed in, and the meeting is over"
