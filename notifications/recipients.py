"""Who hears of what, by the tenancy rules: the people assigned the community or market an event concerns who hold
the roles its kind is for, and the endpoints of the organisations that hold it. Read from the accounts' storage.

In this slice: gate alarms and offline gates → the property managers of that community; licences, price findings →
the operators of that market; a failed test, a recall, a release → its operators and supervisors. Votes (→ the
owners of the community) are not resolved yet (docs/notifications.md)."""

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


class Recipients(Protocol):
    async def people(self, connection: AsyncConnection, event: NotificationEvent) -> list[str]:
        """The account ids to notify of ``event``."""
        ...

    async def organisations(self, connection: AsyncConnection, event: NotificationEvent) -> list[str]:
        """The organisations whose endpoints receive ``event``."""
        ...


class TenancyRecipients:
    """:class:`Recipients` from the accounts' assignments and the organisations' holdings."""

    async def people(self, connection: AsyncConnection, event: NotificationEvent) -> list[str]:
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
