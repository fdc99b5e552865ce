"""Validation rules of the device contract's message models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from math import floor
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from devices.contract import (
    Command,
    CommandAck,
    DeviceState,
    GateEvent,
    ScaleRecord,
    expected_amount_fen,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TS_MS = 1_763_861_400_000  # 2025-11-23T01:30:00Z


def gate_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": "ev-1", "ts": TS_MS, "door": 1, "kind": "granted", "method": "card"}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def scale_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "record_id": "rec-1",
        "ts": TS_MS,
        "stall": "A-01",
        "plu": "1001",
        "net_g": 1500,
        "unit_price_fen": 2000,
        "amount_fen": 3000,
        "trace_code": "TR-2025-0001",
    }
    body.update(changes)
    return body


def parse(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """As the gateway parses: from JSON bytes."""
    return model.model_validate_json(json.dumps(body, ensure_ascii=False).encode())


def refused(model: type[BaseModel], body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        parse(model, body)
    return str(raised.value)


def refused_fields(model: type[BaseModel], body: dict[str, Any]) -> set[str]:
    """The top-level fields a refusal blames, whatever pydantic's wording."""
    with pytest.raises(ValidationError) as raised:
        parse(model, body)
    return {str(error["loc"][0]) if error["loc"] else "body" for error in raised.value.errors()}


