"""The access API over HTTP, on both databases: role separation (a resident sees only their own unit and visitors),
clear 4xx, visitor passes, remote open, the access log, alarms, the SSE live feed and /openapi.json; and at the edges:
only active residents get resident access, ids and values the database cannot hold are a clear 4xx, one paging rule,
a household sees all its visitors, face references are masked, the feed replays what a reconnecting client missed
and one account's streams cannot take every place on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.directory import ResidentRecord, ResidentRole
from community.access.live_feed import GAP_NOTICE, LiveFeed
from community.access.permissions import Door
from community.access.service import AccessService
from community.access.storage import VisitorRepository
from community.access.visitor_pass import VisitorPass
from community.access.visitors import VisitorPassRecord, pass_credential_hash
from community.access.web import create_app
from devices.contract import AccessMethod, Direction, GateEvent, GateEventKind
from devices.gate_memory import GateMemory
from messaging.downlink import RecordingDownlink
from tests.integration.api_accounts import check_tokens_with_accounts, give_accounts
from tests.integration.helpers import assert_openapi_describes_the_routes
from tests.integration.test_access_service import (
    KEYS,
    LI_CARD,
    LOTUS,
    PASS_KEY,
    SETTINGS,
    SITE_KEY,
    T0,
    WANG_CARD,
    Clock,
    SimulatedGate,
)
from webkit.identity import Role, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"t" * 32)


def bearer(subject: str, *roles: Role) -> dict[str, str]:
    token = AUTHORITY.issue(subject, roles, T0 - timedelta(days=1), timedelta(days=30))
    return {"Authorization": f"Bearer {token}"}


SUBJECTS = {"root": [Role.ADMIN], "pm-1": [Role.PROPERTY_MANAGER],
            **{name: [Role.RESIDENT] for name in ("wang", "li", "zhao", "nobody", "sun")}}
"""Everyone the tests issue tokens for has an account (the API refuses a token of a subject without one)."""
ADMIN = bearer("root", Role.ADMIN)
MANAGER = bearer("pm-1", Role.PROPERTY_MANAGER)
WANG, LI, ZHAO = (bearer(name, Role.RESIDENT) for name in ("wang", "li", "zhao"))
NOBODY = bearer("nobody", Role.RESIDENT)
SUN = bearer("sun", Role.RESIDENT)
C = "/api/access/communities/lotus"


@dataclass
class Api:
    client: TestClient[Any, Any]
    service: AccessService
    downlink: RecordingDownlink
    clock: Clock
    gates: dict[str, SimulatedGate]
    engine: AsyncEngine


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    clock = Clock(T0)
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    gates = {gate_id: SimulatedGate(GateMemory(gate_id, SITE_KEY, PASS_KEY, doors=2))
             for gate_id in ("gate-01", "gate-02")}
    for gate in gates.values():
        await gate.connect(service, downlink, T0)
        await gate.settle(service, downlink, T0)
    app = await check_tokens_with_accounts(create_app(service, AUTHORITY, clock), engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, service, downlink, clock, gates, engine)


async def test_roles_are_separated(api: Api) -> None:
    client = api.client
    assert (await client.get("/api/access/communities")).status == 401
    assert (await client.get("/api/access/communities", headers=WANG)).status == 403
    assert (await client.get("/api/access/communities", headers=MANAGER)).status == 200
    community = {"community_id": "plum", "site": "plum-site", "name": "梅园"}
    assert (await client.post("/api/access/communities", json=community, headers=WANG)).status == 403
    assert (await client.post("/api/access/communities", json=community, headers=ADMIN)).status == 201
    # a manager registers a community assigned to them only: tests/integration/test_access_scope.py
    for method, path, body in [
        ("POST", f"{C}/residents", {"resident_id": "x", "unit_id": "b1-2-301", "role": "owner", "name": "x"}),
        ("GET", f"{C}/residents", None),
        ("GET", f"{C}/alarms", None),
        ("GET", f"{C}/presence", None),
        ("GET", "/api/access/gates/gate-01/whitelist", None),
        ("POST", "/api/access/gates/gate-01/doors/1/open", {"reason": "let me in"}),
        ("POST", "/api/access/residents/zhao/revoke", None),
        ("GET", "/api/access/live", None),
    ]:
        response = await client.request(method, path, json=body, headers=WANG)
        assert response.status == 403, (method, path)
    assert (await client.get("/api/access/me", headers=MANAGER)).status == 403
    assert (await client.get("/api/access/me", headers=NOBODY)).status == 403


async def test_a_resident_sees_only_their_own_unit_with_phones_masked(api: Api) -> None:
    client = api.client
    mine = await client.get("/api/access/units/b1-2-301", headers=WANG)
    assert mine.status == 200
    unit = await mine.json()
    assert unit["area_m2"] == "89.37"
    assert {r["resident_id"]: r["phone"] for r in unit["residents"]} == {"li": None, "wang": "138****5678"}
    assert (await client.get("/api/access/units/b2-1-101", headers=WANG)).status == 403
    assert (await client.get("/api/access/units/nope", headers=WANG)).status == 404
    assert (await client.get("/api/access/residents/li", headers=WANG)).status == 200
    assert (await client.get("/api/access/residents/zhao", headers=WANG)).status == 403
    me = await (await client.get("/api/access/me", headers=ZHAO)).json()
    assert me["resident"]["phone"] == "139****1111" and me["unit"]["unit_id"] == "b2-1-101"
    listing = await (await client.get(f"{C}/residents", headers=MANAGER)).json()
    assert all("*" in r["phone"] for r in listing["residents"] if r["phone"]), "masked in every listing"
    assert "13812345678" not in json.dumps(listing)


async def test_credentials_are_never_shown_and_residents_manage_only_their_own(api: Api) -> None:
    client = api.client
    enrolled = await client.post("/api/access/residents/li/credentials", headers=MANAGER,
                                 json={"kind": "card", "value": "0011223344"})
    assert enrolled.status == 201
    body = await enrolled.json()
    assert body["hint"] == "…3344" and "0011223344" not in json.dumps(body)
    again = await client.post("/api/access/residents/zhao/credentials", headers=MANAGER,
                              json={"kind": "card", "value": "0011223344"})
    assert again.status == 409
    assert (await client.post("/api/access/residents/li/credentials", headers=LI,
                              json={"kind": "card", "value": "1"})).status == 403
    own = await (await client.get("/api/access/residents/wang/credentials", headers=WANG)).json()
    assert {c["kind"] for c in own["credentials"]} == {"card", "face"}
    assert (await client.get("/api/access/residents/li/credentials", headers=WANG)).status == 403
    assert (await client.post(f"/api/access/credentials/{body['credential_id']}/revoke", headers=WANG)).status == 404
    lost = await client.post(f"/api/access/credentials/{body['credential_id']}/revoke", headers=LI)
    assert lost.status == 200 and (await lost.json())["revoked_by"] == "li"
    assert (await client.post(f"/api/access/credentials/{body['credential_id']}/revoke",
                              headers=MANAGER)).status == 409


async def test_bad_input_gets_a_clear_4xx(api: Api) -> None:
    client = api.client
    resident = {"resident_id": "sun", "unit_id": "b2-1-101", "role": "owner", "name": "孙丽"}
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("POST", f"{C}/residents", {**resident, "role": "landlord"}, 400, "role"),
        ("POST", f"{C}/residents", {**resident, "phone": "call me"}, 400, "phone"),
        ("POST", f"{C}/residents", {**resident, "surprise": 1}, 400, "surprise"),
        ("POST", f"{C}/units", {"unit_id": "u", "building_id": "b1", "entrance": "1", "room": "1",
                                "area_m2": "-3"}, 400, "area_m2"),
        ("POST", f"{C}/units", {"unit_id": "u", "building_id": "b1", "entrance": "1", "room": "1",
                                "area_m2": "1.234"}, 400, "area_m2"),
    ]
    for method, path, body, status, field in cases:
        response = await client.request(method, path, json=body, headers=MANAGER)
        assert response.status == status, (body, await response.text())
        assert field in json.dumps(await response.json()), field
    unknown_group = await client.post(f"{C}/residents", json={**resident, "group_ids": ["vip"]}, headers=MANAGER)
    assert unknown_group.status == 422 and "vip" in (await unknown_group.json())["error"]
    assert (await client.post(f"{C}/residents", json={**resident, "unit_id": "nope"}, headers=MANAGER)).status == 404
    assert (await client.post(f"{C}/residents", json=resident, headers=MANAGER)).status == 201
    assert (await client.post(f"{C}/residents", json=resident, headers=MANAGER)).status == 409
    bad_group = await client.put(f"{C}/groups/night", headers=MANAGER, json={
        "name": "夜班", "doors": [{"gate_id": "gate-01", "door": 9}],
        "windows": [{"days": [0], "start": "22:00", "end": "06:00"}]})
    assert bad_group.status == 422 and "gate-01#9" in (await bad_group.json())["error"]
    bad_time = await client.put(f"{C}/groups/night", headers=MANAGER, json={
        "name": "夜班", "doors": [{"gate_id": "gate-01", "door": 1}],
        "windows": [{"days": [0], "start": "25:00", "end": "06:00"}]})
    assert bad_time.status == 422
    forever = await client.post("/api/access/residents/li/credentials", headers=MANAGER, json={
        "kind": "card", "value": "0099999999", "valid_to": "2150-01-01T00:00:00+08:00"})
    assert forever.status == 422 and "2099" in (await forever.json())["error"]
    assert (await client.get("/api/access/events?community_id=lotus&kind=party", headers=MANAGER)).status == 400
    assert (await client.get("/api/access/events?community_id=lotus&cursor=xyz", headers=MANAGER)).status == 400
    assert (await client.get("/api/access/events?community_id=lotus&limit=0", headers=MANAGER)).status == 400
    assert (await client.get("/api/access/events?community_id=lo tus", headers=MANAGER)).status == 400
    assert (await client.post("/api/access/alarms/abc/resolve", json={}, headers=MANAGER)).status == 404
    assert (await client.post("/api/access/alarms/42/resolve", json={}, headers=MANAGER)).status == 404


async def test_a_group_change_reaches_the_gates(api: Api) -> None:
    client = api.client
    changed = await client.put(f"{C}/groups/b1", headers=MANAGER, json={
        "name": "1栋", "doors": [{"gate_id": "gate-02", "door": 1}],
        "windows": [{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "22:00"}]})
    assert changed.status == 200
    gate = await (await client.get("/api/access/gates/gate-02", headers=MANAGER)).json()
    assert gate["in_sync"] is False and gate["pending_commands"] >= 1
    await api.gates["gate-02"].settle(api.service, api.downlink, T0)
    gate = await (await client.get("/api/access/gates/gate-02", headers=MANAGER)).json()
    assert gate["in_sync"] is True and gate["acked_version"] == gate["desired_version"]
    whitelist = await (await client.get("/api/access/gates/gate-02/whitelist", headers=MANAGER)).json()
    assert WANG_CARD not in json.dumps(whitelist)
    assert whitelist["version"] == gate["desired_version"]


async def test_visitor_passes_belong_to_their_inviter(api: Api) -> None:
    client = api.client
    created = await client.post("/api/access/passes", headers=WANG, json={
        "doors": [{"gate_id": "gate-01", "door": 1}], "max_uses": 2, "visitor_name": "张师傅",
        "visitor_phone": "13700001234"})
    assert created.status == 201
    visit = await created.json()
    assert visit["text"].startswith("v1.") and visit["visitor_phone"] == "137****1234"
    url = f"/api/access/passes/{visit['pass_id']}"
    assert (await (await client.get(url, headers=WANG)).json())["text"] == visit["text"]
    assert (await (await client.get(url, headers=MANAGER)).json())["text"] is None
    assert (await client.get(url, headers=ZHAO)).status == 403
    assert (await client.get(url, headers=LI)).status == 403
    qr = await client.get(f"{url}/qr.svg", headers=WANG)
    assert qr.status == 200 and qr.content_type == "image/svg+xml" and b"<svg" in await qr.read()
    assert (await client.get(f"{url}/qr.svg", headers=MANAGER)).status == 403
    mine = await (await client.get("/api/access/passes", headers=WANG)).json()
    assert [p["pass_id"] for p in mine["passes"]] == [visit["pass_id"]]
    assert (await (await client.get("/api/access/passes", headers=ZHAO)).json())["passes"] == []
    assert (await client.post("/api/access/passes", headers=ZHAO, json={
        "doors": [{"gate_id": "gate-02", "door": 1}]})).status == 403
    too_long = await client.post("/api/access/passes", headers=ZHAO, json={
        "doors": [{"gate_id": "gate-02", "door": 2}], "valid_to": (T0 + timedelta(days=2)).isoformat()})
    assert too_long.status == 422
    assert (await client.post(f"{url}/revoke", headers=ZHAO)).status == 403
    revoked = await client.post(f"{url}/revoke", headers=WANG)
    assert revoked.status == 200 and (await revoked.json())["status"] == "revoked"
    assert (await client.post(f"{url}/revoke", headers=WANG)).status == 409
    assert (await client.get("/api/access/passes/vp-none", headers=WANG)).status == 404


async def test_an_invitation_beyond_the_inviters_own_access_is_refused_in_english_and_chinese(api: Api) -> None:
    client = api.client
    building_door = {"gate_id": "gate-02", "door": 1}  # li's only from 06:00 to 23:00
    late = await client.post("/api/access/passes", headers=LI, json={
        "doors": [building_door], "valid_to": (T0 + timedelta(hours=8)).isoformat()})
    assert late.status == 422
    refused = await late.json()
    assert refused["reason"] == "past_your_access"
    assert "gate-02#1" in refused["error"] and "2025-03-03 23:00" in refused["error"]
    assert refused["error_zh"] == "您本人只能在 2025-03-03 23:00 之前通过1栋（楼栋门），请让通行码在此之前结束"
    night = await client.post("/api/access/passes", headers=LI, json={
        "doors": [building_door], "valid_from": (T0 + timedelta(hours=8)).isoformat()})
    assert night.status == 422 and (await night.json())["reason"] == "outside_your_access"
    assert (await client.post("/api/access/passes", headers=LI, json={
        "doors": [building_door], "valid_to": (T0 + timedelta(hours=7)).isoformat()})).status == 201

    api.clock.now = T0 + timedelta(days=10)  # zhao's card, her only credential, has ended
    ended = await client.post("/api/access/passes", headers=ZHAO, json={"doors": [{"gate_id": "gate-02", "door": 2}]})
    assert ended.status == 403
    assert (await ended.json())["reason"] == "your_access_not_valid"


async def test_a_resident_issues_at_most_the_set_number_of_active_passes(api: Api) -> None:
    client, entrance = api.client, {"doors": [{"gate_id": "gate-01", "door": 1}]}
    for _ in range(SETTINGS.max_active_passes):
        assert (await client.post("/api/access/passes", headers=WANG, json=entrance)).status == 201
    full = await client.post("/api/access/passes", headers=WANG, json=entrance)
    assert full.status == 409
    refused = await full.json()
    assert refused["reason"] == "too_many_active_passes"
    assert refused["error"].startswith(f"you have {SETTINGS.max_active_passes} active visitor passes")
    assert "已达上限" in refused["error_zh"]
    assert (await client.post("/api/access/passes", headers=LI, json=entrance)).status == 201, "per resident"
    mine = await (await client.get("/api/access/passes", headers=WANG)).json()
    revoked = await client.post(f"/api/access/passes/{mine['passes'][0]['pass_id']}/revoke", headers=WANG)
    assert revoked.status == 200
    assert (await client.post("/api/access/passes", headers=WANG, json=entrance)).status == 201


async def test_a_remote_open_is_answered_and_audited(api: Api) -> None:
    client = api.client
    started = await client.post("/api/access/gates/gate-01/doors/1/open", headers=MANAGER,
                                json={"reason": "访客按铃"})
    assert started.status == 202
    request = await started.json()
    assert request["status"] == "pending"
    await api.gates["gate-01"].deliver(api.service, api.downlink, T0)
    done = await (await client.get(f"/api/access/remote-opens/{request['cmd_id']}", headers=MANAGER)).json()
    assert done["status"] == "opened"
    audit = await (await client.get(f"{C}/remote-opens", headers=MANAGER)).json()
    assert [(r["requested_by"], r["reason"]) for r in audit["remote_opens"]] == [("pm-1", "访客按铃")]
    assert (await client.post("/api/access/gates/gate-01/doors/7/open", headers=MANAGER,
                              json={"reason": "x"})).status == 404
    assert (await client.post("/api/access/gates/gate-01/doors/1/open", headers=MANAGER,
                              json={})).status == 400


async def test_the_access_log_for_managers_and_for_residents(api: Api) -> None:
    client = api.client
    entrance = api.gates["gate-01"]
    created = await (await client.post("/api/access/passes", headers=WANG, json={
        "doors": [{"gate_id": "gate-01", "door": 1}]})).json()
    for minute, card in enumerate(["0012345678", "0087654321", "0055555555", "0000000001"]):
        await entrance.swipe(api.service, card, 1, T0 + timedelta(minutes=minute))
    await entrance.show_pass(api.service, created["text"], 1, T0 + timedelta(minutes=5))
    first = await (await client.get("/api/access/events?community_id=lotus&limit=3", headers=MANAGER)).json()
    assert len(first["events"]) == 3 and first["next_cursor"]
    rest = await (await client.get(f"/api/access/events?community_id=lotus&cursor={first['next_cursor']}",
                                   headers=MANAGER)).json()
    assert len(rest["events"]) == 2 and rest["next_cursor"] is None
    denied = await (await client.get("/api/access/events?community_id=lotus&kind=denied",
                                     headers=MANAGER)).json()
    assert [e["reason"] for e in denied["events"]] == ["unknown_credential"]
    household = await (await client.get("/api/access/events", headers=WANG)).json()
    assert {(e["resident_id"], e["pass_id"]) for e in household["events"]} == {
        ("wang", None), ("li", None), (None, created["pass_id"])}
    theirs = await (await client.get("/api/access/events", headers=ZHAO)).json()
    assert [e["resident_id"] for e in theirs["events"]] == ["zhao"]
    assert (await client.get("/api/access/events?resident_id=zhao", headers=WANG)).status == 403
    presence = await (await client.get(f"{C}/presence", headers=MANAGER)).json()
    assert (presence["residents_inside"], presence["visitors_inside"]) == (3, 1)


async def test_alarms_through_the_api(api: Api) -> None:
    client = api.client
    await api.gates["gate-01"].send(api.service, GateEvent(event_id="x", ts=T0, door=1, kind=GateEventKind.FORCED))
    (alarm,) = (await (await client.get(f"{C}/alarms?status=open", headers=MANAGER)).json())["alarms"]
    assert alarm["kind"] == "forced_door"
    url = f"/api/access/alarms/{alarm['number']}"
    seen = await client.post(f"{url}/acknowledge", json={"note": "保安已出发"}, headers=MANAGER)
    assert seen.status == 200 and (await seen.json())["acknowledged_by"] == "pm-1"
    done = await client.post(f"{url}/resolve", json={"note": "误报"}, headers=MANAGER)
    assert done.status == 200 and (await done.json())["status"] == "resolved"
    again = await client.post(f"{url}/resolve", json={}, headers=MANAGER)
    assert again.status == 409 and "already resolved" in (await again.json())["error"]
    assert (await (await client.get(f"{C}/alarms?status=open", headers=MANAGER)).json())["alarms"] == []
    assert (await client.get(f"{C}/alarms?status=closed", headers=MANAGER)).status == 400


async def read_sse(response: Any, wanted: str, timeout: float = 5.0) -> dict[str, Any]:
    """The data of the first SSE message of type `wanted`."""
    async with asyncio.timeout(timeout):
        kind = None
        while True:
            line = (await response.content.readline()).decode().rstrip("\r\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == wanted:
                data: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return data


async def sse_messages(response: Any, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next `count` SSE messages as {"event", "id", "data"} (pings skipped)."""
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while len(messages) < count:
            line = (await response.content.readline()).decode().rstrip("\r\n")
            if not line:
                if "data" in current:
                    messages.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" else value
    return messages


