"""The compose stack, checked statically: no Docker engine runs on the test machines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_every_service_has_an_image_or_a_build_that_exists() -> None:
    for name, service in compose()["services"].items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists(), name


def test_every_sc_variable_is_a_real_setting_and_validates() -> None:
    known = {f"SC_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose()["services"].items():
        environment = service.get("environment", {})
        unknown = {key for key in environment if key.startswith("SC_")} - known
        assert not unknown, f"{name}: {unknown}"
        values = {key[3:].lower(): value for key, value in environment.items() if key.startswith("SC_")}
        Settings(**values)


def test_mounted_files_exist_and_published_ports_are_distinct() -> None:
    published = []
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
        published += [port.split(":")[0] for port in service.get("ports", [])]
    assert len(published) == len(set(published))


def test_gateways_share_a_group_with_distinct_client_ids() -> None:
    services = compose()["services"]
    gateways = [s for s in services.values() if s.get("command") == ["gateway"]]
    assert len(gateways) == 2
    assert {g["environment"]["SC_MQTT_SHARE_GROUP"] for g in gateways} == {"gateways"}
    assert len({g["environment"]["SC_MQTT_CLIENT_ID"] for g in gateways}) == 2
    assert all(g["environment"]["SC_INFLUX_DB"] == services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_BUCKET"]
               for g in gateways)


def test_every_smartcity_command_and_option_in_the_stack_exists() -> None:
    from smartcity.cli import main

    for name, service in compose()["services"].items():
        if service.get("build") != "." or "entrypoint" in service:
            continue
        command, *arguments = service["command"]
        assert command in main.commands, f"{name}: no 'smartcity {command}'"
        known = {option for parameter in main.commands[command].params for option in parameter.opts}
        given = {argument for argument in arguments if argument.startswith("--")}
        assert given <= known, f"{name}: unknown options {given - known}"


def test_devices_gateways_and_services_log_in_as_their_provisioned_users() -> None:
    services = compose()["services"]
    provision = services["provision"]
    assert "smartcity provision" in provision["command"][0] and "--out /broker" in provision["command"][0]
    assert provision["volumes"] == ["broker-auth:/broker"]
    mosquitto = services["mosquitto"]
    assert mosquitto["depends_on"]["provision"]["condition"] == "service_completed_successfully"
    assert "broker-auth:/mosquitto/auth:ro" in mosquitto["volumes"]
    config = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "allow_anonymous false" in config
    assert "password_file /mosquitto/auth/passwd" in config and "acl_file /mosquitto/auth/acl" in config
    passwords = provision["environment"]
    for service_name, user, variable in (("gateway-1", "gateway", "BROKER_GATEWAY_PASSWORD"),
                                         ("gateway-2", "gateway", "BROKER_GATEWAY_PASSWORD"),
                                         ("services", "services", "BROKER_SERVICES_PASSWORD")):
        url = services[service_name]["environment"]["SC_MQTT_URL"]
        assert url == f"mqtt://{user}:{passwords[variable]}@mosquitto:1883", service_name
    simulator = services["simulator"]
    assert simulator["command"][simulator["command"].index("--credentials") + 1] == "/broker/credentials.csv"
    assert "broker-auth:/broker:ro" in simulator["volumes"]


def test_the_services_use_postgresql_and_seed_the_simulators_devices() -> None:
    services = compose()["services"]
    postgres = services["postgres"]["environment"]
    url = services["services"]["environment"]["SC_DATABASE_URL"]
    assert url == (f"postgresql+asyncpg://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
                   f"@postgres:5432/{postgres['POSTGRES_DB']}")
    demo, simulator = services["services"]["command"], services["simulator"]["command"]

    def option(command: list[str], name: str) -> str:
        return command[command.index(name) + 1]

    for name in ("--gates", "--scales", "--seed"):
        assert option(demo, name) == option(simulator, name), name
    # the services seed both demo sites: both are simulated, every device with its broker user
    assert "--demo" in demo and "--demo" in simulator and "--demo" in services["provision"]["command"][0]
    keys = ("SC_SITE", "SC_CREDENTIAL_HASH_KEY", "SC_VISITOR_PASS_KEY")
    assert all(services["services"]["environment"][k] == services["simulator"]["environment"][k] for k in keys)


def test_broker_config_keeps_queued_messages_for_absent_gateways() -> None:
    config = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "persistence true" in config
    assert "max_queued_messages 2000000" in config
    assert "max_inflight_messages 40000" in config


def test_grafana_gets_the_provisioned_dashboards_and_the_datasource_settings() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./dashboards/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == "./dashboards/json"
    datasource = (ROOT / "dashboards/provisioning/datasources/influxdb.yml").read_text()
    for variable in ("SC_INFLUX_URL", "SC_INFLUX_DB", "SC_INFLUX_TOKEN"):
        assert "${" + variable + "}" in datasource
        assert variable in grafana["environment"]


def _container_port(service: dict[str, Any]) -> set[int]:
    return {int(port.split(":")[-1]) for port in service.get("ports", [])}


def test_each_published_port_reaches_what_listens_inside() -> None:
    services = compose()["services"]
    for name, service in services.items():
        environment = service.get("environment", {})
        if "SC_HTTP_PORT" in environment:  # the gateways and the services
            assert _container_port(service) == {int(environment["SC_HTTP_PORT"])}, name
            assert environment["SC_HTTP_HOST"] == "0.0.0.0", f"{name} must listen beyond the container"
    assert _container_port(services["influxdb"]) == {8086}
    assert _container_port(services["grafana"]) == {3000}
    config = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    listeners = {int(line.split()[1]) for line in config.splitlines() if line.startswith("listener ")}
    assert _container_port(services["mosquitto"]) <= listeners


def test_every_client_of_a_server_names_it_by_service_and_the_port_it_listens_on() -> None:
    from urllib.parse import urlsplit

    services = compose()["services"]
    config = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    listeners = {int(line.split()[1]) for line in config.splitlines() if line.startswith("listener ")}
    for name, service in services.items():
        environment = service.get("environment", {})
        if "SC_MQTT_URL" in environment:
            url = urlsplit(environment["SC_MQTT_URL"])
            assert url.hostname == "mosquitto" and url.port in listeners, name
            assert "mosquitto" in service["depends_on"], name
        if "SC_INFLUX_URL" in environment:
            url = urlsplit(environment["SC_INFLUX_URL"])
            assert (url.hostname, url.port) == ("influxdb", 8086), name
            assert "influxdb" in service["depends_on"], name


def test_everyone_writing_or_reading_influxdb_uses_its_initial_token_and_bucket() -> None:
    services = compose()["services"]
    influx = services["influxdb"]["environment"]
    readers = [name for name, service in services.items() if "SC_INFLUX_URL" in service.get("environment", {})]
    assert set(readers) == {"gateway-1", "gateway-2", "services", "grafana"}
    for name in readers:
        environment = services[name]["environment"]
        assert environment["SC_INFLUX_TOKEN"] == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"], name
        assert environment["SC_INFLUX_DB"] == influx["DOCKER_INFLUXDB_INIT_BUCKET"], name


def test_influxdb_setup_maps_the_v1_database_onto_the_bucket() -> None:
    import subprocess

    influx = compose()["services"]["influxdb"]
    assert influx["environment"]["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert {"DOCKER_INFLUXDB_INIT_ORG", "DOCKER_INFLUXDB_INIT_BUCKET"} <= influx["environment"].keys()
    assert "./deploy/influxdb/init:/docker-entrypoint-initdb.d:ro" in influx["volumes"]
    script = ROOT / "deploy/influxdb/init/10-dbrp.sh"
    assert script.stat().st_mode & 0o111, "the image runs the init scripts it may execute"
    subprocess.run(["bash", "-n", str(script)], check=True)  # it parses
    text = script.read_text()
    assert "influx v1 dbrp create" in text
    for flag, variable in (("--bucket-id", "DOCKER_INFLUXDB_INIT_BUCKET_ID"), ("--db", "DOCKER_INFLUXDB_INIT_BUCKET"),
                           ("--org", "DOCKER_INFLUXDB_INIT_ORG")):
        assert f'{flag} "${{{variable}}}"' in text, flag
    assert "--rp autogen" in text and "--default" in text


SECRET_NAMES = re.compile(r"(PASSWORD|TOKEN|SECRET|_KEY)$")


def _shipped_secrets() -> dict[str, set[str]]:
    """Every secret the compose file holds, each with where: variables named as secrets, and URL passwords."""
    shipped: dict[str, set[str]] = {}
    for name, service in compose()["services"].items():
        for variable, value in service.get("environment", {}).items():
            found = str(value) if SECRET_NAMES.search(variable) else urlsplit(str(value)).password
            if found:
                shipped.setdefault(unquote(found), set()).add(f"{name}: {variable}")
    return shipped


def test_start_up_refuses_exactly_the_sample_secrets_compose_ships() -> None:
    from config.sample_secrets import COMPOSE_SAMPLE_SECRETS

    shipped = _shipped_secrets()
    assert {"SC_AUTH_SECRET", "SC_INFLUX_TOKEN", "POSTGRES_PASSWORD", "BROKER_GATEWAY_PASSWORD"} <= {
        where.split(": ")[1] for places in shipped.values() for where in places}, "the extraction finds them"
    assert set(shipped) - COMPOSE_SAMPLE_SECRETS == set(), "a sample compose ships that start-up would accept"
    assert COMPOSE_SAMPLE_SECRETS - set(shipped) == set(), "a refused sample compose no longer ships"


def test_the_smartcity_containers_start_with_the_samples_only_because_they_say_demo() -> None:
    from config.settings import SettingsError, load_settings

    ours = {name: service for name, service in compose()["services"].items() if service.get("build") == "."}
    assert set(ours) >= {"provision", "gateway-1", "gateway-2", "services", "simulator"}
    for name, service in ours.items():
        values = {key[3:].lower(): value for key, value in service["environment"].items() if key.startswith("SC_")}
        assert values.pop("demo_secrets") == "true", name
        load_settings(**values, demo_secrets=True)
        with pytest.raises(SettingsError, match="SC_CREDENTIAL_HASH_KEY"):
            load_settings(**values)
def test_a_staff_token_from_the_services_opens_every_gateways_status_page() -> None:
    services = compose()["services"]
    gateways = [s for s in services.values() if s.get("command") == ["gateway"]]
    secret = services["services"]["environment"]["SC_AUTH_SECRET"]
    assert len(secret) >= 32
    assert all(gateway["environment"]["SC_AUTH_SECRET"] == secret for gateway in gateways)
    assert not any(str(gateway["environment"].get("SC_METRICS_PUBLIC", "false")).lower() in ("true", "1", "yes")
                   for gateway in gateways), "the gateways' ports are published: /metrics stays staff-only"
