"""What an organisation's endpoint may be: a webhook URL that is http(s), and that does not point at the
installation itself, a loopback, link-local, private or otherwise non-public address (unless the installation allows
private addresses, as a test rig or an intranet receiver needs). Pure: literal addresses and host names are judged as
written here; the addresses a name resolves to are judged by :func:`address_problem` when a delivery connects
(:mod:`notifications.channels.address_guard`), so a name pointed at an inner address later is caught too."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

MAX_URL_CHARS = 2000


def url_problem(url: str, allow_private: bool, own_hosts: frozenset[str] = frozenset()) -> str | None:
    """Why ``url`` may not be an endpoint (in Chinese, for the form and the API), or None."""
    if len(url) > MAX_URL_CHARS:
        return f"地址最长 {MAX_URL_CHARS} 个字符"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return "地址无法识别"
    if parts.scheme not in ("http", "https") or not host:
        return "地址须以 http:// 或 https:// 开头并含主机名"
    if parts.username or parts.password:
        return "地址中不能含用户名或密码"
    if host.lower() in own_hosts:
        return "不能指向本系统自身"
    if allow_private:
        return None
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return "不能指向本机（回环地址）"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return "不能指向回环、链路本地、内网或保留地址" if address_problem(str(address), False) else None


def address_problem(address: str, allow_private: bool) -> str | None:
    """Why a receiver at ``address`` (an IP address as resolved) may not be connected to, or None: only public
    unicast addresses, unless private ones are allowed (then only the unspecified and multicast ones are refused)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    if not allow_private and not ip.is_global:
        return "a loopback, link-local, private or reserved address"
    return None
