"""The console's compound import page, on both databases: upload a file, read the dry run row by row (a refused row
with its reason, and no way to confirm), upload a corrected one, confirm — the same file is imported — and read the
result; a confirmation whose file is gone is asked for again; the form's CSRF token, the role and the community's
scope are checked like every console form; the templates download."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.pages import mount_access_pages
from community.access.pages.compound_import import UploadShelf
from community.access.service import AccessService, NotFound
from community.onboarding.spreadsheet import XLSX_TYPE
from community.ownership.service import OwnershipService
from gateway.outputs.embedded import EmbeddedStore
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_access_scope import PLUM
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, T0, Clock
from tests.integration.test_compound_import import compound_rows, csv_of, xlsx_of
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"p" * 32)
PASSWORD = "compound-import-pages-password"
PAGE = "/access/console/import"


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    service: AccessService
    ownership: OwnershipService
    clock: Clock

    async def upload(self, token: str | None, data: bytes, name: str = "小区.csv", content_type: str = "text/csv",
                     community: str = "lotus", path: str = PAGE) -> tuple[int, str]:
        form = aiohttp.FormData()
        if token is not None:
            form.add_field("csrf_token", token)
        form.add_field("community", community)
        form.add_field("file", data, filename=name, content_type=content_type)
        response = await self.client.post(path, data=form, headers=HTML, allow_redirects=False)
        return response.status, await response.text()


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock(T0)
    accounts = AccountService(engine)
    scopes = {"pm-lotus": ([Role.PROPERTY_MANAGER], {"lotus"}), "pm-plum": ([Role.PROPERTY_MANAGER], {"plum"}),
              "sup-lotus": ([Role.SUPERVISOR], {"lotus"}), "wang": ([Role.RESIDENT], {"lotus"})}
    for account_id, (roles, _) in scopes.items():
        await accounts.create_account(account_id, account_id, roles, PASSWORD, T0)
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
        yield Site(client, service, OwnershipService(engine), clock)
    await store.close()


def report_row(page: str, row: int) -> str:
    start = page.index(f'data-row="{row}"')
    return page[start:page.index("</tr>", start)]


def confirm_fields(page: str) -> dict[str, str]:
    form = page[page.index('id="confirm"'):]
    form = form[:form.index("</form>")]
    return {name: html.unescape(value) for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', form)}


async def test_the_manager_previews_sees_the_refused_row_then_imports_the_corrected_file(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    page = await site.page(PAGE)
    assert "上传文件并预览" in page and "template.xlsx" in page and "专有面积" in page and "area_m2" in page
    console = await site.page("/access/console")
    assert f'href="{PAGE}"' in console, "the console links to the import"

    rows = compound_rows(10)
    rows[3][5] = "八十"
    status, report = await site.upload(token, xlsx_of(rows), name="北区.xlsx", content_type=XLSX_TYPE)
    assert status == 422
    refused = report_row(report, 5)
    assert "拒绝" in refused and "专有面积「八十」" in refused
    assert 'id="confirm"' not in report and "整个文件不会导入" in report
    with pytest.raises(NotFound):
        await site.service.unit("L3-1-001")

    rows[3][5] = "80.00"
    status, report = await site.upload(token, xlsx_of(rows), name="北区.xlsx", content_type=XLSX_TYPE)
    assert status == 200, report
    assert "预览" in report and "北区.xlsx" in report
    assert 'id="count-created"' in report and "新建房屋 L3-1-001" in report
    assert "139****0001" in report and "13900000001" not in report, "phones are masked"
    with pytest.raises(NotFound):
        await site.service.unit("L3-1-001")  # the dry run wrote nothing

    fields = confirm_fields(report)
    assert fields["community"] == "lotus" and len(fields["upload"]) == 64
    response = await site.post(PAGE + "/confirm", fields, token=None)
    result = await response.text()
    assert response.status == 200, result
    assert "导入完成" in result and "房屋 10 套" in result
    assert (await site.service.unit("L3-1-004"))[0].area_m2 == 80
    assert len((await site.ownership.register("lotus")).entries) == 10

    again = await site.post(PAGE + "/confirm", fields, token=None)
    assert again.status == 410 and "已过期" in await again.text(), "an imported file is not kept"
    status, same = await site.upload(token, xlsx_of(rows), name="北区.xlsx", content_type=XLSX_TYPE)
    assert status == 200 and "没有需要导入的内容" in same and 'id="confirm"' not in same


async def test_a_file_that_is_no_spreadsheet_or_no_file_is_said_so_on_the_page(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    status, page = await site.upload(token, b"%PDF-1.7 a scan", name="scan.pdf", content_type="application/pdf")
    assert status == 422 and "这个文件不能导入" in page and "不是电子表格" in page
    response = await site.post(PAGE, {"community": "lotus"}, token)
    assert response.status == 422 and "请选择要导入的" in await response.text()


async def test_a_confirmation_is_its_uploaders_and_expires(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    status, report = await site.upload(token, csv_of(compound_rows(2)))
    assert status == 200
    fields = confirm_fields(report)
    other = await site.sign_in("pm-plum")
    response = await site.post(PAGE + "/confirm", {**fields, "csrf_token": other}, token=None)
    assert response.status == 404, "another community's manager: the unknown community's page"
    token = await site.sign_in("pm-lotus")
    response = await site.post(PAGE + "/confirm", {**fields, "upload": "0" * 64, "csrf_token": token}, token=None)
    assert response.status == 410


def test_the_shelf_keeps_few_files_for_a_while_and_for_their_uploader_only() -> None:
    shelf = UploadShelf(max_files=2, keep=timedelta(minutes=30))
    first = shelf.put("pm", "lotus", b"one", T0)
    assert shelf.get("pm", "lotus", first, T0) == b"one"
    assert shelf.get("pm-2", "lotus", first, T0) is None and shelf.get("pm", "plum", first, T0) is None
    shelf.put("pm", "lotus", b"two", T0)
    shelf.put("pm", "lotus", b"three", T0)
    assert shelf.get("pm", "lotus", first, T0) is None, "the oldest goes first"
    later = shelf.put("pm", "lotus", b"four", T0)
    assert shelf.get("pm", "lotus", later, T0 + timedelta(minutes=31)) is None


async def test_the_forms_csrf_the_role_and_the_scope_are_checked(site: Site) -> None:
    token = await site.sign_in("pm-lotus")
    status, page = await site.upload(None, csv_of(compound_rows(1)))
    assert status == 403 and "表单已失效" in page
    status, page = await site.upload("not-the-token", csv_of(compound_rows(1)))
    assert status == 403
    status, _ = await site.upload(token, csv_of(compound_rows(1)), community="plum")
    assert status == 404
    await site.page(f"{PAGE}?community=plum", status=404)
    sup = await site.sign_in("sup-lotus")
    status, _ = await site.upload(sup, csv_of(compound_rows(1)))
    assert status == 403
    await site.page(PAGE, status=403)
    site.client.session.cookie_jar.clear()
    response = await site.client.post(PAGE, data={"community": "lotus"}, headers=HTML, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/signin")
    with pytest.raises(NotFound):
        await site.service.unit("L3-1-001")


async def test_the_templates_download_from_the_page(site: Site) -> None:
    await site.sign_in("pm-lotus")
    for suffix, content_type in (("csv", "text/csv"), ("xlsx", XLSX_TYPE)):
        response = await site.client.get(f"{PAGE}/template.{suffix}", headers=HTML)
        assert response.status == 200 and response.content_type == content_type
        assert len(await response.read()) > 50
    response = await site.client.get(f"{PAGE}/template.csv?community=plum", headers=HTML)
    assert response.status == 404


