"""The console's pages for doors and permissions, on both databases: access groups (list, create, change: doors as
checkboxes, weekly windows as rows, each refusal next to its field, the gates sent their new whitelists), gates
(doors, online and sync state, the whitelist summary, registering one with its door rows, a resync) and the
community's visitor passes (statuses, inviter, revoking one after a confirmation) — within the manager's community
(another's id: the page an unknown id gets), read-only for a supervisor, closed to residents."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.pages import mount_access_pages
from community.access.permissions import Door
from community.access.service import AccessService
from community.access.visitors import PassStatus
from devices.gate_memory import GateMemory
from gateway.outputs.embedded import EmbeddedStore
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_access_scope import PLUM
from tests.integration.test_access_service import KEYS, LOTUS, PASS_KEY, SETTINGS, SITE_KEY, T0, Clock, SimulatedGate
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"d" * 32)
PASSWORD = "doors-pages-test-password"
GROUPS, GATES, VISITORS = "/access/console/groups", "/access/console/gates", "/access/console/visitors"
ACCOUNTS: Mapping[str, tuple[Role, set[str]]] = {
    "pm-lotus": (Role.PROPERTY_MANAGER, {"lotus"}), "pm-plum": (Role.PROPERTY_MANAGER, {"plum"}),
    "sup-lotus": (Role.SUPERVISOR, {"lotus"}), "wang": (Role.RESIDENT, {"lotus"}),
}


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    service: AccessService
    downlink: RecordingDownlink
    clock: Clock
    gates: dict[str, SimulatedGate]
    plum_pass: str

    async def settle(self) -> None:
        for gate in self.gates.values():
            await gate.settle(self.service, self.downlink, self.clock.now)

    async def desired(self, gate_id: str) -> int | None:
        return (await self.service.gate_status(gate_id)).desired_version

    async def same_as_unknown(self, method: str, path: str, unknown_path: str, real: str, unknown: str,
                              token: str | None = None, data: Mapping[str, str] | None = None) -> str:
        """The answer for ``path`` (naming another community's ``real`` id) is the one an unknown id gets."""
        answers = []
        for target in (path, unknown_path):
            if method == "GET":
                response = await self.client.get(target, headers=HTML, allow_redirects=False)
            else:
                response = await self.post(target, data or {}, token)
            answers.append((response.status, await response.text()))
        (status, page), (unknown_status, unknown_page) = answers
        assert (status, page) == (unknown_status, unknown_page.replace(unknown, real)), path
        assert status == 404
        return page


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock(T0)
    accounts = AccountService(engine)
    for account_id, (role, _) in ACCOUNTS.items():
        await accounts.create_account(account_id, account_id, [role], PASSWORD, T0)
    async with engine.begin() as connection:
        for account_id, (_, communities) in ACCOUNTS.items():
            await AccountRepository(connection).assign(account_id, Scope(frozenset(communities)))
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    await service.import_community(PLUM)
    plum_pass = await service.invite("mei", frozenset({Door("plum-gate-01", 1)}), visitor_name="梅友")
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
    mount_portal(app)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, service, downlink, clock, gates, plum_pass.record.pass_id)
    await store.close()


