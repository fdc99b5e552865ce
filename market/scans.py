"""A licence document's scan or photo, as the market keeps it (the copy of each licence a market keeps on
file, 证照存档): what a file must be to be taken, and how a kept one is named.

A scan is taken by what it **is**, never by what its name or the browser says it is: its first bytes (the
"magic number") must be those of a JPEG, a PNG or a PDF file. It is not empty and not larger than the
installation's limit (``SC_MARKET_MAX_SCAN_BYTES``). A kept scan is named by a random token and the extension of
its type, never by anything the uploader chose, so a name cannot lead outside the market's folder. Nothing here
reads or writes a file: the storage keeps the bytes (``market.storage.scans``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

DEFAULT_MAX_SCAN_BYTES: Final = 5 * 1024 * 1024
"""5 MiB: a phone photo of a licence at a readable resolution, or a scanned PDF page."""
SCAN_NAME: Final = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|pdf)")


class ScanType(StrEnum):
    """The files a scan may be, by media type."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    PDF = "application/pdf"

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]


_EXTENSIONS: Final = {ScanType.JPEG: "jpg", ScanType.PNG: "png", ScanType.PDF: "pdf"}
_LABELS: Final = {ScanType.JPEG: "JPEG 照片", ScanType.PNG: "PNG 图片", ScanType.PDF: "PDF 文件"}
_MAGIC: Final = (
    (b"\xff\xd8\xff", ScanType.JPEG),
    (b"\x89PNG\r\n\x1a\n", ScanType.PNG),
    (b"%PDF-", ScanType.PDF),
)


class ScanProblem(StrEnum):
    """Why a file is not taken as a scan."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNKNOWN_TYPE = "unknown_type"

    def message(self, max_bytes: int) -> str:
        """In words for an API client."""
        return {
            ScanProblem.EMPTY: "the scan is empty",
            ScanProblem.TOO_LARGE: f"the scan is larger than {max_bytes} bytes",
            ScanProblem.UNKNOWN_TYPE: "a scan is a JPEG, PNG or PDF file (checked by its content, not its name)",
        }[self]

    def message_zh(self, max_bytes: int) -> str:
        """In words for the operator who chose the file."""
        return {
            ScanProblem.EMPTY: "文件是空的，请重新选择扫描件或照片",
            ScanProblem.TOO_LARGE: f"文件太大：最大 {size_text(max_bytes)}，请压缩或换一张较小的照片",
            ScanProblem.UNKNOWN_TYPE: "只接受 JPEG、PNG 照片或 PDF 文件（按文件内容检查，改扩展名无效）",
        }[self]


def sniffed_type(head: bytes) -> ScanType | None:
    """The type a file's first bytes say it is, or None for any other file."""
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def scan_problem(size: int, head: bytes, max_bytes: int) -> ScanProblem | None:
    """What keeps a file of ``size`` bytes beginning with ``head`` from being taken, or None."""
    if size <= 0:
        return ScanProblem.EMPTY
    if size > max_bytes:
        return ScanProblem.TOO_LARGE
    if sniffed_type(head) is None:
        return ScanProblem.UNKNOWN_TYPE
    return None


@dataclass(frozen=True)
class Scan:
    """A kept scan: its file's name in the market's folder, its type and size."""

    name: str
    media_type: ScanType
    size: int

    def __post_init__(self) -> None:
        if not SCAN_NAME.fullmatch(self.name) or not self.name.endswith("." + self.media_type.extension):
            raise ValueError(f"scan name {self.name!r}: a random token and the extension of its type")


def new_scan_name(media_type: ScanType) -> str:
    """A fresh name for a kept scan: 128 random bits, so names are neither guessed nor reused."""
    return f"{secrets.token_hex(16)}.{media_type.extension}"


def size_text(size: int) -> str:
    """A file size for people: 5242880 → "5 MB", 1536 → "1.5 KB" (binary units, as file managers show)."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            tenths = size * 10 // factor
            return f"{tenths // 10}{f'.{tenths % 10}' if tenths % 10 else ''} {unit}"
    return f"{size} 字节"
