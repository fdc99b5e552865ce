"""The administrator's pages: the organisations (/admin/organisations), the communities (/admin/communities) and the
markets (/admin/markets) of the installation, each listed, with a form that creates one — what ``smartcity org
create`` and ``org hold``, ``POST /api/access/communities`` and ``POST /api/markets`` do, for an administrator in a
browser. They span three contexts (the accounts' tenancy, the access directory, the market), so they live in the
composition root, which alone may import all three.

Each form is checked by the API's own request model (:func:`webkit.form_checks.checked` with ``AccessCommunityIn``,
``MarketIn``; an organisation by the rules of :mod:`accounts.organisations`), the reason next to the field. A community
or market is created by its own service, then held by the organisation chosen (:meth:`TenancyService.hold`): two
transactions of two contexts. Should the second fail, the community (or market) exists and no organisation holds it;
the same form sent again finds it exactly as typed and held by no one, and finishes the work instead of refusing a
duplicate. Anything else of that id (or a community of that site) is refused as taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from accounts.organisations import (
    MAX_ORGANISATION_NAME_CHARS,
    ORGANISATION_ID,
    Organisation,
    OrganisationKind,
    check_new_organisation,
    check_organisation_scope,
)
from accounts.tenancy import TenancyRefused, TenancyService
from community.access.directory import Community
from community.access.service import AccessService
from community.access.service import Conflict as CommunityConflict
from community.access.web.schemas import AccessCommunityIn
from market.service import Conflict as MarketConflict
from market.service import MarketService
from market.service import NotFound as NoMarket
from market.stalls import Market
from market.web.schemas import MarketIn
from webkit.auth import CLOCK
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.identity import Role, Scope
from webkit.pages import NavLink, add_navigation, add_templates, form_of, page, render, see_other

TEMPLATE_DIR = Path(__file__).parent / "templates"
ORGANISATIONS: Final = "/admin/organisations"
COMMUNITIES: Final = "/admin/communities"
MARKETS: Final = "/admin/markets"
MARKETS_PER_READ: Final = 200
MARKETS_LISTED: Final = 5000
"""Markets read for the list (an installation has a handful; the bound keeps a page a page)."""

KIND_TEXT: Final = {
    OrganisationKind.PROPERTY_COMPANY: "物业服务企业",
    OrganisationKind.MARKET_OPERATOR: "市场开办者",
    OrganisationKind.SUPERVISION_OFFICE: "监管部门",
}
KIND_HINT: Final = {
    OrganisationKind.PROPERTY_COMPANY: "管理小区",
    OrganisationKind.MARKET_OPERATOR: "开办市场",
    OrganisationKind.SUPERVISION_OFFICE: "街道办、市场监管所：查看所辖小区和市场，不能修改",
}

ORGANISATION_FIELDS: Final = ("organisation_id", "name", "kind")
COMMUNITY_FIELDS: Final = ("community_id", "name", "site", "organisation_id")
MARKET_FIELDS: Final = ("site", "name", "address", "complaint_hotline", "organisation_id")
_ID_RULE: Final = "1–64 位字母、数字或 _ . : -"
ORGANISATION_WORDS: Final = FieldWords(
    {"organisation_id": "单位编号", "name": "单位名称", "kind": "单位类型"},
    {"organisation_id": f"单位编号为 {_ID_RULE}，例如 lvcheng-wuye"})
COMMUNITY_WORDS: Final = FieldWords(
    {"community_id": "小区编号", "name": "小区名称", "site": "站点编号", "organisation_id": "物业或监管单位"},
    {"community_id": f"小区编号为 {_ID_RULE}，例如 lotus-garden",
     "site": "站点编号为 1–64 位字母、数字、_ 或 -（门禁设备上报所用的站点，例如 lotus）",
     "name": "小区名称为 1–100 个字，不含换行等控制字符"})
MARKET_WORDS: Final = FieldWords(
    {"site": "市场编号", "name": "市场名称", "address": "地址", "complaint_hotline": "投诉电话",
     "organisation_id": "开办或监管单位"},
    {"site": "市场编号为 1–64 位字母、数字、_ 或 -（电子秤上报所用的站点，例如 north-market）",
     "name": "市场名称为 1–100 个字，不含换行等控制字符", "address": "地址为 1–200 个字，不含换行等控制字符",
     "complaint_hotline": "投诉电话为 3–20 位数字或 -，例如 12315"})


class OrganisationIn(BaseModel):
    """An organisation as ``smartcity org create`` takes it (:func:`accounts.organisations.check_new_organisation`
    says the rest: a name of printable characters)."""

    model_config = ConfigDict(extra="forbid")
    organisation_id: Annotated[str, StringConstraints(pattern=f"^{ORGANISATION_ID.pattern}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=MAX_ORGANISATION_NAME_CHARS)]
    kind: OrganisationKind


@dataclass(frozen=True)
class AdminServices:
    tenancy: TenancyService
    access: AccessService
    market: MarketService


ADMIN_SERVICES = web.AppKey("admin_services", AdminServices)


def mount_admin_pages(app: web.Application, tenancy: TenancyService, access: AccessService,
                      market: MarketService) -> None:
    """The administrator's pages on ``app`` (after :func:`accounts.pages.mount_pages`), linked last in the
    navigation (an administrator still lands on the first page of the services)."""
    app[ADMIN_SERVICES] = AdminServices(tenancy, access, market)
    add_templates(app, TEMPLATE_DIR)
    for path, show, create in ((ORGANISATIONS, organisations_page, create_organisation),
                               (COMMUNITIES, communities_page, create_community),
                               (MARKETS, markets_page, create_market)):
        app.router.add_get(path, show)
        app.router.add_post(path, create)
    add_navigation(app, NavLink("系统管理", ORGANISATIONS, (Role.ADMIN,), "登记单位、小区和市场"))


def _services(request: web.Request) -> AdminServices:
    return request.config_dict[ADMIN_SERVICES]


def _now(request: web.Request) -> datetime:
    return request.config_dict[CLOCK]()


# --- organisations ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrganisationRow:
    organisation: Organisation
    communities: list[str]
    markets: list[str]
    members: int

    @property
    def kind_text(self) -> str:
        return KIND_TEXT[self.organisation.kind]


@page(Role.ADMIN)
async def organisations_page(request: web.Request) -> web.Response:
    return await _organisations_page(request, FormState({"kind": OrganisationKind.PROPERTY_COMPANY.value}))


async def _organisations_page(request: web.Request, form: FormState, status: int = 200) -> web.Response:
    services = _services(request)
    communities = {c.community_id: c.name for c in await services.access.communities()}
    markets = {m.site: m.name for m in await _all_markets(services.market)}
    rows = [OrganisationRow(organisation, _named(held.communities, communities), _named(held.markets, markets),
                            len(await services.tenancy.members(organisation.organisation_id)))
            for organisation, held in await services.tenancy.organisations()]
    return await _render(request, "admin/organisations.html", "organisations", form, status, {
        "rows": rows, "kinds": [(kind.value, f"{KIND_TEXT[kind]}（{KIND_HINT[kind]}）") for kind in OrganisationKind],
        "created": _created(request, {row.organisation.organisation_id for row in rows})})


@page(Role.ADMIN)
async def create_organisation(request: web.Request) -> web.Response:
    form = typed(await form_of(request), ORGANISATION_FIELDS, codes=("organisation_id", "kind"))
    data = checked(OrganisationIn, form, ORGANISATION_WORDS)
    if data is None:
        return await _organisations_page(request, form, 422)
    if check_new_organisation(data.organisation_id, data.name):
        form.refuse("name", f"单位名称为 1–{MAX_ORGANISATION_NAME_CHARS} 个字，不含换行等控制字符")
        return await _organisations_page(request, form, 422)
    try:
        await _services(request).tenancy.create_organisation(data.organisation_id, data.name, data.kind,
                                                              _now(request))
    except TenancyRefused:  # the rules were checked above: the id is taken
        form.refuse("organisation_id", f"单位编号 {data.organisation_id} 已被使用，请换一个")
        return await _organisations_page(request, form, 409)
    return see_other(f"{ORGANISATIONS}?created={quote(data.organisation_id, safe='')}")


# --- communities -----------------------------------------------------------------------------------------------

@page(Role.ADMIN)
async def communities_page(request: web.Request) -> web.Response:
    return await _communities_page(request, FormState())


async def _communities_page(request: web.Request, form: FormState, status: int = 200) -> web.Response:
    services = _services(request)
    holdings = await services.tenancy.organisations()
    rows = [(community, [o for o, held in holdings if community.community_id in held.communities])
            for community in sorted(await services.access.communities(), key=lambda c: c.community_id)]
    return await _render(request, "admin/communities.html", "communities", form, status, {
        "rows": rows, "kind_text": KIND_TEXT, "holders": _holder_options(holdings, markets=False),
        "created": _created(request, {community.community_id for community, _ in rows})})


@page(Role.ADMIN)
async def create_community(request: web.Request) -> web.Response:
    services = _services(request)
    form = typed(await form_of(request), COMMUNITY_FIELDS, codes=("community_id", "site", "organisation_id"))
    data = checked(AccessCommunityIn, form, COMMUNITY_WORDS)
    holder = await _holder(services.tenancy, form, markets=False)
    if data is None or holder is None:
        return await _communities_page(request, form, 422)
    community = Community(data.community_id, data.site, data.name)
    scope = Scope.of(communities=[community.community_id])
    status = await _new_community(services, community, form)
    if status is None:
        status = await _hold(services.tenancy, holder, scope, form, "小区")
    if status is not None:
        return await _communities_page(request, form, status)
    return see_other(f"{COMMUNITIES}?created={quote(community.community_id, safe='')}")


async def _new_community(services: AdminServices, community: Community, form: FormState) -> int | None:
    """Create ``community`` — or find it just so and held by no one (a form sent again after holding it failed):
    None; else the answer's status, what is taken said next to its field."""
    existing = await services.access.communities()
    same = next((c for c in existing if c.community_id == community.community_id), None)
    if same is not None:
        if same == community and not await _held(services.tenancy, Scope.of(communities=[community.community_id])):
            return None
        form.refuse("community_id", f"小区编号 {community.community_id} 已被使用，请换一个")
        return 409
    clash = next((c for c in existing if c.site == community.site), None)
    if clash is not None:
        form.refuse("site", f"站点编号 {community.site} 已属于小区“{clash.name}”（{clash.community_id}），请换一个")
        return 409
    try:
        await services.access.create_community(community)
    except CommunityConflict:  # made meanwhile by someone else
        form.refuse("community_id", f"小区编号 {community.community_id} 或站点编号 {community.site} 已被使用，请换一个")
        return 409
    return None