async def test_the_live_feed_streams_events_and_alarms_of_the_chosen_gate(api: Api) -> None:
    client = api.client
    response = await client.get("/api/access/live?gate_id=gate-01", headers=MANAGER)
    assert response.status == 200 and response.content_type == "text/event-stream"
    await api.gates["gate-02"].send(api.service, GateEvent(event_id="other", ts=T0, door=1,
                                                            kind=GateEventKind.TAMPER))
    await api.gates["gate-01"].send(api.service, GateEvent(event_id="mine", ts=T0, door=2,
                                                            kind=GateEventKind.HELD_OPEN))
    event = await read_sse(response, "event")
    assert (event["gate_id"], event["event_id"], event["event"], event["door_name"]) == (
        "gate-01", "mine", "held_open", "地库入口")
    alarm = await read_sse(response, "alarm")
    assert alarm["alarm"] == "door_held_open" and alarm["gate_id"] == "gate-01"
    response.close()


async def test_the_openapi_document_matches_the_routes(api: Api) -> None:
    client = api.client
    document = await (await client.get("/openapi.json")).json()
    assert_openapi_describes_the_routes(document, client.app)
    schemas = document["components"]["schemas"]
    opening = document["paths"]["/api/access/gates/{gate_id}/doors/{door}/open"]["post"]
    assert opening["security"] == [{"bearer": []}] and {"202", "401", "403", "404"} <= set(opening["responses"])
    assert all(name.startswith("Access") or name == "Error" or name in {"ResidentRole", "ResidentStatus",
               "CredentialKind", "DoorKind", "GateEventKind", "AccessMethod", "Direction", "DenialReason",
               "AlarmKind", "AlarmStatus"} for name in schemas), sorted(schemas)


