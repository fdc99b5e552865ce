"""Start-up refuses the sample secrets docker-compose.yml ships, naming the variable, unless SC_DEMO_SECRETS=true."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from config.sample_secrets import COMPOSE_SAMPLE_SECRETS
from config.settings import SettingsError, load_settings
from smartcity.cli import main

SAMPLES = [
    ("SC_AUTH_SECRET", "change-me-in-production-token-signing-secret-0001", "SC_AUTH_SECRET"),
    ("SC_CREDENTIAL_HASH_KEY", "change-me-in-production", "SC_CREDENTIAL_HASH_KEY"),
    ("SC_VISITOR_PASS_KEY", "change-me-in-production-visitor-pass-key-0001", "SC_VISITOR_PASS_KEY"),
    ("SC_INFLUX_TOKEN", "smartcity-dev-token", "SC_INFLUX_TOKEN"),
    ("SC_INFLUX_PASSWORD", "smartcity-admin", "SC_INFLUX_PASSWORD"),
    ("SC_MQTT_URL", "mqtt://gateway:gateway-dev-password@mosquitto:1883", "SC_MQTT_URL"),
    ("SC_MQTT_URL", "mqtt://services:services-dev-password@mosquitto:1883", "SC_MQTT_URL"),
    ("SC_DATABASE_URL", "postgresql+asyncpg://smartcity:smartcity-dev-password@postgres:5432/smartcity",
     "SC_DATABASE_URL"),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("SC_") or name.startswith("BROKER_"):
            monkeypatch.delenv(name)
    yield


@pytest.mark.parametrize(("variable", "value", "named"), SAMPLES)
def test_a_sample_secret_is_refused_naming_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                                       named: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()

    message = str(refused.value)
    assert named in message and "docker-compose.yml" in message and "SC_DEMO_SECRETS" in message
    assert value not in message, "a URL may carry more than the sample: it is not echoed"


@pytest.mark.parametrize(("variable", "value", "named"), SAMPLES)
def test_a_sample_secret_is_accepted_for_the_demo(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                                 named: str) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("SC_DEMO_SECRETS", "true")

    load_settings()


def test_every_sample_secret_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(auth_secret="change-me-in-production-token-signing-secret-0001",
                      credential_hash_key="change-me-in-production")
    assert "SC_AUTH_SECRET" in str(refused.value) and "SC_CREDENTIAL_HASH_KEY" in str(refused.value)


def test_own_secrets_and_urls_without_a_password_start() -> None:
    load_settings(auth_secret="a" * 40, credential_hash_key="my-own-credential-key",
                  mqtt_url="mqtt://gateway:my-own-password@broker:1883", database_url="sqlite+aiosqlite:///x.db")
    assert all(len(sample) >= 8 for sample in COMPOSE_SAMPLE_SECRETS)


def test_a_command_with_a_sample_secret_stops_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SC_AUTH_SECRET", "change-me-in-production-token-signing-secret-0001")
    result = CliRunner().invoke(main, ["token", "issue", "--subject", "admin", "--role", "admin"])

    assert result.exit_code != 0 and "SC_AUTH_SECRET" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), "a message, not a traceback"


def test_provision_refuses_the_sample_broker_passwords_unless_for_the_demo(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BROKER_GATEWAY_PASSWORD", "gateway-dev-password")
    arguments = ["provision", "--gates", "1", "--scales", "0", "--out", f"{tmp_path}/broker"]
    refused = CliRunner().invoke(main, arguments)
    assert refused.exit_code != 0 and "BROKER_GATEWAY_PASSWORD" in refused.output

    monkeypatch.setenv("SC_DEMO_SECRETS", "true")
    accepted = CliRunner().invoke(main, arguments)
    assert accepted.exit_code == 0, accepted.output
