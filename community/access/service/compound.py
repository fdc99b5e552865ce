"""A bulk import into an existing community, in one transaction of the access service: what the directory holds
(:meth:`CompoundWork.view`), then the changes written all at once (:meth:`CompoundWork.apply`) — or, for a dry run,
nothing.

The transaction is the access service's own (``unit_of_work``): serialised with its other writes, the community's
whitelists recomputed before the commit when anything changed, the gates told only after it. Its connection is
open to the caller (:attr:`CompoundWork.connection`) so that another register's records that belong with the import
(the ownership register's, ``community.onboarding``) are written in the same transaction: one commit for both, or
neither. New cards are hashed with the site key here; their numbers are never stored.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.compound import DirectoryChanges, DirectoryView, NewCard
from community.access.directory import Community, CredentialRecord, credential_hint
from community.access.permissions import CredentialKind, credential_hash
from community.access.service.directory import existing_community
from community.access.service.settings import AccessKeys
from community.access.service.unit_of_work import UnitOfWork, Work
from community.access.storage import DirectoryRepository
from community.access.storage.compound import CompoundRepository
from community.access.storage.tables import buildings, residents, units


class CompoundWork:
    """One bulk import's transaction on a community that exists."""

    def __init__(self, work: Work, community: Community, keys: AccessKeys) -> None:
        self._work = work
        self._keys = keys
        self.community = community

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection, for the records of another register that commit with these."""
        return self._work.connection

    @property
    def now(self) -> datetime:
        return self._work.now

    def card_hash(self, number: str) -> str:
        """A card number's keyed hash, as the register keeps it (to tell a card enrolled already)."""
        return credential_hash(CredentialKind.CARD, number, self._keys.site_key)

    async def view(self, building_ids: Iterable[str] = (), unit_ids: Iterable[str] = (),
                   resident_ids: Iterable[str] = ()) -> DirectoryView:
        """The community's directory, and which of the given ids another community holds."""
        community_id = self.community.community_id
        directory = DirectoryRepository(self.connection)
        own_buildings = {b.building_id: b for b in await directory.buildings(community_id)}
        own_units = {u.unit_id: u for u in await directory.units(community_id)}
        own_residents = {r.resident_id: r for r in await directory.residents(community_id)}
        holders = {c.value_hash: c.resident_id for c in await directory.credentials(community_id)
                   if c.kind is CredentialKind.CARD and c.revoked_at is None}
        groups = frozenset(record.group.group_id for record in await directory.groups(community_id))
        existing = CompoundRepository(self.connection).existing
        return DirectoryView(
            self.community, own_buildings, own_units, own_residents, holders, groups,
            await existing(buildings, set(building_ids) - own_buildings.keys()),
            await existing(units, set(unit_ids) - own_units.keys()),
            await existing(residents, set(resident_ids) - own_residents.keys()))

    async def apply(self, changes: DirectoryChanges) -> None:
        """Write the changes; the community's whitelists follow before the commit."""
        if changes.empty:
            return
        repository = CompoundRepository(self.connection)
        await repository.add_buildings(changes.new_buildings)
        await repository.rename_buildings(changes.renamed_buildings)
        await repository.add_units(changes.new_units)
        await repository.change_units(changes.changed_units)
        await repository.add_residents(changes.new_residents)
        await repository.change_residents(changes.changed_residents)
        await repository.add_credentials([self._card(card) for card in changes.new_cards])
        self._work.resync.add(self.community.community_id)

    def _card(self, card: NewCard) -> CredentialRecord:
        return CredentialRecord(f"cred-{secrets.token_hex(8)}", card.resident_id, CredentialKind.CARD,
                                self.card_hash(card.number), credential_hint(CredentialKind.CARD, card.number),
                                None, None)


class Compounds:
    def __init__(self, uow: UnitOfWork, keys: AccessKeys) -> None:
        self._uow = uow
        self._keys = keys

    @contextlib.asynccontextmanager
    async def work(self, community_id: str) -> AsyncIterator[CompoundWork]:
        """A bulk import's transaction on the community (NotFound when there is none): committed when the block
        ends, rolled back — everything in it, whoever wrote it — when the block raises."""
        async with self._uow.work() as work:
            community = await existing_community(DirectoryRepository(work.connection), community_id)
            yield CompoundWork(work, community, self._keys)
