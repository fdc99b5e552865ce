"""What importing a compound sheet would do to the registers as they are: plain Python, no I/O.

:func:`plan_import` compares each building, unit, unit's ownership, resident and card of a :class:`CompoundSheet`
with the access register (:class:`DirectoryView`) and the current ownership, and says for every row of the file what
it creates, changes or leaves alone — or why it is refused (an id another community holds, a room that is another
unit's, a card enrolled to someone else, a resident who lives elsewhere or has moved out, a group the community does
not have, two developers). The plan is what a dry run shows and what the import writes; a plan with any refusal is
written not at all.

Idempotent by construction: what the registers already hold is "unchanged" and written again by nobody, so the same
file imported twice changes nothing the second time. A blank cell never erases: a resident whose phone cell is empty
keeps the phone they have, one whose groups cell is empty keeps their groups. Nothing the file does not name is
touched: units and residents missing from it stay as they are (moving out is the residents page's business).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from community.access.compound import DirectoryChanges, DirectoryView, NewCard
from community.access.directory import (
    Building,
    ResidentRecord,
    ResidentRole,
    ResidentStatus,
    Unit,
    mask_phone,
)
from community.onboarding.sheet import CompoundSheet, Problem, SheetBuilding, SheetResident, SheetUnit
from community.ownership.register import UnitOwnership, developer_conflict

CardHash = Callable[[str], str]
"""A card number's keyed hash, as the access register stores it."""

ROLE_WORDS = {ResidentRole.OWNER: "业主", ResidentRole.FAMILY: "家属", ResidentRole.TENANT: "租户"}
STATUS_WORDS = {ResidentStatus.MOVED_OUT: "已迁出", ResidentStatus.REVOKED: "已停用"}


