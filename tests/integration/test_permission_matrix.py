"""The permission matrix (issue 12): every route of /openapi.json and every page, called for the objects of one
community and one market of the all-in-one demo (the north compound and the north market) by each kind of caller:

* anonymous, and a token of a deleted account: 401 (pages: to sign-in) wherever a route is not public;
* a resident, a committee member and a property manager of the other community, the other market's operator, and a
  supervisor of an office that oversees only the other community and market: never the object — a role the route
  does not take gets 403 (or 404), a role it takes gets 404, with the very body an unknown id gets (no existence
  leak); lists they may read name nothing of the north;
* the district's supervisor, who oversees both: reads (200) where the route takes supervisors, never writes (403);
* the administrator: the positive control — every read answers 200 with these ids, so the refusals above are for
  real objects, and writes are not refused for scope.

The installation is built as ``smartcity run`` builds it (composition root, real accounts, the demo seeded through
the services running against a real Mosquitto); the matrix is printed when a cell fails.

The gateway's own HTTP faces (one process, and the parent of ``smartcity gateway --workers``) span every tenant and
are for administrators only: their matrix, walking their route tables, is in test_gateway_access.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import delete

from accounts.demo import DEMO_PASSWORD
from accounts.organisations import OrganisationKind
from accounts.storage import account_scopes, accounts
from config.keys import gate_site_key, visitor_pass_key
from config.settings import load_settings
from devices.simulator import GateKeys, TrafficGenerator
from market.complaints import ComplaintCategory
from market.service import ComplaintForm
from smartcity.bootstrap import Services, build_services, build_store, migrated_engine, mount_services, root_application
from smartcity.demo import DemoFleet
from smartcity.lifecycle import running
from tests.integration.helpers import publish, served_routes
from tests.servers import Mosquitto
from webkit.identity import Role, Scope

pytestmark = pytest.mark.integration

SITE = "demo"
NORTH = f"{SITE}-north"
UNKNOWN = "zz-unknown-9"
UNKNOWN_NUMBER = "987654"
HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NUMERIC = {"door", "number", "comment_id", "material_id"}
SCAN = b"%PDF-1.4\n%%EOF\n"
"""A licence's scan as the API takes it: the file itself as the body."""


@dataclass
class Caller:
    name: str
    roles: frozenset[Role]
    in_scope: bool
    """Whether the north's community and market are in its scope."""
    headers: dict[str, str] = field(default_factory=dict)
    account: str | None = None


@dataclass
class Installation:
    client: TestClient[Any, Any]
    services: Services
    ids: dict[str, str]
    """A north object's id for each path parameter name."""
    callers: list[Caller]
    document: dict[str, Any]
    app: Any


@pytest.fixture
async def installation(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Installation]:
    settings = load_settings(data_dir=tmp_path, auth_secret="m" * 32, mqtt_url=mosquitto.url, site=SITE,
                             database_url=f"sqlite+aiosqlite:///{tmp_path / 'smartcity.db'}")
    engine = await migrated_engine(settings)
    store = build_store(settings)
    await store.open()  # as smartcity run opens it: the price history and the pages' latest points read it
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731 - the services' clock
    services = build_services(settings, engine, settings.mqtt_url, store, clock)
    app = root_application(settings)
    mount_services(app, services, store, clock, settings.site)
    keys = GateKeys(gate_site_key(settings), visitor_pass_key(settings))
    fleet = DemoFleet.of(TrafficGenerator(SITE, 4, 6, seed=5, gate_keys=keys), 5, keys)
    try:
        async with running(services, settings, clock, fleet), TestClient(TestServer(app)) as client:
            admin = _bearer(services, "admin", {Role.ADMIN})
            ids = await _north_ids(client, services, admin)
            callers = await _callers(services, engine)
            document = await (await client.get("/openapi.json")).json()
            yield Installation(client, services, ids, callers, document, app)
    finally:
        await store.close()
        await engine.dispose()


def _bearer(services: Services, subject: str, roles: set[Role]) -> dict[str, str]:
    token = services.authority.issue(subject, roles, datetime.now(UTC), timedelta(hours=2))
    return {"Authorization": f"Bearer {token}"}


