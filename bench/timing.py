"""How the benchmark times a backlog drain, the same way for every consumer: from the moment the consumer's TCP
connection to the broker is established until InfluxDB has taken the last point (then it is queryable; a COUNT
afterwards checks that every point is there).

Timing from a consumer's own "ready" signal, or from its first stored point, would flatter a consumer that
acknowledges on receipt and buffers the backlog (Node-RED: 41–53k events/s measured from its first point against
30k from its connection, same run), or one whose readiness comes late; the connection is the one moment every
consumer has, seen from outside it. The end is read from InfluxDB's own counter of points written
(``pointsWrittenOK`` on /debug/vars, InfluxDB 1.x): polling COUNT over the growing database instead cost InfluxDB
a third of a core, which the drain being measured needed.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ESTABLISHED = "01"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with os.scandir(f"/proc/{pid}/fd") as entries:
        for entry in entries:
            try:
                target = os.readlink(entry.path)
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (a gateway with --workers connects from its worker processes)."""
    family, index = [pid], 0
    while index < len(family):
        try:
            with os.scandir(f"/proc/{family[index]}/task") as tasks:
                for task in tasks:
                    family += [int(child) for child in Path(task.path, "children").read_text().split()]
        except OSError:  # gone meanwhile
            pass
        index += 1
    return family


def connected_to(pid: int, port: int) -> bool:
    """Whether process ``pid`` (or one it started) holds an established TCP connection to ``port``."""
    inodes: set[str] = set()
    for member in _family(pid):
        try:
            inodes |= _socket_inodes(member)
        except OSError:  # not started yet, or gone
            continue
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:  # no IPv6 on this machine
            continue
        for line in lines:
            fields = line.split()
            if fields[2].endswith(wanted) and fields[3] == ESTABLISHED and fields[9] in inodes:
                return True
    return False


class ConnectionWatch:
    """Notes, from a thread polling every millisecond, when ``pid`` first connects to the broker at ``port``."""

    def __init__(self, pid: int, port: int, timeout_s: float = 120.0) -> None:
        self.at: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(pid, port, timeout_s), daemon=True)
        self._thread.start()

    def _watch(self, pid: int, port: int, timeout_s: float) -> None:
        try:
            give_up = time.perf_counter() + timeout_s
            while time.perf_counter() < give_up:
                if connected_to(pid, port):
                    self.at = time.perf_counter()
                    break
                time.sleep(0.001)
        finally:  # whatever happens, wait() must not wait for ever
            self._done.set()

    def wait(self) -> float:
        self._done.wait()
        if self.at is None:
            raise TimeoutError("the consumer never connected to the broker")
        return self.at


def points_written(influx_url: str) -> int:
    """Points InfluxDB (1.x) has written since it started, by its HTTP writes: its own counter, cheap to read."""
    with urllib.request.urlopen(f"{influx_url}/debug/vars", timeout=10) as response:
        stats = json.load(response)
    return sum(int(value["values"]["pointsWrittenOK"]) for key, value in stats.items() if key.startswith("httpd"))


def wait_until_counted(count: Callable[[], int], expected: int, time_limit_s: float = 600.0,
                       stall_s: float = 30.0) -> tuple[int, float]:
    """Poll ``count`` (points written, :func:`points_written`) every 10 ms until ``expected``; returns (count, time
    it was first seen there). Gives up after ``time_limit_s``, or ``stall_s`` without progress (a consumer that lost
    messages never gets there)."""
    started = last_change = time.perf_counter()
    seen = 0
    while True:
        now_count = count()
        now = time.perf_counter()
        if now_count > seen:
            seen, last_change = now_count, now
        if seen >= expected or now - started > time_limit_s or now - last_change > stall_s:
            return seen, last_change
        time.sleep(max(0.0, 0.01 - (time.perf_counter() - now)))
