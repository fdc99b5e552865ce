"""Decode → batch → write → acknowledge, against an in-memory store and a real spool in a temp dir."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devices.contract import DeviceState, UplinkModel
from devices.topics import Channel, DeviceKind, DeviceTopic, topic_for
from gateway.batching.pipeline import AckToken, Pipeline, PipelineLimits
from gateway.batching.spool import Spool
from gateway.inputs.mqtt import Inbound
from gateway.metrics import GatewayMetrics
from gateway.outputs import PointQuery, Row, StoreRejected, StoreUnavailable
from gateway.processors.points import CredentialHasher, Measurement, Point

SITE = "site-a"
TS_MS = 1_763_861_400_000
LIMITS = PipelineLimits(batch_size=3, batch_interval_s=0.05, max_batches_in_flight=4, write_retries=0)


class FakeStore:
    """In memory; ``failure`` makes every write raise it, ``gate`` holds writes until it is set."""

    name = "fake"

    def __init__(self) -> None:
        self.batches: list[list[Point]] = []
        self.attempts = 0
        self.failure: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def write(self, points: Sequence[Point]) -> None:
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        self.batches.append(list(points))

    async def select(self, query: PointQuery) -> list[Row]:
        raise NotImplementedError

    async def count(self, query: PointQuery) -> int:
        raise NotImplementedError

    async def ping(self) -> bool:
        return self.failure is None

    @property
    def points(self) -> list[Point]:
        return [point for batch in self.batches for point in batch]


@dataclass
class FakeIntake:
    acked: list[AckToken] = field(default_factory=list)
    pauses: int = 0
    resumes: int = 0

    def ack(self, tokens: Sequence[AckToken]) -> int:
        self.acked.extend(tokens)
        return len(tokens)

    def pause(self) -> None:
        self.pauses += 1

    def resume(self) -> None:
        self.resumes += 1


@dataclass
class RecordingListener:
    calls: list[list[tuple[DeviceTopic, UplinkModel | None]]] = field(default_factory=list)

    def on_stored(self, messages: Sequence[tuple[DeviceTopic, UplinkModel | None]]) -> None:
        self.calls.append(list(messages))


@dataclass
class Gateway:
    pipeline: Pipeline
    store: FakeStore
    spool: Spool
    intake: FakeIntake
    metrics: GatewayMetrics

    def stored_to(self, destination: str) -> float:
        return self.metrics.value("sc_gateway_messages_stored_total", to=destination)


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(
        limits: PipelineLimits = LIMITS, spool_max_bytes: int = 10**8, listeners: Sequence[Any] = ()
    ) -> Gateway:
        store, intake, metrics = FakeStore(), FakeIntake(), GatewayMetrics()
        spool = Spool(tmp_path / f"spool-{len(made)}", spool_max_bytes)
        pipeline = Pipeline(store, spool, metrics, CredentialHasher(b"k"), limits, listeners)
        pipeline.attach(intake)
        made.append(Gateway(pipeline, store, spool, intake, metrics))
        return made[-1]

    yield make


@contextlib.asynccontextmanager
async def running(pipeline: Pipeline) -> AsyncIterator[None]:
    task = asyncio.create_task(pipeline.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)  # let the replay task run() cancelled finish


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    step = 0.005
    for _ in range(int(within / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition still false after {within} s")


async def settle(seconds: float = 0.02) -> None:
    """Give scheduled flushes time to run (far less than any timer under test)."""
    await asyncio.sleep(seconds)


# -- messages -------------------------------------------------------------------------------------


def gate_event(mid: int, **changes: Any) -> Inbound:
    body = {
        "event_id": f"ev-{mid}",
        "ts": TS_MS + mid,
        "door": 1,
        "kind": "granted",
        "method": "card",
        **changes,
    }
    topic = topic_for(SITE, DeviceKind.GATE, "gate-01", Channel.EVENT)
    return Inbound(topic, json.dumps(body).encode(), mid=mid, qos=1, generation=1)


def scale_record(mid: int) -> Inbound:
    body = {
        "record_id": f"rec-{mid}",
        "ts": TS_MS + mid,
        "stall": "A-01",
        "plu": "1001",
        "product": "白菜",
        "net_g": 1500,
        "unit_price_fen": 2000,
        "amount_fen": 3000,
        "trace_code": f"TR-{mid}",
    }
    topic = topic_for(SITE, DeviceKind.SCALE, "scale-01", Channel.RECORD)
    return Inbound(topic, json.dumps(body, ensure_ascii=False).encode(), mid=mid, qos=1, generation=1)


def raw(mid: int, topic: str, payload: bytes) -> Inbound:
    return Inbound(topic, payload, mid=mid, qos=1, generation=1)


def tokens(*mids: int) -> list[AckToken]:
    return [(1, mid, 1) for mid in mids]


def ids(points: Sequence[Point]) -> list[object]:
    return [point.fields.get("event_id", point.fields.get("record_id")) for point in points]


# -- acknowledgement after storage ----------------------------------------------------------------


async def test_a_message_is_acked_only_after_the_store_took_its_batch(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    gw.store.gate = asyncio.Event()

    gw.pipeline.on_messages([gate_event(1), gate_event(2), scale_record(3)])
    await eventually(lambda: gw.store.attempts == 1)
    await settle()

    assert gw.intake.acked == []
    assert gw.stored_to("store") == 0

    gw.store.gate.set()
    await eventually(lambda: len(gw.intake.acked) == 3)

    assert gw.intake.acked == tokens(1, 2, 3)
    assert ids(gw.store.points) == ["ev-1", "ev-2", "rec-3"]
    assert gw.stored_to("store") == 3


async def test_a_full_batch_flushes_at_batch_size_without_waiting(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()  # run() is not running: only size can trigger a flush

    gw.pipeline.on_messages([gate_event(mid) for mid in range(1, 8)])
    await settle()

    assert [ids(batch) for batch in gw.store.batches] == [["ev-1", "ev-2", "ev-3"], ["ev-4", "ev-5", "ev-6"]]
    assert gw.intake.acked == tokens(1, 2, 3, 4, 5, 6)


async def test_a_partial_batch_flushes_after_the_batch_interval(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(PipelineLimits(batch_size=3, batch_interval_s=0.2, write_retries=0))

    async with running(gw.pipeline):
        gw.pipeline.on_messages([gate_event(1), gate_event(2)])
        await settle()
        assert gw.store.batches == []

        await eventually(lambda: len(gw.intake.acked) == 2, within=2.0)

    assert [ids(batch) for batch in gw.store.batches] == [["ev-1", "ev-2"]]


async def test_a_partial_batch_waits_while_the_pipeline_is_not_running(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()

    gw.pipeline.on_messages([gate_event(1)])
    await asyncio.sleep(LIMITS.batch_interval_s * 3)

    assert gw.store.attempts == 0
    assert gw.intake.acked == []


async def test_drain_flushes_everything_received(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway()
    gw.pipeline.on_messages([gate_event(mid) for mid in range(1, 6)])

    await gw.pipeline.drain()

    assert ids(gw.store.points) == ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5"]
    assert gw.intake.acked == tokens(1, 2, 3, 4, 5)


# -- store down: spool, replay, backpressure ------------------------------------------------------


async def test_a_batch_the_store_cannot_take_is_spooled_and_acked(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    gw.store.failure = StoreUnavailable("connection refused")

    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await gw.pipeline.drain()

    assert gw.intake.acked == tokens(1, 2, 3)
    assert gw.store.points == []
    assert gw.spool.depth_points == 3
    assert ids(gw.spool.oldest().points) == ["ev-1", "ev-2", "ev-3"]  # type: ignore[union-attr]
    assert gw.stored_to("spool") == 3
    assert gw.stored_to("store") == 0
    assert gw.metrics.value("sc_gateway_spool_depth_points") == 3
    assert gw.metrics.value("sc_gateway_store_up") == 0
    assert not gw.pipeline.store_up


async def test_write_retries_are_spent_before_spooling(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(PipelineLimits(batch_size=1, write_retries=2))
    gw.store.failure = StoreUnavailable("timeout")

    gw.pipeline.on_messages([gate_event(1)])
    await gw.pipeline.drain()

    assert gw.store.attempts == 3
    assert gw.spool.depth_batches == 1


async def test_spooled_batches_are_replayed_oldest_first_once_the_store_is_back(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    gw.store.failure = StoreUnavailable("down")
    gw.pipeline.on_messages([gate_event(mid) for mid in range(1, 7)])
    gw.pipeline.on_messages([scale_record(7)])
    await gw.pipeline.drain()
    assert gw.spool.depth_batches == 3

    gw.store.failure = None
    async with running(gw.pipeline):
        await eventually(lambda: gw.spool.depth_batches == 0)

    assert [ids(batch) for batch in gw.store.batches] == [
        ["ev-1", "ev-2", "ev-3"],
        ["ev-4", "ev-5", "ev-6"],
        ["rec-7"],
    ]
    assert gw.spool.oldest() is None
    assert gw.metrics.value("sc_gateway_points_replayed_total") == 7
    assert gw.metrics.value("sc_gateway_spool_depth_points") == 0
    assert gw.metrics.value("sc_gateway_store_up") == 1
    assert gw.pipeline.store_up


async def test_a_batch_spooled_while_running_is_replayed_when_the_store_recovers(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    gw.store.failure = StoreUnavailable("down")

    async with running(gw.pipeline):
        gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
        await eventually(lambda: gw.spool.depth_batches == 1 and len(gw.intake.acked) == 3)
        gw.store.failure = None
        await eventually(lambda: gw.spool.depth_batches == 0)

    assert ids(gw.store.points) == ["ev-1", "ev-2", "ev-3"]


async def test_with_the_spool_full_and_the_store_down_nothing_is_acked_until_the_store_returns(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(spool_max_bytes=16)
    gw.store.failure = StoreUnavailable("down")

    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await eventually(lambda: gw.store.attempts >= 1)
    await asyncio.sleep(0.1)

    assert gw.intake.acked == []
    assert gw.spool.depth_batches == 0

    gw.store.failure = None
    await eventually(lambda: len(gw.intake.acked) == 3)

    assert ids(gw.store.points) == ["ev-1", "ev-2", "ev-3"]
    assert gw.stored_to("store") == 3
    assert gw.stored_to("spool") == 0


async def test_intake_pauses_at_the_in_flight_limit_and_resumes_after(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(PipelineLimits(batch_size=1, max_batches_in_flight=2, write_retries=0))
    gw.store.gate = asyncio.Event()

    gw.pipeline.on_messages([gate_event(1)])
    assert gw.intake.pauses == 0

    gw.pipeline.on_messages([gate_event(2)])
    assert gw.intake.pauses == 1
    assert gw.metrics.value("sc_gateway_intake_paused") == 1
    await settle()
    assert gw.intake.resumes == 0

    gw.store.gate.set()
    await eventually(lambda: len(gw.intake.acked) == 2)
    await settle()

    assert gw.intake.resumes >= 1
    assert gw.metrics.value("sc_gateway_intake_paused") == 0
    assert gw.metrics.value("sc_gateway_batches_in_flight") == 0


# -- refusals, dead letters, ignored messages -----------------------------------------------------


async def test_points_the_store_refuses_are_counted_and_acked_not_retried(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(PipelineLimits(batch_size=3, write_retries=2))
    gw.store.failure = StoreRejected("field type conflict")

    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await gw.pipeline.drain()

    assert gw.intake.acked == tokens(1, 2, 3)
    assert gw.store.attempts == 1
    assert gw.metrics.value("sc_gateway_points_rejected_by_store_total") == 3
    assert gw.spool.depth_batches == 0
    assert gw.pipeline.store_up


async def test_invalid_messages_become_dead_letter_points_and_are_acked(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(PipelineLimits(batch_size=10, write_retries=0))
    gate_topic = topic_for(SITE, DeviceKind.GATE, "gate-01", Channel.EVENT)

    gw.pipeline.on_messages(
        [
            raw(1, gate_topic, b'{"event_id": '),
            raw(2, "sc/v1/site-a/door/gate-01/event", b"{}"),
            gate_event(3, door="1"),
            gate_event(4, device="gate-99"),
            raw(5, gate_topic, b"\xff\xfe"),
            gate_event(6),
        ]
    )
    await gw.pipeline.drain()

    dead = [point for point in gw.store.points if point.measurement == Measurement.DEAD_LETTER]
    assert [dict(point.tags)["reason"] for point in dead] == [
        "bad_json",
        "unknown_topic",
        "schema",
        "device_mismatch",
        "not_utf8",
    ]
    assert {dict(point.tags)["site"] for point in dead} == {SITE}
    assert "door" in str(dead[2].fields["detail"])
    assert ids([point for point in gw.store.points if point not in dead]) == ["ev-6"]
    assert gw.intake.acked == tokens(1, 2, 3, 4, 5, 6)
    assert gw.metrics.by_label("sc_gateway_dead_letters_total", "reason") == {
        "bad_json": 1,
        "unknown_topic": 1,
        "schema": 1,
        "device_mismatch": 1,
        "not_utf8": 1,
    }
    assert gw.metrics.value("sc_gateway_messages_received_total", channel="invalid", transport="mqtt") == 5
    assert gw.metrics.value("sc_gateway_messages_received_total", channel="event", transport="mqtt") == 1


async def test_dead_letters_in_one_burst_stay_distinct_points(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(PipelineLimits(batch_size=10, write_retries=0))
    gate_topic = topic_for(SITE, DeviceKind.GATE, "gate-01", Channel.EVENT)

    gw.pipeline.on_messages([raw(mid, gate_topic, b"not json") for mid in range(1, 5)])
    await gw.pipeline.drain()

    identities = {(point.measurement, point.tags, point.time_ns) for point in gw.store.points}
    assert len(identities) == 4


async def test_a_downlink_command_is_acked_without_a_point(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway()
    cmd_topic = topic_for(SITE, DeviceKind.GATE, "gate-01", Channel.CMD)

    gw.pipeline.on_messages([raw(1, cmd_topic, b'{"cmd_id": "c1", "op": "open_door"}')])
    await gw.pipeline.drain()

    assert gw.intake.acked == tokens(1)
    assert gw.store.attempts == 0
    assert gw.metrics.value("sc_gateway_messages_received_total", channel="cmd", transport="mqtt") == 1


async def test_a_timestamp_overflowing_in_utc_is_dead_lettered_and_the_burst_goes_on(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(PipelineLimits(batch_size=10, write_retries=0))

    gw.pipeline.on_messages([gate_event(1), gate_event(2, ts="0001-01-01T00:00:00+01:00"), gate_event(3)])
    await gw.pipeline.drain()

    assert gw.intake.acked == tokens(1, 2, 3)
    assert [point.measurement for point in gw.store.points] == ["gate_event", "dead_letter", "gate_event"]


# -- listeners ------------------------------------------------------------------------------------


async def test_listeners_hear_of_accepted_messages_only_after_storage(
    make_gateway: Callable[..., Gateway],
) -> None:
    listener = RecordingListener()
    gw = make_gateway(listeners=[listener])
    gw.store.gate = asyncio.Event()
    gate_topic = topic_for(SITE, DeviceKind.GATE, "gate-01", Channel.EVENT)

    state_topic = topic_for(SITE, DeviceKind.GATE, "gate-01", Channel.STATE)
    gw.pipeline.on_messages([gate_event(1), raw(2, gate_topic, b"junk"), raw(3, state_topic, b'{"online": true}'),
                             scale_record(4)])
    await eventually(lambda: gw.store.attempts == 1)
    await settle()
    assert listener.calls == []

    gw.store.gate.set()
    await eventually(lambda: len(listener.calls) == 1)

    # events and records come by the hot path, which builds no model; a state's model is there to read
    [heard] = listener.calls
    assert [(str(topic), message) for topic, message in heard] == [
        ("sc/v1/site-a/gate/gate-01/event", None),
        ("sc/v1/site-a/gate/gate-01/state", DeviceState(online=True)),
    ]


async def test_a_failing_listener_neither_stops_acks_nor_other_listeners(
    make_gateway: Callable[..., Gateway],
) -> None:
    class Broken:
        def on_stored(self, messages: Sequence[tuple[DeviceTopic, UplinkModel | None]]) -> None:
            raise RuntimeError("listener bug")

    after = RecordingListener()
    gw = make_gateway(listeners=[Broken(), after])

    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await gw.pipeline.drain()

    assert gw.intake.acked == tokens(1, 2, 3)
    assert len(after.calls) == 1


async def test_listeners_hear_of_spooled_messages_too(make_gateway: Callable[..., Gateway]) -> None:
    listener = RecordingListener()
    gw = make_gateway(listeners=[listener])
    gw.store.failure = StoreUnavailable("down")

    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await gw.pipeline.drain()

    assert gw.spool.depth_points == 3
    assert [len(call) for call in listener.calls] == [3]


# -- review fixes: ordering, shutdown under traffic, disk errors, replay robustness -------------------


class OrderedGateStore(FakeStore):
    """Holds the write of the batch containing ``held_id`` until released: batches finish out of order."""

    def __init__(self, held_id: str) -> None:
        super().__init__()
        self.held_id = held_id
        self.release = asyncio.Event()

    async def write(self, points: Sequence[Point]) -> None:
        if any(point.fields.get("event_id") == self.held_id for point in points):
            await self.release.wait()
        self.batches.append(list(points))


async def test_acks_go_out_in_receive_order_even_when_batches_finish_out_of_order(tmp_path: Path) -> None:
    store, intake, metrics = OrderedGateStore("ev-1"), FakeIntake(), GatewayMetrics()
    pipeline = Pipeline(store, Spool(tmp_path / "spool", 10**8), metrics, CredentialHasher(b"k"), LIMITS)
    pipeline.attach(intake)
    pipeline.on_messages([gate_event(mid) for mid in range(1, 7)])  # two batches of three
    await eventually(lambda: len(store.batches) == 1)  # the second batch is written first...
    await settle()
    assert intake.acked == [], "...but its acks wait for the first batch"
    store.release.set()
    await eventually(lambda: len(intake.acked) == 6)
    assert intake.acked == tokens(1, 2, 3, 4, 5, 6)


async def test_drain_ends_under_continuous_traffic_and_keeps_intake_paused(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    async with running(gw.pipeline):
        feeding = True

        async def feed() -> None:
            mid = 1
            while feeding:
                gw.pipeline.on_messages([gate_event(mid)])
                mid += 1
                await asyncio.sleep(0.001)

        feeder = asyncio.create_task(feed())
        await asyncio.sleep(0.1)
        resumes_before = gw.intake.resumes
        await asyncio.wait_for(gw.pipeline.drain(), 5)
        feeding = False
        await feeder
    assert gw.intake.pauses >= 1
    assert gw.intake.resumes == resumes_before, "once stopping, intake is never resumed"


async def test_a_disk_error_in_the_spool_holds_the_batch_until_it_can_be_stored(
    make_gateway: Callable[..., Gateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = make_gateway()
    gw.store.failure = StoreUnavailable("down")

    def disk_full(points: Sequence[Point]) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gw.spool, "append", disk_full)
    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await asyncio.sleep(0.3)
    assert gw.intake.acked == [] and gw.store.points == []
    gw.store.failure = None
    await eventually(lambda: len(gw.intake.acked) == 3, within=10)
    assert ids(gw.store.points) == ["ev-1", "ev-2", "ev-3"]


async def test_the_replay_outlives_an_unexpected_error_and_goes_on(
    make_gateway: Callable[..., Gateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = make_gateway()
    gw.store.failure = StoreUnavailable("down")
    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await eventually(lambda: gw.spool.depth_points == 3)
    real_oldest = gw.spool.oldest
    calls = {"n": 0}

    def flaky_oldest() -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in the replay path")
        return real_oldest()

    monkeypatch.setattr(gw.spool, "oldest", flaky_oldest)
    gw.store.failure = None
    async with running(gw.pipeline):
        await eventually(lambda: gw.spool.depth_points == 0, within=10)
    assert ids(gw.store.points) == ["ev-1", "ev-2", "ev-3"] and calls["n"] >= 2


async def test_an_unexpected_store_error_keeps_the_data_and_reports_the_store_down(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    gw.store.failure = RuntimeError("client bug")
    gw.pipeline.on_messages([gate_event(1), gate_event(2), gate_event(3)])
    await eventually(lambda: gw.spool.depth_points == 3)
    assert gw.intake.acked == tokens(1, 2, 3)
    assert gw.metrics.value("sc_gateway_store_up") == 0
