"""The console script documents its settings and refuses bad ones with the variable's name."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from accounts.organisations import OrganisationKind
from smartcity.cli import KIND_CHOICE, ROLE_CHOICE, main
from webkit.identity import Role


def test_help_lists_every_setting_with_its_variable() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for variable in ("SC_MQTT_URL", "SC_INFLUX_URL", "SC_INFLUX_DB", "SC_INFLUX_USER", "SC_INFLUX_PASSWORD",
                     "SC_INFLUX_TOKEN", "SC_DATABASE_URL", "SC_HTTP_PORT", "SC_SITE", "SC_EMBEDDED_MQTT_PORT"):
        assert variable in result.output


@pytest.mark.parametrize("command", ["run", "gateway", "simulate"])
def test_every_subcommand_has_help_with_the_settings(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "SC_MQTT_URL" in result.output


def test_simulate_has_the_documented_options() -> None:
    output = CliRunner().invoke(main, ["simulate", "--help"]).output
    for option in ("--gates", "--scales", "--rate", "--duration", "--bad-ratio", "--seed"):
        assert option in output


def test_a_bad_setting_is_refused_naming_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SC_HTTP_PORT", "eighty")
    result = CliRunner().invoke(main, ["gateway"])
    assert result.exit_code != 0
    assert "SC_HTTP_PORT" in result.output


@pytest.mark.parametrize(("environment", "needed"), [
    ({"SC_MQTT_URL": "embedded", "SC_INFLUX_URL": "http://127.0.0.1:1"}, "SC_MQTT_URL"),
    ({"SC_MQTT_URL": "mqtt://127.0.0.1:1", "SC_GATEWAY_WORKERS": "3"}, "SC_INFLUX_URL"),
])
def test_several_gateway_workers_need_a_sharing_broker_and_influxdb(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], needed: str
) -> None:
    monkeypatch.delenv("SC_INFLUX_URL", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    arguments = ["gateway"] if "SC_GATEWAY_WORKERS" in environment else ["gateway", "--workers", "2"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code != 0
    assert "--workers" in result.output and needed in result.output


def test_simulate_needs_a_real_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SC_MQTT_URL", "embedded")
    result = CliRunner().invoke(main, ["simulate", "--duration", "1"])
    assert result.exit_code != 0
    assert "SC_MQTT_URL=mqtt://" in result.output


def test_the_role_and_organisation_kind_choices_are_the_accounts_own() -> None:
    assert set(ROLE_CHOICE.choices) == {role.value for role in Role}
    assert set(KIND_CHOICE.choices) == {kind.value for kind in OrganisationKind}


@pytest.mark.parametrize(("command", "options"), [
    (["account", "create"], ["--organisation", "--community", "--market"]),
    (["account", "assign"], ["--organisation", "--community", "--market"]),
    (["account", "unassign"], ["--community", "--market"]),
    (["account", "show"], ["ACCOUNT_ID"]),
    (["org", "create"], ["--name", "--kind", "property_company", "market_operator", "supervision_office"]),
    (["org", "hold"], ["--community", "--market"]),
    (["org", "release"], ["--community", "--market"]),
    (["org", "list"], ["SC_DATABASE_URL"]),
])
def test_the_tenancy_commands_document_their_options(command: list[str], options: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    for option in options:
        assert option in result.output, (command, option)


@pytest.mark.parametrize("command", [["org", "hold", "lvcheng"], ["org", "release", "lvcheng"],
                                     ["account", "assign", "pm-1"], ["account", "unassign", "pm-1"]])
def test_a_tenancy_command_without_a_community_or_market_is_a_usage_error(command: list[str]) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2 and "name at least one --community or --market" in result.output


def test_run_seeds_and_simulates_only_when_told() -> None:
    output = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    assert "--demo" in output and "--simulator / --no-simulator" in output
    assert "with --demo only" in output, "the simulator's default is said"


def test_services_take_the_embedded_broker_and_seed_only_with_demo() -> None:
    output = " ".join(CliRunner().invoke(main, ["services", "--help"]).output.split())
    assert "SC_MQTT_URL=embedded" in output and "--demo" in output


@pytest.mark.parametrize(("arguments", "problem"), [
    (["run", "--uhppote"], "add --demo"),
    (["run", "--demo", "--uhppote", "--gates", "0"], "--gates must be at least 1"),
])
def test_uhppote_stands_in_for_a_demo_gate_only(arguments: list[str], problem: str) -> None:
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2 and problem in result.output
    assert "--uhppote" in CliRunner().invoke(main, ["run", "--help"]).output
