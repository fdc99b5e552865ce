"""What a meeting material must be (community/voting/materials.py): a PDF, JPEG or PNG by its first bytes whatever
its name, not empty, not larger than the limit — SC_VOTING_MAX_MATERIAL_BYTES, bounded — and kept under a random
name."""

from __future__ import annotations

import pytest

from community.voting.materials import (
    MATERIAL_NAME,
    MAX_MATERIAL_BYTES,
    MaterialProblem,
    material_problem,
    media_type,
    new_file_name,
    sha256,
)
from config.settings import SettingsError, load_settings, settings_help

PDF = b"%PDF-1.7\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
KIB = 1024


@pytest.mark.parametrize(("content", "expected"), [
    (PDF, ("application/pdf", "pdf")),
    (JPEG, ("image/jpeg", "jpg")),
    (PNG, ("image/png", "png")),
    (b"%PDF", None),  # cut short
    (b"GIF89a", None),
    (b"PK\x03\x04word/document.xml", None),  # a .docx
    (b"<html>%PDF-", None),  # the magic not at the start
    (b"MZ\x90\x00", None),  # a program named plan.pdf
    (b"", None),
], ids=["pdf", "jpeg", "png", "short-pdf", "gif", "docx", "html", "exe", "empty"])
def test_a_material_type_is_what_its_first_bytes_say(content: bytes, expected: tuple[str, str] | None) -> None:
    assert media_type(content) == expected


@pytest.mark.parametrize(("content", "limit", "expected"), [
    (PDF, MAX_MATERIAL_BYTES, None),
    (b"", MAX_MATERIAL_BYTES, MaterialProblem.EMPTY),
    (b"plain text", MAX_MATERIAL_BYTES, MaterialProblem.NOT_A_DOCUMENT),
    (PDF + b"x" * (64 * KIB - len(PDF)), 64 * KIB, None),
    (PDF + b"x" * (64 * KIB - len(PDF) + 1), 64 * KIB, MaterialProblem.TOO_LARGE),
    (b"y" * (64 * KIB + 1), 64 * KIB, MaterialProblem.TOO_LARGE),  # too large is said before what it is
    (PNG + b"x" * (MAX_MATERIAL_BYTES - len(PNG)), MAX_MATERIAL_BYTES, None),
    (PNG + b"x" * (MAX_MATERIAL_BYTES - len(PNG) + 1), MAX_MATERIAL_BYTES, MaterialProblem.TOO_LARGE),
], ids=["pdf", "empty", "text", "at-a-small-limit", "over-a-small-limit", "large-and-not-a-document",
        "at-the-default", "over-the-default"])
def test_a_material_is_a_document_not_empty_and_not_over_the_limit(
        content: bytes, limit: int, expected: MaterialProblem | None) -> None:
    assert material_problem(content, limit) is expected


def test_the_default_limit_is_ten_mib_and_the_message_names_the_limit_in_force() -> None:
    assert MAX_MATERIAL_BYTES == 10 * 1024 * KIB
    assert "10 MB" in MaterialProblem.TOO_LARGE.message_zh()
    assert "2 MB" in MaterialProblem.TOO_LARGE.message_zh(2 * 1024 * KIB)
    assert str(2 * 1024 * KIB) in MaterialProblem.TOO_LARGE.message_en(2 * 1024 * KIB)
    assert "按文件内容" in MaterialProblem.NOT_A_DOCUMENT.message_zh()


def test_a_kept_material_has_a_random_name_of_its_type() -> None:
    names = {new_file_name(ext) for ext in ("pdf", "jpg", "png") for _ in range(10)}

    assert len(names) == 30 and all(MATERIAL_NAME.fullmatch(name) for name in names)
    assert MATERIAL_NAME.fullmatch("../../etc/passwd.pdf") is None
    assert sha256(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_material_limit_is_a_bounded_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().voting_max_material_bytes == MAX_MATERIAL_BYTES
    monkeypatch.setenv("SC_VOTING_MAX_MATERIAL_BYTES", str(2 * 1024 * KIB))
    assert load_settings().voting_max_material_bytes == 2 * 1024 * KIB
    for unworkable in ("0", "1000", str(65 * 1024 * KIB), "10M"):
        monkeypatch.setenv("SC_VOTING_MAX_MATERIAL_BYTES", unworkable)
        with pytest.raises(SettingsError, match="SC_VOTING_MAX_MATERIAL_BYTES"):
            load_settings()
    assert "SC_VOTING_MAX_MATERIAL_BYTES" in settings_help()
