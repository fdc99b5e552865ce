"""Markets scoped to their operators, on both databases, with real accounts and the accounts' own check of every
token and session: an operator of another market gets, on every route and page that names a market, exactly what
a market that does not exist gets; an object of another market (vendor, document, stall, batch, finding, trace
code) is not found under this one's path; listings show the caller's markets; creating one needs its site id
assigned first; the supervisor reads its markets and changes nothing, and is shown no vendor's contact."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from devices.contract import Payment, ScaleRecord
from devices.topics import Channel, DeviceKind, parse_topic, topic_for
from gateway.outputs.embedded import EmbeddedStore
from market.complaints import ComplaintCategory
from market.licences import Document, DocumentKind, StallType
from market.pages import mount_market_pages
from market.rapid_tests import TypedTest
from market.service import ComplaintForm, MarketService, MarketSettings, PriceItem
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, Certificate, CertificateType
from market.web.routes import ROUTES
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import HTML, PageSession
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
AUTHORITY = TokenAuthority(b"s" * 32)
PASSWORD = "market-scope-test"
A, B, GHOST = "xinfadi", "beiyuan", "nowhere"
"""The first operator's market, another operator's, and one that does not exist."""
VENDOR_PHONE = "13800000000"
SCAN = b"%PDF-1.4\n%%EOF\n"


def clock() -> datetime:
    return NOW


def markets(*sites: str) -> Scope:
    return Scope(markets=frozenset(sites))


ACCOUNTS: dict[str, tuple[tuple[Role, ...], Scope | None]] = {
    "op-a": ((Role.MARKET_OPERATOR,), markets(A)),
    "op-b": ((Role.MARKET_OPERATOR,), markets(B)),
    "op-none": ((Role.MARKET_OPERATOR,), None),
    "sup-a": ((Role.SUPERVISOR,), Scope(communities=frozenset({"c-1"}), markets=frozenset({A}))),
    "sup-ab": ((Role.SUPERVISOR,), markets(A, B)),
    "root": ((Role.ADMIN,), None),
}


def bearer(subject: str) -> dict[str, str]:
    roles = ACCOUNTS[subject][0]
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, roles, NOW - timedelta(hours=1), timedelta(days=1))}"}


PHOTO = b"\xff\xd8\xff\xe0" + b"\0" * 64
"""A complaint's photo (a JPEG by its first bytes)."""


@dataclass(frozen=True)
class Ids:
    """What a market holds, by the ids its routes take."""

    site: str
    vendor: str
    document: int
    stall: str
    batch: str
    finding: int
    trace_code: str
    test: int
    complaint: int = 0
    reference: str = "TS2222222222"

    def path(self, template: str, site: str | None = None) -> str:
        return template.format(site=site or self.site, vendor_id=self.vendor, document_id=self.document,
                               stall=self.stall, batch_id=self.batch, finding_id=self.finding,
                               trace_code=self.trace_code, test_id=self.test, complaint_id=self.complaint,
                               reference=self.reference)


