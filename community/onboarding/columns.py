"""The compound spreadsheet's columns: one row per person of a unit (an owner, a resident, or both), the unit's own
columns repeated on each of its rows. Each column has a Chinese header (what the template carries) and an English key
(what the JSON form of the API and the docs use); either names the column in a file, as do a few aliases.

Plain values, no I/O: the template writers (`spreadsheet`), the row checks (`sheet`), the page and the docs read
them from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ROWS = 60_000
"""Data rows in one file: a 20,000-unit compound with three people a unit. Beyond, the file is refused as soon as
the reader meets row 60,002 (the header is row 1) — it is not read further."""

MAX_UNITS = 20_000
"""Units in one file: the ownership register's bulk import takes as many (``community.ownership.service``)."""

MAX_COLUMNS = 40
"""Columns read in a row: the file has 13 or so; anything further right is not looked at."""

IGNORED_HEADERS = ("备注", "note", "notes", "remark", "remarks")
"""Columns a file may carry for the office's own use: read past, never imported."""


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool
    description: str
    example: str
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("building_id", "楼栋编号", True, "楼栋的编号：字母、数字或 _ . : -，最多 64 个字符", "B01", ("楼栋",)),
    Column("building_name", "楼栋名称", False, "楼栋的名称（空着时用楼栋编号；同一楼栋各行须一致）", "1栋"),
    Column("entrance", "单元", False, "单元（可空），最多 32 个字符", "1单元", ("单元号",)),
    Column("room", "房号", True, "房号，最多 32 个字符", "101", ("房间号", "室号")),
    Column("unit_id", "房屋编号", True, "房屋的编号，全小区唯一：字母、数字或 _ . : -；同一房屋的各行须一致",
           "B01-1-101", ("房屋",)),
    Column("area_m2", "专有面积", True, "专有部分面积（平方米），大于 0，最多两位小数", "89.50",
           ("专有面积(㎡)", "专有面积（㎡）", "专有面积(平方米)", "专有面积（平方米）", "面积")),
    Column("person_id", "人员编号", False, "人员的编号（业主或住户）：字母、数字或 _ . : -；也是其登录账号。"
           "一行只写房屋时可空", "P0001", ("人员",)),
    Column("name", "姓名", False, "业主或住户的姓名（或开发商的名称）", "张三", ("名称",)),
    Column("owner", "业主", False, "是 = 产权人（多行为“是”即共有）；代表 = 产权人并代表共有人投票；"
           "开发商 = 开发商持有（未售出）；空 = 不是产权人", "代表", ("产权",)),
    Column("role", "住户身份", False, "住在这里：业主、家属或租户；空 = 不住在这里", "业主", ("住户",)),
    Column("phone", "手机", False, "住户的手机号，11 位数字", "13800138000", ("手机号", "手机号码", "电话")),
    Column("card", "卡号", False, "住户的门禁卡号，4–32 位字母或数字；多张用 ; 分隔", "0012345678",
           ("门禁卡", "门禁卡号")),
    Column("groups", "门禁组", False, "住户的门禁组编号（须已在小区中建立），多个用 ; 分隔", "residents"),
)
"""In the template's order."""

KEYS = frozenset(column.key for column in COLUMNS)
REQUIRED = tuple(column for column in COLUMNS if column.required)
BY_KEY = {column.key: column for column in COLUMNS}

_DECORATION = re.compile(r"[\s*＊]+|[(（][^)）]*[)）]$")


def header_key(text: str) -> str | None:
    """The column a header cell names (its Chinese header, an alias or its English key; spaces, a required
    marker ``*`` and a trailing note in brackets do not matter), or None."""
    plain = text.strip().lower()
    for column in COLUMNS:
        if plain == column.key or text.strip() in (column.header, *column.aliases):
            return column.key
    bare = _DECORATION.sub("", text.strip())
    for column in COLUMNS:
        if bare == column.header or bare in column.aliases or bare.lower() == column.key:
            return column.key
    return None


def is_ignored(text: str) -> bool:
    """Whether a header names a column kept for the office's own use (备注...)."""
    return _DECORATION.sub("", text.strip()).lower() in IGNORED_HEADERS
