"""The onboarding pages: the first administrator's setup page (/setup/<code>), an invitee's (/invite/<code>), a
password reset (/reset/<code>), a resident's activation (/activate), all open to whoever holds the code; and the
property manager's activation letters (/accounts/activation-letters), which create the codes and show them once,
as printable letters. The staff's invitations (:mod:`accounts.invitation_pages`) and the accounts they look after
(:mod:`accounts.people_pages`) are mounted with them.

A code that is unknown, used, expired or withdrawn is a page that says so (404 or 410), never an error; what is
wrong with a field is said next to it (422), nothing written. The forms carry the pages' CSRF token (a pre-session
one for the open pages, as the sign-in form)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy

from accounts.domain import PASSWORD_REFUSALS, AccountRefusal
from accounts.invitation_pages import mount_invitation_pages
from accounts.onboarding import (
    ACTIVATION_PATH,
    MAX_LETTERS,
    AccountRefused,
    CodeUnusable,
    OnboardingService,
    ResidentsRefused,
)
from accounts.one_time_codes import ACTIVATION_DEFAULT_DAYS, ACTIVATION_MAX_DAYS, CodeState
from accounts.page_words import ROLE_TEXT, site_origin
from accounts.people_pages import mount_people_pages
from accounts.residents import DirectoryResident
from accounts.service import AccountService
from accounts.tenancy import NotPermitted, NotVisible, TenancyRefused
from webkit.auth import CLOCK, PRINCIPAL
from webkit.identity import Principal, Role
from webkit.pages import (
    NavLink,
    PageProblem,
    add_navigation,
    add_templates,
    check_csrf,
    form_of,
    page,
    render,
)
from webkit.qr_code import qr_svg

TEMPLATE_DIR = Path(__file__).parent / "templates"
ONBOARDING_PAGES = web.AppKey("onboarding_pages", OnboardingService)
LETTERS_PATH = "/accounts/activation-letters"

_FIELD_OF: Final = {
    AccountRefusal.BAD_ID: ("account_id", "账号为 1–64 个英文字母、数字或 . _ : - 符号，不含空格和中文。"),
    AccountRefusal.BAD_NAME: ("display_name", "姓名为 1–100 个字符。"),
    AccountRefusal.EXISTS: ("account_id", "这个账号已被使用，请换一个。"),
    AccountRefusal.NO_ROLE: ("", "账号没有角色。"),
    **{refusal: ("password", problem.text) for problem, refusal in PASSWORD_REFUSALS.items()},
}
_GONE: Final = {
    CodeState.USED: ("链接已使用", "这个链接已经用过了，每个链接只能使用一次。如已设置好账号，请直接登录。"),
    CodeState.EXPIRED: ("链接已过期", "这个链接已经过期。请联系发给您链接的人重新发送。"),
    CodeState.REVOKED: ("链接已失效", "这个链接已被撤销或被新的链接取代。请使用最新的链接，或联系发给您链接的人。"),
}
_ACTIVATION_CODE_TEXT: Final = {
    None: "激活码不正确，请核对通知上的激活码（12 位字母和数字）。",
    CodeState.USED: "这个激活码已经用过了。如已开通账号，请直接登录；忘记密码请联系物业服务中心。",
    CodeState.EXPIRED: "这个激活码已过期，请联系物业服务中心重新发放。",
    CodeState.REVOKED: "这个激活码已失效（已重新发放，或住户信息已变更），请使用最新的通知或联系物业服务中心。",
}
PASSWORDS_DIFFER = "两次输入的密码不一致。"


def mount_onboarding_pages(app: web.Application, accounts: AccountService) -> None:
    """The onboarding pages on ``app`` (after :func:`accounts.pages.mount_pages`), the staff's invitations page
    (:mod:`accounts.invitation_pages`) and accounts page (:mod:`accounts.people_pages`) among them; their links in
    the navigation come last, so that managers still land on their console after signing in."""
    add_templates(app, TEMPLATE_DIR)
    onboarding = accounts.onboarding
    app[ONBOARDING_PAGES] = onboarding
    for path, handler in (("/setup/{code}", setup_page), ("/invite/{code}", invitation_page),
                          ("/reset/{code}", reset_page), (ACTIVATION_PATH, activation_page),
                          (LETTERS_PATH, letters_page)):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
    add_navigation(app, NavLink("住户激活通知", LETTERS_PATH, (Role.PROPERTY_MANAGER,),
                                "为住户生成一次性激活码，打印激活通知"))
    mount_invitation_pages(app, onboarding, accounts.tenancy)
    mount_people_pages(app, onboarding, accounts.tenancy)


@dataclass
class Form:
    """What was typed (passwords never sent back) and what is wrong with it, by field ("": the form)."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