async def seed(service: MarketService, site: str, name: str, code: str) -> Ids:
    """A market with a vendor (with documents and a contact), a stall with a scale, prices, a batch and a sale
    at a price other than the published one (a finding). ``code``: what its ids start with, so no id of one
    market is an id of the other."""
    vendor, stall, scale, batch = f"v-{code}", f"{code}01", f"scale-{code}", f"B20261123-{code}01-01"
    await service.create_market(Market(site, name, "北京市", "12315"), NOW)
    await service.add_vendor(site, Vendor(vendor, "王建国", None, VENDOR_PHONE), NOW)
    for document in (Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1)),
                     Document(DocumentKind.FOOD_FILING, "YB11010600012345", date(2024, 1, 1))):
        await service.add_document(site, vendor, document, "op", NOW)
    await service.add_stall(site, Stall(stall, "王记蔬菜", StallType.VEGETABLES, vendor), NOW)
    await service.register_scale(site, scale, stall, NOW)
    await service.publish_prices(site, stall, [PriceItem("1001", "西红柿", 680)], None, "op", NOW - timedelta(hours=2))
    await service.receive_batch(site, Batch(batch, stall, "1001", "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市",
                                            50_000, (Certificate(CertificateType.COMMITMENT, "CD-2026-1123"),),
                                            NOW - timedelta(hours=5)), "op", NOW)
    trace_code = f"{site}-{stall}-0001"
    sale = ScaleRecord(record_id="r-1", ts=NOW - timedelta(minutes=5), stall=stall, plu="1001", product="西红柿",
                       net_g=1000, unit_price_fen=720, amount_fen=720, trace_code=trace_code, batch=batch,
                       payment=Payment.WECHAT)
    await service.handle([(parse_topic(topic_for(site, DeviceKind.SCALE, scale, Channel.RECORD)), sale)])
    [finding] = await service.findings(site, None, None, True, 10, 0)
    [(_, documents)] = await service.vendors(site, 10, 0)
    await service.keep_scan(site, vendor, documents[0].document_id, SCAN, "op")  # the copy the market keeps
    test = await service.record_test(site, TypedTest(batch, "organophosphate_carbamate", None, "12", "%", "刘*",
                                                     NOW - timedelta(hours=4)), "op", NOW)
    assert test.test.test_id is not None
    complaint = await service.file_complaint(site, ComplaintForm(None, trace_code, ComplaintCategory.SHORT_WEIGHT,
                                                                 "称重少了二两", PHOTO), NOW)
    assert complaint.complaint_id is not None
    return Ids(site, vendor, documents[0].document_id, stall, batch, finding.finding_id, trace_code,
               test.test.test_id, complaint.complaint_id, complaint.reference)


@dataclass
class Installation(PageSession):
    landing: ClassVar[str] = f"/market/{A}/prices"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    engine: AsyncEngine
    service: MarketService
    a: Ids
    b: Ids

    async def assign(self, subject: str, scope: Scope) -> None:
        """Assign ``scope`` to ``subject``'s account: the next request sees it (the accounts say so each time)."""
        async with self.engine.begin() as connection:
            await AccountRepository(connection).assign(subject, scope)

    async def call(self, method: str, path: str, subject: str | None, **kwargs: Any) -> tuple[int, Any]:
        headers = bearer(subject) if subject else None
        response = await self.client.request(method, path, headers=headers, **kwargs)
        text = (await response.read()).decode("utf-8", "replace")  # a photo is no text
        return response.status, json.loads(text) if response.content_type.endswith("json") else text


@pytest.fixture
async def installation(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Installation]:
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    accounts = AccountService(engine)
    for subject, (roles, _scope) in ACCOUNTS.items():
        await accounts.create_account(subject, subject, roles, PASSWORD, NOW)
    async with engine.begin() as connection:
        for subject, (_roles, scope) in ACCOUNTS.items():
            if scope is not None:
                await AccountRepository(connection).assign(subject, scope)
    service = MarketService(engine, RecordingDownlink(), store, clock, MarketSettings(scan_dir=tmp_path / "scans",
                                                                                complaint_dir=tmp_path / "complaints"))
    a = await seed(service, A, "新发地农贸市场", "A")
    b = await seed(service, B, "北苑农贸市场", "N")
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)  # the accounts check every token and session
    mount_market_pages(app, service, A, AUTHORITY, clock)
    async with TestClient(TestServer(app)) as client:
        yield Installation(client, engine, service, a, b)
    await store.close()


SCOPED = [route for route in ROUTES if route.roles is not None and "{site}" in route.path]
READS = [route for route in SCOPED if route.method == "GET"]
WRITES = [route for route in SCOPED if route.method != "GET"]


def swapped(body: Any, real: str, ghost: str) -> Any:
    """``body`` as it would read had the request named ``ghost`` instead of ``real``."""
    return json.loads(json.dumps(body, ensure_ascii=False).replace(real, ghost))


