"""The staff's invitations page (/accounts/invitations): the invitations the signed-in administrator, property
manager or market operator may see, a form to invite a colleague — the same rules as ``POST
/api/accounts/invitations`` (:mod:`accounts.stewardship`), the reason next to the form — and the new link, shown
this once; a pending invitation is revoked from the list."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from aiohttp import web
from multidict import MultiDictProxy

from accounts.onboarding import INVITATION_PATH, OnboardingService
from accounts.one_time_codes import INVITATION_DEFAULT_DAYS, INVITATION_MAX_DAYS, CodeRecord
from accounts.page_words import ROLE_TEXT, site_origin
from accounts.stewardship import STEWARDS, InvitationTerms
from accounts.tenancy import NotPermitted, NotVisible, TenancyRefused, TenancyService
from webkit.auth import CLOCK, PRINCIPAL
from webkit.identity import NOTHING, Principal, Role, Scope
from webkit.pages import NavLink, PageProblem, add_navigation, form_of, page, render, see_other

INVITATIONS_PATH = "/accounts/invitations"
INVITATION_PAGES = web.AppKey("invitation_pages", OnboardingService)
INVITATION_TENANCY = web.AppKey("invitation_tenancy", TenancyService)
STAFF_INVITED: Final = (Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR, Role.SUPERVISOR)


def mount_invitation_pages(app: web.Application, onboarding: OnboardingService, tenancy: TenancyService) -> None:
    """The invitations page on ``app`` (after :func:`accounts.pages.mount_pages`), linked in the navigation last."""
    app[INVITATION_PAGES] = onboarding
    app[INVITATION_TENANCY] = tenancy
    app.router.add_get(INVITATIONS_PATH, invitations_page)
    app.router.add_post(INVITATIONS_PATH, invite)
    app.router.add_post(INVITATIONS_PATH + "/{invitation_id}/revoke", revoke)
    add_navigation(app, NavLink("邀请同事", INVITATIONS_PATH, tuple(sorted(STEWARDS)), "邀请工作人员开通账号"))


@page(*sorted(STEWARDS))
async def invitations_page(request: web.Request) -> web.Response:
    revoked = request.query.get("revoked") == "1"
    return await _page(request, {}, {"days": str(INVITATION_DEFAULT_DAYS)}, None, revoked=revoked)


@page(*sorted(STEWARDS))
async def invite(request: web.Request) -> web.Response:
    principal, now = request[PRINCIPAL], request.config_dict[CLOCK]()
    submitted = await form_of(request)
    values = {name: submitted.get(name, "").strip() for name in ("role", "display_name", "organisation", "days")}
    problems: dict[str, str] = {}
    role = next((r for r in Role if r.value == values["role"]), None)
    if role is None or role not in _roles_offered(principal):
        problems["role"] = "请选择角色。"
    days = int(values["days"]) if values["days"].isascii() and values["days"].isdigit() and len(values["days"]) < 4 \
        else 0
    if not 1 <= days <= INVITATION_MAX_DAYS:
        problems["days"] = f"有效期为 1 到 {INVITATION_MAX_DAYS} 天。"
    if not values["display_name"]:
        problems["display_name"] = "请填写被邀请人的姓名。"
    if problems or role is None:
        return await _page(request, problems, values, None, status=422)
    terms = InvitationTerms(role, values["display_name"], values["organisation"] or None, _scope_of(submitted, role),
                            days)
    try:
        issued = await request.config_dict[INVITATION_PAGES].invite(principal, terms, now)
    except (TenancyRefused, NotPermitted) as refused:
        return await _page(request, {"": f"邀请未发出：{refused}"}, values, None, status=422)
    return await _page(request, {}, {"days": str(INVITATION_DEFAULT_DAYS)},
                       site_origin(request) + INVITATION_PATH + issued.code)


@page(*sorted(STEWARDS))
async def revoke(request: web.Request) -> web.StreamResponse:
    try:
        await request.config_dict[INVITATION_PAGES].revoke_invitation(
            request[PRINCIPAL], request.match_info["invitation_id"], request.config_dict[CLOCK]())
    except NotVisible:
        raise PageProblem(404, "没有这份邀请，链接可能有误。", title="邀请不存在") from None
    except TenancyRefused:
        raise PageProblem(409, "这份邀请已被接受，无法撤销；如需停用，请停用对应的账号。") from None
    return see_other(INVITATIONS_PATH + "?revoked=1")


async def _page(request: web.Request, problems: dict[str, str], values: dict[str, str], new_link: str | None, *,
                revoked: bool = False, status: int = 200) -> web.Response:
    principal: Principal = request[PRINCIPAL]
    now: datetime = request.config_dict[CLOCK]()
    onboarding = request.config_dict[INVITATION_PAGES]
    tenancy = request.config_dict[INVITATION_TENANCY]
    organisations = [organisation for organisation, _ in await tenancy.organisations()] if principal.is_admin else []
    invitations: list[CodeRecord] = await onboarding.invitations(principal)
    names = {organisation.organisation_id: organisation.name for organisation in organisations}
    return await render(request, "accounts/invitations.html", {
        "invitations": [(record, record.state(now)) for record in invitations], "organisation_names": names,
        "organisations": organisations, "roles": _roles_offered(principal), "role_text": ROLE_TEXT,
        "communities": sorted(await _offered_communities(principal, tenancy)),
        "markets": sorted(await _offered_markets(principal, tenancy)), "problems": problems, "values": values,
        "new_link": new_link, "revoked": revoked, "max_days": INVITATION_MAX_DAYS}, status=status)


def _roles_offered(principal: Principal) -> list[Role]:
    if principal.is_admin:
        return [Role.ADMIN, *STAFF_INVITED]
    return [role for role in STAFF_INVITED if role in principal.roles and role in STEWARDS]


async def _offered_communities(principal: Principal, tenancy: TenancyService) -> set[str]:
    if not principal.is_admin:
        return set(principal.scope.communities)
    return {c for _, held in await tenancy.organisations() for c in held.communities}


async def _offered_markets(principal: Principal, tenancy: TenancyService) -> set[str]:
    if not principal.is_admin:
        return set(principal.scope.markets)
    return {m for _, held in await tenancy.organisations() for m in held.markets}


def _scope_of(submitted: MultiDictProxy[str], role: Role) -> Scope:
    if role is Role.ADMIN:
        return NOTHING
    return Scope.of((v for v in submitted.getall("community", []) if v),
                    (v for v in submitted.getall("market", []) if v))

