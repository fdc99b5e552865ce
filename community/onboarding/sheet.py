"""A compound spreadsheet's rows, checked: plain Python, no I/O. The reader (`spreadsheet`) gives the cells of each
row; :func:`read_sheet` checks the header, each row's cells (an area of "八十", a phone of ten digits, an id with a
space...), then the rows taken together — a unit's rows agree on its building, room and area (else its id is a
duplicate), every unit has an owner, nobody lives in two units, no card is listed twice — and gives a
:class:`CompoundSheet`: the buildings, units, ownership and residents it describes, and every refusal with its row
(the spreadsheet's row number: the header is row 1) and its reason, in Chinese for the property office and with a
stable code for programs.

Nothing here knows what the registers hold: whether a unit is new or changed, a card taken by someone else, is
`plan`'s to say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from community.access.directory import ResidentRole
from community.onboarding.columns import (
    BY_KEY,
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_UNITS,
    REQUIRED,
    header_key,
    is_ignored,
)
from community.ownership.register import Owner, UnitOwnership

Cell = str | int | float | Decimal | bool | datetime | date | time | None
"""A cell as a reader gives it: CSV gives text, XLSX numbers, dates and booleans too."""

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = re.compile(r"[;；,，、/\s]+")
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_CARD = re.compile(r"^[A-Za-z0-9]{4,32}$")
_AREA_UNITS = re.compile(r"\s*(㎡|m2|m²|平方米|平米)\s*$", re.IGNORECASE)
MAX_AREA = Decimal("100000")


class UnreadableSheet(Exception):
    """The reader cannot go on (a damaged file): raised from its rows, reported as the file's problem."""


@dataclass(frozen=True)
class Problem:
    """Why a row (or, with ``row`` None, the file) is refused: a stable ``code`` and a message in Chinese."""

    row: int | None
    code: str
    message: str


class OwnerMark(StrEnum):
    OWNER = "owner"  # 是
    REPRESENTATIVE = "representative"  # 代表
    DEVELOPER = "developer"  # 开发商


_OWNER_WORDS = {"是": OwnerMark.OWNER, "业主": OwnerMark.OWNER, "产权人": OwnerMark.OWNER, "yes": OwnerMark.OWNER,
                "y": OwnerMark.OWNER, "owner": OwnerMark.OWNER, "代表": OwnerMark.REPRESENTATIVE,
                "业主代表": OwnerMark.REPRESENTATIVE, "representative": OwnerMark.REPRESENTATIVE,
                "开发商": OwnerMark.DEVELOPER, "developer": OwnerMark.DEVELOPER}
_NOT_OWNER = {"否", "no", "n", "-"}
_ROLE_WORDS = {"业主": ResidentRole.OWNER, "owner": ResidentRole.OWNER, "家属": ResidentRole.FAMILY,
               "家庭成员": ResidentRole.FAMILY, "family": ResidentRole.FAMILY, "租户": ResidentRole.TENANT,
               "tenant": ResidentRole.TENANT}


@dataclass(frozen=True)
class Person:
    """The person a row names, and what they are to its unit."""

    person_id: str
    name: str
    owner: OwnerMark | None
    role: ResidentRole | None
    phone: str | None
    cards: tuple[str, ...]
    groups: frozenset[str] | None
    """None: the row names no groups (an existing resident keeps theirs)."""


@dataclass(frozen=True)
class SheetRow:
    row: int
    building_id: str
    building_name: str | None
    entrance: str
    room: str
    unit_id: str
    area: Decimal
    person: Person | None

    @property
    def place(self) -> tuple[str, str, str]:
        return self.building_id, self.entrance, self.room


@dataclass(frozen=True)
class SheetBuilding:
    building_id: str
    name: str | None
    """None: no row names it (a new building is named by its id, an existing one keeps its name)."""
    row: int
    """Its first row."""


@dataclass(frozen=True)
class SheetUnit:
    unit_id: str
    building_id: str
    entrance: str
    room: str
    area: Decimal
    row: int
    """Its first row."""


@dataclass(frozen=True)
class SheetOwnership:
    ownership: UnitOwnership
    row: int
    """The unit's first row."""


@dataclass(frozen=True)
class SheetResident:
    person: Person
    unit_id: str
    row: int