async def _callers(services: Services, engine: Any) -> list[Caller]:
    """The matrix's rows, from the demo's accounts and three made here: a deleted account's token, and a supervisor
    of an office that oversees only the first community and market."""
    now = datetime.now(UTC)
    north_resident = await _north_resident(services)
    tenancy = services.accounts.tenancy
    await services.accounts.create_account("gone", "已删除", {Role.PROPERTY_MANAGER}, DEMO_PASSWORD, now)
    gone = _bearer(services, "gone", {Role.PROPERTY_MANAGER})
    async with engine.begin() as connection:  # deleted outright, as a database clean-up would
        await connection.execute(delete(account_scopes).where(account_scopes.c.account_id == "gone"))
        await connection.execute(delete(accounts).where(accounts.c.account_id == "gone"))
    await tenancy.create_organisation("office-south", "南区市场监管所", OrganisationKind.SUPERVISION_OFFICE, now)
    await tenancy.hold("office-south", Scope(frozenset({SITE}), frozenset({SITE})))
    await services.accounts.create_account("sup-south", "南区监管员", {Role.SUPERVISOR}, DEMO_PASSWORD, now)
    await tenancy.join("sup-south", "office-south")
    await tenancy.assign("sup-south", Scope(frozenset({SITE}), frozenset({SITE})))

    rows = [
        Caller("anonymous", frozenset(), False),
        Caller("deleted account", frozenset({Role.PROPERTY_MANAGER}), False, gone),
        Caller("resident of the north", frozenset({Role.RESIDENT}), True, account=north_resident),
        Caller("resident of the other community", frozenset({Role.RESIDENT}), False, account="P010001"),
        Caller("committee of the other community", frozenset({Role.RESIDENT, Role.COMMITTEE}), False,
               account="P020001"),
        Caller("manager of the other community", frozenset({Role.PROPERTY_MANAGER}), False, account="pm-zhang"),
        Caller("operator of the other market", frozenset({Role.MARKET_OPERATOR}), False, account="market-liu"),
        Caller("supervisor of the other community and market", frozenset({Role.SUPERVISOR}), False,
               account="sup-south"),
        Caller("district supervisor", frozenset({Role.SUPERVISOR}), True, account="jianguan-wu"),
        Caller("admin", frozenset({Role.ADMIN}), True, account="admin"),
    ]
    for row in rows:
        if row.account is not None:
            row.headers = _bearer(services, row.account, set(row.roles))
    return rows


async def _north_resident(services: Services) -> str:
    """The north owner the demo gives an account (the first of them, who is on the north's committee too)."""
    for record in sorted(await services.access.residents(NORTH), key=lambda r: r.resident_id):
        account = await services.accounts.account(record.resident_id)
        if account is not None and Role.RESIDENT in account.roles:
            return account.account_id
    raise AssertionError("the demo gives a north owner an account")


async def _north_ids(client: TestClient[Any, Any], services: Services, admin: dict[str, str]) -> dict[str, str]:
    """An id of a north object for each path parameter, read as the administrator sees them — with a gate of the
    matrix's own, its group and a card for the north resident, so that they may invite a visitor through it."""

    async def get(path: str, key: str) -> list[dict[str, Any]]:
        response = await client.get(path, headers=admin)
        assert response.status == 200, (path, await response.text())
        body = await response.json()
        return _items(body, key)

    async def send(method: str, path: str, body: dict[str, Any]) -> Any:
        response = await client.request(method, path, headers=admin, json=body)
        assert response.status in (200, 201), (path, await response.text())
        return await response.json()

    ids = {"community_id": NORTH, "site": NORTH, "gate_id": "gate-matrix-n", "door": "1"}
    await send("POST", f"/api/access/communities/{NORTH}/gates", {
        "gate_id": ids["gate_id"], "name": "北苑矩阵门", "doors": [{"number": 1, "name": "北门", "kind": "entrance"}]})
    group = await send("PUT", f"/api/access/communities/{NORTH}/groups/matrix-n", {
        "name": "矩阵组", "doors": [{"gate_id": ids["gate_id"], "door": 1}],
        "windows": [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "00:00"}]})
    ids["group_id"] = group["group_id"]
    resident = await _north_resident(services)
    ids["resident_id"] = resident
    ids["unit_id"] = (await services.access.resident(resident))[0].unit_id
    ids["building_id"] = (await services.access.unit(ids["unit_id"]))[0].building_id
    await send("PUT", f"/api/access/residents/{resident}/groups", {"group_ids": [ids["group_id"]]})
    card = await send("POST", f"/api/access/residents/{resident}/credentials", {"kind": "card", "value": "5544332211"})
    ids["credential_id"] = card["credential_id"]
    assert await get(f"/api/access/communities/{NORTH}/residents", "residents")
    return ids


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    """A list answer's items: under its own name, or a page's ``items``."""
    if isinstance(body, list):
        return body
    return list(body[key] if key in body else body["items"])


def _fill(path: str, ids: dict[str, str], unknown: bool = False) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if unknown:
            return UNKNOWN_NUMBER if name in NUMERIC else UNKNOWN
        return ids[name]

    return re.sub(r"\{([^}]+)\}", value, path)