# --- markets ---------------------------------------------------------------------------------------------------

@page(Role.ADMIN)
async def markets_page(request: web.Request) -> web.Response:
    return await _markets_page(request, FormState({"complaint_hotline": "12315"}))


async def _markets_page(request: web.Request, form: FormState, status: int = 200) -> web.Response:
    services = _services(request)
    holdings = await services.tenancy.organisations()
    rows = [(market, [o for o, held in holdings if market.site in held.markets])
            for market in await _all_markets(services.market)]
    return await _render(request, "admin/markets.html", "markets", form, status, {
        "rows": rows, "kind_text": KIND_TEXT, "holders": _holder_options(holdings, markets=True),
        "created": _created(request, {market.site for market, _ in rows})})


@page(Role.ADMIN)
async def create_market(request: web.Request) -> web.Response:
    services = _services(request)
    form = typed(await form_of(request), MARKET_FIELDS, codes=("site", "complaint_hotline", "organisation_id"))
    data = checked(MarketIn, form, MARKET_WORDS)
    holder = await _holder(services.tenancy, form, markets=True)
    market = None
    if data is not None:
        try:
            market = Market(data.site, data.name, data.address, data.complaint_hotline)
        except ValueError:
            form.refuse("complaint_hotline", MARKET_WORDS.patterns["complaint_hotline"])
    if market is None or holder is None:
        return await _markets_page(request, form, 422)
    status = await _new_market(services, market, form, _now(request))
    if status is None:
        status = await _hold(services.tenancy, holder, Scope.of(markets=[market.site]), form, "市场")
    if status is not None:
        return await _markets_page(request, form, status)
    return see_other(f"{MARKETS}?created={quote(market.site, safe='')}")


