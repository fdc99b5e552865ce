"""The sources of issue 14 beyond the gates, on SQLite and PostgreSQL: each writes its event in the transaction of
its change (or, for a periodic check, once per key), and the dispatcher's expansion reaches the people the tenancy
rules name — a market's operators (and its supervising office for tests, recalls and releases), a community's owners
for its votes (in-app, and by e-mail where they gave an address)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.organisations import OrganisationKind
from accounts.tenancy import TenancyService
from community.ownership.owners import RegisterOwners
from community.ownership.service import OwnershipService
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles
from community.voting.meetings import Meeting, MeetingForm, MeetingKind
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.service import VotingService
from gateway.outputs.embedded import EmbeddedStore
from market.licences import Document, DocumentKind, StallType
from market.rapid_tests import TestOutcome
from market.service import Conflict, MarketService, MarketSettings, PriceItem
from market.stalls import Market, Stall, Vendor
from market.tracing import RapidTest
from messaging.downlink import RecordingDownlink
from notifications.channels import Outgoing
from notifications.dispatcher import Dispatcher
from notifications.events import Channel, NotificationKind
from notifications.outbox import Outbox
from notifications.preferences import Preferences
from notifications.recipients import TenancyRecipients
from notifications.storage import PreferenceRepository, deliveries, outbox
from tests.integration.test_market_service import SITE, Clock, Market_, receive
from tests.integration.test_voting_register import CLOSES, OPENS, REGISTER, T0, proposal, seed_units
from webkit.identity import Role, Scope

pytestmark = pytest.mark.integration


class Unused:
    async def send(self, outgoing: Outgoing) -> None:  # the tests look at the deliveries made, not sent
        raise AssertionError("not sent in these tests")


@dataclass(frozen=True)
class Told:
    kind: str
    recipient: str
    channel: str


async def expanded(engine: AsyncEngine, now: datetime) -> list[Told]:
    """What the dispatcher makes of the outbox so far: (kind, recipient, channel), oldest first."""
    dispatcher = Dispatcher(engine, TenancyRecipients(RegisterOwners()),
                            {Channel.IN_APP: Unused(), Channel.EMAIL: Unused()}, lambda: now)
    await dispatcher.expand()
    async with engine.connect() as connection:
        rows = (await connection.execute(
            select(outbox.c.kind, deliveries.c.recipient, deliveries.c.channel)
            .join(outbox, outbox.c.event_id == deliveries.c.event_id)
            .order_by(deliveries.c.delivery_id))).all()
    return [Told(*row) for row in rows]


async def _people(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    tenancy = TenancyService(engine)
    for organisation, name, kind, held in (
            ("xfd-co", "新发地市场公司", OrganisationKind.MARKET_OPERATOR, SITE),
            ("ft-office", "丰台市场监管所", OrganisationKind.SUPERVISION_OFFICE, SITE),
            ("other-co", "别的市场公司", OrganisationKind.MARKET_OPERATOR, "elsewhere")):
        await tenancy.create_organisation(organisation, name, kind, now)
        await tenancy.hold(organisation, Scope.of(markets=[held]))
    for account, role, organisation, held, password in (
            ("op-xfd", Role.MARKET_OPERATOR, "xfd-co", SITE, "a-long-password-1"),
            ("sup-ft", Role.SUPERVISOR, "ft-office", SITE, "a-long-password-2"),
            ("op-other", Role.MARKET_OPERATOR, "other-co", "elsewhere", "a-long-password-3")):
        await tenancy.create_account(account, account, {role}, password, now, organisation_id=organisation,
                                     scope=Scope.of(markets=[held]))


@pytest.fixture
async def noticed(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Market_]:
    """The market of test_market_service with an outbox, its operator and supervisor, another market's operator."""
    clock, downlink = Clock(), RecordingDownlink()
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    service = MarketService(engine, downlink, store, clock, MarketSettings(), outbox=Outbox())
    await service.create_market(Market(SITE, "新发地农贸市场", "北京市丰台区", "010-12345678"), clock.now)
    await service.add_vendor(SITE, Vendor("v-wang", "王建国", None, "13800000000"), clock.now)
    await service.add_stall(SITE, Stall("A03", "王记蔬菜", StallType.VEGETABLES, "v-wang"))
    await service.register_scale(SITE, "scale-01", "A03", clock.now)
    await _people(engine)
    yield Market_(service, downlink, store, clock)
    await store.close()


