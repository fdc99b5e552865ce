"""Sign-in and sign-out pages: an account's password checked by :class:`~accounts.service.AccountService`, a
session cookie issued carrying a bearer token (see :mod:`webkit.pages` for sessions and CSRF)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from accounts.service import AccountService, SignInRefused
from webkit.auth import AUTHORITY, CLOCK
from webkit.identity import TokenAuthority
from webkit.pages import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL,
    SITE,
    Site,
    add_templates,
    check_csrf,
    form_of,
    home_for,
    mount_site,
    render,
    safe_next,
    see_other,
    session_principal,
    set_page_cookie,
)
from webkit.secure_cookies import SecureCookiePolicy

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"


def mount_pages(
    app: web.Application,
    accounts: AccountService,
    authority: TokenAuthority,
    now: Callable[[], datetime],
    *,
    session_ttl: timedelta = SESSION_TTL,
    site_name: str = "智慧社区",
    cookie_policy: SecureCookiePolicy | None = None,
) -> Site:
    """The shared page machinery (:func:`webkit.pages.mount_site`) with the sign-in and sign-out pages."""
    site = mount_site(app, accounts, authority, now, session_ttl=session_ttl, site_name=site_name,
                      cookie_policy=cookie_policy)
    add_templates(app, TEMPLATE_DIR)
    app[ACCOUNTS] = accounts
    app.router.add_get("/signin", sign_in_page)
    app.router.add_post("/signin", sign_in)
    app.router.add_post("/signout", sign_out)
    return site


ACCOUNTS = web.AppKey("accounts", AccountService)
_SIGN_IN_MESSAGES = {
    SignInRefused.WRONG_CREDENTIALS: "账号或密码不正确。",
    SignInRefused.TOO_MANY_ATTEMPTS: "尝试次数过多，请 15 分钟后再试。",
}


async def sign_in_page(request: web.Request) -> web.Response:
    notice = None
    if request.query.get("expired"):
        notice = "登录已过期，请重新登录。"
    elif request.query.get("signed_out"):
        notice = "您已安全退出。"
    return await render(request, "signin.html", {
        "next": safe_next(request.query.get("next")), "notice": notice, "error": None, "account_id": "",
    })


async def sign_in(request: web.Request) -> web.StreamResponse:
    await check_csrf(request)
    form = await form_of(request)
    account_id, password = form.get("account_id", "").strip(), form.get("password", "")
    next_path = safe_next(form.get("next"))
    site = request.config_dict[SITE]
    now = request.config_dict[CLOCK]()
    outcome = await request.config_dict[ACCOUNTS].sign_in(account_id, password, now) if account_id and password \
        else SignInRefused.WRONG_CREDENTIALS
    if isinstance(outcome, SignInRefused):
        return await render(request, "signin.html", {
            "next": next_path, "notice": None, "error": _SIGN_IN_MESSAGES[outcome], "account_id": account_id,
        }, status=429 if outcome is SignInRefused.TOO_MANY_ATTEMPTS else 401)
    token = request.config_dict[AUTHORITY].issue(outcome.account_id, outcome.roles, now, site.session_ttl)
    principal = request.config_dict[AUTHORITY].verify(token, now)
    response = see_other(next_path if next_path != "/" else home_for(site, principal))
    set_page_cookie(request, response, SESSION_COOKIE, token, site.session_ttl)
    response.del_cookie(PRESESSION_COOKIE, path="/")
    log.info("signed in", extra={"roles": sorted(role.value for role in outcome.roles)})
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    if session_principal(request) is not None:
        await check_csrf(request)
    response = see_other("/signin?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
