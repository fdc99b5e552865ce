"""Typed settings from ``SC_`` environment variables (pydantic-settings), validated at start-up.

This is the only place that reads the environment; everything else gets a :class:`Settings`.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.sample_secrets import sample_secret_refusals
from devices.topics import IDENTIFIER


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            # name only the scheme: the rest of a URL may hold a password
            scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
            raise ValueError(f"scheme must be mqtt:// or mqtts://, got {scheme}")
        if not parts.hostname:
            raise ValueError("the URL names no host")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class Settings(BaseSettings):
    """Every setting, its ``SC_`` variable and its default; ``smartcity --help`` lists them."""

    model_config = SettingsConfigDict(env_prefix="SC_", extra="ignore", frozen=True)

    site: str = Field("demo", description="Site id of this installation (topic segment {site})")
    mqtt_url: str = Field(
        "embedded", description="mqtt://user:pass@host:port, mqtts://..., or 'embedded' for the in-process broker"
    )
    mqtt_client_id: str = Field(
        default_factory=lambda: f"sc-gateway-{socket.gethostname()}"[:64],
        description="Client id of the gateway's persistent session; unique per gateway process",
    )
    mqtt_share_group: str = Field(
        "", description="Shared-subscription group ($share/<group>/...) so gateways split one stream; empty: none"
    )
    gateway_workers: int = Field(
        1, ge=1, le=64, description="Gateway processes ('smartcity gateway --workers'): more than 1 runs them in one "
        "shared-subscription group behind one HTTP port (needs SC_MQTT_URL and SC_INFLUX_URL); 1: one process"
    )
    mqtt_protocol: int = Field(4, description="MQTT protocol level: 4 (3.1.1) or 5")
    mqtt_session_expiry_s: int = Field(7 * 24 * 3600, ge=60, description="MQTT 5 session expiry")
    mqtt_receive_maximum: int = Field(
        40_000, ge=1, le=65_535, description="MQTT 5 Receive Maximum: unacknowledged messages in flight"
    )
    mqtt_keepalive_s: int = Field(30, ge=1, le=3600, description="MQTT keep-alive interval")
    embedded_mqtt_port: int = Field(1883, ge=0, le=65_535, description="Port of the in-process broker")
    influx_url: str | None = Field(None, description="http(s)://host:port of InfluxDB; unset: embedded store")
    influx_db: str = Field("smartcity", description="InfluxDB database (2.x/3.x: bucket via DBRP)")
    influx_user: str | None = Field(None, description="InfluxDB 1.x user")
    influx_password: SecretStr | None = Field(None, description="InfluxDB 1.x password")
    influx_token: SecretStr | None = Field(None, description="InfluxDB 2.x/3.x token")
    influx_create_db: bool = Field(True, description="Issue CREATE DATABASE at start (1.x; harmless elsewhere)")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/smartcity.db", description="SQLAlchemy URL of the relational database"
    )
    data_dir: Path = Field(Path("var"), description="Where embedded stores, the spool and keys live")
    public_base_url: str | None = Field(
        None, description="https://... the public pages are reached at (QR codes, EPCIS ids); unset: the request's host"
    )
    trusted_proxies: str = Field(
        "", description="Comma-separated reverse proxies (addresses or networks) whose X-Forwarded-For names the "
        "client for per-client limits and whose X-Forwarded-Proto makes cookies Secure; empty: none"
    )
    secure_cookies: Literal["auto", "always"] = Field(
        "auto", description="auto: the pages' cookies are Secure when the request came over https (directly, or "
        "through SC_TRUSTED_PROXIES saying X-Forwarded-Proto: https); always: on every response (always behind TLS)"
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP server binds")
    http_port: int = Field(8080, ge=0, le=65_535, description="Port of the status page, API and /metrics")
    http_max_body_bytes: int = Field(
        16 * 1024**2, ge=64 * 1024, le=1024**3,
        description="Largest HTTP request body taken (a 20,000-unit voting roll is about 3 MiB); larger: 413",
    )
    market_max_scan_bytes: int = Field(
        5 * 1024**2, ge=64 * 1024, le=64 * 1024**2,
        description="Largest scan or photo of a vendor's licence taken (JPEG, PNG or PDF by content); larger: refused "
        "with a message. Kept under SC_DATA_DIR/market-scans/<site>/, files 0600",
    )
    market_complaint_days: int = Field(
        7, ge=1, le=60, description="Days a market's operators have to answer a shopper's complaint (its deadline)")
    market_max_complaint_photo_bytes: int = Field(
        5 * 1024**2, ge=64 * 1024, le=64 * 1024**2,
        description="Largest photo a shopper's complaint takes (JPEG or PNG by content); larger: refused with a "
        "message. Kept under SC_DATA_DIR/market-complaints/<site>/, files 0600",
    )
    batch_size: int = Field(5000, ge=1, le=100_000, description="Points per write; a batch flushes when full")
    batch_interval_ms: int = Field(100, ge=1, le=60_000, description="...or when its oldest point is this old")
    max_batches_in_flight: int = Field(4, ge=1, le=64, description="Batches written at once; more pauses MQTT")
    max_payload_bytes: int = Field(64 * 1024, ge=64, description="Larger payloads are dead-lettered")
    dead_letter_payload_bytes: int = Field(4096, ge=0, le=60_000, description="Raw payload kept per dead letter")
    write_retries: int = Field(3, ge=0, description="Immediate retries of a failed write before spooling")
    write_timeout_s: float = Field(10.0, gt=0, description="Timeout of one write to InfluxDB")
    spool_max_bytes: int = Field(1024**3, ge=1024, description="On-disk spool bound; when full, stop acking")
    stats_interval_s: float = Field(10.0, gt=0, le=3600, description="How often the gateway stores its own counters")
    http_tokens_file: Path | None = Field(
        None, description="Device tokens for HTTP ingestion (the http-tokens file 'smartcity provision' writes, salted "
        "hashes); unset: POST /ingest/v1/... refuses every device (401)",
    )
    http_ingest_max_body_bytes: int = Field(
        256 * 1024, ge=1024, le=16 * 1024**2, description="Largest HTTP ingestion body (one message or an array); "
        "larger: 413",
    )
    http_ingest_max_messages: int = Field(100, ge=1, le=10_000, description="Messages in one HTTP ingestion array")
    http_ingest_wait_s: float = Field(
        10.0, gt=0, le=300, description="How long an HTTP ingestion call waits for its batch to be durable; longer: "
        "429 (send again)",
    )
    http_ingest_retry_after_s: int = Field(5, ge=1, le=3600, description="Retry-After of an HTTP ingestion 429")
    credential_hash_key: SecretStr | None = Field(
        None, description="Key for hashing credentials; unset: generated once under SC_DATA_DIR"
    )
    visitor_pass_key: SecretStr | None = Field(
        None, description="Key signing visitor QR passes, shared with the gates (32+ bytes); unset: generated"
    )
    service_tick_s: float = Field(
        2.0, gt=0, le=60, description="How often the services retry commands and check timeouts and offline gates"
    )
    access_denial_threshold: int = Field(
        5, ge=2, le=1000, description="Denials at one door within SC_ACCESS_DENIAL_WINDOW_S that raise an alarm"
    )
    access_denial_window_s: float = Field(120.0, gt=0, le=86_400, description="Window of the repeated-denials alarm")
    access_door_held_open_s: float = Field(
        60.0, gt=0, le=86_400, description="A door open longer than this raises a door-held-open alarm"
    )
    access_gate_offline_s: float = Field(
        300.0, gt=0, le=7 * 86_400, description="A gate offline (or never heard from) longer raises an alarm"
    )
    access_presence_stale_h: float = Field(
        24.0, gt=0, le=24 * 365, description="A resident last seen entering longer ago no longer counts as inside"
    )
    access_live_streams_per_account: int = Field(
        4, ge=1, le=100, description="Live-feed streams one account holds at once (API and console together); "
        "a newer one ends its oldest"
    )
    access_max_active_passes: int = Field(
        10, ge=1, le=1000, description="Visitor passes one resident may hold active at once (unexpired, unrevoked, "
        "uses left); another invitation is refused until one ends"
    )
    access_log_retention_days: int = Field(
        180, ge=0, le=36_500, description="Days the access log keeps gate events, presence, visitors' names and phones "
        "on ended passes and resolved alarms before the hourly purge removes them (PIPL); 0 keeps them forever "
        "(warned at start)"
    )
    notify_smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications; unset: no e-mail")
    notify_smtp_port: int = Field(587, ge=1, le=65_535, description="SMTP port (587 STARTTLS, 465 implicit TLS)")
    notify_smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS")
    notify_smtp_implicit_tls: bool = Field(False, description="Connect to SMTP over TLS from the start (port 465)")
    notify_smtp_user: str | None = Field(None, description="SMTP user name; unset: no authentication")
    notify_smtp_password: SecretStr | None = Field(None, description="SMTP password")
    notify_smtp_ca_file: Path | None = Field(
        None, description="CA certificates (PEM) the SMTP server's certificate is checked against; unset: the "
        "system's (a relay with a certificate of an internal CA)")
    notify_mail_from: str = Field("smartcity@localhost", description="From address of notification e-mails")
    notify_sms_url_template: str | None = Field(
        None, description="The SMS provider's URL, with $phone, $text, $key substituted (URL-encoded); unset: no SMS")
    notify_sms_method: Literal["GET", "POST"] = Field("POST", description="HTTP method of the SMS provider's call")
    notify_sms_body_template: str = Field(
        '{"phone": "$phone", "text": "$text", "id": "$key"}',
        description="Body of the SMS provider's call, with $phone, $text, $key substituted (JSON-escaped)")
    notify_sms_content_type: str = Field("application/json", description="Content-Type of the SMS provider's call")
    notify_sms_authorization: SecretStr | None = Field(
        None, description="Authorization header value sent to the SMS provider")
    notify_retry_first_s: float = Field(10.0, gt=0, le=3600, description="First retry of a failed delivery after")
    notify_retry_max_s: float = Field(1800.0, gt=0, le=86_400, description="Longest wait between retries")
    notify_give_up_after_s: float = Field(
        86_400.0, gt=0, le=30 * 86_400, description="A delivery not through this long after it was made is failed "
        "(the delivery log's retry button tries again)")
    notify_coalesce_window_s: float = Field(
        300.0, gt=0, le=86_400, description="Like events (one key) within this window are sent once, then counted "
        "in one summary")
    notify_send_timeout_s: float = Field(10.0, gt=0, le=300, description="Longest wait for one delivery's receiver")
    notify_max_in_flight: int = Field(32, ge=1, le=1000, description="Receivers (lanes) delivered to at once")
    notify_poll_s: float = Field(1.0, gt=0, le=60, description="How often the dispatcher looks for new events")
    notify_allow_private_endpoints: bool = Field(
        False, description="Let webhook URLs point at loopback and link-local addresses (test rigs, intranet)")
    voting_notice_days: int = Field(
        15, ge=0, le=365, description="Days between a vote's public notice and the opening of its voting (Property "
        "Management Regulations Arts. 13-14: 15 days before an owners' assembly meeting); a community may require "
        "more; 0 is for test installations only (warned at start)"
    )
    voting_max_material_bytes: int = Field(
        10 * 1024**2, ge=64 * 1024, le=64 * 1024**2,
        description="Largest meeting material taken (PDF, JPEG or PNG by content); larger: refused with a message. "
        "Kept under SC_DATA_DIR/voting-materials/; SC_HTTP_MAX_BODY_BYTES must be larger for the upload to arrive",
    )
    signin_account_free_failures: int = Field(
        5, ge=1, le=100, description="Failed sign-ins an account may have before each further attempt from a failing "
        "address waits (1 s, doubling up to SC_SIGNIN_ACCOUNT_MAX_DELAY_S)"
    )
    signin_account_max_delay_s: float = Field(
        900.0, ge=1, le=86_400, description="Longest wait between sign-in attempts on an account from failing addresses"
    )
    signin_new_address_spacing_s: float = Field(
        10.0, ge=0, le=3600, description="While an account is slowed, one attempt per this many seconds from an "
        "address that has not been failing (the owner is not locked out by others' guesses)"
    )
    signin_address_failures: int = Field(
        20, ge=1, le=10_000, description="Failed sign-ins from one client address in 15 minutes, whatever the "
        "account, before that address is refused until the oldest is 15 minutes old"
    )
    auth_secret: SecretStr | None = Field(
        None, description="Secret signing the API bearer tokens (32+ bytes); unset: generated under SC_DATA_DIR"
    )
    demo_secrets: bool = Field(
        False, description="Accept the sample secrets docker-compose.yml ships (a local demo; never in production)"
    )
    metrics_public: bool = Field(
        False, description="Serve the gateway's /metrics without a token, for a Prometheus scraper on a private "
        "network; false: a staff bearer token (smartcity token issue) is needed"
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["console", "json"] = Field("console", description="console or json lines")

    @field_validator("credential_hash_key")
    @classmethod
    def _credential_key_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # card numbers are a small space: a short key would make their hashes easy to reverse
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("visitor_pass_key")
    @classmethod
    def _pass_key_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("auth_secret")
    @classmethod
    def _auth_secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # checked here too, so that 'smartcity gateway' (which now checks tokens) names the variable at start-up
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("site")
    @classmethod
    def _site_is_identifier(cls, value: str) -> str:
        if not IDENTIFIER.fullmatch(value):
            raise ValueError("must match [A-Za-z0-9_-]{1,64}")
        return value

    @field_validator("mqtt_share_group")
    @classmethod
    def _group_is_identifier(cls, value: str) -> str:
        if value and not IDENTIFIER.fullmatch(value):
            raise ValueError("must match [A-Za-z0-9_-]{1,64}")
        return value

    @field_validator("mqtt_protocol")
    @classmethod
    def _known_protocol(cls, value: int) -> int:
        if value not in (4, 5):
            raise ValueError("must be 4 (MQTT 3.1.1) or 5 (MQTT 5)")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_parses(cls, value: str) -> str:
        if value != "embedded":
            MqttEndpoint.parse(value)
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_url_parses(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be http(s)://host[:port][/path]")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        for entry in value.split(","):
            if entry.strip():
                ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the entry's fault
        return value

    @property
    def trusted_proxy_list(self) -> tuple[str, ...]:
        return tuple(entry.strip() for entry in self.trusted_proxies.split(",") if entry.strip())

    @field_validator("influx_url")
    @classmethod
    def _influx_url_parses(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # the value is not echoed: it may carry a password
            raise ValueError("must be http(s)://host:port (credentials go in SC_INFLUX_USER/PASSWORD or TOKEN)")
        return value.rstrip("/")

    @property
    def embedded_mqtt(self) -> bool:
        return self.mqtt_url == "embedded"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


class SettingsError(Exception):
    """Settings that cannot start the system; the message names each ``SC_`` variable at fault."""


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for item in error.errors(include_url=False):
            name = "SC_" + "_".join(str(part) for part in item["loc"]).upper()
            lines.append(f"  {name}: {item['msg']}")
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None
    if refusals := sample_secret_refusals(settings):
        raise SettingsError("invalid settings:\n" + "\n".join(f"  {line}" for line in refusals))
    return settings


def settings_help() -> str:
    """One line per setting: variable, default, description."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default if field.default_factory is None else "(computed)"
        if default is None:
            default = "unset"
        rows.append(f"  SC_{name.upper():<28} {field.description} [default: {default}]")
    return "\n".join(rows)
