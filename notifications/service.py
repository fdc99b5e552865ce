"""What the notification APIs and pages call: a person's notification centre and settings, organisations'
endpoints, the delivery log — each within the caller's scope (another's is answered as if it did not exist)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from accounts.storage import AccountRepository
from notifications.endpoints import url_problem
from notifications.events import ENDPOINT_CHANNELS, Channel, NotificationKind
from notifications.preferences import Preferences
from notifications.storage import (
    CentreItem,
    CentreRepository,
    Delivery,
    DeliveryRepository,
    DeliveryState,
    Endpoint,
    EndpointRepository,
    PreferenceRepository,
)
from webkit.identity import Principal, Role

ENDPOINT_KEEPERS = (Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR)
"""Staff who look after their own organisation's endpoints (an administrator: every organisation's)."""
DELIVERY_READERS = (Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR)
MAX_LABEL_CHARS = 100
MIN_SECRET_CHARS = 16


class NotVisible(Exception):
    """Not there, or not the caller's to see: the same answer for both."""


class Refused(Exception):
    """The request breaks a rule; the message (Chinese) says which, ``field`` names the field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotFailed(Exception):
    """Only a failed delivery is retried by hand."""


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: Endpoint
    secret: str
    """Shown once, when created (generated when none was given)."""


class EndpointTester(Protocol):
    async def send_test(self, endpoint: Endpoint) -> str | None:
        """Send a test notification to ``endpoint``; why it failed, or None."""
        ...


class NotificationService:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime], *, allow_private_endpoints: bool = False,
                 configured: frozenset[Channel] = frozenset({Channel.IN_APP}),
                 own_hosts: frozenset[str] = frozenset(), tester: EndpointTester | None = None) -> None:
        """``own_hosts``: the installation's own host names (an endpoint may not point at them); ``tester``: what
        sends an endpoint's test notification (the dispatcher)."""
        self._tester = tester
        self._engine = engine
        self._clock = clock
        self._allow_private = allow_private_endpoints
        self.own_hosts = own_hosts
        self.configured = configured | {Channel.IN_APP}

    # -- the notification centre ----------------------------------------------------------------------------------

    async def notifications(self, account_id: str, limit: int = 50, offset: int = 0,
                            unread_only: bool = False) -> list[CentreItem]:
        async with self._engine.connect() as connection:
            return await CentreRepository(connection).listed(account_id, min(limit, 200), offset, unread_only)

    async def unread_count(self, account_id: str) -> int:
        async with self._engine.connect() as connection:
            return await CentreRepository(connection).unread(account_id)

    async def mark_read(self, account_id: str, notification_id: int) -> None:
        async with self._engine.begin() as connection:
            if not await CentreRepository(connection).mark_read(account_id, notification_id, self._clock()):
                raise NotVisible(notification_id)

    async def mark_all_read(self, account_id: str, through: int) -> int:
        async with self._engine.begin() as connection:
            return await CentreRepository(connection).mark_all_read(account_id, through, self._clock())

    # -- a person's settings --------------------------------------------------------------------------------------

    async def preferences(self, account_id: str) -> Preferences:
        async with self._engine.connect() as connection:
            return await PreferenceRepository(connection).get(account_id)

    async def save_preferences(self, account_id: str, preferences: Preferences) -> None:
        async with self._engine.begin() as connection:
            await PreferenceRepository(connection).save(account_id, preferences, self._clock())

    # -- organisations' endpoints ---------------------------------------------------------------------------------

    async def endpoints(self, viewer: Principal, organisation_id: str) -> list[Endpoint]:
        async with self._engine.connect() as connection:
            await self._check_keeper(connection, viewer, organisation_id)
            return await EndpointRepository(connection).of([organisation_id])

    async def add_endpoint(self, viewer: Principal, organisation_id: str, channel: Channel, label: str, url: str,
                           secret: str | None, kinds: Iterable[NotificationKind]) -> NewEndpoint:
        if channel not in ENDPOINT_CHANNELS:
            raise Refused("端点类型须为 webhook、wecom 或 dingtalk", "channel")
        label = _endpoint_label(label)
        problem = url_problem(url, self._allow_private, self.own_hosts)
        if problem:
            raise Refused(problem, "url")
        if channel is Channel.WEBHOOK and not secret:
            secret = secrets.token_urlsafe(32)
        secret = secret or ""
        if secret and not MIN_SECRET_CHARS <= len(secret) <= 200 and channel is Channel.WEBHOOK:
            raise Refused(f"密钥须为 {MIN_SECRET_CHARS} 到 200 个字符", "secret")
        if len(secret) > 200:
            raise Refused("密钥最长 200 个字符", "secret")
        async with self._engine.begin() as connection:
            await self._check_keeper(connection, viewer, organisation_id)
            endpoint = await EndpointRepository(connection).add(organisation_id, channel, label, url, secret, kinds,
                                                                self._clock())
        return NewEndpoint(endpoint, secret)

    async def change_endpoint(self, viewer: Principal, organisation_id: str, endpoint_id: int, *,
                              enabled: bool | None = None, label: str | None = None,
                              kinds: Iterable[NotificationKind] | None = None) -> Endpoint:
        """Change what is given of one of the organisation's endpoints (None: left as it is): enabled, its label,
        the kinds it receives (empty: every kind) — all or nothing, in one transaction. Events expanded after the
        commit follow the new kinds; deliveries already made go on (those of a disabled endpoint fail when due)."""
        async with self._engine.begin() as connection:
            # another's endpoint is not found before the change is judged, as an unknown one
            await self._check_keeper(connection, viewer, organisation_id)
            repository = EndpointRepository(connection)
            found = await repository.get(endpoint_id)
            if found is None or found.organisation_id != organisation_id:
                raise NotVisible(endpoint_id)
            await repository.change(endpoint_id, enabled=enabled,
                                    label=None if label is None else _endpoint_label(label),
                                    kinds=None if kinds is None else list(kinds))
            changed = await repository.get(endpoint_id)
        assert changed is not None
        return changed

    async def remove_endpoint(self, viewer: Principal, organisation_id: str, endpoint_id: int) -> None:
        async with self._engine.begin() as connection:
            await self._check_keeper(connection, viewer, organisation_id)
            repository = EndpointRepository(connection)
            found = await repository.get(endpoint_id)
            if found is None or found.organisation_id != organisation_id:
                raise NotVisible(endpoint_id)
            await repository.delete(endpoint_id)

    async def keepable_organisations(self, viewer: Principal) -> list[tuple[str, str]]:
        """The organisations whose endpoints ``viewer`` looks after, (id, name): every one for an administrator,
        staff's own."""
        async with self._engine.connect() as connection:
            accounts = AccountRepository(connection)
            if viewer.is_admin:
                return [(o.organisation_id, o.name) for o in await accounts.organisations()]
            if not viewer.has_any(ENDPOINT_KEEPERS):
                return []
            own = await accounts.organisation_of(viewer.subject)
            found = await accounts.organisation(own) if own else None
        return [(found.organisation_id, found.name)] if found else []

    async def organisation_name(self, viewer: Principal, organisation_id: str) -> str:
        async with self._engine.connect() as connection:
            await self._check_keeper(connection, viewer, organisation_id)
            found = await AccountRepository(connection).organisation(organisation_id)
        assert found is not None  # the check found it
        return found.name

    async def test_endpoint(self, viewer: Principal, organisation_id: str, endpoint_id: int) -> str | None:
        """Send a test notification to one of the organisation's endpoints; why it failed, or None."""
        async with self._engine.connect() as connection:
            await self._check_keeper(connection, viewer, organisation_id)
            found = await EndpointRepository(connection).get(endpoint_id)
        if found is None or found.organisation_id != organisation_id:
            raise NotVisible(endpoint_id)
        if self._tester is None:
            return "本系统未启用端点测试"
        return await self._tester.send_test(found)

    async def _check_keeper(self, connection: AsyncConnection, viewer: Principal, organisation_id: str) -> None:
        accounts = AccountRepository(connection)
        if viewer.is_admin:
            if await accounts.organisation(organisation_id) is None:
                raise NotVisible(organisation_id)
            return
        if not viewer.has_any(ENDPOINT_KEEPERS) or await accounts.organisation_of(viewer.subject) != organisation_id:
            raise NotVisible(organisation_id)

    # -- the delivery log -----------------------------------------------------------------------------------------

    async def deliveries(self, viewer: Principal, state: DeliveryState | None = None, limit: int = 100,
                         offset: int = 0) -> list[Delivery]:
        communities, markets = _delivery_scope(viewer)
        async with self._engine.connect() as connection:
            return await DeliveryRepository(connection).listed(communities, markets, state, min(limit, 500), offset)

    async def retry(self, viewer: Principal, delivery_id: int) -> Delivery:
        """A failed delivery tried again now, its time bound counted afresh."""
        async with self._engine.begin() as connection:
            repository = DeliveryRepository(connection)
            found = await repository.get(delivery_id)
            if found is None or not _sees(viewer, found):
                raise NotVisible(delivery_id)
            if not await repository.retry(delivery_id, self._clock()):
                raise NotFailed(delivery_id)
            retried = await repository.get(delivery_id)
        assert retried is not None
        return retried


def label_problem(label: str) -> str | None:
    """Why ``label`` (trimmed) may not name an endpoint, or None."""
    return None if 0 < len(label.strip()) <= MAX_LABEL_CHARS else f"名称须为 1 到 {MAX_LABEL_CHARS} 个字符"


def _endpoint_label(label: str) -> str:
    problem = label_problem(label)
    if problem:
        raise Refused(problem, "label")
    return label.strip()


def _delivery_scope(viewer: Principal) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The communities and markets whose deliveries ``viewer`` reads (None, None: every one)."""
    if viewer.is_admin:
        return None, None
    communities = viewer.scope.communities if Role.PROPERTY_MANAGER in viewer.roles else frozenset()
    markets = viewer.scope.markets if Role.MARKET_OPERATOR in viewer.roles else frozenset()
    return communities, markets


def _sees(viewer: Principal, delivery: Delivery) -> bool:
    communities, markets = _delivery_scope(viewer)
    if communities is None or markets is None:
        return True
    return (delivery.community_id in communities) or (delivery.market_id in markets)
