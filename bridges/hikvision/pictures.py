"""The terminals' event pictures, kept by reference: one file per event under ``state_dir/pictures/<gate>/``,
named by the gate event's id (the reference: the event names its picture, the time series never holds it).

Bounded: a picture over ``max_bytes`` is refused before it is stored (the push is answered 413), and the directory
holds at most ``max_total_bytes``: the oldest pictures go first. A face is personal data (PIPL: kept no longer than
its purpose needs), so a picture is also deleted once older than ``max_age_s`` (:meth:`PictureStore.expire`, which
the bridge calls hourly), the access log's retention by default. Written to a temporary file and renamed, mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SUFFIXES: Final = {"image/jpeg": ".jpg", "image/png": ".png"}


@dataclass
class PictureStore:
    directory: Path
    max_bytes: int
    max_total_bytes: int
    max_age_s: float | None = None
    """Pictures older than this (by their file's time) are deleted by :meth:`expire`; None: kept until the total."""
    total: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """:meth:`expire` runs on a worker thread (a directory walk), :meth:`save` on the event loop: one at a time."""

    def path_for(self, gate: str, event_id: str, content_type: str) -> Path:
        if not _SAFE.match(gate) or not _SAFE.match(event_id):
            raise ValueError("a gate or event id that is not a plain file name")
        return self.directory / gate / f"{event_id}{SUFFIXES.get(content_type, '.jpg')}"

    def save(self, gate: str, event_id: str, content_type: str, picture: bytes) -> Path:
        """Store the picture of ``event_id`` (again: the same file); the oldest pictures go past the total."""
        if len(picture) > self.max_bytes:
            raise ValueError(f"a picture of {len(picture)} bytes, over {self.max_bytes}")
        path = self.path_for(gate, event_id, content_type)
        with self._lock:
            return self._save(path, picture)

    def _save(self, path: Path, picture: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        before = self._measure() if self.total is None else self.total  # before writing: not counted twice
        replaced = path.stat().st_size if path.exists() else 0
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(picture)
        os.replace(temporary, path)
        self.total = before + len(picture) - replaced
        if self.total > self.max_total_bytes:
            self._prune(keep=path)
        return path

    def expire(self, now_s: float) -> int:
        """Delete the pictures older than ``max_age_s`` at ``now_s`` (seconds since the epoch); how many went."""
        if self.max_age_s is None:
            return 0
        oldest_kept = now_s - self.max_age_s
        deleted = 0
        with self._lock:
            for path, found in self._files():
                if found.st_mtime < oldest_kept:
                    path.unlink(missing_ok=True)
                    deleted += 1
            if deleted:
                self.total = None  # measured afresh at the next save
        return deleted

    def _files(self) -> list[tuple[Path, os.stat_result]]:
        """The pictures with their sizes and times; one deleted meanwhile (by a person) is left out."""
        found = []
        for path in self.directory.glob("*/*"):
            if path.suffix in (".jpg", ".png"):
                with contextlib.suppress(FileNotFoundError):
                    found.append((path, path.stat()))
        return found

    def _measure(self) -> int:
        return sum(found.st_size for _path, found in self._files())

    def _prune(self, keep: Path) -> None:
        files = sorted(self._files(), key=lambda item: item[1].st_mtime_ns)
        total = sum(found.st_size for _path, found in files)
        for path, found in files:
            if total <= self.max_total_bytes:
                break
            if path == keep:
                continue
            total -= found.st_size
            path.unlink(missing_ok=True)
        self.total = total
