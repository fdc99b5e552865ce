"""Broker credentials: Mosquitto's password format and an ACL that confines each device."""

from __future__ import annotations

import base64
import hashlib

import pytest

from devices.provisioning import (
    GATEWAY_USER,
    SERVICES_USER,
    CredentialsFileError,
    acl_file,
    bound_client_id,
    credentials_csv,
    device_credentials,
    device_users,
    mosquitto_password_line,
    password_file,
)
from messaging.embedded_broker import access_config


def test_password_line_is_mosquittos_pbkdf2_sha512_format() -> None:
    salt = bytes(range(12))
    line = mosquitto_password_line("gate-01", "s3cret", salt, iterations=101)
    username, rest = line.split(":", 1)
    _, scheme, iterations, encoded_salt, encoded_hash = rest.split("$")
    assert (username, scheme, iterations) == ("gate-01", "7", "101")
    assert base64.b64decode(encoded_salt) == salt
    assert base64.b64decode(encoded_hash) == hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101, 64)


def test_every_user_gets_a_distinct_password_and_a_fresh_salt() -> None:
    users = device_users("demo", gates=3, scales=2)
    assert [u.username for u in users] == ["gate-01", "gate-02", "gate-03", "scale-01", "scale-02",
                                           GATEWAY_USER, SERVICES_USER]
    assert len({u.password for u in users}) == len(users)
    salts = [line.split("$")[3] for line in password_file(users).splitlines()]
    assert len(set(salts)) == len(users)


def test_acl_confines_each_device_to_its_own_topics() -> None:
    users = device_users("demo", gates=1, scales=1, token=lambda n: "x" * n)
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in acl_file(users).split("\n\n")[1:] if block}
    assert blocks["user gate-01"] == [
        "topic write sc/v1/demo/gate/gate-01/event",
        "topic write sc/v1/demo/gate/gate-01/state",
        "topic write sc/v1/demo/gate/gate-01/ack",
        "topic read sc/v1/demo/gate/gate-01/cmd",
    ]
    assert "topic write sc/v1/demo/scale/scale-01/record" in blocks["user scale-01"]
    assert blocks["user gateway"] == ["topic read sc/v1/#"]
    assert blocks["user services"] == ["topic read sc/v1/#", "topic write sc/v1/+/+/+/cmd"]


def test_credentials_csv_lists_every_user_once() -> None:
    users = device_users("demo", gates=2, scales=0, token=lambda n: "pw")
    assert credentials_csv(users).splitlines() == [
        "site,kind,username,password",
        "demo,gate,gate-01,pw",
        "demo,gate,gate-02,pw",
        "demo,gateway,gateway,pw",
        "demo,services,services,pw",
    ]


def test_the_simulator_reads_each_devices_own_credentials_back() -> None:
    users = device_users("demo", gates=2, scales=1, gateway_password="gw-pass", services_password="svc-pass")
    credentials = device_credentials(credentials_csv(users))
    assert set(credentials) == {"gate-01", "gate-02", "scale-01"}, "gateway and services users are not devices"
    assert credentials["gate-02"] == ("gate-02", next(u.password for u in users if u.username == "gate-02"))
    assert {u.username: u.password for u in users}[GATEWAY_USER] == "gw-pass"
    assert {u.username: u.password for u in users}[SERVICES_USER] == "svc-pass"


def test_a_broken_credentials_file_says_which_line() -> None:
    with pytest.raises(CredentialsFileError, match="line 1"):
        device_credentials("username,password\n")
    with pytest.raises(CredentialsFileError, match="line 3"):
        device_credentials("site,kind,username,password\ndemo,gate,gate-01,x\ndemo,gate,gate-02\n")


def test_the_embedded_broker_enforces_the_rights_of_the_mosquitto_acl() -> None:
    users = device_users("demo", gates=2, scales=1)
    rights: dict[str, set[str]] = {}
    for block in acl_file(users).split("\n\n")[1:]:
        if block:
            user, *rules = block.splitlines()
            rights[user.removeprefix("user ")] = set(rules)
    config = access_config(users)
    assert config["passwords"] == {user.username: user.password for user in users}
    assert {username: {f"topic write {p}" for p in config["publish"][username]}
            | {f"topic read {p}" for p in config["read"][username]} for username in config["passwords"]} == rights
    assert config["publish"][GATEWAY_USER] == [], "the gateway reads; it commands nothing"


def test_devices_connect_under_their_own_id_and_the_platform_under_any() -> None:
    users = {user.username: user for user in device_users("demo", gates=1, scales=1)}
    assert bound_client_id(users["gate-01"]) == "gate-01"
    assert bound_client_id(users["scale-01"]) == "scale-01"
    assert bound_client_id(users[GATEWAY_USER]) is None  # several gateways share the user, each its own id
    assert bound_client_id(users[SERVICES_USER]) is None
    assert access_config(list(users.values()))["client_ids"] == {"gate-01": "gate-01", "scale-01": "scale-01"}