def _normalised(text: str, ids: dict[str, str]) -> str:
    """``text`` with every id of the request (the north's, or the unknown ones) as ``<id>``: whole words only, so a
    short id (door 1, alarm 7) replaces no digit inside anything else."""
    for value in sorted({*ids.values(), UNKNOWN, UNKNOWN_NUMBER}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", text)
    return text


@dataclass
class Cell:
    route: str
    caller: str
    status: int
    problem: str


@dataclass
class Matrix:
    cells: list[Cell] = field(default_factory=list)

    def fail(self, route: str, caller: Caller, status: int, problem: str) -> None:
        self.cells.append(Cell(route, caller.name, status, problem))

    def report(self) -> str:
        return "\n".join(f"{cell.route:70} {cell.caller:45} {cell.status} {cell.problem}" for cell in self.cells)


async def _made_north_objects(client: TestClient[Any, Any], installation_ids: dict[str, str],
                              callers: list[Caller], services: Services, mosquitto_url: str) -> None:
    """The north objects the demo does not make by itself: a visitor pass, a comment and a ballot receipt (by the
    north resident), a remote open (by the administrator), an alarm (a forced door, published by the gate), an
    integration token (by the north's manager)."""
    ids = installation_ids
    admin = next(c for c in callers if c.name == "admin").headers
    resident = next(c for c in callers if c.name == "resident of the north")
    opened = await client.post(f"/api/access/gates/{ids['gate_id']}/doors/{ids['door']}/open", headers=admin,
                               json={"reason": "permission matrix"})
    assert opened.status == 202, await opened.text()
    ids["cmd_id"] = (await opened.json())["cmd_id"]
    issued = await client.post("/api/access/passes", headers=resident.headers, json={
        "doors": [{"gate_id": ids["gate_id"], "door": int(ids["door"])}]})
    assert issued.status == 201, await issued.text()
    ids["pass_id"] = (await issued.json())["pass_id"]
    await _north_proposal_objects(client, ids, resident, services)
    await _north_alarm(client, ids, admin, mosquitto_url)
    await _north_market_ids(client, ids, admin, services)
    manager = _bearer(services, "pm-sun", {Role.PROPERTY_MANAGER})
    token = await client.post("/api/accounts/tokens", headers=manager, json={
        "label": "智慧家园平台", "role": "property_manager", "communities": [NORTH]})
    assert token.status == 201, await token.text()
    ids["token_id"] = (await token.json())["token_id"]
    invitation = await client.post("/api/accounts/invitations", headers=manager, json={
        "role": "property_manager", "display_name": "北苑新同事", "communities": [NORTH]})
    assert invitation.status == 201, await invitation.text()
    ids["invitation_id"] = (await invitation.json())["invitation_id"]
    ids["account_id"] = "pm-sun"  # the north's manager: looked after by their company's colleagues and an admin
    await _north_notification_ids(client, ids, admin, services)
    ids["trace_code"] = ids.get("trace_code", "0000000000")


async def _north_notification_ids(client: TestClient[Any, Any], ids: dict[str, str], admin: dict[str, str],
                                  services: Services) -> None:
    """The north's property company with a webhook endpoint, a delivery of the north alarm's notification and the
    north manager's notification of it (the dispatcher runs with the services)."""
    ids["organisation_id"] = "beiyuan-wuye"
    endpoint = await client.post("/api/notifications/organisations/beiyuan-wuye/endpoints", headers=admin, json={
        "channel": "webhook", "label": "智慧家园平台", "url": "https://hooks.example.invalid/smartcity",
        "kinds": ["vote_published"]})
    assert endpoint.status == 201, await endpoint.text()
    ids["endpoint_id"] = str((await endpoint.json())["endpoint_id"])
    for _ in range(100):
        logged = await (await client.get("/api/notifications/deliveries", headers=admin)).json()
        north = [d for d in logged["deliveries"] if d["community_id"] == NORTH]
        mine = await services.notifications.notifications("pm-sun")
        if north and mine:
            ids["delivery_id"] = str(north[0]["delivery_id"])
            ids["notification_id"] = str(mine[0].notification_id)
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the north alarm notifies the north's manager")


async def _north_proposal_objects(client: TestClient[Any, Any], ids: dict[str, str], resident: Caller,
                                  services: Services) -> None:
    now = datetime.now(UTC)
    for proposal_id in await services.voting.proposal_ids(100, [NORTH]):
        state = await services.voting.state(proposal_id, now)
        proposal, roll = state.proposal, state.voters_roll
        if state.community_id != NORTH or not proposal.opens_at <= now < proposal.closes_at or roll is None:
            continue
        ids["proposal_id"] = proposal_id
        comment = await client.post(f"/api/voting/proposals/{proposal_id}/comments", headers=resident.headers,
                                    json={"body": "同意，尽快施工"})
        assert comment.status == 201, await comment.text()
        ids["comment_id"] = str((await comment.json())["comment_id"])
        unit = next(entry.unit_id for entry in roll.units if resident.account in entry.owner_ids)
        ballot = await client.post(f"/api/voting/proposals/{proposal_id}/ballots", headers=resident.headers,
                                   json={"unit_id": unit, "choice": "agree"})
        assert ballot.status in (200, 201), await ballot.text()
        ids["code"] = (await ballot.json())["receipt"]
        await _north_meeting_ids(ids, services)
        return
    raise AssertionError("the demo opens a north proposal for voting")


async def _north_meeting_ids(ids: dict[str, str], services: Services) -> None:
    """The north's held meeting (its minutes published) and its material."""
    assert services.meetings is not None
    held = next(meeting_id for meeting_id in await services.meetings.meeting_ids([NORTH])
                if meeting_id.endswith("-lifts"))
    ids["meeting_id"] = held
    ids["material_id"] = str((await services.meetings.view(held, datetime.now(UTC))).materials[0].material_id)


async def _north_alarm(client: TestClient[Any, Any], ids: dict[str, str], admin: dict[str, str],
                       mosquitto_url: str) -> None:
    communities = await (await client.get("/api/access/communities", headers=admin)).json()
    listed = _items(communities, "communities")
    site = next(c["site"] for c in listed if c["community_id"] == NORTH)
    event = {"event_id": "matrix-forced-1", "ts": int(datetime.now(UTC).timestamp() * 1000),
             "door": int(ids["door"]), "kind": "forced"}
    publish(int(mosquitto_url.rsplit(":", 1)[1]), [(f"sc/v1/{site}/gate/{ids['gate_id']}/event",
                                                    json.dumps(event))])
    for _ in range(100):
        alarms = await (await client.get(f"/api/access/communities/{NORTH}/alarms", headers=admin)).json()
        listed = _items(alarms, "alarms")
        if listed:
            ids["number"] = str(listed[0]["number"])
            return
        await asyncio.sleep(0.1)
    raise AssertionError("a forced door at the north gate raises an alarm")


async def _north_market_ids(client: TestClient[Any, Any], ids: dict[str, str], admin: dict[str, str],
                            services: Services) -> None:
    async def listed(path: str, key: str) -> list[dict[str, Any]]:
        response = await client.get(path, headers=admin)
        assert response.status == 200, (path, await response.text())
        body = await response.json()
        return _items(body, key)

    vendors = await listed(f"/api/markets/{NORTH}/vendors", "vendors")
    vendor = next(v for v in vendors if v.get("documents"))
    ids["vendor_id"], ids["document_id"] = vendor["vendor_id"], str(vendor["documents"][0]["document_id"])
    scan = await client.post(f"/api/markets/{NORTH}/vendors/{ids['vendor_id']}/documents/{ids['document_id']}/scan",
                             headers=admin, data=SCAN)
    assert scan.status == 200, await scan.text()  # the licence's copy the market keeps, for the reads of it
    ids["stall"] = (await listed(f"/api/markets/{NORTH}/stalls", "stalls"))[0]["stall"]
    ids["batch_id"] = (await listed(f"/api/markets/{NORTH}/batches", "batches"))[0]["batch_id"]
    detail = await client.get(f"/api/markets/{NORTH}/batches/{ids['batch_id']}", headers=admin)
    tests = (await detail.json())["tests"]
    ids["test_id"] = str(tests[0]["test_id"]) if tests else UNKNOWN
    # a shopper's complaint with its photo (the pages take the photo; the service directly here)
    complaint = await services.market.file_complaint(NORTH, ComplaintForm(
        ids["stall"], None, ComplaintCategory.PRICE, "矩阵测试：价格与公示不符", b"\xff\xd8\xff\xe0" + bytes(64)),
        datetime.now(UTC))
    ids["reference"], ids["complaint_id"] = complaint.reference, str(complaint.complaint_id)
    findings = await listed(f"/api/markets/{NORTH}/findings", "findings")
    ids["finding_id"] = str(findings[0]["finding_id"]) if findings else UNKNOWN


def _body(path: str, ids: dict[str, str]) -> Any:
    """A valid request body for each write route (by its template path), so that a refusal is the scope's and not
    the body's; None for a route that takes none."""
    now = datetime.now(UTC)
    door = {"gate_id": ids["gate_id"], "door": int(ids["door"])}
    reason = {"reason": "矩阵测试"}
    owners = {"owners": [{"owner_id": "P-matrix", "name": "矩阵"}]}
    v, a, m = "/api/voting/proposals/{proposal_id}", "/api/access", "/api/markets/{site}"
    bodies: dict[str, Any] = {
        "/api/voting/proposals": {
            "proposal_id": "p-matrix", "matter": "use_of_maintenance_funds", "title": "矩阵测试",
            "opens_at": (now + timedelta(days=20)).isoformat(), "closes_at": (now + timedelta(days=30)).isoformat(),
            "roll_from_register": {"community_id": NORTH}},
        v + "/delegations": {"unit_id": ids["unit_id"], "delegate_id": "P010001"},
        v + "/ballots": {"unit_id": ids["unit_id"], "choice": "oppose"},
        v + "/ballots/all": {"choice": "oppose"},
        v + "/paper-ballots": {"unit_id": ids["unit_id"], "choice": "agree", "scan_ref": "scan://matrix",
                               "received_at": (now - timedelta(minutes=1)).isoformat()},
        v + "/comments": {"body": "矩阵测试"},
        "/api/voting/meetings": {"community_id": NORTH, "title": "矩阵会议", "kind": "committee", "form": "online",
                                 "starts_at": (now + timedelta(days=20)).isoformat(),
                                 "ends_at": (now + timedelta(days=20, hours=1)).isoformat(), "place": "网上"},
        "/api/voting/meetings/{meeting_id}/items": {"proposal_id": ids["proposal_id"]},
        "/api/voting/meetings/{meeting_id}/materials": SCAN,
        "/api/voting/meetings/{meeting_id}/minutes": {"text": "矩阵测试"},
        "/api/voting/meetings/{meeting_id}/proxies": {"unit_id": ids["unit_id"], "proxy_id": ids["resident_id"]},
        # the installation's minimum (15 days): the proposal body above (20 days ahead) stays lawful afterwards
        "/api/voting/communities/{community_id}/notice": {"notice_days": 15},
        v + "/comments/{comment_id}/hide": reason,
        a + "/communities": {"community_id": NORTH, "site": NORTH, "name": "北苑"},
        a + "/communities/{community_id}/buildings": {"building_id": "B-matrix", "name": "矩阵楼"},
        a + "/communities/{community_id}/units": {"unit_id": "U-matrix", "building_id": "B-matrix", "entrance": "1",
                                                  "room": "101", "area_m2": "88.50"},
        # JSON rows of a compound sheet; a dry run (the default), so the administrator's call writes nothing
        a + "/communities/{community_id}/import": {"rows": [{
            "building_id": "B-matrix", "room": "101", "unit_id": "U-matrix-import", "area_m2": "88.50",
            "person_id": "P-matrix", "name": "矩阵", "owner": "是"}]},
        a + "/communities/{community_id}/residents": {"resident_id": "R-matrix", "unit_id": ids["unit_id"],
                                                      "role": "family", "name": "矩阵"},
        a + "/residents/{resident_id}/groups": {"group_ids": [ids["group_id"]]},
        a + "/residents/{resident_id}/credentials": {"kind": "card", "value": "99887766"},
        a + "/communities/{community_id}/gates": {"gate_id": "gate-matrix", "name": "矩阵门",
                                                  "doors": [{"number": 1, "name": "东门", "kind": "entrance"}]},
        a + "/communities/{community_id}/groups/{group_id}": {
            "name": "矩阵组", "doors": [door],
            "windows": [{"days": [1, 2, 3, 4, 5], "start": "06:00", "end": "22:00"}]},
        a + "/passes": {"doors": [door]},
        a + "/gates/{gate_id}/doors/{door}/open": reason,
        a + "/alarms/{number}/acknowledge": {"note": "矩阵测试"},
        a + "/alarms/{number}/resolve": {"note": "矩阵测试"},
        "/api/ownership/units/{unit_id}": owners,
        "/api/ownership/communities/{community_id}/import": {"units": [{"unit_id": ids["unit_id"], **owners}]},
        "/api/accounts/tokens": {"label": "矩阵", "role": "property_manager", "communities": [NORTH]},
        "/api/accounts/invitations": {"role": "property_manager", "display_name": "矩阵", "communities": [NORTH],
                                      "organisation_id": "beiyuan-wuye"},
        "/api/accounts/activation-codes": {"community_id": NORTH, "resident_ids": ["R-matrix"]},
        "/api/accounts/{account_id}/committee": {"member": True},
        "/api/markets": {"site": NORTH, "name": "北市场", "address": "北路1号", "complaint_hotline": "12315"},
        m + "/vendors": {"vendor_id": "v-matrix", "name": "矩阵"},
        m + "/vendors/{vendor_id}/documents": {"kind": "business_licence", "number": "91330100MA27XXXXXX",
                                               "valid_from": "2026-01-01"},
        m + "/vendors/{vendor_id}/documents/{document_id}/void": reason,
        m + "/vendors/{vendor_id}/documents/{document_id}/scan": SCAN,
        m + "/stalls": {"stall": "S-matrix", "name": "矩阵摊", "stall_type": "vegetables"},
        m + "/stalls/{stall}": {"name": "矩阵摊", "stall_type": "vegetables"},
        m + "/scales": {"scale_id": "scale-matrix", "stall": ids["stall"]},
        m + "/stalls/{stall}/prices": {"prices": [{"plu": "1001", "name": "白菜", "unit_price_fen": 300}]},
        m + "/batches": {"batch_id": "b-matrix", "stall": ids["stall"], "plu": "1001", "product": "白菜",
                         "supplier": "矩阵农场", "origin_code": "330100", "origin_name": "杭州", "quantity_g": 1000,
                         "certificate_type": "commitment", "certificate_number": "C-1",
                         "arrived_at": now.isoformat()},
        m + "/batches/{batch_id}/tests": {"item": "organophosphate_carbamate", "value": "12", "unit": "%",
                                          "tester": "矩阵", "tested_at": now.isoformat()},
        m + "/batches/{batch_id}/tests/{test_id}/laboratory": {
            "verdict": "pass", "laboratory": "矩阵检测所", "report_number": "R-1", "reported_at": now.isoformat()},
        m + "/batches/{batch_id}/recall": reason,
        m + "/complaints": {"category": "price", "stall": ids["stall"], "text": "矩阵测试：价格与公示不符"},
        m + "/complaints/{complaint_id}/state": {"action": "start"},
        m + "/batches/{batch_id}/release": reason,
        m + "/batches/{batch_id}/quantity": {"quantity_g": 900, "reason": "矩阵测试"},
        m + "/findings/{finding_id}/resolve": {"resolution": "矩阵测试"},
        "/api/notifications/organisations/{organisation_id}/endpoints": {
            "channel": "webhook", "label": "矩阵", "url": "https://hooks.example.invalid/matrix"},
        "/api/notifications/organisations/{organisation_id}/endpoints/{endpoint_id}": {"enabled": False},
    }
    return bodies.get(path)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, list[str] | None]]:
    return [(method.upper(), path, operation.get("x-roles"))
            for path, operations in document["paths"].items() for method, operation in operations.items()]