@dataclass(frozen=True)
class CompoundSheet:
    """What a file describes, and what in it is refused. ``rows``: every data row's number, in the file's order
    (the report has a line for each), none when the file is refused as a whole; ``problems``: the refusals, by row
    (a problem of the whole file has ``row`` None, or the header's row when its columns are wrong).
    """

    rows: tuple[int, ...]
    problems: tuple[Problem, ...]
    buildings: Mapping[str, SheetBuilding] = field(default_factory=dict)
    units: Mapping[str, SheetUnit] = field(default_factory=dict)
    ownership: Mapping[str, SheetOwnership] = field(default_factory=dict)
    residents: Mapping[str, SheetResident] = field(default_factory=dict)

    @property
    def refused_whole(self) -> bool:
        """Refused as a whole (its format, its columns, its size): no row of it is planned."""
        return not self.rows and bool(self.problems)


def refused_file(code: str, message: str) -> CompoundSheet:
    """A file refused as a whole, before any row (not a spreadsheet, unreadable, too large)."""
    return CompoundSheet((), (Problem(None, code, message),))


# --- the header -----------------------------------------------------------------------------------------------


def _header(row: int, cells: Sequence[Cell]) -> tuple[dict[int, str], list[Problem]]:
    """Which column each position holds, and what is wrong with the header row."""
    positions: dict[int, str] = {}
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for position, cell in enumerate(cells[:MAX_COLUMNS]):
        text = _plain(cell)
        if not text or is_ignored(text):
            continue
        key = header_key(text)
        if key is None:
            problems.append(Problem(row, "unknown_column",
                                    f"第 {position + 1} 列「{_shown(text)}」不是模板中的列（请用模板的表头，"
                                    f"或把不导入的内容放在“备注”列）"))
        elif key in seen:
            problems.append(Problem(row, "duplicate_column",
                                    f"「{BY_KEY[key].header}」列出现了两次"
                                    f"（第 {seen[key] + 1} 列和第 {position + 1} 列）"))
        else:
            seen[key] = position
            positions[position] = key
    missing = [column.header for column in REQUIRED if column.key not in seen]
    if missing:
        problems.append(Problem(row, "missing_columns",
                                f"缺少必需的列：{'、'.join(missing)}。第 {row} 行应是表头，请从模板开始填写"))
    return positions, problems


# --- one row ----------------------------------------------------------------------------------------------------


class _RowProblems:
    """The problems of one row, collected while its cells are read."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.found: list[Problem] = []

    def add(self, code: str, message: str) -> None:
        self.found.append(Problem(self.row, code, message))


def _plain(cell: Cell) -> str:
    """A cell as text, for reading a header or judging whether a row is empty."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _shown(text: str, limit: int = 20) -> str:
    """A cell's text as quoted in a message: without control characters, shortened."""
    clean = _CONTROL.sub("", text)
    return clean if len(clean) <= limit else clean[:limit] + "…"


def _text(cell: Cell, key: str, problems: _RowProblems, *, max_length: int) -> str:
    """A text cell ('' when empty); a number is taken as its digits (a room 101, a card 12345678)."""
    if cell is None:
        return ""
    if isinstance(cell, bool | datetime | date | time):
        problems.add("bad_text", f"{BY_KEY[key].header}应是文字，不是日期或真假值")
        return ""
    if isinstance(cell, float):
        if not cell.is_integer():
            problems.add("bad_text", f"{BY_KEY[key].header}「{cell}」应是文字（请把这一列设为文本格式）")
            return ""
        cell = int(cell)
    text = str(cell).strip()
    if _CONTROL.search(text):
        problems.add("bad_text", f"{BY_KEY[key].header}含有控制字符")
        return ""
    if len(text) > max_length:
        problems.add("bad_text", f"{BY_KEY[key].header}超过 {max_length} 个字符")
        return ""
    return text


def _identifier(cell: Cell, key: str, problems: _RowProblems, *, required: bool) -> str:
    text = _text(cell, key, problems, max_length=200)
    if not text:
        if required:
            problems.add("missing_value", f"缺少{BY_KEY[key].header}")
        return ""
    if not _ID.match(text):
        problems.add("bad_id", f"{BY_KEY[key].header}「{_shown(text)}」只能由字母、数字和 _ . : - 组成，最多 64 个字符")
        return ""
    return text


def parse_area(cell: Cell) -> Decimal | None:
    """An exclusive area in m² (an exact decimal, > 0, at most two places, below 100,000), or None when the cell
    is not one ("八十", "约90", -5, 89.555)."""
    if cell is None or isinstance(cell, bool | datetime | date | time):
        return None
    text = _AREA_UNITS.sub("", repr(cell) if isinstance(cell, float) else str(cell).strip())
    if not text.isascii():
        return None
    try:
        area = Decimal(text)
    except InvalidOperation:
        return None
    if not area.is_finite() or area <= 0 or area >= MAX_AREA:
        return None
    exponent = area.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return None
    return area