# -- timestamps ---------------------------------------------------------------------------------

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants_ms = st.integers(
    min_value=(datetime(2000, 1, 2, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1),
    max_value=(datetime(2099, 12, 30, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1),
)


@given(millis=instants_ms, offset=offsets)
def test_rfc3339_with_offset_and_epoch_millis_give_the_same_utc_time(millis: int, offset: timezone) -> None:
    instant = EPOCH + timedelta(milliseconds=millis)
    as_text = instant.astimezone(offset).isoformat(timespec="milliseconds")

    from_text = parse(GateEvent, gate_body(ts=as_text)).ts
    from_millis = parse(GateEvent, gate_body(ts=millis)).ts

    assert from_text == from_millis == instant
    assert from_text.utcoffset() == from_millis.utcoffset() == timedelta(0)


def test_offset_is_applied_before_the_year_2000_bound() -> None:
    assert parse(GateEvent, gate_body(ts="2000-01-01T08:00:00+08:00")).ts == datetime(2000, 1, 1, tzinfo=UTC)
    assert "outside 2000-01-01" in refused(GateEvent, gate_body(ts="2000-01-01T07:59:59.999+08:00"))


def test_epoch_millis_just_before_2000_are_refused() -> None:
    first_ms_of_2000 = 946_684_800_000

    assert parse(GateEvent, gate_body(ts=first_ms_of_2000)).ts == datetime(2000, 1, 1, tzinfo=UTC)
    assert "outside 2000-01-01" in refused(GateEvent, gate_body(ts=first_ms_of_2000 - 1))


def test_epoch_seconds_sent_as_an_int_are_read_as_millis_and_refused_as_1970() -> None:
    assert "device clock not set" in refused(GateEvent, gate_body(ts=TS_MS // 1000))


def test_a_time_at_or_after_2100_is_refused() -> None:
    assert "outside 2000-01-01" in refused(GateEvent, gate_body(ts="2100-01-01T00:00:00Z"))


def test_epoch_millis_too_large_for_a_datetime_are_refused() -> None:
    assert "out of range" in refused(GateEvent, gate_body(ts=10**20))


def test_a_naive_timestamp_is_refused() -> None:
    assert refused_fields(GateEvent, gate_body(ts="2025-11-23T09:30:00")) == {"ts"}


@pytest.mark.parametrize("ts", [float(TS_MS), TS_MS + 0.5, True])
def test_float_and_bool_timestamps_are_refused(ts: object) -> None:
    assert refused_fields(GateEvent, gate_body(ts=ts)) == {"ts"}


@pytest.mark.parametrize("ts", [str(TS_MS // 1000), str(TS_MS), f"{TS_MS // 1000}.5"])
def test_a_numeric_string_timestamp_is_refused(ts: str) -> None:
    assert refused_fields(GateEvent, gate_body(ts=ts)) == {"ts"}


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_whose_utc_conversion_overflows_is_a_validation_error(ts: str) -> None:
    assert refused_fields(GateEvent, gate_body(ts=ts)) == {"ts"}


# -- gate events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["granted", "denied"])
def test_method_is_required_when_access_is_granted_or_denied(kind: str) -> None:
    body = gate_body(kind=kind, method=None, reason="expired" if kind == "denied" else None)

    assert f"method is required when kind is '{kind}'" in refused(GateEvent, body)


def test_events_that_are_not_access_decisions_need_no_method() -> None:
    event = parse(GateEvent, gate_body(kind="door_open", method=None))

    assert event.method is None


def test_a_denial_needs_a_reason() -> None:
    assert "reason is required" in refused(GateEvent, gate_body(kind="denied"))


@pytest.mark.parametrize("kind", ["granted", "forced", "door_closed"])
def test_a_reason_is_refused_unless_access_was_denied(kind: str) -> None:
    assert "reason is only allowed" in refused(GateEvent, gate_body(kind=kind, reason="expired"))


def test_a_denial_with_method_and_reason_is_accepted() -> None:
    event = parse(GateEvent, gate_body(kind="denied", reason="blacklisted", direction="in"))

    assert (event.kind, event.method, event.reason, event.direction) == (
        "denied",
        "card",
        "blacklisted",
        "in",
    )


@pytest.mark.parametrize("door", ["1", 1.0, True])
def test_door_must_be_a_json_integer(door: object) -> None:
    assert "door" in refused(GateEvent, gate_body(door=door))


@pytest.mark.parametrize("offline", ["true", 1])
def test_offline_must_be_a_json_boolean(offline: object) -> None:
    assert "offline" in refused(GateEvent, gate_body(offline=offline))


@pytest.mark.parametrize("model_body", [(GateEvent, gate_body()), (ScaleRecord, scale_body())])
def test_unknown_keys_are_refused(model_body: tuple[type[BaseModel], dict[str, Any]]) -> None:
    model, body = model_body

    assert "temperature_c" in refused(model, {**body, "temperature_c": 41})


def test_a_credential_with_a_control_character_is_refused() -> None:
    assert "credential" in refused(GateEvent, gate_body(credential="6217\n0000"))


# -- scale records ------------------------------------------------------------------------------


def test_expected_amount_rounds_half_a_fen_up() -> None:
    assert expected_amount_fen(1, 500) == 1
    assert expected_amount_fen(1, 499) == 0
    assert expected_amount_fen(3, 500) == 2  # 1.5 fen: half up, not half to even
    assert expected_amount_fen(1500, 2000) == 3000


@given(net_g=st.integers(1, 1_000_000), unit_price_fen=st.integers(0, 100_000_000))
def test_expected_amount_is_weight_times_price_rounded_half_up(net_g: int, unit_price_fen: int) -> None:
    exact = Fraction(net_g * unit_price_fen, 1000)

    assert expected_amount_fen(net_g, unit_price_fen) == floor(exact + Fraction(1, 2))


@given(
    net_g=st.integers(1, 1_000_000),
    unit_price_fen=st.integers(0, 100_000),
    difference=st.integers(-5, 5),
)
def test_amount_mismatch_is_flagged_beyond_one_fen(net_g: int, unit_price_fen: int, difference: int) -> None:
    amount = expected_amount_fen(net_g, unit_price_fen) + difference
    assume(amount >= 0)
    record = parse(ScaleRecord, scale_body(net_g=net_g, unit_price_fen=unit_price_fen, amount_fen=amount))

    assert record.amount_mismatch is (abs(difference) > 1)


@pytest.mark.parametrize(
    ("amount_fen", "flagged"), [(2999, False), (3001, False), (2998, True), (3002, True)]
)
def test_amount_mismatch_boundary_is_one_fen(amount_fen: int, flagged: bool) -> None:
    record = parse(ScaleRecord, scale_body(net_g=1500, unit_price_fen=2000, amount_fen=amount_fen))

    assert record.expected_amount_fen == 3000
    assert record.amount_mismatch is flagged


def test_half_fen_rounding_reaches_the_record() -> None:
    record = parse(ScaleRecord, scale_body(net_g=1, unit_price_fen=500, amount_fen=1))

    assert record.expected_amount_fen == 1
    assert not record.amount_mismatch


@pytest.mark.parametrize("field", ["stall", "plu"])
@pytest.mark.parametrize("code", ["A 01", "A,01", "A=01", "A01\n", "", "x" * 33])
def test_stall_and_plu_codes_that_would_break_tags_are_refused(field: str, code: str) -> None:
    assert field in refused(ScaleRecord, scale_body(**{field: code}))


def test_chinese_stall_codes_and_product_names_are_accepted() -> None:
    record = parse(ScaleRecord, scale_body(stall="东区-3号", product="五常大米（新米）"))

    assert (record.stall, record.product) == ("东区-3号", "五常大米（新米）")


@pytest.mark.parametrize(("field", "value"), [("net_g", 1500.0), ("net_g", "1500"), ("amount_fen", 30.0)])
def test_weights_and_money_must_be_json_integers(field: str, value: object) -> None:
    assert field in refused(ScaleRecord, scale_body(**{field: value}))


@pytest.mark.parametrize(("field", "value"), [("net_g", 0), ("unit_price_fen", -1), ("amount_fen", -1)])
def test_weights_must_be_positive_and_money_not_negative(field: str, value: int) -> None:
    assert field in refused(ScaleRecord, scale_body(**{field: value}))


# -- state, commands, acks ------------------------------------------------------------------------


def test_device_state_keeps_unknown_keys_devices_add() -> None:
    state = parse(DeviceState, {"online": True, "rssi_dbm": -67})

    assert state.online is True
    assert state.model_extra == {"rssi_dbm": -67}


@pytest.mark.parametrize("online", ["false", 0])
def test_device_state_online_must_be_a_json_boolean(online: object) -> None:
    assert "online" in refused(DeviceState, {"online": online})


def test_a_failed_ack_needs_an_error() -> None:
    assert "error is required when ok is false" in refused(CommandAck, {"cmd_id": "c1", "ok": False})


def test_a_failed_ack_with_an_error_and_a_successful_ack_are_accepted() -> None:
    failed = parse(CommandAck, {"cmd_id": "c1", "ok": False, "error": "relay stuck"})
    done = parse(CommandAck, {"cmd_id": "c2", "ok": True, "ts": TS_MS})

    assert (failed.ok, failed.error) == (False, "relay stuck")
    assert (done.ok, done.ts) == (True, EPOCH + timedelta(milliseconds=TS_MS))


def test_an_ack_refuses_unknown_keys() -> None:
    assert "extra" in refused(CommandAck, {"cmd_id": "c1", "ok": True, "extra": 1})


def test_a_command_refuses_unknown_keys_and_bad_op_names() -> None:
    assert "priority" in refused(Command, {"cmd_id": "c1", "op": "open_door", "priority": 1})
    assert "op" in refused(Command, {"cmd_id": "c1", "op": "Open Door"})


def test_a_command_carries_args_and_utc_times() -> None:
    command = parse(
        Command,
        {"cmd_id": "c1", "op": "open_door", "args": {"door": 2}, "expires_at": "2025-11-23T09:31:00+08:00"},
    )

    assert command.args == {"door": 2}
    assert command.expires_at == datetime(2025, 11, 23, 1, 31, tzinfo=UTC)
