"""The secrets docker-compose.yml ships so that ``docker compose up`` runs a local demo. They are public (they are
in the repository), so an installation started with one of them has no secret at all: start-up refuses them,
naming the variable, unless SC_DEMO_SECRETS=true says this is that demo. tests/unit/test_compose.py keeps
:data:`COMPOSE_SAMPLE_SECRETS` equal to what the compose file holds."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from config.settings import Settings  # the settings module calls in here: no import at run time

COMPOSE_SAMPLE_SECRETS = frozenset({
    "change-me-in-production",  # SC_CREDENTIAL_HASH_KEY
    "change-me-in-production-visitor-pass-key-0001",  # SC_VISITOR_PASS_KEY
    "change-me-in-production-token-signing-secret-0001",  # SC_AUTH_SECRET
    "gateway-dev-password",  # the broker's gateway user (BROKER_GATEWAY_PASSWORD, SC_MQTT_URL)
    "services-dev-password",  # the broker's services user (BROKER_SERVICES_PASSWORD, SC_MQTT_URL)
    "smartcity-dev-password",  # PostgreSQL (SC_DATABASE_URL)
    "smartcity-dev-token",  # InfluxDB's admin token (SC_INFLUX_TOKEN)
    "smartcity-admin",  # InfluxDB's and Grafana's admin password (SC_INFLUX_PASSWORD if one used it)
})

REFUSAL = ("is a sample secret from docker-compose.yml, known to anyone: set one of your own "
           "(SC_DEMO_SECRETS=true accepts it for a local demo, never in production)")


def is_sample_secret(value: str | None) -> bool:
    return value is not None and value in COMPOSE_SAMPLE_SECRETS


def sample_secret_refusals(settings: Settings) -> list[str]:
    """One line per SC_ variable holding a sample secret, naming it (not the value); none when
    SC_DEMO_SECRETS is set."""
    if settings.demo_secrets:
        return []
    refusals = []
    for variable, value in _secrets(settings):
        if is_sample_secret(value):
            refusals.append(f"{variable}: {REFUSAL}")
    return refusals


def _secrets(settings: Settings) -> list[tuple[str, str | None]]:
    return [
        ("SC_AUTH_SECRET", _revealed(settings.auth_secret)),
        ("SC_CREDENTIAL_HASH_KEY", _revealed(settings.credential_hash_key)),
        ("SC_VISITOR_PASS_KEY", _revealed(settings.visitor_pass_key)),
        ("SC_INFLUX_TOKEN", _revealed(settings.influx_token)),
        ("SC_INFLUX_PASSWORD", _revealed(settings.influx_password)),
        ("SC_MQTT_URL (its password)", _url_password(settings.mqtt_url)),
        ("SC_DATABASE_URL (its password)", _url_password(settings.database_url)),
    ]


def _revealed(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _url_password(url: str) -> str | None:
    try:
        password = urlsplit(url).password
    except ValueError:  # not a URL with a port that parses: it carries no password we can read
        return None
    return unquote(password) if password else None