class Outcome(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class RowReport:
    """One row of the file: what it does (``notes``, in Chinese) or why it is refused (``problems``)."""

    row: int
    outcome: Outcome
    notes: tuple[str, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Totals:
    buildings_created: int = 0
    buildings_changed: int = 0
    units_created: int = 0
    units_changed: int = 0
    residents_created: int = 0
    residents_changed: int = 0
    cards_created: int = 0
    ownership_recorded: int = 0


@dataclass(frozen=True)
class ImportPlan:
    rows: tuple[RowReport, ...]
    problems: tuple[Problem, ...]
    """Every refusal: the file's own (``row`` None) and the rows'."""
    directory: DirectoryChanges
    ownership: tuple[UnitOwnership, ...]
    totals: Totals

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    @property
    def changes_anything(self) -> bool:
        return not self.directory.empty or bool(self.ownership)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for row in self.rows if row.outcome is outcome)


@dataclass
class _Planning:
    sheet: CompoundSheet
    view: DirectoryView
    card_hash: CardHash
    created: dict[int, list[str]] = field(default_factory=dict)
    changed: dict[int, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    new_buildings: list[Building] = field(default_factory=list)
    renamed_buildings: list[Building] = field(default_factory=list)
    new_units: list[Unit] = field(default_factory=list)
    changed_units: list[Unit] = field(default_factory=list)
    new_residents: list[ResidentRecord] = field(default_factory=list)
    changed_residents: list[ResidentRecord] = field(default_factory=list)
    new_cards: list[NewCard] = field(default_factory=list)

    def create(self, row: int, note: str) -> None:
        self.created.setdefault(row, []).append(note)

    def change(self, row: int, note: str) -> None:
        self.changed.setdefault(row, []).append(note)

    def refuse(self, row: int, code: str, message: str) -> None:
        self.problems.append(Problem(row, code, message))

    def building_name(self, building_id: str) -> str:
        listed = self.sheet.buildings.get(building_id)
        if listed is not None and listed.name:
            return listed.name
        current = self.view.buildings.get(building_id)
        return current.name if current is not None else building_id


def plan_import(sheet: CompoundSheet, view: DirectoryView, ownership: Mapping[str, UnitOwnership],
                card_hash: CardHash) -> ImportPlan:
    """What importing ``sheet`` does to the community of ``view`` whose units are owned as ``ownership`` says (by
    unit id); ``card_hash`` hashes a card number as the register does."""
    planning = _Planning(sheet, view, card_hash)
    for building in sheet.buildings.values():
        _plan_building(planning, building)
    places = {(unit.building_id, unit.entrance, unit.room): unit.unit_id for unit in view.units.values()}
    for unit in sheet.units.values():
        _plan_unit(planning, unit, places)
    recorded = _plan_ownership(planning, ownership)
    for resident in sheet.residents.values():
        _plan_resident(planning, resident)
    problems = sorted((*sheet.problems, *planning.problems), key=lambda problem: problem.row or 0)
    directory = DirectoryChanges(
        tuple(planning.new_buildings), tuple(planning.renamed_buildings), tuple(planning.new_units),
        tuple(planning.changed_units), tuple(planning.new_residents), tuple(planning.changed_residents),
        tuple(planning.new_cards))
    totals = Totals(len(planning.new_buildings), len(planning.renamed_buildings), len(planning.new_units),
                    len(planning.changed_units), len(planning.new_residents), len(planning.changed_residents),
                    len(planning.new_cards), len(recorded))
    return ImportPlan(_row_reports(sheet.rows, planning, problems), tuple(problems), directory, tuple(recorded),
                      totals)


def _row_reports(rows: Iterable[int], planning: _Planning, problems: Iterable[Problem]) -> tuple[RowReport, ...]:
    refused: dict[int, list[Problem]] = {}
    for problem in problems:
        if problem.row is not None:
            refused.setdefault(problem.row, []).append(problem)
    reports = []
    for row in rows:
        notes = (*planning.created.get(row, ()), *planning.changed.get(row, ()))
        if row in refused:
            outcome = Outcome.REFUSED
        elif row in planning.changed:
            outcome = Outcome.CHANGED
        elif row in planning.created:
            outcome = Outcome.CREATED
        else:
            outcome = Outcome.UNCHANGED
        reports.append(RowReport(row, outcome, notes, tuple(refused.get(row, ()))))
    return tuple(reports)


def _plan_building(planning: _Planning, building: SheetBuilding) -> None:
    current = planning.view.buildings.get(building.building_id)
    if current is None:
        if building.building_id in planning.view.taken_buildings:
            planning.refuse(building.row, "id_taken", f"楼栋编号 {building.building_id} 已被其他小区使用，请换一个编号")
            return
        name = building.name or building.building_id
        planning.new_buildings.append(Building(building.building_id, planning.view.community.community_id, name))
        planning.create(building.row, f"新建楼栋 {building.building_id}「{name}」")
    elif building.name is not None and building.name != current.name:
        planning.renamed_buildings.append(replace(current, name=building.name))
        planning.change(building.row, f"楼栋 {building.building_id} 改名：「{current.name}」→「{building.name}」")


def _plan_unit(planning: _Planning, unit: SheetUnit, places: Mapping[tuple[str, str, str], str]) -> None:
    current = planning.view.units.get(unit.unit_id)
    label = f"{planning.building_name(unit.building_id)} {unit.entrance}{unit.room}"
    holder = places.get((unit.building_id, unit.entrance, unit.room))
    if holder is not None and holder != unit.unit_id:
        planning.refuse(unit.row, "room_taken", f"{label} 已登记为房屋 {holder}：同一房间不能有两个房屋编号")
        return
    wanted = Unit(unit.unit_id, unit.building_id, unit.entrance, unit.room, unit.area)
    if current is None:
        if unit.unit_id in planning.view.taken_units:
            planning.refuse(unit.row, "id_taken", f"房屋编号 {unit.unit_id} 已被其他小区使用，请换一个编号")
            return
        planning.new_units.append(wanted)
        planning.create(unit.row, f"新建房屋 {unit.unit_id}：{label}，专有面积 {unit.area}㎡")
        return
    differences = []
    if (current.building_id, current.entrance, current.room) != (unit.building_id, unit.entrance, unit.room):
        differences.append(f"位置 {planning.building_name(current.building_id)} {current.entrance}{current.room}"
                           f" → {label}")
    if current.area_m2 != unit.area:
        differences.append(f"专有面积 {current.area_m2}㎡ → {unit.area}㎡")
    if differences:
        planning.changed_units.append(wanted)
        planning.change(unit.row, f"房屋 {unit.unit_id}：{'；'.join(differences)}")


def _owners_text(ownership: UnitOwnership) -> str:
    names = "、".join(f"{owner.name}（{owner.owner_id}）" for owner in ownership.owners)
    if ownership.held_by_developer:
        return f"开发商持有：{names}"
    representative = next((owner.name for owner in ownership.owners
                           if owner.owner_id == ownership.representative_id), None)
    return names + (f"，代表 {representative}" if representative else "")


def same_ownership(one: UnitOwnership, other: UnitOwnership) -> bool:
    """Whether two records say the same: the same owners (in any order, with the same names), the same
    representative of a co-owned unit (a sole owner's does not matter), the developer holding it or not."""
    def representative(ownership: UnitOwnership) -> str | None:
        return ownership.representative_id if ownership.is_co_owned else None

    return (set(one.owners) == set(other.owners) and representative(one) == representative(other)
            and one.held_by_developer == other.held_by_developer)


def _plan_ownership(planning: _Planning, current: Mapping[str, UnitOwnership]) -> list[UnitOwnership]:
    recorded: list[tuple[UnitOwnership, int]] = []
    for unit_id, listed in planning.sheet.ownership.items():
        before = current.get(unit_id)
        if before is None:
            planning.create(listed.row, f"登记产权：{_owners_text(listed.ownership)}")
        elif not same_ownership(before, listed.ownership):
            planning.change(listed.row, f"产权变更：{_owners_text(before)} → {_owners_text(listed.ownership)}")
        else:
            continue
        recorded.append((listed.ownership, listed.row))
    conflict = developer_conflict(current.values(), [ownership for ownership, _ in recorded]) if recorded else None
    if conflict is not None:
        row = next((row for ownership, row in recorded if ownership.held_by_developer), recorded[0][1])
        planning.refuse(row, "two_developers", f"开发商持有的房屋必须是同一个开发商（{conflict}）")
    return [ownership for ownership, _ in recorded]


def _card_label(number: str) -> str:
    return f"…{number[-4:]}" if len(number) > 4 else "****"


def _plan_resident(planning: _Planning, listed: SheetResident) -> None:
    person, view = listed.person, planning.view
    assert person.role is not None  # the sheet lists residents by their role
    current = view.residents.get(person.person_id)
    unknown_groups = sorted((person.groups or frozenset()) - view.group_ids)
    if unknown_groups:
        planning.refuse(listed.row, "unknown_group", f"本小区没有门禁组 {'、'.join(unknown_groups)}：请先建立门禁组")
    if current is None:
        if person.person_id in view.taken_residents:
            planning.refuse(listed.row, "id_taken", f"人员编号 {person.person_id} 已是其他小区的住户，请换一个编号")
            return
        record = ResidentRecord(person.person_id, listed.unit_id, person.role, person.name, person.phone,
                                person.groups or frozenset())
        planning.new_residents.append(record)
        phone = f"，手机 {mask_phone(person.phone)}" if person.phone else ""
        planning.create(listed.row, f"新住户 {person.name}（{ROLE_WORDS[person.role]}）{phone}")
        _plan_cards(planning, listed, existing=False)
        return
    if current.unit_id != listed.unit_id:
        planning.refuse(listed.row, "lives_elsewhere", f"{person.person_id} 已是房屋 {current.unit_id} 的住户："
                                                       "换房请先在住户管理中办理迁出")
        return
    if current.status is not ResidentStatus.ACTIVE:
        planning.refuse(listed.row, "resident_inactive", f"住户 {person.person_id} {STATUS_WORDS[current.status]}，"
                                                         "导入不会恢复")
        return
    wanted = replace(current, name=person.name, role=person.role, phone=person.phone or current.phone,
                     group_ids=current.group_ids if person.groups is None else person.groups)
    differences = _resident_differences(current, wanted)
    if differences:
        planning.changed_residents.append(wanted)
        planning.change(listed.row, f"住户 {person.person_id}：{'；'.join(differences)}")
    _plan_cards(planning, listed, existing=True)


def _resident_differences(current: ResidentRecord, wanted: ResidentRecord) -> list[str]:
    differences = []
    if current.name != wanted.name:
        differences.append(f"姓名「{current.name}」→「{wanted.name}」")
    if current.role is not wanted.role:
        differences.append(f"身份 {ROLE_WORDS[current.role]} → {ROLE_WORDS[wanted.role]}")
    if current.phone != wanted.phone and wanted.phone is not None:
        before = mask_phone(current.phone) if current.phone else "无"
        differences.append(f"手机 {before} → {mask_phone(wanted.phone)}")
    if current.group_ids != wanted.group_ids:
        differences.append(f"门禁组 {'、'.join(sorted(current.group_ids)) or '无'} → "
                           f"{'、'.join(sorted(wanted.group_ids)) or '无'}")
    return differences


def _plan_cards(planning: _Planning, listed: SheetResident, *, existing: bool) -> None:
    for number in listed.person.cards:
        holder = planning.view.card_holders.get(planning.card_hash(number))
        if holder == listed.person.person_id:
            continue
        if holder is not None:
            planning.refuse(listed.row, "card_taken", f"门禁卡 {_card_label(number)} 已登记给住户 {holder}："
                                                      "请先在住户管理中注销那张卡")
            continue
        planning.new_cards.append(NewCard(listed.person.person_id, number))
        note = f"新门禁卡 {_card_label(number)}"
        if existing:
            planning.change(listed.row, note)
        else:
            planning.create(listed.row, note)