# === at the edges: who is a resident, ids and values the database cannot hold, paging, visitors, the live feed ===

# --- 1. former residents ------------------------------------------------------------------------------------------

async def test_a_moved_out_resident_loses_resident_access_and_the_next_household_never_sees_them(api: Api) -> None:
    client, entrance = api.client, api.gates["gate-01"]
    await entrance.swipe(api.service, LI_CARD, 1, T0)
    visit = await (await client.post("/api/access/passes", headers=LI, json={
        "doors": [{"gate_id": "gate-01", "door": 1}]})).json()
    await entrance.show_pass(api.service, visit["text"], 1, T0 + timedelta(minutes=1))
    assert (await client.post("/api/access/residents/li/move-out", headers=MANAGER)).status == 200

    for path in ("/api/access/me", "/api/access/events", "/api/access/passes", "/api/access/units/b1-2-301",
                 "/api/access/residents/wang", "/api/access/residents/li/credentials"):
        refused = await client.get(path, headers=LI)
        assert refused.status == 403, path
        assert "moved_out" in (await refused.json())["error"]
    assert (await client.post("/api/access/passes", headers=LI, json={
        "doors": [{"gate_id": "gate-01", "door": 1}]})).status == 403
    for path in (f"/api/access/passes/{visit['pass_id']}", f"/api/access/passes/{visit['pass_id']}/qr.svg"):
        assert (await client.get(path, headers=LI)).status == 403, path
    assert (await client.post("/api/access/credentials/c-li/revoke", headers=LI)).status == 403  # moved out

    me = await (await client.get("/api/access/me", headers=WANG)).json()
    assert [r["resident_id"] for r in me["unit"]["residents"]] == ["wang"]
    unit = await (await client.get("/api/access/units/b1-2-301", headers=WANG)).json()
    assert [r["resident_id"] for r in unit["residents"]] == ["wang"]
    assert (await client.get("/api/access/residents/li", headers=WANG)).status == 403
    assert (await client.get("/api/access/events?resident_id=li", headers=WANG)).status == 403
    seen = await (await client.get("/api/access/events", headers=WANG)).json()
    assert seen["events"] == [], "neither the former resident's events nor their visitors'"
    managed = await (await client.get("/api/access/units/b1-2-301", headers=MANAGER)).json()
    assert {r["resident_id"]: r["status"] for r in managed["residents"]} == {"li": "moved_out", "wang": "active"}

    # the whole household leaves; the new occupant sees only their own
    await client.post("/api/access/residents/wang/move-out", headers=MANAGER)
    await api.service.add_resident(ResidentRecord("sun", "b1-2-301", ResidentRole.TENANT, "孙丽", None,
                                                  frozenset({"entrance"})))
    mine = await (await client.get("/api/access/me", headers=SUN)).json()
    assert [r["resident_id"] for r in mine["unit"]["residents"]] == ["sun"]
    assert (await (await client.get("/api/access/events", headers=SUN)).json())["events"] == []
    assert (await client.get("/api/access/me", headers=WANG)).status == 403


