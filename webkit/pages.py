"""The people's web pages, shared by every context: one layout, sign-in and sign-out, a guard by
role, CSRF protection on every form, friendly error pages.

Sessions need no session store: the session cookie carries a bearer token signed by the same
:class:`~webkit.identity.TokenAuthority` as the API's tokens (HttpOnly, SameSite=Strict, expiring; Secure when the
browser came over https, directly or through a trusted proxy: :mod:`webkit.secure_cookies`), so any instance can
check it; like a bearer token, it is refused once revoked (signing out revokes it) or once its account is gone or
disabled (:class:`webkit.identity.TokenChecker`). The JSON API still takes bearer headers only.

CSRF: a signed-in form carries a token derived from the session token (an HMAC keyed by it, so it
is per session and needs no store); the sign-in form, before there is a session, carries a random
token that must match a pre-session cookie (double submit). :func:`page` checks it on every POST.

A context adds its pages with :func:`page` handlers, :func:`render`, :func:`add_templates` and
:func:`add_navigation` after :func:`accounts.pages.mount_pages` (this machinery and the sign-in pages).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from webkit.auth import CLOCK, PRINCIPAL, Handler, checked_principal, serve_tokens
from webkit.formatting import area_text, fraction_text, local_time, percent
from webkit.identity import AuthError, Principal, Role, TokenAuthority
from webkit.secure_cookies import SecureCookiePolicy

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "sc_session"
PRESESSION_COOKIE = "sc_presession"
CSRF_FIELD = "csrf_token"
SESSION_TTL = timedelta(hours=12)
PRESESSION_TTL = timedelta(hours=2)
MAX_FIELD_CHARS = 10_000
_CSRF_CONTEXT = b"smartcity page form v1"


@dataclass(frozen=True)
class NavLink:
    label: str
    href: str
    roles: tuple[Role, ...]
    """Who sees the link (admin sees every link); none: everyone, signed in or not (public pages)."""
    description: str = ""
    """A line for the portal page."""

    def visible_to(self, principal: Principal | None) -> bool:
        return not self.roles or (principal is not None and principal.has_any(self.roles))


class DisplayNames(Protocol):
    """Where the layout finds the signed-in person's name (the accounts service)."""

    async def display_name(self, account_id: str) -> str | None: ...


class UnreadCounts(Protocol):
    """Where the layout finds how many unread notifications the signed-in person has (the notifications)."""

    async def unread_count(self, account_id: str) -> int: ...


@dataclass
class Site:
    """What every page shares; one per application (``request.config_dict[SITE]``)."""

    templates: jinja2.Environment
    accounts: DisplayNames
    session_ttl: timedelta = SESSION_TTL
    name: str = "智慧社区"
    navigation: list[NavLink] = field(default_factory=list)
    cookie_policy: SecureCookiePolicy = field(default_factory=SecureCookiePolicy)
    """When the session and pre-session cookies carry the Secure flag."""
    unread: UnreadCounts | None = None
    """The header's unread count (none: the header shows no notification link)."""


SITE = web.AppKey("pages_site", Site)
_CSRF = web.RequestKey("page_csrf_token", str)
_SESSION = web.RequestKey("page_session", tuple[Principal | None])
"""The session's principal once checked for this request (a 1-tuple, as the answer may be None)."""
_NEW_PRESESSION = web.RequestKey("page_new_presession", str)


