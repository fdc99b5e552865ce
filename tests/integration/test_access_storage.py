"""Access storage on SQLite and PostgreSQL: the migration matches the tables, exact areas, hashed credentials,
whitelist sync state round trips, an idempotent and paginated access log, presence, alarms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.access_log import AccessLogEntry, LogQuery, Movement, decode_cursor
from community.access.alarms import Alarm, AlarmKind, acknowledge
from community.access.directory import (
    Building,
    Community,
    CredentialRecord,
    DoorKind,
    Gate,
    GateDoor,
    GroupRecord,
    ResidentRecord,
    ResidentRole,
    ResidentStatus,
    Unit,
    credential_hint,
)
from community.access.permissions import (
    AccessGroup,
    Credential,
    CredentialKind,
    Door,
    Resident,
    WeeklyWindow,
    credential_hash,
    effective_whitelist,
)
from community.access.storage import (
    AccessLogRepository,
    AlarmRepository,
    DirectoryRepository,
    SyncRepository,
    VisitorRepository,
)
from community.access.storage.tables import credentials, metadata
from community.access.visitor_pass import VisitorPass
from community.access.visitors import VisitorPassRecord
from community.access.whitelist_sync import GateSyncState, on_ack, on_state, plan_sync
from devices.contract import AccessMethod, DenialReason, GateEventKind
from relational.database import migrate
from tests.integration.conftest import empty_engine

pytestmark = pytest.mark.integration

KEY = b"site-key-for-tests-0123456789abc"
T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)
CARD = "0012345678"
DAYTIME = WeeklyWindow(frozenset(range(7)), time(6), time(23))


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        directory = DirectoryRepository(connection)
        await directory.add_community(Community("lotus", "lotus-site", "荷花小区"))
        await directory.add_building(Building("b1", "lotus", "1栋"))
        await directory.add_unit(Unit("b1-2-301", "b1", "2单元", "301", Decimal("89.37")))
        await directory.add_gate(Gate("gate-01", "lotus", "东门", (
            GateDoor("gate-01", 1, "东门", DoorKind.ENTRANCE), GateDoor("gate-01", 2, "1栋", DoorKind.BUILDING, "b1"))))
        await directory.put_group(GroupRecord("lotus", "1栋住户", AccessGroup(
            "b1-residents", frozenset({Door("gate-01", 1), Door("gate-01", 2)}), (DAYTIME,),
            valid_to=T0 + timedelta(days=365))))
        await directory.add_resident(ResidentRecord("wang", "b1-2-301", ResidentRole.OWNER, "王芳", "13812345678",
                                                    frozenset({"b1-residents"})))
        await directory.add_credential(CredentialRecord(
            "c-wang", "wang", CredentialKind.CARD, credential_hash(CredentialKind.CARD, CARD, KEY),
            credential_hint(CredentialKind.CARD, CARD), None, T0 + timedelta(days=30)))




async def test_the_migration_creates_exactly_the_tables_the_code_uses(engine: AsyncEngine) -> None:
    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        # the access tables only: the voting context answers for its own
        return [diff for diff in compare_metadata(context, metadata) if "access_" in repr(diff)]

    async with engine.connect() as connection:
        found = await connection.run_sync(differences)
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert found == []
    assert {table.name for table in metadata.sorted_tables} <= set(tables)


async def test_directory_round_trips_with_exact_area_and_groups(engine: AsyncEngine) -> None:
    await seed(engine)
    async with engine.connect() as connection:
        directory = DirectoryRepository(connection)
        unit = await directory.unit("b1-2-301")
        assert unit is not None and unit.area_m2 == Decimal("89.37") and str(unit.area_m2) == "89.37"
        (resident,) = await directory.residents("lotus")
        assert resident.group_ids == {"b1-residents"} and resident.masked_phone == "138****5678"
        (gate,) = await directory.gates("lotus")
        assert [door.kind for door in gate.doors] == [DoorKind.ENTRANCE, DoorKind.BUILDING]
        (group,) = await directory.groups("lotus")
        assert group.group.windows == (DAYTIME,) and group.group.valid_to == T0 + timedelta(days=365)
        assert await directory.community_of_unit("b1-2-301") == "lotus"
        holders = await directory.holders("lotus", [credential_hash(CredentialKind.CARD, CARD, KEY)])
        assert holders == {credential_hash(CredentialKind.CARD, CARD, KEY): "wang"}


async def test_no_table_holds_a_raw_card_number(engine: AsyncEngine) -> None:
    await seed(engine)
    async with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                assert CARD not in repr(tuple(row)), table.name
        hint = (await connection.execute(text("SELECT hint FROM access_credentials"))).scalar()
    assert hint == "…5678"


async def test_sync_state_round_trips_with_its_plan_and_keeps_only_the_versions_it_needs(engine: AsyncEngine) -> None:
    await seed(engine)
    people = [Resident(f"r{i}", frozenset({"g"})) for i in range(6)]
    group = AccessGroup("g", frozenset({Door("gate-01", 1)}), (DAYTIME,))
    cards = [Credential(f"c{i}", CredentialKind.CARD, credential_hash(CredentialKind.CARD, f"{i:010d}", KEY), f"r{i}",
                        valid_from=T0) for i in range(6)]
    first = effective_whitelist("gate-01", cards[:5], people, [group])
    second = effective_whitelist("gate-01", cards, people, [group])
    step = plan_sync(first, 1, on_state(GateSyncState("gate-01"), True, T0).state, T0)
    state = on_ack(step.state, step.commands[0]["cmd_id"], True, T0).state
    step = plan_sync(second, 2, state, T0)
    async with engine.begin() as connection:
        await SyncRepository(connection).save(step.state, changed_at=T0)
    async with engine.connect() as connection:
        loaded = await SyncRepository(connection).load("gate-01")
        due = await SyncRepository(connection).due(T0 + timedelta(minutes=1))
    assert loaded == step.state
    assert due == ["gate-01"]
    done = on_ack(step.state, step.commands[0]["cmd_id"], True, T0).state
    async with engine.begin() as connection:
        await SyncRepository(connection).save(done)
    async with engine.connect() as connection:
        versions = (await connection.execute(text("SELECT version FROM access_whitelist_versions"))).scalars().all()
        assert await SyncRepository(connection).due(T0 + timedelta(days=1)) == []
    assert versions == [2]


def entry(event_id: str, minute: int, **fields: Any) -> AccessLogEntry:
    values: dict[str, Any] = {"gate_id": "gate-01", "event_id": event_id, "community_id": "lotus",
                              "ts": T0 + timedelta(minutes=minute), "received_at": T0 + timedelta(hours=1),
                              "door": 1, "kind": GateEventKind.GRANTED, "method": AccessMethod.CARD}
    return AccessLogEntry(**(values | fields))


async def test_the_access_log_stores_an_event_once_and_pages_newest_first(engine: AsyncEngine) -> None:
    await seed(engine)
    entries = [entry(f"e{i:02d}", i, resident_id="wang" if i % 2 else None) for i in range(25)]
    denied = entry("e99", 30, kind=GateEventKind.DENIED, reason=DenialReason.EXPIRED, door=2)
    async with engine.begin() as connection:
        stored = await AccessLogRepository(connection).add([*entries, denied, entries[0]])
    assert len(stored) == 26
    async with engine.begin() as connection:
        assert await AccessLogRepository(connection).add(entries[:3]) == [], "a redelivery is stored once"
    async with engine.connect() as connection:
        log = AccessLogRepository(connection)
        seen: list[str] = []
        cursor = None
        while True:
            page = await log.query(LogQuery(community_id="lotus", limit=10,
                                            after=decode_cursor(cursor) if cursor else None))
            seen.extend(item.event_id for item in page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == ["e99", *[f"e{i:02d}" for i in reversed(range(25))]]
        (refused,) = (await log.query(LogQuery(kind=GateEventKind.DENIED))).entries
        assert refused.reason is DenialReason.EXPIRED and refused.door == 2
        wangs = await log.query(LogQuery(resident_id="wang", since=T0 + timedelta(minutes=10),
                                         until=T0 + timedelta(minutes=20)))
        assert [item.event_id for item in wangs.entries] == ["e19", "e17", "e15", "e13", "e11"]
        assert (await log.query(LogQuery(door=2))).entries == (refused,)


async def add_visit(engine: AsyncEngine, pass_id: str, valid_to: datetime, revoked_at: datetime | None = None) -> None:
    visit = VisitorPass(pass_id, "wang", frozenset({Door("gate-01", 1)}), valid_to - timedelta(hours=4), valid_to, 2)
    async with engine.begin() as connection:
        await VisitorRepository(connection).add(VisitorPassRecord(visit, "0" * 63 + pass_id[-1], T0,
                                                                  revoked_at=revoked_at))


async def test_presence_follows_the_newest_movement(engine: AsyncEngine) -> None:
    await seed(engine)
    await add_visit(engine, "vp-1", T0 + timedelta(hours=4))
    async with engine.begin() as connection:
        await DirectoryRepository(connection).add_resident(
            ResidentRecord("li", "b1-2-301", ResidentRole.FAMILY, "李强", None, frozenset()))
        log = AccessLogRepository(connection)
        await log.move("lotus", Movement("resident", "wang", True, T0 + timedelta(hours=2)))
        await log.move("lotus", Movement("resident", "wang", False, T0 + timedelta(hours=1)))  # late backlog
        await log.move("lotus", Movement("visitor", "vp-1", True, T0))
        await log.move("lotus", Movement("resident", "li", True, T0))
        await log.move("lotus", Movement("resident", "li", False, T0 + timedelta(minutes=5)))
    async with engine.connect() as connection:
        counted = await AccessLogRepository(connection).presence("lotus", T0 + timedelta(hours=3), T0)
    assert (counted.residents_inside, counted.visitors_inside) == (1, 1)


async def test_presence_stops_counting_ended_passes_stale_and_former_residents(engine: AsyncEngine) -> None:
    await seed(engine)
    await add_visit(engine, "vp-1", T0 + timedelta(hours=1))
    await add_visit(engine, "vp-2", T0 + timedelta(hours=9), revoked_at=T0 + timedelta(hours=2))
    await add_visit(engine, "vp-3", T0 + timedelta(hours=9))
    async with engine.begin() as connection:
        directory = DirectoryRepository(connection)
        await directory.add_resident(ResidentRecord("li", "b1-2-301", ResidentRole.FAMILY, "李强", None, frozenset()))
        await directory.add_resident(ResidentRecord("sun", "b1-2-301", ResidentRole.TENANT, "孙", None, frozenset(),
                                                    ResidentStatus.MOVED_OUT))
        log = AccessLogRepository(connection)
        for person_kind, person_id in (("visitor", "vp-1"), ("visitor", "vp-2"), ("visitor", "vp-3"),
                                       ("resident", "sun")):
            await log.move("lotus", Movement(person_kind, person_id, True, T0))  # type: ignore[arg-type]
        await log.move("lotus", Movement("resident", "wang", True, T0 - timedelta(days=2)))  # left by the button
        await log.move("lotus", Movement("resident", "li", True, T0 + timedelta(hours=1)))

    async def inside(now: datetime, seen_since: datetime) -> tuple[int, int]:
        async with engine.connect() as connection:
            counted = await AccessLogRepository(connection).presence("lotus", now, seen_since)
        return counted.residents_inside, counted.visitors_inside

    assert await inside(T0 + timedelta(minutes=30), T0 - timedelta(days=3)) == (2, 3)
    now = T0 + timedelta(hours=3)
    assert await inside(now, now - timedelta(hours=24)) == (1, 1), "vp-1 ended, vp-2 revoked, wang stale, sun gone"


async def test_alarms_are_stored_once_and_move_through_their_lifecycle(engine: AsyncEngine) -> None:
    await seed(engine)
    alarm = Alarm("forced_door:gate-01:1:e1", AlarmKind.FORCED_DOOR, "gate-01", 1, T0)
    async with engine.begin() as connection:
        alarms = AlarmRepository(connection)
        number = await alarms.add("lotus", alarm)
        assert await alarms.add("lotus", alarm) == number
        await alarms.update(acknowledge(alarm, "pm-1", T0 + timedelta(minutes=1), "保安已出发"))
    async with engine.connect() as connection:
        alarms = AlarmRepository(connection)
        found = await alarms.get(number)
        assert found is not None and found[1].acknowledged_by == "pm-1" and found[1].acknowledge_note == "保安已出发"
        assert [a.alarm_id for a in await alarms.unresolved()] == [alarm.alarm_id]
        assert [n for n, _ in await alarms.listed("lotus", gate_id="gate-01")] == [number]
        assert await alarms.listed("lotus", kind=AlarmKind.TAMPER) == []


@pytest.fixture(params=["sqlite", "postgresql"])
async def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    yield made
    await made.dispose()


async def test_migration_0007_masks_face_references_stored_whole_as_hints(bare_engine: AsyncEngine) -> None:
    await migrate(bare_engine, "community", "0006_voting_anchors")
    await seed(bare_engine)
    face_hash = credential_hash(CredentialKind.FACE, "P-wang", KEY)
    async with bare_engine.begin() as connection:
        directory = DirectoryRepository(connection)
        await directory.add_credential(CredentialRecord("f-wang", "wang", CredentialKind.FACE, face_hash,
                                                        "face-system/P-wang-0042", None, None))
        await directory.add_credential(CredentialRecord("f-short", "wang", CredentialKind.FACE, "1" * 64, "P01",
                                                        None, None))
        assert (await directory.credential("f-wang")).hint == "…0042", "never shown whole, even before migrating"
    await migrate(bare_engine, "community")
    async with bare_engine.connect() as connection:
        stored = dict((await connection.execute(select(credentials.c.credential_id, credentials.c.hint))).all())
    assert stored == {"c-wang": "…5678", "f-wang": "…0042", "f-short": None}