async def _typed(request: web.Request, *names: str) -> tuple[Form, MultiDictProxy[str]]:
    await check_csrf(request)
    submitted = await form_of(request)
    form = Form({name: submitted.get(name, "").strip() for name in names})
    password, again = submitted.get("password", ""), submitted.get("password2", "")
    if "password2" in submitted and password != again:
        form.problems["password2"] = PASSWORDS_DIFFER
    return form, submitted


def _refused(form: Form, refusal: AccountRefusal) -> None:
    name, text = _FIELD_OF[refusal]
    form.problems[name] = text


def _service(request: web.Request) -> OnboardingService:
    return request.config_dict[ONBOARDING_PAGES]


def _now(request: web.Request) -> datetime:
    return request.config_dict[CLOCK]()


def _code_problem(unusable: CodeUnusable) -> PageProblem:
    if unusable.state is None or unusable.state is CodeState.PENDING:
        return PageProblem(404, "找不到这个链接：它可能有误、不完整，或已不再需要。请核对链接，或联系发给您链接的人。",
                           title="链接无效")
    title, message = _GONE[unusable.state]
    return PageProblem(410, message, title=title)


async def _form_page(request: web.Request, template: str, form: Form, context: Mapping[str, Any]) -> web.Response:
    return await render(request, template, {"form": form, **context}, status=422 if form.problems else 200)


# --- the first administrator ------------------------------------------------------------------------------

async def setup_page(request: web.Request) -> web.Response:
    code, service, now = request.match_info["code"], _service(request), _now(request)
    try:
        await service.setup_code(code, now)
    except CodeUnusable as unusable:
        raise _code_problem(unusable) from None
    if request.method != "POST":
        return await _form_page(request, "accounts/setup.html", Form(), {"code": code})
    form, submitted = await _typed(request, "account_id", "display_name")
    if not form.problems:
        try:
            account = await service.complete_setup(code, form.values["account_id"], form.values["display_name"],
                                                   submitted.get("password", ""), now)
        except CodeUnusable as unusable:
            raise _code_problem(unusable) from None
        except AccountRefused as refused:
            _refused(form, refused.refusal)
        else:
            return await _done(request, "管理员账号已创建", account.account_id,
                               "请用这个账号登录，然后创建物业公司、市场运营方等单位，并邀请工作人员。")
    return await _form_page(request, "accounts/setup.html", form, {"code": code})


async def _done(request: web.Request, title: str, account_id: str, message: str) -> web.Response:
    return await render(request, "accounts/done.html", {"title": title, "account_id": account_id,
                                                        "message": message})


# --- invitations --------------------------------------------------------------------------------------------