def _holds_role(caller: Caller, roles: list[str] | None) -> bool:
    if roles is None:
        return True
    return not roles or Role.ADMIN in caller.roles or bool({role.value for role in caller.roles} & set(roles))


async def _call(client: TestClient[Any, Any], method: str, path: str, headers: dict[str, str],
                body: Any, form: bool = False) -> tuple[int, str]:
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if method in ("POST", "PUT"):
        kwargs["data" if form or isinstance(body, bytes) else "json"] = body
    async with client.request(method, path, **kwargs) as response:
        if response.content_type == "text/event-stream":  # the live feed: what it sends in its first second
            try:
                return response.status, (await asyncio.wait_for(response.content.read(65536), 1.0)).decode()
            except TimeoutError:
                return response.status, ""
        return response.status, await response.text(errors="replace")  # a download may be binary (a template)


def _mentions_north(text: str, ids: dict[str, str]) -> bool:
    distinct = {NORTH, ids["gate_id"], ids["resident_id"], ids.get("pass_id", NORTH), ids.get("cmd_id", NORTH)}
    return any(value in text for value in distinct if len(value) > 4 and SITE not in value.replace(NORTH, ""))


PERSONAL_ROUTES = {"/api/notifications/{notification_id}/read"}
"""Writes on the caller's own things (their notifications), which a supervisor has too: the matrix's id is the north
manager's notification, so a supervisor's call answers 404 (not theirs), as an unknown id does, and changes nothing."""
PERSONAL_PAGES = {"/notifications/read-all", "/notifications/settings", "/notifications/{notification_id}/read"}
"""The same for pages: the matrix posts none of their fields (400, nothing changed) or another's notification (404)."""
OWN_ACTS = {Role.RESIDENT.value, Role.COMMITTEE.value}
"""Routes where a person acts as themselves (votes, comments, invites a visitor): an administrator, who owns no
flat and lives nowhere, is refused (403) like anyone not on the roll."""
ADMIN_READS_NOT_200 = {
    "/api/access/me": "an administrator is no resident: no unit of theirs",
    "/api/voting/proposals/{proposal_id}/result": "a result exists once voting has closed (the north vote is open)",
    "/api/access/passes/{pass_id}/qr.svg": "the QR code is the visitor's credential: its inviter's alone",
}
"""Reads the administrator's positive control does not expect a 200 from, and why."""


