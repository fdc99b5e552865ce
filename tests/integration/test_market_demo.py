"""The demo market matches the simulated scales: their stalls, products, prices and batch ids, so the
simulator's traffic (pushes answered by the simulated scales themselves) raises no finding but the
deliberate short weights; the second, smaller market (北市场) is seeded beside it, with its scales only when a
simulator drives them. On both databases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.contract import ScaleRecord, UplinkModel
from devices.simulator import TrafficGenerator
from devices.topics import DeviceTopic
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.decoding import Accepted, decode
from market.demo import NORTH_NAME, NORTH_SCALES, north_demo_generator, seed_demo_market, seed_north_demo_market
from market.divisions import shipped_divisions
from market.findings import FindingKind
from market.scale_delivery import DeliveryStatus
from market.service import MarketService
from market.tracing import intake_problems
from messaging.downlink import RecordingDownlink, command_payload
from relational.database import migrate

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def accepted(messages: Sequence[tuple[str, bytes]]) -> list[tuple[DeviceTopic, UplinkModel]]:
    """What the gateway's decoder lets through, as the service feed hands it to the service."""
    return [(d.topic, d.message) for d in (decode(topic, payload) for topic, payload in messages)
            if isinstance(d, Accepted)]


async def test_the_demo_market_matches_the_simulated_scales_and_their_traffic(engine: AsyncEngine,
                                                                             tmp_path: Path) -> None:
    await migrate(engine, "market")
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    downlink = RecordingDownlink()
    service = MarketService(engine, downlink, store, lambda: NOW)
    generator = TrafficGenerator("demo", gates=0, scales=6, seed=7)
    roster = generator.market_roster(NOW)
    await seed_demo_market(service, "demo", NOW, roster)
    await seed_demo_market(service, "demo", NOW + timedelta(minutes=1), roster)  # the next start adds nothing

    stalls = {o.stall.stall: o for o in await service.stalls("demo", NOW, 50, 0)}
    assert set(stalls) == {entry.stall for entry in roster}
    assert {s.registration.scale: s.registration.stall for s in await service.scales("demo", 50, 0)} == {
        entry.scale_id: entry.stall for entry in roster}
    for entry in roster:
        received = await service.batches("demo", entry.stall, 50, 0)
        assert {b.batch_id for b in received} == {item.batch for item in entry.items}
        for batch in received:  # the rules of intake hold for what the demo seeds
            assert batch.category is not None and intake_problems(batch, shipped_divisions()) == [], batch
    assert all(o.licences.required[0].validity.satisfies for o in stalls.values()), \
        "credit codes (or a farmer's identity) are well formed"
    assert all(o.staff for o in stalls.values()), "each stall has its roster"
    assert (await service.market("demo")).policy.health_certificate_every_stall, "the first market asks more"
    assert await service.licence_problems("demo", NOW, 50, 0), "a few documents are missing or expiring on purpose"

    # the simulated scales answer the pushes, then sell
    answers = [generator.answer(topic.kind, topic.device, command_payload(command), NOW)
               for topic, command in downlink.sent]
    await service.handle(accepted([(a.topic, a.payload) for a in answers if a is not None]))
    assert {d.status for d in await service.deliveries("demo", None, None, 100, 0)} <= {
        DeliveryStatus.ACKED, DeliveryStatus.SUPERSEDED}
    traffic = [generator.next_message(NOW + timedelta(seconds=n)) for n in range(300)]
    burst = accepted([(m.topic, m.payload) for m in traffic])
    sales = [m for _, m in burst if isinstance(m, ScaleRecord)]
    assert len(sales) > 100
    await service.handle(burst)
    findings = await service.findings("demo", None, None, True, 200, 0)
    assert {f.finding.kind for f in findings} <= {FindingKind.AMOUNT_MISMATCH}
    trace = await service.trace("demo", sales[0].trace_code)
    assert trace is not None and trace.batch is not None and trace.batch.batch_id == sales[0].batch and trace.tests
    await store.close()


async def test_the_second_demo_market_is_seeded_beside_the_first_without_scales_no_one_drives(
        engine: AsyncEngine, tmp_path: Path) -> None:
    await migrate(engine, "market")
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    downlink = RecordingDownlink()
    service = MarketService(engine, downlink, store, lambda: NOW)
    first = TrafficGenerator("demo", gates=0, scales=6, seed=7).market_roster(NOW)
    north = north_demo_generator("demo", 7)
    assert north.site == "demo-north"
    roster = north.market_roster(NOW)
    await seed_demo_market(service, "demo", NOW, first)
    sent = len(downlink.sent)
    for _ in range(2):  # the next start adds nothing
        await seed_north_demo_market(service, "demo", NOW, roster)

    assert [(m.site, m.name) for m in await service.markets(10, 0)] == [("demo", "智慧农贸市场（演示）"),
                                                                        ("demo-north", NORTH_NAME)]
    stalls = {o.stall.stall: o for o in await service.stalls("demo-north", NOW, 50, 0)}
    assert set(stalls) == {entry.stall for entry in roster} and len(stalls) == NORTH_SCALES
    assert all(o.vendor is not None for o in stalls.values())
    assert (await service.market("demo-north")).policy.health_certificate_every_stall is False, "the law alone"
    for entry in roster:
        assert {b.batch_id for b in await service.batches("demo-north", entry.stall, 50, 0)} == {
            item.batch for item in entry.items}
        assert await service.price_history("demo-north", entry.stall, None, 1, 0), "its prices are published"
    assert await service.scales("demo-north", 50, 0) == [], "no scale that never answers"
    assert len(downlink.sent) == sent and await service.deliveries("demo-north", None, None, 50, 0) == []
    assert len(await service.stalls("demo", NOW, 50, 0)) == len({entry.stall for entry in first}), "the first as it was"

    # when a simulator drives its scales, they are registered and answer the prices pushed to them
    await seed_north_demo_market(service, "demo", NOW, roster, with_scales=True)
    assert {s.registration.scale for s in await service.scales("demo-north", 50, 0)} == {
        entry.scale_id for entry in roster}
    answers = [north.answer(topic.kind, topic.device, command_payload(command), NOW)
               for topic, command in downlink.sent[sent:]]
    assert all(topic.site == "demo-north" for topic, _ in downlink.sent[sent:]) and answers
    await service.handle(accepted([(a.topic, a.payload) for a in answers if a is not None]))
    assert {d.status for d in await service.deliveries("demo-north", None, None, 100, 0)} <= {
        DeliveryStatus.ACKED, DeliveryStatus.SUPERSEDED}
    await store.close()
