"""The demo community behind `smartcity run`: its residents, cards and gates are the simulator's (devices/simulator/
``TrafficGenerator.community_roster()``), so once the platform has synced the whitelists the simulated controllers
grant and deny by the real permissions.

Each simulated gate gate-NN is the controller of building N: door 1 the compound's gate next to it (entrance),
door 2 the building's door, door 3 a side gate (entrance), door 4 the garage. Residents live three to a unit; one
household in six rents (tenants may use the doors 06:00–23:00 only, until their lease ends); three households in
four have a garage place. The simulator's lapsed cards are old cards whose validity ended days ago (denied as
expired), its blacklisted cards are lost cards (revoked, denied as blacklisted). Names and phone numbers are made up.

Two compounds share one installation: the first (幸福里小区) has the installation's site id as its community id and
MQTT site; the second, smaller one (北苑, :meth:`DemoCompound.north`) has ``{site}-north`` for both, and every id of it
(gates, residents, buildings, units, groups) starts with ``north-``, because those ids are unique across the
installation's communities. Its gates are a second simulator's (:func:`north_traffic`: a `TrafficGenerator` of that
site with ``id_prefix="north-"``), which a second `run_simulation` drives beside the first, its devices' broker users
from ``devices.provisioning.fleet_users(north.site, NORTH_GATES, 0, prefix=NORTH_PREFIX)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

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
from community.access.permissions import ALWAYS, AccessGroup, CredentialKind, Door, WeeklyWindow
from community.access.service import AccessService, CommunityImport, CredentialEnrolment
from devices.simulator import GateKeys, SimulatedGate, TrafficGenerator

HOUSEHOLD = 3
TENANT_DAYTIME = WeeklyWindow(frozenset(range(7)), time(6), time(23))
LEASE = timedelta(days=180)
_DOORS = ((DoorKind.ENTRANCE, "{n}号门"), (DoorKind.BUILDING, "{n}栋单元门"), (DoorKind.ENTRANCE, "南侧门"),
          (DoorKind.GARAGE, "地库入口"))
NORTH_PREFIX = "north-"
NORTH_GATES = 2
"""The second compound's gates (buildings): a small one beside the first's four to six."""
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英"


@dataclass
class _Drafts:
    buildings: list[Building] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    groups: list[GroupRecord] = field(default_factory=list)
    residents: list[ResidentRecord] = field(default_factory=list)
    credentials: list[CredentialEnrolment] = field(default_factory=list)
    revoked: list[CredentialEnrolment] = field(default_factory=list)


@dataclass(frozen=True)
class DemoCompound:
    """Which demo compound: its community id, MQTT site and name, and what its ids start with (the simulator's
    ``id_prefix`` for its gates and residents; the demo's for its buildings, units and groups)."""

    community_id: str
    site: str
    name: str
    id_prefix: str = ""

    @classmethod
    def main(cls, site: str) -> DemoCompound:
        """The first compound: the installation's own site id."""
        return cls(site, site, "幸福里小区")

    @classmethod
    def north(cls, site: str) -> DemoCompound:
        """The second, smaller compound of the installation whose site id is ``site``."""
        return cls(f"{site}-north", f"{site}-north", "北苑", NORTH_PREFIX)


def north_traffic(site: str, seed: int, gate_keys: GateKeys | None = None) -> TrafficGenerator:
    """The simulated gates of the second compound of the installation whose site id is ``site``."""
    north = DemoCompound.north(site)
    return TrafficGenerator(north.site, NORTH_GATES, 0, seed, gate_keys=gate_keys, id_prefix=north.id_prefix)


def demo_community(site: str, roster: Sequence[SimulatedGate], now: datetime,
                   compound: DemoCompound | None = None) -> CommunityImport:
    """The whole demo community for the simulated gates in `roster`, as of `now`: the first compound of the
    installation whose site id is `site`, or `compound` (whose roster's ids start with its prefix)."""
    compound = compound or DemoCompound.main(site)
    strangers = [gate.gate_id for gate in roster if not gate.gate_id.startswith(compound.id_prefix)]
    if strangers:
        raise ValueError(f"{compound.name}'s gates come from a simulator with id_prefix={compound.id_prefix!r}, "
                         f"not {', '.join(strangers)}")
    drafts = _Drafts()
    for number, gate in enumerate(roster, start=1):
        _building(compound, number, gate, now, drafts)
    return CommunityImport(Community(compound.community_id, compound.site, compound.name), drafts.buildings,
                           drafts.units, drafts.gates, drafts.groups, drafts.residents, drafts.credentials,
                           drafts.revoked)


def _building(compound: DemoCompound, number: int, gate: SimulatedGate, now: datetime, data: _Drafts) -> None:
    community_id = compound.community_id
    building_id = f"{compound.id_prefix}b{number:02d}"
    data.buildings.append(Building(building_id, community_id, f"{number}栋"))
    doors = tuple(GateDoor(gate.gate_id, door, name.format(n=number), kind,
                           building_id if kind is DoorKind.BUILDING else None)
                  for door, (kind, name) in enumerate(_DOORS[:gate.doors], start=1))
    data.gates.append(Gate(gate.gate_id, community_id, f"{number}栋门禁", doors))
    walk_in = frozenset(Door(gate.gate_id, door.number) for door in doors if door.kind is not DoorKind.GARAGE)
    garage = frozenset(Door(gate.gate_id, door.number) for door in doors if door.kind is DoorKind.GARAGE)
    residents_group, tenants_group, garage_group = f"{building_id}-residents", f"{building_id}-tenants", None
    data.groups.append(GroupRecord(community_id, f"{number}栋住户", AccessGroup(residents_group, walk_in)))
    data.groups.append(GroupRecord(community_id, f"{number}栋租户", AccessGroup(tenants_group, walk_in,
                                                                                  (TENANT_DAYTIME,))))
    if garage:
        garage_group = f"{building_id}-garage"
        data.groups.append(GroupRecord(community_id, f"{number}栋车位", AccessGroup(garage_group, garage,
                                                                                      (ALWAYS,))))
    for index, person in enumerate(gate.residents):
        household = index // HOUSEHOLD
        unit_id = f"{building_id}-{household + 1:03d}"
        if index % HOUSEHOLD == 0:
            data.units.append(Unit(unit_id, building_id, f"{1 + household % 2}单元",
                                      f"{1 + household // 4}{household % 4 + 1:02d}",
                                      Decimal(f"{60 + (household * 37) % 90}.{(household * 53) % 100:02d}")))
        tenant = household % 6 == 5
        role = ResidentRole.TENANT if tenant else ResidentRole.OWNER if index % HOUSEHOLD == 0 else ResidentRole.FAMILY
        groups = {tenants_group if tenant else residents_group}
        if garage_group is not None and household % 4 != 3:
            groups.add(garage_group)
        phone = f"13{(household * 7) % 10}{(number * 1_000_003 + index * 7_919) % 10**8:08d}"
        data.residents.append(ResidentRecord(
            person.person_id, unit_id, role, _SURNAMES[household % len(_SURNAMES)] + _GIVEN[index % len(_GIVEN)],
            phone if role is not ResidentRole.FAMILY else None, frozenset(groups)))
        lease_end = now + LEASE if tenant else None
        data.credentials.append(CredentialEnrolment(person.person_id, CredentialKind.CARD, person.card,
                                                       valid_to=lease_end, credential_id=f"card-{person.person_id}"))
        if person.face_enrolled:
            # the face template's reference, as the face terminal reports it — not the person id, which is shown
            data.credentials.append(CredentialEnrolment(person.person_id, CredentialKind.FACE, person.face_ref,
                                                           valid_to=lease_end,
                                                           credential_id=f"face-{person.person_id}"))
    holders = [person.person_id for person in gate.residents]
    if not holders:
        return
    for index, card in enumerate(gate.expired_cards):
        ended = now - timedelta(days=1 + index % 20)
        data.credentials.append(CredentialEnrolment(
            holders[index % len(holders)], CredentialKind.CARD, card, valid_from=ended - timedelta(days=365),
            valid_to=ended, credential_id=f"old-{gate.gate_id}-{index}"))
    for index, card in enumerate(gate.blacklisted_cards):
        data.revoked.append(CredentialEnrolment(holders[-1 - index % len(holders)], CredentialKind.CARD, card,
                                                   credential_id=f"lost-{gate.gate_id}-{index}"))


async def seed_demo(service: AccessService, site: str, roster: Sequence[SimulatedGate], now: datetime,
                    compound: DemoCompound | None = None) -> bool:
    """Create the first demo compound of the installation whose site id is `site` — or `compound`
    (:meth:`DemoCompound.north`) — unless its site or id has a community already; True when it was created."""
    compound = compound or DemoCompound.main(site)
    if any(community.site == compound.site or community.community_id == compound.community_id
           for community in await service.communities()):
        return False
    await service.import_community(demo_community(site, roster, now, compound))
    return True
