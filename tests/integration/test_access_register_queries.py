"""The register's reads behind the console's pages, on both databases: residents searched by name, id, unit, room or
the last four digits of a phone (no other part of a phone), one status or any, a page at a time with the total; a
building and its units; units counted per building; the residents of some units; units by id — each within one
community, another's never found through it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.directory import Building, ResidentRecord, ResidentRole, ResidentSearch, ResidentStatus, Unit
from community.access.service import AccessService, NotFound
from messaging.downlink import RecordingDownlink
from tests.integration.test_access_scope import PLUM
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, T0, Clock

pytestmark = pytest.mark.integration


@pytest.fixture
async def service(engine: AsyncEngine) -> AccessService:
    made = AccessService(engine, RecordingDownlink(), Clock(T0), KEYS, SETTINGS)
    await made.import_community(LOTUS)
    await made.import_community(PLUM)
    return made


def ids(found: tuple[ResidentRecord, ...]) -> list[str]:
    return [record.resident_id for record in found]


async def test_residents_are_found_by_name_id_unit_room_and_phone_tail_only(service: AccessService) -> None:
    async def search(text: str, status: ResidentStatus | None = None) -> list[str]:
        return ids((await service.search_residents(ResidentSearch("lotus", text, status))).residents)

    assert await search("") == ["li", "wang", "zhao"], "by unit, then id"
    assert await search("王") == ["wang"]
    assert await search("WANG") == ["wang"], "ids case-insensitively"
    assert await search("b1-2") == ["li", "wang"]
    assert await search("101") == ["zhao"], "the room (and the unit id holding it)"
    assert await search("5678") == ["wang"], "the last four digits of 13812345678"
    assert await search("1111") == ["zhao"]
    assert await search("1234") == [], "no digits from inside a phone: the mask hides them"
    assert await search("138") == [], "nor its first digits"
    assert await search("梅") == [] and await search("5678 ") == ["wang"], "another community's: none; trimmed"
    assert await search("%") == [] and await search("_") == [], "LIKE's wildcards are only characters"
    await service.move_out("li", "pm")
    assert await search("", ResidentStatus.ACTIVE) == ["wang", "zhao"]
    assert await search("", ResidentStatus.MOVED_OUT) == ["li"]
    assert await search("李", ResidentStatus.ACTIVE) == []


async def test_a_search_comes_a_page_at_a_time_with_the_total(service: AccessService) -> None:
    for number in range(23):
        await service.add_resident(ResidentRecord(f"p{number:02d}", "b2-1-101", ResidentRole.FAMILY, f"家人{number}",
                                                  f"1390000{number:04d}", frozenset({"entrance"})))
    first = await service.search_residents(ResidentSearch("lotus", "家人", limit=10))
    assert first.total == 23 and ids(first.residents) == [f"p{n:02d}" for n in range(10)]
    last = await service.search_residents(ResidentSearch("lotus", "家人", limit=10, offset=20))
    assert last.total == 23 and ids(last.residents) == ["p20", "p21", "p22"]
    assert all(r.group_ids == {"entrance"} for r in last.residents), "with their groups"
    assert (await service.search_residents(ResidentSearch("lotus", "0007"))).total == 1


async def test_buildings_their_units_and_unit_counts(service: AccessService) -> None:
    assert await service.building("b1") == Building("b1", "lotus", "1栋")
    with pytest.raises(NotFound):
        await service.building("nope")
    await service.add_unit(Unit("b1-1-101", "b1", "1单元", "101", Decimal("70.5")))
    assert [u.unit_id for u in await service.building_units("b1")] == ["b1-1-101", "b1-2-301"]
    assert await service.unit_counts("lotus") == {"b1": 2, "b2": 1}
    assert await service.unit_counts("plum") == {"pb1": 1}
    units = await service.units_by_id(["b1-1-101", "nope", "b2-1-101"])
    assert sorted(units) == ["b1-1-101", "b2-1-101"] and units["b1-1-101"].area_m2 == Decimal("70.50")
    found = await service.residents_of_units(["b1-2-301", "b1-1-101"])
    assert sorted(ids(tuple(found))) == ["li", "wang"]
