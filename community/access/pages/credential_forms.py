"""A resident's credentials, from their page in the manager's console: enrolling a card, PIN, face template reference
or static QR (checked by the API's own model, :class:`AccessCredentialIn`; the value is hashed at once, never kept,
never shown again — the page shows only the hint the API shows), and revoking one after a confirmation step.
Managers only; another community's credential is answered with the page of an unknown one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from aiohttp import web

from community.access.directory import CredentialRecord, ResidentStatus
from community.access.pages.context import MANAGERS, _from_local_input, _pages, _render
from community.access.pages.resident_register import RESIDENT_LIST, resident_page_with, resident_path, scoped_resident
from community.access.pages.scope import Scope, _in_scope, _scope
from community.access.pages.words import WORDS
from community.access.permissions import CredentialKind
from community.access.service import Conflict, CredentialEnrolment, NotFound, Refused
from community.access.web.schemas import ID_PATTERN, AccessCredentialIn
from webkit.auth import PRINCIPAL
from webkit.form_checks import FieldWords, checked, typed
from webkit.pages import PageProblem, form_of, page

CREDENTIAL_FIELDS: Final = ("kind", "value", "valid_from", "valid_to")
CREDENTIAL_WORDS: Final = FieldWords(
    {"kind": "凭证类型", "value": "卡号、密码或编号", "valid_from": "生效时间", "valid_to": "失效时间"},
    {"value": "最多 128 个字符，不含换行等控制字符", "valid_from": "生效时间应在 2000–2099 年之间",
     "valid_to": "失效时间应在 2000–2099 年之间"})
_DIGIT_KINDS: Final = (CredentialKind.CARD.value, CredentialKind.PIN.value)
_ID = re.compile(ID_PATTERN)


@page(*MANAGERS)
async def enrol_credential(request: web.Request) -> web.StreamResponse:
    """Enrol a credential for an active resident; back to their page, where it is listed by its hint."""
    resident, scope = await scoped_resident(request, request.match_info["resident_id"])
    form = await form_of(request)
    state = typed(form, CREDENTIAL_FIELDS)
    secret = state.values["value"]
    state.values["value"] = ""  # never drawn again, whatever happens
    if state.values["kind"] in _DIGIT_KINDS:  # a phone keyboard's full-width １２３ is 123, as the reader sends it
        secret = unicodedata.normalize("NFKC", secret)
    fixed: dict[str, object] = {}
    for name, label in (("valid_from", "生效时间"), ("valid_to", "失效时间")):
        if state.values[name]:
            try:
                fixed[name] = _from_local_input(state.values[name])
            except ValueError:
                state.refuse(name, f"{label}的格式应为 2026-11-23 08:00，年份在 2000–2099 之间")
    if secret:
        fixed["value"] = secret
    data = checked(AccessCredentialIn, state, CREDENTIAL_WORDS, **fixed)
    if data is None or state.failed:
        return await resident_page_with(request, resident, scope, credential=state, status=422)
    if resident.status is not ResidentStatus.ACTIVE:
        return await resident_page_with(request, resident, scope, status=409,
                                        problem=f"该住户当前为“{WORDS.resident_status[resident.status]}”，不能登记凭证。")
    if data.valid_from and data.valid_to and data.valid_to <= data.valid_from:
        state.refuse("valid_to", "失效时间应晚于生效时间")
        return await resident_page_with(request, resident, scope, credential=state, status=422)
    try:
        await _pages(request).service.enroll(CredentialEnrolment(
            resident.resident_id, data.kind, data.value, data.valid_from, data.valid_to))
    except Conflict:
        state.refuse("value", f"这个{WORDS.credential[data.kind]}已登记给本小区的住户，不能重复登记"
                              "（已迁出住户留下的，请先在其页面停用）")
        return await resident_page_with(request, resident, scope, credential=state, status=409)
    except Refused:
        state.refuse("valid_to", "有效期不被接受：失效时间应晚于生效时间，且在 2000–2099 年之间")
        return await resident_page_with(request, resident, scope, credential=state, status=422)
    raise web.HTTPSeeOther(scope.href(resident_path(resident.resident_id), notice="enrolled") + "#credentials")


async def _scoped_credential(request: web.Request, credential_id: str) -> tuple[CredentialRecord, Scope]:
    found = None
    if _ID.match(credential_id):
        try:
            found = await _pages(request).service.credential(credential_id)
        except NotFound:
            found = None
    if found is None or not _in_scope(request, found[1]):
        raise PageProblem(404, "没有这个凭证，链接可能有误。", title="凭证不存在")
    return found[0], await _scope(request, found[1])


@page(*MANAGERS)
async def revoke_credential(request: web.Request) -> web.StreamResponse:
    """Revoke a credential (a lost card), after a confirmation: every gate refuses it from then on."""
    record, scope = await _scoped_credential(request, request.match_info["credential_id"])
    form = await form_of(request)
    service = _pages(request).service
    resident, _ = await service.resident(record.resident_id)
    if record.revoked_at is not None:
        return await resident_page_with(request, resident, scope, problem="这个凭证已经停用。", status=409)
    what = WORDS.credential[record.kind] + (f"（尾号 {record.hint.lstrip('…')}）" if record.hint else "")
    if form.get("confirm") != "yes":
        return await _render(request, "access/register_confirm.html", {
            "scope": scope, "title": "停用凭证", "subject": f"{resident.name}的{what}",
            "consequences": ["立即在本小区所有门禁上拉黑，之后刷这张卡（或用这个密码、人脸）都会被拒绝并记录；",
                             "停用后不能恢复，需要时请重新登记。"],
            "action": f"/access/console/credentials/{record.credential_id}/revoke",
            "cancel": scope.href(resident_path(resident.resident_id)) + "#credentials", "button": "确认停用",
        }, tabs=scope.tabs(RESIDENT_LIST))
    try:
        await service.revoke_credential(record.credential_id, request[PRINCIPAL].subject)
    except Conflict:
        return await resident_page_with(request, resident, scope, problem="这个凭证已经停用。", status=409)
    raise web.HTTPSeeOther(scope.href(resident_path(resident.resident_id), notice="credential_revoked")
                           + "#credentials")