def _query(operation: dict[str, Any], community: str) -> str:
    """A route's query naming a community (the access log, the live feed, passes), else nothing."""
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and "community" in p["name"]]
    return f"?{names[0]}={community}" if names else ""


async def _judge_api(client: TestClient[Any, Any], matrix: Matrix, ids: dict[str, str], caller: Caller,
                     method: str, path: str, roles: list[str] | None, operation: dict[str, Any]) -> None:
    scoped = "{" in path or bool(_query(operation, NORTH))
    url = _fill(path, ids) + _query(operation, NORTH)
    unknown_url = _fill(path, ids, unknown=True) + _query(operation, UNKNOWN)
    body = _body(path, ids)
    status, text = await _call(client, method, url, caller.headers, body)
    label = f"{method} {path}"
    if status >= 500:
        matrix.fail(label, caller, status, "server error")
    elif roles is None:
        return  # public by law or by design (prices, trace lookup, the stall's page): anyone sees the north's
    elif caller.account is None:
        if status != 401:
            matrix.fail(label, caller, status, "not 401 for anonymous or a deleted account")
    elif caller.in_scope:
        await _judge_in_scope(matrix, caller, label, method, path, roles, status)
    elif 200 <= status < 300:
        # a read that only names the community in its query may answer with the caller's own (a resident's passes
        # and log), or nothing (the live feed, as for an unknown community) — never with the north's
        if method != "GET" or "{" in path or _mentions_north(text, ids):
            matrix.fail(label, caller, status, f"out of scope but answered: {text[:120]}")
    elif scoped and _holds_role(caller, roles):
        unknown_status, unknown_text = await _call(client, method, unknown_url, caller.headers, body)
        if status != 404:
            matrix.fail(label, caller, status, f"a role the route takes, out of scope: not 404: {text[:200]}")
        elif (unknown_status, _normalised(unknown_text, ids)) != (status, _normalised(text, ids)):
            matrix.fail(label, caller, status, f"differs from an unknown id's {unknown_status}: {text[:80]} / "
                                               f"{unknown_text[:80]}")
    elif status not in (403, 404, 422):
        matrix.fail(label, caller, status, "neither refused nor not found")