# --- the API ------------------------------------------------------------------------------------

async def test_every_route_of_another_market_answers_as_for_a_market_that_does_not_exist(
        installation: Installation) -> None:
    assert len(SCOPED) >= 25, "every operator route that names a market"
    b = installation.b
    for route in SCOPED:
        # the scope is checked before the body is read: a bad body changes nothing
        body: dict[str, Any] = {"json": {}} if route.method != "GET" else {}
        for subject in ("op-a", "sup-a"):
            if subject == "sup-a" and route in WRITES:
                continue  # the supervisor's writes are refused by role first, whatever the market (below)
            status, answer = await installation.call(route.method, b.path(route.path), subject, **body)
            assert (status, answer) == (404, {"error": f"no market {B!r}"}), (route.method, route.path, subject)
            unknown = await installation.call(route.method, b.path(route.path, GHOST), subject, **body)
            assert (status, swapped(answer, B, GHOST)) == unknown, (route.method, route.path, subject)
    assert await installation.call("GET", f"/api/markets/{GHOST}", "root") == (404, {"error": f"no market {GHOST!r}"})
    # the market is there, and its own operator reaches all of it
    for route in READS:
        status, _ = await installation.call("GET", b.path(route.path), "op-b")
        assert status == 200, route.path
    assert [item["name"] for item in (await installation.call("GET", b.path("/api/markets/{site}/vendors"),
                                                              "op-b"))[1]["items"]] == ["王建国"]


async def test_an_object_of_another_market_is_not_found_under_this_ones_path(installation: Installation) -> None:
    a, b = installation.a, installation.b
    ghost = Ids(A, "v-ghost", 999_999, "Z99", "B-ghost", 888_888, "ghost-code", 777_777, 666_666, "TS3333333333")
    laboratory = {"verdict": "pass", "laboratory": "x", "report_number": "r",
                  "reported_at": "2026-11-23T09:00:00+08:00"}
    licence = {"kind": "business_licence", "number": "91440300708461136T", "valid_from": "2024-01-01"}
    cases = [  # (method, path under A, the kind of B's object named in it, body)
        ("POST", "/vendors/{vendor_id}/documents", "vendor", licence),
        ("POST", "/stalls/{stall}/prices", "stall", {"prices": [{"plu": "1", "product": "x", "unit_price_fen": 1}]}),
        ("PUT", "/stalls/{stall}", "stall", {"name": "x", "stall_type": "vegetables", "vendor_id": None}),
        ("PUT", "/stalls/{stall}/staff", "stall", {"staff": [{"name": "x"}]}),
        ("PUT", "/vendors/{vendor_id}/farmer", "vendor", {"self_producing": True}),
        ("GET", "/vendors/{vendor_id}/credit", "vendor", None),
        ("GET", "/stalls/{stall}/prices", "stall", None),
        ("GET", "/stalls/{stall}/display", "stall", None),
        ("GET", "/batches/{batch_id}", "batch", None),
        ("GET", "/batches/{batch_id}/sales", "batch", None),
        ("GET", "/batches/{batch_id}/epcis", "batch", None),
        ("POST", "/batches/{batch_id}/tests/{test_id}/laboratory", "batch", laboratory),
        ("POST", "/batches/{batch_id}/tests/{test_id}/laboratory", "test", laboratory),
        ("POST", "/batches/{batch_id}/tests", "batch", {"item": "clenbuterol", "value": 1, "unit": "%",
                                                        "tester": "z", "tested_at": "2026-11-23T09:00:00+08:00"}),
        ("POST", "/batches/{batch_id}/recall", "batch", {"reason": "x"}),
        ("POST", "/batches/{batch_id}/release", "batch", {"reason": "x"}),
        ("POST", "/batches/{batch_id}/quantity", "batch", {"quantity_g": 1000, "reason": "x"}),
        ("POST", "/findings/{finding_id}/resolve", "finding", {"resolution": "x"}),
        ("GET", "/trace/{trace_code}", "trace_code", None),
        ("GET", "/complaints/{complaint_id}", "complaint", None),
        ("GET", "/complaints/{complaint_id}/photo", "complaint", None),
        ("POST", "/complaints/{complaint_id}/state", "complaint", {"action": "start"}),
        ("GET", "/complaint-status/{reference}", "reference", None),
    ]
    for method, tail, kind, body in cases:
        template = "/api/markets/{site}" + tail
        theirs, unknown = replace(a, **{kind: getattr(b, kind)}), replace(a, **{kind: getattr(ghost, kind)})
        kwargs = {"json": body} if body is not None else {}
        for subject in ("op-a", "root"):
            status, answer = await installation.call(method, theirs.path(template), subject, **kwargs)
            assert status == 404, (method, tail, subject, answer)
            expected = await installation.call(method, unknown.path(template), subject, **kwargs)
            real, named = getattr(b, kind), getattr(ghost, kind)
            if isinstance(real, int):  # a number is replaced where the answer names it, not in every digit
                real, named = f"{kind} {real} ", f"{kind} {named} "
            assert (status, swapped(answer, str(real), str(named))) == expected, tail
    # a document of B voided under A's path and A's vendor, or under B's vendor's id at A
    for vendor in (a.vendor, b.vendor):
        path = f"/api/markets/{A}/vendors/{vendor}/documents/{b.document}/void"
        status, answer = await installation.call("POST", path, "op-a", json={"reason": "x"})
        expected = await installation.call("POST", path.replace(f"/{b.document}/", "/999999/"), "op-a",
                                           json={"reason": "x"})
        assert (status, swapped(answer, f"document {b.document} ", "document 999999 ")) == expected
        assert status == 404
    # and nothing of B was touched
    detail = await installation.service.batch_detail(B, b.batch)
    assert detail.batch.block is None and len(detail.tests) == 1 and detail.batch.quantity_g == 50_000
    assert [f.finding_id for f in await installation.service.findings(B, None, None, True, 10, 0)] == [b.finding]
    assert all(not d.voided for d in await installation.service.vendor_documents(B, b.vendor))
    assert not (await installation.service.vendor(B, b.vendor)).self_producing
    assert (await installation.service.stall_display(B, b.stall, NOW)).staff == ()


