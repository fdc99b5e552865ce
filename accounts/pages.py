"""Sign-in and sign-out pages: an account's password checked by :class:`~accounts.service.AccountService`
(attempts throttled per account and per client address, :mod:`accounts.throttling`), a session cookie issued
carrying a bearer token, revoked on signing out (see :mod:`webkit.pages` for sessions and CSRF). Mounting them
makes the accounts the application's :class:`~webkit.identity.TokenChecker`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from accounts.service import AccountService, SignInRefused
from webkit.auth import AUTHORITY, CLOCK, check_tokens_with
from webkit.client_address import Network, client_address, trusted_networks
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
    trusted_proxies: Iterable[str] = (),
) -> Site:
    """The shared page machinery (:func:`webkit.pages.mount_site`) with the sign-in and sign-out pages; every
    token and session on ``app`` is checked with ``accounts``. ``trusted_proxies`` (SC_TRUSTED_PROXIES): the
    reverse proxies whose X-Forwarded-For names the client a sign-in attempt is counted against."""
    site = mount_site(app, accounts, authority, now, session_ttl=session_ttl, site_name=site_name,
                      cookie_policy=cookie_policy)
    add_templates(app, TEMPLATE_DIR)
    app[ACCOUNTS] = accounts
    app[SIGN_IN_PROXIES] = trusted_networks(trusted_proxies)
    check_tokens_with(app, accounts)
    app.router.add_get("/signin", sign_in_page)
    app.router.add_post("/signin", sign_in)
    app.router.add_post("/signout", sign_out)
    return site


ACCOUNTS = web.AppKey("accounts", AccountService)
SIGN_IN_PROXIES = web.AppKey("sign_in_trusted_proxies", tuple[Network, ...])
_SIGN_IN_MESSAGES = {
    SignInRefused.WRONG_CREDENTIALS: "账号或密码不正确。",
    SignInRefused.DISABLED: "此账号已停用，请联系物业或系统管理员。",
}
_SIGN_IN_STATUS = {SignInRefused.WRONG_CREDENTIALS: 401, SignInRefused.DISABLED: 403,
                   SignInRefused.TOO_MANY_ATTEMPTS: 429}


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
    client = sign_in_client(request)
    accounts = request.config_dict[ACCOUNTS]
    outcome = await accounts.sign_in(account_id, password, now, client=client) if account_id and password \
        else SignInRefused.WRONG_CREDENTIALS
    if isinstance(outcome, SignInRefused):
        headers, error = {}, _SIGN_IN_MESSAGES.get(outcome, "")
        if outcome is SignInRefused.TOO_MANY_ATTEMPTS:
            wait = math.ceil((await accounts.retry_after(account_id, client, now)).total_seconds())
            headers, error = {"Retry-After": str(max(wait, 1))}, _too_many_attempts(wait)
        page = await render(request, "signin.html", {
            "next": next_path, "notice": None, "error": error, "account_id": account_id,
        }, status=_SIGN_IN_STATUS[outcome])
        page.headers.update(headers)
        return page
    token = request.config_dict[AUTHORITY].issue(outcome.account_id, outcome.roles, now, site.session_ttl)
    principal = request.config_dict[AUTHORITY].verify(token, now)
    response = see_other(next_path if next_path != "/" else home_for(site, principal))
    set_page_cookie(request, response, SESSION_COOKIE, token, site.session_ttl)
    response.del_cookie(PRESESSION_COOKIE, path="/")
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    """End the session: its token is revoked (the cookie's value may have been copied, or used as a bearer
    token), not merely deleted from this browser."""
    principal = await session_principal(request)
    if principal is not None:
        await check_csrf(request)
        await request.config_dict[ACCOUNTS].revoke(principal, request.config_dict[CLOCK]())
    response = see_other("/signin?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def sign_in_client(request: web.Request) -> str:
    """The address a sign-in attempt is counted against: the peer, or behind a trusted proxy the client it names."""
    proxies = request.config_dict[SIGN_IN_PROXIES]
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", []), proxies)


def _too_many_attempts(wait_s: int) -> str:
    if wait_s < 60:
        return f"尝试次数过多，请 {max(wait_s, 1)} 秒后再试。"
    return f"尝试次数过多，请 {math.ceil(wait_s / 60)} 分钟后再试。"
