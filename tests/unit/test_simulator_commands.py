"""Simulated devices obey the platform's commands: gates decide from the whitelist synced to them,
open a door on a remote ``open``, and ack every command; unreadable commands are ignored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.contract import Command, CommandAck, GateEvent, GateEventKind, ScaleRecord
from devices.gate_commands import CredentialKind, presented_credential_hash
from devices.gate_memory import canonical_hash
from devices.scale_commands import (
    BlockBatchArgs,
    ScalePrice,
    SetPricesArgs,
    block_batch_command,
    set_prices_command,
)
from devices.simulator import GateKeys, SimMessage, TrafficGenerator
from devices.topics import Channel, DeviceKind
from gateway.processors.decoding import Accepted, decode

SITE_KEY = b"k" * 32
START = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
ALL_WEEK = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00:00", "end": "00:00:00"}]


def generator() -> TrafficGenerator:
    return TrafficGenerator("compound", gates=1, scales=0, seed=7, gate_keys=GateKeys(SITE_KEY, b"p" * 32))


def entry(kind: CredentialKind, raw: str, doors: int) -> dict[str, Any]:
    return {"hash": presented_credential_hash(kind, raw, SITE_KEY), "kind": kind.value,
            "grants": [{"group": "residents", "doors": list(range(1, doors + 1)), "windows": ALL_WEEK}]}


def sync_command(gate_id: str, entries: list[dict[str, Any]], blacklist: list[str]) -> Command:
    whitelist = {"gate": gate_id, "entries": sorted(entries, key=lambda e: e["hash"]), "blacklist": sorted(blacklist)}
    return Command(cmd_id="sync-1", op="sync_whitelist",
                   args={"version": 1, "content_hash": canonical_hash(whitelist), "whitelist": whitelist})


def ack_of(message: SimMessage | None) -> CommandAck:
    assert message is not None
    decoded = decode(message.topic, message.payload)
    assert isinstance(decoded, Accepted) and decoded.topic.channel is Channel.ACK, decoded
    assert isinstance(decoded.message, CommandAck)
    return decoded.message


def gate_events(gen: TrafficGenerator, count: int, start: datetime = START) -> list[GateEvent]:
    events = []
    now = start
    for _ in range(count):
        now += timedelta(milliseconds=200)
        decoded = decode((message := gen.next_message(now)).topic, message.payload)
        assert isinstance(decoded, Accepted)
        if isinstance(decoded.message, GateEvent):
            events.append(decoded.message)
    return events


def test_a_synced_gate_admits_exactly_the_listed_credentials() -> None:
    gen = generator()
    [gate] = gen.community_roster()
    listed = gate.residents[: len(gate.residents) // 2]
    unlisted_cards = {resident.card for resident in gate.residents[len(gate.residents) // 2:]}
    entries = [entry(CredentialKind.CARD, r.card, gate.doors) for r in listed]
    entries += [entry(CredentialKind.FACE, r.person_id, gate.doors) for r in listed if r.face_enrolled]
    blacklist = [presented_credential_hash(CredentialKind.CARD, card, SITE_KEY) for card in gate.blacklisted_cards]
    command = sync_command(gate.gate_id, entries, blacklist)

    ack = ack_of(gen.answer(DeviceKind.GATE, gate.gate_id, command.model_dump_json().encode(), START))
    assert ack.ok and ack.result == {"version": 1, "content_hash": command.args["content_hash"]}

    events = gate_events(gen, 3000)
    card_events = [e for e in events if e.method == "card" and e.kind in (GateEventKind.GRANTED, GateEventKind.DENIED)]
    granted_cards = {e.credential for e in card_events if e.kind is GateEventKind.GRANTED}
    denied = [e for e in card_events if e.kind is GateEventKind.DENIED]
    assert granted_cards and granted_cards <= {r.card for r in listed}
    assert all(e.reason == "unknown_credential" for e in denied if e.credential in unlisted_cards)
    assert {e.reason for e in denied if e.credential in gate.blacklisted_cards} <= {"blacklisted"}
    assert any(e.credential in unlisted_cards for e in denied), "unlisted residents try and are refused"
    assert any(e.reason == "blacklisted" for e in denied)


def test_remote_open_is_acked_and_the_door_opens() -> None:
    gen = generator()
    [gate] = gen.community_roster()
    command = Command(cmd_id="open-1", op="open", args={"door": 1, "seconds": 5})
    ack = ack_of(gen.answer(DeviceKind.GATE, gate.gate_id, command.model_dump_json().encode(), START))
    assert ack.ok and ack.result is not None and ack.result["door"] == 1
    again = ack_of(gen.answer(DeviceKind.GATE, gate.gate_id, command.model_dump_json().encode(), START))
    assert again.ok, "a redelivered command is acked again"
    # the unsynced gate's random traffic has remote opens from the property office too: those name who
    remote = [e for e in gate_events(gen, 400) if e.method == "remote" and e.credential is None]
    assert len(remote) == 1, "opened once, whatever the redelivery"
    assert remote[0].door == 1 and remote[0].kind is GateEventKind.GRANTED


def test_a_door_the_gate_does_not_have_is_refused() -> None:
    gen = generator()
    [gate] = gen.community_roster()
    command = Command(cmd_id="open-9", op="open", args={"door": gate.doors + 1})
    ack = ack_of(gen.answer(DeviceKind.GATE, gate.gate_id, command.model_dump_json().encode(), START))
    assert not ack.ok and ack.error is not None and ack.error.startswith("no_such_door")


def test_unreadable_commands_and_strangers_get_no_answer() -> None:
    gen = generator()
    [gate] = gen.community_roster()
    assert gen.answer(DeviceKind.GATE, gate.gate_id, b"{not json", START) is None
    assert gen.answer(DeviceKind.GATE, gate.gate_id, json.dumps({"op": "open"}).encode(), START) is None
    valid = Command(cmd_id="c", op="open", args={"door": 1}).model_dump_json().encode()
    assert gen.answer(DeviceKind.GATE, "gate-99", valid, START) is None
    assert gen.answer(DeviceKind.SCALE, gate.gate_id, valid, START) is None


def test_a_gate_without_keys_refuses_whitelists_and_decides_as_before() -> None:
    gen = TrafficGenerator("compound", gates=1, scales=0, seed=7)
    [gate] = gen.community_roster()
    ack = ack_of(gen.answer(DeviceKind.GATE, gate.gate_id, sync_command(gate.gate_id, [], []).model_dump_json()
                            .encode(), START))
    assert not ack.ok and "site key" in (ack.error or "")
    assert any(e.kind is GateEventKind.GRANTED for e in gate_events(gen, 200))


def scale_generator() -> TrafficGenerator:
    return TrafficGenerator("market", gates=0, scales=1, seed=11)


def sales(gen: TrafficGenerator, count: int, start: datetime = START) -> list[ScaleRecord]:
    records = []
    now = start
    for _ in range(count):
        now += timedelta(milliseconds=200)
        decoded = decode((message := gen.next_message(now)).topic, message.payload)
        assert isinstance(decoded, Accepted)
        if isinstance(decoded.message, ScaleRecord):
            records.append(decoded.message)
    return records


def send(gen: TrafficGenerator, device: str, command: Command, now: datetime = START) -> CommandAck:
    return ack_of(gen.answer(DeviceKind.SCALE, device, command.model_dump_json().encode(), now))


def test_a_scale_sells_only_published_plus_at_the_price_in_force() -> None:
    gen = scale_generator()
    [stall] = gen.market_roster(START)
    first, *others = stall.items
    later = START + timedelta(minutes=5)
    args = SetPricesArgs(stall=stall.stall, prices=[
        ScalePrice(plu=first.plu, product=first.product, unit_price_fen=1234, effective_from=START),
        ScalePrice(plu=first.plu, product=first.product, unit_price_fen=1500, effective_from=later),
    ])
    ack = send(gen, stall.scale_id, set_prices_command("p-1", args, START))
    assert ack.ok and ack.result == {"prices_loaded": 2}

    before = sales(gen, 300)
    after = sales(gen, 300, start=later)
    assert before and after
    assert {r.plu for r in before + after} == {first.plu}, "PLUs without a price are not sold"
    assert {r.unit_price_fen for r in before} == {1234}
    assert {r.unit_price_fen for r in after} == {1500}, "the later price switches on by itself"
    assert others, "the stall had other products, now off the scale"


def test_a_blocked_batch_is_no_longer_sold() -> None:
    gen = scale_generator()
    [stall] = gen.market_roster(START)
    blocked = stall.items[0]
    args = BlockBatchArgs(batch=blocked.batch, plu=blocked.plu, reason="农残超标", blocked_at=START)
    ack = send(gen, stall.scale_id, block_batch_command("b-1", args, START))
    assert ack.ok and ack.result == {"blocked": True}
    sold = sales(gen, 400)
    assert sold and blocked.batch not in {r.batch for r in sold}
    assert send(gen, stall.scale_id, block_batch_command("b-1", args, START)) == ack, "a retry is acked alike"


def test_a_scale_refuses_another_stalls_prices_and_unknown_ops() -> None:
    gen = scale_generator()
    [stall] = gen.market_roster(START)
    args = SetPricesArgs(stall="Z99", prices=[])
    refused = send(gen, stall.scale_id, set_prices_command("p-2", args, START))
    assert not refused.ok and "wrong stall" in (refused.error or "")
    unknown = send(gen, stall.scale_id, Command(cmd_id="x", op="reboot"))
    assert not unknown.ok and "unknown op" in (unknown.error or "")
    bad = send(gen, stall.scale_id, Command(cmd_id="y", op="set_prices", args={"stall": stall.stall}))
    assert not bad.ok and "prices" in (bad.error or "")
