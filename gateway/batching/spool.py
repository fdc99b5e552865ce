"""A bounded on-disk spool of batches the time-series store could not take.

Each batch is one file, written to a temporary name, fsynced and renamed, so a ``kill -9`` at any
moment leaves either the whole batch or none of it. Files are named by a sequence number and
replayed oldest first. Points are kept as JSON lines, which any store can take back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from config.private_files import open_private, private_directory
from gateway.processors.points import Point

log = logging.getLogger(__name__)


class SpoolFull(Exception):
    """Taking this batch would exceed the spool's size bound."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    sequence: int
    points: list[Point]


class Spool:
    """Synchronous and cheap to call; the gateway runs it on a worker thread."""

    SUFFIX = ".batch"

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        private_directory(directory)  # batches hold what the devices sent: card hashes, weights, prices
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()  # a write that a crash interrupted: its messages were never acked
        self._sizes: dict[int, tuple[int, int]] = {}  # sequence -> (bytes, points)
        for path in directory.glob(f"*{self.SUFFIX}"):
            with path.open("rb") as handle:
                points = sum(1 for _ in handle)
            self._sizes[int(path.stem)] = (path.stat().st_size, points)
        self._next = max(self._sizes, default=0) + 1
        # running totals, so the event loop can read the depth while a worker thread appends
        self.depth_bytes = sum(size for size, _ in self._sizes.values())
        self.depth_points = sum(points for _, points in self._sizes.values())
        self.depth_batches = len(self._sizes)

    def append(self, points: Sequence[Point]) -> int:
        """Persist a batch durably; returns its sequence number, or raises :class:`SpoolFull`."""
        body = "".join(_encode(point) + "\n" for point in points).encode()
        if self.depth_bytes + len(body) > self._max_bytes:
            raise SpoolFull(f"spool holds {self.depth_bytes} bytes, limit {self._max_bytes}")
        sequence = self._next
        self._next += 1
        final = self._path(sequence)
        temporary = final.with_suffix(".tmp")
        with open_private(temporary) as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(final)
        _fsync_directory(self._directory)
        self._sizes[sequence] = (len(body), len(points))
        self._count(len(body), len(points), 1)
        return sequence

    def _count(self, size: int, points: int, batches: int) -> None:
        self.depth_bytes += size
        self.depth_points += points
        self.depth_batches += batches

    def oldest(self) -> SpooledBatch | None:
        while self._sizes:
            sequence = min(self._sizes)
            try:
                with self._path(sequence).open("rb") as handle:
                    points = [_decode(line) for line in handle if line.strip()]
            except (OSError, ValueError, TypeError) as error:
                # keep the damaged file for a person to look at, and go on with the rest
                log.error("spool batch unreadable, set aside", extra={"sequence": sequence, "error": str(error)})
                with contextlib.suppress(FileNotFoundError):  # deleted by hand: nothing to keep
                    self._path(sequence).rename(self._path(sequence).with_suffix(".damaged"))
                size, count = self._sizes.pop(sequence)
                self._count(-size, -count, -1)
                continue
            return SpooledBatch(sequence, points)
        return None

    def remove(self, sequence: int) -> None:
        self._path(sequence).unlink(missing_ok=True)
        size, points = self._sizes.pop(sequence, (0, 0))
        self._count(-size, -points, -1)

    def _path(self, sequence: int) -> Path:
        return self._directory / f"{sequence:020d}{self.SUFFIX}"


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _encode(point: Point) -> str:
    return json.dumps(
        [point.measurement, point.tags, dict(point.fields), point.time_ns], ensure_ascii=False, separators=(",", ":")
    )


def _decode(line: bytes) -> Point:
    measurement, tags, fields, time_ns = json.loads(line)
    return Point(measurement, tuple((key, value) for key, value in tags), fields, time_ns)


def move_batches(source: Path, target: Path) -> int:
    """Hand the batches of spool directory ``source`` over to the spool in ``target``, oldest first, numbered after
    its own; returns how many. For a spool no process replays any more (a gateway started with fewer workers):
    called while neither spool is open. Damaged batches stay where they are, for a person to look at."""
    private_directory(target)
    batches = sorted(source.glob(f"*{Spool.SUFFIX}"), key=lambda path: int(path.stem))
    taken = [int(path.stem) for path in target.glob(f"*{Spool.SUFFIX}")]
    sequence = max(taken, default=0)
    for batch in batches:
        sequence += 1
        batch.rename(target / f"{sequence:020d}{Spool.SUFFIX}")
    if batches:
        _fsync_directory(target)
        _fsync_directory(source)
    return len(batches)
