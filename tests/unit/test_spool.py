"""The on-disk spool: FIFO batches, bounded size, recovery after a restart or a damaged file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.batching.spool import Spool, SpoolFull
from gateway.processors.points import FieldValue, Point

LARGE = 10**9


def point(n: int) -> Point:
    fields: dict[str, FieldValue] = {
        "event_id": f"ev-{n}",
        "net_g": n,
        "online": n % 2 == 0,
        "product": '白菜\n"新"',
    }
    return Point(
        "gate_event", (("site", "s"), ("device", f"gate-{n % 3}")), fields, 1_700_000_000_000_000_000 + n
    )


def batch(first: int, size: int = 3) -> list[Point]:
    return [point(n) for n in range(first, first + size)]


def drain(spool: Spool) -> list[list[Point]]:
    """Every batch, oldest first, removing each as a replay would."""
    batches = []
    while (oldest := spool.oldest()) is not None:
        batches.append(oldest.points)
        spool.remove(oldest.sequence)
    return batches


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_batches_come_back_in_the_order_they_were_appended(tmp_path: Path) -> None:
    spool = Spool(tmp_path, LARGE)
    batches = [batch(0), batch(10, 1), batch(20, 5)]
    for points in batches:
        spool.append(points)

    assert drain(spool) == batches


def test_oldest_keeps_returning_the_same_batch_until_it_is_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, LARGE)
    first = spool.append(batch(0))
    second = spool.append(batch(10))

    assert spool.oldest() == spool.oldest()
    assert spool.oldest().sequence == first  # type: ignore[union-attr]
    spool.remove(first)
    assert spool.oldest().sequence == second  # type: ignore[union-attr]
    spool.remove(second)
    assert spool.oldest() is None


def test_depth_tracks_points_bytes_and_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path, LARGE)
    assert (spool.depth_points, spool.depth_bytes, spool.depth_batches) == (0, 0, 0)

    first = spool.append(batch(0, 3))
    spool.append(batch(10, 2))

    assert (spool.depth_points, spool.depth_batches) == (5, 2)
    assert spool.depth_bytes == sum(path.stat().st_size for path in tmp_path.iterdir())
    spool.remove(first)
    assert (spool.depth_points, spool.depth_batches) == (2, 1)
    assert spool.depth_bytes == sum(path.stat().st_size for path in tmp_path.iterdir())


def test_a_batch_that_would_exceed_the_bound_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", LARGE)
    probe.append(batch(0))
    one_batch = probe.depth_bytes
    spool = Spool(tmp_path / "spool", max_bytes=one_batch + one_batch // 2)
    first = spool.append(batch(0))
    before = (spool.depth_points, spool.depth_bytes, spool.depth_batches, files(tmp_path / "spool"))

    with pytest.raises(SpoolFull, match=f"limit {one_batch + one_batch // 2}"):
        spool.append(batch(0))

    assert (spool.depth_points, spool.depth_bytes, spool.depth_batches, files(tmp_path / "spool")) == before
    assert spool.oldest().sequence == first  # type: ignore[union-attr]


def test_a_batch_that_fills_the_bound_exactly_is_taken(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", LARGE)
    probe.append(batch(0))
    spool = Spool(tmp_path / "spool", max_bytes=probe.depth_bytes)

    spool.append(batch(0))

    assert spool.depth_bytes == probe.depth_bytes


def test_removing_makes_room_again(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", LARGE)
    probe.append(batch(0))
    spool = Spool(tmp_path / "spool", max_bytes=probe.depth_bytes)
    first = spool.append(batch(0))
    with pytest.raises(SpoolFull):
        spool.append(batch(0))

    spool.remove(first)
    spool.append(batch(0))

    assert spool.depth_batches == 1


def test_a_reopened_spool_recovers_its_batches_depth_and_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, LARGE)
    first = spool.append(batch(0))
    spool.append(batch(10, 2))
    spool.append(batch(20, 4))
    spool.remove(first)

    reopened = Spool(tmp_path, LARGE)

    assert (reopened.depth_points, reopened.depth_bytes, reopened.depth_batches) == (6, spool.depth_bytes, 2)
    reopened.append(batch(30, 1))  # appended after a restart, still replayed after the older ones
    assert drain(reopened) == [batch(10, 2), batch(20, 4), batch(30, 1)]


def test_leftover_temporary_files_are_removed_on_open(tmp_path: Path) -> None:
    Spool(tmp_path, LARGE).append(batch(0))
    (tmp_path / "00000000000000000002.tmp").write_bytes(b'["half a batch')

    spool = Spool(tmp_path, LARGE)

    assert [name for name in files(tmp_path) if name.endswith(".tmp")] == []
    assert (spool.depth_batches, spool.depth_points) == (1, 3)


def test_a_damaged_batch_is_set_aside_and_the_next_one_returned(tmp_path: Path) -> None:
    spool = Spool(tmp_path, LARGE)
    damaged = spool.append(batch(0))
    spool.append(batch(10, 2))
    (tmp_path / f"{damaged:020d}.batch").write_bytes(b"\x00\x00\x00\x00\n\x00\x00")

    oldest = spool.oldest()

    assert oldest is not None
    assert oldest.points == batch(10, 2)
    assert f"{damaged:020d}.damaged" in files(tmp_path)
    assert f"{damaged:020d}.batch" not in files(tmp_path)
    assert (spool.depth_batches, spool.depth_points) == (1, 2)


def test_a_set_aside_batch_is_not_recovered_on_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, LARGE)
    damaged = spool.append(batch(0))
    spool.append(batch(10, 2))
    (tmp_path / f"{damaged:020d}.batch").write_bytes(b"not json\n")
    spool.oldest()

    assert drain(Spool(tmp_path, LARGE)) == [batch(10, 2)]


@pytest.mark.parametrize("line", [b"null\n", b"[1, 2, 3, 4]\n"])
def test_a_batch_of_json_in_the_wrong_shape_is_set_aside_too(tmp_path: Path, line: bytes) -> None:
    spool = Spool(tmp_path, LARGE)
    damaged = spool.append(batch(0))
    spool.append(batch(10, 2))
    (tmp_path / f"{damaged:020d}.batch").write_bytes(line)

    oldest = spool.oldest()

    assert oldest is not None
    assert oldest.points == batch(10, 2)


field_values = st.text(max_size=12) | st.integers(-(2**63), 2**63 - 1) | st.booleans()
points = st.builds(
    Point,
    measurement=st.sampled_from(["gate_event", "scale_record", "dead_letter"]),
    tags=st.lists(
        st.tuples(st.text(min_size=1, max_size=6), st.text(min_size=1, max_size=6)), max_size=3
    ).map(tuple),
    fields=st.dictionaries(st.text(min_size=1, max_size=6), field_values, min_size=1, max_size=4),
    time_ns=st.integers(0, 2**63 - 1),
)


@settings(max_examples=30, deadline=None)
@given(batches=st.lists(st.lists(points, min_size=1, max_size=4), min_size=1, max_size=4))
def test_any_points_survive_the_spool_and_a_reopen_unchanged(batches: list[list[Point]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        spool = Spool(Path(directory), LARGE)
        for points_ in batches:
            spool.append(points_)

        assert drain(Spool(Path(directory), LARGE)) == batches
