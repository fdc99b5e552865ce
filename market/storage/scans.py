"""The licence scans on disk: ``<root>/<site>/<name>`` under the data directory (``market-scans``), folders 0700
and files 0600 whatever the umask, like the installation's other private files (:mod:`config.private_files`):
a health certificate's scan shows a person's name, photo and often an ID number.

Names are the domain's (:func:`market.scans.new_scan_name`, checked again here), never the uploader's, and a
site id is a topic segment (letters, digits, ``_`` and ``-``), so no path built here leaves the folder. A file is
written whole and flushed to disk before the database refers to it; the file calls run in a worker thread, so a
5 MiB write does not hold up the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path
from typing import Final

from config.private_files import PRIVATE_FILE_MODE, private_directory
from market.scans import SCAN_NAME, Scan, ScanType, new_scan_name

SITE_FOLDER: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NO_FOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)


class ScanFiles:
    """The market's scans, one folder per market."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, site: str, name: str) -> Path:
        if not SITE_FOLDER.fullmatch(site):
            raise ValueError(f"market {site!r}: a site id names the scans' folder, letters, digits, _ and - only")
        if not SCAN_NAME.fullmatch(name):
            raise ValueError(f"scan name {name!r} is not one this store gave")
        return self.root / site / name

    async def keep(self, site: str, content: bytes, media_type: ScanType) -> Scan:
        """Write ``content`` as a new file of the market's (never over another) and return it as a scan."""
        scan = Scan(new_scan_name(media_type), media_type, len(content))
        path = self._path(site, scan.name)
        await asyncio.to_thread(_write_new, path, content)
        return scan

    async def read(self, site: str, scan: Scan) -> bytes | None:
        """The scan's bytes, or None when its file is gone (removed by hand, a data directory restored without it)."""
        path = self._path(site, scan.name)
        try:
            return await asyncio.to_thread(_read, path)
        except FileNotFoundError:
            return None

    async def remove(self, site: str, scan: Scan) -> None:
        """Remove the scan's file (one no document refers to any more); a file already gone is no error."""
        path = self._path(site, scan.name)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)


def _write_new(path: Path, content: bytes) -> None:
    private_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())  # on disk before the database refers to it
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


def _read(path: Path) -> bytes:
    with os.fdopen(os.open(path, os.O_RDONLY | _NO_FOLLOW), "rb") as file:
        return file.read()
