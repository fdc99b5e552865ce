"""The accounts' onboarding API: staff invitations (a one-time link, shown once), password reset links, disabling
and enabling accounts, and residents' activation codes — by an administrator, or by a property manager or market
operator for the accounts and communities they look after (:mod:`accounts.stewardship`). An account or invitation
outside the caller's care is answered exactly as one that does not exist (404)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from accounts.domain import MAX_DISPLAY_NAME_CHARS, Account
from accounts.onboarding import INVITATION_PATH, MAX_LETTERS, IssuedCode, OnboardingService, ResidentsRefused
from accounts.one_time_codes import (
    ACTIVATION_DEFAULT_DAYS,
    ACTIVATION_MAX_DAYS,
    INVITATION_DEFAULT_DAYS,
    INVITATION_MAX_DAYS,
    CodeRecord,
    CodeState,
)
from accounts.organisations import ORGANISATION_ID, SCOPE_ID
from accounts.stewardship import InvitationTerms
from accounts.tenancy import NotPermitted, NotVisible, TenancyRefused
from webkit.auth import CLOCK, PRINCIPAL
from webkit.identity import Role, Scope
from webkit.json_errors import json_error
from webkit.openapi import Route

ONBOARDING = web.AppKey("onboarding_service", OnboardingService)
PREFIX = "/api/accounts"
Id = Annotated[str, StringConstraints(pattern=f"^{SCOPE_ID.pattern}$")]
OrganisationId = Annotated[str, StringConstraints(pattern=f"^{ORGANISATION_ID.pattern}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_DISPLAY_NAME_CHARS, strip_whitespace=True)]
STEWARDS = (Role.MARKET_OPERATOR, Role.PROPERTY_MANAGER)
LETTER_ISSUERS = (Role.PROPERTY_MANAGER,)
NO_STORE = {"Cache-Control": "no-store"}


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role = Field(description="property_manager, market_operator or supervisor (staff: a role they hold); "
                                   "admin (an administrator only)")
    display_name: Name = Field(description="The invitee's name, e.g. 王经理 (they may correct it when accepting)")
    organisation_id: OrganisationId | None = Field(
        default=None, description="The organisation the invitee will work for (staff: their own, the default)")
    communities: Annotated[list[Id], Field(max_length=1000)] = []
    markets: Annotated[list[Id], Field(max_length=1000)] = []
    expires_in_days: int = Field(default=INVITATION_DEFAULT_DAYS, description=f"1 to {INVITATION_MAX_DAYS}")


class InvitationOut(BaseModel):
    invitation_id: str
    role: Role
    display_name: str
    organisation_id: str | None
    communities: list[str]
    markets: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    state: CodeState = Field(description="pending, used, expired or revoked")
    account_id: str | None = Field(description="The account made with it, once used")


class CreatedInvitationOut(InvitationOut):
    code: str = Field(description="The one-time code: shown this once (only its digest is kept)")
    link: str = Field(description="Where the invitee accepts it: /invite/<code>, on this site")


class InvitationsOut(BaseModel):
    invitations: list[InvitationOut]


class ResetOut(BaseModel):
    account_id: str
    code: str = Field(description="The one-time code: shown this once")
    link: str = Field(description="Where the account's owner sets a new password: /reset/<code>, on this site")
    expires_at: datetime


class AccountOut(BaseModel):
    account_id: str
    display_name: str
    roles: list[Role]
    enabled: bool


class CommitteeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member: bool = Field(description="true: a member of the community's owners' committee (业主委员会); false: no "
                                     "longer")


class ActivationCodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    community_id: Id
    resident_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_LETTERS)] = Field(
        description="Residents of the community (ids of the access directory) without an account yet")
    expires_in_days: int = Field(default=ACTIVATION_DEFAULT_DAYS, description=f"1 to {ACTIVATION_MAX_DAYS}")


class ActivationCodeOut(BaseModel):
    resident_id: str = Field(description="Also the account id the resident signs in with")
    name: str
    unit_id: str
    code: str = Field(description="Typed at /activate: shown this once (only its digest is kept)")


class ActivationCodesOut(BaseModel):
    community_id: str
    community_name: str
    expires_at: datetime
    replaced: int = Field(description="Earlier unused codes of these residents, which no longer work")
    codes: list[ActivationCodeOut]


Body = TypeVar("Body", bound=BaseModel)


def _body(model: type[Body], data: bytes, what: str) -> Body:
    try:
        return model.model_validate_json(data)
    except ValidationError as error:
        raise json_error(web.HTTPBadRequest, f"invalid {what}", details=error.errors(
            include_url=False, include_context=False, include_input=False)) from None


async def create_invitation(request: web.Request) -> web.Response:
    data = _body(InvitationIn, await request.read(), "invitation")
    terms = InvitationTerms(data.role, data.display_name, data.organisation_id,
                            Scope.of(data.communities, data.markets), data.expires_in_days)
    try:
        issued = await request.app[ONBOARDING].invite(request[PRINCIPAL], terms, request.config_dict[CLOCK]())
    except TenancyRefused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), reason="refused") from None
    except NotPermitted as refusal:
        raise json_error(web.HTTPForbidden, str(refusal)) from None
    out = CreatedInvitationOut(**_invitation_out(issued.record, issued.record.created_at).model_dump(),
                               code=issued.code, link=INVITATION_PATH + issued.code)
    return web.json_response(out.model_dump(mode="json"), status=201, headers=NO_STORE)


async def list_invitations(request: web.Request) -> web.Response:
    now = request.config_dict[CLOCK]()
    records = await request.app[ONBOARDING].invitations(request[PRINCIPAL])
    return web.json_response(InvitationsOut(invitations=[_invitation_out(r, now) for r in records])
                             .model_dump(mode="json"))


async def revoke_invitation(request: web.Request) -> web.Response:
    now = request.config_dict[CLOCK]()
    try:
        record = await request.app[ONBOARDING].revoke_invitation(request[PRINCIPAL],
                                                                 request.match_info["invitation_id"], now)
    except NotVisible:
        raise json_error(web.HTTPNotFound, "no such invitation") from None
    except TenancyRefused as refusal:
        raise json_error(web.HTTPConflict, str(refusal)) from None
    return web.json_response(_invitation_out(record, now).model_dump(mode="json"))


async def issue_reset(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    try:
        issued: IssuedCode = await request.app[ONBOARDING].issue_reset(request[PRINCIPAL], account_id,
                                                                        request.config_dict[CLOCK]())
    except NotVisible:
        raise _no_account(account_id) from None
    except NotPermitted as refusal:
        raise json_error(web.HTTPForbidden, str(refusal)) from None
    out = ResetOut(account_id=account_id, code=issued.code, link=issued.path, expires_at=issued.record.expires_at)
    return web.json_response(out.model_dump(mode="json"), status=201, headers=NO_STORE)


async def disable_account(request: web.Request) -> web.Response:
    return await _set_enabled(request, False)


async def enable_account(request: web.Request) -> web.Response:
    return await _set_enabled(request, True)


async def set_committee(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    data = _body(CommitteeIn, await request.read(), "committee membership")
    try:
        account: Account = await request.app[ONBOARDING].set_committee(request[PRINCIPAL], account_id, data.member)
    except NotVisible:
        raise _no_account(account_id) from None
    except NotPermitted as refusal:
        raise json_error(web.HTTPForbidden, str(refusal)) from None
    except TenancyRefused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), reason="refused") from None
    return _account_response(account)


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    account_id = request.match_info["account_id"]
    try:
        account: Account = await request.app[ONBOARDING].set_enabled(request[PRINCIPAL], account_id, enabled)
    except NotVisible:
        raise _no_account(account_id) from None
    except NotPermitted as refusal:
        raise json_error(web.HTTPForbidden, str(refusal)) from None
    except TenancyRefused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), reason="refused") from None
    return _account_response(account)


def _account_response(account: Account) -> web.Response:
    out = AccountOut(account_id=account.account_id, display_name=account.display_name,
                     roles=sorted(account.roles), enabled=account.enabled)
    return web.json_response(out.model_dump(mode="json"))


async def create_activation_codes(request: web.Request) -> web.Response:
    data = _body(ActivationCodesIn, await request.read(), "activation codes request")
    try:
        batch = await request.app[ONBOARDING].issue_activation_codes(
            request[PRINCIPAL], data.community_id, data.resident_ids, data.expires_in_days,
            request.config_dict[CLOCK]())
    except NotVisible:
        # the same answer for a community that does not exist and one outside the caller's scope
        raise json_error(web.HTTPNotFound, f"no community {data.community_id!r}") from None
    except NotPermitted as refusal:
        raise json_error(web.HTTPForbidden, str(refusal)) from None
    except ResidentsRefused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), reason="refused",
                         residents=[{"resident_id": resident_id, "problem": problem}
                                    for resident_id, problem in refusal.problems.items()]) from None
    except TenancyRefused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), reason="refused") from None
    out = ActivationCodesOut(
        community_id=batch.community_id, community_name=batch.community_name, expires_at=batch.expires_at,
        replaced=batch.replaced, codes=[ActivationCodeOut(resident_id=letter.resident_id, name=letter.name,
                                                          unit_id=letter.unit_id, code=letter.code)
                                        for letter in batch.letters])
    return web.json_response(out.model_dump(mode="json"), status=201, headers=NO_STORE)


def _no_account(account_id: str) -> web.HTTPNotFound:
    # the same answer for an account that does not exist and one the caller does not look after
    return json_error(web.HTTPNotFound, f"no account {account_id[:64]!r}")


def _invitation_out(record: CodeRecord, now: datetime) -> InvitationOut:
    assert record.role is not None  # an invitation names its role
    return InvitationOut(
        invitation_id=record.code_id, role=record.role, display_name=record.display_name or "",
        organisation_id=record.organisation_id, communities=sorted(record.scope.communities),
        markets=sorted(record.scope.markets), created_by=record.created_by, created_at=record.created_at,
        expires_at=record.expires_at, state=record.state(now), account_id=record.account_id)


ACCOUNT = PREFIX + "/{account_id}"
ROUTES = [
    Route("POST", PREFIX + "/invitations", create_invitation, "Invite a member of staff: a one-time link "
          "/invite/<code> (shown once, valid 1 to 30 days) where they choose their account id and password; staff "
          "invite to their own organisation, a role they hold and a scope within theirs", InvitationIn,
          CreatedInvitationOut, 201, STEWARDS, (400, 403, 422)),
    Route("GET", PREFIX + "/invitations", list_invitations, "The invitations the caller may see (an administrator: "
          "all; staff: their organisation's within their scope), pending, used, expired or revoked", None,
          InvitationsOut, 200, STEWARDS),
    Route("POST", PREFIX + "/invitations/{invitation_id}/revoke", revoke_invitation, "Withdraw a pending "
          "invitation", None, InvitationOut, 200, STEWARDS, (404, 409)),
    Route("POST", PREFIX + "/activation-codes", create_activation_codes, "Activation codes for residents of a "
          "community without an account (one each, shown once, single use, valid 60 days by default; a resident's "
          "earlier unused code stops working), all or none: the printable letters carry them", ActivationCodesIn,
          ActivationCodesOut, 201, LETTER_ISSUERS, (400, 403, 404, 422)),
    Route("POST", ACCOUNT + "/password-reset", issue_reset, "A one-time link /reset/<code> (valid 24 hours) where "
          "the account's owner sets a new password, ending every session and token of the account; for an account "
          "the caller looks after", None, ResetOut, 201, STEWARDS, (404,)),
    Route("POST", ACCOUNT + "/disable", disable_account, "Disable an account the caller looks after: it cannot sign "
          "in, and every token of it is refused at once", None, AccountOut, 200, STEWARDS, (404, 422)),
    Route("PUT", ACCOUNT + "/committee", set_committee, "Record a resident as a member of their community's owners' "
          "committee (业主委员会), as the owners' assembly elected them, or no longer: the committee role (a "
          "removal takes effect on their next request, a new member's on their next sign-in); by the community's "
          "property manager", CommitteeIn, AccountOut, 200,
          LETTER_ISSUERS, (400, 404, 422)),
    Route("POST", ACCOUNT + "/enable", enable_account, "Enable an account the caller looks after again", None,
          AccountOut, 200, STEWARDS, (404,)),
]
