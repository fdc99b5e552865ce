"""The access pages over HTTP, on both databases: the property manager's console (gates, alarms, live feed, today's
entries from the time series), remote open with its confirmation and the gate's ack, the access-log search, the
alarm lifecycle, and the residents' unit, visitors and QR pass — with the role guard, CSRF and every refusal shown
as a message on the page."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.pages import EntryCounter, mount_access_pages
from community.access.permissions import Door
from community.access.service import AccessService
from community.access.visitor_pass import verify
from community.access.web import mount as mount_access_api
from devices.contract import AccessMethod, CommandAck, DenialReason, Direction, GateEvent, GateEventKind
from devices.gate_commands import OPEN
from devices.gate_memory import GateMemory
from devices.topics import Channel, DeviceKind, DeviceTopic
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.points import CredentialHasher, point_for
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_access_api import read_sse, sse_messages
from tests.integration.test_access_service import (
    KEYS,
    LOTUS,
    PASS_KEY,
    SETTINGS,
    SITE,
    SITE_KEY,
    T0,
    WANG_CARD,
    Clock,
    SimulatedGate,
)
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal
from webkit.qr_code import qr_svg

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"a" * 32)
PASSWORD = "access-pages-test-password"
UNKNOWN_CARD = "0099999999"


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/"
    password: ClassVar[str] = PASSWORD
    clock: Clock
    service: AccessService
    downlink: RecordingDownlink
    store: EmbeddedStore
    gates: dict[str, SimulatedGate]

    async def event(self, gate_id: str, event_id: str, kind: GateEventKind, *, door: int = 1,
                    at: datetime | None = None, **fields: Any) -> None:
        event = GateEvent(event_id=event_id, ts=at or self.clock.now, door=door, kind=kind, **fields)
        await self.service.handle([(DeviceTopic(SITE, DeviceKind.GATE, gate_id, Channel.EVENT), event)])


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock(T0)
    accounts = AccountService(engine)
    for account_id, name, role in (("wang", "王芳", Role.RESIDENT), ("zhao", "赵敏", Role.RESIDENT),
                                   ("pm-1", "张经理", Role.PROPERTY_MANAGER), ("newcomer", "新住户", Role.RESIDENT)):
        created = await accounts.create_account(account_id, name, [role], PASSWORD, T0)
        assert getattr(created, "account_id", None) == account_id, created
    async with engine.begin() as connection:  # each account assigned the community (the scope tests: another one)
        for account_id in ("wang", "zhao", "pm-1", "newcomer"):
            await AccountRepository(connection).assign(account_id, Scope(frozenset({"lotus"})))
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    gates = {gate_id: SimulatedGate(GateMemory(gate_id, SITE_KEY, PASS_KEY, doors=2))
             for gate_id in ("gate-01", "gate-02")}
    for gate in gates.values():
        await gate.connect(service, downlink, T0)
        await gate.settle(service, downlink, T0)
    store = EmbeddedStore(tmp_path / "timeseries.sqlite")
    await store.open()
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_access_pages(app, service, store)
    mount_access_api(app, service, AUTHORITY, clock)  # the same account's API streams share the console's feed
    mount_portal(app)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, clock, service, downlink, store, gates)
    await store.close()


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start:page.index("</section>", start)]


def item(page: str, marker: str) -> str:
    """The list item (or table row) that starts with the attribute `marker`."""
    start = page.index(marker)
    ends = [index for index in (page.find("</li>", start), page.find("</tr>", start)) if index != -1]
    return page[start:min(ends)]


def words(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def entry_points(store: EmbeddedStore, *entries: tuple[str, datetime, str, str | None, str]) -> None:
    """gate_event points as the gateway stores them: (gate, time, kind, direction, site)."""
    hasher = CredentialHasher(b"k" * 32)
    points = []
    for number, (gate_id, at, kind, direction, site) in enumerate(entries):
        event = GateEvent(event_id=f"ts-{number}", ts=at, door=1, kind=GateEventKind(kind),
                          method=AccessMethod.CARD, direction=Direction(direction) if direction else None,
                          reason=DenialReason.EXPIRED if kind == "denied" else None)
        topic = DeviceTopic(site, DeviceKind.GATE, gate_id, Channel.EVENT)
        points.append(point_for(topic, event, 0, hasher))
    await store.write(points)


# --- the console --------------------------------------------------------------------------------

async def test_the_console_shows_the_gates_open_alarms_recent_events_and_todays_entries(site: Site) -> None:
    await site.event("gate-01", "e-wang", GateEventKind.GRANTED, method=AccessMethod.CARD, credential=WANG_CARD,
                     direction=Direction.IN, at=T0 - timedelta(minutes=3))
    await site.event("gate-02", "e-stranger", GateEventKind.DENIED, method=AccessMethod.CARD, credential=UNKNOWN_CARD,
                     reason=DenialReason.UNKNOWN_CREDENTIAL, at=T0 - timedelta(minutes=2))
    await site.event("gate-01", "e-forced", GateEventKind.FORCED, door=2, at=T0 - timedelta(minutes=1))
    await site.gates["gate-02"].disconnect(site.service)
    today = datetime(2025, 3, 2, 16, tzinfo=UTC)  # 00:00 of 03-03 in Shanghai; "now" is 16:00
    await entry_points(
        site.store,
        ("gate-01", today + timedelta(minutes=5), "granted", "in", SITE),
        ("gate-01", today + timedelta(hours=9, minutes=1), "granted", "in", SITE),
        ("gate-01", today + timedelta(hours=9, minutes=59), "granted", "in", SITE),
        ("gate-02", today + timedelta(hours=15), "granted", "in", SITE),
        ("gate-01", today + timedelta(hours=9), "granted", "out", SITE),  # leaving is not entering
        ("gate-01", today + timedelta(hours=9), "denied", "in", SITE),  # refused
        ("gate-01", today - timedelta(minutes=1), "granted", "in", SITE),  # yesterday in Shanghai
        ("gate-01", today + timedelta(hours=9), "granted", "in", "elsewhere"),  # another site's gate-01
    )
    await site.sign_in("pm-1")
    page = await site.page("/access/console")
    text = words(page)
    assert "门禁控制台 荷花小区" in text
    assert "今日进入 4 人次" in text and "门禁在线 1 / 2 台" in text

    east = words(item(page, 'data-gate="gate-01"'))
    assert "东门" in east and "在线" in east and "已同步" in east and "今日进入 3 人次" in east
    assert "1 条告警待处理" in east
    tower = words(item(page, 'data-gate="gate-02"'))
    assert "离线" in tower and "今日进入 1 人次" in tower

    feed = words(section(page, "live"))
    assert feed.index("强行开门") < feed.index("未登记的卡或凭证") < feed.index("王芳"), "newest first"
    assert "东门 · 进 · 刷卡 · 王芳" in feed and WANG_CARD not in page and UNKNOWN_CARD not in page
    alarms = section(page, "alarms")
    assert "强行开门" in words(alarms) and "东门 · 地库入口" in words(alarms)
    assert 'action="/access/console/alarms/1/resolve"' in alarms and 'name="csrf_token"' in alarms

    charts = section(page, "entries")
    assert charts.count("<svg") == 4, "bars and hourly lines, each for a wide screen and a phone"
    assert "<script" not in charts
    position = site.service.feed.position
    assert f'data-live-feed="/access/console/live?last_event_id={position}"' in page, "resumes from the page"
    assert "/static/live-feed.js" in page

    filtered = words(section(await site.page("/access/console?gate=gate-02"), "live"))
    assert "未登记的卡或凭证" in filtered and "王芳" not in filtered
    assert "门禁不存在" in words(await site.page("/access/console?gate=gate-99", 404))


async def test_todays_entries_are_counted_per_gate_and_hour_of_the_shanghai_day(site: Site) -> None:
    today = datetime(2025, 3, 2, 16, tzinfo=UTC)
    await entry_points(site.store, *[("gate-01", today + timedelta(hours=2, minutes=m), "granted", "in", SITE)
                                     for m in range(5)],
                       ("gate-02", today + timedelta(hours=2, minutes=30), "granted", "in", SITE),
                       ("gate-02", today + timedelta(hours=16), "granted", "in", SITE),
                       ("gate-02", today + timedelta(hours=16), "granted", "out", SITE))
    for hour_rows in (1000, 3):  # 3: the busy hour is counted gate by gate instead of read
        entries = await EntryCounter(site.store, hour_rows=hour_rows).today(SITE, ["gate-01", "gate-02"], T0)
        assert entries.day_start == today and entries.hours == 17
        assert entries.by_gate["gate-01"][2] == 5 and entries.total("gate-01") == 5
        assert entries.by_gate["gate-02"][2] == 1 and entries.by_gate["gate-02"][16] == 1
        assert entries.grand_total == 7


async def test_a_late_backlog_is_counted_once_the_remembered_hour_is_read_again(site: Site) -> None:
    today = datetime(2025, 3, 2, 16, tzinfo=UTC)
    counter = EntryCounter(site.store, recount_after=timedelta(minutes=5))
    await entry_points(site.store, ("gate-01", today + timedelta(hours=15, minutes=50), "granted", "in", SITE))
    assert (await counter.today(SITE, ["gate-01"], T0)).by_gate["gate-01"][15] == 1
    await entry_points(site.store, *[("gate-01", today + timedelta(hours=h, minutes=10), "granted", "in", SITE)
                                     for h in (2, 15, 16)])  # an offline gate's backlog arrives
    remembered = await counter.today(SITE, ["gate-01"], T0 + timedelta(minutes=1))
    assert [remembered.by_gate["gate-01"][h] for h in (2, 15, 16)] == [0, 1, 1], "the current hour is always read"
    recent = await counter.today(SITE, ["gate-01"], T0 + timedelta(minutes=6))
    assert [recent.by_gate["gate-01"][h] for h in (2, 15, 16)] == [0, 2, 1], "the last hour is read again soon"
    later = await counter.today(SITE, ["gate-01"], T0 + timedelta(minutes=61))
    assert [later.by_gate["gate-01"][h] for h in (2, 15, 16)] == [1, 2, 1], "older hours are read again hourly"


async def test_the_live_feed_pushes_rows_rendered_by_the_server(site: Site) -> None:
    await site.sign_in("pm-1")
    response = await site.client.get("/access/console/live?gate=gate-01")
    assert response.status == 200 and response.content_type == "text/event-stream"
    await site.event("gate-02", "e-elsewhere", GateEventKind.GRANTED, method=AccessMethod.CARD,
                     credential=WANG_CARD, direction=Direction.IN)
    await site.event("gate-01", "e-live", GateEventKind.GRANTED, method=AccessMethod.CARD, credential=WANG_CARD,
                     direction=Direction.IN)
    event = await read_sse(response, "event")
    assert event["gate_id"] == "gate-01" and 'data-event="gate-01/e-live"' in event["row"]
    assert "东门 · 进 · 刷卡 · 王芳" in words(event["row"]) and "<script" not in event["row"]
    await site.event("gate-01", "e-forced", GateEventKind.FORCED, door=2)
    alarm = await read_sse(response, "alarm")
    assert "强行开门" in words(alarm["row"]) and alarm["number"] == 1
    assert 'action="/access/console/alarms/1/resolve"' in alarm["alarm"]
    assert re.search(r'name="csrf_token" value="[^"]{20,}"', alarm["alarm"])
    response.close()

    await site.sign_in("wang")
    refused = await site.client.get("/access/console/live", headers=HTML)
    assert refused.status == 403


# --- remote open --------------------------------------------------------------------------------

def open_commands(site: Site, gate_id: str) -> list[Any]:
    return [command for command in site.downlink.commands_to(gate_id) if command.op == OPEN]


async def test_a_remote_open_is_confirmed_sent_and_shown_opened_when_the_gate_acks(site: Site) -> None:
    token = await site.sign_in("pm-1")
    form = await site.page("/access/console/open?gate=gate-01")
    assert 'value="gate-01:1"' in form and 'value="gate-01:2"' in form
    review = await site.post("/access/console/open", {"door": "gate-01:1", "reason": "快递 大件", "step": "review"},
                             token)
    confirm = await review.text()
    assert review.status == 200 and "确认远程开门" in words(confirm) and "快递 大件" in confirm
    assert open_commands(site, "gate-01") == [], "nothing is sent before the confirmation"

    confirmed = await site.post("/access/console/open", {"door": "gate-01:1", "reason": "快递 大件",
                                                         "step": "confirm"}, token)
    assert confirmed.status == 303
    result_path = confirmed.headers["Location"]
    [command] = open_commands(site, "gate-01")
    assert result_path == f"/access/console/open/{command.cmd_id}" and command.args["door"] == 1
    pending = await site.page(result_path)
    assert "等待门禁回应" in words(pending) and 'http-equiv="refresh"' in pending
    assert "张经理" in words(pending) and "快递 大件" in pending

    await site.service.handle([(DeviceTopic(SITE, DeviceKind.GATE, "gate-01", Channel.ACK),
                                CommandAck(cmd_id=command.cmd_id, ok=True))])
    opened = await site.page(result_path)
    assert 'data-status="opened"' in opened and "已开门" in words(section(opened, "outcome"))
    assert 'http-equiv="refresh"' not in opened
    audit = words(section(await site.page("/access/console/open"), "audit"))
    assert "东门 张经理 快递 大件 已开门" in audit


async def test_a_remote_open_that_fails_or_gets_no_answer_says_so(site: Site) -> None:
    token = await site.sign_in("pm-1")
    request = {"door": "gate-02:1", "reason": "住户忘带卡", "step": "confirm"}
    first = await site.post("/access/console/open", request, token)
    [command] = open_commands(site, "gate-02")
    await site.service.handle([(DeviceTopic(SITE, DeviceKind.GATE, "gate-02", Channel.ACK),
                                CommandAck(cmd_id=command.cmd_id, ok=False, error="lock jammed"))])
    failed = words(await site.page(first.headers["Location"]))
    assert "开门失败" in failed and "门禁回复：lock jammed" in failed

    second = await site.post("/access/console/open", request, token)
    site.clock.now = T0 + timedelta(seconds=30)
    await site.service.tick(site.clock.now)
    silent = words(await site.page(second.headers["Location"]))
    assert "门禁未回应" in silent and "没有回应" in silent

    await site.gates["gate-02"].disconnect(site.service)
    review = await site.post("/access/console/open", {**request, "step": "review"}, token)
    assert "门禁目前离线" in words(await review.text())
    offline = await site.post("/access/console/open", request, token)
    assert "门禁离线，指令未发送" in words(await site.page(offline.headers["Location"]))
    assert len(open_commands(site, "gate-02")) == 2


async def test_a_remote_open_without_a_door_or_a_reason_is_refused_with_a_message(site: Site) -> None:
    token = await site.sign_in("pm-1")
    blank = await site.post("/access/console/open", {"door": "", "reason": "  ", "step": "confirm"}, token)
    body = words(await blank.text())
    assert blank.status == 422 and "请选择要打开的门" in body and "请写明开门原因" in body
    foreign = await site.post("/access/console/open", {"door": "gate-07:1", "reason": "x", "step": "confirm"}, token)
    assert foreign.status == 422 and "请选择要打开的门" in words(await foreign.text())
    edit = await site.post("/access/console/open", {"door": "gate-01:2", "reason": "送货", "step": "edit"}, token)
    edited = await edit.text()
    assert edit.status == 200 and 'value="gate-01:2" checked' in edited and "送货</textarea>" in edited
    assert open_commands(site, "gate-01") == []


# --- guards -------------------------------------------------------------------------------------

async def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    token = await site.sign_in("pm-1")
    forged = await site.post("/access/console/open", {"door": "gate-01:1", "reason": "x", "step": "confirm"}, None)
    assert forged.status == 403 and "表单已失效" in words(await forged.text())
    wrong = await site.post("/access/console/open", {"door": "gate-01:1", "reason": "x", "step": "confirm"},
                            token[:-4] + "AAAA")
    assert wrong.status == 403
    assert open_commands(site, "gate-01") == []

    await site.sign_in("wang")
    invite = await site.post("/access/my/visitors", {"door": "gate-01:1", "hours": "4", "uses": "1"}, None)
    assert invite.status == 403 and await site.service.passes(resident_ids=["wang"]) == []


async def test_each_role_sees_only_its_pages(site: Site) -> None:
    signin = await site.client.get("/access/console", headers=HTML, allow_redirects=False)
    assert signin.status == 303 and signin.headers["Location"] == "/signin?next=/access/console"
    await site.sign_in("wang")
    assert "没有权限" in words(await site.page("/access/console", 403))
    assert "没有权限" in words(await site.page("/access/console/log", 403))
    await site.page("/access/my")
    await site.sign_in("pm-1")
    assert "没有权限" in words(await site.page("/access/my/visitors/new", 403))
    home = words(await site.page("/"))
    assert "门禁管理" in home and "我的门禁" not in home
    await site.sign_in("newcomer")
    assert "尚未登记住户信息" in words(await site.page("/access/my", 403))


# --- the access log -----------------------------------------------------------------------------

async def test_the_access_log_is_searched_and_paged_with_reasons_in_words(site: Site) -> None:
    for number in range(55):
        await site.event("gate-01", f"g{number:02d}", GateEventKind.GRANTED, method=AccessMethod.CARD,
                         credential=WANG_CARD, direction=Direction.IN, at=T0 - timedelta(minutes=60 - number))
    await site.event("gate-02", "d-1", GateEventKind.DENIED, method=AccessMethod.CARD, credential=UNKNOWN_CARD,
                     reason=DenialReason.UNKNOWN_CREDENTIAL, at=T0 - timedelta(minutes=3))
    await site.event("gate-02", "d-2", GateEventKind.DENIED, method=AccessMethod.CARD, credential=WANG_CARD,
                     reason=DenialReason.OUTSIDE_SCHEDULE, at=T0 - timedelta(minutes=2), offline=True)
    await site.sign_in("pm-1")

    denied = await site.page("/access/console/log?kind=denied")
    rows = re.findall(r'<tr data-event="([^"]+)"', denied)
    assert rows == ["gate-02/d-2", "gate-02/d-1"]
    text = words(denied)
    assert "不在允许通行的时段" in text and "未登记的卡或凭证" in text and "离线补传" in text

    first = await site.page("/access/console/log?person=%E7%8E%8B%E8%8A%B3")  # 王芳
    assert len(re.findall(r"<tr data-event=", first)) == 50
    older = re.search(r'href="([^"]*cursor=[^"]+)"', first)
    assert older is not None
    second = await site.page(html.unescape(older.group(1)))
    # 56 of wang's events (55 granted, the denied d-2 newest): 50 on the first page, 6 on the second
    assert re.findall(r'<tr data-event="([^"]+)"', second) == [f"gate-01/g{n:02d}" for n in range(5, -1, -1)]
    assert parse_qs(urlsplit(html.unescape(older.group(1))).query)["person"] == ["王芳"]

    window = await site.page("/access/console/log?gate=gate-01&since=2025-03-03T15:04&until=2025-03-03T15:06")
    assert re.findall(r'<tr data-event="([^"]+)"', window) == ["gate-01/g05", "gate-01/g04"]

    bad = await site.page("/access/console/log?since=yesterday&door=0&person=nobody&cursor=xyz", 400)
    text = words(bad)
    assert "开始时间的格式不对" in text and "门号是 1 到 1024 的数字" in text
    assert "没有住户编号或姓名为“nobody”的住户" in text and "翻页链接已失效" in text


# --- alarms -------------------------------------------------------------------------------------

async def test_an_alarm_is_acknowledged_then_resolved_with_notes_and_its_history_shown(site: Site) -> None:
    await site.event("gate-01", "e-forced", GateEventKind.FORCED, door=2)
    token = await site.sign_in("pm-1")
    acknowledged = await site.post("/access/console/alarms/1/acknowledge",
                                   {"note": "保安已出发", "next": "/access/console"}, token)
    assert acknowledged.status == 303 and acknowledged.headers["Location"] == "/access/console#alarm-1"
    card = words(item(await site.page("/access/console"), 'data-alarm="1"'))
    assert "处理中" in card and "张经理 确认： 保安已出发" in card and "确认收到" not in card

    site.clock.now = T0 + timedelta(minutes=4)
    resolved = await site.post("/access/console/alarms/1/resolve", {"note": "门已修好"}, token)
    assert resolved.status == 303 and resolved.headers["Location"] == "/access/console/alarms#alarm-1"
    assert 'data-alarm="1"' not in await site.page("/access/console")
    history = words(item(await site.page("/access/console/alarms?status=resolved"), 'data-alarm="1"'))
    assert "已解决" in history and "张经理 确认： 保安已出发" in history and "张经理 解决： 门已修好" in history

    again = await site.post("/access/console/alarms/1/resolve", {"note": ""}, token)
    assert again.status == 409 and "告警 #1 当前为“已解决”，不能再解决" in words(await again.text())
    assert "告警不存在" in words(await (await site.post("/access/console/alarms/99/resolve", {}, token)).text())
    long = await site.post("/access/console/alarms/1/resolve", {"note": "长" * 501}, token)
    assert long.status == 422


# --- residents ----------------------------------------------------------------------------------

async def test_my_unit_shows_the_household_with_masked_phones_and_credentials_by_hint(site: Site) -> None:
    await site.sign_in("wang")
    page = await site.page("/access/my")
    text = words(page)
    assert "1栋 2单元 301" in text and "89.37 m²" in text
    household = words(section(page, "household"))
    assert "王芳 我 业主 138****5678" in household and "李强 家庭成员 —" in household and "赵敏" not in household
    assert "13812345678" not in page
    credentials = words(section(page, "credentials"))
    assert "门禁卡 尾号 5678" in credentials and "人脸 已录入" in credentials
    assert WANG_CARD not in page and "P-wang" not in page
    doors = words(section(page, "doors"))
    assert "东门 小区出入口 全天" in doors and "1栋（楼栋门） 单元门 每天 06:00–23:00" in doors


async def test_a_resident_invites_a_visitor_and_gets_a_qr_pass_that_a_gate_accepts(site: Site) -> None:
    token = await site.sign_in("wang")
    form = await site.page("/access/my/visitors/new")
    assert 'value="gate-01:1"' in form and 'value="gate-02:1"' in form and 'value="gate-02:2"' not in form
    created = await site.post("/access/my/visitors", [
        ("door", "gate-01:1"), ("door", "gate-02:1"), ("start", ""), ("hours", "4"), ("uses", "2"),
        ("visitor_name", "张师傅"), ("visitor_phone", "13900002222")], token)
    assert created.status == 303, await created.text()
    [record] = await site.service.passes(resident_ids=["wang"])
    assert created.headers["Location"] == f"/access/my/visitors/{record.pass_id}?new=1"
    page = await site.page(created.headers["Location"])
    text = words(page)
    assert "张师傅" in text and "有效" in text and "剩余 2 次" in text and "03-03 16:00 至 03-03 20:00 有效" in text
    assert "东门、1栋（楼栋门）" in text and "139****2222" in text and "13900002222" not in page
    pass_text = site.service.pass_text(record)
    assert qr_svg(pass_text, "访客通行二维码") in page
    assert verify(pass_text, PASS_KEY, Door("gate-01", 1), T0, 0) == record.visitor_pass

    listed = words(item(await site.page("/access/my/visitors"), f'data-pass="{record.pass_id}"'))
    assert "张师傅" in listed and "已用 0/2 次" in listed and "有效" in listed


async def test_an_invitation_breaking_the_rules_is_refused_with_the_reasons(site: Site) -> None:
    token = await site.sign_in("wang")
    refused = await site.post("/access/my/visitors", [
        ("door", "gate-02:2"), ("hours", "48"), ("uses", "0"), ("visitor_name", "名" * 40),
        ("visitor_phone", "call me"), ("start", "2025-03-01T08:00")], token)
    text = words(await refused.text())
    assert refused.status == 422
    for reason in ("只能邀请访客通过您自己可以通行的门", "有效时长为 1 到 24 小时", "可用次数为 1 到 100 次",
                   "访客称呼不能超过 32 个字", "访客手机号的格式不对", "开始时间已经过去"):
        assert reason in text
    nothing = await site.post("/access/my/visitors", [("hours", "4"), ("uses", "1")], token)
    assert nothing.status == 422 and "请至少选择一扇门" in words(await nothing.text())
    assert await site.service.passes(resident_ids=["wang"]) == []


async def test_an_invitation_beyond_the_residents_own_access_or_pass_limit_is_refused_with_the_reason(
        site: Site) -> None:
    token = await site.sign_in("wang")  # wang opens 1栋 from 06:00 to 23:00 only; it is 16:00
    late = await site.post("/access/my/visitors", [
        ("door", "gate-02:1"), ("start", ""), ("hours", "8"), ("uses", "1")], token)
    assert late.status == 422
    assert "您本人只能在 2025-03-03 23:00 之前通过1栋（楼栋门），请让通行码在此之前结束" in words(await late.text())
    assert await site.service.passes(resident_ids=["wang"]) == []
    for _ in range(SETTINGS.max_active_passes):
        await site.service.invite("wang", frozenset({Door("gate-01", 1)}))
    full = await site.post("/access/my/visitors", [
        ("door", "gate-01:1"), ("start", ""), ("hours", "4"), ("uses", "1")], token)
    assert full.status == 409
    assert f"您已有 {SETTINGS.max_active_passes} 张有效的访客通行码，已达上限" in words(await full.text())
    assert len(await site.service.passes(resident_ids=["wang"])) == SETTINGS.max_active_passes


async def test_a_resident_revokes_a_visitor_and_nobody_else_sees_the_pass(site: Site) -> None:
    issued = await site.service.invite("wang", frozenset({Door("gate-01", 1)}), visitor_name="小李")
    await site.sign_in("zhao")
    assert "不是您的访客" in words(await site.page(f"/access/my/visitors/{issued.record.pass_id}", 403))
    assert "通行码不存在" in words(await site.page("/access/my/visitors/vp-nope", 404))
    zhao_token = await site.sign_in("zhao")
    stolen = await site.post(f"/access/my/visitors/{issued.record.pass_id}/revoke", {}, zhao_token)
    assert stolen.status == 403

    token = await site.sign_in("wang")
    revoked = await site.post(f"/access/my/visitors/{issued.record.pass_id}/revoke", {}, token)
    assert revoked.status == 303
    listed = await site.page(revoked.headers["Location"])
    assert "通行码已撤销" in words(listed) and "已撤销" in words(item(listed, 'data-pass="'))
    page = await site.page(f"/access/my/visitors/{issued.record.pass_id}")
    assert "<svg" not in page and "二维码已不可用" in words(page)
    again = await site.post(f"/access/my/visitors/{issued.record.pass_id}/revoke", {}, token)
    assert again.status == 409 and "无需再撤销" in words(await again.text())


# --- former residents; the live feed's gaps ---------------------------------------------------------

async def test_a_former_resident_sees_no_resident_pages_and_the_household_only_active_members(site: Site) -> None:
    await site.service.move_out("li", "pm-1")
    await site.sign_in("wang")
    household = words(section(await site.page("/access/my"), "household"))
    assert "王芳" in household and "李强" not in household
    await site.service.move_out("wang", "pm-1")
    closed = words(await site.page("/access/my", 403))
    assert "住户登记已失效" in closed and "2单元 301" not in closed and "李强" not in closed
    await site.page("/access/my/visitors", 403)


async def test_the_console_feed_resumes_from_where_the_page_was_rendered(site: Site) -> None:
    await site.sign_in("pm-1")
    page = await site.page("/access/console")
    position = site.service.feed.position
    assert f"last_event_id={position}" in page
    await site.event("gate-01", "while-loading", GateEventKind.GRANTED, method=AccessMethod.CARD,
                     credential=WANG_CARD, direction=Direction.IN)  # after the page, before the stream connects
    response = await site.client.get(f"/access/console/live?last_event_id={position}")
    (missed,) = await sse_messages(response, 1)
    assert missed["event"] == "event" and 'data-event="gate-01/while-loading"' in missed["data"]["row"]
    response.close()


async def test_the_console_says_when_a_gap_cannot_be_filled(site: Site) -> None:
    await site.sign_in("pm-1")
    response = await site.client.get("/access/console/live", headers={"Last-Event-ID": "00000000.3"})
    (gap,) = await sse_messages(response, 1)
    assert gap["event"] == "gap" and gap["data"]["notice"] == "有遗漏，请刷新"
    assert "有遗漏，请刷新" in words(gap["data"]["row"]) and 'href="/access/console' in gap["data"]["row"]
    assert gap["id"] == site.service.feed.position
    response.close()


async def test_the_console_and_the_api_count_against_one_share_of_the_live_feed(site: Site) -> None:
    await site.sign_in("pm-1")
    consoles = [await site.client.get("/access/console/live") for _ in range(2)]
    token = AUTHORITY.issue("pm-1", [Role.PROPERTY_MANAGER], T0 - timedelta(days=1), timedelta(days=30))
    scripts = [await site.client.get("/api/access/live", headers={"Authorization": f"Bearer {token}"})
               for _ in range(3)]  # the same account: five streams, one more than its share
    assert [response.status for response in (*consoles, scripts[-1])] == [200] * 3
    (ended,) = await sse_messages(consoles[0], 1)
    assert ended["event"] == "superseded" and "id" not in ended
    notice = "实时动态已在您的另一个窗口打开，此处已停止更新"
    assert ended["data"]["notice"] == notice and notice in words(ended["data"]["row"])
    assert 'href="/access/console' in ended["data"]["row"], "a link to take the live feed back here"
    assert site.service.feed.subscribers == 4
    for response in (*consoles, *scripts):
        response.close()
