"""A second simulated site beside the first (the demo's second compound): its device and resident ids carry a
prefix, so they are its own on the platform and the broker, and otherwise its traffic is what the seed makes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.provisioning import device_users, fleet_users, topic_rules
from devices.simulator import TrafficGenerator
from devices.topics import DeviceKind

NOW = datetime(2026, 5, 12, 2, tzinfo=UTC)


def test_a_prefix_names_the_devices_and_residents_and_changes_nothing_else() -> None:
    plain = TrafficGenerator("second", gates=2, scales=1, seed=5)
    north = TrafficGenerator("second", gates=2, scales=1, seed=5, id_prefix="north-")
    assert [device for _, device in north.devices] == ["north-gate-01", "north-gate-02", "north-scale-01"]
    residents = [r.person_id for gate in north.community_roster() for r in gate.residents]
    assert residents and all(person.startswith("north-P") for person in residents)
    assert [r.person_id for gate in plain.community_roster() for r in gate.residents] == [
        person.removeprefix("north-") for person in residents]
    for step in range(200):
        now = NOW + timedelta(seconds=step)
        mine, theirs = north.next_message(now), plain.next_message(now)
        assert mine.topic.replace("/north-", "/") == theirs.topic
        assert mine.payload.replace(b"north-", b"") == theirs.payload


@pytest.mark.parametrize("prefix", ["north/", "north+", "x" * 25])
def test_a_prefix_that_cannot_be_an_id_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="id_prefix"):
        TrafficGenerator("demo-north", gates=1, scales=0, seed=1, id_prefix=prefix)


def test_a_second_sites_devices_get_broker_users_of_their_own() -> None:
    users = device_users("demo", 2, 0) + fleet_users("demo-north", 2, 0, prefix="north-")
    assert [user.username for user in users] == ["gate-01", "gate-02", "gateway", "services", "north-gate-01",
                                                 "north-gate-02"]
    north_gate = users[-1]
    assert {rule.pattern for rule in topic_rules(north_gate)} == {
        f"sc/v1/demo-north/gate/north-gate-02/{channel}" for channel in ("event", "state", "ack", "cmd")}


def test_a_gate_handed_over_to_a_stand_in_is_simulated_no_more_but_stays_on_the_roster() -> None:
    generator = TrafficGenerator("demo", gates=2, scales=1, seed=5, bad_ratio=0.3)
    roster_before = generator.community_roster()
    handed = generator.hand_over("gate-01")
    assert handed == roster_before[0] and handed.residents
    assert [device for _, device in generator.devices] == ["gate-02", "scale-01"]
    assert generator.community_roster() == roster_before  # the platform's data still has the gate
    for step in range(300):
        assert "/gate-01/" not in generator.next_message(NOW + timedelta(seconds=step)).topic
    command = b'{"cmd_id": "c-1", "op": "open", "args": {"door": 1}}'
    assert generator.answer(DeviceKind.GATE, "gate-01", command, NOW) is None  # the stand-in's to answer
    with pytest.raises(ValueError, match="no simulated gate"):
        generator.hand_over("scale-01")