async def _judge_in_scope(matrix: Matrix, caller: Caller, label: str, method: str, path: str, roles: list[str],
                          status: int) -> None:
    if caller.name == "district supervisor":
        if method != "GET" and status != 403 and not (path in PERSONAL_ROUTES and status == 404):
            matrix.fail(label, caller, status, "a supervisor writes")
        elif method == "GET" and Role.SUPERVISOR.value in roles and not 200 <= status < 300:
            matrix.fail(label, caller, status, "a supervisor cannot read what the route says it may")
    elif caller.name == "admin" and path in ADMIN_READS_NOT_200:
        return
    elif caller.name == "admin" and method == "GET" and status != 200:
        matrix.fail(label, caller, status, "the positive control: the administrator reads the north's objects")
    elif caller.name == "admin" and (status == 401 or (status == 403 and not set(roles) <= OWN_ACTS)):
        matrix.fail(label, caller, status, "the administrator is refused")


async def test_every_api_route_answers_each_caller_within_their_scope(installation: Installation,
                                                                      mosquitto: Mosquitto) -> None:
    client, ids = installation.client, installation.ids
    await _made_north_objects(client, ids, installation.callers, installation.services, mosquitto.url)
    matrix = Matrix()
    operations = [(method.upper(), path, operation) for path, operations in installation.document["paths"].items()
                  for method, operation in operations.items()]
    order = [c for c in installation.callers if c.name not in ("admin", "resident of the north")]
    order += [c for c in installation.callers if c.name == "admin"]
    # reads first for everyone, then writes (the administrator's last), so no write changes what a read sees
    for writes in (False, True):
        for caller in order:
            for method, path, operation in operations:
                if (method != "GET") == writes:
                    await _judge_api(client, matrix, ids, caller, method, path, operation.get("x-roles"), operation)
    checked = len(operations) * len(order)
    assert checked > 90 * 8, "every route, every caller"
    walked = {(method, path) for method, path, _ in operations}
    assert {("GET", "/api/district/markets"),
            ("POST", "/api/voting/meetings/{meeting_id}/proxies/{unit_id}/withdraw")} <= walked
    assert not matrix.cells, f"{len(matrix.cells)} of {checked} cells wrong:\n{matrix.report()}"