def _of(told: list[Told], kind: NotificationKind) -> set[tuple[str, str]]:
    return {(t.recipient, t.channel) for t in told if t.kind == kind.value}


OPERATOR_AND_OFFICE = {("account:op-xfd", "in_app"), ("account:sup-ft", "in_app")}


async def test_a_failed_test_a_recall_and_a_release_reach_the_operators_and_the_supervising_office(
        noticed: Market_, engine: AsyncEngine) -> None:
    market = noticed
    await receive(market, "B-1")
    await receive(market, "B-2")
    await market.service.record_test(SITE, RapidTest("B-1", "有机磷农药残留", "酶抑制法", TestOutcome.POSITIVE, "62%",
                                                     "检测员", market.clock.now), "op-1", market.clock.now)
    await market.service.record_test(SITE, RapidTest("B-2", "有机磷农药残留", "酶抑制法", TestOutcome.NEGATIVE, "8%",
                                                     "检测员", market.clock.now), "op-1", market.clock.now)
    await market.service.recall(SITE, "B-2", "供货商通报问题", "op-1", market.clock.now)
    with pytest.raises(Conflict):  # refused: its transaction rolled back, so no event either
        await market.service.recall(SITE, "B-2", "again", "op-1", market.clock.now)
    await market.service.release(SITE, "B-2", "供货商撤回通报", "op-1", market.clock.now)
    told = await expanded(engine, market.clock.now)
    assert _of(told, NotificationKind.TEST_FAILED) == OPERATOR_AND_OFFICE
    assert _of(told, NotificationKind.BATCH_RECALLED) == OPERATOR_AND_OFFICE
    assert _of(told, NotificationKind.BATCH_RELEASED) == OPERATOR_AND_OFFICE
    assert len(told) == 6, "one event each (a passing test and a refused recall tell nobody)"
    async with engine.connect() as connection:
        texts = dict((await connection.execute(select(outbox.c.kind, outbox.c.text))).all())
    assert "B-1" in texts["test_failed"] and "62%" in texts["test_failed"] and "封控" in texts["test_failed"]


async def test_price_findings_reach_the_operators_only(noticed: Market_, engine: AsyncEngine) -> None:
    market = noticed
    await market.service.publish_prices(SITE, "A03", [PriceItem("1001", "西红柿", 680)], None, "op-1",
                                        market.clock.now)
    await market.sell("scale-01", market.record(fen=750, minutes=1), market.record(fen=750, minutes=2))
    told = await expanded(engine, market.clock.now)
    assert _of(told, NotificationKind.PRICE_FINDING) == {("account:op-xfd", "in_app")}
    assert len(told) == 1, "two findings of one stall and kind within the window: one message, then a summary"


async def test_a_licence_is_told_once_per_threshold_across_restarts_then_when_it_expires(
        noticed: Market_, engine: AsyncEngine, tmp_path: Path) -> None:
    market = noticed
    today = date(2026, 11, 23)  # OPENING in Shanghai
    # the business licence every stall needs (a vegetable stall needs no health certificate: Food Safety Law Art. 45)
    await market.service.add_document(SITE, "v-wang", Document(
        DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2025, 11, 29), today + timedelta(days=5)),
        "op-1", market.clock.now)
    await market.service.tick(market.clock.now)
    await market.service.tick(market.clock.now + timedelta(hours=1))  # the same day: nothing more
    restarted = MarketService(engine, RecordingDownlink(), market.store, market.clock, MarketSettings(),
                              outbox=Outbox())
    await restarted.tick(market.clock.now + timedelta(hours=2))  # a new process the same day: nothing more
    await restarted.tick(market.clock.now + timedelta(days=1))  # 4 days left: still the 7-day notice, told
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.kind, outbox.c.title, outbox.c.data)
                                         .where(outbox.c.kind.like("licence%")))).all()
    assert [(kind, data["stage"]) for kind, _title, data in rows] == [("licence_expiring", "7")]
    assert "营业执照" in rows[0][1] and "即将到期" in rows[0][1]
    await restarted.tick(market.clock.now + timedelta(days=5))  # its last day
    await restarted.tick(market.clock.now + timedelta(days=6))  # expired
    await restarted.tick(market.clock.now + timedelta(days=7))
    told = await expanded(engine, market.clock.now + timedelta(days=7))
    assert [t.kind for t in told] == ["licence_expiring", "licence_expiring", "licence_expired"]
    assert {t.recipient for t in told} == {"account:op-xfd"}, "the operator; not the office, not another market"


