"""The district view on both databases, with real accounts: a supervision office overseeing two markets sees both
counted (failed and suspected tests, recalls, expired licences, price findings, overdue complaints) and a third
market never — not in the API, the pages nor the downloads, and its market and stall pages answer 404 as for a
market that does not exist; an operator sees their own market only; the CSV downloads read back; the vendors graded C
and D, each graded as their own credit page grades them, counted per market and shown at their stalls."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from gateway.outputs.embedded import EmbeddedStore
from market.credit import Grade
from market.district import Period, district_rows, stall_rows
from market.pages import mount_market_pages
from market.service import MarketService, MarketSettings
from market.tracing import Batch, Certificate, CertificateType
from messaging.downlink import RecordingDownlink
from tests.integration.district_markets import (
    FAILING_VENDOR,
    NAMES,
    NOW,
    SUCCESSOR,
    A,
    B,
    C,
    seed,
    seed_failing_vendor,
)
from tests.integration.helpers import HTML, PageSession
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"d" * 32)
PASSWORD = "market-district-test"
ACCOUNTS: dict[str, tuple[tuple[Role, ...], Scope | None]] = {
    "sup-ab": ((Role.SUPERVISOR,), Scope(markets=frozenset({A, B}))),
    "op-a": ((Role.MARKET_OPERATOR,), Scope(markets=frozenset({A}))),
    "resident": ((Role.RESIDENT,), None),
    "root": ((Role.ADMIN,), None),
}


def clock() -> datetime:
    return NOW


def bearer(subject: str) -> dict[str, str]:
    roles = ACCOUNTS[subject][0]
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, roles, NOW - timedelta(hours=1), timedelta(days=1))}"}


@dataclass
class Installation(PageSession):
    landing: ClassVar[str] = f"/market/{A}/prices"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    service: MarketService

    async def get(self, path: str, subject: str | None = None) -> tuple[int, Any, web.Response | Any]:
        headers = bearer(subject) if subject else HTML
        response = await self.client.get(path, headers=headers, allow_redirects=False)
        body = await response.read()
        return response.status, body, response


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
    service = MarketService(engine, RecordingDownlink(), store, clock, MarketSettings(
        scan_dir=tmp_path / "scans", complaint_dir=tmp_path / "complaints"))
    for site in (A, B, C):
        await seed(service, site)
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_market_pages(app, service, A, AUTHORITY, clock)
    async with TestClient(TestServer(app)) as client:
        yield Installation(client, service)
    await store.close()


def table(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "the BOM Excel needs to read UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_the_markets_of_the_scope_are_counted_and_no_other(installation: Installation) -> None:
    found = await installation.service.district({A, B}, Period.DAYS, NOW)
    rows = district_rows(found.markets, found.window)
    assert [row.site for row in rows] == [B, A]  # by site id
    for row in rows:
        counts = row.counts
        assert (counts.tests_failed, counts.tests_suspected, counts.recalls) == (1, 1, 1), row
        assert (counts.licences_expired, counts.price_findings) == (2, 1), row  # the licence, at each stall
        assert (counts.complaints_open, counts.complaints_overdue, counts.complaints_closed) == (1, 1, 0), row
        assert row.stalls_with_problems == 2
    window, facts = await installation.service.market_problems(A, Period.WEEKS, NOW)
    assert window.period is Period.WEEKS and {t.stall for t in facts.tests} == {"A01", "A02"}
    assert {t.batch_id for t in facts.tests if t.failed} == {"B-A1"}


async def test_the_api_lists_the_callers_markets_only(installation: Installation) -> None:
    async def sites(subject: str, query: str = "") -> list[str]:
        status, body, _ = await installation.get("/api/district/markets" + query, subject)
        assert status == 200, body
        answer = json.loads(body)
        assert answer["totals"]["tests_failed"] == len(answer["markets"])
        return [market["site"] for market in answer["markets"]]

    assert await sites("sup-ab") == [B, A]
    assert await sites("sup-ab", "?period=12w") == [B, A]
    assert await sites("op-a") == [A]
    assert await sites("root") == [B, C, A]
    assert (await installation.get("/api/district/markets?period=1y", "sup-ab"))[0] == 400
    assert (await installation.get("/api/district/markets", "resident"))[0] == 403
    assert (await installation.client.get("/api/district/markets")).status == 401


async def test_the_supervisor_drills_down_to_a_stall_and_downloads_the_lists(installation: Installation) -> None:
    await installation.sign_in("sup-ab")
    district = await installation.page("/market/district")
    assert NAMES[A] in district and NAMES[B] in district and NAMES[C] not in district
    assert f"/market/{A}/manage/oversight" in district and "<svg" in district
    market = await installation.page(f"/market/{A}/manage/oversight")
    assert 'id="stall-A01"' in market and 'id="stall-A02"' in market
    stall = await installation.page(f"/market/{A}/manage/oversight/stalls/A01")
    assert "B-A1" in stall and "阳性" in stall and f"/market/{A}/manage/batches/B-A1" in stall
    assert "B-A2" not in stall  # the other stall's
    # outside the scope: as a market that does not exist
    for path in (f"/market/{C}/manage/oversight", f"/market/{C}/manage/oversight/stalls/S01",
                 f"/market/{C}/manage/oversight/export/tests.csv", "/market/nowhere/manage/oversight"):
        assert "市场不存在" in await installation.page(path, 404), path
    assert "摊位不存在" in await installation.page(f"/market/{A}/manage/oversight/stalls/S01", 404)
    assert "统计周期有误" in await installation.page("/market/district?period=forever", 422)

    status, body, response = await installation.get("/market/district/export/summary.csv?period=12w")
    assert status == 200 and response.content_type == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="district-summary-12w-2026-11-23.csv"'
    rows = table(body)
    assert rows[0][:2] == ["市场编号", "市场名称"] and [row[:2] for row in rows[1:]] == [[B, NAMES[B]], [A, NAMES[A]]]
    tests = table((await installation.get("/market/district/export/tests.csv"))[1])
    assert sorted((row[0], row[2], row[5]) for row in tests[1:]) == [
        (B, "N01", "B-N1"), (B, "N02", "B-N2"), (A, "A01", "B-A1"), (A, "A02", "B-A2")]
    complaints = table((await installation.get(f"/market/{A}/manage/oversight/export/complaints.csv"))[1])
    assert [(row[0], row[2], row[-1]) for row in complaints[1:]] == [(A, "A02", "是")]  # overdue
    licences = table((await installation.get(f"/market/{A}/manage/oversight/export/licences.csv"))[1])
    assert {(row[2], row[4], row[7]) for row in licences[1:]} >= {("A01", "营业执照", "已过期")}


async def test_an_operator_sees_their_own_market_only(installation: Installation) -> None:
    await installation.sign_in("op-a")
    district = await installation.page("/market/district")
    assert NAMES[A] in district and NAMES[B] not in district
    rows = table((await installation.get("/market/district/export/recalls.csv"))[1])
    assert [(row[0], row[4]) for row in rows[1:]] == [(A, "B-A1")]  # a hold for the laboratory is no recall
    assert "市场不存在" in await installation.page(f"/market/{B}/manage/oversight", 404)


async def test_a_recall_released_since_still_counts_from_its_audit_entry(installation: Installation) -> None:
    service = installation.service
    await service.receive_batch(A, Batch("B-A3", "A01", "1001", "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市",
                                         20_000, (Certificate(CertificateType.COMMITMENT, "CD-3"),),
                                         NOW - timedelta(hours=4)), "op", NOW)
    await service.recall(A, "B-A3", "供货商通报同批次不合格", "op", NOW - timedelta(hours=2))
    await service.release(A, "B-A3", "供货商撤回通报", "op", NOW - timedelta(hours=1))
    window, facts = await service.market_problems(A, Period.DAYS, NOW)
    [released] = [recall for recall in facts.recalls if recall.batch_id == "B-A3"]
    assert released.at == NOW - timedelta(hours=2) and released.released_at == NOW - timedelta(hours=1)
    assert released.reason == "供货商通报同批次不合格" and released.stall == "A01"
    [row] = district_rows([facts], window)
    assert row.counts.recalls == 2  # B-A1's failed test, and this one


async def test_vendors_graded_c_and_d_are_counted_as_their_credit_page_grades_them(installation: Installation
                                                                                   ) -> None:
    service = installation.service
    held, handed = await seed_failing_vendor(service, A)
    found = await service.district({A, B}, Period.DAYS, NOW)
    rows = {row.site: row for row in district_rows(found.markets, found.window)}
    assert (rows[A].counts.vendors_graded_c, rows[A].counts.vendors_graded_d) == (1, 1)  # v-A: at two stalls, once
    assert (rows[B].counts.vendors_graded_c, rows[B].counts.vendors_graded_d) == (1, 0)
    assert rows[A].stalls_with_problems == 3 and rows[B].stalls_with_problems == 2
    for facts in found.markets:
        for fact in facts.credit:
            rating = await service.vendor_credit(facts.site, fact.vendor_id, NOW)
            assert (fact.grade, fact.score) == (rating.grade, rating.score), fact
    [market_a] = [facts for facts in found.markets if facts.site == A]
    assert sorted((f.stall, f.vendor_id, f.grade) for f in market_a.credit) == [
        ("A01", "v-A", Grade.C), ("A02", "v-A", Grade.C), (held, FAILING_VENDOR, Grade.D),
        (handed, SUCCESSOR, Grade.A)]  # the stall handed over took nobody's record with it
    stalls = {row.stall: row for row in stall_rows(market_a, found.window)}
    assert stalls[held].counts.total == 1 and stalls[held].counts.serious, "no problem of the period but a D vendor"
    assert stalls[held].credit is not None and stalls[held].credit.score == 50
    assert handed not in stalls

    answers = {}
    for subject in ("sup-ab", "root"):
        status, body, _ = await installation.get("/api/district/markets", subject)
        assert status == 200, body
        answers[subject] = json.loads(body)
    by_site = {market["site"]: market["counts"] for market in answers["sup-ab"]["markets"]}
    assert (by_site[A]["vendors_graded_c"], by_site[A]["vendors_graded_d"]) == (1, 1)
    assert (answers["sup-ab"]["totals"]["vendors_graded_c"], answers["sup-ab"]["totals"]["vendors_graded_d"]) == (2, 1)
    assert answers["root"]["totals"]["vendors_graded_c"] == 3, "the third market's C vendor: to its readers only"

    await installation.sign_in("sup-ab")
    market = await installation.page(f"/market/{A}/manage/oversight")
    assert f'id="stall-{held}"' in market and 'data-credit-grade="D"' in market and "失信经营" in market
    assert f'id="stall-{handed}"' not in market
    stall = await installation.page(f"/market/{A}/manage/oversight/stalls/{held}")
    assert 'data-credit-grade="D"' in stall and "赵国强" in stall
    summary = table((await installation.get("/market/district/export/summary.csv"))[1])
    header = summary[0]
    columns = header.index("信用C级（诚信警示）经营者"), header.index("信用D级（失信经营）经营者")
    assert [(row[0], row[columns[0]], row[columns[1]]) for row in summary[1:]] == [(B, "1", "0"), (A, "1", "1")]
    stalls_csv = table((await installation.get(f"/market/{A}/manage/oversight/export/summary.csv"))[1])
    assert stalls_csv[0][-1] == "经营者信用等级"
    assert {row[1]: row[-1] for row in stalls_csv[1:]} == {"A01": "C 诚信警示", "A02": "C 诚信警示",
                                                           held: "D 失信经营"}
