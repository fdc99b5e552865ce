"""Several gateway workers as one: who each is, when one is restarted, their metrics summed, their spools."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from gateway.batching.spool import Spool, move_batches
from gateway.metrics import GatewayMetrics
from gateway.processors.points import Point
from gateway.summed_metrics import WorkerCounts, parse, render, summed
from gateway.workers import DEFAULT_SHARE_GROUP, RestartBackoff, stranded_spool_dirs, worker_identity


def test_a_worker_keeps_its_client_id_and_spool_and_joins_the_group(tmp_path: Path) -> None:
    worker = worker_identity(1, "sc-gateway-host", "", tmp_path)
    assert worker.client_id == "sc-gateway-host-w1"
    assert worker.share_group == DEFAULT_SHARE_GROUP
    assert worker.spool_dir == tmp_path / "spool-w1"
    assert worker == worker_identity(1, "sc-gateway-host", "", tmp_path), "the same at every restart"
    assert worker_identity(0, "gw", "north", tmp_path).share_group == "north"


def test_restarts_wait_longer_while_a_worker_keeps_dying_and_briefly_after_a_rare_crash() -> None:
    backoff = RestartBackoff(first_s=1, longest_s=8, stable_s=30)
    delays = []
    for _ in range(5):
        backoff = backoff.after_exit(ran_s=2)
        delays.append(backoff.delay_s)
    assert delays == [1, 2, 4, 8, 8]
    assert backoff.after_exit(ran_s=3600).delay_s == 1


def _worker_metrics(received: int, spool_points: int, connected: bool) -> GatewayMetrics:
    metrics = GatewayMetrics()
    metrics.received.labels("event", "mqtt").inc(received)
    metrics.received.labels("record", "mqtt").inc(1)
    metrics.stored.labels("store").inc(received + 1)
    metrics.batch_seconds.observe(0.02)
    metrics.spool_points.set(spool_points)
    metrics.broker_connected.set(1 if connected else 0)
    return metrics


def test_the_workers_metrics_are_summed_per_label_set() -> None:
    first = parse(generate_latest(_worker_metrics(10, 3, True).registry).decode())
    second = parse(generate_latest(_worker_metrics(5, 4, False).registry).decode())
    total = summed([first, second])
    assert total.value("sc_gateway_messages_received_total", channel="event", transport="mqtt") == 15
    assert total.by_label("sc_gateway_messages_received_total", "channel") == {"event": 15, "record": 2}
    assert total.value("sc_gateway_messages_stored_total", to="store") == 17
    assert total.value("sc_gateway_spool_depth_points") == 7
    assert total.value("sc_gateway_broker_connected") == 1, "the number of workers connected"
    assert total.value("sc_gateway_batch_write_seconds_count") == 2
    assert total.value("sc_gateway_batch_write_seconds_bucket", le="0.025") == 2

    text = render(total).decode()
    assert 'sc_gateway_messages_received_total{channel="event",transport="mqtt"} 15.0' in text
    assert "# TYPE sc_gateway_messages_received_total counter" in text
    assert "_created" not in text, "a sum of series start times means nothing"
    assert parse(text).values == total.values, "what is served parses back to the same sum"


def test_what_a_restarted_worker_had_counted_stays_in_the_sum_and_its_gauges_do_not() -> None:
    slot = WorkerCounts()
    slot.read(parse(generate_latest(_worker_metrics(10, 3, True).registry).decode()))
    slot.restarted()
    assert slot.total().value("sc_gateway_messages_stored_total", to="store") == 11
    assert slot.total().value("sc_gateway_spool_depth_points") == 0
    slot.read(parse(generate_latest(_worker_metrics(2, 1, True).registry).decode()))
    total = slot.total()
    assert total.value("sc_gateway_messages_stored_total", to="store") == 14, "never goes back"
    assert total.value("sc_gateway_spool_depth_points") == 1
    assert "sc_gateway_messages_stored_total" in render(total).decode()


@pytest.mark.parametrize(("workers", "stranded"), [
    (1, ["spool-w0", "spool-w1", "spool-w2"]),
    (2, ["spool", "spool-w2"]),
    (3, ["spool"]),
])
def test_spools_no_worker_replays_are_found(tmp_path: Path, workers: int, stranded: list[str]) -> None:
    for name in ("spool", "spool-w0", "spool-w1", "spool-w2", "spool-wx"):
        (tmp_path / name).mkdir()
    assert [path.name for path in stranded_spool_dirs(tmp_path, workers)] == stranded


def _point(n: int) -> Point:
    return Point("gate_event", (("device", "g1"),), {"event_id": f"e{n}"}, 1_795_000_000_000_000_000 + n)


def test_a_stranded_spool_is_handed_over_oldest_first_after_the_spools_own(tmp_path: Path) -> None:
    stranded = Spool(tmp_path / "spool-w1", 1024**2)
    for n in (1, 2):
        stranded.append([_point(n)])
    kept = Spool(tmp_path / "spool", 1024**2)
    kept.append([_point(0)])

    assert move_batches(tmp_path / "spool-w1", tmp_path / "spool") == 2
    assert not list((tmp_path / "spool-w1").glob("*.batch"))
    replayed = Spool(tmp_path / "spool", 1024**2)
    order = []
    while (batch := replayed.oldest()) is not None:
        order += [point.fields["event_id"] for point in batch.points]
        replayed.remove(batch.sequence)
    assert order == ["e0", "e1", "e2"]
    assert move_batches(tmp_path / "spool-w1", tmp_path / "spool") == 0
