"""Who hears of what, by the tenancy rules: the people assigned the community or market an event concerns who hold
the roles its kind is for, and the endpoints of the organisations that hold it. Read from the accounts' storage.

Gate alarms and offline gates → the property managers of that community; licences, price findings → the operators
of that market; a failed test, a recall, a release → its operators and supervisors (the supervising office's staff
are assigned the market). Votes → the owners of that community: the owners on its ownership register who have an
account, which the community context answers (:class:`CommunityOwners`, wired by the composition root: this package
sits below the community's)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from accounts.storage import COMMUNITY, MARKET, AccountRepository
from notifications.events import NotificationEvent, NotificationKind
from webkit.identity import Role

AUDIENCE: dict[NotificationKind, tuple[Role, ...]] = {
    NotificationKind.GATE_ALARM: (Role.PROPERTY_MANAGER,),
    NotificationKind.GATE_OFFLINE: (Role.PROPERTY_MANAGER,),
    NotificationKind.LICENCE_EXPIRING: (Role.MARKET_OPERATOR,),
    NotificationKind.LICENCE_EXPIRED: (Role.MARKET_OPERATOR,),
    NotificationKind.TEST_FAILED: (Role.MARKET_OPERATOR, Role.SUPERVISOR),
    NotificationKind.BATCH_RECALLED: (Role.MARKET_OPERATOR, Role.SUPERVISOR),
    NotificationKind.BATCH_RELEASED: (Role.MARKET_OPERATOR, Role.SUPERVISOR),
    NotificationKind.PRICE_FINDING: (Role.MARKET_OPERATOR,),
}
"""The roles each kind is for, among those assigned the event's community or market."""
OWNERS_KINDS = frozenset({NotificationKind.VOTE_OPENED, NotificationKind.VOTE_CLOSING,
                          NotificationKind.VOTE_PUBLISHED, NotificationKind.MEETING_NOTICE})
"""Kinds for the owners of the event's community (by its ownership register, not by an assignment)."""


class CommunityOwners(Protocol):
    async def owners(self, connection: AsyncConnection, community_id: str) -> list[str]:
        """The ids of the owners of ``community_id`` as its register stands (an owner's id is the id they sign in
        with)."""
        ...


class Recipients(Protocol):
    async def people(self, connection: AsyncConnection, event: NotificationEvent) -> list[str]:
        """The account ids to notify of ``event``."""
        ...

    async def organisations(self, connection: AsyncConnection, event: NotificationEvent) -> list[str]:
        """The organisations whose endpoints receive ``event``."""
        ...


class TenancyRecipients:
    """:class:`Recipients` from the accounts' assignments and the organisations' holdings; ``owners``: who owns what
    in a community (without: votes notify nobody)."""

    def __init__(self, owners: CommunityOwners | None = None) -> None:
        self._owners = owners

    async def people(self, connection: AsyncConnection, event: NotificationEvent) -> list[str]:
        if event.kind in OWNERS_KINDS:
            if self._owners is None or event.community_id is None:
                return []
            owners = await self._owners.owners(connection, event.community_id)
            return await AccountRepository(connection).reachable(owners)
        roles = AUDIENCE.get(event.kind, ())
        if not roles:
            return []
        kind, target = _target(event)
        return await AccountRepository(connection).holders(kind, target, roles)

    async def organisations(self, connection: AsyncConnection, event: NotificationEvent) -> list[str]:
        kind, target = _target(event)
        return await AccountRepository(connection).organisations_holding(kind, target)


def _target(event: NotificationEvent) -> tuple[str, str]:
    if event.community_id is not None:
        return COMMUNITY, event.community_id
    assert event.market_id is not None  # an event concerns one or the other (NotificationEvent checks)
    return MARKET, event.market_id
