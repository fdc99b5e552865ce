"""Delivering commands to scales: the wire models, acks, retries with backoff, giving up, superseding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from devices.contract import Command
from devices.scale_commands import (
    BlockBatchArgs,
    ScalePrice,
    SetPricesArgs,
    block_batch_command,
    set_prices_command,
)
from market.scale_delivery import (
    Delivery,
    DeliveryPolicy,
    DeliveryStatus,
    acknowledged,
    given_up,
    is_due,
    new_delivery,
    not_sent,
    out_of_attempts,
    rearmed,
    sent,
    superseded,
)

NOW = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
POLICY = DeliveryPolicy(retry_after=timedelta(seconds=30), max_retry_interval=timedelta(minutes=2), max_attempts=3)
ARGS = SetPricesArgs(stall="A03", prices=[
    ScalePrice(plu="1001", product="西红柿", unit_price_fen=680, effective_from=NOW),
    ScalePrice(plu="1002", product="大白菜", unit_price_fen=200, effective_from=NOW),
])


def delivery() -> Delivery:
    return new_delivery("sp-1", "demo", "scale-01", "A03", set_prices_command("sp-1", ARGS, NOW), NOW)


def test_the_commands_round_trip_through_json_as_a_scale_reads_them() -> None:
    command = set_prices_command("sp-1", ARGS, NOW)
    received = Command.model_validate_json(command.model_dump_json())
    assert SetPricesArgs.model_validate(received.args) == ARGS
    block = block_batch_command("bb-1", BlockBatchArgs(batch="B1", plu="1001", reason="快检不合格", blocked_at=NOW),
                                NOW)
    assert BlockBatchArgs.model_validate(Command.model_validate_json(block.model_dump_json()).args).batch == "B1"
    assert block.op == "block_batch" and command.op == "set_prices"


def test_prices_on_the_wire_are_integer_fen() -> None:
    with pytest.raises(ValidationError):
        ScalePrice.model_validate({"plu": "1001", "product": "西红柿", "unit_price_fen": 6.8,
                                   "effective_from": NOW.isoformat()})


def test_a_delivery_is_due_at_once_but_not_to_a_scale_known_offline() -> None:
    fresh = delivery()
    assert is_due(fresh, NOW, online=None) and is_due(fresh, NOW, online=True)
    assert not is_due(fresh, NOW, online=False)


def test_retries_back_off_and_stop_after_the_last_send_has_had_its_wait() -> None:
    state = delivery()
    waits = []
    now = NOW
    while not out_of_attempts(state, POLICY):
        assert is_due(state, now, online=True)
        state = sent(state, now, POLICY)
        assert state.next_attempt_at is not None
        waits.append(state.next_attempt_at - now)
        assert not is_due(state, now + waits[-1] - timedelta(seconds=1), online=True)
        now = state.next_attempt_at
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(minutes=2)]
    assert state.attempts == 3 and is_due(state, now, online=True)
    state = given_up(state, now)
    assert state.status is DeliveryStatus.GIVEN_UP and state.error == "no ack after 3 sends"
    assert not is_due(state, now + timedelta(days=1), online=True)


def test_a_broker_that_cannot_take_it_costs_no_attempt() -> None:
    state = not_sent(delivery(), NOW, "broker down", POLICY)
    assert state.attempts == 0 and state.next_attempt_at == NOW + timedelta(seconds=30) and state.error == "broker down"


def test_acks_settle_a_delivery_once() -> None:
    state = sent(delivery(), NOW, POLICY)
    acked = acknowledged(state, True, None, {"prices_loaded": 2}, NOW)
    assert acked.status is DeliveryStatus.ACKED and acked.finished_at == NOW
    assert acknowledged(acked, False, "late failure", None, NOW) == acked
    failed = acknowledged(state, False, "price table full", None, NOW)
    assert failed.status is DeliveryStatus.FAILED and failed.error == "price table full"


def test_a_scale_that_loaded_fewer_prices_than_sent_failed() -> None:
    state = acknowledged(sent(delivery(), NOW, POLICY), True, None, {"prices_loaded": 1}, NOW)
    assert state.status is DeliveryStatus.FAILED and state.error == "the scale loaded 1 of 2 prices"


def test_an_ack_result_not_following_the_op_is_a_failure_and_a_refused_block_too() -> None:
    odd = acknowledged(sent(delivery(), NOW, POLICY), True, None, {"prices_loaded": "all"}, NOW)
    assert odd.status is DeliveryStatus.FAILED and odd.error == "the scale's ack result is not a set_prices result"
    block = new_delivery("bb-1", "demo", "scale-01", "A03", block_batch_command(
        "bb-1", BlockBatchArgs(batch="B1", plu="1001", reason="召回", blocked_at=NOW), NOW), NOW)
    refused = acknowledged(sent(block, NOW, POLICY), True, None, {"blocked": False}, NOW)
    assert refused.status is DeliveryStatus.FAILED and refused.error == "the scale did not block the batch"
    assert acknowledged(sent(block, NOW, POLICY), True, None, {"blocked": True}, NOW).status is DeliveryStatus.ACKED


def test_a_late_ack_of_a_given_up_delivery_still_counts() -> None:
    state = given_up(sent(delivery(), NOW, POLICY), NOW)
    assert acknowledged(state, True, None, None, NOW).status is DeliveryStatus.ACKED


def test_a_newer_table_supersedes_only_unanswered_deliveries() -> None:
    state = sent(delivery(), NOW, POLICY)
    assert superseded(state, NOW).status is DeliveryStatus.SUPERSEDED
    acked = acknowledged(state, True, None, None, NOW)
    assert superseded(acked, NOW) == acked


def test_a_scale_back_online_gets_its_unanswered_commands_again_with_fresh_attempts() -> None:
    state = given_up(sent(sent(delivery(), NOW, POLICY), NOW, POLICY), NOW)
    later = NOW + timedelta(hours=1)
    again = rearmed(state, later)
    assert again.status is DeliveryStatus.PENDING and again.attempts == 0 and is_due(again, later, online=True)


def test_a_policy_must_send_at_least_once() -> None:
    with pytest.raises(ValueError, match="at least once"):
        DeliveryPolicy(max_attempts=0)
