"""Who owns something in a community, as its ownership register stands: the owners the notifications tell of its
votes (:class:`notifications.recipients.CommunityOwners`, wired by the composition root). An owner's id is the id
they sign in with; the notifications keep those with an account."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from community.ownership.storage import OwnershipRepository


class RegisterOwners:
    async def owners(self, connection: AsyncConnection, community_id: str) -> list[str]:
        entries = await OwnershipRepository(connection).entries(community_id)
        return sorted({owner_id for entry in entries.values() for owner_id in entry.ownership.owner_ids})
