"""What importing a compound sheet does to the registers as they are (community.onboarding.plan): created, changed,
unchanged or refused, row by row — and importing what the registers already hold changes nothing (idempotent)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from community.access.compound import DirectoryChanges, DirectoryView
from community.access.directory import Building, Community, ResidentRecord, ResidentRole, ResidentStatus, Unit
from community.onboarding.columns import COLUMNS
from community.onboarding.plan import ImportPlan, Outcome, plan_import
from community.onboarding.sheet import Cell, read_sheet
from community.onboarding.spreadsheet import EXAMPLE_ROWS
from community.ownership.register import Owner, UnitOwnership

HEADER = [column.header for column in COLUMNS]
COMMUNITY = Community("lotus", "lotus", "荷花小区")


def card_hash(number: str) -> str:
    return f"hash:{number}"


def empty_view(**changes: object) -> DirectoryView:
    view = DirectoryView(COMMUNITY, {}, {}, {}, {}, frozenset({"residents", "garage"}))
    return replace(view, **changes)  # type: ignore[arg-type]


def applied(view: DirectoryView, ownership: Mapping[str, UnitOwnership], plan: ImportPlan
            ) -> tuple[DirectoryView, dict[str, UnitOwnership]]:
    """The registers after the plan was written (what the access service and the ownership register do)."""
    changes: DirectoryChanges = plan.directory
    buildings = {**view.buildings, **{b.building_id: b for b in (*changes.new_buildings, *changes.renamed_buildings)}}
    units = {**view.units, **{u.unit_id: u for u in (*changes.new_units, *changes.changed_units)}}
    residents = {**view.residents,
                 **{r.resident_id: r for r in (*changes.new_residents, *changes.changed_residents)}}
    holders = {**view.card_holders, **{card_hash(card.number): card.resident_id for card in changes.new_cards}}
    return (replace(view, buildings=buildings, units=units, residents=residents, card_holders=holders),
            {**ownership, **{record.unit_id: record for record in plan.ownership}})


def plan_of(rows: Sequence[Sequence[Cell]], view: DirectoryView | None = None,
            ownership: Mapping[str, UnitOwnership] | None = None) -> ImportPlan:
    return plan_import(read_sheet([HEADER, *rows]), view or empty_view(), ownership or {}, card_hash)


def outcomes(plan: ImportPlan) -> dict[int, Outcome]:
    return {row.row: row.outcome for row in plan.rows}


def codes(plan: ImportPlan) -> list[tuple[int | None, str]]:
    return [(problem.row, problem.code) for problem in plan.problems]


def test_into_an_empty_community_everything_is_created() -> None:
    plan = plan_of(EXAMPLE_ROWS)
    assert not plan.refused
    assert set(outcomes(plan).values()) == {Outcome.CREATED}
    totals = plan.totals
    assert (totals.buildings_created, totals.units_created, totals.residents_created, totals.cards_created,
            totals.ownership_recorded) == (1, 3, 3, 2, 3)
    assert plan.directory.new_buildings == (Building("B01", "lotus", "1栋"),)
    first = next(row for row in plan.rows if row.row == 2)
    assert any("新建房屋 B01-1-101" in note for note in first.notes)
    assert any("138****8000" in note for note in first.notes), "phones are masked in the report"
    assert not any("13800138000" in note or "0012345678" in note for row in plan.rows for note in row.notes)


def test_the_same_file_again_changes_nothing() -> None:
    first = plan_of(EXAMPLE_ROWS)
    view, ownership = applied(empty_view(), {}, first)
    again = plan_of(EXAMPLE_ROWS, view, ownership)
    assert not again.refused and not again.changes_anything
    assert set(outcomes(again).values()) == {Outcome.UNCHANGED}


def test_a_changed_row_is_a_change_and_shown_as_such() -> None:
    view, ownership = applied(empty_view(), {}, plan_of(EXAMPLE_ROWS))
    rows = [list(line) for line in EXAMPLE_ROWS]
    rows[0][5] = rows[1][5] = "90.00"  # 101's area
    rows[1][10] = "13900139001"  # 李四's phone
    rows[2][8] = "代表"  # 王五 alone: no change to the register
    rows[3][11] = "0087654321;0011112222"  # 赵六's second card
    plan = plan_of(rows, view, ownership)
    assert not plan.refused
    assert outcomes(plan) == {2: Outcome.CHANGED, 3: Outcome.CHANGED, 4: Outcome.UNCHANGED, 5: Outcome.CHANGED,
                              6: Outcome.UNCHANGED}
    assert plan.directory.changed_units == (Unit("B01-1-101", "B01", "1单元", "101", Decimal("90.00")),)
    assert [r.phone for r in plan.directory.changed_residents] == ["13900139001"]
    assert [card.number for card in plan.directory.new_cards] == ["0011112222"]
    notes = {row.row: row.notes for row in plan.rows}
    assert any("89.50㎡ → 90.00㎡" in note for note in notes[2])
    assert any("139****9001" in note for note in notes[3])


def test_a_blank_cell_keeps_what_is_registered() -> None:
    view, ownership = applied(empty_view(), {}, plan_of(EXAMPLE_ROWS))
    rows = [list(line) for line in EXAMPLE_ROWS]
    rows[0][1] = rows[1][1] = rows[2][1] = rows[3][1] = rows[4][1] = ""  # building names
    rows[0][10] = ""  # 张三's phone
    rows[0][11] = ""  # 张三's card
    plan = plan_of(rows, view, ownership)
    assert not plan.changes_anything
    assert view.residents["P0001"].phone == "13800138000"


def test_ownership_changes_are_recorded_and_a_changed_register_shown() -> None:
    view, ownership = applied(empty_view(), {}, plan_of(EXAMPLE_ROWS))
    rows = [list(line) for line in EXAMPLE_ROWS]
    rows[1][8] = "代表"
    rows[0][8] = "是"  # 李四 now represents 101
    plan = plan_of(rows, view, ownership)
    assert plan.ownership == (UnitOwnership("B01-1-101", (Owner("P0001", "张三"), Owner("P0002", "李四")),
                                            representative_id="P0002"),)
    assert outcomes(plan)[2] is Outcome.CHANGED
    assert any("产权变更" in note for note in plan.rows[0].notes)


def test_an_owner_recorded_in_another_order_or_with_a_sole_representative_is_unchanged() -> None:
    ownership = {"B01-1-102": UnitOwnership("B01-1-102", (Owner("P0003", "王五"),), representative_id="P0003")}
    plan = plan_of([EXAMPLE_ROWS[2]], ownership=ownership)
    assert plan.ownership == ()


def test_ids_another_community_holds_are_refused() -> None:
    view = empty_view(taken_buildings=frozenset({"B01"}), taken_units=frozenset({"B01-1-102"}),
                      taken_residents=frozenset({"P0004"}))
    plan = plan_of(EXAMPLE_ROWS, view)
    assert codes(plan) == [(2, "id_taken"), (4, "id_taken"), (5, "id_taken")]
    assert plan.refused


def test_a_room_registered_under_another_unit_id_is_refused() -> None:
    view = empty_view(buildings={"B01": Building("B01", "lotus", "1栋")},
                      units={"old-101": Unit("old-101", "B01", "1单元", "101", Decimal("89.50"))})
    assert codes(plan_of([EXAMPLE_ROWS[0]], view)) == [(2, "room_taken")]


def test_a_card_enrolled_to_someone_else_is_refused() -> None:
    plan = plan_of(EXAMPLE_ROWS, empty_view(card_holders={card_hash("0012345678"): "R-other"}))
    assert codes(plan) == [(2, "card_taken")]
    assert "…5678" in plan.problems[0].message and "0012345678" not in plan.problems[0].message


def test_a_resident_of_another_unit_or_moved_out_is_refused() -> None:
    elsewhere = ResidentRecord("P0001", "B01-9-999", ResidentRole.OWNER, "张三", None, frozenset())
    assert codes(plan_of([EXAMPLE_ROWS[0]], empty_view(residents={"P0001": elsewhere}))) == [(2, "lives_elsewhere")]
    moved = replace(elsewhere, unit_id="B01-1-101", status=ResidentStatus.MOVED_OUT)
    plan = plan_of([EXAMPLE_ROWS[0]], empty_view(residents={"P0001": moved}))
    assert codes(plan) == [(2, "resident_inactive")]
    assert "已迁出" in plan.problems[0].message


def test_groups_must_exist_and_replace_a_residents_groups_when_given() -> None:
    rows = [list(EXAMPLE_ROWS[0])]
    rows[0][12] = "residents;pool"
    assert codes(plan_of(rows)) == [(2, "unknown_group")]
    rows[0][12] = "garage"
    view, ownership = applied(empty_view(), {}, plan_of([EXAMPLE_ROWS[0]]))
    plan = plan_of(rows, view, ownership)
    assert [r.group_ids for r in plan.directory.changed_residents] == [frozenset({"garage"})]


def test_a_second_developer_is_refused() -> None:
    ownership = {"X-1": UnitOwnership("X-1", (Owner("DEV-OTHER", "另一家置业"),), held_by_developer=True)}
    plan = plan_of(EXAMPLE_ROWS, ownership=ownership)
    assert codes(plan) == [(6, "two_developers")]


def test_refused_rows_of_the_sheet_are_in_the_plan_and_the_others_still_shown() -> None:
    rows = [*EXAMPLE_ROWS, ("B01", "1栋", "1单元", "301", "B01-1-301", "八十", "P9", "某", "是", "", "", "", "")]
    plan = plan_of(rows)
    assert plan.refused and codes(plan) == [(7, "bad_area")]
    assert outcomes(plan)[7] is Outcome.REFUSED and outcomes(plan)[2] is Outcome.CREATED


# --- the property: whatever the file, importing it twice changes nothing the second time -------------------------

household = st.lists(st.tuples(st.sampled_from(["是", "代表", ""]), st.sampled_from(["业主", "家属", "租户", ""]),
                                st.booleans(), st.booleans()), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(household, min_size=1, max_size=8), st.integers(0, 3))
def test_any_accepted_file_imported_twice_changes_nothing_the_second_time(
        households: list[list[tuple[str, str, bool, bool]]], owners_elsewhere: int) -> None:
    rows = []
    for unit, members in enumerate(households, start=1):
        for index, (owner, role, phone, card) in enumerate(members):
            person = f"{unit}{index}"
            owner = owner or ("是" if index == 0 else "")  # every unit's first person owns it
            if index == 0 and unit <= owners_elsewhere:
                person, role, phone, card = "landlord", "", False, False  # owns several units, lives in none
            rows.append(("B1", "1栋", "", f"{unit:03}", f"U{unit}", f"{80 + unit}.5", f"P{person}", f"人{person}",
                         owner, role, f"1380000{person:0>4}" if phone else "", f"C{person:0>6}" if card else "", ""))
    first = plan_of(rows)
    if first.refused:  # the file is refused: nothing is written, so there is no second time
        assert {problem.code for problem in first.problems} <= {"resident_only", "two_representatives",
                                                                 "not_owner_nor_resident"}
        return
    view, ownership = applied(empty_view(), {}, first)
    again = plan_of(rows, view, ownership)
    assert not again.refused, again.problems
    assert not again.changes_anything
    assert all(row.outcome is Outcome.UNCHANGED for row in again.rows)
