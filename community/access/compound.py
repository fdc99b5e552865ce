"""A compound as a bulk import sees the access register: plain values, no I/O.

:class:`DirectoryView` is what the register holds of one community (and which of the ids a file names are taken by
another community); :class:`DirectoryChanges` what an import adds and changes in it, all in one transaction
(:meth:`community.access.service.AccessService.compound_work`). The import decides the changes
(``community.onboarding.plan``); the access service writes them, hashing each new card with the site key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from community.access.directory import Building, Community, ResidentRecord, Unit


@dataclass(frozen=True)
class DirectoryView:
    """The community's buildings, units and residents (of every status) by id, the holders of its active cards (by
    the card's keyed hash), its access groups, and of the ids asked about those another community holds."""

    community: Community
    buildings: Mapping[str, Building]
    units: Mapping[str, Unit]
    residents: Mapping[str, ResidentRecord]
    card_holders: Mapping[str, str]
    group_ids: frozenset[str]
    taken_buildings: frozenset[str] = frozenset()
    taken_units: frozenset[str] = frozenset()
    taken_residents: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NewCard:
    """A card to enrol for a resident: its number is hashed when written and never stored."""

    resident_id: str
    number: str

    def __repr__(self) -> str:  # the number stays out of logs and tracebacks
        return f"NewCard(resident_id={self.resident_id!r}, number=<hidden>)"


@dataclass(frozen=True)
class DirectoryChanges:
    """What an import writes to the access register. A changed resident's record is whole: its name, role, phone
    and groups as they are to be."""

    new_buildings: tuple[Building, ...] = ()
    renamed_buildings: tuple[Building, ...] = ()
    new_units: tuple[Unit, ...] = ()
    changed_units: tuple[Unit, ...] = ()
    new_residents: tuple[ResidentRecord, ...] = ()
    changed_residents: tuple[ResidentRecord, ...] = ()
    new_cards: tuple[NewCard, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.new_buildings or self.renamed_buildings or self.new_units or self.changed_units
                    or self.new_residents or self.changed_residents or self.new_cards)
