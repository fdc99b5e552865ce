"""Visitor passes: a resident invites a visitor to doors they may open themself, and the visitor gets a signed pass
(its QR text) the gates verify offline; passes are listed and revoked, a revoked pass blacklisted on the gates of
its doors until it would have expired. Signing and its rules are the domain's (`community.access.visitor_pass`).
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.directory import ResidentRecord, door_label
from community.access.invitation import InvitationRefusalKind, Inviter, invitation_refusal, pass_outlives_inviter
from community.access.permissions import Credential, Door
from community.access.service.directory import existing_resident
from community.access.service.errors import AccessError, Conflict, NotAllowed, Refused, not_found
from community.access.service.settings import AccessKeys, AccessSettings
from community.access.service.unit_of_work import UnitOfWork, Work
from community.access.storage import DirectoryRepository, VisitorRepository
from community.access.visitor_pass import VisitorPass, issue
from community.access.visitors import PassStatus, VisitorPassRecord, pass_credential_hash

log = logging.getLogger(__name__)


_REFUSED_AS: dict[InvitationRefusalKind, type[AccessError]] = {
    InvitationRefusalKind.INVITER_NOT_ACTIVE: NotAllowed,
    InvitationRefusalKind.NOT_YOUR_DOOR: NotAllowed,
    InvitationRefusalKind.YOUR_ACCESS_NOT_VALID: NotAllowed,
    InvitationRefusalKind.TOO_MANY_ACTIVE_PASSES: Conflict,
    InvitationRefusalKind.OUTSIDE_YOUR_ACCESS: Refused,
    InvitationRefusalKind.PAST_YOUR_ACCESS: Refused,
}
"""Who may not (403), not now (409), not so (422)."""


@dataclass(frozen=True)
class IssuedPass:
    record: VisitorPassRecord
    text: str  # what the QR code holds


class VisitorPasses:
    def __init__(self, uow: UnitOfWork, keys: AccessKeys, settings: AccessSettings) -> None:
        self._uow = uow
        self._keys = keys
        self._settings = settings

    async def invite(
        self,
        resident_id: str,
        doors: frozenset[Door],
        *,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        max_uses: int | None = None,
        visitor_name: str | None = None,
        visitor_phone: str | None = None,
    ) -> IssuedPass:
        """A signed pass for a visitor, within what the inviting resident could do themself (the domain's rule,
        `invitation.invitation_refusal`): their doors, while their own access is valid, within their own hours, and
        while they hold fewer active passes than the setting allows."""
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await existing_resident(directory, resident_id)
            start = (valid_from or work.now).replace(microsecond=0)
            end = (valid_to or start + self._settings.pass_default_validity).replace(microsecond=0)
            inviter = await self._inviter(work.connection, resident, community_id, work.now)
            refusal = invitation_refusal(inviter, doors, start, end, work.now,
                                         max_active_passes=self._settings.max_active_passes)
            if refusal is not None:
                names = {gate.gate_id: gate for gate in await directory.gates(community_id)}
                raise _REFUSED_AS[refusal.kind](
                    refusal.message_en(), message_zh=refusal.message_zh(lambda door: door_label(names.get(
                        door.gate_id), door)), reason=refusal.kind.value)
            pass_id = f"vp-{secrets.token_hex(8)}"
            try:
                visit = VisitorPass(pass_id, resident_id, doors, start, end,
                                    max_uses or self._settings.pass_default_uses, visitor_name)
                text = issue(visit, self._keys.pass_key, max_validity=self._settings.pass_max_validity)
            except ValueError as invalid:
                raise Refused(str(invalid)) from None
            if end <= work.now:
                raise Refused("the pass would be over before it is handed out")
            record = VisitorPassRecord(visit, pass_credential_hash(pass_id, self._keys.site_key), work.now,
                                       visitor_phone)
            await VisitorRepository(work.connection).add(record)
        log.info("visitor pass issued", extra={"pass": pass_id, "resident": resident_id, "doors": len(doors)})
        return IssuedPass(record, text)

    async def _inviter(self, connection: AsyncConnection, resident: ResidentRecord, community_id: str,
                       now: datetime) -> Inviter:
        directory = DirectoryRepository(connection)
        groups = [record.group for record in await directory.groups(community_id)
                  if record.group.group_id in resident.group_ids]
        credentials = [record.for_permissions() for record in await directory.credentials_of(resident.resident_id)]
        passes = await VisitorRepository(connection).live_of(resident.resident_id, now)
        return Inviter(resident.resident_id, resident.status, groups, credentials, passes)

    async def visitor_pass(self, pass_id: str) -> tuple[VisitorPassRecord, str]:
        """The pass record and its community."""
        async with self._uow.connect() as connection:
            record = await VisitorRepository(connection).get(pass_id)
            if record is None:
                raise not_found("visitor pass", pass_id)
            _, community_id = await existing_resident(DirectoryRepository(connection), record.resident_id)
        return record, community_id

    def pass_text(self, record: VisitorPassRecord) -> str:
        """The QR text of a pass (signing is deterministic: the same pass gives the same text)."""
        return issue(record.visitor_pass, self._keys.pass_key, max_validity=self._settings.pass_max_validity)

    async def passes(self, *, community_id: str | None = None, resident_ids: Iterable[str] | None = None,
                     limit: int = 200) -> list[VisitorPassRecord]:
        async with self._uow.connect() as connection:
            return await VisitorRepository(connection).listed(community_id=community_id, resident_ids=resident_ids,
                                                              limit=limit)

    async def revoke_pass(self, pass_id: str, by: str) -> VisitorPassRecord:
        """Revoke a pass; gates whose doors it names blacklist it until it would have expired."""
        async with self._uow.work() as work:
            visitors = VisitorRepository(work.connection)
            record = await visitors.get(pass_id)
            if record is None:
                raise not_found("visitor pass", pass_id)
            status = record.status(work.now)
            if status in (PassStatus.REVOKED, PassStatus.EXPIRED):
                raise Conflict(f"visitor pass {pass_id!r} is {status.value} already")
            await visitors.revoke(pass_id, work.now, by)
            _, community_id = await existing_resident(DirectoryRepository(work.connection), record.resident_id)
            work.resync.add(community_id)
        return replace(record, revoked_at=work.now, revoked_by=by)


LAPSED_BY = "platform:inviter-access"
"""Who revoked a pass whose inviter could no longer enter for the rest of it (as `revoked_by`)."""


async def revoke_lapsed_passes(work: Work, community_id: str) -> None:
    """Revoke the community's live passes whose inviter could no longer enter through their doors for the rest of
    them (`invitation.pass_outlives_inviter`: groups, windows or credentials changed since), so that the resync
    that follows blacklists them on the gates of their doors."""
    visitors = VisitorRepository(work.connection)
    live = await visitors.live(community_id, work.now)
    if not live:
        return
    directory = DirectoryRepository(work.connection)
    residents = {record.resident_id: record for record in await directory.residents(community_id)}
    groups = {record.group.group_id: record.group for record in await directory.groups(community_id)}
    credentials: dict[str, list[Credential]] = defaultdict(list)
    for credential in await directory.credentials(community_id):
        credentials[credential.resident_id].append(credential.for_permissions())
    for record in live:
        resident = residents[record.resident_id]
        inviter = Inviter(resident.resident_id, resident.status,
                          [groups[group_id] for group_id in sorted(resident.group_ids) if group_id in groups],
                          credentials[resident.resident_id])
        lapsed = pass_outlives_inviter(inviter, record.visitor_pass, work.now)
        if lapsed is not None:
            await visitors.revoke(record.pass_id, work.now, LAPSED_BY)
            log.info("visitor pass revoked: its inviter's own access no longer covers it",
                     extra={"pass": record.pass_id, "resident": resident.resident_id, "reason": lapsed.kind.value})