# -- votes ---------------------------------------------------------------------------------------------------------

async def test_the_owners_hear_a_vote_open_close_soon_and_publish_once_each(engine: AsyncEngine) -> None:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", T0)
    tenancy = TenancyService(engine)
    for account_id, password in (("wang", "a-long-password-1"), ("li", "a-long-password-2"),
                                 ("chen", "a-long-password-3")):
        await tenancy.create_account(account_id, account_id, {Role.RESIDENT}, password, T0, scope=Scope.of(["c1"]))
    # chen lives there but owns nothing; zhao owns with li but has no account; the developer neither
    async with engine.begin() as connection:
        await PreferenceRepository(connection).save("li", Preferences(email="li@example.com"), T0)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE, outbox=Outbox())
    await voting.open_proposal_from_register(proposal("p-lifts"), "c1", body="", created_by="pm-zhang", now=T0)
    await voting.tick(OPENS - timedelta(minutes=1))
    assert await expanded(engine, OPENS) == [], "not before it opens"
    await voting.tick(OPENS)
    await voting.tick(OPENS + timedelta(minutes=1))
    await VotingService(engine, notice=TEST_INSTALLATION_NOTICE, outbox=Outbox()).tick(OPENS + timedelta(hours=1))
    await voting.tick(CLOSES - timedelta(hours=23))
    await voting.tick(CLOSES - timedelta(hours=22))
    await voting.tick(CLOSES)
    await voting.tick(CLOSES + timedelta(minutes=1))
    told = await expanded(engine, CLOSES)
    owners = {("account:wang", "in_app"), ("account:li", "in_app"), ("account:li", "email")}
    for kind in (NotificationKind.VOTE_OPENED, NotificationKind.VOTE_CLOSING, NotificationKind.VOTE_PUBLISHED):
        assert _of(told, kind) == owners, kind
    assert len(told) == 9, "each phase once, to each owner with an account, whatever the ticks and restarts"
    async with engine.connect() as connection:
        titles = [title for (title,) in await connection.execute(select(outbox.c.title).order_by(outbox.c.event_id))]
    assert titles == ["荷花小区：“更换电梯”开始表决", "荷花小区：“更换电梯”即将截止",
                      "荷花小区：“更换电梯”表决结果已公布"]


async def test_the_owners_hear_of_a_meeting_when_its_notice_is_published_once(engine: AsyncEngine,
                                                                             tmp_path: Path) -> None:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", T0)
    tenancy = TenancyService(engine)
    for account_id, password in (("wang", "a-long-password-1"), ("li", "a-long-password-2")):
        await tenancy.create_account(account_id, account_id, {Role.RESIDENT}, password, T0, scope=Scope.of(["c1"]))
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE, outbox=Outbox())
    await voting.open_proposal_from_register(proposal("p-lifts"), "c1", body="", created_by="pm-zhang", now=T0)
    meetings = MeetingService(engine, voting, MaterialFiles(tmp_path / "materials"))
    starts = OPENS - timedelta(hours=2)
    await meetings.create(Meeting("m-1", "c1", "更换电梯业主大会", MeetingKind.OWNERS_ASSEMBLY, MeetingForm.MIXED,
                                  starts, starts + timedelta(hours=2), "小区会所"), "pm-zhang", T0)
    assert await meetings.add_item("m-1", "p-lifts", T0) is None
    assert await expanded(engine, T0) == [], "a draft tells nobody"
    assert await meetings.publish_notice("m-1", T0) is None
    assert await meetings.publish_notice("m-1", T0) is not None, "published once"
    told = await expanded(engine, T0)
    assert _of(told, NotificationKind.MEETING_NOTICE) == {("account:wang", "in_app"), ("account:li", "in_app")}
    async with engine.connect() as connection:
        (title, text), = (await connection.execute(select(outbox.c.title, outbox.c.text))).all()
    assert title == "荷花小区：召开业主大会会议的通知" and "小区会所" in text and "更换电梯业主大会" in text
