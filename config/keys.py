"""The installation's keys derived from :class:`~config.settings.Settings`: each the configured value, else
one generated once and kept (mode 0600) under the data directory."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from config.local_secrets import configured_or_generated
from config.settings import Settings


def credential_key(settings: Settings) -> bytes:
    """The configured key, else one generated once and kept (mode 0600) under the data directory."""
    configured = settings.credential_hash_key.get_secret_value() if settings.credential_hash_key else None
    return configured_or_generated(configured, settings.data_dir / "credential-hash.key", "SC_CREDENTIAL_HASH_KEY")


GATE_KEY_LABEL = b"smartcity gate site key v1"


def gate_site_key(settings: Settings) -> bytes:
    """The key gates hash what their readers see with: derived from the credential hash key, so one
    setting serves both, yet a key taken out of a stolen controller does not reverse the time
    series' hashes (a different key, and a one-way step from the configured one)."""
    return hmac.new(credential_key(settings), GATE_KEY_LABEL, hashlib.sha256).hexdigest().encode()


def visitor_pass_key(settings: Settings) -> bytes:
    """The key visitor passes are signed with; the gates hold it too, to check passes offline."""
    configured = settings.visitor_pass_key.get_secret_value() if settings.visitor_pass_key else None
    return configured_or_generated(configured, settings.data_dir / "visitor-pass.key", "SC_VISITOR_PASS_KEY")


def load_or_create_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured secret (SC_AUTH_SECRET), else one generated once under the data directory."""
    return configured_or_generated(configured, data_dir / "auth-token.key", "SC_AUTH_SECRET")