async def _new_market(services: AdminServices, market: Market, form: FormState, now: datetime) -> int | None:
    """Create ``market`` — or find it just so and held by no one: None; else the answer's status."""
    try:
        same: Market | None = await services.market.market(market.site)
    except NoMarket:
        same = None
    if same is not None:
        if same == market and not await _held(services.tenancy, Scope.of(markets=[market.site])):
            return None
        form.refuse("site", f"市场编号 {market.site} 已被使用，请换一个")
        return 409
    try:
        await services.market.create_market(market, now)
    except MarketConflict:
        form.refuse("site", f"市场编号 {market.site} 已被使用，请换一个")
        return 409
    return None


async def _all_markets(service: MarketService) -> list[Market]:
    found: list[Market] = []
    while len(found) < MARKETS_LISTED:
        chunk = await service.markets(MARKETS_PER_READ, len(found))
        found.extend(chunk)
        if len(chunk) < MARKETS_PER_READ:
            break
    return found


# --- what the forms share ------------------------------------------------------------------------------------

async def _holder(tenancy: TenancyService, form: FormState, *, markets: bool) -> Organisation | None:
    """The organisation the form names, if it may hold a market (``markets``) or a community; else None, the
    reason next to the field."""
    wanted = form.values.get("organisation_id", "")
    if not wanted:
        form.refuse("organisation_id", "请选择单位")
        return None
    organisation = next((o for o, _ in await tenancy.organisations() if o.organisation_id == wanted), None)
    if organisation is None:
        form.refuse("organisation_id", "没有这个单位，请从列表中选择（新单位请先在“单位”页创建）")
        return None
    # the tenancy's rule, asked with a well-formed id of the kind the form makes
    if check_organisation_scope(organisation, Scope.of(markets=["m"]) if markets else Scope.of(communities=["c"])):
        kind = KIND_TEXT[organisation.kind]
        form.refuse("organisation_id", f"“{organisation.name}”是{kind}，不能" + (
            "开办市场：请选择市场开办者或监管部门" if markets else "管理小区：请选择物业服务企业或监管部门"))
        return None
    return organisation


