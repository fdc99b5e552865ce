"""The access group's form, without JavaScript: id, name, doors (checkboxes over the community's gates' doors), weekly
windows in a fixed number of rows (days of the week, a start and an end; a blank row is ignored; an end not after
the start runs into the next day, as the API takes it), validity. Read from a submitted form and checked by the API's
own models (:class:`AccessWindowIn` for each row, :class:`AccessGroupIn` for the whole) and then the domain's, each
reason next to its field, so the page takes and refuses what ``PUT .../groups/{group_id}`` takes and refuses.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Final

from multidict import MultiDictProxy

from community.access.directory import Gate, GroupRecord
from community.access.pages.context import _DOOR_VALUE, _from_local_input, _local_input
from community.access.permissions import AccessGroup, Door, WeeklyWindow
from community.access.web.schemas import ID_PATTERN, AccessGroupIn, AccessWindowIn
from webkit.form_checks import FieldWords, FormState, checked, typed

WINDOW_ROWS: Final = 4
"""Rows of windows a form offers at least (a group with as many or more gets one blank row more)."""
MAX_WINDOWS: Final = 32
"""AccessGroupIn's most windows."""
MAX_DOORS: Final = 1024
"""AccessGroupIn's most doors."""
WEEKDAYS: Final = tuple(enumerate("一二三四五六日"))
_ID = re.compile(ID_PATTERN)
GROUP_WORDS: Final = FieldWords(
    {"group_id": "权限组编号", "name": "名称", "doors": "门", "windows": "通行时段", "valid_from": "生效时间",
     "valid_to": "失效时间"},
    {"group_id": "编号为 1–64 位字母、数字或 _ . : -", "name": "名称为 1–100 个字，不含换行等控制字符",
     "doors": "请至少选择一扇门", "windows": "请至少填写一个通行时段（选择星期并填写开始、结束时间）"})
WINDOW_WORDS: Final = FieldWords(
    {"days": "星期", "start": "开始时间", "end": "结束时间"},
    {"days": "请选择星期几（可多选）", "start": "开始时间的格式为 07:00", "end": "结束时间的格式为 22:00"})


def row_fields(row: int) -> tuple[str, str, str]:
    """The names of a window row's days, start and end fields."""
    return f"w{row}_days", f"w{row}_start", f"w{row}_end"


@dataclass
class GroupForm:
    """An access group's form as shown or as typed: its text fields (with their problems) in ``state``, the doors
    ticked (``gate:number``), each window row's days ticked, and how many rows to show."""

    state: FormState = field(default_factory=FormState)
    doors: set[str] = field(default_factory=set)
    days: dict[int, set[str]] = field(default_factory=dict)
    rows: int = WINDOW_ROWS
    status: int = 200
    """What the API would answer the form with: 400 (its schema refuses it) before 409 (the id is taken) before 422
    (the domain or the service refuses it)."""

    def refuse(self, name: str, problem: str, status: int) -> None:
        self.state.refuse(name, problem)
        self.status = min(status, self.status) if self.status >= 400 else status

    def schema_checked(self, before: int) -> None:
        """Problems recorded by the API's models since there were ``before`` are the schema's: 400."""
        if len(self.state.problems) > before:
            self.status = 400

    def day_ticked(self, row: int, day: int) -> bool:
        return str(day) in self.days.get(row, set())

    @classmethod
    def of(cls, record: GroupRecord) -> GroupForm:
        """The form filled with a group as it is."""
        group = record.group
        values = {"group_id": group.group_id, "name": record.name,
                  "valid_from": _local_input(group.valid_from) if group.valid_from else "",
                  "valid_to": _local_input(group.valid_to) if group.valid_to else ""}
        days: dict[int, set[str]] = {}
        for row, window in enumerate(group.windows):
            _, start, end = row_fields(row)
            values[start], values[end] = _clock(window.start), _clock(window.end)
            days[row] = {str(day) for day in window.days}
        return cls(FormState(values), {f"{door.gate_id}:{door.number}" for door in group.doors}, days,
                   _rows_for(len(group.windows)))


def _clock(moment: time) -> str:
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def _rows_for(used: int) -> int:
    return min(MAX_WINDOWS, max(WINDOW_ROWS, used + 1))


def read_group_form(form: MultiDictProxy[str]) -> GroupForm:
    """The form as submitted (each field bounded; at most :data:`MAX_WINDOWS` rows and :data:`MAX_DOORS` doors
    read)."""
    names = ["group_id", "name", "valid_from", "valid_to"]
    for row in range(MAX_WINDOWS):
        names += row_fields(row)[1:]
    state = typed(form, names, codes=[name for name in names if name != "name"])
    days = {row: set(form.getall(row_fields(row)[0], [])[:7]) for row in range(MAX_WINDOWS)}
    used = [row for row in range(MAX_WINDOWS) if _row_filled(state, days, row)]
    return GroupForm(state, set(form.getall("door", [])[:MAX_DOORS]), {row: days[row] for row in used},
                     _rows_for(max(used, default=-1) + 1))