async def test_the_list_of_markets_shows_the_callers_markets_only(installation: Installation) -> None:
    async def sites(subject: str, query: str = "") -> list[str]:
        status, page = await installation.call("GET", f"/api/markets{query}", subject)
        assert status == 200, page
        return [item["site"] for item in page["items"]]

    assert await sites("op-a") == [A]
    assert await sites("op-b") == [B]
    assert await sites("sup-a") == [A]
    assert await sites("sup-ab") == sorted([A, B])
    assert await sites("op-none") == []
    assert await sites("root") == sorted([A, B])
    status, page = await installation.call("GET", "/api/markets?limit=1", "sup-ab")
    assert status == 200 and len(page["items"]) == 1 and page["next_offset"] == 1
    assert (await installation.call("GET", "/api/markets", None))[0] == 401, "not public: as before"


async def test_creating_a_market_needs_its_site_id_assigned_first(installation: Installation) -> None:
    new = {"site": "xinfadi-2", "name": "新发地二号市场", "address": "北京市丰台区", "complaint_hotline": "12315"}
    status, answer = await installation.call("POST", "/api/markets", "op-a", json=new)
    assert status == 403 and "not assigned to you" in answer["error"]
    # a market that exists but is another's is refused the same way, not as a conflict: nothing leaks
    status, other = await installation.call("POST", "/api/markets", "op-a", json={**new, "site": B})
    assert (status, swapped(other, B, "xinfadi-2")) == (403, answer)
    assert (await installation.call("POST", "/api/markets", "sup-ab", json=new))[0] == 403
    await installation.assign("op-a", markets("xinfadi-2"))
    assert (await installation.call("POST", "/api/markets", "op-a", json=new))[0] == 201
    assert (await installation.call("POST", "/api/markets", "op-a", json=new))[0] == 409, "its own: a conflict"
    assert (await installation.call("POST", "/api/markets", "root", json={**new, "site": "anywhere"}))[0] == 201