async def invitation_page(request: web.Request) -> web.Response:
    code, service, now = request.match_info["code"], _service(request), _now(request)
    try:
        invitation = await service.invitation(code, now)
    except CodeUnusable as unusable:
        raise _code_problem(unusable) from None
    context = {"code": code, "invitation": invitation, "role_text": ROLE_TEXT.get(invitation.role or Role.ADMIN, "")}
    if request.method != "POST":
        return await _form_page(request, "accounts/invite.html", Form({"display_name": invitation.display_name or ""}),
                                context)
    form, submitted = await _typed(request, "account_id", "display_name")
    if not form.problems:
        try:
            account = await service.accept_invitation(code, form.values["account_id"], form.values["display_name"],
                                                      submitted.get("password", ""), now)
        except CodeUnusable as unusable:
            raise _code_problem(unusable) from None
        except AccountRefused as refused:
            _refused(form, refused.refusal)
        except TenancyRefused:
            form.problems[""] = ("邀请中的单位或管理范围已经变更，无法按这份邀请开通账号。请联系邀请人重新邀请。")
        else:
            return await _done(request, "账号已开通", account.account_id, "请用这个账号和刚设置的密码登录。")
    return await _form_page(request, "accounts/invite.html", form, context)


# --- password resets ------------------------------------------------------------------------------------------

async def reset_page(request: web.Request) -> web.Response:
    code, service, now = request.match_info["code"], _service(request), _now(request)
    try:
        reset = await service.reset(code, now)
    except CodeUnusable as unusable:
        raise _code_problem(unusable) from None
    context = {"code": code, "account_id": reset.account_id}
    if request.method != "POST":
        return await _form_page(request, "accounts/reset.html", Form(), context)
    form, submitted = await _typed(request)
    if not form.problems:
        try:
            account_id = await service.complete_reset(code, submitted.get("password", ""), now)
        except CodeUnusable as unusable:
            raise _code_problem(unusable) from None
        except AccountRefused as refused:
            _refused(form, refused.refusal)
        else:
            return await _done(request, "密码已更新", account_id,
                               "此账号在所有设备上的登录均已退出，请用新密码重新登录。")
    return await _form_page(request, "accounts/reset.html", form, context)


# --- residents' activation ---------------------------------------------------------------------------------

async def activation_page(request: web.Request) -> web.Response:
    service, now = _service(request), _now(request)
    if request.method != "POST":
        return await _form_page(request, "accounts/activate.html", Form({"code": request.query.get("code", "")[:64]}),
                                {})
    form, submitted = await _typed(request, "code")
    try:
        record = await service.activation(form.values["code"], now)
    except CodeUnusable as unusable:
        form.problems["code"] = _ACTIVATION_CODE_TEXT[unusable.state]
        return await _form_page(request, "accounts/activate.html", form, {})
    if not form.problems:
        try:
            account = await service.activate(form.values["code"], submitted.get("password", ""), now)
        except CodeUnusable as unusable:
            form.problems["code"] = _ACTIVATION_CODE_TEXT[unusable.state]
        except AccountRefused as refused:
            if refused.refusal is AccountRefusal.EXISTS:
                form.problems["code"] = "您的账号已经开通，请直接登录；忘记密码请联系物业服务中心。"
            else:
                _refused(form, refused.refusal)
        else:
            return await _done(request, "账号已开通", account.account_id,
                               f"{account.display_name}，您好！以后请用这个账号和刚设置的密码登录。")
    return await _form_page(request, "accounts/activate.html", form, {"account_id": record.account_id})


# --- the property manager's activation letters --------------------------------------------------------------

@dataclass(frozen=True)
class LetterRow:
    resident: DirectoryResident
    has_account: bool
    pending_until: datetime | None

    @property
    def suggested(self) -> bool:
        return self.resident.active and not self.has_account and self.pending_until is None


@page(Role.PROPERTY_MANAGER)
async def letters_page(request: web.Request) -> web.Response:
    service, principal, now = _service(request), request[PRINCIPAL], _now(request)
    if request.method == "POST":
        return await _issue_letters(request, service, principal, now)
    communities = await _communities(service, principal)
    wanted = request.query.get("community")
    if wanted is not None and wanted not in dict(communities):
        raise PageProblem(404, "没有这个小区，或它不在您的管理范围内。", title="小区不存在")
    chosen = wanted or (communities[0][0] if communities else None)
    rows = await _letter_rows(service, chosen, now) if chosen else []
    return await render(request, "accounts/letters_form.html", {
        "communities": communities, "chosen": chosen, "rows": rows, "problems": {},
        "days": ACTIVATION_DEFAULT_DAYS, "max_days": ACTIVATION_MAX_DAYS, "selected": None})