class PageProblem(Exception):
    """Raise from a page handler to answer with the friendly error page of ``status``."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or _ERROR_TITLES.get(status, "出错了")


_ERROR_TITLES = {
    400: "请求有误", 403: "没有权限", 404: "页面不存在", 405: "不支持的操作", 409: "操作与当前状态冲突",
    413: "提交的内容过大", 422: "不符合规则", 429: "尝试次数过多", 500: "服务器出错了",
}
_ERROR_MESSAGES = {
    400: "提交的内容无法识别，请返回上一页重试。",
    403: "您的账号没有访问此页面的权限。如需开通，请联系物业或业主委员会。",
    404: "找不到您要访问的页面，它可能已被移除，或链接有误。",
    405: "此页面不支持这种操作。",
    413: "提交的内容超过了允许的大小。",
    500: "处理您的请求时出现了问题，我们已记录下来。请稍后再试。",
}


def mount_site(
    app: web.Application,
    accounts: DisplayNames,
    authority: TokenAuthority,
    now: Callable[[], datetime],
    *,
    session_ttl: timedelta = SESSION_TTL,
    site_name: str = "智慧社区",
    cookie_policy: SecureCookiePolicy | None = None,
) -> Site:
    """Serve the layout's stylesheet and friendly error pages from ``app`` (sign-in and sign-out are the
    accounts' pages: :func:`accounts.pages.mount_pages` mounts both). ``cookie_policy``: when the cookies
    are Secure (by default, when the request itself came over https)."""
    site = Site(_environment(), accounts, session_ttl, site_name,
                cookie_policy=cookie_policy if cookie_policy is not None else SecureCookiePolicy())
    app[SITE] = site
    serve_tokens(app, authority, now)
    app.middlewares.append(_error_pages)
    if not any(resource.canonical == "/static" for resource in app.router.resources()):
        app.router.add_static("/static", STATIC_DIR)
    return site


def add_templates(app: web.Application, directory: Path) -> None:
    """Let the pages find templates under ``directory`` too (each context keeps its own)."""
    loader = app[SITE].templates.loader
    if not isinstance(loader, jinja2.FileSystemLoader):
        raise TypeError("the page templates are loaded from the file system")
    if str(directory) not in loader.searchpath:
        loader.searchpath.append(str(directory))


def show_unread_counts(app: web.Application, counts: UnreadCounts) -> None:
    """Draw the signed-in person's unread notifications in every page's header, linking to the centre."""
    app[SITE].unread = counts


def add_navigation(app: web.Application, link: NavLink) -> None:
    app[SITE].navigation.append(link)


def mount_portal(app: web.Application, system_links: tuple[NavLink, ...] = ()) -> None:
    """The front page at "/": every page a visitor may open, public first, then theirs by role."""

    async def portal(request: web.Request) -> web.Response:
        principal = await session_principal(request)
        links = [link for link in request.config_dict[SITE].navigation if link.visible_to(principal)]
        return await render(request, "portal.html", {
            "public_links": [link for link in links if not link.roles],
            "role_links": [link for link in links if link.roles],
            "system_links": [link for link in system_links if link.visible_to(principal)],
        })

    app.router.add_get("/", portal)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(TEMPLATE_DIR)]),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug to see in the tests, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["local_time"] = local_time
    environment.filters["percent"] = percent
    environment.filters["fraction"] = fraction_text
    environment.filters["area"] = area_text
    return environment


# --- sessions -----------------------------------------------------------------------------------

async def session_principal(request: web.Request) -> Principal | None:
    """Who the session cookie says is signed in, or None (no cookie; a bad, expired or revoked token; no
    account, or a disabled one). Checked once per request."""
    if _SESSION not in request:
        request[_SESSION] = (await _checked_session(request),)
    return request[_SESSION][0]


async def _checked_session(request: web.Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return await checked_principal(request, token)
    except AuthError:
        return None


def csrf_token(request: web.Request) -> str:
    """The token a form on this page must send back: tied to the session when signed in, else to
    a pre-session cookie (set by :func:`render` when the browser has none yet). Call it after the
    session was checked (:func:`session_principal`; :func:`page` and :func:`render` do)."""
    if _CSRF in request:
        return request[_CSRF]
    if _SESSION not in request:
        raise RuntimeError("csrf_token before the session was checked: await session_principal first")
    session = request.cookies.get(SESSION_COOKIE)
    if session and request[_SESSION][0] is not None:
        token = _session_csrf(session)
    else:
        token = request.cookies.get(PRESESSION_COOKIE) or ""
        if len(token) < 32:
            token = secrets.token_urlsafe(32)
            request[_NEW_PRESESSION] = token
    request[_CSRF] = token
    return token


def _session_csrf(session_token: str) -> str:
    return hmac.new(session_token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


async def form_of(request: web.Request) -> MultiDictProxy[str]:
    """The submitted form, text fields only, each bounded (files are not taken)."""
    try:
        form = await request.post()
    except ValueError:
        raise PageProblem(400, _ERROR_MESSAGES[400]) from None
    fields: list[tuple[str, str]] = []
    for name, value in form.items():
        if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
            raise PageProblem(400, "表单中有无法处理的内容（文件或过长的文本）。")
        fields.append((name, value))
    return MultiDictProxy(MultiDict(fields))


async def check_csrf(request: web.Request) -> None:
    await session_principal(request)
    sent = (await form_of(request)).get(CSRF_FIELD, "")
    expected = csrf_token(request)
    if _NEW_PRESESSION in request or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        log.info("form refused: csrf token", extra={"path": request.path})
        raise PageProblem(403, "表单已失效（可能停留过久或来自其他网站）。请返回上一页，刷新后重新提交。",
                          title="表单已失效")


def _return_path(request: web.Request) -> str:
    """Where to come back to after signing in: this page, or for a form post (which cannot be
    replayed) the same-site page the form was on."""
    if request.method in ("GET", "HEAD"):
        return request.path_qs
    referrer = urlsplit(request.headers.get("Referer", ""))
    if referrer.netloc == request.host:
        return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
    return "/"


def page(*roles: Role) -> Callable[[Handler], Handler]:
    """Page handler decorator: to sign-in when not signed in, the 403 page without one of
    ``roles`` (none given: any signed-in person; admin passes every guard); checks the CSRF token
    of every POST. The principal is in ``request[PRINCIPAL]``."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            principal = await session_principal(request)
            if principal is None:
                expired = SESSION_COOKIE in request.cookies
                raise web.HTTPSeeOther(f"/signin?next={quote(_return_path(request))}"
                                       + ("&expired=1" if expired else ""))
            if roles and not principal.has_any(roles):
                raise PageProblem(403, _ERROR_MESSAGES[403])
            request[PRINCIPAL] = principal
            if request.method not in ("GET", "HEAD"):
                await check_csrf(request)
            return await handler(request)

        return guarded

    return decorate


