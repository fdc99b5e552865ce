"""The GB/T 2260 list a batch's origin is checked against: shipped with its version and source, every level of
division found with its full name, a code that is no division refused with the reason."""

from __future__ import annotations

from datetime import date

import pytest

from market.divisions import (
    Division,
    DivisionLevel,
    DivisionProblem,
    parse_divisions,
    shipped_divisions,
)

LIST = shipped_divisions()


def test_the_shipped_list_says_its_version_and_source() -> None:
    assert LIST.version == "2024" and LIST.as_of == date(2024, 12, 31)
    assert "民政部" in LIST.source and "mca.gov.cn" in LIST.source
    assert 3_000 < len(LIST) < 4_000, "county level and above: some three thousand divisions"


@pytest.mark.parametrize(("code", "full_name", "level"), [
    ("330106", "浙江省杭州市西湖区", DivisionLevel.COUNTY),
    ("370783", "山东省潍坊市寿光市", DivisionLevel.COUNTY),
    ("330100", "浙江省杭州市", DivisionLevel.PREFECTURE),
    ("330000", "浙江省", DivisionLevel.PROVINCE),
    ("110101", "北京市东城区", DivisionLevel.COUNTY),  # a municipality's district: no prefecture between
    ("429004", "湖北省仙桃市", DivisionLevel.COUNTY),  # a county-level city under the province directly
    ("810000", "香港特别行政区", DivisionLevel.PROVINCE),
])
def test_divisions_of_every_level_are_found_with_their_full_names(code: str, full_name: str,
                                                                  level: DivisionLevel) -> None:
    found = LIST.get(code)
    assert found is not None and (found.full_name, found.level) == (full_name, level)
    assert LIST.problem(code) is None


@pytest.mark.parametrize(("code", "problem"), [
    ("999999", DivisionProblem.UNKNOWN),
    ("330199", DivisionProblem.UNKNOWN),  # a county that Hangzhou does not have
    ("371200", DivisionProblem.UNKNOWN),  # 莱芜市, merged into Jinan in 2019: retired
    ("012345", DivisionProblem.FORMAT),
    ("33010", DivisionProblem.FORMAT),
    ("33010６", DivisionProblem.FORMAT),
])
def test_a_code_that_is_no_division_is_refused_with_the_reason(code: str, problem: DivisionProblem) -> None:
    assert LIST.problem(code) is problem and LIST.get(code) is None
    assert LIST.version in problem.message_zh(LIST.version) or problem is DivisionProblem.FORMAT


def test_every_county_and_prefecture_lies_in_a_province_of_the_list() -> None:
    for code in LIST.names:
        assert code[:2] + "0000" in LIST.names, code
        division = LIST.get(code)
        assert isinstance(division, Division) and division.full_name.endswith(division.name)


def test_a_list_with_a_bad_line_or_a_code_twice_or_no_version_is_refused() -> None:
    header = "# version: 2024\n"
    assert parse_divisions(header + "330000 浙江省\n# a comment\n\n330100 杭州市\n").get("330100") == Division(
        "330100", "杭州市", "浙江省杭州市", DivisionLevel.PREFECTURE)
    with pytest.raises(ValueError, match="line 2"):
        parse_divisions(header + "33000 浙江省\n")
    with pytest.raises(ValueError, match="twice"):
        parse_divisions(header + "330000 浙江省\n330000 浙江\n")
    with pytest.raises(ValueError, match="version"):
        parse_divisions("330000 浙江省\n")
