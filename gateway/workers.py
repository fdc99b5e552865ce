"""Several gateway processes on one machine (``smartcity gateway --workers N``): who each worker is, and when a
worker that died is started again. Plain values and a small state machine; the processes themselves are run by
:mod:`gateway.fleet`.

A worker's identity must not change between its runs: its MQTT client id names the persistent session the broker
keeps its unacknowledged messages in, and its spool directory holds the batches only it replays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_SHARE_GROUP = "sc-gateway"
"""The shared-subscription group workers join when SC_MQTT_SHARE_GROUP names none."""


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    index: int
    client_id: str
    """``<SC_MQTT_CLIENT_ID>-w<index>``: the same at every restart, so the worker gets its session back."""
    share_group: str
    spool_dir: Path
    """A directory of its own: two processes never share spool files (each numbers its batches alone)."""


def worker_identity(index: int, client_id: str, share_group: str, data_dir: Path) -> WorkerIdentity:
    """Worker ``index`` of a gateway whose settings say ``client_id`` and ``share_group`` (empty: the default)."""
    return WorkerIdentity(index, f"{client_id}-w{index}", share_group or DEFAULT_SHARE_GROUP,
                          worker_spool_dir(data_dir, index))


def worker_spool_dir(data_dir: Path, index: int) -> Path:
    return data_dir / f"spool-w{index}"


def stranded_spool_dirs(data_dir: Path, workers: int) -> list[Path]:
    """Spool directories under ``data_dir`` no worker of a gateway of ``workers`` processes replays: those of
    workers beyond ``workers`` (there were more before), or the single process's ``spool`` when there are
    workers (and the workers' when there are none). Their batches were never stored: the caller hands them over."""
    owned = {worker_spool_dir(data_dir, index) for index in range(workers)} if workers > 1 else {
        data_dir / "spool"}
    found = [data_dir / "spool", *sorted(data_dir.glob("spool-w*"))]
    return [directory for directory in found
            if directory not in owned and directory.is_dir() and _is_worker_spool_name(directory)]


def _is_worker_spool_name(directory: Path) -> bool:
    return directory.name == "spool" or directory.name.removeprefix("spool-w").isdigit()


@dataclass(frozen=True, slots=True)
class RestartBackoff:
    """How long to wait before starting a worker that exited again: ``first_s`` after one that had run at least
    ``stable_s`` (a rare crash: back at once, almost), doubling with each exit in a row that came sooner (a worker
    that cannot start — a bad setting, a broker refusing it — does not spin), up to ``longest_s``."""

    first_s: float = 1.0
    longest_s: float = 60.0
    stable_s: float = 30.0
    quick_exits: int = 0
    """Exits in a row, each after less than ``stable_s`` of running."""

    def after_exit(self, ran_s: float) -> RestartBackoff:
        """The state after the worker exited having run ``ran_s`` seconds."""
        quick = 0 if ran_s >= self.stable_s else self.quick_exits + 1
        return RestartBackoff(self.first_s, self.longest_s, self.stable_s, quick)

    @property
    def delay_s(self) -> float:
        """The wait before the next start."""
        return min(self.longest_s, self.first_s * 2.0 ** max(0, self.quick_exits - 1))
