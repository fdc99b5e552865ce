"""The access log's retention setting: SC_ACCESS_LOG_RETENTION_DAYS (default 180 days, 0 keeps everything forever)
reaches the access service, and a retention that cannot work fails at start-up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from community.access.service import AccessSettings
from config.settings import SettingsError, load_settings
from smartcity.bootstrap import access_settings


def test_the_retention_reaches_the_access_service(monkeypatch: pytest.MonkeyPatch) -> None:
    assert access_settings(load_settings()).log_retention == timedelta(days=180)
    monkeypatch.setenv("SC_ACCESS_LOG_RETENTION_DAYS", "30")
    assert access_settings(load_settings()).log_retention == timedelta(days=30)
    monkeypatch.setenv("SC_ACCESS_LOG_RETENTION_DAYS", "0")
    assert access_settings(load_settings()).log_retention is None, "0: kept forever"


@pytest.mark.parametrize("unworkable", ["-1", "36501", "half a year"])
def test_an_unworkable_retention_names_its_variable(monkeypatch: pytest.MonkeyPatch, unworkable: str) -> None:
    monkeypatch.setenv("SC_ACCESS_LOG_RETENTION_DAYS", unworkable)
    with pytest.raises(SettingsError, match="SC_ACCESS_LOG_RETENTION_DAYS"):
        load_settings()


def test_a_retention_of_no_time_is_refused() -> None:
    with pytest.raises(ValueError, match="log_retention"):
        AccessSettings(log_retention=timedelta(0))
    with pytest.raises(ValueError, match="purge_every"):
        AccessSettings(purge_every=timedelta(0))
