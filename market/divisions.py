"""China's administrative divisions (GB/T 2260, 中华人民共和国行政区划代码): the list a batch's origin is checked
against, so that ``999999`` or a code never assigned is refused with the reason.

The list is the Ministry of Civil Affairs' yearly one (county level and above), shipped with the code as
``market/data/gb2260-<version>.txt``; its header says where it comes from and which year it is. A code is six
digits: two for the province, two for the prefecture, two for the county; ``330000`` 浙江省, ``330100`` 杭州市,
``330106`` 西湖区. Municipalities' districts (``110101``) and counties under a province directly (``429004``
仙桃市) have no prefecture of their own in the list, and their full name skips it.

Only the list as it is now is shipped: a batch received today comes from a division that exists today. Batches
recorded before, under a code retired since, stay as they were recorded (nothing here is applied to them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Final

CODE: Final = re.compile(r"[1-9][0-9]{5}")
SHIPPED_LIST: Final = "gb2260-2024.txt"
_LINE: Final = re.compile(r"([1-9][0-9]{5}) (\S+)")
_HEADER: Final = re.compile(r"#\s*([a-z-]+):\s*(.+)")


class DivisionLevel(StrEnum):
    PROVINCE = "province"
    PREFECTURE = "prefecture"
    COUNTY = "county"

    @property
    def label_zh(self) -> str:
        return {DivisionLevel.PROVINCE: "省级", DivisionLevel.PREFECTURE: "地级",
                DivisionLevel.COUNTY: "县级"}[self]


def level_of(code: str) -> DivisionLevel:
    """Which level a (well-formed) code names, by its trailing zeros."""
    if code.endswith("0000"):
        return DivisionLevel.PROVINCE
    return DivisionLevel.PREFECTURE if code.endswith("00") else DivisionLevel.COUNTY


@dataclass(frozen=True)
class Division:
    """One division of the list: ``full_name`` with the province and prefecture it lies in (浙江省杭州市西湖区)."""

    code: str
    name: str
    full_name: str
    level: DivisionLevel


class DivisionProblem(StrEnum):
    FORMAT = "format"
    UNKNOWN = "unknown"

    def message(self, version: str) -> str:
        if self is DivisionProblem.FORMAT:
            return "an administrative division code (GB/T 2260) is six digits, not starting with 0, e.g. 330106"
        return f"no administrative division has this code in the GB/T 2260 list ({version})"

    def message_zh(self, version: str) -> str:
        if self is DivisionProblem.FORMAT:
            return "产地代码为 6 位行政区划代码（GB/T 2260），例如 330106"
        return f"没有这个行政区划代码（GB/T 2260，{version} 年版代码表）：请核对产地所在县（市、区）的代码"


@dataclass(frozen=True)
class Divisions:
    """A GB/T 2260 list: its version (the year of the Ministry's list), the day it holds for, where it is from,
    and each code's name."""

    version: str
    as_of: date | None
    source: str
    names: Mapping[str, str]

    def problem(self, code: str) -> DivisionProblem | None:
        """What is wrong with ``code`` as a division of this list, or None when it names one."""
        if not CODE.fullmatch(code):
            return DivisionProblem.FORMAT
        return None if code in self.names else DivisionProblem.UNKNOWN

    def get(self, code: str) -> Division | None:
        name = self.names.get(code)
        if name is None:
            return None
        level = level_of(code)
        above = [code[:2] + "0000"] + ([code[:4] + "00"] if level is DivisionLevel.COUNTY else [])
        full = "".join(self.names[c] for c in above if c != code and c in self.names) + name
        return Division(code, name, full, level)

    def __len__(self) -> int:
        return len(self.names)


def parse_divisions(text: str) -> Divisions:
    """A list as the shipped file writes it: ``# key: value`` header lines (version, as-of, source), then one
    ``code name`` per line. Raises ValueError on a line that is neither, or on a code listed twice."""
    header: dict[str, str] = {}
    names: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            if found := _HEADER.fullmatch(line.strip()):
                header.setdefault(found[1], found[2].strip())
            continue
        entry = _LINE.fullmatch(line.strip())
        if entry is None:
            raise ValueError(f"line {number}: expected six digits, a space and a name, not {line!r}")
        if entry[1] in names:
            raise ValueError(f"line {number}: {entry[1]} is listed twice")
        names[entry[1]] = entry[2]
    if "version" not in header:
        raise ValueError("the list says which version it is (a '# version:' line)")
    as_of = date.fromisoformat(header["as-of"]) if "as-of" in header else None
    return Divisions(header["version"], as_of, header.get("source", ""), names)


@lru_cache(maxsize=1)
def shipped_divisions() -> Divisions:
    """The list shipped with the market (read once: it is part of the code, as a table of constants would be)."""
    return parse_divisions(resources.files("market").joinpath("data", SHIPPED_LIST).read_text("utf-8"))
