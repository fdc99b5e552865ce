"""Settings from SC_ variables: defaults, parsing, and errors that name the variable at fault."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import MqttEndpoint, SettingsError, load_settings, settings_help


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The developer's own SC_ variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("SC_"):
            monkeypatch.delenv(name)
    yield


def settings_error(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return str(raised.value)


def test_defaults_run_a_self_contained_demo() -> None:
    settings = load_settings()

    assert settings.site == "demo"
    assert settings.embedded_mqtt
    assert settings.influx_url is None
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.metrics_public is False, "the gateway's /metrics needs a staff token unless opened"
    assert (settings.batch_size, settings.batch_interval_ms, settings.write_retries) == (5000, 100, 3)
    assert settings.mqtt_protocol == 4
    assert settings.mqtt_share_group == ""
    assert settings.spool_dir == Path("var") / "spool"
    assert settings.mqtt_client_id.startswith("sc-gateway-")
    assert len(settings.mqtt_client_id) <= 64


def test_sc_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SC_SITE", "market-3")
    monkeypatch.setenv("SC_HTTP_PORT", "9090")
    monkeypatch.setenv("SC_MQTT_URL", "mqtts://gw:secret@broker.example:8884")
    monkeypatch.setenv("SC_MQTT_PROTOCOL", "5")
    monkeypatch.setenv("SC_MQTT_SHARE_GROUP", "gateways")
    monkeypatch.setenv("SC_INFLUX_URL", "http://influx:8086/")
    monkeypatch.setenv("SC_INFLUX_TOKEN", "tok-123")
    monkeypatch.setenv("SC_DATA_DIR", "/srv/smartcity")
    monkeypatch.setenv("SC_BATCH_SIZE", "250")
    monkeypatch.setenv("SC_LOG_FORMAT", "json")

    settings = load_settings()

    assert settings.site == "market-3"
    assert settings.http_port == 9090
    assert not settings.embedded_mqtt
    assert settings.mqtt_protocol == 5
    assert settings.mqtt_share_group == "gateways"
    assert settings.influx_url == "http://influx:8086"
    assert settings.influx_token is not None
    assert settings.influx_token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(settings)
    assert settings.spool_dir == Path("/srv/smartcity/spool")
    assert settings.batch_size == 250
    assert settings.log_format == "json"


def test_an_empty_influx_url_means_the_embedded_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SC_INFLUX_URL", "")

    assert load_settings().influx_url is None


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SC_SITE", "from-env")

    assert load_settings(site="from-code").site == "from-code"


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("SC_HTTP_PORT", "abc", "valid integer"),
        ("SC_HTTP_PORT", "70000", "less than or equal to 65535"),
        ("SC_SITE", "bad site", "must match"),
        ("SC_MQTT_URL", "http://x", "scheme must be mqtt://"),
        ("SC_MQTT_URL", "mqtt://", "no host"),
        ("SC_MQTT_PROTOCOL", "3", "must be 4"),
        ("SC_MQTT_SHARE_GROUP", "a/b", "must match"),
        ("SC_INFLUX_URL", "ftp://influx", "http(s)://"),
        ("SC_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("SC_LOG_FORMAT", "xml", "'console' or 'json'"),
        ("SC_CREDENTIAL_HASH_KEY", "short-key", "at least 16 characters"),
        ("SC_VISITOR_PASS_KEY", "x" * 31, "at least 32 characters"),
        ("SC_PUBLIC_BASE_URL", "market.example.cn", "http(s)://host"),
        ("SC_AUTH_SECRET", "x" * 31, "at least 32 characters"),
        ("SC_METRICS_PUBLIC", "perhaps", "valid boolean"),
    ],
)
def test_an_invalid_value_names_its_sc_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, why: str
) -> None:
    message = settings_error(monkeypatch, **{variable: value})

    line = next(line for line in message.splitlines() if variable in line)
    assert why in line


def test_every_invalid_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SC_HTTP_PORT="abc", SC_SITE="bad site", SC_MQTT_PROTOCOL="3")

    assert {"SC_HTTP_PORT", "SC_SITE", "SC_MQTT_PROTOCOL"} <= {
        line.split(":")[0].strip() for line in message.splitlines()[1:]
    }


def test_an_invalid_mqtt_url_error_does_not_show_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SC_MQTT_URL="mqtt//gateway:hunter2@broker.example")

    assert "SC_MQTT_URL" in message
    assert "hunter2" not in message


# -- MqttEndpoint ---------------------------------------------------------------------------------


def test_user_password_host_and_port_are_parsed() -> None:
    endpoint = MqttEndpoint.parse("mqtt://gw:s3cret@broker.example:1884")

    assert endpoint == MqttEndpoint("broker.example", 1884, "gw", "s3cret", tls=False)


@pytest.mark.parametrize(
    ("url", "port", "tls"),
    [("mqtt://b", 1883, False), ("mqtts://b", 8883, True), ("tcp://b", 1883, False), ("ssl://b", 8883, True)],
)
def test_the_default_port_follows_the_scheme(url: str, port: int, tls: bool) -> None:
    endpoint = MqttEndpoint.parse(url)

    assert (endpoint.port, endpoint.tls) == (port, tls)


def test_a_url_without_credentials_has_none() -> None:
    endpoint = MqttEndpoint.parse("mqtt://broker")

    assert (endpoint.username, endpoint.password) == (None, None)
    assert str(endpoint) == "mqtt://broker:1883"


def test_percent_encoded_credentials_are_decoded() -> None:
    endpoint = MqttEndpoint.parse("mqtts://gate%40east:p%40ss%3Aw%2Frd@broker")

    assert (endpoint.username, endpoint.password) == ("gate@east", "p@ss:w/rd")


@given(password=st.text(min_size=1, max_size=30))
def test_any_percent_encoded_password_reads_back(password: str) -> None:
    assert MqttEndpoint.parse(f"mqtt://gw:{quote(password, safe='')}@broker").password == password


def test_str_hides_the_password() -> None:
    endpoint = MqttEndpoint.parse("mqtts://gw:s3cret@broker.example")

    assert str(endpoint) == "mqtts://gw:***@broker.example:8883"


@pytest.mark.parametrize(("url", "why"), [("http://broker", "scheme"), ("mqtt://:1883", "no host")])
def test_urls_that_name_no_broker_are_refused(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        MqttEndpoint.parse(url)


def test_the_access_alarm_thresholds_reach_the_access_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from community.access.service import AccessSettings
    from smartcity.bootstrap import access_settings

    assert access_settings(load_settings()) == AccessSettings()  # the defaults agree with the service's own
    monkeypatch.setenv("SC_ACCESS_DENIAL_THRESHOLD", "3")
    monkeypatch.setenv("SC_ACCESS_DENIAL_WINDOW_S", "30")
    monkeypatch.setenv("SC_ACCESS_DOOR_HELD_OPEN_S", "90")
    monkeypatch.setenv("SC_ACCESS_GATE_OFFLINE_S", "600")
    monkeypatch.setenv("SC_ACCESS_PRESENCE_STALE_H", "12")

    tuned = access_settings(load_settings())

    assert tuned.alarm_rules.denial_threshold == 3
    assert tuned.alarm_rules.denial_window == timedelta(seconds=30)
    assert tuned.alarm_rules.held_open_after == timedelta(seconds=90)
    assert tuned.alarm_rules.offline_after == timedelta(minutes=10)
    assert tuned.resident_presence_stale_after == timedelta(hours=12)


@pytest.mark.parametrize(("name", "value"), [
    ("SC_ACCESS_DENIAL_THRESHOLD", "1"), ("SC_ACCESS_DENIAL_WINDOW_S", "0"), ("SC_ACCESS_DOOR_HELD_OPEN_S", "-5"),
    ("SC_ACCESS_GATE_OFFLINE_S", "soon"), ("SC_ACCESS_PRESENCE_STALE_H", "0"),
])
def test_an_unworkable_alarm_threshold_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    assert name in settings_error(monkeypatch, **{name: value})


def test_the_live_feed_share_per_account_reaches_the_access_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcity.bootstrap import access_settings

    assert access_settings(load_settings()).live_streams_per_account == 4
    monkeypatch.setenv("SC_ACCESS_LIVE_STREAMS_PER_ACCOUNT", "2")
    assert access_settings(load_settings()).live_streams_per_account == 2
    for unworkable in ("0", "101", "many"):
        assert "SC_ACCESS_LIVE_STREAMS_PER_ACCOUNT" in settings_error(
            monkeypatch, SC_ACCESS_LIVE_STREAMS_PER_ACCOUNT=unworkable)


def test_the_cap_on_active_visitor_passes_reaches_the_access_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcity.bootstrap import access_settings

    assert access_settings(load_settings()).max_active_passes == 10
    monkeypatch.setenv("SC_ACCESS_MAX_ACTIVE_PASSES", "3")
    assert access_settings(load_settings()).max_active_passes == 3
    for unworkable in ("0", "-1", "many"):
        assert "SC_ACCESS_MAX_ACTIVE_PASSES" in settings_error(monkeypatch, SC_ACCESS_MAX_ACTIVE_PASSES=unworkable)


def test_trusted_proxies_reach_the_market_service(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipaddress

    monkeypatch.setenv("SC_TRUSTED_PROXIES", " 10.0.0.0/8, ::1 ,")
    settings = load_settings()

    assert settings.trusted_proxy_list == ("10.0.0.0/8", "::1")
    assert load_settings(trusted_proxies="").trusted_proxy_list == ()
    from market.service import MarketSettings

    networks = MarketSettings(trusted_proxies=settings.trusted_proxy_list).trusted_proxy_networks
    assert networks == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"))


def test_a_trusted_proxy_that_is_no_address_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SC_TRUSTED_PROXIES="10.0.0.0/8,proxy.example")

    assert "SC_TRUSTED_PROXIES" in message and "proxy.example" in message


def test_the_http_body_limit_is_a_setting_with_room_for_a_20000_unit_roll(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().http_max_body_bytes == 16 * 1024**2
    monkeypatch.setenv("SC_HTTP_MAX_BODY_BYTES", "1048576")
    assert load_settings().http_max_body_bytes == 1024**2
    for unworkable in ("1000", "2000000000", "16M"):
        assert "SC_HTTP_MAX_BODY_BYTES" in settings_error(monkeypatch, SC_HTTP_MAX_BODY_BYTES=unworkable)
    assert "SC_HTTP_MAX_BODY_BYTES" in settings_help()
