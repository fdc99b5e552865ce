"""Ownership use cases: record or replace a unit's ownership, import a community's register in bulk, read it as it is
or as it was. Each runs in one transaction; writers of one community are serialised, so the register never holds
two developers (see `register.developer_conflict`).

Who may call them (the property office, administrators) is the API's business (``web.py``), and so is which
communities the caller may act on: the use cases that take a unit id take, as ``within``, the caller's test of a
community, and treat a unit of any other community as unknown — checked in the transaction that acts on it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from community.ownership.register import (
    OwnershipEntry,
    RegisteredUnit,
    RegisterSnapshot,
    UnitOwnership,
    developer_conflict,
)
from community.ownership.storage import OwnershipRepository

log = logging.getLogger(__name__)

MAX_IMPORT = 20_000
"""Units in one bulk import (a large compound has a few thousand)."""

CommunityTest = Callable[[str], bool]
"""Whether the caller may act on a community (by its id): what a use case that takes a unit id is given as
``within``."""


def anywhere(_community_id: str) -> bool:
    """Every community: for callers with no scope to keep to (the demo, the command line)."""
    return True


class UnknownCommunity(Exception):
    pass


class UnknownUnit(Exception):
    pass


class OwnershipRefused(Exception):
    """The ownership breaks a rule of the register; the message says which."""


@dataclass(frozen=True)
class CommunityRegister:
    """A community's units with their current ownership, and those without a recorded owner."""

    community_id: str
    units: tuple[RegisteredUnit, ...]
    entries: Mapping[str, OwnershipEntry]

    @property
    def unregistered(self) -> tuple[RegisteredUnit, ...]:
        return tuple(unit for unit in self.units if unit.unit_id not in self.entries)


class OwnershipService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, ownership: UnitOwnership, by: str, now: datetime,
                     within: CommunityTest = anywhere) -> OwnershipEntry:
        """Record a unit's ownership, replacing the one recorded before (which stays in the history).
        :class:`UnknownUnit` when the access register has no such unit, or its community is not `within`."""
        async with self._engine.begin() as connection:
            repository = OwnershipRepository(connection)
            community_id = await repository.community_of_unit(ownership.unit_id)
            if community_id is None or not within(community_id):
                raise UnknownUnit(ownership.unit_id)
            await repository.lock_community(community_id)
            current = await repository.entries(community_id)
            conflict = developer_conflict((entry.ownership for entry in current.values()), [ownership])
            if conflict is not None:
                raise OwnershipRefused(conflict)
            entry = OwnershipEntry(ownership, now, by)
            await repository.add([entry])
        log.info("unit ownership recorded", extra={"community_id": community_id, "unit_id": ownership.unit_id,
                                                   "owners": len(ownership.owners), "by": by})
        return entry

    async def import_register(self, community_id: str, records: Sequence[UnitOwnership], by: str,
                              now: datetime, within: CommunityTest = anywhere) -> list[OwnershipEntry]:
        """Record many units' ownership at once (as taken over from the real-estate register or the sales records):
        all of them, or — when one is refused — none. Units not in the import keep what they had.
        :class:`UnknownCommunity` when there is no such community, or it is not `within`."""
        if len(records) > MAX_IMPORT:
            raise OwnershipRefused(f"at most {MAX_IMPORT} units in one import")
        twice = sorted(unit_id for unit_id, count in Counter(r.unit_id for r in records).items() if count > 1)
        if twice:
            raise OwnershipRefused(f"units listed more than once: {', '.join(twice[:20])}")
        async with self._engine.begin() as connection:
            repository = OwnershipRepository(connection)
            if not within(community_id) or not await repository.lock_community(community_id):
                raise UnknownCommunity(community_id)
            known = {unit.unit_id for unit in await repository.units(community_id)}
            foreign = sorted(record.unit_id for record in records if record.unit_id not in known)
            if foreign:
                raise OwnershipRefused(f"not units of community {community_id!r}: {', '.join(foreign[:20])}")
            current = await repository.entries(community_id)
            conflict = developer_conflict((entry.ownership for entry in current.values()), records)
            if conflict is not None:
                raise OwnershipRefused(conflict)
            entries = [OwnershipEntry(record, now, by) for record in records]
            await repository.add(entries)
        log.info("ownership register imported", extra={"community_id": community_id, "units": len(entries),
                                                       "by": by})
        return entries

    async def register(self, community_id: str, within: CommunityTest = anywhere) -> CommunityRegister:
        """The community's units with their current ownership; :class:`UnknownCommunity` as for
        :meth:`import_register`."""
        async with self._engine.connect() as connection:
            repository = OwnershipRepository(connection)
            if not within(community_id) or not await repository.community_exists(community_id):
                raise UnknownCommunity(community_id)
            return CommunityRegister(community_id, tuple(await repository.units(community_id)),
                                     await repository.entries(community_id))

    async def history(self, unit_id: str, within: CommunityTest = anywhere) -> list[OwnershipEntry]:
        """Every ownership recorded for the unit, oldest first; :class:`UnknownUnit` as for :meth:`record`."""
        async with self._engine.connect() as connection:
            repository = OwnershipRepository(connection)
            community_id = await repository.community_of_unit(unit_id)
            if community_id is None or not within(community_id):
                raise UnknownUnit(unit_id)
            return await repository.history(unit_id)

    async def snapshot(self, community_id: str, as_of: datetime) -> RegisterSnapshot:
        """The register as it stood at `as_of`: what a voter roll frozen at that moment is built from."""
        async with self._engine.connect() as connection:
            repository = OwnershipRepository(connection)
            if not await repository.community_exists(community_id):
                raise UnknownCommunity(community_id)
            return await repository.snapshot(community_id, as_of)
