"""Importing a compound from a spreadsheet over the access API, on both databases: the dry run writes nothing, the
import writes the access register (buildings, units, residents, hashed cards — the gates' whitelists follow) and the
ownership register in one transaction, all or nothing; the same file twice changes nothing, a changed row is a
change; bad files are refused with the row and the reason; an 800-unit XLSX imports in reasonable time; a community
outside the caller's scope is answered as an unknown one before the body is read."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook, load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.service import AccountService
from community.access.directory import ResidentRole
from community.access.service import AccessService, NotFound
from community.access.web import mount as mount_access_api
from community.onboarding.columns import COLUMNS
from community.onboarding.service import CompoundImport
from community.onboarding.spreadsheet import XLSX_TYPE, read_upload
from community.ownership.service import OwnershipService
from community.ownership.storage import OwnershipRepository
from messaging.downlink import RecordingDownlink
from tests.integration.api_accounts import give_accounts
from tests.integration.test_access_scope import PLUM
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, T0, WANG_CARD, Clock
from webkit.auth import check_tokens_with
from webkit.body_limit import limited_application
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"i" * 32)
MAX_BODY = 4 * 1024 * 1024
HEADER = [column.header for column in COLUMNS]
ACCOUNTS = {"pm-lotus": ([Role.PROPERTY_MANAGER], Scope(frozenset({"lotus"}))),
            "pm-plum": ([Role.PROPERTY_MANAGER], Scope(frozenset({"plum"}))),
            "sup-lotus": ([Role.SUPERVISOR], Scope(frozenset({"lotus"}))),
            "wang": ([Role.RESIDENT], Scope(frozenset({"lotus"}))),
            "root": ([Role.ADMIN], None)}
IMPORT = "/api/access/communities/lotus/import"


def bearer(subject: str) -> dict[str, str]:
    token = AUTHORITY.issue(subject, ACCOUNTS[subject][0], T0 - timedelta(days=1), timedelta(days=30))
    return {"Authorization": f"Bearer {token}"}


MANAGER = bearer("pm-lotus")


def compound_rows(units: int, building: str = "L3", groups: str = "entrance") -> list[list[Any]]:
    """A compound of ``units`` flats in buildings of 100: each owned by its resident owner with a phone and a card;
    every fifth co-owned with a family member living there (the owner represents it)."""
    rows: list[list[Any]] = []
    for number in range(1, units + 1):
        block, flat = divmod(number - 1, 100)
        building_id, unit_id, room = f"{building}-{block + 1}", f"{building}-{block + 1}-{flat + 1:03}", f"{flat + 101}"
        unit = [building_id, f"{block + 3}栋", "1单元", room, unit_id, f"{80 + number % 40}.50"]
        rows.append([*unit, f"{unit_id}-a", f"业主{number}", "代表" if number % 5 == 0 else "是", "业主",
                     f"139{number:08}", f"{number:010}", groups])
        if number % 5 == 0:
            rows.append([*unit, f"{unit_id}-b", f"家属{number}", "是", "家属", "", "", groups])
    return rows


def csv_of(rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def xlsx_of(rows: Sequence[Sequence[Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("房屋和人员")
    sheet.append(HEADER)
    for line in rows:
        sheet.append(list(line))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@dataclass
class Site:
    client: TestClient[Any, Any]
    service: AccessService
    ownership: OwnershipService

    async def post(self, body: bytes | aiohttp.FormData, *, dry_run: bool | None = True,
                   headers: dict[str, str] = MANAGER, content_type: str | None = "text/csv",
                   path: str = IMPORT) -> tuple[int, Any]:
        query = "" if dry_run is None else f"?dry_run={str(dry_run).lower()}"
        sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
        response = await self.client.post(path + query, data=body, headers=sent)
        return response.status, await response.json()

    async def counts(self) -> tuple[int, int, int, int]:
        """Units, residents, credentials of lotus and its ownership entries."""
        residents = await self.service.residents("lotus")
        cards = 0
        for resident in residents:
            cards += len(await self.service.credentials_of(resident.resident_id))
        register = await self.ownership.register("lotus")
        return len(await self.service.units("lotus")), len(residents), cards, len(register.entries)


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    clock = Clock(T0)
    service = AccessService(engine, RecordingDownlink(), clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    await service.import_community(PLUM)
    await give_accounts(engine, {subject: roles for subject, (roles, _) in ACCOUNTS.items()},
                        scope={subject: scope for subject, (_, scope) in ACCOUNTS.items() if scope is not None})
    app = limited_application(MAX_BODY)
    mount_access_api(app, service, AUTHORITY, clock)
    check_tokens_with(app, AccountService(engine))
    async with TestClient(TestServer(app)) as client:
        yield Site(client, service, OwnershipService(engine))


async def gate_hashes(site: Site) -> set[str]:
    """The credentials the east gate of lotus (its entrance group's door) should hold."""
    desired = await site.service.desired_whitelist("gate-01")
    assert desired is not None
    return {entry.credential_hash for entry in desired[1].entries}


async def whitelist_version(site: Site) -> int:
    desired = await site.service.desired_whitelist("gate-01")
    assert desired is not None
    return desired[0]


async def test_a_dry_run_shows_each_row_and_writes_nothing(site: Site) -> None:
    before, gate = await site.counts(), await gate_hashes(site)
    status, report = await site.post(csv_of(compound_rows(12)))
    assert status == 200, report
    assert (report["dry_run"], report["applied"]) == (True, False)
    assert report["summary"] == {"created": 14, "changed": 0, "unchanged": 0, "refused": 0}
    assert report["totals"]["units_created"] == 12 and report["totals"]["cards_created"] == 12
    assert report["rows"][0]["row"] == 2 and report["rows"][0]["outcome"] == "created"
    assert any("新建房屋 L3-1-001" in note for note in report["rows"][0]["notes"])
    assert await site.counts() == before
    assert await gate_hashes(site) == gate


async def test_the_import_writes_both_registers_and_the_same_file_twice_changes_nothing(site: Site) -> None:
    units_before, residents_before, cards_before, _ = await site.counts()
    form = aiohttp.FormData()
    form.add_field("file", xlsx_of(compound_rows(20)), filename="北区.xlsx", content_type=XLSX_TYPE)
    status, report = await site.post(form, dry_run=False, content_type=None)
    assert status == 200, report
    assert report["applied"] and report["summary"]["created"] == 24
    assert await site.counts() == (units_before + 20, residents_before + 24, cards_before + 20, 20)
    unit, community = await site.service.unit("L3-1-005")
    assert (community, unit.area_m2, unit.room) == ("lotus", Decimal("85.50"), "105")
    register = await site.ownership.register("lotus")
    co_owned = register.entries["L3-1-005"].ownership
    assert co_owned.owner_ids == {"L3-1-005-a", "L3-1-005-b"} and co_owned.representative_id == "L3-1-005-a"
    assert register.entries["L3-1-005"].recorded_by == "pm-lotus"
    resident, _ = await site.service.resident("L3-1-005-a")
    assert (resident.role, resident.phone, resident.group_ids) == (ResidentRole.OWNER, "13900000005",
                                                                   frozenset({"entrance"}))
    [card] = await site.service.credentials_of("L3-1-005-a")
    assert card.hint == "…0005" and "0000000005" not in card.value_hash
    assert card.value_hash in await gate_hashes(site), "the gates' whitelists follow the new residents and cards"
    version = await whitelist_version(site)

    status, again = await site.post(form, dry_run=False, content_type=None)
    assert status == 200 and again["applied"]
    assert again["summary"] == {"created": 0, "changed": 0, "unchanged": 24, "refused": 0}
    assert set(again["totals"].values()) == {0}
    assert await site.counts() == (units_before + 20, residents_before + 24, cards_before + 20, 20)
    assert len(await site.ownership.history("L3-1-005")) == 1
    assert await whitelist_version(site) == version


async def test_a_changed_row_is_a_change_and_only_it_is_written(site: Site) -> None:
    rows = compound_rows(6)
    assert (await site.post(csv_of(rows), dry_run=False))[0] == 200
    rows[2][5] = "99.99"  # L3-1-003's area
    rows[3][10] = "13700000000"  # L3-1-004's owner's phone
    rows[0][8] = ""  # L3-1-001 now owned by someone else, who does not live there
    rows.append([*rows[0][:6], "X-1", "新业主", "是", "", "", "", ""])
    status, report = await site.post(csv_of(rows), dry_run=False)
    assert status == 200, report
    outcomes = {row["row"]: row["outcome"] for row in report["rows"]}
    assert outcomes[2] == outcomes[4] == outcomes[5] == "changed"
    assert outcomes[3] == "unchanged" and outcomes[len(rows) + 1] == "unchanged"
    assert (await site.service.unit("L3-1-003"))[0].area_m2 == Decimal("99.99")
    assert (await site.service.resident("L3-1-004-a"))[0].phone == "13700000000"
    assert (await site.ownership.register("lotus")).entries["L3-1-001"].ownership.owner_ids == {"X-1"}
    assert len(await site.ownership.history("L3-1-001")) == 2
    assert len(await site.ownership.history("L3-1-002")) == 1


async def test_one_refused_row_writes_nothing_at_all(site: Site) -> None:
    before = await site.counts()
    rows = compound_rows(8)
    rows[6][11] = WANG_CARD  # enrolled to 王芳 already: refused only against the register
    status, report = await site.post(csv_of(rows), dry_run=False)
    assert status == 422 and not report["applied"]
    refused = [row for row in report["rows"] if row["outcome"] == "refused"]
    assert [(row["row"], [p["code"] for p in row["problems"]]) for row in refused] == [(8, ["card_taken"])]
    assert "wang" in refused[0]["problems"][0]["message"]
    assert await site.counts() == before


async def test_a_failure_half_way_leaves_nothing(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    before = await site.counts()

    async def failing(self: OwnershipRepository, entries: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(OwnershipRepository, "add", failing)
    with pytest.raises(RuntimeError):
        await CompoundImport(site.service).run("lotus", read_upload(csv_of(compound_rows(5))), "pm-lotus",
                                               dry_run=False)
    assert await site.counts() == before
    with pytest.raises(NotFound):
        await site.service.unit("L3-1-001")


@pytest.mark.parametrize("body,content_type,code", [
    (b"%PDF-1.4 not a sheet", "application/pdf", "not_a_spreadsheet"),
    ("楼号,房号,面积\nB1,101,八十\n".encode(), "text/csv", "unknown_column"),
    (b"", "text/csv", "empty_file"),
])
async def test_a_bad_file_is_refused_with_the_reason_and_nothing_written(site: Site, body: bytes,
                                                                         content_type: str, code: str) -> None:
    before = await site.counts()
    status, report = await site.post(body, dry_run=False, content_type=content_type)
    assert status == 422 and not report["applied"] and report["rows"] == []
    assert code in [problem["code"] for problem in report["problems"]]
    assert all(problem["message"] for problem in report["problems"])
    assert await site.counts() == before


async def test_bad_cells_are_refused_row_by_row_in_the_dry_run(site: Site) -> None:
    rows = compound_rows(4)
    rows[0][5] = "八十"
    rows[1][10] = "1390000000"  # ten digits
    rows[2][4] = rows[3][4]  # L3-1-003 given 004's unit id: a duplicate
    rows.append(["L3-1", "3栋", "1单元", "199", "L3-1-099", "80", "T-1", "租客", "", "租户", "", "", ""])
    status, report = await site.post(csv_of(rows))
    assert status == 200 and not report["applied"]
    problems = {(p["row"], p["code"]) for p in report["problems"]}
    assert problems == {(2, "bad_area"), (3, "bad_phone"), (5, "duplicate_unit"), (6, "no_owner")}


async def test_json_rows_and_the_default_dry_run(site: Site) -> None:
    keys = [column.key for column in COLUMNS]
    rows = [dict(zip(keys, line, strict=True)) for line in compound_rows(3)]
    response = await site.client.post(IMPORT, json={"rows": rows}, headers=MANAGER)
    report = await response.json()
    assert response.status == 200 and report["dry_run"] and report["summary"]["created"] == 3
    assert (await site.counts())[0] == len(LOTUS.units)
    bad = await site.client.post(IMPORT, json={"rows": "no"}, headers=MANAGER)
    assert bad.status == 400


async def test_requests_the_import_cannot_take_are_clear_4xx(site: Site) -> None:
    status, body = await site.post(csv_of(compound_rows(1)), dry_run=None, path=IMPORT + "?dry_run=perhaps")
    assert status == 400 and body["field"] == "dry_run"
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("note", "no file here")
    status, body = await site.post(form, content_type=None)
    assert status == 400 and "file" in body["error"]
    status, body = await site.post(b"x" * (MAX_BODY + 1), dry_run=False)
    assert status == 413 and body["max_bytes"] == MAX_BODY


async def test_another_communitys_manager_gets_the_unknown_communitys_404_before_the_body(site: Site) -> None:
    plum = bearer("pm-plum")
    outside = await site.post(b"%PDF not even read", dry_run=False, headers=plum)
    unknown = await site.post(b"%PDF not even read", dry_run=False, headers=plum,
                              path="/api/access/communities/zz-nothing/import")
    assert outside[0] == unknown[0] == 404
    assert outside[1]["error"].replace("lotus", "<id>") == unknown[1]["error"].replace("zz-nothing", "<id>")
    for suffix in ("template.csv", "template.xlsx"):
        response = await site.client.get(f"{IMPORT}/{suffix}", headers=plum)
        assert response.status == 404
    assert (await site.post(csv_of(compound_rows(1)), headers=bearer("sup-lotus")))[0] == 403
    assert (await site.post(csv_of(compound_rows(1)), headers=bearer("wang")))[0] == 403
    assert (await site.post(csv_of(compound_rows(1)), headers=bearer("root")))[0] == 200


async def test_the_templates_download(site: Site) -> None:
    response = await site.client.get(f"{IMPORT}/template.csv", headers=MANAGER)
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert (await response.read()).decode("utf-8-sig").strip().split(",") == HEADER
    response = await site.client.get(f"{IMPORT}/template.xlsx", headers=MANAGER)
    assert response.status == 200 and response.content_type == XLSX_TYPE
    workbook = load_workbook(io.BytesIO(await response.read()), read_only=True)
    assert list(next(iter(workbook.worksheets[0].iter_rows(values_only=True)))) == HEADER


async def test_an_800_unit_workbook_imports_in_reasonable_time(site: Site) -> None:
    workbook = xlsx_of(compound_rows(800))
    started = time.monotonic()
    status, dry = await site.post(workbook, content_type=XLSX_TYPE)
    assert status == 200 and dry["summary"]["created"] == 960
    status, report = await site.post(workbook, dry_run=False, content_type=XLSX_TYPE)
    elapsed = time.monotonic() - started
    assert status == 200 and report["applied"], report["problems"][:3]
    assert report["totals"]["units_created"] == 800 and report["totals"]["ownership_recorded"] == 800
    assert elapsed < 60, f"a dry run and the import of 800 units took {elapsed:.1f} s"
    assert len((await site.ownership.register("lotus")).entries) == 800
    status, again = await site.post(workbook, dry_run=False, content_type=XLSX_TYPE)
    assert status == 200 and again["summary"]["unchanged"] == 960