async def test_a_revoked_resident_has_no_resident_access_either(api: Api) -> None:
    assert (await api.client.post("/api/access/residents/wang/revoke", headers=MANAGER)).status == 200
    assert (await api.client.get("/api/access/me", headers=WANG)).status == 403


# --- 2. ids and values the database cannot hold ----------------------------------------------------------------

async def test_a_long_face_reference_is_enrolled_on_every_database_and_only_masked(api: Api) -> None:
    reference = "face-platform/tenant-0042/template/" + "0123456789abcdef" * 5 + "tail"  # 119 characters
    enrolled = await api.client.post("/api/access/residents/li/credentials", headers=MANAGER,
                                     json={"kind": "face", "value": reference})
    assert enrolled.status == 201, await enrolled.text()
    body = await enrolled.json()
    assert body["hint"] == "…tail"
    listed = await (await api.client.get("/api/access/residents/li/credentials", headers=LI)).text()
    assert reference not in listed and reference[:20] not in listed
    own = await (await api.client.get("/api/access/me", headers=WANG)).json()
    assert {c["kind"]: c["hint"] for c in own["credentials"]}["face"] == "…wang", "P-wang, masked"
    too_long = await api.client.post("/api/access/residents/li/credentials", headers=MANAGER,
                                     json={"kind": "face", "value": "x" * 129})
    assert too_long.status == 400


