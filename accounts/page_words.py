"""What the accounts' pages share: the roles in words, and the site's address as the visitor reached it (for the
links and letters the pages hand out)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from webkit.identity import Role
from webkit.pages import SITE

ROLE_TEXT: Final = {Role.ADMIN: "系统管理员", Role.PROPERTY_MANAGER: "物业管理人员",
                    Role.MARKET_OPERATOR: "市场管理人员", Role.SUPERVISOR: "监管人员", Role.RESIDENT: "住户",
                    Role.COMMITTEE: "业主委员会成员"}


def site_origin(request: web.Request) -> str:
    """The site as the visitor reached it (https when the site says the request came over TLS, directly or
    through a trusted proxy)."""
    scheme = "https" if request.config_dict[SITE].cookie_policy.secure(request) else "http"
    return f"{scheme}://{request.host}"
