"""The access pages within the signed-in account's scope, on both databases, with real assignments: the console's
community chooser lists the communities assigned to the manager, and another community's community, alarm, remote
open or visitor pass gets the very page an unknown one gets — nothing of it is changed; a resident's pages need their
account assigned their community."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.directory import Community
from community.access.pages import mount_access_pages
from community.access.permissions import Door
from community.access.service import AccessService
from gateway.outputs.embedded import EmbeddedStore
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_access_scope import PLUM
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, T0, Clock
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"p" * 32)
PASSWORD = "access-scope-pages-password"
ACCOUNTS = {
    "pm-a": ("荷花物业", Role.PROPERTY_MANAGER, {"lotus", "lotus-west"}),
    "pm-b": ("梅园物业", Role.PROPERTY_MANAGER, {"plum"}),
    "wang": ("王芳", Role.RESIDENT, {"lotus"}),
    "mei": ("梅兰", Role.RESIDENT, {"plum"}),
    "zhao": ("赵敏", Role.RESIDENT, set()),  # a resident of lotus whose account was never assigned it
}


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/"
    password: ClassVar[str] = PASSWORD
    service: AccessService
    plum_alarm: int
    plum_cmd: str
    plum_pass: str

    async def same_as_unknown(self, path: str, unknown_path: str, real: str, unknown: str) -> str:
        """The page at ``path`` (naming another community's ``real`` id) is the page an unknown id gets."""
        response, unknown_response = [await self.client.get(p, headers=HTML, allow_redirects=False)
                                      for p in (path, unknown_path)]
        page, unknown_page = await response.text(), (await unknown_response.text()).replace(unknown, real)
        assert (response.status, page) == (unknown_response.status, unknown_page), path
        return page

    async def posted_same_as_unknown(self, path: str, unknown_path: str, data: dict[str, str], token: str,
                                     real: str, unknown: str) -> tuple[int, str]:
        response, unknown_response = [await self.post(p, data, token) for p in (path, unknown_path)]
        page, unknown_page = await response.text(), (await unknown_response.text()).replace(unknown, real)
        assert (response.status, page) == (unknown_response.status, unknown_page), path
        return response.status, page


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock(T0)
    accounts = AccountService(engine)
    for account_id, (name, role, _) in ACCOUNTS.items():
        created = await accounts.create_account(account_id, name, [role], PASSWORD, T0)
        assert getattr(created, "account_id", None) == account_id, created
    async with engine.begin() as connection:
        for account_id, (_, _, communities) in ACCOUNTS.items():
            if communities:
                await AccountRepository(connection).assign(account_id, Scope(frozenset(communities)))
    service = AccessService(engine, RecordingDownlink(), clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    await service.import_community(PLUM)
    await service.create_community(Community("lotus-west", "lotus-west", "荷花西苑"))
    visit = await service.invite("mei", frozenset({Door("plum-gate-01", 1)}), visitor_name="梅友")
    opened = await service.open_door("plum-gate-01", 1, "pm-b", "快递")
    clock.now = T0 + timedelta(minutes=2)
    await service.tick(clock.now)  # gate-offline alarms, plum's too
    [(plum_alarm, _)] = await service.alarms("plum")
    store = EmbeddedStore(tmp_path / "timeseries.sqlite")
    await store.open()
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_access_pages(app, service, store)
    mount_portal(app)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, service, plum_alarm, opened.cmd_id, visit.record.pass_id)
    await store.close()


async def test_the_chooser_lists_the_managers_communities_only(site: Site) -> None:
    await site.sign_in("pm-a")
    page = await site.page("/access/console")
    assert "荷花小区" in page and "荷花西苑" in page and 'value="lotus-west"' in page
    assert "梅园" not in page and "plum" not in page
    west = await site.page("/access/console?community=lotus-west")
    assert "荷花西苑" in west and "梅园" not in west
    await site.sign_in("pm-b")
    assert "梅园" in await site.page("/access/console")


@pytest.mark.parametrize("path", ["/access/console", "/access/console/log", "/access/console/alarms",
                                  "/access/console/open", "/access/console/live"])
async def test_another_communitys_console_is_an_unknown_communitys(site: Site, path: str) -> None:
    await site.sign_in("pm-a")
    page = await site.same_as_unknown(f"{path}?community=plum", f"{path}?community=zz-community", "plum",
                                      "zz-community")
    assert "小区不存在" in page and "梅园" not in page


async def test_another_communitys_alarm_is_an_unknown_alarm(site: Site) -> None:
    token = await site.sign_in("pm-a")
    number, unknown = str(site.plum_alarm), "987654"
    for action in ("acknowledge", "resolve"):
        status, page = await site.posted_same_as_unknown(
            f"/access/console/alarms/{number}/{action}", f"/access/console/alarms/{unknown}/{action}",
            {"note": "看过了"}, token, number, unknown)
        assert status == 404 and "告警不存在" in page
    _, alarm = await site.service.alarm(site.plum_alarm)
    assert alarm.status.value == "open", "nothing done to it"


async def test_another_communitys_remote_open_is_an_unknown_one(site: Site) -> None:
    await site.sign_in("pm-a")
    page = await site.same_as_unknown(f"/access/console/open/{site.plum_cmd}", "/access/console/open/zz-cmd",
                                      site.plum_cmd, "zz-cmd")
    assert "记录不存在" in page


async def test_a_manager_cannot_open_another_communitys_door_from_the_form(site: Site) -> None:
    token = await site.sign_in("pm-a")
    opens = await site.service.remote_opens("plum")
    form = {"community": "plum", "door": "plum-gate-01:1", "reason": "开一下", "step": "confirm"}
    other = await site.post("/access/console/open", form, token)
    unknown = await site.post("/access/console/open", {**form, "community": "zz-community"}, token)
    page = await other.text()
    assert other.status == unknown.status == 404 and page == await unknown.text() and "小区不存在" in page
    # in the manager's own community, another community's door is not a door to choose
    own = await site.post("/access/console/open", {**form, "community": "lotus"}, token)
    assert own.status == 422
    assert await site.service.remote_opens("plum") == opens


async def test_a_resident_sees_another_communitys_pass_as_an_unknown_one(site: Site) -> None:
    token = await site.sign_in("wang")
    page = await site.same_as_unknown(f"/access/my/visitors/{site.plum_pass}", "/access/my/visitors/zz-pass",
                                      site.plum_pass, "zz-pass")
    assert "通行码不存在" in page
    status, _ = await site.posted_same_as_unknown(f"/access/my/visitors/{site.plum_pass}/revoke",
                                                  "/access/my/visitors/zz-pass/revoke", {}, token, site.plum_pass,
                                                  "zz-pass")
    assert status == 404
    visit, _ = await site.service.visitor_pass(site.plum_pass)
    assert visit.revoked_at is None
    await site.sign_in("mei")
    assert "梅友" in await site.page(f"/access/my/visitors/{site.plum_pass}")


async def test_a_resident_whose_account_is_not_assigned_their_community_has_no_resident_pages(site: Site) -> None:
    await site.sign_in("wang")
    assert "王芳" in await site.page("/access/my")
    await site.sign_in("zhao")
    assert "尚未登记住户信息" in await site.page("/access/my", 403)