# --- rendering ----------------------------------------------------------------------------------

async def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None,
                 status: int = 200) -> web.Response:
    """The page ``template`` (which extends layout.html) with ``context`` and what the layout needs."""
    site = request.config_dict[SITE]
    session = await session_principal(request)  # before csrf_token, which depends on it
    principal = request.get(PRINCIPAL) or session
    display_name, unread_count = None, None
    if principal is not None:
        display_name = await site.accounts.display_name(principal.subject) or principal.subject
        if site.unread is not None:
            unread_count = await site.unread.unread_count(principal.subject)
    html = site.templates.get_template(template).render(
        site_name=site.name,
        principal=principal,
        display_name=display_name,
        unread_count=unread_count,
        navigation=[link for link in site.navigation if link.visible_to(principal)],
        current_path=request.path,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request),
        now=request.config_dict[CLOCK](),
        **(context or {}),
    )
    response = web.Response(text=html, content_type="text/html", status=status,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"})
    if _NEW_PRESESSION in request:
        set_page_cookie(request, response, PRESESSION_COOKIE, request[_NEW_PRESESSION], PRESESSION_TTL)
    return response


def set_page_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
                    ttl: timedelta) -> None:
    """Set a cookie of the pages: HttpOnly, SameSite=Strict, site-wide, Secure as the site's policy says
    for this request (behind a TLS proxy ``request.secure`` alone would say no)."""
    secure = request.config_dict[SITE].cookie_policy.secure(request)
    response.set_cookie(name, value, max_age=int(ttl.total_seconds()), httponly=True, samesite="Strict",
                        secure=secure, path="/")


async def error_page(request: web.Request, status: int, message: str | None = None,
                     title: str | None = None) -> web.Response:
    return await render(request, "error.html", {
        "status": status,
        "title": title or _ERROR_TITLES.get(status, "出错了"),
        "message": message or _ERROR_MESSAGES.get(status, "请返回上一页重试。"),
    }, status=status)


@web.middleware
async def _error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PageProblem as problem:
        return await error_page(request, problem.status, problem.message, problem.title)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type in ("application/json", "text/html") \
                or not _wants_html(request):
            raise
        return await error_page(request, error.status)
    except Exception:
        if not _wants_html(request):
            raise
        log.exception("page failed", extra={"path": request.path})
        return await error_page(request, 500)


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")









def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in; anything that could leave the site becomes "/"."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in value):
        return "/"
    return value


def home_for(site: Site, principal: Principal) -> str:
    """Where a person lands after signing in: the first page made for one of their roles (an administrator's:
    the administration, not the first page an administrator may also open), else the first they may see."""
    made_for = (link.href for link in site.navigation if link.roles and principal.roles & set(link.roles))
    may_see = (link.href for link in site.navigation if link.roles and principal.has_any(link.roles))
    return next(made_for, None) or next(may_see, "/")