async def test_the_supervisor_reads_its_markets_and_changes_nothing(installation: Installation) -> None:
    a = installation.a
    for route in READS:
        status, answer = await installation.call("GET", a.path(route.path), "sup-a")
        assert status == 200, (route.path, answer)
    for route in WRITES:
        status, answer = await installation.call(route.method, a.path(route.path), "sup-a", json={})
        assert status == 403 and "needs one of the roles" in answer["error"], route.path
    status, vendors = await installation.call("GET", a.path("/api/markets/{site}/vendors"), "sup-a")
    assert [v["contact_phone"] for v in vendors["items"]] == [None], "a vendor's contact is no supervisor's business"
    status, vendors = await installation.call("GET", a.path("/api/markets/{site}/vendors"), "op-a")
    assert [v["contact_phone"] for v in vendors["items"]] == [VENDOR_PHONE]
    detail = await installation.service.batch_detail(A, a.batch)
    assert detail.batch.block is None and len(detail.tests) == 1
    document = (await installation.call("GET", "/openapi.json", None))[1]
    for route in SCOPED:
        roles = document["paths"][route.path][route.method.lower()]["x-roles"]
        assert ("supervisor" in roles) == (route.method == "GET"), route.path


# --- the pages ------------------------------------------------------------------------------------

MARKET_FORM = '<form method="post" action="/market/'
"""A form of the market's pages (the layout's sign-out form is everyone's)."""
MANAGE_GETS = ("", "/stalls/{stall}", "/stalls/{stall}/prices", "/batches", "/batches/{batch_id}",
               "/batches/{batch_id}/epcis", "/findings", "/vendors", "/vendors/{vendor_id}",
               "/vendors/{vendor_id}/documents/{document_id}/scan", "/stalls/{stall}/edit", "/complaints",
               "/complaints/{complaint_id}", "/complaints/{complaint_id}/photo")
MANAGE_POSTS: tuple[tuple[str, dict[str, str]], ...] = (
                ("/stalls/{stall}/prices", {"action": "preview", "plu.0": "1001", "product.0": "西红柿",
                                            "price.0": "9.90"}),
                ("/batches", {"stall": "N01"}),
                ("/batches/{batch_id}/tests", {"item": "x"}),
                ("/batches/{batch_id}/tests/{test_id}/laboratory", {"verdict": "pass"}),
                ("/complaints/{complaint_id}/state", {"action": "start"}),
                ("/batches/{batch_id}/recall", {"reason": "x", "confirm": "yes"}),
                ("/batches/{batch_id}/release", {"reason": "x", "confirm": "yes"}),
                ("/batches/{batch_id}/quantity", {"quantity_kg": "1", "reason": "x"}),
                ("/stalls/{stall}/documents/{document_id}/void", {"reason": "x", "confirm": "yes"}),
                ("/findings/{finding_id}/resolve", {"resolution": "x"}),
                ("/vendors", {"name": "x"}),
                ("/vendors/{vendor_id}/documents", {"kind": "business_licence", "number": "x"}),
                ("/vendors/{vendor_id}/documents/{document_id}/scan", {}),
                ("/stalls", {"stall": "X1", "name": "x", "stall_type": "vegetables"}),
                ("/stalls/{stall}/edit", {"name": "x", "stall_type": "vegetables"}),
                ("/stalls/{stall}/scales", {"scale_id": "scale-x"}),
                ("/stalls/{stall}/staff", {"rows": "1", "staff_name_0": "x"}),
                ("/vendors/{vendor_id}/farmer", {"self_producing": "yes"}),
                ("/licence-policy", {"health_certificate_every_stall": "yes", "reason": "x"}))


