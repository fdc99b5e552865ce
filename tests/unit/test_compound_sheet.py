"""A compound spreadsheet checked row by row and as a whole (community.onboarding.sheet, .columns, .spreadsheet):
every bad input of issue 13 refused with its row and reason — wrong columns, duplicate unit ids, an area of "八十",
a phone of ten digits, a unit owned by nobody, 100,000 rows (refused without reading them all), a file that is not
a spreadsheet — and the good rows turned into buildings, units, ownership and residents."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from community.access.directory import ResidentRole
from community.onboarding.columns import COLUMNS, MAX_ROWS, MAX_UNITS, header_key
from community.onboarding.sheet import Cell, CompoundSheet, OwnerMark, parse_area, parse_phone, read_sheet
from community.onboarding.spreadsheet import (
    EXAMPLE_ROWS,
    read_records,
    read_upload,
    template_csv,
    template_xlsx,
)
from community.ownership.register import Owner, UnitOwnership
from community.ownership.service import MAX_IMPORT

HEADER = [column.header for column in COLUMNS]


def row(unit: str = "B01-1-101", room: str = "101", area: Cell = "89.50", person: str = "P0001", name: str = "张三",
        owner: str = "是", role: str = "", phone: Cell = "", card: str = "", groups: str = "", building: str = "B01",
        building_name: str = "1栋", entrance: str = "1单元") -> list[Cell]:
    return [building, building_name, entrance, room, unit, area, person, name, owner, role, phone, card, groups]


def sheet_of(*rows: Sequence[Cell], header: Sequence[Cell] = HEADER) -> CompoundSheet:
    return read_sheet([list(header), *rows])


def csv_bytes(*rows: Sequence[Cell], header: Sequence[Cell] = HEADER, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(*rows: Sequence[Cell], header: Sequence[Cell] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(header))
    for cells in rows:
        sheet.append(list(cells))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def codes(sheet: CompoundSheet) -> list[tuple[int | None, str]]:
    return [(problem.row, problem.code) for problem in sheet.problems]


# --- good rows -------------------------------------------------------------------------------------------------


def test_the_templates_worked_example_describes_co_owners_a_tenant_and_the_developer() -> None:
    sheet = sheet_of(*EXAMPLE_ROWS)
    assert sheet.problems == ()
    assert sheet.rows == (2, 3, 4, 5, 6)
    assert set(sheet.units) == {"B01-1-101", "B01-1-102", "B01-1-201"}
    assert sheet.units["B01-1-102"].area == Decimal("120.05")
    assert sheet.buildings["B01"].name == "1栋"
    assert sheet.ownership["B01-1-101"].ownership == UnitOwnership(
        "B01-1-101", (Owner("P0001", "张三"), Owner("P0002", "李四")), representative_id="P0001")
    assert sheet.ownership["B01-1-201"].ownership.held_by_developer
    assert set(sheet.residents) == {"P0001", "P0002", "P0004"}  # 王五 owns 102 and lets it: no resident
    tenant = sheet.residents["P0004"]
    assert (tenant.unit_id, tenant.person.role, tenant.person.phone, tenant.person.cards) == (
        "B01-1-102", ResidentRole.TENANT, "13700137000", ("0087654321",))
    assert sheet.residents["P0002"].person.groups is None


def test_a_sole_owner_marked_representative_needs_no_representative() -> None:
    sheet = sheet_of(row(owner="代表"))
    assert sheet.ownership["B01-1-101"].ownership.representative_id is None


def test_headers_may_be_english_keys_aliases_or_carry_a_required_mark_and_a_note() -> None:
    assert header_key("area_m2") == header_key("专有面积（㎡）") == header_key("*专有面积") == "area_m2"
    assert header_key(" 手机号 ") == "phone"
    assert header_key("Building_ID") == "building_id"
    assert header_key("面 积 说明") is None
    keys = [column.key for column in COLUMNS]
    sheet = sheet_of(row(), header=keys)
    assert sheet.problems == () and "B01-1-101" in sheet.units


def test_a_note_column_is_read_past_and_columns_may_come_in_any_order() -> None:
    header = ["备注", *reversed(HEADER)]
    sheet = sheet_of(["不导入", *reversed(row(role="业主", phone="138 0013 8000"))], header=header)
    assert sheet.problems == ()
    assert sheet.residents["P0001"].person.phone == "13800138000"


def test_empty_rows_are_skipped_and_rows_keep_their_numbers_in_the_file() -> None:
    sheet = read_sheet([HEADER, [None] * 13, row(), [], row(unit="B01-1-102", room="102", person="P2",
                                                           area="八十")])
    assert sheet.rows == (3, 5)
    assert codes(sheet) == [(5, "bad_area")]


def test_a_row_may_hold_a_unit_alone_when_another_row_names_its_owner() -> None:
    unit_alone = row(person="", name="", owner="")
    sheet = sheet_of(unit_alone, row())
    assert sheet.problems == ()
    assert sheet.ownership["B01-1-101"].ownership.owner_ids == {"P0001"}


def test_numbers_from_a_workbook_are_read_as_their_digits() -> None:
    sheet = sheet_of(row(room=101, area=89.5, phone=13800138000.0, role="业主", card=12345678,  # type: ignore[arg-type]
                         unit="U1"))
    assert sheet.problems == ()
    assert sheet.units["U1"].room == "101" and sheet.units["U1"].area == Decimal("89.5")
    assert sheet.residents["P0001"].person.phone == "13800138000"
    assert sheet.residents["P0001"].person.cards == ("12345678",)


# --- bad cells ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("area", ["八十", "约90", "-5", "0", "89.555", "1e3x", "NaN", "Infinity", "100000", "", True])
def test_an_area_that_is_no_positive_decimal_of_two_places_is_refused(area: Cell) -> None:
    sheet = sheet_of(row(area=area))
    assert codes(sheet) == [(2, "bad_area" if area != "" else "missing_value")]
    assert "专有面积" in sheet.problems[0].message
    assert sheet.units == {}


@pytest.mark.parametrize("area,expected", [("89.5", "89.5"), ("120.05", "120.05"), ("88.50㎡", "88.50"),
                                           (" 75 平方米", "75"), (1e2, "100.0")])
def test_an_area_is_an_exact_decimal(area: Cell, expected: str) -> None:
    assert parse_area(area) == Decimal(expected)


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2))
def test_every_area_of_two_places_reads_back_exactly(area: Decimal) -> None:
    assert parse_area(str(area)) == area


@pytest.mark.parametrize("phone", ["1380013800", "138001380001", "23800138000", "12800138000", "1380013800a",
                                   "+1 13800138000", "010-12345678"])
def test_a_phone_that_is_no_11_digit_mobile_number_is_refused(phone: str) -> None:
    sheet = sheet_of(row(role="业主", phone=phone))
    assert codes(sheet) == [(2, "bad_phone")]
    assert "11 位" in sheet.problems[0].message


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+86", "86", "+86 "]),
       st.sampled_from(["", " ", "-"]))
def test_a_mobile_number_is_read_whatever_its_spacing_and_country_code(digits: str, prefix: str, gap: str) -> None:
    written = prefix + digits[:3] + gap + digits[3:7] + gap + digits[7:]
    assert parse_phone(written) == digits


@given(st.text(alphabet="0123456789", min_size=0, max_size=16).filter(lambda text: len(text) != 11))
def test_no_number_of_another_length_passes_as_a_mobile(digits: str) -> None:
    assert parse_phone(digits) is None


@pytest.mark.parametrize("changes,code", [
    ({"unit": "B01 1 101"}, "bad_id"),
    ({"unit": ""}, "missing_value"),
    ({"building": ""}, "missing_value"),
    ({"room": ""}, "missing_value"),
    ({"person": "张 三"}, "bad_id"),
    ({"person": ""}, "incomplete_person"),
    ({"name": ""}, "incomplete_person"),
    ({"owner": "也许"}, "bad_owner_mark"),
    ({"role": "保姆"}, "bad_role"),
    ({"owner": "", "role": ""}, "not_owner_nor_resident"),
    ({"card": "12"}, "bad_card"),
    ({"role": "业主", "card": "0012345678;0012345678"}, "duplicate_card"),
    ({"role": "业主", "groups": "东门 组"}, "bad_id"),
    ({"phone": "13800138000"}, "resident_only"),
    ({"card": "0012345678"}, "resident_only"),
    ({"owner": "开发商", "role": "业主"}, "bad_owner_mark"),
    ({"room": "1\x00"}, "bad_text"),
    ({"building_name": "楼" * 101}, "bad_text"),
])
def test_each_bad_cell_refuses_its_row_with_the_reason(changes: dict[str, str], code: str) -> None:
    sheet = sheet_of(row(**changes))  # type: ignore[arg-type]
    assert (2, code) in codes(sheet), sheet.problems
    assert all(problem.row == 2 and problem.message for problem in sheet.problems)


def test_a_date_in_a_text_column_is_refused() -> None:
    from datetime import date  # only here: a workbook's date cell

    sheet = sheet_of(row(room=date(2024, 1, 1)))  # type: ignore[arg-type]
    assert (2, "bad_text") in codes(sheet)


# --- the rows together -------------------------------------------------------------------------------------------


def test_a_unit_id_given_to_two_different_rooms_is_a_duplicate() -> None:
    sheet = sheet_of(row(), row(room="102", person="P2", name="李四"))
    assert codes(sheet) == [(3, "duplicate_unit")]
    assert "房屋编号重复" in sheet.problems[0].message and "第 2 行" in sheet.problems[0].message


def test_one_room_under_two_unit_ids_is_refused() -> None:
    sheet = sheet_of(row(), row(unit="B01-1-101b", person="P2", name="李四"))
    assert codes(sheet) == [(3, "duplicate_room")]


def test_a_unit_owned_by_nobody_is_refused() -> None:
    sheet = sheet_of(row(owner="", role="租户"))
    assert codes(sheet) == [(2, "no_owner")]
    assert "没有业主" in sheet.problems[0].message


def test_a_unit_whose_owner_row_is_refused_is_not_also_said_to_have_no_owner() -> None:
    sheet = sheet_of(row(role="业主", phone="1380013800"), row(person="P2", name="李四", owner="", role="家属"))
    assert codes(sheet) == [(2, "bad_phone")]


def test_two_representatives_and_a_developer_with_co_owners_are_refused() -> None:
    assert codes(sheet_of(row(owner="代表"), row(person="P2", name="李四", owner="代表"))) == [
        (3, "two_representatives")]
    assert codes(sheet_of(row(owner="开发商", person="DEV", name="置业公司"), row(person="P2", name="李四"))) == [
        (2, "developer_not_alone")]


def test_a_person_in_two_units_as_a_resident_or_listed_twice_is_refused() -> None:
    lives_twice = sheet_of(row(role="业主"), row(unit="B01-1-102", room="102", role="业主"))
    assert codes(lives_twice) == [(3, "lives_in_two_units")]
    owns_two = sheet_of(row(role="业主"), row(unit="B01-1-102", room="102"))
    assert owns_two.problems == () and len(owns_two.ownership) == 2
    assert codes(sheet_of(row(), row())) == [(3, "person_listed_twice")]


def test_a_person_with_two_names_a_card_on_two_rows_and_a_building_with_two_names_are_refused() -> None:
    assert codes(sheet_of(row(), row(unit="B01-1-102", room="102", name="张叁"))) == [(3, "name_differs")]
    assert codes(sheet_of(row(role="业主", card="0012345678"),
                          row(person="P2", name="李四", role="家属", card="0012345678"))) == [(3, "duplicate_card")]
    assert codes(sheet_of(row(), row(unit="B01-1-102", room="102", person="P2", name="李四",
                                     building_name="一栋"))) == [(3, "building_name_differs")]


def test_the_building_name_may_be_given_on_any_one_of_its_rows() -> None:
    sheet = sheet_of(row(building_name=""), row(unit="B01-1-102", room="102", person="P2", name="李四"))
    assert sheet.problems == () and sheet.buildings["B01"].name == "1栋"
    assert sheet_of(row(building_name="")).buildings["B01"].name is None


# --- the file as a whole -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("header,code", [
    (["楼栋编号", "房号", "房屋编号"], "missing_columns"),
    ([*HEADER, "身份证号"], "unknown_column"),
    ([*HEADER, "手机号"], "duplicate_column"),
    (["a", "b", "c"], "unknown_column"),
])
def test_wrong_columns_refuse_the_file_at_its_header(header: list[str], code: str) -> None:
    sheet = sheet_of(row(), header=header)
    assert sheet.refused_whole and sheet.rows == ()
    assert (1, code) in codes(sheet)
    assert sheet.units == {}


def test_an_empty_file_and_a_header_alone_are_refused() -> None:
    assert codes(read_upload(b"")) == [(None, "empty_file")]
    assert codes(read_upload(template_csv())) == [(None, "empty_file")]


def too_many_rows() -> Iterator[list[Cell]]:
    """A header and then rows without end: the reader must stop by itself."""
    yield HEADER
    number = 0
    while True:
        number += 1
        yield row(unit=f"U{number}", room=str(number), person=f"P{number}")


def test_a_file_longer_than_the_limit_is_refused_without_reading_it_all() -> None:
    rows = too_many_rows()
    sheet = read_sheet(row for row in rows)  # an endless file: read_sheet must stop at the limit
    assert sheet.refused_whole
    assert codes(sheet) == [(None, "too_many_units")] if MAX_UNITS < MAX_ROWS else [(None, "too_many_rows")]
    assert str(MAX_UNITS) in sheet.problems[0].message


def test_a_100000_row_file_is_refused_at_the_first_row_past_the_limit() -> None:
    lines = [row(unit=f"U{number}", room=str(number), person=f"P{number}") for number in range(100_000)]
    sheet = read_upload(csv_bytes(*lines))
    assert codes(sheet) == [(None, "too_many_units")]
    assert f"第 {MAX_UNITS + 2} 行起没有读" in sheet.problems[0].message


def test_more_rows_than_the_limit_are_refused_even_for_few_units() -> None:
    def rows() -> Iterator[list[Cell]]:
        yield HEADER
        for number in range(MAX_ROWS + 10):
            yield row(unit=f"U{number % 10}", room=str(number % 10), person=f"P{number}", owner="")

    sheet = read_sheet(rows())
    assert codes(sheet) == [(None, "too_many_rows")]
    assert f"第 {MAX_ROWS + 2} 行起" in sheet.problems[0].message


def test_the_limits_are_the_ownership_registers() -> None:
    assert MAX_UNITS == MAX_IMPORT


@pytest.mark.parametrize("data", [b"%PDF-1.7\n...", b"\x89PNG\r\n\x1a\n....", b"\xff\xd8\xff\xe0 jpeg",
                                  b"plain\x00binary\x00", b"PK\x03\x04 not really a zip",
                                  b"\x1f\x8b\x08 gzip"])
def test_a_file_that_is_not_a_spreadsheet_is_refused(data: bytes) -> None:
    sheet = read_upload(data)
    assert codes(sheet) == [(None, "not_a_spreadsheet")]
    assert "不是电子表格" in sheet.problems[0].message


def test_a_zip_that_is_no_workbook_and_an_old_xls_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert codes(read_upload(out.getvalue())) == [(None, "not_a_spreadsheet")]
    assert codes(read_upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)) == [(None, "old_excel")]


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_it_is_opened() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (300 * 1024 * 1024))
    assert len(out.getvalue()) < 2 * 1024 * 1024
    assert codes(read_upload(out.getvalue())) == [(None, "too_large")]


def test_a_text_file_that_is_no_compound_sheet_is_refused_for_its_columns() -> None:
    sheet = read_upload("亲爱的业主：\n下周停水。\n".encode())
    assert sheet.refused_whole and {problem.code for problem in sheet.problems} <= {"unknown_column",
                                                                                     "missing_columns"}


# --- CSV and XLSX --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_a_csv_file_is_read_in_utf8_or_gbk(encoding: str) -> None:
    sheet = read_upload(csv_bytes(*EXAMPLE_ROWS, encoding=encoding))
    assert sheet.problems == () and sheet.buildings["B01"].name == "1栋"


def test_a_csv_file_with_tabs_or_semicolons_is_read() -> None:
    for delimiter in ("\t", ";"):
        text = "\n".join(delimiter.join(str(cell) for cell in line) for line in [HEADER, *EXAMPLE_ROWS])
        assert read_upload(text.encode()).problems == ()


def test_an_xlsx_file_is_read_like_the_csv() -> None:
    from_csv = read_upload(csv_bytes(*EXAMPLE_ROWS))
    from_xlsx = read_upload(xlsx_bytes(*EXAMPLE_ROWS))
    assert from_xlsx.problems == ()
    assert (from_xlsx.units, from_xlsx.ownership, from_xlsx.residents) == (
        from_csv.units, from_csv.ownership, from_csv.residents)


def test_an_xlsx_files_bad_row_is_refused_with_its_row() -> None:
    sheet = read_upload(xlsx_bytes(*EXAMPLE_ROWS, row(unit="B01-1-301", room="301", area="八十", person="P9")))
    assert codes(sheet) == [(7, "bad_area")]


def test_json_rows_are_checked_like_a_file() -> None:
    records = [dict(zip([c.key for c in COLUMNS], example, strict=True)) for example in EXAMPLE_ROWS]
    assert read_records(records).problems == ()
    assert codes(read_records([{**records[0], "id_card": "110101..."}])) == [(1, "unknown_column")]


def test_the_templates_carry_every_column_and_the_xlsx_explains_them() -> None:
    csv_text = template_csv().decode("utf-8-sig")
    assert csv_text.strip().split(",") == HEADER
    workbook = load_workbook(io.BytesIO(template_xlsx()), read_only=True)
    assert workbook.sheetnames == ["房屋和人员", "说明"]
    first, notes = workbook.worksheets
    assert [cell for cell in next(iter(first.iter_rows(values_only=True)))] == HEADER
    explained = {line[1] for line in notes.iter_rows(values_only=True) if line and len(line) > 1}
    assert {column.key for column in COLUMNS} <= explained
    assert read_upload(template_xlsx()).problems[0].code == "empty_file"  # the examples are not on the first sheet


def test_owner_marks_and_roles_are_read_in_chinese_or_english() -> None:
    sheet = sheet_of(row(owner="representative", role="owner"),
                     row(person="P2", name="李四", owner="yes", role="family"))
    assert sheet.problems == ()
    assert sheet.residents["P2"].person.owner is OwnerMark.OWNER
    assert sheet.residents["P0001"].person.role is ResidentRole.OWNER