def parse_phone(cell: Cell) -> str | None:
    """A mainland mobile number as its 11 digits (spaces, dashes and a +86 in front do not matter), or None."""
    if isinstance(cell, bool | datetime | date | time) or cell is None:
        return None
    text = str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)
    digits = re.sub(r"[\s-]", "", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if _PHONE.match(digits) else None


def _items(text: str) -> list[str]:
    return [item for item in _SEPARATORS.split(text) if item]


def _person(cells: Mapping[str, Cell], problems: _RowProblems) -> Person | None:
    """The person a row names (None: the row holds a unit alone); problems go to ``problems``."""
    texts = {key: _plain(cells.get(key)) for key in ("person_id", "name", "owner", "role", "phone", "card", "groups")}
    if not any(texts.values()):
        return None
    person_id = _identifier(cells.get("person_id"), "person_id", problems, required=False)
    name = _text(cells.get("name"), "name", problems, max_length=100)
    if not texts["person_id"]:
        problems.add("incomplete_person", "这一行写了人员信息，但缺少人员编号")
    elif not texts["name"]:
        problems.add("incomplete_person", "缺少姓名")
    owner_text, role_text = texts["owner"].lower(), texts["role"].lower()
    owner = None if owner_text in _NOT_OWNER or not owner_text else _OWNER_WORDS.get(owner_text)
    if owner_text and owner_text not in _NOT_OWNER and owner is None:
        problems.add("bad_owner_mark", f"业主一列「{_shown(texts['owner'])}」应是：是、代表、开发商，或空着")
    role = _ROLE_WORDS.get(role_text) if role_text else None
    if role_text and role is None:
        problems.add("bad_role", f"住户身份「{_shown(texts['role'])}」应是：业主、家属、租户，或空着")
    phone = parse_phone(cells.get("phone")) if texts["phone"] else None
    if texts["phone"] and phone is None:
        problems.add("bad_phone", f"手机号「{_shown(texts['phone'])}」应是 11 位数字的手机号，如 13800138000")
    cards = tuple(_items(texts["card"]))
    for card in cards:
        if not _CARD.match(card):
            problems.add("bad_card", f"卡号「{_shown(card)}」应是 4–32 位字母或数字")
    if len(set(cards)) != len(cards):
        problems.add("duplicate_card", "同一张卡在这一行写了两次")
    groups = frozenset(_items(texts["groups"])) if texts["groups"] else None
    for group in sorted(groups or ()):
        if not _ID.match(group):
            problems.add("bad_id", f"门禁组编号「{_shown(group)}」只能由字母、数字和 _ . : - 组成")
    marked = bool(owner_text and owner_text not in _NOT_OWNER) or bool(role_text)
    if not marked:
        problems.add("not_owner_nor_resident", "人员既不是业主也不是住户：请填写“业主”或“住户身份”")
    elif not role_text and (texts["phone"] or cards or groups):
        problems.add("resident_only", "只有住户（填写了住户身份）才登记手机、卡号和门禁组")
    if owner is OwnerMark.DEVELOPER and role_text:
        problems.add("bad_owner_mark", "开发商不是住户：住在这套房屋的人请另起一行")
    return Person(person_id, name, owner, role, phone, cards, groups)


def parse_row(row: int, cells: Mapping[str, Cell]) -> SheetRow | list[Problem]:
    """One data row (its cells by column key): its values, or why it is refused."""
    problems = _RowProblems(row)
    building_id = _identifier(cells.get("building_id"), "building_id", problems, required=True)
    building_name = _text(cells.get("building_name"), "building_name", problems, max_length=100) or None
    entrance = _text(cells.get("entrance"), "entrance", problems, max_length=32)
    room = _text(cells.get("room"), "room", problems, max_length=32)
    if not room and not any(p.code == "bad_text" for p in problems.found):
        problems.add("missing_value", "缺少房号")
    unit_id = _identifier(cells.get("unit_id"), "unit_id", problems, required=True)
    area_cell = cells.get("area_m2")
    area = parse_area(area_cell)
    if area is None:
        shown = _plain(area_cell)
        problems.add("bad_area" if shown else "missing_value",
                     f"专有面积「{_shown(shown)}」应是大于 0 的数字（平方米，最多两位小数），如 89.50" if shown
                     else "缺少专有面积")
    person = _person(cells, problems)
    if problems.found or area is None:
        return problems.found
    return SheetRow(row, building_id, building_name, entrance, room, unit_id, area, person)


# --- the rows together ------------------------------------------------------------------------------------------


@dataclass
class _Collected:
    """The rows read so far, taken together."""

    rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    buildings: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    """Each building's name (None until a row names it) and its first row."""
    units: dict[str, SheetUnit] = field(default_factory=dict)
    places: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)
    owners: dict[str, list[tuple[Person, int]]] = field(default_factory=dict)
    owner_marked: set[str] = field(default_factory=set)
    """Units one of whose refused rows marks an owner: the refusal of that row says why they have none."""
    residents: dict[str, SheetResident] = field(default_factory=dict)
    names: dict[str, tuple[str, int]] = field(default_factory=dict)
    cards: dict[str, int] = field(default_factory=dict)

    def refuse(self, row: int, code: str, message: str) -> None:
        self.problems.append(Problem(row, code, message))

    def take(self, line: SheetRow) -> None:
        before = len(self.problems)
        if self._building(line) and self._unit(line) and line.person is not None:
            self._person(line, line.person)
        if len(self.problems) > before and line.person is not None and line.person.owner is not None:
            self.owner_marked.add(line.unit_id)

    def refused_row(self, problems: list[Problem], cells: Mapping[str, Cell]) -> None:
        self.problems.extend(problems)
        unit_id, mark = _plain(cells.get("unit_id")), _plain(cells.get("owner")).lower()
        if unit_id and mark and mark not in _NOT_OWNER:
            self.owner_marked.add(unit_id)

    def _building(self, line: SheetRow) -> bool:
        known = self.buildings.get(line.building_id)
        if known is None:
            self.buildings[line.building_id] = (line.building_name, line.row)
        elif line.building_name is not None and known[0] is None:
            self.buildings[line.building_id] = (line.building_name, known[1])
        elif line.building_name is not None and line.building_name != known[0]:
            self.refuse(line.row, "building_name_differs", f"楼栋 {line.building_id} 在前面的行中名为「{known[0]}」，"
                                                           f"这一行却是「{_shown(line.building_name)}」")
            return False
        return True

    def _unit(self, line: SheetRow) -> bool:
        known = self.units.get(line.unit_id)
        if known is None:
            taken = self.places.get(line.place)
            if taken is not None:
                self.refuse(line.row, "duplicate_room",
                            f"{_place(*line.place)} 在第 {taken[1]} 行已是房屋 {taken[0]}，同一房间不能有两个房屋编号")
                return False
            self.units[line.unit_id] = SheetUnit(line.unit_id, line.building_id, line.entrance, line.room, line.area,
                                                 line.row)
            self.places[line.place] = (line.unit_id, line.row)
        elif (known.building_id, known.entrance, known.room, known.area) != (*line.place, line.area):
            self.refuse(line.row, "duplicate_unit",
                        f"房屋编号 {line.unit_id} 在第 {known.row} 行是 "
                        f"{_place(known.building_id, known.entrance, known.room)}（{known.area}㎡），这一行却是 "
                        f"{_place(*line.place)}（{line.area}㎡）：房屋编号重复了")
            return False
        return True

    def _person(self, line: SheetRow, person: Person) -> None:
        named = self.names.get(person.person_id)
        if named is not None and named[0] != person.name:
            self.refuse(line.row, "name_differs", f"人员 {person.person_id} 在第 {named[1]} 行名为「{named[0]}」，"
                                                  f"这一行却是「{_shown(person.name)}」")
            return
        for card in person.cards:
            if card in self.cards:
                self.refuse(line.row, "duplicate_card", f"卡号 …{card[-4:]} 在第 {self.cards[card]} 行已登记过")
                return
        listed = self.owners.setdefault(line.unit_id, [])
        if person.owner is not None and any(owner.person_id == person.person_id for owner, _ in listed):
            self.refuse(line.row, "person_listed_twice", f"人员 {person.person_id} 已是房屋 {line.unit_id} 的业主"
                                                         "（重复的行）")
            return
        living = self.residents.get(person.person_id) if person.role is not None else None
        if living is not None:
            same = living.unit_id == line.unit_id
            self.refuse(line.row, "person_listed_twice" if same else "lives_in_two_units",
                        f"人员 {person.person_id} 在第 {living.row} 行已登记为房屋 {living.unit_id} 的住户"
                        + ("（重复的行）" if same else "；一个人只能是一套房屋的住户"))
            return
        self.names.setdefault(person.person_id, (person.name, line.row))
        if person.owner is not None:
            listed.append((person, line.row))
        if person.role is not None:
            self.residents[person.person_id] = SheetResident(person, line.unit_id, line.row)
        for card in person.cards:
            self.cards[card] = line.row

    def sheet(self) -> CompoundSheet:
        ownership = self._ownership()
        buildings = {building_id: SheetBuilding(building_id, name, row)
                     for building_id, (name, row) in self.buildings.items()}
        return CompoundSheet(tuple(self.rows), tuple(sorted(self.problems, key=lambda p: p.row or 0)), buildings,
                             self.units, ownership, self.residents)

    def _ownership(self) -> dict[str, SheetOwnership]:
        """Each unit's ownership from its owners' rows; a unit with none, or with contradicting marks, refused."""
        found: dict[str, SheetOwnership] = {}
        for unit_id, unit in self.units.items():
            listed = self.owners.get(unit_id, [])
            if not listed:
                if unit_id not in self.owner_marked:
                    self.refuse(unit.row, "no_owner",
                                f"房屋 {unit_id} 没有业主：它至少一行的“业主”应为 是、代表 或 开发商")
                continue
            ownership = self._unit_ownership(unit, listed)
            if ownership is not None:
                found[unit_id] = SheetOwnership(ownership, unit.row)
        return found

    def _unit_ownership(self, unit: SheetUnit, listed: list[tuple[Person, int]]) -> UnitOwnership | None:
        representatives = [(person, row) for person, row in listed if person.owner is OwnerMark.REPRESENTATIVE]
        developer = [row for person, row in listed if person.owner is OwnerMark.DEVELOPER]
        if len(representatives) > 1:
            self.refuse(representatives[1][1], "two_representatives",
                        f"房屋 {unit.unit_id} 已有代表 {representatives[0][0].person_id}：共有人只能指定一位代表")
            return None
        if developer and len(listed) > 1:
            self.refuse(developer[0], "developer_not_alone", f"房屋 {unit.unit_id} 由开发商持有，不能再有其他业主")
            return None
        owners = tuple(Owner(person.person_id, person.name) for person, _ in listed)
        # a sole owner needs no representative: the register and the roll read both alike
        representative = representatives[0][0].person_id if representatives and len(owners) > 1 else None
        try:
            return UnitOwnership(unit.unit_id, owners, representative, held_by_developer=bool(developer))
        except ValueError as invalid:  # the register's own rules (at most 20 owners...)
            self.refuse(listed[0][1], "bad_ownership", f"房屋 {unit.unit_id} 的产权登记不成立：{invalid}")
            return None


