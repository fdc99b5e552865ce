"""The operator's daily-administration pages over HTTP, on both databases: vendors (phones masked in the list),
licence documents recorded with their scan or photo (checked by content, bounded, kept 0600 under the data
directory, served to the market's operators and supervisor only), stalls added and changed, scales registered,
and the way from a vendor to a stall's prices by links; each refusal a message next to its field with what was
typed kept, and nothing written. Also the API's scan upload and download."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from devices.scale_commands import SET_PRICES
from gateway.outputs.embedded import EmbeddedStore
from market.licences import DocumentKind
from market.pages import mount_market_pages
from market.service import MarketService, MarketSettings
from market.stalls import Market
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_pages_market import (
    AUTHORITY,
    NOW,
    PASSWORD,
    SITE,
    VENDOR_PHONE,
    Clock,
    section,
    seed,
    words,
)
from webkit.identity import Role, Scope

pytestmark = pytest.mark.integration

MANAGE = f"/market/{SITE}/manage"
OTHER = "beiyuan"
MAX_SCAN = 64 * 1024
LICENCE = {"kind": "business_licence", "number": "91440300708461136T", "valid_from": "2026-01-05",
           "valid_to": "", "holder": "", "scope": ""}


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG image (grey pixels), so a browser could draw it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00"
       b"\x00\x02\x02D\x01\x00;")


@dataclass
class Pages(PageSession):
    landing: ClassVar[str] = f"/market/{SITE}/prices"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    service: MarketService
    downlink: RecordingDownlink
    scans: Path

    async def upload(self, path: str, fields: dict[str, str], token: str | None, content: bytes | None,
                     filename: str = "licence.png", content_type: str = "image/png") -> Any:
        """Submit a form with a file, as a browser does (multipart, the CSRF token first)."""
        form = FormData()
        if token is not None:
            form.add_field("csrf_token", token)
        for name, value in fields.items():
            form.add_field(name, value)
        if content is not None:
            form.add_field("scan", content, filename=filename, content_type=content_type)
        return await self.client.post(path, data=form, headers=HTML, allow_redirects=False)

    def kept(self) -> list[Path]:
        return sorted(p for p in self.scans.rglob("*") if p.is_file())

    def bearer(self, subject: str, *roles: Role) -> dict[str, str]:
        token = AUTHORITY.issue(subject, set(roles), NOW - timedelta(minutes=5), timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def pages(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Pages]:
    clock, downlink = Clock(), RecordingDownlink()
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    accounts = AccountService(engine)
    for account, name, roles in (("op-liu", "刘主任", (Role.MARKET_OPERATOR,)),
                                 ("op-zhao", "赵经理", (Role.MARKET_OPERATOR,)),
                                 ("sup-wu", "吴监管", (Role.SUPERVISOR,)), ("root", "管理员", (Role.ADMIN,))):
        await accounts.create_account(account, name, roles, PASSWORD, NOW)
    async with engine.begin() as connection:  # op-zhao runs another market; the supervisor oversees this one
        repository = AccountRepository(connection)
        await repository.assign("op-liu", Scope(markets=frozenset({SITE})))
        await repository.assign("op-zhao", Scope(markets=frozenset({OTHER})))
        await repository.assign("sup-wu", Scope(markets=frozenset({SITE})))
    scans = tmp_path / "data" / "market-scans"
    service = MarketService(engine, downlink, store, clock, MarketSettings(scan_dir=scans, max_scan_bytes=MAX_SCAN))
    await seed(service)
    await service.create_market(Market(OTHER, "北苑农贸市场", "北京市朝阳区", "12315"), NOW)
    downlink.sent.clear()
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_market_pages(app, service, SITE, AUTHORITY, clock)
    async with TestClient(TestServer(app)) as client:
        yield Pages(client, service, downlink, scans)
    await store.close()


async def vendor_documents(pages: Pages, vendor_id: str) -> list[Any]:
    return await pages.service.vendor_documents(SITE, vendor_id)


# --- vendors -----------------------------------------------------------------------------------------

async def test_an_operator_adds_a_vendor_whose_phone_the_list_masks(pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    listed = await pages.page(f"{MANAGE}/vendors")
    assert 'aria-current="page">经营者' in listed and "王建国" in listed
    assert "138****0000" in section(listed, "vendor-v-wang") and VENDOR_PHONE not in listed, "masked in the list"
    added = await pages.post(f"{MANAGE}/vendors", {"name": "张小梅", "contact_phone": "１３９ 1234 5678",
                                                   "vendor_id": ""}, token)
    assert added.status == 303, await added.text()
    location = added.headers["Location"]
    assert re.fullmatch(rf"{MANAGE}/vendors/V[0-9A-F]{{6}}\?notice=added", location), location
    vendor_id = location.split("/")[-1].split("?")[0]
    page = await pages.page(location)
    assert "经营者已登记" in page and "139 1234 5678" in section(page, "vendor"), "the whole number on their own page"
    listed = await pages.page(f"{MANAGE}/vendors")
    row = section(listed, f"vendor-{vendor_id}")
    assert "139****5678" in row and "1234" not in row
    assert "未录入" in section(listed, f"vendor-{vendor_id}")


async def test_a_vendor_form_with_mistakes_says_each_next_to_its_field_and_keeps_what_was_typed(
        pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    before = await pages.service.vendors(SITE, 50, 0)
    refused = await pages.post(f"{MANAGE}/vendors", {"name": "  ", "contact_phone": "138-abc", "vendor_id": "v 1"},
                               token)
    body = await refused.text()
    assert refused.status == 422
    form = section(body, "new-vendor")
    assert "open" in form.split(">", 1)[0], "the form is open again"
    assert "请填写姓名或名称" in section(form, "vendor-name-problem")
    assert "3–32 位数字" in section(form, "vendor-contact_phone-problem")
    assert "经营者编号为 1–64 位" in section(form, "vendor-vendor_id-problem")
    assert 'value="138-abc"' in form and 'value="v 1"' in form
    taken = await pages.post(f"{MANAGE}/vendors", {"name": "王建国", "vendor_id": "v-wang"}, token)
    assert taken.status == 409 and "编号 v-wang 已有经营者" in await taken.text()
    assert await pages.service.vendors(SITE, 50, 0) == before, "nothing was added"


# --- documents and their scans -----------------------------------------------------------------------

async def test_a_document_is_recorded_with_its_scan_kept_privately_and_served_only_in_scope(pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    vendor = f"{MANAGE}/vendors/v-li"
    form = await pages.page(f"{vendor}?document=1")
    assert 'enctype="multipart/form-data"' in section(form, "new-document")
    image = png()
    done = await pages.upload(f"{vendor}/documents", {**LICENCE, "number": "91440300708461136t"}, token, image)
    assert done.status == 303, await done.text()
    [document] = [d for d in await vendor_documents(pages, "v-li") if d.scan is not None]
    assert done.headers["Location"] == f"{vendor}?notice=document#document-{document.document_id}"
    assert document.document.number == "91440300708461136T" and document.recorded_by == "op-liu"
    assert document.scan.media_type.value == "image/png" and document.scan.size == len(image)
    [kept] = pages.kept()
    assert kept == pages.scans / SITE / document.scan.name and kept.read_bytes() == image
    assert kept.stat().st_mode & 0o777 == 0o600 and kept.parent.stat().st_mode & 0o777 == 0o700
    assert "licence" not in kept.name, "named by the store, not by the uploader"

    page = await pages.page(f"{vendor}?notice=document")
    row = section(page, f"document-{document.document_id}")
    scan_path = f"{vendor}/documents/{document.document_id}/scan"
    assert f'href="{scan_path}"' in row and 'data-scan="image/png"' in row and "证照已登记" in page
    served = await pages.client.get(scan_path)
    assert served.status == 200 and await served.read() == image
    assert served.content_type == "image/png" and served.headers["Cache-Control"] == "no-store"
    disposition = f'attachment; filename="business_licence-{document.document_id}.png"'
    assert served.headers["Content-Disposition"] == disposition
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    await pages.sign_in("sup-wu")  # the supervision office reads it
    assert (await pages.client.get(scan_path)).status == 200
    await pages.sign_in("op-zhao")  # another market's operator: the page of a market that does not exist
    theirs = await pages.client.get(scan_path, headers=HTML)
    ghost = await pages.client.get(scan_path.replace(f"/{SITE}/", "/nowhere/"), headers=HTML)
    assert theirs.status == ghost.status == 404 and "市场不存在" in await theirs.text()
    assert await theirs.text() == await ghost.text(), "nothing tells the two apart"
    pages.client.session.cookie_jar.clear()
    anonymous = await pages.client.get(scan_path, allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/signin")
    public = await pages.client.get(f"/market/{SITE}/stalls/A04")
    assert "/scan" not in await public.text(), "the stall's public page shows the licence as text, not the scan"


BAD_UPLOADS = {
    "wrong type": (GIF, "licence.png", 415, "只接受 JPEG、PNG 照片或 PDF 文件"),
    "text called a pdf": (b"not really a pdf\n", "licence.pdf", 415, "按文件内容检查"),
    "too big": (png() + b"\x00" * MAX_SCAN, "big.png", 413, "文件太大：最大 64 KB"),
    "empty": (b"", "empty.png", 422, "文件是空的"),
    "no file chosen": (b"", "", 422, "请选择证照的扫描件或照片"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
async def test_a_bad_upload_is_refused_next_to_its_field_and_nothing_is_kept(pages: Pages, case: str) -> None:
    content, filename, status, message = BAD_UPLOADS[case]
    token = await pages.sign_in("op-liu")
    before = await vendor_documents(pages, "v-li")
    refused = await pages.upload(f"{MANAGE}/vendors/v-li/documents", LICENCE, token, content, filename)
    body = await refused.text()
    assert refused.status == status, body
    form = section(body, "new-document")
    assert message in words(section(form, "document-scan-problem"))
    assert 'value="91440300708461136T"' in form and 'value="2026-01-05"' in form, "what was typed is kept"
    assert "请重新选择文件" not in form or "document-scan-problem" in form
    assert await vendor_documents(pages, "v-li") == before and pages.kept() == [], "nothing recorded, nothing kept"


async def test_a_form_posted_without_multipart_is_told_so_and_a_malformed_body_is_a_clear_page(
        pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    plain = await pages.post(f"{MANAGE}/vendors/v-li/documents", LICENCE, token)
    body = await plain.text()
    assert plain.status == 415 and "multipart/form-data" in words(section(body, "document-scan-problem"))
    broken = await pages.client.post(f"{MANAGE}/vendors/v-li/documents", data=b"--x\r\nnonsense",
                                     headers={**HTML, "Content-Type": "multipart/form-data; boundary=x"})
    assert broken.status in (400, 403) and "Traceback" not in await broken.text()
    forged = await pages.upload(f"{MANAGE}/vendors/v-li/documents", LICENCE, "forged", png())
    assert forged.status == 403 and "表单已失效" in await forged.text()
    missing = await pages.upload(f"{MANAGE}/vendors/v-li/documents", LICENCE, None, png())
    assert missing.status == 403
    assert pages.kept() == [] and len(await vendor_documents(pages, "v-li")) == 2


async def test_the_document_rules_are_said_next_to_their_fields(pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    path = f"{MANAGE}/vendors/v-li/documents"
    cases = [
        ({**LICENCE, "number": "91440300708461136X"}, "document-number-problem", "校验位"),
        ({**LICENCE, "kind": "health_certificate", "number": "JK-1", "valid_to": "2027-01-01"},
         "document-holder-problem", "健康证明须填写持证人姓名"),
        ({**LICENCE, "kind": "food_business_permit", "number": "JY123", "valid_to": "2027-01-01"},
         "document-number-problem", "JY 加 14 位数字"),
        ({**LICENCE, "valid_to": "2025-01-01"}, "document-valid_to-problem", "不能早于生效日期"),
        ({**LICENCE, "valid_from": "2026/01/05"}, "document-valid_from-problem", "格式应为 2026-11-23"),
        ({**LICENCE, "kind": "passport"}, "document-kind-problem", "请选择证照类型"),
    ]
    for fields, problem, message in cases:
        refused = await pages.upload(path, fields, token, png())
        body = await refused.text()
        assert refused.status == 422, (fields, body)
        assert message in words(section(body, problem)), (fields, problem)
    assert pages.kept() == [] and len(await vendor_documents(pages, "v-li")) == 2


async def test_a_scan_is_kept_for_a_document_recorded_without_one_and_replaced_later(pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    [licence, *_] = await vendor_documents(pages, "v-wang")
    path = f"{MANAGE}/vendors/v-wang/documents/{licence.document_id}/scan"
    page = await pages.page(f"{MANAGE}/vendors/v-wang")
    assert "无扫描件" in section(page, f"document-{licence.document_id}")
    refused = await pages.upload(path, {}, token, GIF, "photo.gif", "image/gif")
    assert refused.status == 415 and "只接受 JPEG、PNG" in words(section(await refused.text(),
                                                                       f"document-{licence.document_id}"))
    first = await pages.upload(path, {}, token, PDF, "licence.pdf", "application/pdf")
    assert first.status == 303 and first.headers["Location"].endswith(f"?notice=scan#document-{licence.document_id}")
    [old] = pages.kept()
    assert old.suffix == ".pdf"
    second = await pages.upload(path, {}, token, png())
    assert second.status == 303
    [new] = pages.kept()
    assert new.suffix == ".png" and not old.exists(), "the replaced file is removed"
    assert (await pages.client.get(path)).content_type == "image/png"
    void = f"{MANAGE}/stalls/A03/documents/{licence.document_id}/void"
    assert (await pages.post(void, {"reason": "证号录错", "confirm": "yes"}, token)).status == 303
    voided = await pages.upload(path, {}, token, png())
    assert voided.status == 409 and "已作废" in await voided.text()
    assert pages.kept() == [new], "a voided document keeps the scan it had and takes no other"


# --- stalls and scales --------------------------------------------------------------------------------

async def test_a_stall_is_added_for_a_vendor_changed_and_given_a_scale_that_gets_its_prices(pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    vendor = await pages.page(f"{MANAGE}/vendors/v-li")
    assert f'href="{MANAGE}?new_stall=1&amp;vendor_id=v-li#new-stall"' in section(vendor, "stalls")
    form = await pages.page(f"{MANAGE}?new_stall=1&vendor_id=v-li")
    assert '<option value="v-li" selected>' in section(form, "new-stall"), "the vendor is chosen already"
    added = await pages.post(f"{MANAGE}/stalls", {"stall": "C07", "name": "李姐熟食", "stall_type": "cooked_food",
                                                  "vendor_id": "v-li"}, token)
    assert added.status == 303 and added.headers["Location"] == f"{MANAGE}/stalls/C07?notice=added"
    stall = await pages.page(f"{MANAGE}/stalls/C07?notice=added")
    assert "摊位已登记" in stall and f'href="{MANAGE}/vendors/v-li"' in section(stall, "vendor")
    assert "食品经营许可证" in words(section(stall, "documents")), "a cooked-food stall needs a permit"

    edited = await pages.post(f"{MANAGE}/stalls/C07/edit", {"name": "李姐卤味", "stall_type": "cooked_food",
                                                            "vendor_id": "v-wang"}, token)
    assert edited.status == 303 and edited.headers["Location"] == f"{MANAGE}/stalls/C07?notice=changed"
    display = await pages.service.stall_display(SITE, "C07", NOW)
    assert (display.stall.name, display.stall.vendor_id) == ("李姐卤味", "v-wang")

    registered = await pages.post(f"{MANAGE}/stalls/C07/scales", {"scale_id": "scale-07"}, token)
    assert registered.status == 303
    assert registered.headers["Location"] == f"{MANAGE}/stalls/C07?notice=scale#scale-scale-07"
    assert pages.downlink.sent == [], "no prices yet: nothing to push"
    stall = await pages.page(f"{MANAGE}/stalls/C07?notice=scale")
    assert "scale-07" in section(stall, "scales") and f'href="{MANAGE}/stalls/C07/prices"' in section(stall, "scales")
    moved = await pages.post(f"{MANAGE}/stalls/A04/scales", {"scale_id": "scale-08"}, token)
    assert moved.status == 303
    [(topic, command)] = pages.downlink.sent
    assert topic.device == "scale-08" and command.op == SET_PRICES, "a scale at a priced stall gets its prices"


async def test_stall_and_scale_forms_with_mistakes_say_so_next_to_the_field(pages: Pages) -> None:
    token = await pages.sign_in("op-liu")
    refused = await pages.post(f"{MANAGE}/stalls", {"stall": "A 03", "name": "", "stall_type": "flowers",
                                                    "vendor_id": "v-ghost"}, token)
    body = await refused.text()
    assert refused.status == 422
    assert "摊位编号为 1–32 位" in section(body, "stall-stall-problem")
    assert "请填写摊位名称" in section(body, "stall-name-problem")
    assert "请选择经营类别" in section(body, "stall-stall_type-problem")
    assert 'value="A 03"' in section(body, "new-stall")
    taken = await pages.post(f"{MANAGE}/stalls", {"stall": "A03", "name": "重复", "stall_type": "vegetables"}, token)
    assert taken.status == 409 and "摊位 A03 已经登记过" in words(section(await taken.text(), "stall-stall-problem"))
    nobody = await pages.post(f"{MANAGE}/stalls", {"stall": "A09", "name": "无名", "stall_type": "vegetables",
                                                   "vendor_id": "v-ghost"}, token)
    assert nobody.status == 422 and "请先登记经营者" in words(section(await nobody.text(), "stall-vendor_id-problem"))
    assert len(await pages.service.stalls(SITE, NOW, 50, 0)) == 3, "nothing was added"

    edit = await pages.post(f"{MANAGE}/stalls/A03/edit", {"name": "", "stall_type": "vegetables"}, token)
    assert edit.status == 422 and "请填写摊位名称" in await edit.text()
    assert (await pages.page(f"{MANAGE}/stalls/Z99/edit", status=404))

    bad = await pages.post(f"{MANAGE}/stalls/A04/scales", {"scale_id": "秤/1"}, token)
    assert bad.status == 422 and "电子秤编号为 1–64 位" in words(section(await bad.text(), "scale-scale_id-problem"))
    again = await pages.post(f"{MANAGE}/stalls/A03/scales", {"scale_id": "scale-01"}, token)
    assert again.status == 409 and "已登记在本摊位" in await again.text()
    elsewhere = await pages.post(f"{MANAGE}/stalls/A04/scales", {"scale_id": "scale-01"}, token)
    text = await elsewhere.text()
    assert elsewhere.status == 409 and "登记在摊位 A03" in words(section(text, "scale-scale_id-problem"))
    assert 'name="move" value="yes"' in text
    assert pages.downlink.sent == [], "nothing was sent to a scale"
    moved = await pages.post(f"{MANAGE}/stalls/A04/scales", {"scale_id": "scale-01", "move": "yes"}, token)
    assert moved.status == 303
    assert [s.registration.scale for s in await pages.service.scales(SITE, 10, 0, stall="A04")] == ["scale-01"]


# --- who may do what -----------------------------------------------------------------------------------

NEW_GETS = ("/vendors", "/vendors/v-wang", "/stalls/A03/edit")
NEW_POSTS = (("/vendors", {"name": "x"}), ("/stalls", {"stall": "X1", "name": "x", "stall_type": "vegetables"}),
             ("/stalls/A03/edit", {"name": "x", "stall_type": "vegetables"}),
             ("/stalls/A03/scales", {"scale_id": "scale-x"}), ("/vendors/v-wang/documents", LICENCE))


async def test_the_supervisor_reads_vendors_without_forms_or_phones_and_cannot_post(pages: Pages) -> None:
    token = await pages.sign_in("sup-wu")
    for path in ("/vendors", "/vendors/v-wang", "", "/stalls/A03"):
        page = await pages.page(MANAGE + path)
        assert '<form method="post" action="/market/' not in page and VENDOR_PHONE not in page, path
        assert "138****0000" not in page, path
    await pages.page(f"{MANAGE}/stalls/A03/edit", status=403)
    for path, form in NEW_POSTS:
        refused = await pages.post(MANAGE + path, form, token)
        assert refused.status == 403 and "没有权限" in await refused.text(), path
    upload = await pages.upload(f"{MANAGE}/vendors/v-wang/documents", LICENCE, token, png())
    assert upload.status == 403 and pages.kept() == []
    assert len(await pages.service.vendors(SITE, 50, 0)) == 2


async def test_another_markets_operator_gets_the_page_of_a_market_that_does_not_exist(pages: Pages) -> None:
    token = await pages.sign_in("op-zhao")
    for path in NEW_GETS:
        page = await pages.page(MANAGE + path, status=404)
        ghost = await pages.page(f"/market/nowhere/manage{path}", status=404)
        assert "市场不存在" in page and page == ghost, path
    for path, form in NEW_POSTS:
        refused = await pages.post(MANAGE + path, form, token)
        assert refused.status == 404 and "市场不存在" in await refused.text(), path
    upload = await pages.upload(f"{MANAGE}/vendors/v-wang/documents", LICENCE, token, png())
    assert upload.status == 404 and pages.kept() == []


# --- the API's scans ------------------------------------------------------------------------------------

async def test_the_api_keeps_a_scan_sent_as_the_body_and_refuses_what_is_no_scan(pages: Pages) -> None:
    [licence, *_] = await vendor_documents(pages, "v-wang")
    path = f"/api/markets/{SITE}/vendors/v-wang/documents/{licence.document_id}/scan"
    operator = pages.bearer("op-liu", Role.MARKET_OPERATOR)
    for body, status, reason in ((GIF, 415, "unknown_type"), (b"", 422, "empty"),
                                 (png() + b"\x00" * MAX_SCAN, 413, "too_large")):
        refused = await pages.client.post(path, data=body, headers={**operator, "Content-Type": "image/png"})
        assert refused.status == status and (await refused.json())["reason"] == reason
    assert pages.kept() == []
    kept = await pages.client.post(path, data=png(), headers={**operator, "Content-Type": "application/octet-stream"})
    answer = await kept.json()
    assert kept.status == 200 and answer["scan_type"] == "image/png" and answer["scan_bytes"] == len(png())
    listed = await (await pages.client.get(f"/api/markets/{SITE}/vendors", headers=operator)).json()
    [wang] = [v for v in listed["items"] if v["vendor_id"] == "v-wang"]
    assert wang["documents"][0]["scan_type"] == "image/png"
    read = await pages.client.get(path, headers=pages.bearer("sup-wu", Role.SUPERVISOR))
    assert read.status == 200 and await read.read() == png() and read.headers["Cache-Control"] == "no-store"
    assert "attachment" in read.headers["Content-Disposition"]
    other = await pages.client.get(path, headers=pages.bearer("op-zhao", Role.MARKET_OPERATOR))
    assert other.status == 404 and await other.json() == {"error": f"no market {SITE!r}"}
    assert (await pages.client.get(path)).status == 401
    none = await pages.client.get(path.replace(f"/{licence.document_id}/", "/999999/"), headers=operator)
    assert none.status == 404
    supervisor = await pages.client.post(path, data=png(), headers=pages.bearer("sup-wu", Role.SUPERVISOR))
    assert supervisor.status == 403
    assert len(pages.kept()) == 1
    assert licence.document.kind is DocumentKind.BUSINESS_LICENCE


# --- the portal's public links: a market that exists, whatever SC_SITE says ---------------------------------

async def test_the_public_links_offer_the_installations_markets(pages: Pages) -> None:
    portal = await (await pages.client.get("/", headers=HTML)).text()
    assert 'href="/market/prices"' in portal and 'href="/market/trace"' in portal
    for path, slug in (("/market/prices", "prices"), ("/market/trace", "trace")):
        chooser = await pages.client.get(path, headers=HTML, allow_redirects=False)
        text = await chooser.text()
        assert chooser.status == 200, text
        assert f'href="/market/{SITE}/{slug}"' in text and f'href="/market/{OTHER}/{slug}"' in text
        assert "北苑农贸市场" in text


async def test_the_public_links_say_there_is_no_market_yet_then_go_straight_to_the_first(
        engine: AsyncEngine, tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    clock = Clock()
    service = MarketService(engine, RecordingDownlink(), store, clock, MarketSettings(scan_dir=tmp_path / "scans"))
    app = web.Application()
    mount_pages(app, AccountService(engine), AUTHORITY, clock)
    mount_market_pages(app, service, "no-such-market", AUTHORITY, clock)  # SC_SITE names no market
    async with TestClient(TestServer(app)) as client:
        empty = await client.get("/market/prices", headers=HTML, allow_redirects=False)
        assert empty.status == 200 and "还没有开通农贸市场" in await empty.text()
        await service.create_market(Market("nanhu", "南湖农贸市场", "南湖路 18 号", "12315"), NOW)
        for path in ("/market/prices", "/market/trace"):
            only = await client.get(path, headers=HTML, allow_redirects=False)
            assert only.status == 303 and only.headers["Location"] == f"/market/nanhu/{path.rsplit('/', 1)[1]}"
        board = await client.get("/market/prices", headers=HTML)
        assert board.status == 200 and "南湖农贸市场" in await board.text()
    await store.close()
