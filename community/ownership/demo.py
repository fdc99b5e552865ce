"""Ownership for a demo community of ``community.access.demo`` (the compounds behind ``smartcity run``).

Most units are owned by the resident with role owner who lives there; the second household of each building co-owns
its flat with a family member (the owner represents it). The rented flats (no owner lives there) show the rest of
art. 9's cases: the first is the second flat of building 1's first owner — one person owning two units —, up to five
are still held by the developer (rented out while unsold), the last has no owner registered yet (so a roll frozen
from the register counts it, with nobody to vote for it, and says so), and the others belong to owners who live
elsewhere.

The register is recorded as taken over from the property office's records a month before `now`, so that a proposal
that opened an hour ago has a roll: a roll is the register as it stood when voting opened.

Any demo community can be seeded so (the all-in-one demo has two): :func:`seed_demo_ownership` takes the community
and its developer (:data:`DEVELOPER` built 幸福里, the first; :data:`NORTH_DEVELOPER` suits 北苑, the second). The
owner ids below are those the access demo gives the first community's residents.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from community.access.directory import ResidentRecord, ResidentRole, ResidentStatus
from community.access.service import AccessService
from community.ownership.register import Owner, RegisteredUnit, UnitOwnership
from community.ownership.service import OwnershipService

DEVELOPER = Owner("dev-xingfuli", "幸福里置业有限公司")
NORTH_DEVELOPER = Owner("dev-beiyuan", "北苑置业有限公司")
"""The developer of the second demo compound (北苑), which still holds a few of its flats."""
REGISTER_AGE = timedelta(days=30)
DEVELOPER_HELD = 5
RECORDED_BY = "demo"

OWNER_OF_TWO_UNITS = "P010001"
"""Owns b01-001, where they live, and b01-006, which they let."""
CO_OWNER_REPRESENTATIVE = "P010004"
"""Co-owns b01-002 with P010005 (a family member) and represents it."""
COMMITTEE_MEMBER = "P020001"
"""Owns b02-001; a natural owners' committee member for the demo."""
DEMO_OWNERS = (OWNER_OF_TWO_UNITS, CO_OWNER_REPRESENTATIVE, COMMITTEE_MEMBER)
"""Owner ids suggested for demo sign-in accounts (the demo's ballots leave their units to them)."""

_ABSENT_OWNER_NAMES = ("孟凡", "邓华", "曹阳", "彭博", "潘越", "袁野", "蒋青", "蔡文", "贾宁", "丁一", "魏东", "薛冰")


async def seed_demo_ownership(ownership: OwnershipService, access: AccessService, community_id: str,
                              now: datetime, *, developer: Owner = DEVELOPER) -> bool:
    """Record the demo community's ownership unless its register has entries already (or there is nobody to own
    anything); True when recorded. `developer`: who built the compound and holds its unsold flats."""
    register = await ownership.register(community_id)
    if register.entries:
        return False
    records = demo_ownership(register.units, await access.residents(community_id), developer)
    if not records:
        return False
    await ownership.import_register(community_id, records, RECORDED_BY, now - REGISTER_AGE)
    return True


def demo_ownership(units: Sequence[RegisteredUnit], residents: Sequence[ResidentRecord],
                   developer: Owner = DEVELOPER) -> list[UnitOwnership]:
    """The demo's ownership of `units`, from who lives in them (see the module's docstring)."""
    living: dict[str, list[ResidentRecord]] = {}
    for resident in sorted(residents, key=lambda r: r.resident_id):
        if resident.status is not ResidentStatus.MOVED_OUT:
            living.setdefault(resident.unit_id, []).append(resident)
    records: list[UnitOwnership] = []
    let_out: list[RegisteredUnit] = []
    for unit in units:
        people = living.get(unit.unit_id, [])
        owners = [Owner(r.resident_id, r.name) for r in people if r.role is ResidentRole.OWNER]
        family = [Owner(r.resident_id, r.name) for r in people if r.role is ResidentRole.FAMILY]
        if not owners:
            let_out.append(unit)
        elif unit.unit_id.endswith("-002") and family:
            records.append(UnitOwnership(unit.unit_id, (owners[0], family[0]), representative_id=owners[0].owner_id))
        else:
            records.append(UnitOwnership(unit.unit_id, (owners[0],)))
    return records + _let_out_flats(let_out, records, developer)


def _let_out_flats(flats: list[RegisteredUnit], owned: list[UnitOwnership], developer: Owner) -> list[UnitOwnership]:
    if not flats:
        return []
    landlord = owned[0].owners[0] if owned else Owner(OWNER_OF_TWO_UNITS, "业主")
    records = [UnitOwnership(flats[0].unit_id, (landlord,))]
    rest = flats[1:-1] if len(flats) > 2 else flats[1:]  # the last one stays unregistered
    for index, flat in enumerate(rest):
        if index < DEVELOPER_HELD:
            records.append(UnitOwnership(flat.unit_id, (developer,), held_by_developer=True))
        else:
            name = _ABSENT_OWNER_NAMES[index % len(_ABSENT_OWNER_NAMES)]
            records.append(UnitOwnership(flat.unit_id, (Owner(f"L-{flat.unit_id}", name),)))
    return records
