"""The edge of the import: a file's bytes to the rows of its first sheet, and the templates to download.

A file is told apart by its content, not its name or declared type: an XLSX workbook is a ZIP archive; an old binary
``.xls``, a PDF, an image or anything with NUL bytes is no spreadsheet; the rest is read as CSV (UTF-8, with or
without the BOM Excel writes, else GB18030 — what Excel on a Chinese Windows saves), its delimiter a comma, tab or
semicolon as the header line shows. An XLSX sheet is streamed (openpyxl's read-only mode), so the rows of a file too
long are never all read: :func:`community.onboarding.sheet.read_sheet` stops at the limit. What the workbook unpacks
to is bounded before it is opened (a ZIP of a few MB can unpack to gigabytes); XML entities are defused (defusedxml,
which openpyxl uses when it is installed).
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from community.onboarding.columns import COLUMNS, MAX_COLUMNS, MAX_ROWS, MAX_UNITS
from community.onboarding.sheet import Cell, CompoundSheet, UnreadableSheet, read_sheet, refused_file

log = logging.getLogger(__name__)

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
"""What an XLSX file may unpack to, all its parts together: a 60,000-row sheet is a few tens of MB."""

_ZIP = b"PK\x03\x04"
_NOT_SPREADSHEETS = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BM",
                     b"\x00\x00\x01\x00", b"RIFF", b"{\\rtf")
_OLD_EXCEL = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
NOT_A_SPREADSHEET = "这不是电子表格文件：请上传 CSV 或 Excel（.xlsx）文件（可先下载模板）"


def read_upload(data: bytes) -> CompoundSheet:
    """The compound sheet a file holds, checked (see :func:`community.onboarding.sheet.read_sheet`); a file that is
    not a spreadsheet, or cannot be read, is refused as a whole."""
    if not data.strip():
        return refused_file("empty_file", "文件是空的：第 1 行应是表头，下面每行一个人员或一套房屋")
    if data.startswith(_ZIP):
        return _read_xlsx(data)
    if data.startswith(_OLD_EXCEL):
        return refused_file("old_excel", "这是旧版 Excel（.xls）文件：请在 Excel 中“另存为” .xlsx 或 CSV 后再导入")
    if data.startswith(_NOT_SPREADSHEETS) or b"\x00" in data[:65536]:
        return refused_file("not_a_spreadsheet", NOT_A_SPREADSHEET)
    text = _decoded(data)
    if text is None:
        return refused_file("not_a_spreadsheet", NOT_A_SPREADSHEET + "；CSV 文件须为 UTF-8 或 GBK 编码")
    return read_sheet(_csv_rows(text))


def read_records(records: Sequence[Mapping[str, Any]]) -> CompoundSheet:
    """The compound sheet of rows given as JSON objects keyed by the columns' English keys (the API's JSON form):
    the keys of all rows together make the header, so a wrong key is refused like a wrong column."""
    keys: list[str] = []
    for record in records:
        keys += [key for key in record if key not in keys]
    rows: list[list[Cell]] = [list(keys)]
    rows += [[_json_cell(record.get(key)) for key in keys] for record in records]
    return read_sheet(rows)


def _json_cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _decoded(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _csv_rows(text: str) -> Iterator[list[str]]:
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error as damaged:
        raise UnreadableSheet(f"CSV 格式有误（{damaged}）") from None


def _read_xlsx(data: bytes) -> CompoundSheet:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(part.file_size for part in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return refused_file("not_a_spreadsheet", NOT_A_SPREADSHEET)
    if unpacked > MAX_UNPACKED_BYTES:
        return refused_file("too_large", f"这个 Excel 文件解压后超过 {MAX_UNPACKED_BYTES // 2**20} MB，"
                                         f"请分成几个文件导入（每个文件最多 {MAX_UNITS} 套房屋）")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as failure:  # a damaged or foreign file fails openpyxl in many ways
        log.info("upload is no readable workbook", extra={"error": type(failure).__name__})
        return refused_file("not_a_spreadsheet", NOT_A_SPREADSHEET + "（这个 ZIP 文件不是 Excel 工作簿）")
    try:
        if not workbook.worksheets:
            return refused_file("empty_file", "工作簿中没有工作表")
        return read_sheet(_xlsx_rows(workbook.worksheets[0]))
    finally:
        workbook.close()


def _xlsx_rows(sheet: Any) -> Iterator[Sequence[Cell]]:
    try:
        yield from sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
    except UnreadableSheet:
        raise
    except Exception as failure:  # damaged XML deep in a sheet: any of openpyxl's errors
        log.info("upload's sheet is damaged", extra={"error": type(failure).__name__})
        raise UnreadableSheet("Excel 工作表已损坏") from None


# --- the templates ----------------------------------------------------------------------------------------------


def template_csv() -> bytes:
    """The CSV template: the header row, in UTF-8 with the BOM Excel needs to show Chinese."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([column.header for column in COLUMNS])
    return out.getvalue().encode("utf-8-sig")


EXAMPLE_ROWS: tuple[tuple[str, ...], ...] = (
    ("B01", "1栋", "1单元", "101", "B01-1-101", "89.50", "P0001", "张三", "代表", "业主", "13800138000", "0012345678",
     ""),
    ("B01", "1栋", "1单元", "101", "B01-1-101", "89.50", "P0002", "李四", "是", "家属", "13900139000", "", ""),
    ("B01", "1栋", "1单元", "102", "B01-1-102", "120.05", "P0003", "王五", "是", "", "", "", ""),
    ("B01", "1栋", "1单元", "102", "B01-1-102", "120.05", "P0004", "赵六", "", "租户", "13700137000", "0087654321", ""),
    ("B01", "1栋", "1单元", "201", "B01-1-201", "89.50", "DEV01", "某某置业有限公司", "开发商", "", "", "", ""),
)
"""The template's worked example (on its 说明 sheet, never on the sheet that is imported): a co-owned flat with its
representative living there with the co-owner, a flat whose owner lets it to a tenant, a flat the developer holds."""


def template_xlsx() -> bytes:
    """The XLSX template: the sheet to fill in (the header; text-formatted columns, so a phone, a card or a room
    keeps its leading zeros), and a 说明 sheet with each column's key and meaning, the limits and an example."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "房屋和人员"
    sheet.append([column.header for column in COLUMNS])
    bold = Font(bold=True)
    for position, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(position)
        header = sheet.cell(row=1, column=position)
        header.font = bold
        if column.required:
            header.fill = PatternFill("solid", fgColor="FFF2CC")
        sheet.column_dimensions[letter].width = max(10, len(column.header) * 2 + 6)
        if column.key != "area_m2":
            sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("说明")
    notes.append(["列（表头）", "英文键", "必填", "说明", "示例"])
    for column in COLUMNS:
        notes.append([column.header, column.key, "是" if column.required else "", column.description, column.example])
    notes.append([])
    notes.append([f"每行一个人员（业主、住户，或两者），同一房屋的各行重复房屋的各列；每套房屋至少有一位业主。"
                  f"一个文件最多 {MAX_ROWS} 行、{MAX_UNITS} 套房屋。先预览（不写入），确认后一次导入全部；"
                  "同一文件导入两次不会重复登记。"])
    notes.append([])
    notes.append(["示例（请在“房屋和人员”表中填写，不要填在这里）："])
    notes.append([column.header for column in COLUMNS])
    for example in EXAMPLE_ROWS:
        notes.append(list(example))
    for cell in notes[1]:
        cell.font = bold
    for letter, width in (("A", 14), ("B", 14), ("C", 6), ("D", 70), ("E", 16)):
        notes.column_dimensions[letter].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
