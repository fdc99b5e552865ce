"""Credentials: enrolment (a keyed hash, never the value), a resident's credentials by their hints, revocation
(a resident reports their own card lost) — of residents in the caller's scope (another community's: 404).
"""

from __future__ import annotations

from aiohttp import web

from community.access.directory import CredentialRecord
from community.access.service import CredentialEnrolment, not_found
from community.access.web.handling import (
    _body,
    _is_manager,
    _json,
    _me,
    _outside,
    _path_id,
    _principal,
    _scoped_resident,
    _service,
    _visible_resident,
)
from community.access.web.schemas import AccessCredentialIn, AccessCredentialOut, AccessCredentialsOut
from webkit.json_errors import json_error


def _credential_out(record: CredentialRecord) -> AccessCredentialOut:
    return AccessCredentialOut(credential_id=record.credential_id, resident_id=record.resident_id, kind=record.kind,
                               hint=record.hint, valid_from=record.valid_from, valid_to=record.valid_to,
                               revoked_at=record.revoked_at, revoked_by=record.revoked_by)


async def enroll(request: web.Request) -> web.Response:
    data: AccessCredentialIn = await _body(request, AccessCredentialIn)
    resident, _ = await _scoped_resident(request)
    record = await _service(request).enroll(CredentialEnrolment(
        resident.resident_id, data.kind, data.value, data.valid_from, data.valid_to))
    return _json(_credential_out(record), 201)


async def list_credentials(request: web.Request) -> web.Response:
    resident = await _visible_resident(request)
    if not _is_manager(request) and resident.resident_id != _principal(request).subject:
        raise json_error(web.HTTPForbidden, "a resident sees their own credentials only")
    found = await _service(request).credentials_of(resident.resident_id)
    return _json(AccessCredentialsOut(credentials=[_credential_out(c) for c in found]))


async def revoke_credential(request: web.Request) -> web.Response:
    """Managers revoke any credential; a resident reports their own card lost."""
    service = _service(request)
    credential_id = _path_id(request, "credential_id")
    if not _is_manager(request):
        await _me(request)  # an active resident
        mine = {c.credential_id for c in await service.credentials_of(_principal(request).subject)}
        if credential_id not in mine:  # another's is answered as none, in their household or another community
            raise not_found("credential", credential_id)
    else:
        _, community_id = await service.credential(credential_id)
        if _outside(request, community_id):
            raise not_found("credential", credential_id)
    record = await service.revoke_credential(credential_id, _principal(request).subject)
    return _json(_credential_out(record))