async def test_the_operator_pages_of_another_market_are_the_page_of_a_market_that_does_not_exist(
        installation: Installation) -> None:
    b = installation.b
    token = await installation.sign_in("op-a")
    for tail in MANAGE_GETS:
        path = b.path("/market/{site}/manage" + tail)
        page = await installation.page(path, status=404)
        assert "市场不存在" in page, path
        assert page.replace(B, GHOST) == await installation.page(b.path("/market/{site}/manage" + tail, GHOST), 404)
    for tail, form in MANAGE_POSTS:
        response = await installation.post(b.path("/market/{site}/manage" + tail), form, token)
        page = await response.text()
        unknown = await installation.post(b.path("/market/{site}/manage" + tail, GHOST), form, token)
        assert response.status == unknown.status == 404 and "市场不存在" in page, tail
        assert page.replace(B, GHOST) == await unknown.text()
    detail = await installation.service.batch_detail(B, b.batch)
    assert detail.batch.block is None and len(detail.tests) == 1, "nothing of B was changed"
    await installation.sign_in("op-b")
    for tail in MANAGE_GETS:
        response = await installation.client.get(b.path("/market/{site}/manage" + tail), headers=HTML)
        assert response.status == 200, tail


async def test_the_supervisor_reads_the_pages_without_their_forms(installation: Installation) -> None:
    a = installation.a
    token = await installation.sign_in("sup-a")
    for tail in ("", "/stalls/{stall}", "/batches", "/batches/{batch_id}", "/findings", "/vendors",
                 "/vendors/{vendor_id}"):
        page = await installation.page(a.path("/market/{site}/manage" + tail))
        assert MARKET_FORM not in page and "发布价格" not in page, tail
        assert VENDOR_PHONE not in page, tail
    response = await installation.client.get(a.path("/market/{site}/manage/batches/{batch_id}/epcis"))
    assert response.status == 200 and response.content_type == "application/ld+json"
    await installation.page(a.path("/market/{site}/manage/stalls/{stall}/prices"), status=403)
    await installation.page(a.path("/market/{site}/manage/stalls/{stall}/edit"), status=403)
    scan = await installation.client.get(a.path("/market/{site}/manage/vendors/{vendor_id}/documents/{document_id}"
                                                "/scan"))
    assert scan.status == 200 and await scan.read() == SCAN, "the supervision office reads the kept licence"
    for tail, form in MANAGE_POSTS:
        response = await installation.post(a.path("/market/{site}/manage" + tail), form, token)
        assert response.status == 403 and "没有权限" in await response.text(), tail
    detail = await installation.service.batch_detail(A, a.batch)
    assert detail.batch.block is None and len(detail.tests) == 1
    await installation.page(installation.b.path("/market/{site}/manage"), status=404)
    await installation.sign_in("op-a")
    stall = await installation.page(a.path("/market/{site}/manage/stalls/{stall}"))
    assert VENDOR_PHONE in stall and MARKET_FORM in stall, "the operator's own page: contact and forms"


async def test_the_way_in_leads_to_the_signed_in_persons_markets(installation: Installation) -> None:
    await installation.sign_in("op-a")
    portal = await installation.page(f"/market/{A}/prices")
    assert 'href="/market/manage"' in portal, "the navigation leads to the chooser, not to one market"
    response = await installation.client.get("/market/manage", headers=HTML, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == f"/market/{A}/manage"
    await installation.sign_in("op-b")
    response = await installation.client.get("/market/manage", headers=HTML, allow_redirects=False)
    assert response.headers["Location"] == f"/market/{B}/manage"
    for subject in ("sup-ab", "root"):
        await installation.sign_in(subject)
        chooser = await installation.page("/market/manage")
        listed = re.findall(r'id="market-([^"]+)"', chooser)
        assert listed == sorted([A, B]), subject
    await installation.sign_in("op-none")
    assert "还没有分配市场" in await installation.page("/market/manage")