def _place(building_id: str, entrance: str, room: str) -> str:
    return f"{building_id} {entrance}{' ' if entrance else ''}{room}"


def read_sheet(rows: Iterable[Sequence[Cell]]) -> CompoundSheet:
    """The file's rows (the first that holds anything is the header) checked and taken together. Reads at most
    :data:`MAX_ROWS` data rows and :data:`MAX_UNITS` units: past either it stops and refuses the file, without
    reading the rest."""
    numbered = ((number, cells) for number, cells in enumerate(rows, start=1)
                if any(_plain(cell) for cell in cells[:MAX_COLUMNS]))
    collected = _Collected()
    try:
        header = next(numbered, None)
        if header is None:
            return refused_file("empty_file", "文件是空的：第 1 行应是表头，下面每行一个人员或一套房屋")
        positions, header_problems = _header(header[0], header[1])
        if header_problems:
            return CompoundSheet((), tuple(header_problems))
        for number, cells in numbered:
            if len(collected.rows) >= MAX_ROWS:
                return refused_file("too_many_rows", f"文件超过 {MAX_ROWS} 行数据（第 {number} 行起没有读），"
                                                     "请分成几个文件导入")
            collected.rows.append(number)
            row_cells = {key: cells[position] for position, key in positions.items() if position < len(cells)}
            parsed = parse_row(number, row_cells)
            if isinstance(parsed, list):
                collected.refused_row(parsed, row_cells)
                continue
            if parsed.unit_id not in collected.units and len(collected.units) >= MAX_UNITS:
                return refused_file("too_many_units", f"文件超过 {MAX_UNITS} 套房屋（第 {number} 行起没有读），"
                                                      "请分成几个文件导入")
            collected.take(parsed)
    except UnreadableSheet as damaged:
        return refused_file("unreadable", f"文件无法读完：{damaged}")
    if not collected.rows:
        return refused_file("empty_file", "文件只有表头，没有数据行")
    return collected.sheet()
