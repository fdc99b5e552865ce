"""The compound's register in the manager's console, on both databases: buildings with their unit counts, a building's
units by entrance and page, adding a building and a unit; residents searched and paged, moving in, a resident's page
with their groups, credentials (enrolled and revoked by hint, never shown whole), moving out and revoking after a
confirmation — each form's refusal next to its field, the typed values kept; another community's ids answered as
unknown ones, supervisors reading the buildings only and changing nothing, residents seeing none of it."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.directory import ResidentRecord, ResidentRole, ResidentStatus, Unit
from community.access.pages import mount_access_pages
from community.access.pages.buildings import natural_key
from community.access.service import AccessService, NotFound
from gateway.outputs.embedded import EmbeddedStore
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import PageSession
from tests.integration.test_access_scope import PLUM
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, T0, WANG_CARD, Clock
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"r" * 32)
PASSWORD = "register-pages-test-password"
CONSOLE = "/access/console"
BUILDINGS = CONSOLE + "/buildings"
RESIDENTS = CONSOLE + "/residents"


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    service: AccessService

    async def send(self, path: str, fields: dict[str, str] | list[tuple[str, str]], token: str,
                   status: int) -> str:
        """Post a form; asserts the status, returns the page (or the redirect's location)."""
        response = await self.post(path, fields, token)
        body = await response.text()
        assert response.status == status, body[:3000]
        return str(response.headers["Location"]) if status == 303 else body


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock(T0)
    accounts = AccountService(engine)
    scopes = {"pm-lotus": ([Role.PROPERTY_MANAGER], {"lotus"}), "pm-plum": ([Role.PROPERTY_MANAGER], {"plum"}),
              "sup-lotus": ([Role.SUPERVISOR], {"lotus"}), "wang": ([Role.RESIDENT], {"lotus"})}
    for account_id, (roles, _) in scopes.items():
        await accounts.create_account(account_id, f"{account_id} 的名字", roles, PASSWORD, T0)
    async with engine.begin() as connection:
        for account_id, (_, communities) in scopes.items():
            await AccountRepository(connection).assign(account_id, Scope(frozenset(communities)))
    service = AccessService(engine, RecordingDownlink(), clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    await service.import_community(PLUM)
    store = EmbeddedStore(tmp_path / "timeseries.sqlite")
    await store.open()
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_access_pages(app, service, store)
    mount_portal(app)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, service)
    await store.close()


def words(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def problem(page: str, field: str) -> str:
    """What the form says next to the field ``field`` (its id: form prefix, dash, name), or ""."""
    found = re.search(rf'<div class="field-problem[^"]*" id="{re.escape(field)}-problem">([^<]*)</div>', page)
    return html.unescape(found.group(1)) if found else ""


def typed_value(page: str, field: str) -> str:
    found = re.search(rf'id="{re.escape(field)}" name="[^"]+" type="[^"]+" value="([^"]*)"', page)
    assert found is not None, field
    return html.unescape(found.group(1))


def row(page: str, element_id: str) -> str:
    start = page.rindex("<tr", 0, page.index(f'id="{element_id}"'))
    return words(page[start:page.index("</tr>", start)])


# --- buildings and units ------------------------------------------------------------------------

async def test_the_buildings_are_listed_with_their_unit_counts_and_a_building_and_a_unit_are_added(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    page = await site.page(BUILDINGS)
    assert row(page, "building-b1") == "1栋 b1 1 套"
    assert "2 栋楼" in words(page) and "2 套房屋" in words(page)
    assert 'aria-current="page">楼栋房屋</a>' in page and f'href="{RESIDENTS}"' in page, "the console's tabs"
    assert 'href="/access/console/buildings"' in await site.page(CONSOLE), "the console links to the register"

    location = await site.send(BUILDINGS, {"building_id": "b3", "name": "3栋"}, token, 303)
    assert location == f"{BUILDINGS}/b3?notice=building_added"
    added = words(await site.page(location))
    assert "楼栋已登记" in added and "这栋楼还没有登记房屋" in added

    location = await site.send(CONSOLE + "/units", {"building_id": "b3", "entrance": "1单元", "room": "101",
                                                    "area_m2": "８８.５", "unit_id": "b3-1-101"}, token, 303)
    assert location == f"{BUILDINGS}/b3?unit=b3-1-101&notice=unit_added#unit-b3-1-101"
    unit, community_id = await site.service.unit("b3-1-101")
    assert unit == Unit("b3-1-101", "b3", "1单元", "101", Decimal("88.5")) and community_id == "lotus"
    shown = await site.page(location.split("#")[0])
    assert row(shown, "unit-b3-1-101") == "101 b3-1-101 1单元 88.50 m² 空置 ＋ 登记住户"
    assert 'class="marked"' in shown
    assert row(await site.page(BUILDINGS), "building-b3") == "3栋 b3 1 套"


async def test_the_building_and_unit_forms_say_what_is_wrong_next_to_the_field(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    page = await site.send(BUILDINGS, {"building_id": "b1", "name": "又一个1栋"}, token, 409)
    assert problem(page, "building-building_id") == "楼栋编号 b1 已被使用，请换一个编号"
    assert typed_value(page, "building-name") == "又一个1栋", "the form keeps what was typed"
    page = await site.send(BUILDINGS, {"building_id": "b 4", "name": "楼" * 101}, token, 422)
    assert "字母、数字" in problem(page, "building-building_id") and "1–100 个字" in problem(page, "building-name")

    unit = {"building_id": "b1", "entrance": "1单元", "room": "102", "area_m2": "八十", "unit_id": "b1-1-102"}
    page = await site.send(CONSOLE + "/units", unit, token, 422)
    assert problem(page, "unit-area_m2") == "专有面积应是大于 0 的数字（平方米），最多两位小数，如 89.37"
    assert typed_value(page, "unit-area_m2") == "八十" and typed_value(page, "unit-room") == "102"
    assert "<details class=\"card\" id=\"new-unit\" open>" in page
    for area in ("0", "-3", "80.123", "NaN"):
        page = await site.send(CONSOLE + "/units", {**unit, "area_m2": area}, token, 422)
        assert "大于 0 的数字" in problem(page, "unit-area_m2"), area
    page = await site.send(CONSOLE + "/units", {**unit, "area_m2": "80", "unit_id": "b1-2-301"}, token, 409)
    assert problem(page, "unit-unit_id") == "房屋编号 b1-2-301 已被使用，请换一个编号"
    page = await site.send(CONSOLE + "/units", {**unit, "area_m2": "80", "building_id": "pb1"}, token, 422)
    assert problem(page, "unit-building_id") == "本小区没有这个楼栋，请从列表中选择", "another community's building"
    page = await site.send(CONSOLE + "/units", {**unit, "area_m2": "80", "entrance": "单" * 33, "room": ""}, token,
                           422)
    assert problem(page, "unit-entrance") == "单元最多 32 个字，如 2单元" and problem(page, "unit-room") == "请填写房号"
    with pytest.raises(NotFound):
        await site.service.unit("b1-1-102")


async def test_a_large_buildings_units_come_by_entrance_a_page_at_a_time_with_who_lives_there(site: Site) -> None:
    for number in range(1, 106):
        await site.service.add_unit(Unit(f"b1-1-{number}", "b1", "1单元", str(number), Decimal("60")))
    await site.service.add_resident(ResidentRecord("chen", "b1-1-3", ResidentRole.TENANT, "陈静", None,
                                                   frozenset()))
    await site.service.move_out("li", "pm")
    await site.sign_in("pm-lotus")
    page = await site.page(f"{BUILDINGS}/b1")
    assert "1单元 105" in words(page) and "2单元 1" in words(page), "the entrances, with their unit counts"
    rooms = re.findall(r'id="unit-(b1-1-\d+)"', page)
    assert len(rooms) == 100 and rooms[:3] == ["b1-1-1", "b1-1-2", "b1-1-3"] and rooms[9] == "b1-1-10", "by number"
    assert "第 1/2 页" in words(page) and "下一页" in words(page)
    assert "陈静 （租户）" in row(page, "unit-b1-1-3")
    second = await site.page(f"{BUILDINGS}/b1?entrance=1单元&page=2")
    assert re.findall(r'id="unit-(b1-1-\d+)"', second) == [f"b1-1-{n}" for n in range(101, 106)]
    other = await site.page(f"{BUILDINGS}/b1?entrance=2单元")
    assert row(other, "unit-b1-2-301") == ("301 b1-2-301 2单元 89.37 m² 王芳 （业主） 另有 1 位已迁出或停用 "
                                           "＋ 登记住户")
    jumped = await site.page(f"{BUILDINGS}/b1?unit=b1-1-104")
    assert "第 2/2 页" in words(jumped) and '<tr id="unit-b1-1-104" class="marked">' in jumped
    assert "第 2/2 页" in words(await site.page(f"{BUILDINGS}/b1?entrance=1单元&page=99")), "past the end: the last"
    await site.page(f"{BUILDINGS}/b1?entrance=9单元&page=x")


def test_entrances_and_rooms_sort_by_their_numbers() -> None:
    assert sorted(["10单元", "2单元", "1A", "A1", "3²", "B10", "B9"], key=natural_key) == [
        "1A", "2单元", "3²", "10单元", "A1", "B9", "B10"]


# --- residents ----------------------------------------------------------------------------------

async def test_residents_are_searched_by_name_unit_or_phone_tail_with_phones_masked(site: Site) -> None:
    await site.sign_in("pm-lotus")
    page = await site.page(RESIDENTS)
    assert row(page, "resident-wang") == "王芳 wang 1栋 2单元 301 b1-2-301 业主 138****5678 正常"
    assert "13812345678" not in page and "共 3 位" in words(page)
    assert 'aria-current="page">住户</a>' in page
    found = await site.page(f"{RESIDENTS}?q=5678")
    assert re.findall(r'<tr id="resident-(\w+)"', found) == ["wang"]
    assert re.findall(r'<tr id="resident-(\w+)"', await site.page(f"{RESIDENTS}?q=301")) == ["li", "wang"]
    assert re.findall(r'<tr id="resident-(\w+)"', await site.page(f"{RESIDENTS}?q=赵")) == ["zhao"]
    nothing = words(await site.page(f"{RESIDENTS}?q=1234"))
    assert "没有找到符合条件的住户" in nothing and "按后四位" in nothing
    await site.service.move_out("zhao", "pm")
    assert re.findall(r'<tr id="resident-(\w+)"', await site.page(RESIDENTS)) == ["li", "wang"], "current residents"
    moved = await site.page(f"{RESIDENTS}?status=moved_out")
    assert re.findall(r'<tr id="resident-(\w+)"', moved) == ["zhao"] and "已迁出" in row(moved, "resident-zhao")
    await site.page(f"{RESIDENTS}?status=nonsense&page=-1&q=" + "x" * 500)
    await site.page(f"{RESIDENTS}?q=%00%25_&page=99999999")


async def test_many_residents_come_a_page_at_a_time(site: Site) -> None:
    for number in range(55):
        await site.service.add_resident(ResidentRecord(f"p{number:02d}", "b2-1-101", ResidentRole.FAMILY,
                                                       f"家人{number}", None, frozenset()))
    await site.sign_in("pm-lotus")
    first = await site.page(RESIDENTS)
    assert len(re.findall(r'<tr id="resident-', first)) == 50 and "共 58 位 · 第 1–50 位" in words(first)
    assert "page=2" in first
    second = await site.page(f"{RESIDENTS}?status=active&page=2")
    assert len(re.findall(r'<tr id="resident-', second)) == 8 and "第 51–58 位" in words(second)


async def test_a_resident_moves_in_with_a_made_id_a_normalised_phone_and_groups(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    form = await site.page(f"{RESIDENTS}?unit=b2-1-101")
    assert typed_value(form, "resident-unit_id") == "b2-1-101" and 'id="move-in" open' in form
    location = await site.send(RESIDENTS, [
        ("name", "陈静"), ("unit_id", "b2-1-101"), ("role", "tenant"), ("phone", "139 0000 2222"),
        ("group_ids", "entrance"), ("group_ids", "b2")], token, 303)
    made = re.fullmatch(rf"{RESIDENTS}/(R[0-9A-F]{{8}})\?notice=moved_in", location)
    assert made is not None, location
    record, _ = await site.service.resident(made.group(1))
    assert (record.name, record.unit_id, record.role, record.phone, record.group_ids) == (
        "陈静", "b2-1-101", ResidentRole.TENANT, "13900002222", frozenset({"entrance", "b2"}))
    page = await site.page(location)
    assert "住户已登记" in words(page) and "139****2222" in page and "13900002222" not in page
    assert 'id="enrol" open' in page, "their credentials come next"

    location = await site.send(RESIDENTS, {"name": "周洋", "unit_id": "b2-1-101", "role": "family",
                                           "resident_id": "zhou"}, token, 303)
    assert location == f"{RESIDENTS}/zhou?notice=moved_in"
    assert (await site.service.resident("zhou"))[0].group_ids == frozenset()


async def test_a_move_in_form_says_what_is_wrong_next_to_each_field(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    good = {"name": "陈静", "unit_id": "b2-1-101", "role": "tenant", "phone": "13900002222"}
    page = await site.send(RESIDENTS, {**good, "phone": "1380013800"}, token, 422)
    assert problem(page, "resident-phone") == "手机号应是 11 位数字的手机号，如 13800138000"
    assert typed_value(page, "resident-phone") == "1380013800" and typed_value(page, "resident-name") == "陈静"
    page = await site.send(RESIDENTS, {**good, "unit_id": "nope-1"}, token, 422)
    assert problem(page, "resident-unit_id") == "本小区没有编号为 nope-1 的房屋"
    other = await site.send(RESIDENTS, {**good, "unit_id": "pb1-101"}, token, 422)
    assert problem(other, "resident-unit_id") == "本小区没有编号为 pb1-101 的房屋", "another community's unit"
    page = await site.send(RESIDENTS, {**good, "name": "陈" * 101}, token, 422)
    assert problem(page, "resident-name") == "姓名最多 100 个字"
    page = await site.send(RESIDENTS, {**good, "resident_id": "wang"}, token, 409)
    assert problem(page, "resident-resident_id") == "住户编号 wang 已被使用，请换一个编号（或留空自动生成）"
    page = await site.send(RESIDENTS, [*good.items(), ("group_ids", "plum-entrance")], token, 422)
    assert problem(page, "resident-group_ids") == "所选通行权限不属于本小区，请重新选择"
    page = await site.send(RESIDENTS, {**good, "role": "landlord", "name": "", "resident_id": "a b"}, token, 422)
    assert problem(page, "resident-role") == "请选择身份" and problem(page, "resident-name") == "请填写姓名"
    assert "字母、数字" in problem(page, "resident-resident_id")
    assert len(await site.service.residents("lotus")) == 3, "nothing saved"


async def test_a_residents_page_shows_their_unit_groups_and_credentials_by_hint_and_sets_their_groups(
        site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    page = await site.page(f"{RESIDENTS}/wang")
    text = words(page)
    assert "1栋 2单元 301" in text and "89.37 m²" in text and "138****5678" in text and "李强" in text
    assert "尾号 5678" in row(page, "credential-c-wang") and WANG_CARD not in page
    checked = re.findall(r'name="group_ids" value="([\w-]+)" checked', page)
    assert sorted(checked) == ["b1", "entrance", "garage"]
    assert "东门（东门）" not in text and "东门 · 全天" in text, "a group's doors and hours in words"
    location = await site.send(f"{RESIDENTS}/wang/groups", [("group_ids", "entrance")], token, 303)
    assert location == f"{RESIDENTS}/wang?notice=groups#groups"
    assert (await site.service.resident("wang"))[0].group_ids == {"entrance"}
    page = await site.send(f"{RESIDENTS}/wang/groups", [("group_ids", "plum-entrance")], token, 422)
    assert "所选通行权限不属于本小区" in words(page)
    assert (await site.service.resident("wang"))[0].group_ids == {"entrance"}
    await site.send(f"{RESIDENTS}/wang/groups", [], token, 303)
    assert (await site.service.resident("wang"))[0].group_ids == frozenset(), "none checked: no doors"


async def test_moving_out_and_revoking_are_confirmed_first(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    asked = await site.send(f"{RESIDENTS}/wang/move-out", {}, token, 200)
    assert "办理迁出？" in words(asked) and 'name="confirm" value="yes"' in asked
    assert (await site.service.resident("wang"))[0].status is ResidentStatus.ACTIVE, "nothing before the confirmation"
    location = await site.send(f"{RESIDENTS}/wang/move-out", {"confirm": "yes"}, token, 303)
    assert location == f"{RESIDENTS}/wang?notice=moved_out"
    assert (await site.service.resident("wang"))[0].status is ResidentStatus.MOVED_OUT
    page = await site.page(location)
    assert "已迁出" in words(page) and 'id="enrol"' not in page and "/move-out" not in page
    again = await site.send(f"{RESIDENTS}/wang/revoke", {"confirm": "yes"}, token, 409)
    assert "不能停用" in words(again)

    asked = await site.send(f"{RESIDENTS}/li/revoke", {}, token, 200)
    assert "停用住户？" in words(asked) and "拉黑" in words(asked)
    assert await site.send(f"{RESIDENTS}/li/revoke", {"confirm": "yes"}, token, 303) == f"{RESIDENTS}/li?notice=revoked"
    assert (await site.service.resident("li"))[0].status is ResidentStatus.REVOKED
    assert all(c.revoked_at is not None for c in await site.service.credentials_of("li"))


async def test_credentials_are_enrolled_shown_by_hint_and_revoked_after_a_confirmation(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    path = f"{RESIDENTS}/zhao/credentials"
    location = await site.send(path, {"kind": "card", "value": "0011223344"}, token, 303)
    assert location == f"{RESIDENTS}/zhao?notice=enrolled#credentials"
    await site.send(path, {"kind": "pin", "value": "８６４２１９", "valid_from": "2025-03-03T08:00",
                           "valid_to": "2025-09-01T00:00"}, token, 303)
    page = await site.page(f"{RESIDENTS}/zhao")
    assert "尾号 3344" in words(page) and "0011223344" not in page
    assert "已设置（不显示）" in words(page) and "864219" not in page and "８６４２１９" not in page
    assert "2025-03-03 08:00 至 2025-09-01 00:00" in words(page), "Shanghai wall-clock times"
    pin = next(c for c in await site.service.credentials_of("zhao") if c.kind.value == "pin")
    assert pin.valid_from == datetime(2025, 3, 3, tzinfo=UTC), "08:00 in Shanghai"

    asked = await site.send(f"{CONSOLE}/credentials/c-zhao/revoke", {}, token, 200)
    assert "停用凭证？" in words(asked) and "赵敏的门禁卡" in words(asked)
    assert (await site.service.credential("c-zhao"))[0].revoked_at is None
    location = await site.send(f"{CONSOLE}/credentials/c-zhao/revoke", {"confirm": "yes"}, token, 303)
    assert location == f"{RESIDENTS}/zhao?notice=credential_revoked#credentials"
    assert (await site.service.credential("c-zhao"))[0].revoked_by == "pm-lotus"
    page = await site.page(f"{RESIDENTS}/zhao")
    assert "已挂失/停用" in row(page, "credential-c-zhao") and "pm-lotus 的名字" in row(page, "credential-c-zhao")
    again = await site.send(f"{CONSOLE}/credentials/c-zhao/revoke", {"confirm": "yes"}, token, 409)
    assert "已经停用" in words(again)


async def test_an_enrolment_says_what_is_wrong_next_to_the_field_and_never_shows_the_value_again(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    path = f"{RESIDENTS}/zhao/credentials"
    page = await site.send(path, {"kind": "card", "value": WANG_CARD}, token, 409)
    assert problem(page, "credential-value") == ("这个门禁卡已登记给本小区的住户，不能重复登记"
                                                 "（已迁出住户留下的，请先在其页面停用）")
    assert WANG_CARD not in page and typed_value(page, "credential-value") == "", "a secret is never drawn again"
    page = await site.send(path, {"kind": "card", "value": ""}, token, 422)
    assert problem(page, "credential-value") == "请填写卡号、密码或编号"
    page = await site.send(path, {"kind": "key", "value": "x" * 129}, token, 422)
    assert problem(page, "credential-kind") == "请选择凭证类型" and "128" in problem(page, "credential-value")
    page = await site.send(path, {"kind": "card", "value": "0099887766", "valid_from": "2025-05-01T00:00",
                                  "valid_to": "2025-04-01T00:00"}, token, 422)
    assert problem(page, "credential-valid_to") == "失效时间应晚于生效时间"
    assert typed_value(page, "credential-valid_to") == "2025-04-01T00:00"
    page = await site.send(path, {"kind": "card", "value": "0099887766", "valid_to": "2150-01-01T00:00"}, token, 422)
    assert "2000–2099" in problem(page, "credential-valid_to")
    assert len(await site.service.credentials_of("zhao")) == 1, "nothing enrolled"
    await site.service.move_out("zhao", "pm")
    page = await site.send(path, {"kind": "card", "value": "0099887766"}, token, 409)
    assert "不能登记凭证" in words(page)


async def test_a_card_left_by_a_resident_who_moved_out_is_enrolled_again_once_revoked(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    await site.send(f"{RESIDENTS}/wang/move-out", {"confirm": "yes"}, token, 303)
    refused = await site.send(f"{RESIDENTS}/zhao/credentials", {"kind": "card", "value": WANG_CARD}, token, 409)
    assert "请先在其页面停用" in problem(refused, "credential-value")
    await site.send(f"{CONSOLE}/credentials/c-wang/revoke", {"confirm": "yes"}, token, 303)
    await site.send(f"{RESIDENTS}/zhao/credentials", {"kind": "card", "value": WANG_CARD}, token, 303)
    assert len([c for c in await site.service.credentials_of("zhao") if c.revoked_at is None]) == 2


# --- scope and roles ----------------------------------------------------------------------------

async def test_another_communitys_ids_get_the_page_of_an_unknown_id(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    for theirs, unknown in ((f"{BUILDINGS}/pb1", f"{BUILDINGS}/nope"), (f"{RESIDENTS}/mei", f"{RESIDENTS}/nope")):
        assert await site.page(theirs, 404) == await site.page(unknown, 404)
    for malformed in (f"{BUILDINGS}/{'x' * 300}", f"{RESIDENTS}/a%20b", f"{RESIDENTS}/%00"):
        await site.page(malformed, 404)
    await site.page(f"{BUILDINGS}?community=plum", 404)
    await site.page(f"{RESIDENTS}?community=plum", 404)
    posts = [(f"{RESIDENTS}/{{}}/move-out", {"confirm": "yes"}), (f"{RESIDENTS}/{{}}/revoke", {"confirm": "yes"}),
             (f"{RESIDENTS}/{{}}/groups", {"group_ids": "plum-entrance"}),
             (f"{RESIDENTS}/{{}}/credentials", {"kind": "card", "value": "0012121212"})]
    for template, fields in posts:
        assert await site.send(template.format("mei"), fields, token, 404) == \
            await site.send(template.format("nope"), fields, token, 404)
    assert await site.send(f"{CONSOLE}/credentials/c-mei/revoke", {"confirm": "yes"}, token, 404) == \
        await site.send(f"{CONSOLE}/credentials/nope/revoke", {"confirm": "yes"}, token, 404)
    await site.send(BUILDINGS, {"community": "plum", "building_id": "pb9", "name": "9栋"}, token, 404)
    await site.send(CONSOLE + "/units", {"community": "plum", "building_id": "pb1", "entrance": "1", "room": "9",
                                         "area_m2": "9", "unit_id": "pb1-9"}, token, 404)
    await site.send(RESIDENTS, {"community": "plum", "name": "梅", "unit_id": "pb1-101", "role": "family"}, token, 404)
    mei, _ = await site.service.resident("mei")
    assert mei.status is ResidentStatus.ACTIVE and mei.group_ids == {"plum-entrance"}
    assert (await site.service.credential("c-mei"))[0].revoked_at is None
    assert len(await site.service.credentials_of("mei")) == 1
    assert await site.service.unit_counts("plum") == {"pb1": 1}
    assert [b.building_id for b in await site.service.buildings("plum")] == ["pb1"]


async def test_a_supervisor_reads_the_buildings_and_units_but_not_who_lives_there_and_changes_nothing(
        site: Site) -> None:
    token = await site.sign_in("sup-lotus")
    page = await site.page(BUILDINGS)
    assert row(page, "building-b1") == "1栋 b1 1 套" and "添加楼栋" not in page and "添加房屋" not in page
    units = await site.page(f"{BUILDINGS}/b1")
    assert "89.37 m²" in words(units) and "王芳" not in units and "登记住户" not in units
    await site.page(RESIDENTS, 403)
    await site.page(f"{RESIDENTS}/wang", 403)
    for path, fields in ((BUILDINGS, {"building_id": "b9", "name": "9栋"}),
                         (CONSOLE + "/units", {"building_id": "b1", "entrance": "1", "room": "9", "area_m2": "9",
                                               "unit_id": "b1-9"}),
                         (RESIDENTS, {"name": "某", "unit_id": "b1-2-301", "role": "family"}),
                         (f"{RESIDENTS}/wang/groups", {}), (f"{RESIDENTS}/wang/move-out", {"confirm": "yes"}),
                         (f"{RESIDENTS}/wang/revoke", {"confirm": "yes"}),
                         (f"{RESIDENTS}/wang/credentials", {"kind": "card", "value": "0012121212"}),
                         (f"{CONSOLE}/credentials/c-wang/revoke", {"confirm": "yes"})):
        await site.send(path, fields, token, 403)
    wang, _ = await site.service.resident("wang")
    assert wang.status is ResidentStatus.ACTIVE and wang.group_ids == {"entrance", "b1", "garage"}
    assert [b.building_id for b in await site.service.buildings("lotus")] == ["b1", "b2"]
    assert len(await site.service.credentials_of("wang")) == 2 and len(await site.service.residents("lotus")) == 3


async def test_a_resident_sees_nothing_of_the_register_and_forms_need_their_token(site: Site) -> None:
    token = await site.sign_in("wang")
    for path in (BUILDINGS, f"{BUILDINGS}/b1", RESIDENTS, f"{RESIDENTS}/wang"):
        await site.page(path, 403)
    await site.send(f"{RESIDENTS}/wang/credentials", {"kind": "card", "value": "0012121212"}, token, 403)
    manager = await site.sign_in("pm-lotus")
    assert manager
    forged = await site.post(BUILDINGS, {"building_id": "b9", "name": "9栋"}, token=None)
    assert forged.status == 403 and "表单已失效" in words(await forged.text())
    assert [b.building_id for b in await site.service.buildings("lotus")] == ["b1", "b2"]
    site.client.session.cookie_jar.clear()
    signed_out = await site.client.get(RESIDENTS, allow_redirects=False)
    assert signed_out.status == 303 and signed_out.headers["Location"].startswith("/signin")
