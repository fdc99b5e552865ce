"""The traffic generator of the device simulator: deterministic, contract-valid, malformed on purpose."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.contract import GateEvent, GateEventKind, Payment, ScaleRecord, expected_amount_fen
from devices.simulator import PRODUCTS, SimMessage, SimulationStats, TrafficGenerator
from devices.topics import Channel, DeviceKind, TopicError, parse_topic
from gateway.processors.decoding import Accepted, DeadLetterReason, Rejected, decode

START = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai, the market is busy
STEP = timedelta(milliseconds=50)
ALARMS = {GateEventKind.FORCED, GateEventKind.HELD_OPEN, GateEventKind.TAMPER}
CHINESE = re.compile(r"[\u4e00-\u9fff]")
PLU_PRICES = {product.plu: product.price_fen_per_kg for product in PRODUCTS}


def traffic(
    generator: TrafficGenerator, count: int, step: timedelta = STEP
) -> Iterator[tuple[datetime, SimMessage]]:
    now = START
    for _ in range(count):
        now += step
        yield now, generator.next_message(now)


def accepted(message: SimMessage) -> Accepted:
    decoded = decode(message.topic, message.payload)
    assert isinstance(decoded, Accepted), (decoded, message)
    return decoded


@dataclass(frozen=True)
class Seen:
    """A good message as the gateway accepted it, with the time it was generated."""

    now: datetime
    device: str
    model: GateEvent | ScaleRecord


def accepted_traffic(generator: TrafficGenerator, count: int) -> list[Seen]:
    seen = []
    for now, message in traffic(generator, count):
        decoded = accepted(message)
        assert isinstance(decoded.message, GateEvent | ScaleRecord)
        seen.append(Seen(now, decoded.topic.device, decoded.message))
    return seen


@pytest.fixture(scope="module")
def market_day() -> list[Seen]:
    return accepted_traffic(TrafficGenerator("xinfadi", gates=3, scales=3, seed=20261123), 20_000)


def gate_events(day: list[Seen]) -> list[tuple[Seen, GateEvent]]:
    return [(seen, seen.model) for seen in day if isinstance(seen.model, GateEvent)]


def scale_records(day: list[Seen]) -> list[ScaleRecord]:
    return [seen.model for seen in day if isinstance(seen.model, ScaleRecord)]


def test_devices_are_numbered_gates_then_scales() -> None:
    generator = TrafficGenerator("xinfadi", gates=2, scales=3, seed=1)

    assert generator.devices == (
        (DeviceKind.GATE, "gate-01"),
        (DeviceKind.GATE, "gate-02"),
        (DeviceKind.SCALE, "scale-01"),
        (DeviceKind.SCALE, "scale-02"),
        (DeviceKind.SCALE, "scale-03"),
    )


def test_same_seed_gives_identical_sequence() -> None:
    first = [
        message for _, message in traffic(TrafficGenerator("xinfadi", 3, 3, seed=5, bad_ratio=0.1), 2000)
    ]
    again = [
        message for _, message in traffic(TrafficGenerator("xinfadi", 3, 3, seed=5, bad_ratio=0.1), 2000)
    ]

    assert first == again


def test_different_seed_gives_different_sequence() -> None:
    one = [message for _, message in traffic(TrafficGenerator("xinfadi", 3, 3, seed=5), 200)]
    other = [message for _, message in traffic(TrafficGenerator("xinfadi", 3, 3, seed=6), 200)]

    assert one != other


def test_every_good_message_is_accepted_and_round_trips() -> None:
    generator = TrafficGenerator("xinfadi", gates=3, scales=3, seed=11)

    for _, message in traffic(generator, 3000):
        model = accepted(message).message
        assert not message.bad
        assert (message.qos, message.retain) == (1, False)
        assert type(model).model_validate_json(model.model_dump_json()) == model
        # the payload holds exactly the model's fields; only the time is written the device's way
        sent = json.loads(message.payload)
        kept = model.model_dump(mode="json", exclude_none=True)
        assert sent.keys() == kept.keys()
        assert {key: value for key, value in sent.items() if key != "ts"} == {
            key: value for key, value in kept.items() if key != "ts"
        }


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**64),
    gates=st.integers(min_value=0, max_value=3),
    scales=st.integers(min_value=0, max_value=3),
    start=st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2098, 1, 1), timezones=st.just(UTC)
    ),
)
def test_any_seed_gives_only_contract_valid_messages(
    seed: int, gates: int, scales: int, start: datetime
) -> None:
    generator = TrafficGenerator("site-1", gates=gates, scales=max(scales, 1 - gates), seed=seed)
    now = start

    for _ in range(300):
        now += STEP
        message = generator.next_message(now)
        assert isinstance(decode(message.topic, message.payload), Accepted)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), gates=st.integers(0, 2), scales=st.integers(1, 2))
def test_any_seed_with_only_bad_traffic_is_all_rejected(seed: int, gates: int, scales: int) -> None:
    generator = TrafficGenerator("site-1", gates=gates, scales=scales, seed=seed, bad_ratio=1.0)

    for _, message in traffic(generator, 30):
        assert message.bad
        assert isinstance(decode(message.topic, message.payload), Rejected)


def test_bad_messages_are_rejected_for_every_reason() -> None:
    generator = TrafficGenerator("xinfadi", gates=3, scales=3, seed=3, bad_ratio=0.2)
    reasons: Counter[DeadLetterReason] = Counter()

    for _, message in traffic(generator, 3000):
        decoded = decode(message.topic, message.payload)
        if message.bad:
            assert isinstance(decoded, Rejected), message
            reasons[decoded.reason] += 1
        else:
            assert isinstance(decoded, Accepted), (decoded, message)

    assert set(reasons) == set(DeadLetterReason)
    assert min(reasons.values()) >= 50


def test_unknown_topics_stay_under_the_contract_prefix() -> None:
    generator = TrafficGenerator("xinfadi", gates=1, scales=1, seed=4, bad_ratio=1.0)

    for _, message in traffic(generator, 120):
        decoded = decode(message.topic, message.payload)
        if isinstance(decoded, Rejected) and decoded.reason is DeadLetterReason.UNKNOWN_TOPIC:
            assert message.topic.startswith("sc/v1/xinfadi/")
            with pytest.raises(TopicError):
                parse_topic(message.topic)


def test_oversized_payload_is_past_64_kib() -> None:
    generator = TrafficGenerator("xinfadi", gates=1, scales=1, seed=4, bad_ratio=1.0)

    sizes = []
    for _, message in traffic(generator, 60):
        decoded = decode(message.topic, message.payload)
        if isinstance(decoded, Rejected) and decoded.reason is DeadLetterReason.PAYLOAD_TOO_LARGE:
            sizes.append(len(message.payload))

    assert sizes
    assert all(size > 64 * 1024 for size in sizes)


def test_bad_share_is_close_to_bad_ratio() -> None:
    generator = TrafficGenerator("xinfadi", gates=3, scales=3, seed=8, bad_ratio=0.2)

    bad = sum(message.bad for _, message in traffic(generator, 5000))

    assert 0.18 <= bad / 5000 <= 0.22  # about 3.5 standard deviations of a binomial share


def test_no_bad_messages_without_bad_ratio(market_day: list[Seen]) -> None:
    assert len(market_day) == 20_000  # every message of the day decoded as Accepted


def test_scale_amounts_match_weight_times_price_except_rare_short_weights(
    market_day: list[Seen],
) -> None:
    records = scale_records(market_day)
    off = [record for record in records if record.amount_fen != record.expected_amount_fen]

    assert all(record.amount_mismatch for record in off)
    overcharges = [
        record.amount_fen - expected_amount_fen(record.net_g, record.unit_price_fen) for record in off
    ]
    assert all(fen >= 3 for fen in overcharges)
    assert 0.003 <= len(off) / len(records) <= 0.02


def test_products_have_chinese_names_and_plausible_prices(
    market_day: list[Seen],
) -> None:
    records = scale_records(market_day)

    assert all(record.product is not None and CHINESE.search(record.product) for record in records)
    for record in records:
        low, high = PLU_PRICES[record.plu]
        assert low <= record.unit_price_fen <= high
        assert 0 < record.net_g <= 10_000


def test_catalogue_prices_are_realistic() -> None:
    by_name = {product.name: product.price_fen_per_kg for product in PRODUCTS}

    assert by_name["西红柿"] == (600, 900)
    assert by_name["猪肉"] == (2600, 3200)
    assert by_name["鸡蛋"] == (1000, 1300)
    assert {"大白菜", "土豆", "黄瓜", "苹果", "草鱼", "牛肉", "豆腐"} <= by_name.keys()
    assert len({product.plu for product in PRODUCTS}) == len(PRODUCTS)


def test_trace_codes_are_unique_and_batches_name_the_stall(
    market_day: list[Seen],
) -> None:
    records = scale_records(market_day)

    assert len({record.trace_code for record in records}) == len(records)
    for record in records:
        assert re.fullmatch(r"[A-E]\d{2}", record.stall)
        assert record.stall in record.trace_code
        assert record.batch is not None and re.fullmatch(rf"B\d{{8}}-{record.stall}-\d{{2}}", record.batch)


def test_ids_are_unique_per_device() -> None:
    generator = TrafficGenerator("xinfadi", gates=2, scales=2, seed=9)
    seen: set[tuple[str, str]] = set()

    for message in accepted_traffic(generator, 4000):
        model = message.model
        identity = model.event_id if isinstance(model, GateEvent) else model.record_id
        assert (message.device, identity) not in seen
        seen.add((message.device, identity))


def test_payments_are_mostly_wechat_and_alipay(market_day: list[Seen]) -> None:
    payments = Counter(record.payment for record in scale_records(market_day))

    mobile = payments[Payment.WECHAT] + payments[Payment.ALIPAY]
    assert mobile > 0.7 * sum(payments.values())
    assert payments[Payment.CASH] > 0


def test_gate_event_mix_has_grants_denials_and_rare_alarms(
    market_day: list[Seen],
) -> None:
    events = [event for _, event in gate_events(market_day)]
    kinds = Counter(event.kind for event in events)
    methods = Counter(event.method for event in events if event.kind is GateEventKind.GRANTED)
    reasons = {event.reason for event in events if event.kind is GateEventKind.DENIED}

    assert kinds[GateEventKind.GRANTED] > kinds[GateEventKind.DENIED] > 0
    assert {"card", "face", "qr"} <= set(methods)
    assert reasons == {"unknown_credential", "expired", "no_permission", "outside_schedule", "blacklisted"}
    assert kinds[GateEventKind.DOOR_OPEN] > 0 and kinds[GateEventKind.DOOR_CLOSED] > 0
    alarms = sum(kinds[kind] for kind in ALARMS)
    assert 0 < alarms < 0.01 * len(events)


def test_a_door_closes_before_it_opens_again(market_day: list[Seen]) -> None:
    door_history: defaultdict[tuple[str, int], list[GateEventKind]] = defaultdict(list)
    for seen, event in gate_events(market_day):
        if event.kind in (GateEventKind.DOOR_OPEN, GateEventKind.FORCED, GateEventKind.DOOR_CLOSED):
            door_history[(seen.device, event.door)].append(event.kind)

    assert door_history
    for history in door_history.values():
        opened = [kind is not GateEventKind.DOOR_CLOSED for kind in history]
        assert opened[::2] == [True] * len(opened[::2])
        assert opened[1::2] == [False] * len(opened[1::2])


def test_offline_backlog_is_flagged_and_in_the_past(
    market_day: list[Seen],
) -> None:
    offline = [(seen.now, event) for seen, event in gate_events(market_day) if event.offline]

    assert offline
    for now, event in offline:
        assert isinstance(event.ts, datetime)
        assert event.ts <= now - timedelta(minutes=1)
        assert event.kind in (GateEventKind.GRANTED, GateEventKind.DENIED)


def test_online_messages_are_never_from_the_future(
    market_day: list[Seen],
) -> None:
    for seen in market_day:
        assert isinstance(seen.model.ts, datetime)
        assert seen.model.ts <= seen.now


def test_timestamps_are_sent_as_shanghai_time_or_epoch_milliseconds() -> None:
    generator = TrafficGenerator("xinfadi", gates=2, scales=2, seed=2)
    styles: Counter[str] = Counter()

    for _, message in traffic(generator, 500):
        ts = json.loads(message.payload)["ts"]
        if isinstance(ts, int):
            styles["epoch_ms"] += 1
        else:
            assert ts.endswith("+08:00")
            styles["rfc3339"] += 1

    assert styles["epoch_ms"] > 0 and styles["rfc3339"] > 0


def test_state_message_is_retained_and_valid() -> None:
    generator = TrafficGenerator("xinfadi", gates=1, scales=1, seed=2)
    before = [message for _, message in traffic(TrafficGenerator("xinfadi", 1, 1, seed=2), 50)]

    for kind, device_id in generator.devices:
        for online in (True, False):
            message = generator.state_message(kind, device_id, online, START)
            decoded = accepted(message)
            assert (message.qos, message.retain, message.bad) == (1, True, False)
            assert decoded.topic.channel is Channel.STATE
            assert (decoded.topic.kind, decoded.topic.device) == (kind, device_id)
            assert getattr(decoded.message, "online", None) is online

    # announcing availability does not shift the traffic that follows
    assert [message for _, message in traffic(generator, 50)] == before


def test_now_must_be_aware() -> None:
    generator = TrafficGenerator("xinfadi", gates=1, scales=1, seed=2)

    with pytest.raises(ValueError, match="aware"):
        generator.next_message(datetime(2026, 11, 23, 10, 0))


@pytest.mark.parametrize(
    ("site", "gates", "scales", "bad_ratio"),
    [("xinfadi", 0, 0, 0.0), ("xinfadi", 1, 1, 1.5), ("xinfadi", -1, 2, 0.0), ("新发地", 1, 1, 0.0)],
)
def test_invalid_generator_settings_are_refused(site: str, gates: int, scales: int, bad_ratio: float) -> None:
    with pytest.raises(ValueError):
        TrafficGenerator(site, gates=gates, scales=scales, seed=1, bad_ratio=bad_ratio)


def test_simulation_stats_count_messages_by_kind() -> None:
    generator = TrafficGenerator("xinfadi", gates=2, scales=2, seed=12, bad_ratio=0.3)
    stats = SimulationStats()
    expected: Counter[str] = Counter()

    for _, message in traffic(generator, 400):
        stats.count_published(message)
        expected["bad" if message.bad else parse_topic(message.topic).kind.value] += 1
    stats.count_published(generator.state_message(DeviceKind.GATE, "gate-01", True, START))

    assert (stats.gate_events, stats.scale_records, stats.bad, stats.states) == (
        expected["gate"],
        expected["scale"],
        expected["bad"],
        1,
    )
    assert stats.published == 401
