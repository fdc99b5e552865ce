"""Names for people on the pages: residents and visitors on the rows of the feed and the log (remembered, bounded),
and the accounts that acted on an alarm or a remote open (looked up once per page).
"""

from __future__ import annotations

from aiohttp import web

from community.access.alarms import SYSTEM
from community.access.service import AccessService, NotFound
from webkit.pages import SITE

NAMES_KEPT = 4096


class People:
    """Names for the rows of the feed and the log: a row is drawn for every event, the names rarely change, so they
    are remembered (at most `kept` of each)."""

    def __init__(self, service: AccessService, kept: int = NAMES_KEPT) -> None:
        self._service = service
        self._kept = kept
        self._residents: dict[str, str] = {}
        self._passes: dict[str, str] = {}

    async def resident(self, resident_id: str) -> str:
        name = self._residents.get(resident_id)
        if name is None:
            try:
                record, _ = await self._service.resident(resident_id)
                name = record.name
            except NotFound:
                name = resident_id
            self._remember(self._residents, resident_id, name)
        return name

    async def visitor(self, pass_id: str) -> str:
        label = self._passes.get(pass_id)
        if label is None:
            try:
                record, _ = await self._service.visitor_pass(pass_id)
                inviter = await self.resident(record.resident_id)
                visitor = record.visitor_pass.visitor_name
                label = f"访客 {visitor}（{inviter}邀请）" if visitor else f"访客（{inviter}邀请）"
            except NotFound:
                label = "访客"
            self._remember(self._passes, pass_id, label)
        return label

    async def label(self, resident_id: str | None, pass_id: str | None) -> str | None:
        if resident_id is not None:
            return await self.resident(resident_id)
        if pass_id is not None:
            return await self.visitor(pass_id)
        return None

    def _remember(self, names: dict[str, str], key: str, value: str) -> None:
        if len(names) >= self._kept:
            names.clear()
        names[key] = value


class Actors:
    """Display names of the accounts that acted (acknowledged, resolved, opened), looked up once per page."""

    def __init__(self, request: web.Request) -> None:
        self._accounts = request.config_dict[SITE].accounts
        self._names: dict[str, str] = {SYSTEM: "系统"}

    async def name(self, account_id: str | None) -> str | None:
        if account_id is None:
            return None
        if account_id not in self._names:
            self._names[account_id] = await self._accounts.display_name(account_id) or account_id
        return self._names[account_id]
