"""The access API within each caller's scope, on both databases, with real accounts and assignments checked by the
accounts themselves (webkit.auth.check_tokens_with(app, AccountService)): two communities, 荷花小区 (lotus) and
梅园 (plum). A manager of lotus who names anything of plum — its community, unit, resident, credential, gate, group,
pass, remote open or alarm — gets exactly what an id that names nothing gets (status and JSON body), and nothing
is done to plum; listings, the access log and the live feed hold lotus only; a supervisor reads lotus's operational
data and writes nothing; a resident's account needs its community."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.service import AccountService
from community.access.directory import (
    Building,
    Community,
    DoorKind,
    Gate,
    GateDoor,
    GroupRecord,
    ResidentRecord,
    ResidentRole,
    Unit,
)
from community.access.permissions import ALWAYS, AccessGroup, CredentialKind, Door
from community.access.service import AccessService, CommunityImport, CredentialEnrolment
from community.access.web import create_app
from devices.contract import GateEvent, GateEventKind
from devices.topics import Channel, DeviceKind, DeviceTopic
from messaging.downlink import RecordingDownlink
from tests.integration.api_accounts import give_accounts
from tests.integration.test_access_api import sse_messages
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, SITE, T0, Clock
from webkit.auth import check_tokens_with
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"s" * 32)
PLUM_SITE = "plum-site"
PLUM = CommunityImport(
    community=Community("plum", PLUM_SITE, "梅园"),
    buildings=[Building("pb1", "plum", "1栋")],
    units=[Unit("pb1-101", "pb1", "1单元", "101", Decimal("75.10"))],
    gates=[Gate("plum-gate-01", "plum", "梅园大门", (GateDoor("plum-gate-01", 1, "大门", DoorKind.ENTRANCE),))],
    groups=[GroupRecord("plum", "大门", AccessGroup("plum-entrance", frozenset({Door("plum-gate-01", 1)}),
                                                    (ALWAYS,)))],
    residents=[ResidentRecord("mei", "pb1-101", ResidentRole.OWNER, "梅兰", "13700002222",
                              frozenset({"plum-entrance"}))],
    credentials=[CredentialEnrolment("mei", CredentialKind.CARD, "0077777777", credential_id="c-mei")],
)
LOTUS_ONLY, PLUM_ONLY = Scope(frozenset({"lotus"})), Scope(frozenset({"plum"}))
ACCOUNTS: Mapping[str, tuple[list[Role], Scope | None]] = {
    "root": ([Role.ADMIN], None),
    "pm-a": ([Role.PROPERTY_MANAGER], Scope(frozenset({"lotus", "lotus-west"}))),
    "pm-b": ([Role.PROPERTY_MANAGER], PLUM_ONLY),
    "pm-none": ([Role.PROPERTY_MANAGER], None),
    "sup-a": ([Role.SUPERVISOR], LOTUS_ONLY),
    "wang": ([Role.RESIDENT], LOTUS_ONLY),
    "mei": ([Role.RESIDENT], PLUM_ONLY),
    "zhao": ([Role.RESIDENT], None),  # a resident of lotus whose account was never assigned it
}


def bearer(subject: str) -> dict[str, str]:
    token = AUTHORITY.issue(subject, ACCOUNTS[subject][0], T0 - timedelta(days=1), timedelta(days=30))
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Ids:
    """One object of each kind: plum's, or ids that name nothing."""

    community: str
    unit: str
    resident: str
    credential: str
    gate: str
    group: str
    visit: str
    cmd: str
    alarm: int

    def substitutions(self, other: Ids) -> list[tuple[str, str]]:
        return [(str(getattr(self, name)), str(getattr(other, name))) for name in self.__dataclass_fields__]


UNKNOWN = Ids("zz-community", "zz-unit", "zz-resident", "zz-credential", "zz-gate", "zz-group", "zz-pass",
              "zz-cmd", 987654)