def _row_filled(state: FormState, days: Mapping[int, set[str]], row: int) -> bool:
    _, start, end = row_fields(row)
    return bool(days.get(row) or state.values.get(start) or state.values.get(end))


@dataclass(frozen=True)
class CheckedGroup:
    """A group the API's model and the domain take: what is stored."""

    name: str
    group: AccessGroup


def check_group(form: GroupForm, group_id: str, gates: Collection[Gate], *, creating: bool) -> CheckedGroup | None:
    """The group on the form, with ``group_id`` (the typed one when ``creating``, else the page's), or None with
    each problem recorded next to its field in ``form.state``."""
    state = form.state
    if creating and not _ID.fullmatch(group_id):
        form.refuse("group_id", "请填写权限组编号" if not group_id else GROUP_WORDS.patterns["group_id"], 400)
    windows = _windows(form)
    doors = _doors(form, gates)
    valid_from, valid_to = _moment(form, "valid_from"), _moment(form, "valid_to")
    before = len(state.problems)
    data = checked(AccessGroupIn, state, GROUP_WORDS, doors=doors, windows=windows, valid_from=valid_from,
                   valid_to=valid_to)
    if any(name.startswith("w") and "_" in name for name in state.problems):
        state.problems.pop("windows", None)  # the rows say what is wrong with them
    form.schema_checked(before)
    if data is None or state.failed:
        return None
    try:
        group = AccessGroup(
            group_id, frozenset(Door(door.gate_id, door.door) for door in data.doors),
            tuple(WeeklyWindow(frozenset(w.days), time.fromisoformat(w.start), time.fromisoformat(w.end))
                  for w in data.windows),
            data.valid_from, data.valid_to)
    except ValueError:  # the rows' times were read above: what is left is the validity period
        form.refuse("valid_to", "失效时间须晚于生效时间", 422)
        return None
    return CheckedGroup(data.name, group)


def _windows(form: GroupForm) -> list[dict[str, object]]:
    """The filled rows as AccessWindowIn takes them; each row's problems recorded next to its fields."""
    state = form.state
    windows: list[dict[str, object]] = []
    for row in sorted(form.days.keys() | {r for r in range(MAX_WINDOWS) if _row_filled(state, form.days, r)}):
        days_field, start_field, end_field = row_fields(row)
        typed_row = FormState({"start": state.values.get(start_field, ""), "end": state.values.get(end_field, "")})
        days = [int(day) if day.isascii() and day.isdigit() and len(day) == 1 else -1
                for day in sorted(form.days.get(row, set()))]
        window = checked(AccessWindowIn, typed_row, WINDOW_WORDS, days=days)
        for name, problem in typed_row.problems.items():
            form.refuse({"days": days_field, "start": start_field, "end": end_field}.get(name, days_field), problem,
                        400)
        if window is None:
            continue
        for name, value in (("start", window.start), ("end", window.end)):
            try:
                time.fromisoformat(value)
            except ValueError:  # 25:00 has the pattern's shape, but is no time of day (the API: 422)
                form.refuse(start_field if name == "start" else end_field,
                            f"{WINDOW_WORDS.labels[name]} {value} 不是有效的时刻（00:00–23:59）", 422)
        windows.append(window.model_dump())
    return windows


def _doors(form: GroupForm, gates: Collection[Gate]) -> list[dict[str, object]]:
    """The doors ticked, as AccessGroupIn takes them; a door that is not one of the community's gates' doors is
    refused here, as the service would refuse it."""
    known = {(gate.gate_id, door.number) for gate in gates for door in gate.doors}
    doors: list[dict[str, object]] = []
    unknown: list[str] = []
    for value in sorted(form.doors):
        match = _DOOR_VALUE.match(value)
        if match is None or (match.group(1), int(match.group(2))) not in known:
            unknown.append(value[:80])
            continue
        doors.append({"gate_id": match.group(1), "door": int(match.group(2))})
    if unknown:  # the service's refusal (422)
        form.refuse("doors", f"本小区没有这扇门：{'、'.join(unknown[:3])}（门禁可能已变更，请刷新页面重新选择）", 422)
    return doors


def _moment(form: GroupForm, name: str) -> datetime | None:
    text = form.state.values.get(name, "")
    if not text:
        return None
    try:
        return _from_local_input(text)
    except ValueError:  # what AwareDatetime refuses (400), or a year the gates cannot hold (422 there: 400 here)
        form.refuse(name, f"{GROUP_WORDS.labels[name]}的格式应为 2026-01-01 08:00（2000–2099 年）", 400)
        return None