async def test_ids_in_paths_and_queries_are_checked_like_ids_in_bodies(api: Api) -> None:
    client, long_id = api.client, "g" * 65
    window = {"name": "夜班", "doors": [{"gate_id": "gate-01", "door": 1}],
              "windows": [{"days": [0], "start": "22:00", "end": "06:00"}]}
    created = await client.put(f"{C}/groups/{long_id}", headers=MANAGER, json=window)
    assert created.status == 400 and (await created.json())["field"] == "group_id"
    assert (await client.put(f"{C}/groups/{'g' * 64}", headers=MANAGER, json=window)).status == 200
    for path in (f"/api/access/residents/{long_id}", f"/api/access/units/{long_id}", f"/api/access/gates/{long_id}",
                 f"/api/access/passes/{long_id}", f"/api/access/remote-opens/{long_id}",
                 f"/api/access/communities/{long_id}/alarms", "/api/access/gates/gate%2001",
                 "/api/access/residents/wang%00"):
        response = await client.get(path, headers=MANAGER)
        assert response.status == 404, (path, await response.text())
    for query in (f"community_id=lotus&gate_id={long_id}", f"community_id={long_id}", "community_id=lotus&door=0",
                  "community_id=lotus&door=99999999999", "community_id=lotus&resident_id=a%00b"):
        assert (await client.get(f"/api/access/events?{query}", headers=MANAGER)).status == 400, query
    assert (await client.get(f"{C}/residents?unit_id={long_id}", headers=MANAGER)).status == 400