def words(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def problem(page: str, prefix: str, name: str) -> str:
    """What the page says is wrong with field ``name`` of the form ``prefix``, next to the field."""
    found = re.search(rf'<div class="field-problem" id="{re.escape(prefix)}-{re.escape(name)}-problem">([^<]*)</div>',
                      page)
    assert found is not None, f"no problem shown next to {name}"
    return html.unescape(found.group(1))


def problems(page: str) -> dict[str, str]:
    return {name: html.unescape(text) for name, text in
            re.findall(r'<div class="field-problem" id="[a-z-]+?-([A-Za-z0-9_]+)-problem">([^<]*)</div>', page)}


def row(page: str, marker: str) -> str:
    start = page.index(marker)
    return page[start:page.index("</tr>", start)]


def group_form(group_id: str = "night", name: str = "夜班保安", doors: tuple[str, ...] = ("gate-01:1",),
               windows: tuple[tuple[str, str, str], ...] = (("01234", "07:00", "22:00"),),
               **extra: str) -> list[tuple[str, str]]:
    """A group's form as a browser sends it: ``windows`` as (days 0..6 as digits, start, end) rows, the rest
    blank (4 rows)."""
    fields = [("group_id", group_id), ("name", name)] + [("door", door) for door in doors]
    for number in range(4):
        days, start, end = windows[number] if number < len(windows) else ("", "", "")
        fields += [(f"w{number}_days", day) for day in days]
        fields += [(f"w{number}_start", start), (f"w{number}_end", end)]
    fields += [("valid_from", extra.pop("valid_from", "")), ("valid_to", extra.pop("valid_to", ""))]
    return fields + list(extra.items())


def gate_form(gate_id: str = "gate-03", name: str = "北门",
              doors: tuple[tuple[str, str, str, str], ...] = (("1", "北门", "entrance", ""),)) -> list[tuple[str, str]]:
    """A gate's registration form: ``doors`` as (number, name, kind, building) rows, the rest blank (4 rows)."""
    fields = [("gate_id", gate_id), ("name", name)]
    for number in range(4):
        door = doors[number] if number < len(doors) else ("", "", "entrance", "")
        fields += list(zip((f"d{number}_number", f"d{number}_name", f"d{number}_kind", f"d{number}_building_id"),
                           door, strict=True))
    return fields


# --- access groups ---------------------------------------------------------------------------------

async def test_the_groups_are_listed_with_their_doors_windows_and_members(site: Site) -> None:
    await site.sign_in("pm-lotus")
    console = await site.page("/access/console")
    for path, label in ((GROUPS, "权限组"), (GATES, "门禁设备"), (VISITORS, "访客")):
        assert f'<a href="{path}">{label}</a>' in console, "the console's tabs lead to the pages"
    page = await site.page(GROUPS)
    text = words(page)
    assert "权限组 荷花小区" in text and "权限组 4 个" in text
    building = words(row(page, 'data-group="b1"'))
    assert "1栋" in building and "1栋（楼栋门）" in building and "每天 06:00–23:00" in building
    assert "2 位" in building, "王芳 and 李强 hold it"
    entrance = words(row(page, 'data-group="entrance"'))
    assert "东门" in entrance and "全天" in entrance and "3 位" in entrance and "长期" in entrance
    garage = words(row(page, 'data-group="garage"'))
    assert "至 2025-04-02 16:00" in garage, "its validity, in Shanghai time"
    assert 'href="/access/console/groups/b1"' in page
    assert "新建权限组" in page and 'value="gate-02:2"' in page, "the form offers every door of the gates"
    assert page.count('name="w3_start"') == 1 and 'name="w4_start"' not in page, "four rows of windows"


async def test_a_manager_creates_a_group_with_several_windows_one_running_overnight(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    response = await site.post(GROUPS, group_form(
        doors=("gate-01:1", "gate-02:1"),
        windows=(("01234", "07:00", "22:00"), ("56", "22:00", "06:00"), ("", "", "")),
        valid_to="2025-12-31T18:00"), token)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == f"{GROUPS}?saved=night#group-night"
    [record] = [g for g in await site.service.groups("lotus") if g.group.group_id == "night"]
    assert record.name == "夜班保安"
    assert record.group.doors == {Door("gate-01", 1), Door("gate-02", 1)}
    assert [w.to_payload() for w in record.group.windows] == [
        {"days": [0, 1, 2, 3, 4], "start": "07:00:00", "end": "22:00:00"},
        {"days": [5, 6], "start": "22:00:00", "end": "06:00:00"}]
    assert record.group.valid_to == datetime(2025, 12, 31, 10, tzinfo=UTC), "18:00 in Shanghai"
    page = await site.page(response.headers["Location"])
    assert "权限组“夜班保安”已保存" in words(page)
    night = words(row(page, 'data-group="night"'))
    assert "周一至周五 07:00–22:00；周末 22:00–（次日）06:00" in night, "an end before the start runs overnight"
    assert "东门、1栋（楼栋门）" in night and "0 位" in night


async def test_changing_a_group_sends_the_gates_their_new_whitelists(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    form = await site.page(f"{GROUPS}/b1")
    assert 'value="1栋"' in form and 'name="group_id"' not in form, "the id is the page's, not a field"
    assert re.search(r'value="gate-02:1" checked', form) and not re.search(r'value="gate-01:2" checked', form)
    assert re.search(r'name="w0_days" value="6" checked', form)
    assert 'name="w0_start" type="time" value="06:00"' in form and 'name="w0_end" type="time" value="23:00"' in form
    assert 'name="w1_start" type="time" value=""' in form, "a blank row more than the group has"
    before = await site.desired("gate-01")
    site.gates["gate-01"].skip(site.downlink)

    response = await site.post(f"{GROUPS}/b1", group_form(
        group_id="ignored", name="1栋住户", doors=("gate-02:1", "gate-01:2"),
        windows=(("0123456", "05:30", "23:30"),)), token)
    assert response.status == 303, await response.text()
    [record] = [g for g in await site.service.groups("lotus") if g.group.group_id == "b1"]
    assert record.name == "1栋住户" and Door("gate-01", 2) in record.group.doors
    assert not [g for g in await site.service.groups("lotus") if g.group.group_id == "ignored"]
    after = await site.desired("gate-01")
    assert before is not None and after == before + 1, "1栋's residents now open the garage: a new list"
    assert [c.op for c in site.gates["gate-01"].pending(site.downlink)], "the gate is sent it"
    await site.settle()
    assert (await site.service.gate_status("gate-01")).in_sync
    page = await site.page(f"{GROUPS}?saved=b1")
    assert "每天 05:30–23:30" in words(row(page, 'data-group="b1"'))


@pytest.mark.parametrize(("form", "field", "reason", "status"), [
    (group_form(group_id="东门 组"), "group_id", "编号为 1–64 位字母、数字或 _ . : -", 400),
    (group_form(group_id=""), "group_id", "请填写权限组编号", 400),
    (group_form(group_id="b1"), "group_id", "编号 b1 已被使用", 409),
    (group_form(group_id="plum-entrance"), "group_id", "编号 plum-entrance 已被使用", 409),
    (group_form(name="名" * 101), "name", "名称为 1–100 个字", 400),
    (group_form(name=""), "name", "请填写名称", 400),
    (group_form(doors=()), "doors", "请至少选择一扇门", 400),
    (group_form(doors=("gate-99:1",)), "doors", "本小区没有这扇门：gate-99:1", 422),
    (group_form(doors=("plum-gate-01:1",)), "doors", "本小区没有这扇门：plum-gate-01:1", 422),
    (group_form(doors=("gate-01:9",)), "doors", "本小区没有这扇门：gate-01:9", 422),
    (group_form(windows=()), "windows", "请至少填写一个通行时段", 400),
    (group_form(windows=(("", "07:00", "22:00"),)), "w0_days", "请选择星期几", 400),
    (group_form(windows=(("01", "07:00", ""),)), "w0_end", "请填写结束时间", 400),
    (group_form(windows=(("01", "7点", "22:00"),)), "w0_start", "开始时间的格式为 07:00", 400),
    (group_form(windows=(("01", "07:00", "22:00"), ("5", "25:00", "06:00"))), "w1_start", "25:00 不是有效的时刻", 422),
    (group_form(valid_from="2025-06-01T08:00", valid_to="2025-05-01T08:00"), "valid_to", "失效时间须晚于生效时间", 422),
    (group_form(valid_from="明天"), "valid_from", "生效时间的格式应为 2026-01-01 08:00", 400),
])
async def test_a_refused_group_says_why_next_to_the_field_and_keeps_what_was_typed(
        site: Site, form: list[tuple[str, str]], field: str, reason: str, status: int) -> None:
    token = await site.sign_in("pm-lotus")
    before = await site.service.groups("lotus")
    response = await site.post(GROUPS, form, token)
    page = await response.text()
    assert response.status == status, page
    assert reason in problem(page, "new-group", field), problems(page)
    assert "权限组未保存" in page and 'id="new-group" open' in page
    assert len(problems(page)) == 1, problems(page)
    typed_name = dict(form)["name"]
    if typed_name:
        assert f'value="{typed_name}"' in page, "the form keeps what was typed"
    assert await site.service.groups("lotus") == before, "nothing stored"


async def test_a_change_is_refused_next_to_the_field_too(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    response = await site.post(f"{GROUPS}/b1", group_form(windows=(("0", "07:00", "22:00"), ("", "08:00", "09:00"))),
                               token)
    page = await response.text()
    assert response.status == 400
    assert "请选择星期几" in problem(page, "group", "w1_days")
    assert 'name="w0_days" value="0" checked' in page and 'name="w1_start" type="time" value="08:00"' in page
    [record] = [g for g in await site.service.groups("lotus") if g.group.group_id == "b1"]
    assert record.name == "1栋", "unchanged"


async def test_another_communitys_group_is_answered_as_an_unknown_one(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    page = await site.same_as_unknown("GET", f"{GROUPS}/plum-entrance", f"{GROUPS}/zz-group", "plum-entrance",
                                      "zz-group")
    assert "权限组不存在" in page and "梅园" not in page
    await site.same_as_unknown("POST", f"{GROUPS}/plum-entrance", f"{GROUPS}/zz-group", "plum-entrance", "zz-group",
                               token, dict(group_form(doors=("plum-gate-01:1",))))
    [plum] = await site.service.groups("plum")
    assert plum.name == "大门" and plum.group.windows == PLUM.groups[0].group.windows, "unchanged"
    assert "小区不存在" in await site.page(f"{GROUPS}?community=plum", 404)
    assert "权限组不存在" in await site.page(f"{GROUPS}/{'x' * 300}", 404)


# --- gates -----------------------------------------------------------------------------------------

async def test_the_gates_show_their_doors_online_state_and_whitelist_sync(site: Site) -> None:
    await site.gates["gate-02"].disconnect(site.service)
    await site.sign_in("pm-lotus")
    page = await site.page(GATES)
    east = words(row(page, 'data-gate="gate-01"'))
    assert "东门" in east and "1号 东门、2号 地库入口" in east and "在线" in east and "已同步" in east
    status = await site.service.gate_status("gate-01")
    assert f"应为 v{status.desired_version} · 已确认 v{status.acked_version}" in east
    assert f"{status.whitelist_entries} 条凭证" in east and status.whitelist_entries > 0
    assert "离线" in words(row(page, 'data-gate="gate-02"'))
    assert 'href="/access/console/gates/gate-01#whitelist"' in page
    assert "立即重新同步白名单" in page and "登记门禁" in page

    gate = await site.page(f"{GATES}/gate-01")
    text = words(gate)
    assert f"白名单 v{status.desired_version} · {status.whitelist_entries} 条凭证" in text
    assert "门禁卡" in text and "人脸" in text, "the list's credentials by kind"
    assert "大门" in words(gate[gate.index('id="groups"'):]) and "地库" in text
    assert "0012345678" not in gate, "hashes only, never a card number"


async def test_a_manager_registers_a_gate_with_its_doors(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    page = await site.page(GATES)
    assert page.count('name="d3_number"') == 1 and 'name="d4_number"' not in page, "four door rows"
    response = await site.post(GATES, gate_form(doors=(("1", "北门", "entrance", ""), ("", "", "entrance", ""),
                                                       ("2", "1栋北单元", "building", "b1"))), token)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == f"{GATES}?added=gate-03#gate-gate-03"
    gate = await site.service.gate("gate-03")
    assert gate.community_id == "lotus" and gate.name == "北门"
    assert [(d.number, d.name, d.kind.value, d.building_id) for d in gate.doors] == [
        (1, "北门", "entrance", None), (2, "1栋北单元", "building", "b1")]
    page = await site.page(response.headers["Location"])
    assert "门禁“北门”已登记" in words(page) and "1号 北门、2号 1栋北单元" in words(row(page, 'data-gate="gate-03"'))
    groups = await site.page(GROUPS)
    assert 'value="gate-03:2"' in groups, "its doors can go into groups at once"


@pytest.mark.parametrize(("form", "field", "reason", "status"), [
    (gate_form(gate_id="gate-01"), "gate_id", "门禁编号 gate-01 已被使用", 409),
    (gate_form(gate_id="plum-gate-01"), "gate_id", "门禁编号 plum-gate-01 已被使用", 409),
    (gate_form(gate_id="gate 03"), "gate_id", "门禁编号为 1–64 位字母、数字、_ 或 -", 400),
    (gate_form(gate_id="北门"), "gate_id", "门禁编号为 1–64 位字母、数字、_ 或 -", 400),
    (gate_form(name="门" * 101), "name", "名称为 1–100 个字", 400),
    (gate_form(doors=()), "doors", "请至少填写一扇门", 400),
    (gate_form(doors=(("1", "北门", "entrance", ""), ("1", "侧门", "entrance", ""))), "d1_number",
     "门号 1 与第 1 行重复", 400),
    (gate_form(doors=(("0", "北门", "entrance", ""),)), "d0_number", "门号为 1–1024 的整数", 400),
    (gate_form(doors=(("一", "北门", "entrance", ""),)), "d0_number", "门号为 1–1024 的整数", 400),
    (gate_form(doors=(("1", "", "entrance", ""),)), "d0_name", "请填写门的名称", 400),
    (gate_form(doors=(("1", "北门", "window", ""),)), "d0_kind", "请选择类型", 400),
    (gate_form(doors=(("1", "北门", "building", "pb1"),)), "d0_building_id", "请选择本小区的楼栋", 422),
])
async def test_a_refused_gate_says_why_next_to_the_field(site: Site, form: list[tuple[str, str]], field: str,
                                                         reason: str, status: int) -> None:
    token = await site.sign_in("pm-lotus")
    response = await site.post(GATES, form, token)
    page = await response.text()
    assert response.status == status, page
    assert reason in problem(page, "new-gate", field), problems(page)
    assert len(problems(page)) == 1, problems(page)
    assert "门禁未保存" in page and 'id="new-gate" open' in page
    assert [g.gate_id for g in await site.service.gates("lotus")] == ["gate-01", "gate-02"], "nothing stored"
    assert {g.gate_id for g in await site.service.gates("plum")} == {"plum-gate-01"}


async def test_a_resync_recomputes_the_whitelists_now(site: Site) -> None:
    site.clock.now = T0 + timedelta(days=70)  # 赵敏's card and the garage group have run out since
    token = await site.sign_in("pm-lotus")
    before = await site.desired("gate-01")
    site.gates["gate-01"].skip(site.downlink)
    response = await site.post(f"{GATES}/resync", {"community": "lotus"}, token)
    assert response.status == 303 and response.headers["Location"] == f"{GATES}?resynced=1"
    assert before is not None and await site.desired("gate-01") == before + 1
    assert site.gates["gate-01"].pending(site.downlink), "the gate is sent its new list"
    assert "已重新计算本小区各门禁的白名单" in words(await site.page(f"{GATES}?resynced=1"))


async def test_another_communitys_gate_is_answered_as_an_unknown_one(site: Site) -> None:
    await site.sign_in("pm-lotus")
    page = await site.same_as_unknown("GET", f"{GATES}/plum-gate-01", f"{GATES}/zz-gate", "plum-gate-01", "zz-gate")
    assert "门禁不存在" in page and "梅园" not in page
    assert "门禁不存在" in await site.page(f"{GATES}/not%20an%20id", 404)
    assert "小区不存在" in await site.page(f"{GATES}?community=plum", 404)
    token = await site.sign_in("pm-plum")
    response = await site.post(f"{GATES}/resync?community=lotus", {}, token)
    assert response.status == 404


# --- visitor passes --------------------------------------------------------------------------------

async def test_the_manager_sees_the_communitys_passes_and_revokes_one_after_confirming(site: Site) -> None:
    service = site.service
    visit = await service.invite("wang", frozenset({Door("gate-01", 1)}), visitor_name="张三",
                                 visitor_phone="13600001234", valid_to=T0 + timedelta(hours=8))
    short = await service.invite("zhao", frozenset({Door("gate-01", 1)}), visitor_name="快递",
                                 valid_to=T0 + timedelta(hours=1))
    gone = await service.invite("zhao", frozenset({Door("gate-02", 2)}), visitor_name="钟点工")
    await service.revoke_pass(gone.record.pass_id, "zhao")
    site.clock.now = T0 + timedelta(hours=2)
    token = await site.sign_in("pm-lotus")
    page = await site.page(VISITORS)
    assert site.plum_pass not in page and "梅友" not in page, "another community's passes are not listed"
    active = words(row(page, f'data-pass="{visit.record.pass_id}"'))
    assert "张三" in active and "136****1234" in active and "13600001234" not in page
    assert "王芳" in active and "1栋 2单元 301" in active and "东门" in active and "有效" in active
    assert "03-03 16:00 至 03-04 00:00" in active and "0/4 次" in active
    assert "已过期" in words(row(page, f'data-pass="{short.record.pass_id}"'))
    revoked = words(row(page, f'data-pass="{gone.record.pass_id}"'))
    assert "已撤销" in revoked and "邀请人撤销" in revoked and "赵敏" in revoked
    assert page.count(">撤销</a>") == 1, "only a pass that may still be revoked offers it"
    expired = await site.page(f"{VISITORS}?status=expired")
    assert short.record.pass_id in expired and visit.record.pass_id not in expired

    confirm = await site.page(f"{VISITORS}/{visit.record.pass_id}/revoke")
    assert "确定要撤销这张通行码吗" in words(confirm) and "确认撤销" in confirm
    assert await service.visitor_pass(visit.record.pass_id) and (
        (await service.visitor_pass(visit.record.pass_id))[0].status(site.clock.now) is PassStatus.ACTIVE), \
        "looking is not revoking"
    before = await site.desired("gate-01")
    response = await site.post(f"{VISITORS}/{visit.record.pass_id}/revoke", {}, token)
    assert response.status == 303
    record, _ = await service.visitor_pass(visit.record.pass_id)
    assert record.status(site.clock.now) is PassStatus.REVOKED and record.revoked_by == "pm-lotus"
    assert before is not None and await site.desired("gate-01") == before + 1, "the gate blacklists it"
    page = await site.page(response.headers["Location"])
    assert "已撤销张三的通行码（王芳邀请）" in words(page)
    assert "pm-lotus撤销" in words(row(page, f'data-pass="{visit.record.pass_id}"'))

    again = await site.post(f"{VISITORS}/{visit.record.pass_id}/revoke", {}, token)
    assert again.status == 409 and "这张通行码已撤销或已过期" in await again.text()
    assert "这张通行码不能再撤销" in words(await site.page(f"{VISITORS}/{visit.record.pass_id}/revoke"))


async def test_another_communitys_pass_is_answered_as_an_unknown_one(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    plum = site.plum_pass
    page = await site.same_as_unknown("GET", f"{VISITORS}/{plum}/revoke", f"{VISITORS}/zz-pass/revoke", plum,
                                      "zz-pass")
    assert "通行码不存在" in page and "梅友" not in page
    await site.same_as_unknown("POST", f"{VISITORS}/{plum}/revoke", f"{VISITORS}/zz-pass/revoke", plum, "zz-pass",
                               token)
    record, _ = await site.service.visitor_pass(plum)
    assert record.revoked_at is None, "not revoked"
    assert "小区不存在" in await site.page(f"{VISITORS}?community=plum", 404)


# --- who may --------------------------------------------------------------------------------------

async def test_a_supervisor_reads_the_groups_and_gates_and_changes_nothing(site: Site) -> None:
    token = await site.sign_in("sup-lotus")
    portal = await site.page("/")
    assert 'href="/access/console/gates"' in portal, "the supervisor finds the pages"
    groups = await site.page(GROUPS)
    assert "1栋" in groups and "新建权限组" not in groups and f'action="{GROUPS}"' not in groups
    start = groups.index('class="tabs')
    tabs = groups[start:groups.index("</nav>", start)]
    assert "权限组" in tabs and "门禁设备" in tabs and "控制台" not in tabs and "访客" not in tabs
    group = await site.page(f"{GROUPS}/b1")
    assert "每天 06:00–23:00" in words(group) and "<form" not in group.split('id="group"')[1]
    gates = await site.page(GATES)
    assert "东门" in gates and "登记门禁" not in gates and "重新同步" not in gates
    gate = await site.page(f"{GATES}/gate-01")
    assert "条凭证" in gate and "门禁卡" not in words(gate[gate.index('id="whitelist"'):]), "counts only"
    for path, data in ((GROUPS, group_form()), (f"{GROUPS}/b1", group_form(name="改名")), (GATES, gate_form()),
                       (f"{GATES}/resync", [])):
        response = await site.post(path, data, token)
        assert response.status == 403, path
    for path in (VISITORS, f"{VISITORS}/{site.plum_pass}/revoke"):
        assert "梅友" not in await site.page(path, 403), "passes are the managers'"
    assert "night" not in {g.group.group_id for g in await site.service.groups("lotus")}
    assert {g.gate_id for g in await site.service.gates("lotus")} == {"gate-01", "gate-02"}


async def test_residents_see_none_of_these_pages(site: Site) -> None:
    token = await site.sign_in("wang")
    for path in (GROUPS, f"{GROUPS}/b1", GATES, f"{GATES}/gate-01", VISITORS):
        page = await site.page(path, 403)
        assert "东门" not in page and "权限组 荷花小区" not in words(page), path
    for path, data in ((GROUPS, group_form()), (GATES, gate_form()), (f"{GATES}/resync", [])):
        response = await site.post(path, data, token)
        assert response.status == 403, path
    assert "night" not in {g.group.group_id for g in await site.service.groups("lotus")}
