"""My unit: the household with masked phones, my credentials by their hints only, the doors I may open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from community.access.directory import CredentialRecord
from community.access.pages.context import MINE, RESIDENTS, _now, _pages, _render
from community.access.pages.residents import _me, _my_doors, _resident_tabs
from community.access.permissions import CredentialKind
from community.access.visitors import PassStatus
from webkit.pages import page


@dataclass(frozen=True)
class CredentialView:
    record: CredentialRecord
    hint: str
    state: str
    tone: str


def _credential_view(record: CredentialRecord, now: datetime) -> CredentialView:
    if record.kind is CredentialKind.CARD:
        hint = f"尾号 {record.hint.lstrip('…')}" if record.hint else "已登记"
    elif record.kind is CredentialKind.FACE:
        hint = "已录入"
    else:
        hint = "已设置（不显示）"
    if record.revoked_at is not None:
        return CredentialView(record, hint, "已挂失/停用", "bad")
    if record.valid_to is not None and record.valid_to <= now:
        return CredentialView(record, hint, "已过期", "warn")
    if record.valid_from is not None and record.valid_from > now:
        return CredentialView(record, hint, "尚未生效", "info")
    return CredentialView(record, hint, "有效", "ok")


@page(*RESIDENTS)
async def my_unit(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    unit, _ = await service.unit(me.resident.unit_id)
    building = next((b for b in await service.buildings(me.community.community_id)
                     if b.building_id == unit.building_id), None)
    household = await service.residents(me.community.community_id, unit.unit_id, active_only=True)
    now = _now(request)
    credentials = [_credential_view(record, now) for record in await service.credentials_of(me.resident.resident_id)]
    return await _render(request, "access/my.html", {
        "me": me, "unit": unit, "building": building.name if building else unit.building_id,
        "household": household, "credentials": credentials, "doors": await _my_doors(service, me),
        "active_passes": sum(1 for record in await service.passes(resident_ids=[me.resident.resident_id])
                             if record.status(now) is PassStatus.ACTIVE),
    }, tabs=_resident_tabs(MINE))
