"""The scales' ``unblock_batch``: the wire model, what its ack must say, and a simulated scale that
sells a released batch again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from devices.contract import CommandAck, ScaleRecord
from devices.scale_commands import (
    UNBLOCK_BATCH,
    BlockBatchArgs,
    UnblockBatchArgs,
    block_batch_command,
    unblock_batch_command,
)
from devices.simulator import TrafficGenerator
from devices.topics import Channel, DeviceKind
from gateway.processors.decoding import Accepted, decode
from market.scale_delivery import DeliveryStatus, acknowledged, new_delivery

START = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


def send(gen: TrafficGenerator, device: str, command_json: bytes) -> CommandAck:
    message = gen.answer(DeviceKind.SCALE, device, command_json, START)
    assert message is not None
    decoded = decode(message.topic, message.payload)
    assert isinstance(decoded, Accepted) and decoded.topic.channel is Channel.ACK
    assert isinstance(decoded.message, CommandAck)
    return decoded.message


def batches_sold(gen: TrafficGenerator, count: int, start: datetime) -> set[str | None]:
    sold: set[str | None] = set()
    now = start
    for _ in range(count):
        now += timedelta(milliseconds=200)
        decoded = decode((message := gen.next_message(now)).topic, message.payload)
        if isinstance(decoded, Accepted) and isinstance(decoded.message, ScaleRecord):
            sold.add(decoded.message.batch)
    return sold


def test_an_unblock_command_carries_the_batch_and_is_strict() -> None:
    args = UnblockBatchArgs(batch="B1", plu="1001", reason="复检合格", released_at=START)
    command = unblock_batch_command("ub-1", args, START)
    assert command.op == UNBLOCK_BATCH == "unblock_batch"
    assert command.args == {"batch": "B1", "plu": "1001", "reason": "复检合格", "released_at": START.isoformat()}
    with pytest.raises(ValidationError):
        UnblockBatchArgs.model_validate({**command.args, "colour": "red"})


def test_an_unblock_ack_must_say_the_block_was_lifted() -> None:
    args = UnblockBatchArgs(batch="B1", plu="1001", reason="复检合格", released_at=START)
    delivery = new_delivery("ub-1", "demo", "scale-01", "A03", unblock_batch_command("ub-1", args, START), START)
    assert acknowledged(delivery, True, None, {"unblocked": True}, START).status is DeliveryStatus.ACKED
    refused = acknowledged(delivery, True, None, {"unblocked": False}, START)
    assert refused.status is DeliveryStatus.FAILED and refused.error == "the scale did not lift the block"
    assert acknowledged(delivery, True, None, {"blocked": True}, START).status is DeliveryStatus.FAILED


def test_a_simulated_scale_sells_a_released_batch_again() -> None:
    gen = TrafficGenerator("market", gates=0, scales=1, seed=11)
    [stall] = gen.market_roster(START)
    item = stall.items[0]
    block = BlockBatchArgs(batch=item.batch, plu=item.plu, reason="农残超标", blocked_at=START)
    assert send(gen, stall.scale_id, block_batch_command("bb-1", block, START).model_dump_json().encode()).ok
    assert item.batch not in batches_sold(gen, 400, START)
    release = UnblockBatchArgs(batch=item.batch, plu=item.plu, reason="复检合格", released_at=START)
    command = unblock_batch_command("ub-1", release, START).model_dump_json().encode()
    ack = send(gen, stall.scale_id, command)
    assert ack.ok and ack.result == {"unblocked": True}
    assert item.batch in batches_sold(gen, 600, START + timedelta(minutes=5))
    assert send(gen, stall.scale_id, command) == ack, "a retry is acked alike"
    never_blocked = UnblockBatchArgs(batch="B-other", plu=item.plu, reason="x", released_at=START)
    assert send(gen, stall.scale_id, unblock_batch_command("ub-2", never_blocked, START)
                .model_dump_json().encode()).ok, "nothing to lift is no error"
