"""What an organisation's endpoint may be: a webhook URL that is http(s), and that does not point at the
installation itself, a loopback or a link-local address (unless the installation allows private addresses, as a
test rig or an intranet receiver needs). Pure: literal addresses and host names are judged as written; a name that
resolves to a private address is caught at delivery (docs/notifications.md, what remains)."""

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
    if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast:
        return "不能指向回环、链路本地或保留地址"
    return None
