"""The accounts page (/accounts/people): the accounts the signed-in administrator, property manager or market
operator looks after (:func:`accounts.stewardship.may_look_after`) — id, name, roles, organisation, what each acts
on, enabled or not — searched by id or name, with what may be done to each: a password-reset link, shown this once
as ``POST /api/accounts/{account_id}/password-reset`` answers it; disabling and enabling, each confirmed on a page of
its own first; recording a resident as a member of their community's owners' committee (业主委员会), or no longer,
for the community's property manager, confirmed likewise. An account outside the caller's care is the very 404
page of an account that does not exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote

from aiohttp import web

from accounts.onboarding import LookedAfter, OnboardingService
from accounts.organisations import COMMUNITY_ROLES
from accounts.page_words import ROLE_TEXT, site_origin
from accounts.stewardship import STEWARDS
from accounts.tenancy import NotPermitted, NotVisible, TenancyRefused, TenancyService
from webkit.auth import CLOCK, PRINCIPAL
from webkit.identity import Principal, Role
from webkit.pages import NavLink, PageProblem, add_navigation, form_of, page, render, see_other

PEOPLE_PATH: Final = "/accounts/people"
PEOPLE_PAGES = web.AppKey("people_pages", OnboardingService)
PEOPLE_TENANCY = web.AppKey("people_tenancy", TenancyService)
SHOWN_AT_MOST: Final = 200
"""Rows on the page at once (a large compound's residents): the search narrows the rest down."""
MAX_QUERY_CHARS: Final = 64
CONFIRMED: Final = "yes"
_NOTICES: Final = {"disabled": "账号 {} 已停用：不能再登录，已登录的会话和令牌立即失效。",
                   "enabled": "账号 {} 已启用，可以重新登录。",
                   "committee": "已登记 {} 为业主委员会成员：其重新登录后即可发起表决、管理讨论。",
                   "not-committee": "已取消 {} 的业主委员会成员身份，立即生效。"}
_STEWARDS: Final = tuple(sorted(STEWARDS))


def mount_people_pages(app: web.Application, onboarding: OnboardingService, tenancy: TenancyService) -> None:
    """The accounts page and its actions on ``app`` (after :func:`accounts.pages.mount_pages`), linked in the
    navigation."""
    app[PEOPLE_PAGES] = onboarding
    app[PEOPLE_TENANCY] = tenancy
    app.router.add_get(PEOPLE_PATH, people_page)
    app.router.add_post(PEOPLE_PATH + "/{account_id}/reset", issue_reset)
    app.router.add_post(PEOPLE_PATH + "/{account_id}/disable", disable)
    app.router.add_post(PEOPLE_PATH + "/{account_id}/enable", enable)
    app.router.add_post(PEOPLE_PATH + "/{account_id}/committee", committee)
    add_navigation(app, NavLink("账号管理", PEOPLE_PATH, _STEWARDS, "重置密码、停用或启用您负责的账号"))


@dataclass(frozen=True)
class PersonRow:
    """An account as the page shows it."""

    looked_after: LookedAfter
    roles: list[str]
    organisation: str | None
    scope: list[str]
    own: bool

    @property
    def account_id(self) -> str:
        return self.looked_after.account.account_id

    @property
    def display_name(self) -> str:
        return self.looked_after.account.display_name

    @property
    def enabled(self) -> bool:
        return self.looked_after.account.enabled

    @property
    def resident(self) -> bool:
        return bool(self.looked_after.account.roles & COMMUNITY_ROLES)

    @property
    def committee(self) -> bool:
        return Role.COMMITTEE in self.looked_after.account.roles

    @property
    def may_sit_on_committee(self) -> bool:
        """A resident of one community (as :func:`accounts.stewardship.committee_problem` has it)."""
        account, scope = self.looked_after.account, self.looked_after.scope
        return (Role.RESIDENT in account.roles and not account.roles - COMMUNITY_ROLES
                and len(scope.communities) == 1 and not scope.markets)


@page(*_STEWARDS)
async def people_page(request: web.Request) -> web.Response:
    principal: Principal = request[PRINCIPAL]
    query = request.query.get("q", "").strip()[:MAX_QUERY_CHARS]
    try:
        everyone = await request.config_dict[PEOPLE_PAGES].looked_after(principal)
    except NotPermitted:
        raise PageProblem(403, "集成令牌的账号不管理任何账号。") from None
    rows = await _rows(request, principal, [p for p in everyone if _matches(p, query)])
    done, named = request.query.get("done", ""), request.query.get("account", "")
    # only a known account's id is said back (a crafted link puts no words of its own on the page)
    notice = _NOTICES[done].format(named) if done in _NOTICES and any(
        p.account.account_id == named for p in everyone) else None
    return await render(request, "accounts/people.html", {
        "rows": rows[:SHOWN_AT_MOST], "matching": len(rows), "total": len(everyone), "query": query,
        "shown_at_most": SHOWN_AT_MOST, "notice": notice, "is_admin": principal.is_admin,
        "records_committee": _records_committee(principal)})


def _records_committee(principal: Principal) -> bool:
    return principal.is_admin or Role.PROPERTY_MANAGER in principal.roles


def _matches(person: LookedAfter, query: str) -> bool:
    wanted = query.casefold()
    return not wanted or wanted in person.account.account_id.casefold() \
        or wanted in person.account.display_name.casefold()


async def _rows(request: web.Request, principal: Principal, people: list[LookedAfter]) -> list[PersonRow]:
    organisations = {organisation.organisation_id: organisation.name
                     for organisation, _ in await request.config_dict[PEOPLE_TENANCY].organisations()}
    communities = dict(await request.config_dict[PEOPLE_PAGES].residents.communities()) if people else {}
    ordered = sorted(people, key=lambda p: (_rank(p), p.account.account_id))
    return [PersonRow(
        person, [ROLE_TEXT.get(role, role.value) for role in sorted(person.account.roles)],
        organisations.get(person.organisation_id, person.organisation_id) if person.organisation_id else None,
        _scope_text(person, communities), person.account.account_id == principal.subject) for person in ordered]


def _rank(person: LookedAfter) -> int:
    """Administrators first, then staff, then residents and committee members."""
    roles = person.account.roles
    return 0 if Role.ADMIN in roles else 2 if roles & COMMUNITY_ROLES and not roles - COMMUNITY_ROLES else 1


def _scope_text(person: LookedAfter, communities: dict[str, str]) -> list[str]:
    if Role.ADMIN in person.account.roles:
        return ["全部小区和市场"]
    named = [f"{communities[c]}（{c}）" if c in communities else c for c in sorted(person.scope.communities)]
    return [*(f"小区 {c}" for c in named), *(f"市场 {m}" for m in sorted(person.scope.markets))]


def _no_account() -> PageProblem:
    # the same page for an account that does not exist and one the caller does not look after
    return PageProblem(404, "没有这个账号，或它不在您的管理范围内。", title="账号不存在")


async def _person(request: web.Request, account_id: str) -> PersonRow:
    principal: Principal = request[PRINCIPAL]
    try:
        person = await request.config_dict[PEOPLE_PAGES].looked_after_one(principal, account_id)
    except NotVisible:
        raise _no_account() from None
    except NotPermitted:
        raise PageProblem(403, "集成令牌的账号不管理任何账号。") from None
    return (await _rows(request, principal, [person]))[0]


@page(*_STEWARDS)
async def issue_reset(request: web.Request) -> web.Response:
    """A new reset link for the account (an earlier unused one stops working), shown on this page only."""
    principal: Principal = request[PRINCIPAL]
    now: datetime = request.config_dict[CLOCK]()
    account_id = request.match_info["account_id"]
    try:
        issued = await request.config_dict[PEOPLE_PAGES].issue_reset(principal, account_id, now)
    except NotVisible:
        raise _no_account() from None
    except NotPermitted:
        raise PageProblem(403, "集成令牌的账号不管理任何账号。") from None
    return await render(request, "accounts/people_reset.html", {
        "person": await _person(request, account_id), "link": site_origin(request) + issued.path,
        "expires_at": issued.record.expires_at})


@page(*_STEWARDS)
async def disable(request: web.Request) -> web.Response:
    return await _set_enabled(request, False)


@page(*_STEWARDS)
async def enable(request: web.Request) -> web.Response:
    return await _set_enabled(request, True)


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    """Without ``confirm=yes``: the page that asks (for an account the caller looks after); with it, done."""
    principal: Principal = request[PRINCIPAL]
    account_id = request.match_info["account_id"]
    if (await form_of(request)).get("confirm") != CONFIRMED:
        person = await _person(request, account_id)
        return await render(request, "accounts/people_confirm.html", {"person": person, "enable": enabled})
    try:
        await request.config_dict[PEOPLE_PAGES].set_enabled(principal, account_id, enabled)
    except NotVisible:
        raise _no_account() from None
    except NotPermitted:
        raise PageProblem(403, "集成令牌的账号不管理任何账号。") from None
    except TenancyRefused:
        raise PageProblem(422, "不能停用自己的账号。如需停用，请联系其他管理员。") from None
    done = "enabled" if enabled else "disabled"
    return see_other(f"{PEOPLE_PATH}?done={done}&account={quote(account_id, safe='')}#account-{account_id}")


@page(*_STEWARDS)
async def committee(request: web.Request) -> web.Response:
    """``member=yes`` records the resident as a committee member, ``member=no`` no longer; without ``confirm=yes``
    the page that asks first."""
    principal: Principal = request[PRINCIPAL]
    account_id = request.match_info["account_id"]
    form = await form_of(request)
    member = form.get("member") == CONFIRMED
    if form.get("confirm") != CONFIRMED:
        person = await _person(request, account_id)
        return await render(request, "accounts/people_committee.html", {"person": person, "member": member})
    try:
        await request.config_dict[PEOPLE_PAGES].set_committee(principal, account_id, member)
    except NotVisible:
        raise _no_account() from None
    except NotPermitted:
        raise PageProblem(403, "集成令牌的账号不管理任何账号。") from None
    except TenancyRefused:
        raise PageProblem(422, "只有本小区的物业服务人员或系统管理员可以登记业主委员会成员，"
                          "且成员须是一个小区的住户账号。", title="不能登记") from None
    done = "committee" if member else "not-committee"
    return see_other(f"{PEOPLE_PATH}?done={done}&account={quote(account_id, safe='')}#account-{account_id}")
