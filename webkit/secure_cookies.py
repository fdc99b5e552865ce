"""When the pages' cookies carry the Secure flag.

aiohttp's ``request.secure`` knows only the connection the request came on. Behind a reverse proxy that
terminates TLS every request arrives over plain http, so the session cookie went out without Secure and a
browser would send it over plain http too, should it ever be led there. A proxy the installation trusts
(``SC_TRUSTED_PROXIES``, the same list the market's rate limit trusts) may therefore say
``X-Forwarded-Proto: https``; anyone else may not, as any client can write that header. An installation
that is always reached over TLS can say so once (``SC_SECURE_COOKIES=always``) and need not name its proxies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

from webkit.client_address import Network, is_trusted_proxy, trusted_networks


class SecureCookies(StrEnum):
    AUTO = "auto"
    """Secure when the request came over https, directly or through a trusted proxy that says so."""
    ALWAYS = "always"
    """Secure on every response: the installation is only ever reached over TLS."""


def came_over_https(secure_connection: bool, peer: str | None, forwarded_proto: Sequence[str],
                    trusted: Sequence[Network]) -> bool:
    """Whether the browser's request travelled over https: the connection itself was TLS, or the peer is a
    trusted proxy whose ``X-Forwarded-Proto`` says https. Of several values the right-most counts, the one
    the trusted peer itself wrote (a proxy that appends puts its own last; what is left of it may come from
    the client)."""
    if secure_connection:
        return True
    if not forwarded_proto or not is_trusted_proxy(peer, trusted):
        return False
    values = [value.strip().lower() for header in forwarded_proto for value in header.split(",")]
    return values[-1] == "https"


@dataclass(frozen=True)
class SecureCookiePolicy:
    mode: SecureCookies = SecureCookies.AUTO
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the reverse proxies whose X-Forwarded-Proto is believed."""
    trusted_networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_networks", trusted_networks(self.trusted_proxies))

    def secure(self, request: web.BaseRequest) -> bool:
        """Whether a cookie set in the response to ``request`` carries the Secure flag."""
        if self.mode is SecureCookies.ALWAYS:
            return True
        return came_over_https(request.secure, request.remote, request.headers.getall("X-Forwarded-Proto", []),
                               self.trusted_networks)