@dataclass
class Site:
    client: TestClient[Any, Any]
    service: AccessService
    downlink: RecordingDownlink
    clock: Clock
    plum: Ids
    lotus_cmd: str


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    clock = Clock(T0)
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    await service.import_community(PLUM)
    visit = await service.invite("mei", frozenset({Door("plum-gate-01", 1)}), visitor_name="梅友",
                                 visitor_phone="13600003333")
    opened = await service.open_door("plum-gate-01", 1, "pm-b", "快递")
    lotus_open = await service.open_door("gate-01", 1, "pm-a", "送货")
    clock.now = T0 + timedelta(minutes=2)
    await service.tick(clock.now)  # every gate silent since its registration: offline alarms, plum's too
    plum_alarms = await service.alarms("plum")
    assert plum_alarms and await service.alarms("lotus")
    await give_accounts(engine, {subject: roles for subject, (roles, _) in ACCOUNTS.items()},
                        scope={subject: scope for subject, (_, scope) in ACCOUNTS.items() if scope is not None})
    app = create_app(service, AUTHORITY, clock)
    check_tokens_with(app, AccountService(engine))
    plum = Ids("plum", "pb1-101", "mei", "c-mei", "plum-gate-01", "plum-entrance", visit.record.pass_id,
               opened.cmd_id, plum_alarms[0][0])
    async with TestClient(TestServer(app)) as client:
        yield Site(client, service, downlink, clock, plum, lotus_open.cmd_id)


Body = Callable[[Ids], Any] | None


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # with {ids.<name>} placeholders
    body: Body = None
    reads: bool = False  # a read the owner of the object may make (it exists: 200 for them)

    def url(self, ids: Ids) -> str:
        return "/api/access" + self.path.format(ids=ids)


C = "/communities/{ids.community}"
MANAGER_CASES = [
    Case("POST", C + "/buildings", lambda ids: {"building_id": "new-b", "name": "新楼"}),
    Case("GET", C + "/buildings", reads=True),
    Case("POST", C + "/units", lambda ids: {"unit_id": "new-u", "building_id": "pb1", "entrance": "1单元",
                                           "room": "102", "area_m2": "80.00"}),
    Case("GET", "/units/{ids.unit}", reads=True),
    Case("POST", C + "/residents", lambda ids: {"resident_id": "new-r", "unit_id": "b1-2-301", "role": "owner",
                                               "name": "新人"}),
    Case("POST", "/communities/lotus/residents", lambda ids: {"resident_id": "new-r", "unit_id": ids.unit,
                                                              "role": "owner", "name": "新人"}),
    Case("GET", C + "/residents", reads=True),
    Case("GET", "/residents/{ids.resident}", reads=True),
    Case("PUT", "/residents/{ids.resident}/groups", lambda ids: {"group_ids": []}),
    Case("POST", "/residents/{ids.resident}/revoke"),
    Case("POST", "/residents/{ids.resident}/move-out"),
    Case("POST", "/residents/{ids.resident}/credentials", lambda ids: {"kind": "card", "value": "0066666666"}),
    Case("GET", "/residents/{ids.resident}/credentials", reads=True),
    Case("POST", "/credentials/{ids.credential}/revoke"),
    Case("POST", C + "/gates", lambda ids: {"gate_id": "new-gate", "name": "新门",
                                           "doors": [{"number": 1, "name": "门", "kind": "entrance"}]}),
    Case("GET", C + "/gates", reads=True),
    Case("GET", "/gates/{ids.gate}", reads=True),
    Case("GET", "/gates/{ids.gate}/whitelist", reads=True),
    Case("PUT", C + "/groups/new-group", lambda ids: {"name": "新组", "doors": [{"gate_id": "plum-gate-01", "door": 1}],
                                                     "windows": [{"days": [0], "start": "08:00", "end": "18:00"}]}),
    Case("GET", C + "/groups", reads=True),
    Case("GET", "/passes?community_id={ids.community}", reads=True),
    Case("GET", "/passes/{ids.visit}", reads=True),
    Case("GET", "/passes/{ids.visit}/qr.svg"),
    Case("POST", "/passes/{ids.visit}/revoke"),
    Case("POST", "/gates/{ids.gate}/doors/1/open", lambda ids: {"reason": "有人按门铃"}),
    Case("GET", "/remote-opens/{ids.cmd}", reads=True),
    Case("GET", C + "/remote-opens", reads=True),
    Case("GET", "/events?community_id={ids.community}", reads=True),
    Case("GET", C + "/presence", reads=True),
    Case("GET", C + "/alarms", reads=True),
    Case("POST", "/alarms/{ids.alarm}/acknowledge", lambda ids: {"note": "看过了"}),
    Case("POST", "/alarms/{ids.alarm}/resolve", lambda ids: {"note": "好了"}),
]
RESIDENT_CASES = [
    Case("GET", "/units/{ids.unit}"),
    Case("GET", "/residents/{ids.resident}"),
    Case("GET", "/residents/{ids.resident}/credentials"),
    Case("POST", "/credentials/{ids.credential}/revoke"),
    Case("GET", "/passes/{ids.visit}"),
    Case("GET", "/passes/{ids.visit}/qr.svg"),
    Case("POST", "/passes/{ids.visit}/revoke"),
]
SUPERVISOR_READS = [case for case in MANAGER_CASES if case.method == "GET" and case.path in {
    C + "/buildings", C + "/gates", "/gates/{ids.gate}", C + "/groups", "/remote-opens/{ids.cmd}",
    C + "/remote-opens", C + "/presence", C + "/alarms"}]


