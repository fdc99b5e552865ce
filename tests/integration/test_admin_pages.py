"""The administrator's pages on both databases: organisations, communities and markets listed and created from a
fresh installation's forms — each refusal (a malformed id, a taken one, an unknown organisation, one of the wrong
kind) next to its field with what was typed kept and nothing written; a community or market whose holding failed is
finished by sending the same form again; anyone but an administrator is refused (403)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.organisations import OrganisationKind
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.tenancy import TenancyRefused, TenancyService
from community.access.directory import Community
from community.access.service import AccessService, AccessSettings
from community.access.service import NotFound as NoCommunity
from gateway.outputs.embedded import EmbeddedStore
from market.service import MarketService, MarketSettings
from market.service import NotFound as NoMarket
from market.stalls import Market
from messaging.downlink import RecordingDownlink
from smartcity.admin_pages import mount_admin_pages
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_access_service import KEYS
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"a" * 32)
PASSWORD = "admin-pages-test-password"
NOW = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)
ORGANISATIONS, COMMUNITIES, MARKETS = "/admin/organisations", "/admin/communities", "/admin/markets"
LOTUS = {"community_id": "lotus", "name": "荷花小区", "site": "lotus-site", "organisation_id": "lvcheng"}
NORTH_MARKET = {"site": "north-market", "name": "城北农贸市场", "address": "北京市朝阳区北路 1 号",
                "complaint_hotline": "12315", "organisation_id": "nongmao"}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Admin(PageSession):
    landing: ClassVar[str] = ORGANISATIONS
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    tenancy: TenancyService
    access: AccessService
    market: MarketService


def problem(page: str, form: str, name: str) -> str | None:
    """What the page says is wrong with field ``name`` of ``form`` (its prefix), next to it; None if nothing."""
    found = re.search(rf'<div class="field-problem" id="{form}-{name}-problem">([^<]*)</div>', page)
    return html.unescape(found.group(1)) if found else None


def typed_value(page: str, form: str, name: str) -> str:
    found = re.search(rf'id="{form}-{name}" name="{name}" type="[a-z]+" value="([^"]*)"', page)
    assert found is not None, f"{form}-{name} not on the page"
    return html.unescape(found.group(1))


def row(page: str, element_id: str) -> str:
    found = re.search(rf'<tr id="{re.escape(element_id)}".*?</tr>', page, re.S)
    assert found is not None, f"no row {element_id}"
    return found.group(0)


@pytest.fixture
async def admin(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Admin]:
    clock = Clock()
    accounts = AccountService(engine)
    tenancy = accounts.tenancy
    await tenancy.create_account("root", "管理员", {Role.ADMIN}, PASSWORD, NOW)
    # a company and its manager, a supervisor, a resident: none of them may use the administrator's pages
    await tenancy.create_organisation("wanke", "万科物业", OrganisationKind.PROPERTY_COMPANY, NOW)
    await tenancy.create_organisation("office", "街道办", OrganisationKind.SUPERVISION_OFFICE, NOW)
    await tenancy.create_account("pm-a", "张经理", {Role.PROPERTY_MANAGER}, PASSWORD, NOW, organisation_id="wanke")
    await tenancy.create_account("sup-a", "吴科长", {Role.SUPERVISOR}, PASSWORD, NOW, organisation_id="office")
    await tenancy.create_account("res-a", "王芳", {Role.RESIDENT}, PASSWORD, NOW)
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    access = AccessService(engine, RecordingDownlink(), clock, KEYS, AccessSettings())
    market = MarketService(engine, RecordingDownlink(), store, clock,
                           MarketSettings(scan_dir=tmp_path / "scans"))
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_admin_pages(app, tenancy, access, market)
    mount_portal(app)
    async with TestClient(TestServer(app)) as client:
        yield Admin(client, tenancy, access, market)
    await store.close()


async def holdings(tenancy: TenancyService) -> dict[str, Scope]:
    return {organisation.organisation_id: held for organisation, held in await tenancy.organisations()}


async def test_an_administrator_creates_an_organisation_a_community_and_a_market(admin: Admin) -> None:
    token = await admin.sign_in("root")
    for path in (ORGANISATIONS, COMMUNITIES, MARKETS):
        page = await admin.page(path)
        assert 'aria-current="page"' in page and "系统管理" in page
    assert "还没有市场" in await admin.page(MARKETS)
    assert "还没有能管理小区的单位" not in await admin.page(COMMUNITIES), "a property company exists already"

    for organisation in ({"organisation_id": "lvcheng", "name": "绿城物业服务有限公司", "kind": "property_company"},
                         {"organisation_id": "nongmao", "name": "城北市场开办有限公司", "kind": "market_operator"}):
        created = await admin.post(ORGANISATIONS, organisation, token)
        assert created.status == 303, await created.text()
        assert created.headers["Location"] == f"{ORGANISATIONS}?created={organisation['organisation_id']}"
    listed = await admin.page(f"{ORGANISATIONS}?created=lvcheng")
    assert "单位 lvcheng 已创建" in listed
    assert "绿城物业服务有限公司" in row(listed, "organisation-lvcheng")
    assert "物业服务企业" in row(listed, "organisation-lvcheng")
    assert "市场开办者" in row(listed, "organisation-nongmao")
    assert re.search(r'class="num">1</td>', row(listed, "organisation-wanke")), "wanke's one account is counted"

    form = await admin.page(COMMUNITIES)
    assert 'value="lvcheng"' in form and 'value="office"' in form and 'value="nongmao"' not in form, \
        "a market operator is not offered to manage a community"
    created = await admin.post(COMMUNITIES, LOTUS, token)
    assert created.status == 303, await created.text()
    assert created.headers["Location"] == f"{COMMUNITIES}?created=lotus"
    listed = await admin.page(created.headers["Location"])
    lotus = row(listed, "community-lotus")
    assert "荷花小区" in lotus and "lotus-site" in lotus and "绿城物业服务有限公司" in lotus
    assert await admin.access.community("lotus") == Community("lotus", "lotus-site", "荷花小区")

    created = await admin.post(MARKETS, NORTH_MARKET, token)
    assert created.status == 303, await created.text()
    assert created.headers["Location"] == f"{MARKETS}?created=north-market"
    listed = await admin.page(created.headers["Location"])
    north = row(listed, "market-north-market")
    assert "城北农贸市场" in north and "12315" in north and "城北市场开办有限公司" in north
    assert await admin.market.market("north-market") == Market("north-market", "城北农贸市场",
                                                               "北京市朝阳区北路 1 号", "12315")

    held = await holdings(admin.tenancy)
    assert held["lvcheng"] == Scope.of(communities=["lotus"]) and held["nongmao"] == Scope.of(markets=["north-market"])
    listed = await admin.page(ORGANISATIONS)
    assert "荷花小区（lotus）" in row(listed, "organisation-lvcheng")
    assert "城北农贸市场（north-market）" in row(listed, "organisation-nongmao")


async def test_an_organisations_refusals_are_next_to_their_fields(admin: Admin) -> None:
    token = await admin.sign_in("root")
    cases: list[tuple[dict[str, str], int, str, str]] = [
        ({"organisation_id": "绿城 物业", "name": "绿城物业", "kind": "property_company"}, 422, "organisation_id",
         "单位编号为 1–64 位字母、数字或 _ . : -"),
        ({"organisation_id": "wanke", "name": "另一个万科", "kind": "property_company"}, 409, "organisation_id",
         "单位编号 wanke 已被使用"),
        ({"organisation_id": "lvcheng", "name": "", "kind": "property_company"}, 422, "name", "请填写单位名称"),
        ({"organisation_id": "lvcheng", "name": "绿" * 101, "kind": "property_company"}, 422, "name", "最多 100 个字"),
        ({"organisation_id": "lvcheng", "name": "绿城物业", "kind": "bank"}, 422, "kind", "请选择单位类型"),
        ({"organisation_id": "lvcheng", "name": "绿城\u200b物业", "kind": "property_company"}, 422, "name",
         "不含换行等控制字符"),
        ({"organisation_id": "x" * 65, "name": "绿城物业", "kind": "property_company"}, 422, "organisation_id",
         "单位编号为"),
    ]
    for fields, status, field, words in cases:
        refused = await admin.post(ORGANISATIONS, fields, token)
        page = await refused.text()
        assert refused.status == status, (fields, page)
        said = problem(page, "organisation", field)
        assert said is not None and words in said, (fields, said)
        assert "单位未保存" in page
        if fields["name"] and len(fields["name"]) < 50:
            assert typed_value(page, "organisation", "name") == fields["name"], "the form keeps what was typed"
    assert sorted(await holdings(admin.tenancy)) == ["office", "wanke"], "nothing created"
    assert (await admin.post(ORGANISATIONS, {"organisation_id": "lvcheng", "name": "绿城物业",
                                             "kind": "property_company"}, None)).status == 403, "no CSRF token"


async def test_a_communitys_refusals_are_next_to_their_fields(admin: Admin) -> None:
    token = await admin.sign_in("root")
    await admin.tenancy.create_organisation("lvcheng", "绿城物业", OrganisationKind.PROPERTY_COMPANY, NOW)
    await admin.tenancy.create_organisation("nongmao", "农贸市场公司", OrganisationKind.MARKET_OPERATOR, NOW)
    assert (await admin.post(COMMUNITIES, LOTUS, token)).status == 303
    cases: list[tuple[dict[str, str], int, str, str]] = [
        ({"community_id": "荷花"}, 422, "community_id", "小区编号为 1–64 位字母、数字或 _ . : -"),
        ({"community_id": ""}, 422, "community_id", "请填写小区编号"),
        ({"site": "plum.site"}, 422, "site", "站点编号为 1–64 位字母、数字、_ 或 -"),
        ({"name": "梅园\n二期"}, 422, "name", "小区名称为 1–100 个字"),
        ({"organisation_id": "nobody"}, 422, "organisation_id", "没有这个单位"),
        ({"organisation_id": ""}, 422, "organisation_id", "请选择单位"),
        ({"organisation_id": "nongmao"}, 422, "organisation_id", "是市场开办者，不能管理小区"),
        ({"community_id": "lotus"}, 409, "community_id", "小区编号 lotus 已被使用"),
        ({"site": "lotus-site"}, 409, "site", "站点编号 lotus-site 已属于小区“荷花小区”（lotus）"),
    ]
    plum = {"community_id": "plum", "name": "梅园", "site": "plum-site", "organisation_id": "lvcheng"}
    for change, status, field, words in cases:
        refused = await admin.post(COMMUNITIES, {**plum, **change}, token)
        page = await refused.text()
        assert refused.status == status, (change, page)
        said = problem(page, "community", field)
        assert said is not None and words in said, (change, said)
        assert "小区未保存" in page
        if field != "community_id":
            assert typed_value(page, "community", "community_id") == "plum", "the form keeps what was typed"
    assert [c.community_id for c in await admin.access.communities()] == ["lotus"], "nothing created"
    assert (await holdings(admin.tenancy))["lvcheng"] == Scope.of(communities=["lotus"])
    # full-width letters and digits of a phone keyboard are the ids' half-width selves
    created = await admin.post(COMMUNITIES, {**plum, "community_id": "ｐｌｕｍ", "site": "ｐｌｕｍ-2"}, token)
    assert created.status == 303 and created.headers["Location"] == f"{COMMUNITIES}?created=plum"


async def test_a_markets_refusals_are_next_to_their_fields(admin: Admin) -> None:
    token = await admin.sign_in("root")
    await admin.tenancy.create_organisation("nongmao", "农贸市场公司", OrganisationKind.MARKET_OPERATOR, NOW)
    assert (await admin.post(MARKETS, NORTH_MARKET, token)).status == 303
    form = await admin.page(MARKETS)
    assert 'value="nongmao"' in form and 'value="office"' in form and 'value="wanke"' not in form
    south = {**NORTH_MARKET, "site": "south-market", "name": "城南农贸市场"}
    cases: list[tuple[dict[str, str], int, str, str]] = [
        ({"site": "south.market"}, 422, "site", "市场编号为 1–64 位字母、数字、_ 或 -"),
        ({"complaint_hotline": "12315转1"}, 422, "complaint_hotline", "投诉电话为 3–20 位数字或 -"),
        ({"complaint_hotline": ""}, 422, "complaint_hotline", "请填写投诉电话"),
        ({"name": "南" * 101}, 422, "name", "市场名称最多 100 个字"),
        ({"address": ""}, 422, "address", "请填写地址"),
        ({"organisation_id": "wanke"}, 422, "organisation_id", "是物业服务企业，不能开办市场"),
        ({"organisation_id": "no-such-org"}, 422, "organisation_id", "没有这个单位"),
        ({"site": "north-market"}, 409, "site", "市场编号 north-market 已被使用"),
    ]
    for change, status, field, words in cases:
        refused = await admin.post(MARKETS, {**south, **change}, token)
        page = await refused.text()
        assert refused.status == status, (change, page)
        said = problem(page, "market", field)
        assert said is not None and words in said, (change, said)
        assert "市场未保存" in page
    with pytest.raises(NoMarket):
        await admin.market.market("south-market")
    assert [m.site for m in await admin.market.markets(10, 0)] == ["north-market"], "nothing created"
    created = await admin.post(MARKETS, {**south, "organisation_id": "office"}, token)
    assert created.status == 303, "a supervision office may hold a market"


async def test_sending_the_form_again_finishes_a_community_and_a_market_whose_holding_failed(
        admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await admin.sign_in("root")
    await admin.tenancy.create_organisation("lvcheng", "绿城物业", OrganisationKind.PROPERTY_COMPANY, NOW)
    await admin.tenancy.create_organisation("nongmao", "农贸市场公司", OrganisationKind.MARKET_OPERATOR, NOW)
    hold = admin.tenancy.hold

    async def failing(organisation_id: str, scope: Scope) -> dict[str, frozenset[str]]:
        raise TenancyRefused("the database went away")

    for path, fields, what, made in ((COMMUNITIES, LOTUS, "小区", "community-lotus"),
                                     (MARKETS, NORTH_MARKET, "市场", "market-north-market")):
        monkeypatch.setattr(admin.tenancy, "hold", failing)
        half = await admin.post(path, fields, token)
        page = await half.text()
        assert half.status == 409 and f"{what}已登记，但未能交给“" in page and "再提交一次同样的内容" in page, page
        assert "无单位管理" in row(page, made), "created, held by no one"
        changed = await admin.post(path, {**fields, "name": "另一个名字"}, token)
        assert changed.status == 409, "another name under that id is a taken id, not a retry"
        monkeypatch.setattr(admin.tenancy, "hold", hold)
        again = await admin.post(path, fields, token)
        assert again.status == 303, await again.text()
        assert "无单位管理" not in row(await admin.page(again.headers["Location"]), made)
        twice = await admin.post(path, fields, token)
        assert twice.status == 409, "once held, the same form again is a duplicate"
    held = await holdings(admin.tenancy)
    assert held["lvcheng"] == Scope.of(communities=["lotus"]) and held["nongmao"] == Scope.of(markets=["north-market"])


async def test_an_existing_community_held_by_nobody_is_taken_over_only_as_it_is(admin: Admin) -> None:
    token = await admin.sign_in("root")
    await admin.tenancy.create_organisation("lvcheng", "绿城物业", OrganisationKind.PROPERTY_COMPANY, NOW)
    await admin.access.create_community(Community("lotus", "lotus-site", "荷花小区"))  # by the API, say
    other = await admin.post(COMMUNITIES, {**LOTUS, "site": "elsewhere"}, token)
    assert other.status == 409 and "已被使用" in (problem(await other.text(), "community", "community_id") or "")
    same = await admin.post(COMMUNITIES, LOTUS, token)
    assert same.status == 303
    assert (await holdings(admin.tenancy))["lvcheng"] == Scope.of(communities=["lotus"])


async def test_anyone_but_an_administrator_is_refused(admin: Admin) -> None:
    for path in (ORGANISATIONS, COMMUNITIES, MARKETS):
        anonymous = await admin.client.get(path, headers=HTML, allow_redirects=False)
        assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/signin")
    for account in ("pm-a", "sup-a", "res-a"):
        admin.client.session.cookie_jar.clear()
        form = await admin.client.get("/signin", headers=HTML)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
        assert csrf is not None
        signed_in = await admin.client.post("/signin", allow_redirects=False, data={
            "csrf_token": csrf.group(1), "account_id": account, "password": PASSWORD})
        assert signed_in.status == 303
        portal = await admin.page("/")
        assert "系统管理" not in portal
        token = re.search(r'name="csrf_token" value="([^"]+)"', portal)
        assert token is not None
        for path, fields in ((ORGANISATIONS, {"organisation_id": "x", "name": "x", "kind": "property_company"}),
                             (COMMUNITIES, LOTUS), (MARKETS, NORTH_MARKET)):
            assert (await admin.client.get(path, headers=HTML)).status == 403, (account, path)
            posted = await admin.post(path, fields, token.group(1))
            assert posted.status == 403, (account, path)
    assert sorted(await holdings(admin.tenancy)) == ["office", "wanke"]
    assert not await admin.access.communities()
    with pytest.raises(NoCommunity):
        await admin.access.community("lotus")
    await admin.sign_in("root")
    assert 'href="/admin/organisations"' in await admin.page("/"), "the administrator's portal links the pages"


async def test_the_pages_render_the_lists_as_rows_a_phone_can_stack(admin: Admin) -> None:
    token = await admin.sign_in("root")
    await admin.post(ORGANISATIONS, {"organisation_id": "lvcheng", "name": "绿城物业", "kind": "property_company"},
                     token)
    await admin.post(COMMUNITIES, LOTUS, token)
    page = await admin.page(COMMUNITIES)
    assert '<table class="responsive">' in page and 'data-label="管理单位"' in page
    assert 'name="viewport"' in page and "table-wrap" in page
    assert "已登记并交给所选单位管理" in await admin.page(f"{COMMUNITIES}?created=lotus")
    crafted = await admin.page(f"{COMMUNITIES}?created=%3Cscript%3E")
    assert "已登记并交给所选单位管理" not in crafted and "<script>" not in crafted, "an id not listed is not said back"