async def test_text_a_column_cannot_hold_is_refused_before_it_reaches_the_database(api: Api) -> None:
    resident = {"resident_id": "sun", "unit_id": "b2-1-101", "role": "owner"}
    for name in ("孙\x00丽", "孙\n丽", "孙" * 101):
        response = await api.client.post(f"{C}/residents", headers=MANAGER, json={**resident, "name": name})
        assert response.status == 400 and (await response.json())["details"][0]["field"] == "name"
    assert (await api.client.post(f"{C}/residents", headers=MANAGER,
                                  json={**resident, "name": "孙" * 100})).status == 201


async def test_a_value_the_database_refuses_is_a_422_that_does_not_echo_it(api: Api) -> None:
    # a subject longer than the audit column: only SQLite can hold an account for it (PostgreSQL refuses the
    # account too, so there the token is refused before anything is written: 401 where this was a 422)
    subject = "pm-" + "x" * 80
    if api.engine.dialect.name != "postgresql":
        await give_accounts(api.engine, {subject: [Role.PROPERTY_MANAGER]})
    issued = await api.service.invite("wang", frozenset({Door("gate-01", 1)}))
    response = await api.client.post(f"/api/access/passes/{issued.record.pass_id}/revoke",
                                     headers=bearer(subject, Role.PROPERTY_MANAGER))
    if api.engine.dialect.name == "postgresql":
        assert response.status == 401
        text = await response.text()
        assert subject not in text and "UPDATE" not in text and "access_" not in text
        record, _ = await api.service.visitor_pass(issued.record.pass_id)
        assert record.revoked_at is None, "nothing half-written"
    else:
        assert response.status == 200, "SQLite stores it"