async def ask(site: Site, case: Case, ids: Ids, subject: str) -> tuple[int, str]:
    body = None if case.body is None else json.dumps(case.body(ids))
    response = await site.client.request(case.method, case.url(ids), data=body, headers=bearer(subject))
    return response.status, await response.text()


async def assert_answered_as_unknown(site: Site, case: Case, subject: str) -> tuple[int, str]:
    """``subject`` gets for plum's ids exactly what it gets for ids that name nothing (the id itself aside)."""
    status, text = await ask(site, case, site.plum, subject)
    unknown_status, unknown_text = await ask(site, case, UNKNOWN, subject)
    for unknown, real in UNKNOWN.substitutions(site.plum):
        unknown_text = unknown_text.replace(unknown, real)
    assert (status, text) == (unknown_status, unknown_text), (case.method, case.path, subject)
    return status, text


@pytest.mark.parametrize("case", MANAGER_CASES, ids=lambda case: f"{case.method} {case.path}")
async def test_a_manager_of_another_community_gets_the_unknown_ids_answer(site: Site, case: Case) -> None:
    status, _ = await assert_answered_as_unknown(site, case, "pm-a")
    assert status == 404, (case.method, case.path)
    if case.reads:  # it does exist: its own manager reads it
        assert (await ask(site, case, site.plum, "pm-b"))[0] == 200, (case.method, case.path)


async def test_nothing_of_the_other_community_changed(site: Site) -> None:
    for case in MANAGER_CASES:
        await ask(site, case, site.plum, "pm-a")
    mei, _ = await site.service.resident("mei")
    assert mei.status.value == "active" and mei.group_ids == {"plum-entrance"}
    assert [c.revoked_at for c in await site.service.credentials_of("mei")] == [None]
    assert [b.building_id for b in await site.service.buildings("plum")] == ["pb1"]
    assert [g.gate_id for g in await site.service.gates("plum")] == ["plum-gate-01"]
    assert [r.group.group_id for r in await site.service.groups("plum")] == ["plum-entrance"]
    visit, _ = await site.service.visitor_pass(site.plum.visit)
    assert visit.revoked_at is None
    _, alarm = await site.service.alarm(site.plum.alarm)
    assert alarm.status.value == "open"