async def _communities(service: OnboardingService, principal: Principal) -> list[tuple[str, str]]:
    """The communities ``principal`` issues letters for, with their names."""
    if principal.is_admin:
        return sorted(await service.residents.communities())
    named = [(community_id, await service.residents.community_name(community_id))
             for community_id in sorted(principal.scope.communities)]
    return [(community_id, name) for community_id, name in named if name is not None]


async def _letter_rows(service: OnboardingService, community_id: str, now: datetime) -> list[LetterRow]:
    residents = sorted(await service.residents.residents(community_id), key=lambda r: (r.unit_id, r.resident_id))
    existing, pending = await service.letter_states((r.resident_id for r in residents), now)
    return [LetterRow(r, r.resident_id in existing, pending.get(r.resident_id)) for r in residents]


async def _issue_letters(request: web.Request, service: OnboardingService, principal: Principal,
                         now: datetime) -> web.Response:
    submitted = await form_of(request)
    community_id = submitted.get("community", "").strip()
    selected = [value for value in submitted.getall("resident", []) if value][:MAX_LETTERS + 1]
    problems: dict[str, str] = {}
    days_typed = submitted.get("days", str(ACTIVATION_DEFAULT_DAYS)).strip()
    days = int(days_typed) if days_typed.isascii() and days_typed.isdigit() and len(days_typed) < 5 else 0
    if not 1 <= days <= ACTIVATION_MAX_DAYS:
        problems["days"] = f"有效期为 1 到 {ACTIVATION_MAX_DAYS} 天。"
    if not selected:
        problems[""] = "请至少选择一位住户。"
    elif len(selected) > MAX_LETTERS:
        problems[""] = f"一次最多为 {MAX_LETTERS} 位住户生成激活码，请分批生成。"
    if not community_id:
        problems[""] = "请选择小区。"
    if not problems:
        try:
            batch = await service.issue_activation_codes(principal, community_id, selected, days, now)
        except NotVisible:
            raise PageProblem(404, "没有这个小区，或它不在您的管理范围内。", title="小区不存在") from None
        except NotPermitted:
            raise PageProblem(403, "只有小区的物业管理人员可以发放激活通知。") from None
        except ResidentsRefused as refused:
            problems = {f"resident:{resident_id}": problem for resident_id, problem in refused.problems.items()}
            problems[""] = f"{len(refused.problems)} 位住户不能发放激活码（见下表），所有激活码均未生成。"
        except TenancyRefused as refused:
            problems[""] = str(refused)
        else:
            return await render(request, "accounts/letters.html", {
                "batch": batch, "activate_url": site_origin(request) + ACTIVATION_PATH,
                "qr": {letter.resident_id: qr_svg(f"{site_origin(request)}{ACTIVATION_PATH}?code={letter.code}",
                                                  "激活二维码") for letter in batch.letters}})
    return await _letters_form_again(request, service, principal, community_id, selected, problems, days_typed)


async def _letters_form_again(request: web.Request, service: OnboardingService, principal: Principal,
                              community_id: str, selected: list[str], problems: dict[str, str],
                              days: str) -> web.Response:
    communities = await _communities(service, principal)
    chosen = community_id if community_id in dict(communities) else None
    rows = await _letter_rows(service, chosen, _now(request)) if chosen else []
    return await render(request, "accounts/letters_form.html", {
        "communities": communities, "chosen": chosen, "rows": rows, "problems": problems, "days": days[:5],
        "max_days": ACTIVATION_MAX_DAYS, "selected": set(selected)}, status=422)

