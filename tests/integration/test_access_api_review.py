"""The access API on both databases, for what a review found: only active residents get resident access (and see only
the active household), every id and value gets a clear 4xx rather than a database error, one paging rule, a
household sees all of its visitors however many passes it issued, face references are masked, and the live feed
replays what a reconnecting client missed or says that it cannot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.directory import ResidentRecord, ResidentRole
from community.access.live_feed import GAP_NOTICE
from community.access.permissions import Door
from community.access.service import AccessService
from community.access.storage import VisitorRepository
from community.access.visitor_pass import VisitorPass
from community.access.visitors import VisitorPassRecord, pass_credential_hash
from community.access.web import create_app
from devices.contract import AccessMethod, Direction, GateEvent, GateEventKind
from devices.gate_memory import GateMemory
from gateway.auth import Role
from gateway.downlink import RecordingDownlink
from tests.integration.test_access_api import AUTHORITY, LI, MANAGER, WANG, C, bearer, sse_messages
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

pytestmark = pytest.mark.integration

SUN = bearer("sun", Role.RESIDENT)


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
    async with TestClient(TestServer(create_app(service, AUTHORITY, clock))) as client:
        yield Api(client, service, downlink, clock, gates, engine)


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
    assert (await client.post("/api/access/credentials/c-li/revoke", headers=LI)).status == 403

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
    # a subject longer than the audit column: the token layer accepts it, PostgreSQL does not
    subject = "pm-" + "x" * 80
    issued = await api.service.invite("wang", frozenset({Door("gate-01", 1)}))
    response = await api.client.post(f"/api/access/passes/{issued.record.pass_id}/revoke",
                                     headers=bearer(subject, Role.PROPERTY_MANAGER))
    if api.engine.dialect.name == "postgresql":
        assert response.status == 422
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