async def test_issue_12_a_manager_cannot_open_another_communitys_gate(site: Site) -> None:
    """Finding 2 of issue 12: a property manager opened another community's gate (202)."""
    sent = len(site.downlink.sent)
    opens = await site.service.remote_opens("plum")
    response = await site.client.post("/api/access/gates/plum-gate-01/doors/1/open", json={"reason": "开一下"},
                                      headers=bearer("pm-a"))
    unknown = await site.client.post("/api/access/gates/zz-gate/doors/1/open", json={"reason": "开一下"},
                                     headers=bearer("pm-a"))
    assert response.status == unknown.status == 404
    assert await response.json() == {"error": "no gate 'plum-gate-01'"}
    assert await unknown.json() == {"error": "no gate 'zz-gate'"}
    assert response.content_type == unknown.content_type == "application/json"
    assert len(site.downlink.sent) == sent, "no command is sent"
    assert await site.service.remote_opens("plum") == opens, "and none is audited"


@pytest.mark.parametrize("case", RESIDENT_CASES, ids=lambda case: f"{case.method} {case.path}")
async def test_a_resident_of_another_community_gets_the_unknown_ids_answer(site: Site, case: Case) -> None:
    await assert_answered_as_unknown(site, case, "wang")


async def test_a_resident_still_sees_their_own_household_only(site: Site) -> None:
    client = site.client
    assert (await client.get("/api/access/me", headers=bearer("wang"))).status == 200
    assert (await client.get("/api/access/units/b1-2-301", headers=bearer("wang"))).status == 200
    assert (await client.get("/api/access/units/b2-1-101", headers=bearer("wang"))).status == 403
    assert (await client.get("/api/access/me", headers=bearer("mei"))).status == 200
    passes = await (await client.get("/api/access/passes", headers=bearer("mei"))).json()
    assert [p["pass_id"] for p in passes["passes"]] == [site.plum.visit]
    assert (await client.get(f"/api/access/passes/{site.plum.visit}", headers=bearer("mei"))).status == 200
    # a resident whose account is not assigned their community has no resident access
    unassigned = await client.get("/api/access/me", headers=bearer("zhao"))
    assert unassigned.status == 403 and await unassigned.json() == {"error": "this token names no resident"}


@pytest.mark.parametrize("case", SUPERVISOR_READS, ids=lambda case: f"{case.method} {case.path}")
async def test_a_supervisor_reads_its_communities_and_nothing_else(site: Site, case: Case) -> None:
    lotus = Ids("lotus", "b1-2-301", "wang", "c-wang", "gate-01", "entrance", "none", site.lotus_cmd, 1)
    assert (await ask(site, case, lotus, "sup-a"))[0] == 200, case.path
    status, _ = await assert_answered_as_unknown(site, case, "sup-a")
    assert status == 404


async def test_a_supervisor_writes_nothing_and_sees_no_personal_data(site: Site) -> None:
    lotus = Ids("lotus", "b1-2-301", "wang", "c-wang", "gate-01", "entrance", "p", "c", 1)
    assert (await site.client.get("/api/access/communities", headers=bearer("sup-a"))).status == 200
    for case in MANAGER_CASES:
        if case in SUPERVISOR_READS:
            continue
        status, text = await ask(site, case, lotus, "sup-a")
        assert status == 403, (case.method, case.path, text)
    for path in ("/api/access/live", "/api/access/events", "/api/access/me"):
        assert (await site.client.get(path, headers=bearer("sup-a"))).status == 403, path
    created = await site.client.post("/api/access/communities", headers=bearer("sup-a"),
                                     json={"community_id": "lotus", "site": "x", "name": "x"})
    assert created.status == 403


async def test_listings_hold_the_callers_communities(site: Site) -> None:
    async def communities(subject: str) -> list[str]:
        listed = await (await site.client.get("/api/access/communities", headers=bearer(subject))).json()
        return [community["community_id"] for community in listed["communities"]]

    assert await communities("root") == ["lotus", "plum"]
    assert await communities("pm-a") == ["lotus"]
    assert await communities("pm-b") == ["plum"]
    assert await communities("sup-a") == ["lotus"]
    assert await communities("pm-none") == []


