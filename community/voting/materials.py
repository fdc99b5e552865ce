"""A meeting's materials (会议材料): what a file must be to be taken, and how a kept one is named — as the market
keeps licence scans (``market/scans.py``), for documents owners read before a meeting.

A material is taken by what it **is**: its first bytes must be those of a PDF, a JPEG or a PNG file (a document, a
scanned page, a photo of one), never by its name or what the browser says. Not empty, not larger than
:data:`MAX_MATERIAL_BYTES`. A kept file is named by a random token and its type's extension, never by anything the
uploader chose. Nothing here reads or writes a file (``meeting_storage.MaterialFiles`` does).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

MAX_MATERIAL_BYTES: Final = 10 * 1024 * 1024
"""10 MiB: a scanned plan or budget of a few dozen pages."""
MATERIAL_NAME: Final = re.compile(r"[0-9a-f]{32}\.(?:pdf|jpg|png)")
_MAGIC: Final = ((b"%PDF-", "application/pdf", "pdf"), (b"\xff\xd8\xff", "image/jpeg", "jpg"),
                 (b"\x89PNG\r\n\x1a\n", "image/png", "png"))


class MaterialProblem(StrEnum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_A_DOCUMENT = "not_a_document"

    def message_zh(self, max_bytes: int = MAX_MATERIAL_BYTES) -> str:
        return {MaterialProblem.EMPTY: "文件是空的，请重新选择",
                MaterialProblem.TOO_LARGE: f"文件太大：最大 {max_bytes // (1024 * 1024)} MB",
                MaterialProblem.NOT_A_DOCUMENT: "会议材料须为 PDF 文件或 JPEG、PNG 图片（按文件内容检查）"}[self]

    def message_en(self, max_bytes: int = MAX_MATERIAL_BYTES) -> str:
        return {MaterialProblem.EMPTY: "the file is empty",
                MaterialProblem.TOO_LARGE: f"the file is larger than {max_bytes} bytes",
                MaterialProblem.NOT_A_DOCUMENT: "a material is a PDF, JPEG or PNG file (checked by its content)"}[self]


@dataclass(frozen=True)
class KeptMaterial:
    """A material as stored: its file's name, type, size and SHA-256 (published with the notice)."""

    material_id: int
    title: str
    file_name: str
    media_type: str
    size: int
    sha256: str


def material_problem(content: bytes, max_bytes: int = MAX_MATERIAL_BYTES) -> MaterialProblem | None:
    if not content:
        return MaterialProblem.EMPTY
    if len(content) > max_bytes:
        return MaterialProblem.TOO_LARGE
    return None if media_type(content) is not None else MaterialProblem.NOT_A_DOCUMENT


def media_type(content: bytes) -> tuple[str, str] | None:
    """(media type, extension) the first bytes say, or None for any other file."""
    return next(((kind, ext) for magic, kind, ext in _MAGIC if content.startswith(magic)), None)


def new_file_name(extension: str) -> str:
    return f"{secrets.token_hex(16)}.{extension}"


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