PUBLIC_PAGES = ("/market/prices", "/market/trace", "/market/{site}/prices", "/market/{site}/trace",
                "/market/{site}/tests", "/market/{site}/complaints/new", "/market/{site}/complaints/status",
                "/market/{site}/complaints/status/{reference}",
                "/market/{site}/trace/{trace_code}", "/market/{site}/stalls/{stall}",
                "/market/{site}/stalls/{stall}/screen", "/signin", "/", "/static",
                "/setup/{code}", "/invite/{code}", "/reset/{code}", "/activate")
"""Pages anyone may open (the one-time code pages: whoever holds the code, who has no account yet)."""
ADMIN_PAGES_NOT_200 = ("/access/my", "/voting/proposals/{proposal_id}/receipt")
"""A resident's own pages (their unit, their visitors, their ballot's receipt): an administrator has none."""
COMMUNITY_PAGES = "/access/console"
"""Pages that take the community as ?community= (the manager's console)."""


async def _signed_in(client: TestClient[Any, Any], account: str) -> str:
    """Sign ``account`` in on a fresh browser; returns a CSRF token for its forms."""
    client.session.cookie_jar.clear()
    form = await client.get("/signin", headers=HTML)
    found = CSRF.search(await form.text())
    assert found is not None
    signed_in = await client.post("/signin", allow_redirects=False, data={
        "csrf_token": found.group(1), "account_id": account, "password": DEMO_PASSWORD})
    assert signed_in.status == 303, (account, await signed_in.text())
    landing = await client.get("/voting" if account.startswith("P") else "/", headers=HTML)
    token = CSRF.search(await landing.text())
    return token.group(1) if token else ""


async def test_every_page_answers_each_caller_within_their_scope(installation: Installation,
                                                                 mosquitto: Mosquitto) -> None:
    client, ids = installation.client, installation.ids
    await _made_north_objects(client, ids, installation.callers, installation.services, mosquitto.url)
    api = {(path, method.upper()) for path, ops in installation.document["paths"].items() for method in ops}
    pages = sorted({(path, method) for path, method in served_routes(installation.app)
                    if method != "HEAD" and (path, method) not in api and path not in PUBLIC_PAGES
                    and path not in ("/openapi.json", "/signin", "/signout", "/healthz", "/readyz")})
    matrix = Matrix()
    for caller in installation.callers:
        if caller.name == "deleted account":
            continue  # it cannot sign in: its session would be refused like its token (test_token_revocation)
        csrf = await _signed_in(client, caller.account) if caller.account else ""
        for path, method in pages:
            url = _fill(path, ids) + (f"?community={NORTH}" if path.startswith(COMMUNITY_PAGES) else "")
            data = {"csrf_token": csrf, "reason": "矩阵测试", "note": "矩阵测试"}
            status, text = await _call(client, method, url, HTML, data if method == "POST" else None,
                                       form=True)
            _judge_page(matrix, ids, caller, method, path, status, text)
    assert len(pages) >= 40, pages
    assert {("/market/district", "GET"), ("/market/{site}/manage/oversight/stalls/{stall}", "GET"),
            ("/market/{site}/manage/oversight/export/tests.csv", "GET")} <= set(pages), "the district view's"
    assert ("/voting/meetings/{meeting_id}/proxies/{unit_id}/withdraw", "POST") in pages, "撤回委托"
    assert not matrix.cells, f"{len(matrix.cells)} cells wrong:\n{matrix.report()}"


def _judge_page(matrix: Matrix, ids: dict[str, str], caller: Caller, method: str, path: str, status: int,
                text: str) -> None:
    label = f"{method} {path}"
    scoped = "{" in path or path.startswith(COMMUNITY_PAGES)
    if status >= 500:
        matrix.fail(label, caller, status, "server error")
    elif not caller.account:
        if status not in (303, 403):  # to sign-in; a form without a session's CSRF token: 403
            matrix.fail(label, caller, status, "anonymous: not sent to sign in")
    elif caller.name == "admin":
        if method == "GET" and status != 200 and not path.startswith(ADMIN_PAGES_NOT_200):
            matrix.fail(label, caller, status, f"the positive control: the administrator reads it: {text[:100]}")
    elif caller.in_scope:
        personal = path in PERSONAL_PAGES and status == 400
        if method == "POST" and caller.name == "district supervisor" and status not in (403, 404) and not personal:
            matrix.fail(label, caller, status, "a supervisor changes something")
    elif status in (200, 303) and (scoped or method == "POST" or _mentions_north(text, ids)):
        matrix.fail(label, caller, status, f"out of scope but answered: {text[:100]}")
    elif status not in (200, 303, 403, 404) and (scoped or status not in (400, 422)):
        # a form naming no id may be refused for its fields (the matrix posts no form's fields)
        matrix.fail(label, caller, status, "neither refused nor not found")