async def _hold(tenancy: TenancyService, holder: Organisation, scope: Scope, form: FormState,
                what: str) -> int | None:
    try:
        await tenancy.hold(holder.organisation_id, scope)
    except TenancyRefused as refused:
        form.general.append(f"{what}已登记，但未能交给“{holder.name}”管理（{refused}）。请检查后再提交一次同样的内容："
                            f"已登记的{what}会沿用，不会重复登记。")
        return 409
    return None


async def _held(tenancy: TenancyService, scope: Scope) -> bool:
    """Whether an organisation holds any of ``scope``."""
    return any(scope.communities & held.communities or scope.markets & held.markets
               for _, held in await tenancy.organisations())


def _holder_options(holdings: list[tuple[Organisation, Scope]], *, markets: bool) -> list[tuple[str, str]]:
    return [(o.organisation_id, f"{o.name}（{KIND_TEXT[o.kind]}，{o.organisation_id}）") for o, _ in holdings
            if (o.holds_markets if markets else o.holds_communities)]


def _named(ids: frozenset[str], names: Mapping[str, str]) -> list[str]:
    return [f"{names[i]}（{i}）" if i in names else i for i in sorted(ids)]


def _created(request: web.Request, listed: set[str]) -> str | None:
    """The id just created, when the list has it (a crafted link puts no words on the page)."""
    created = request.query.get("created")
    return created if created in listed else None


async def _render(request: web.Request, template: str, tab: str, form: FormState, status: int,
                  context: dict[str, Any]) -> web.Response:
    return await render(request, template, {"tab": tab, "form": form, **context}, status=status)