async def _door_closed(site: Site, site_id: str, gate_id: str, event_id: str) -> None:
    await site.service.handle([(DeviceTopic(site_id, DeviceKind.GATE, gate_id, Channel.EVENT),
                                GateEvent(event_id=event_id, ts=site.clock.now, door=1,
                                          kind=GateEventKind.DOOR_CLOSED))])


async def test_the_access_log_without_a_community_holds_the_callers_communities(site: Site) -> None:
    await _door_closed(site, SITE, "gate-01", "lotus-1")
    await _door_closed(site, PLUM_SITE, "plum-gate-01", "plum-1")

    async def logged(subject: str) -> set[str]:
        page = await (await site.client.get("/api/access/events", headers=bearer(subject))).json()
        return {event["event_id"] for event in page["events"]}

    assert await logged("root") == {"lotus-1", "plum-1"}
    assert await logged("pm-a") == {"lotus-1"}
    assert await logged("pm-b") == {"plum-1"}
    assert await logged("pm-none") == set()
    # a filter naming the other community's gate or resident finds nothing of it
    filtered = await site.client.get("/api/access/events?gate_id=plum-gate-01", headers=bearer("pm-a"))
    assert (await filtered.json())["events"] == []


async def test_the_live_feed_never_sends_another_communitys_event_or_alarm(site: Site) -> None:
    client = site.client
    everything = await client.get("/api/access/live", headers=bearer("pm-a"))
    both = await client.get("/api/access/live?community_id=plum&community_id=lotus", headers=bearer("pm-a"))
    plum_only = await client.get("/api/access/live?community_id=plum", headers=bearer("pm-a"))
    nowhere = await client.get("/api/access/live?community_id=zz-community", headers=bearer("pm-a"))
    for response in (everything, both, plum_only, nowhere):
        assert response.status == 200 and response.content_type == "text/event-stream"
    await _door_closed(site, PLUM_SITE, "plum-gate-01", "plum-2")
    await site.service.resolve_alarm(site.plum.alarm, "pm-b", "好了")  # an alarm item of plum
    await _door_closed(site, SITE, "gate-01", "lotus-2")
    for response in (everything, both):
        [message] = await sse_messages(response, 1)
        assert message["event"] == "event" and message["data"]["event_id"] == "lotus-2"
        assert message["data"]["community_id"] == "lotus"
    for response in (plum_only, nowhere):  # an out-of-scope community is as silent as an unknown one
        with pytest.raises(TimeoutError):
            await sse_messages(response, 1, timeout=0.5)
    # a client resuming from the feed's first item gets lotus's items replayed, none of plum's
    resumed = {**bearer("pm-a"), "Last-Event-ID": f"{site.service.feed.epoch}.0"}
    replayed = await client.get("/api/access/live", headers=resumed)
    messages = await sse_messages(replayed, 3)  # lotus's two gate-offline alarms and its event at least
    assert {message["data"]["community_id"] for message in messages} == {"lotus"}
    for response in (everything, both, plum_only, nowhere, replayed):
        response.close()
    await asyncio.sleep(0)


async def test_a_manager_registers_only_a_community_assigned_to_them(site: Site) -> None:
    client = site.client
    west = {"community_id": "lotus-west", "site": "lotus-west", "name": "荷花西苑"}
    orchid = {"community_id": "orchid", "site": "orchid", "name": "兰园"}
    refused = await client.post("/api/access/communities", json=orchid, headers=bearer("pm-a"))
    assert refused.status == 403 and "not assigned to you" in (await refused.json())["error"]
    assert (await client.post("/api/access/communities", json=west, headers=bearer("pm-a"))).status == 201
    assert (await client.post("/api/access/communities", json=west, headers=bearer("pm-a"))).status == 409
    # plum exists, but for pm-a it is just another id not assigned to them: 403, not 409
    plum = {"community_id": "plum", "site": "p2", "name": "x"}
    assert (await client.post("/api/access/communities", json=plum, headers=bearer("pm-a"))).status == 403
    assert (await client.post("/api/access/communities", json=orchid, headers=bearer("root"))).status == 201
