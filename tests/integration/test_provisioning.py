"""`smartcity provision` files in a real Mosquitto: each device may use only its own topics."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.processors.points import Measurement
from smartcity.bootstrap import build_gateway
from tests.integration.conftest import wait_until_subscribed
from tests.integration.helpers import gate_event, wait_for_count
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

SMARTCITY = str(Path(sys.executable).parent / "smartcity")


@pytest.fixture
def provisioned(tmp_path: Path) -> dict[str, str]:
    out = tmp_path / "mosquitto"
    environment = dict(os.environ, SC_SITE="demo")
    subprocess.run([SMARTCITY, "provision", "--gates", "2", "--scales", "1", "--out", str(out)],
                   env=environment, check=True, capture_output=True)
    assert oct((out / "credentials.csv").stat().st_mode)[-3:] == "600"
    with (out / "credentials.csv").open() as handle:
        return {row["username"]: row["password"] for row in csv.DictReader(handle)} | {"dir": str(out)}


@pytest.fixture
def secured_broker(provisioned: dict[str, str]) -> Iterator[Mosquitto]:
    folder = provisioned["dir"]
    server = Mosquitto(anonymous=False,
                       extra_config=f"password_file {folder}/passwd\nacl_file {folder}/acl\n")
    server.start()
    yield server
    server.cleanup()


def client(broker: Mosquitto, username: str, password: str) -> paho.Client:
    mqtt = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{username}-test", protocol=MQTTProtocolVersion.MQTTv5)
    mqtt.username_pw_set(username, password)
    return mqtt


def connect(mqtt: paho.Client, broker: Mosquitto) -> int:
    connected = threading.Event()
    outcome: list[int] = []

    def on_connect(_c: paho.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        outcome.append(getattr(reason, "value", 0))
        connected.set()

    mqtt.on_connect = on_connect
    mqtt.connect("127.0.0.1", broker.port)
    mqtt.loop_start()
    assert connected.wait(5)
    return outcome[0]


def publish_result(mqtt: paho.Client, topic: str) -> int:
    """The PUBACK reason code (MQTT 5): 0 success, 16 accepted but nobody subscribed, 135 not authorised."""
    done = threading.Event()
    codes: list[int] = []

    def on_publish(_c: paho.Client, _u: object, _mid: int, reason: object, _p: object) -> None:
        codes.append(getattr(reason, "value", 0))
        done.set()

    mqtt.on_publish = on_publish
    mqtt.publish(topic, gate_event("e1"), qos=1)
    assert done.wait(5)
    return codes[0]


def test_a_device_publishes_its_own_topics_and_is_refused_everything_else(
    secured_broker: Mosquitto, provisioned: dict[str, str]
) -> None:
    gate = client(secured_broker, "gate-01", provisioned["gate-01"])
    assert connect(gate, secured_broker) == 0
    try:
        assert publish_result(gate, "sc/v1/demo/gate/gate-01/event") in (0, 16)
        assert publish_result(gate, "sc/v1/demo/gate/gate-02/event") == 135, "another gate's events"
        assert publish_result(gate, "sc/v1/demo/scale/scale-01/record") == 135, "a scale's sales"
        assert publish_result(gate, "sc/v1/demo/gate/gate-01/cmd") == 135, "commands come from services"
        # Mosquitto grants any SUBSCRIBE and applies read rights at delivery: gate-01 listens on
        # both gates' command topics and must hear only its own.
        heard: list[str] = []
        subscribed = threading.Event()
        gate.on_message = lambda _c, _u, message: heard.append(message.topic)
        gate.on_subscribe = lambda *_: subscribed.set()
        gate.subscribe([("sc/v1/demo/gate/gate-01/cmd", 1), ("sc/v1/demo/gate/gate-02/cmd", 1)])
        assert subscribed.wait(5)
        services = client(secured_broker, "services", provisioned["services"])
        assert connect(services, secured_broker) == 0
        try:
            assert publish_result(services, "sc/v1/demo/gate/gate-02/cmd") in (0, 16)
            assert publish_result(services, "sc/v1/demo/gate/gate-01/cmd") == 0
        finally:
            services.disconnect()
            services.loop_stop()
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        assert heard == ["sc/v1/demo/gate/gate-01/cmd"]
    finally:
        gate.disconnect()
        gate.loop_stop()


def test_a_wrong_password_is_refused(secured_broker: Mosquitto, provisioned: dict[str, str]) -> None:
    intruder = client(secured_broker, "gate-01", provisioned["gate-02"])
    try:
        assert connect(intruder, secured_broker) == 135  # not authorised
    finally:
        intruder.loop_stop()


async def test_the_gateway_user_reads_every_device_through_the_acl(
    secured_broker: Mosquitto, provisioned: dict[str, str], settings_for  # type: ignore[no-untyped-def]
) -> None:
    url = f"mqtt://gateway:{provisioned['gateway']}@127.0.0.1:{secured_broker.port}"
    gateway = build_gateway(settings_for(secured_broker, mqtt_url=url, site="demo", mqtt_share_group="gateways"))
    await gateway.start()
    await wait_until_subscribed(gateway)
    try:
        scale = client(secured_broker, "gate-02", provisioned["gate-02"])
        assert connect(scale, secured_broker) == 0
        assert publish_result(scale, "sc/v1/demo/gate/gate-02/event") == 0  # the gateway subscribes
        scale.disconnect()
        scale.loop_stop()
        await wait_for_count(gateway.store, Measurement.GATE_EVENT, 1)
    finally:
        await gateway.stop()


def test_the_demos_two_sites_are_provisioned_and_simulated_each_device_as_its_own_user(tmp_path: Path) -> None:
    """What the compose stack runs: `provision --demo` and `simulate --demo` (the north site beside the main one)."""
    out = tmp_path / "mosquitto"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {"SC_SITE": "demo"}
    subprocess.run([SMARTCITY, "provision", "--gates", "2", "--scales", "1", "--demo", "--out", str(out)],
                   env=environment, check=True, capture_output=True)
    with (out / "credentials.csv").open() as handle:
        users = {row["username"]: row for row in csv.DictReader(handle)}
    assert {"north-gate-01", "north-gate-02", "north-scale-01", "gate-01", "gate-02", "scale-01"} <= set(users)
    broker = Mosquitto(anonymous=False, extra_config=f"password_file {out}/passwd\nacl_file {out}/acl\n")
    broker.start()
    try:
        listener = client(broker, "gateway", users["gateway"]["password"])
        assert connect(listener, broker) == 0
        heard: list[str] = []
        subscribed = threading.Event()
        listener.on_message = lambda _c, _u, message: heard.append(message.topic)
        listener.on_subscribe = lambda *_: subscribed.set()
        listener.subscribe("sc/v1/#", qos=1)
        assert subscribed.wait(5)
        simulated = subprocess.run(
            [SMARTCITY, "simulate", "--gates", "2", "--scales", "1", "--demo", "--seed", "7", "--rate", "40",
             "--duration", "3", "--credentials", str(out / "credentials.csv")],
            env=environment | {"SC_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}"}, capture_output=True, text=True,
            timeout=60)
        assert simulated.returncode == 0, simulated.stderr
        time.sleep(0.5)
        listener.disconnect()
        listener.loop_stop()
    finally:
        broker.cleanup()
    assert "published (demo):" in simulated.stdout and "published (demo-north):" in simulated.stdout
    assert simulated.stdout.count("dropped=0") == 2, f"every device's messages reached the broker: {simulated.stdout}"
    devices = {tuple(topic.split("/")[2:5]) for topic in heard}
    assert ("demo", "gate", "gate-01") in devices and ("demo-north", "gate", "north-gate-01") in devices, devices
    assert any(site == "demo-north" and kind == "scale" for site, kind, _ in devices), devices
