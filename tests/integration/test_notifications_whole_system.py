"""Notifications through the whole running system (issue 14's "done means"): `smartcity services` in its own process
on a fresh data directory, on a real Mosquitto, an aiosmtpd server and a webhook receiver started here; a simulated
gate publishes contract events over MQTT. What the services send is looked at where it arrives."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.contract import GateEventKind
from tests.integration.services_process import (
    COMMUNITY,
    GATE,
    MANAGER,
    MANAGER_EMAIL,
    HookReceiver,
    Installation,
    MailServer,
    gate_publishes,
    services_environment,
    verify,
    wait_until,
)
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def installation(tmp_path: Path, mosquitto: Mosquitto, mail: MailServer) -> Iterator[Installation]:
    http_port = free_port()
    made = Installation(tmp_path, services_environment(http_port, mosquitto.url, mail.port), http_port)
    try:
        yield made
    finally:
        made.stop()


def test_a_forced_door_from_a_gate_over_mqtt_reaches_the_managers_mailbox_and_webhook_signed(
        installation: Installation, mosquitto: Mosquitto, mail: MailServer, hooks: HookReceiver) -> None:
    secrets = installation.set_up({"platform": hooks.url("platform")}, email=True)
    installation.wait_until_gate_online(mosquitto.port)

    gate_publishes(mosquitto.port, [(GateEventKind.FORCED, 1)])
    wait_until(lambda: mail.mailbox.to(MANAGER_EMAIL) and hooks.to("platform"), 30, "the e-mail and the webhook",
               installation)

    (message,) = mail.mailbox.to(MANAGER_EMAIL)
    assert "强行开门" in str(message["Subject"]) and "荷花小区" in message.get_content()
    key = message["X-Smartcity-Idempotency-Key"]
    assert message["Message-ID"] == f"<{key}@smartcity.local>"

    (request,) = hooks.to("platform")
    assert verify(secrets["platform"], request.headers["X-Smartcity-Timestamp"],
                  request.headers["X-Smartcity-Signature"], request.body, now=request.arrived)
    assert not verify("another-secret", request.headers["X-Smartcity-Timestamp"],
                      request.headers["X-Smartcity-Signature"], request.body, now=request.arrived)
    assert request.headers["X-Smartcity-Event"] == "gate_alarm" and len(request.key) == 40
    document = request.document
    assert document["schema"] == "smartcity.event/1" and document["kind"] == "gate_alarm"
    assert document["severity"] == "critical" and document["community_id"] == COMMUNITY
    assert document["data"]["alarm"] == "forced_door" and document["data"]["gate_id"] == GATE
    assert document["data"]["door"] == 1

    # the manager's notification centre has it too, unread
    manager = installation.cli("token", "issue", "--subject", MANAGER, "--role", "property_manager")
    centre = installation.api("GET", "/api/notifications", token=manager)
    assert centre["unread"] == 1 and "强行开门" in centre["items"][0]["title"]


RAISED = [(GateEventKind.FORCED, door) for door in (1, 2, 3)] + [(GateEventKind.TAMPER, door) for door in (1, 2, 3)]
"""Six alarms: each (kind, door) is an alarm of its own, none coalesced with another."""


def test_services_killed_mid_delivery_and_restarted_deliver_each_event_once_per_recipient_by_key(
        installation: Installation, mosquitto: Mosquitto, mail: MailServer, hooks: HookReceiver) -> None:
    endpoints = ("platform-a", "platform-b")
    installation.set_up({name: hooks.url(name) for name in endpoints}, email=True)
    installation.wait_until_gate_online(mosquitto.port)
    hooks.answers.hold()  # each lane's first delivery arrives and waits for its answer
    mail.mailbox.answers.hold()

    gate_publishes(mosquitto.port, RAISED)
    wait_until(lambda: all(hooks.to(name) for name in endpoints) and mail.mailbox.to(MANAGER_EMAIL), 30,
               "a delivery in flight on every lane", installation)
    installation.kill()
    in_flight = {name: [request.key for request in hooks.to(name)] for name in endpoints}
    assert all(len(keys) == 1 for keys in in_flight.values()), "a lane sends one delivery at a time"
    mailed_before = [message["Message-ID"] for message in mail.mailbox.to(MANAGER_EMAIL)]
    assert len(mailed_before) == 1
    hooks.answers.release()
    mail.mailbox.answers.release()

    installation.start()  # the same data directory
    manager = installation.cli("token", "issue", "--subject", MANAGER, "--role", "property_manager")

    def everything_through() -> bool:
        pending = installation.api("GET", "/api/notifications/deliveries?state=pending&limit=200")["deliveries"]
        return (not pending and all(len({r.key for r in hooks.to(name)}) == len(RAISED) for name in endpoints)
                and len({m["Message-ID"] for m in mail.mailbox.to(MANAGER_EMAIL)}) == len(RAISED))

    wait_until(everything_through, 60, "every event to every recipient", installation)

    # the delivery log: one delivery per event and recipient, all sent, none failed
    log = installation.api("GET", "/api/notifications/deliveries?limit=200")["deliveries"]
    assert Counter(delivery["state"] for delivery in log) == {"sent": len(RAISED) * 4}, "2 webhooks, e-mail, in-app"
    expected: dict[tuple[str, str], set[str]] = defaultdict(set)
    for delivery in log:
        expected[delivery["recipient"], delivery["channel"]].add(delivery["idempotency_key"])

    # each webhook: every event's key, each key carrying one and the same payload however often it came
    webhook_keys: list[set[str]] = []
    for name in endpoints:
        received = hooks.to(name)
        bodies: dict[str, set[bytes]] = defaultdict(set)
        for request in received:
            bodies[request.key].add(request.body)
        assert all(len(payloads) == 1 for payloads in bodies.values()), "a resend is the same event"
        events = {request.document["event_id"] for request in received}
        assert len(bodies) == len(events) == len(RAISED), "each event once per recipient, by key"
        documents = {request.key: request.document for request in received}
        alarms = Counter((document["data"]["alarm"], document["data"]["door"]) for document in documents.values())
        assert alarms == Counter({(alarm, door): 1 for alarm in ("forced_door", "tamper") for door in (1, 2, 3)})
        (resent,) = [key for key, count in Counter(r.key for r in received).items() if count > 1]
        assert resent == in_flight[name][0], "the delivery cut off by the kill was sent again, with its key"
        assert len(received) == len(RAISED) + 1
        webhook_keys.append(set(bodies))
    assert not webhook_keys[0] & webhook_keys[1], "a key is one event for one recipient"
    assert {frozenset(keys) for keys in webhook_keys} == {
        frozenset(keys) for (_recipient, channel), keys in expected.items() if channel == "webhook"}

    # the mailbox: the same, by Message-ID; the cut-off message came again, identical
    mails = mail.mailbox.to(MANAGER_EMAIL)
    by_id: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for message in mails:
        by_id[message["Message-ID"]].add((str(message["Subject"]), message.get_content()))
    assert len(by_id) == len(RAISED) and all(len(contents) == 1 for contents in by_id.values())
    assert Counter(message["Message-ID"] for message in mails)[mailed_before[0]] == 2 and len(mails) == 7
    assert {m["X-Smartcity-Idempotency-Key"] for m in mails} == expected[f"account:{MANAGER}", "email"]

    # the notification centre keeps one per key
    centre = installation.api("GET", "/api/notifications?limit=50", token=manager)
    assert len(centre["items"]) == centre["unread"] == len(RAISED)