# --- 6. one paging rule; 404 for what does not exist; no cap on a household's visitors --------------------------

@pytest.mark.parametrize("path", [f"{C}/alarms", f"{C}/remote-opens", "/api/access/events?community_id=lotus"])
async def test_every_listing_refuses_a_limit_out_of_range_alike(api: Api, path: str) -> None:
    joiner = "&" if "?" in path else "?"
    for limit in ("0", "-1", "501", "many", "1.5"):
        response = await api.client.get(f"{path}{joiner}limit={limit}", headers=MANAGER)
        assert response.status == 400 and (await response.json())["field"] == "limit", (path, limit)
    assert (await api.client.get(f"{path}{joiner}limit=500", headers=MANAGER)).status == 200


async def test_passes_of_a_community_that_does_not_exist_are_404(api: Api) -> None:
    assert (await api.client.get("/api/access/passes?community_id=nowhere", headers=MANAGER)).status == 404
    assert (await api.client.get("/api/access/passes?community_id=lotus", headers=MANAGER)).status == 200
    assert (await api.client.get("/api/access/passes?community_id=a%20b", headers=MANAGER)).status == 400


async def test_a_household_sees_its_visitors_however_many_passes_it_issued(api: Api) -> None:
    first = VisitorPass("vp-first", "li", frozenset({Door("gate-01", 1)}), T0, T0 + timedelta(hours=4), 1)
    async with api.engine.begin() as connection:
        visitors = VisitorRepository(connection)
        await visitors.add(VisitorPassRecord(first, pass_credential_hash("vp-first", SITE_KEY), T0))
        for n in range(1200):  # newer than the first: a cap on "the latest N passes" would leave the first out
            later = VisitorPass(f"vp-{n:05d}", "wang", frozenset({Door("gate-01", 1)}), T0, T0 + timedelta(hours=4))
            await visitors.add(VisitorPassRecord(later, pass_credential_hash(later.pass_id, SITE_KEY),
                                                 T0 + timedelta(seconds=n + 1)))
    await api.gates["gate-01"].send(api.service, GateEvent(
        event_id="visitor-1", ts=T0, door=1, kind=GateEventKind.GRANTED, method=AccessMethod.QR,
        credential="vp-first", direction=Direction.IN))
    seen = await (await api.client.get("/api/access/events", headers=WANG)).json()
    assert [(e["event_id"], e["pass_id"]) for e in seen["events"]] == [("visitor-1", "vp-first")]
    assert (await (await api.client.get("/api/access/events", headers=bearer("zhao", Role.RESIDENT))).json())[
        "events"] == [], "another household does not"


