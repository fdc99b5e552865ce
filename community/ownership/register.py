"""The ownership register's values: plain Python, no I/O, no clock.

A unit's ownership names its owners (an owner id is the register's person id — the same id a person signs in with
and that appears on voter rolls — and a name for display), the co-owner the co-owners designated to represent the
unit, if any, and whether the developer still holds the unit (unsold, or sold but not yet delivered: SPC
interpretation 法释〔2009〕7号 art. 9 counts those together as one person). A unit the developer holds lists the
developer as its only owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

MAX_OWNERS_PER_UNIT = 20


@dataclass(frozen=True)
class Owner:
    owner_id: str
    name: str


@dataclass(frozen=True)
class UnitOwnership:
    """Who owns one unit. Raises ValueError when the record contradicts itself."""

    unit_id: str
    owners: tuple[Owner, ...]
    representative_id: str | None = None
    held_by_developer: bool = False

    def __post_init__(self) -> None:
        if not self.unit_id:
            raise ValueError("an ownership record names its unit")
        if not self.owners:
            raise ValueError(f"unit {self.unit_id!r}: an ownership record names at least one owner")
        if len(self.owners) > MAX_OWNERS_PER_UNIT:
            raise ValueError(f"unit {self.unit_id!r}: at most {MAX_OWNERS_PER_UNIT} owners")
        ids = [owner.owner_id for owner in self.owners]
        if not all(ids) or not all(owner.name.strip() for owner in self.owners):
            raise ValueError(f"unit {self.unit_id!r}: every owner has an id and a name")
        if len(set(ids)) != len(ids):
            raise ValueError(f"unit {self.unit_id!r}: an owner is listed twice")
        if self.representative_id is not None and self.representative_id not in ids:
            raise ValueError(f"unit {self.unit_id!r}: the representative must be one of the unit's owners")
        if self.held_by_developer and len(self.owners) != 1:
            raise ValueError(f"unit {self.unit_id!r}: a unit the developer holds lists the developer as its only owner")

    @property
    def owner_ids(self) -> frozenset[str]:
        return frozenset(owner.owner_id for owner in self.owners)

    @property
    def is_co_owned(self) -> bool:
        return len(self.owners) > 1


@dataclass(frozen=True)
class OwnershipEntry:
    """A unit's ownership as recorded: by whom and when. The register keeps every entry; the last one counts."""

    ownership: UnitOwnership
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class RegisteredUnit:
    """A unit of the access register as the roll needs it: a label people recognise and the exclusive area (m²)."""

    unit_id: str
    label: str
    area: Decimal


@dataclass(frozen=True)
class RegisterSnapshot:
    """A community's units and their ownership as the register stood at `as_of`.

    `ownership` maps unit id to its ownership; a unit missing from it had no owner recorded at that moment.
    """

    community_id: str
    as_of: datetime
    units: tuple[RegisteredUnit, ...]
    ownership: Mapping[str, UnitOwnership]

    def unregistered(self) -> tuple[RegisteredUnit, ...]:
        """The units without a recorded owner."""
        return tuple(unit for unit in self.units if unit.unit_id not in self.ownership)


def developer_conflict(current: Iterable[UnitOwnership], changes: Iterable[UnitOwnership]) -> str | None:
    """Why applying `changes` to a community's `current` ownership would leave it with two developers, or None.

    The developer's held units count together as one person only if they name the same owner; the voter roll refuses
    anything else, so the register refuses it first, when someone can still correct it.
    """
    merged = {ownership.unit_id: ownership for ownership in current}
    merged.update((ownership.unit_id, ownership) for ownership in changes)
    developers = sorted({ownership.owners[0].owner_id for ownership in merged.values() if ownership.held_by_developer})
    if len(developers) > 1:
        return f"the units the developer holds must all list the same developer, not {', '.join(developers)}"
    return None