# -- bad input on every route: refused with a reason, never a server error --------------------------------------

ODD_IDS = ("%00", "a" * 300, "..%2F..%2Fetc", "１２３", "-1", "9" * 30, "%3Cscript%3E", "%E2%80%AE", "%F0%9F%98%80")
"""Path parameters no object has: a NUL, too long, a traversal, full-width digits, negative, past any integer
type, markup, a right-to-left override, an emoji."""
ODD_QUERY_VALUES = ("", "-1", "9" * 30, "'; DROP TABLE x; --", "%00", "1e309", "true", "２")
BROKEN_BODIES: tuple[bytes, ...] = (b"{not json", b"[]", b"null", b'"text"', b"{}", b"\xff\xfe", b'{"a":' * 400)
"""Bodies that are no request: not JSON, not an object, empty, not UTF-8, nested past any sense."""


def _wrong_types(body: Any) -> list[Any]:
    """The valid body with one field at a time given a value of another type (and the markup, NUL and long text a
    string field may meet)."""
    if not isinstance(body, dict):
        return []
    variants = []
    for name, value in body.items():
        others: list[Any] = [[value], None] if not isinstance(value, str) else [
            12345, ["x"], "\x00", "<script>alert(1)</script>", "长" * 20_000]
        others += [{"nested": value}] if not isinstance(value, dict) else ["x"]
        variants += [{**body, name: other} for other in others]
    return variants


async def test_bad_input_on_every_route_is_refused_with_a_reason_never_a_server_error(
    installation: Installation, mosquitto: Mosquitto,
) -> None:
    client, ids = installation.client, installation.ids
    await _made_north_objects(client, ids, installation.callers, installation.services, mosquitto.url)
    (admin,) = [caller for caller in installation.callers if caller.name == "admin"]
    crashes: list[str] = []
    refusals_without_reason: list[str] = []

    async def attempt(method: str, url: str, body: Any, raw: bool = False) -> None:
        kwargs: dict[str, Any] = {"headers": {**admin.headers, "Content-Type": "application/json"} if raw
                                  else admin.headers, "allow_redirects": False}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["data" if raw or isinstance(body, bytes) else "json"] = body
        async with client.request(method, url, **kwargs) as response:
            if response.content_type == "text/event-stream":
                return  # the live feed answered as a stream: nothing of it can crash later than its headers
            text = await response.text()
            if response.status >= 500:
                crashes.append(f"{method} {url[:120]} {str(body)[:80]!r}: {response.status} {text[:200]}")
            elif response.status >= 400 and response.content_type == "application/json" and "error" not in text:
                refusals_without_reason.append(f"{method} {url[:120]}: {response.status} {text[:200]}")

    operations = [(method.upper(), path, operation) for path, operations in installation.document["paths"].items()
                  for method, operation in operations.items()]
    for method, path, operation in operations:
        body = _body(path, ids)
        for odd in ODD_IDS if "{" in path else ():
            await attempt(method, re.sub(r"\{[^}]+\}", odd, path), body)
        queries = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for name in queries:
            for value in ODD_QUERY_VALUES:
                await attempt(method, f"{_fill(path, ids)}?{name}={value}", body)
        if method in ("POST", "PUT", "PATCH") and not isinstance(body, bytes):
            for broken in BROKEN_BODIES:
                await attempt(method, _fill(path, ids), broken, raw=True)
            for variant in _wrong_types(body):
                await attempt(method, _fill(path, ids), variant)
    assert len(operations) > 90, "every route of /openapi.json"

    # the pages, signed in as the administrator: odd ids in their paths, odd values in every form field they name
    api = {(path, method.upper()) for path, ops in installation.document["paths"].items() for method in ops}
    pages = sorted({(path, method) for path, method in served_routes(installation.app)
                    if method in ("GET", "POST") and (path, method) not in api and ("{" in path or method == "POST")
                    and not path.startswith("/static") and path != "/signout"})  # the sweep stays signed in
    csrf = await _signed_in(client, "admin")
    for path, method in pages:
        for odd in ODD_IDS if "{" in path else ():
            url = re.sub(r"\{[^}]+\}", odd, path)
            await page_attempt(client, method, url, {"csrf_token": csrf}, crashes)
        if method == "POST":
            form = await client.get(_fill(path.rsplit("/", 1)[0], ids) if path.count("/") > 1 else "/", headers=HTML)
            names = set(re.findall(r'name="([a-z_]+)"', await form.text())) - {"csrf_token"}
            for value in ODD_QUERY_VALUES:
                await page_attempt(client, method, _fill(path, ids),
                                   {"csrf_token": csrf, **{name: value for name in names}}, crashes)
    assert len(pages) > 40, pages
    assert not crashes, f"{len(crashes)} server errors:\n" + "\n".join(crashes[:40])
    assert not refusals_without_reason, "\n".join(refusals_without_reason[:40])


async def page_attempt(client: TestClient[Any, Any], method: str, url: str, form: dict[str, str],
                       crashes: list[str]) -> None:
    """A page or a form's POST with ``form``: a 5xx is noted in ``crashes``."""
    status, text = await _call(client, method, url, HTML, form if method == "POST" else None, form=True)
    if status >= 500:
        crashes.append(f"page {method} {url[:120]} {str(form)[:120]}: {status} {text[:200]}")
