"""When the pages' cookies are Secure: the decision from the connection, the peer and X-Forwarded-Proto, and
its settings (SC_SECURE_COOKIES, SC_TRUSTED_PROXIES)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from config.settings import SettingsError, load_settings
from smartcity.bootstrap import cookie_policy
from webkit.client_address import trusted_networks
from webkit.secure_cookies import SecureCookies, came_over_https

PROXIES = trusted_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("SC_"):
            monkeypatch.delenv(name)
    yield


def test_a_tls_connection_is_https_whatever_the_headers() -> None:
    assert came_over_https(True, "203.0.113.7", [], ())
    assert came_over_https(True, "10.0.0.2", ["http"], PROXIES)


def test_plain_http_without_a_trusted_proxy_is_not_https() -> None:
    assert not came_over_https(False, "203.0.113.7", [], PROXIES)
    assert not came_over_https(False, "203.0.113.7", ["https"], PROXIES), "anyone can write the header"
    assert not came_over_https(False, "10.0.0.2", ["https"], ()), "no proxy is trusted unless named"
    assert not came_over_https(False, None, ["https"], PROXIES)
    assert not came_over_https(False, "/run/smartcity.sock", ["https"], PROXIES)


def test_a_trusted_proxy_is_believed_on_the_scheme_it_wrote() -> None:
    assert came_over_https(False, "10.0.0.2", ["https"], PROXIES)
    assert came_over_https(False, "fd00::1", ["HTTPS "], PROXIES)
    assert not came_over_https(False, "10.0.0.2", ["http"], PROXIES)
    assert not came_over_https(False, "10.0.0.2", [], PROXIES)
    # a client's own value left of the proxy's counts for nothing
    assert not came_over_https(False, "10.0.0.2", ["https, http"], PROXIES)
    assert came_over_https(False, "10.0.0.2", ["http", "https"], PROXIES)


def test_the_settings_make_the_policy() -> None:
    assert cookie_policy(load_settings()).mode is SecureCookies.AUTO
    assert cookie_policy(load_settings()).trusted_networks == ()
    policy = cookie_policy(load_settings(secure_cookies="always", trusted_proxies="10.0.0.0/8,fd00::/8"))
    assert policy.mode is SecureCookies.ALWAYS and policy.trusted_networks == PROXIES


def test_an_unknown_secure_cookies_mode_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SC_SECURE_COOKIES", "sometimes")
    with pytest.raises(SettingsError, match="SC_SECURE_COOKIES"):
        load_settings()


def test_a_proxy_that_is_no_address_is_named() -> None:
    with pytest.raises(ValueError, match=r"proxy\.example"):
        trusted_networks(["10.0.0.0/8", "proxy.example"])
