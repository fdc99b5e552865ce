"""A licence's scan: taken by what its bytes are (JPEG, PNG, PDF), not empty, not over the limit; named by a random
token of the store's, never by the uploader; kept in 0600 files under 0700 folders that no name leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.pages.wording import masked_phone
from market.scans import SCAN_NAME, Scan, ScanProblem, ScanType, new_scan_name, scan_problem, size_text, sniffed_type
from market.storage.scans import ScanFiles

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


@pytest.mark.parametrize(("head", "kind"), [(JPEG, ScanType.JPEG), (PNG, ScanType.PNG), (PDF, ScanType.PDF),
                                            (b"GIF89a", None), (b"<svg xmlns=", None), (b"PK\x03\x04", None),
                                            (b"\x89PNG", None), (b"", None)])
def test_a_scan_is_known_by_its_first_bytes(head: bytes, kind: ScanType | None) -> None:
    assert sniffed_type(head) is kind


def test_what_keeps_a_file_from_being_a_scan() -> None:
    assert scan_problem(0, b"", 1024) is ScanProblem.EMPTY
    assert scan_problem(1025, PNG, 1024) is ScanProblem.TOO_LARGE
    assert scan_problem(100, b"MZ\x90\x00", 1024) is ScanProblem.UNKNOWN_TYPE
    assert scan_problem(1024, PNG, 1024) is None, "the limit itself is allowed"
    assert "5 MB" in ScanProblem.TOO_LARGE.message_zh(5 * 1024 * 1024)
    assert "JPEG, PNG or PDF" in ScanProblem.UNKNOWN_TYPE.message(1024)


@given(st.binary(max_size=64))
def test_anything_that_is_no_jpeg_png_or_pdf_is_refused(head: bytes) -> None:
    known = head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"%PDF-"))
    assert (sniffed_type(head) is not None) == known


def test_a_kept_scans_name_is_a_random_token_with_its_types_extension() -> None:
    names = {new_scan_name(ScanType.PNG) for _ in range(100)}
    assert len(names) == 100 and all(SCAN_NAME.fullmatch(name) and name.endswith(".png") for name in names)
    with pytest.raises(ValueError, match="random token"):
        Scan("../../etc/passwd", ScanType.PNG, 10)
    with pytest.raises(ValueError, match="random token"):
        Scan(new_scan_name(ScanType.PDF), ScanType.PNG, 10)


def test_sizes_read_as_people_read_them() -> None:
    assert [size_text(n) for n in (900, 1536, 5 * 1024 * 1024, 5 * 1024 * 1024 + 200_000)] == \
        ["900 字节", "1.5 KB", "5 MB", "5.1 MB"]


def test_a_phone_is_masked_in_lists() -> None:
    assert masked_phone("13800000000") == "138****0000"
    assert masked_phone("+86 138 1234 5678") == "+86*******5678"
    assert masked_phone("010-1234") == "*****34"
    assert masked_phone(None) == "" and masked_phone("") == ""


def test_scan_files_are_private_and_stay_in_their_markets_folder(tmp_path: Path) -> None:
    files = ScanFiles(tmp_path / "market-scans")

    async def walk() -> None:
        scan = await files.keep("xinfadi", PNG, ScanType.PNG)
        path = tmp_path / "market-scans" / "xinfadi" / scan.name
        assert path.read_bytes() == PNG and path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700 and path.parent.parent.stat().st_mode & 0o777 == 0o700
        assert await files.read("xinfadi", scan) == PNG
        assert await files.read("beiyuan", scan) is None, "another market's folder holds none of it"
        await files.remove("xinfadi", scan)
        await files.remove("xinfadi", scan)  # gone already: no error
        assert await files.read("xinfadi", scan) is None
        with pytest.raises(ValueError, match="site id"):
            await files.keep("../elsewhere", PNG, ScanType.PNG)

    asyncio.run(walk())