# --- 9. the live feed: ids, replay, gaps ---------------------------------------------------------------------------

async def test_the_live_feed_replays_what_a_reconnecting_client_missed(api: Api) -> None:
    client, gate = api.client, api.gates["gate-01"]
    response = await client.get("/api/access/live?gate_id=gate-01", headers=MANAGER)
    await gate.send(api.service, GateEvent(event_id="one", ts=T0, door=1, kind=GateEventKind.DOOR_OPEN))
    (first,) = await sse_messages(response, 1)
    assert first["event"] == "event" and first["data"]["event_id"] == "one" and first["id"]
    response.close()
    await gate.send(api.service, GateEvent(event_id="two", ts=T0, door=1, kind=GateEventKind.DOOR_CLOSED))
    await api.gates["gate-02"].send(api.service, GateEvent(event_id="other", ts=T0, door=1,
                                                            kind=GateEventKind.DOOR_OPEN))
    await gate.swipe(api.service, WANG_CARD, 1, T0)

    again = await client.get("/api/access/live?gate_id=gate-01", headers={**MANAGER, "Last-Event-ID": first["id"]})
    replayed = await sse_messages(again, 2)
    assert [m["data"]["event_id"] for m in replayed] == ["two", replayed[1]["data"]["event_id"]]
    assert replayed[1]["data"]["resident_id"] == "wang"
    assert len({first["id"], *(m["id"] for m in replayed)}) == 3, "each message has its own id"
    await gate.send(api.service, GateEvent(event_id="live", ts=T0, door=1, kind=GateEventKind.DOOR_OPEN))
    (live,) = await sse_messages(again, 1)
    assert live["data"]["event_id"] == "live", "then it goes on live"
    again.close()


async def test_a_gap_the_feed_cannot_fill_is_announced(api: Api) -> None:
    stale = f"{'0' * 8}.5"  # from another run of the service: nothing of it is kept
    response = await api.client.get("/api/access/live", headers={**MANAGER, "Last-Event-ID": stale})
    (gap,) = await sse_messages(response, 1)
    assert gap["event"] == "gap" and gap["data"]["notice"] == GAP_NOTICE == "有遗漏，请刷新"
    assert gap["id"] == api.service.feed.position, "a later reconnect resumes from here"
    response.close()


# --- 10. the live feed: a share per account ------------------------------------------------------------------------

LIVE = "/api/access/live"
SUPERSEDED_NOTICE = "实时动态已在您的另一个窗口打开，此处已停止更新"


async def test_one_manager_cannot_hold_every_place_on_the_live_feed(engine: AsyncEngine) -> None:
    # five places in all: one manager's five consoles (or one script) used to leave none for anybody else
    service = AccessService(engine, RecordingDownlink(), Clock(T0), KEYS, SETTINGS, LiveFeed(max_subscribers=5))
    app = await check_tokens_with_accounts(create_app(service, AUTHORITY, Clock(T0)), engine,
                                           {**SUBJECTS, "pm-2": [Role.PROPERTY_MANAGER]})
    async with TestClient(TestServer(app)) as client:
        mine = [await client.get(LIVE, headers=MANAGER) for _ in range(5)]
        other = await client.get(LIVE, headers=bearer("pm-2", Role.PROPERTY_MANAGER))
        assert other.status == 200, "another manager still gets the live feed"
        assert [response.status for response in mine] == [200] * 5, "a manager's newest console gets it too"
        (ended,) = await sse_messages(mine[0], 1)
        assert ended["event"] == "superseded" and ended["data"]["notice"] == SUPERSEDED_NOTICE
        assert "id" not in ended, "a client resuming later does so from the last item it saw"
        assert await asyncio.wait_for(mine[0].content.read(), 5) == b"", "then the oldest stream ends"
        assert service.feed.subscribers == 5 and service.feed.stats.superseded == 1
        for response in (*mine, other):
            response.close()


async def test_the_share_per_account_is_the_service_setting(engine: AsyncEngine) -> None:
    service = AccessService(engine, RecordingDownlink(), Clock(T0), KEYS,
                            replace(SETTINGS, live_streams_per_account=1))
    app = await check_tokens_with_accounts(create_app(service, AUTHORITY, Clock(T0)), engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        first = await client.get(LIVE, headers=MANAGER)
        second = await client.get(LIVE, headers=MANAGER)
        (ended,) = await sse_messages(first, 1)
        assert second.status == 200 and ended["event"] == "superseded"
        assert service.feed.subscribers == 1
        first.close()
        second.close()
