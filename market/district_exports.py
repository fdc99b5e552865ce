"""The district view's exports as tables (a header row and rows of text), one per list: the markets' summary, and
the detail lists — tests, complaints, findings, licences, recalls — of every market given, each row naming its
market. :func:`csv_bytes` writes one as the CSV a spreadsheet opens: UTF-8 with the byte-order mark Excel needs to
show Chinese, CRLF line ends, and any cell a spreadsheet would take for a formula (=, +, -, @) quoted as text.
Plain values in, bytes out: no clock, no I/O."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from market.district import MarketFacts, MarketRow, StallRow, Window, in_window
from market.licences import Validity
from market.market_time import local_text

Row = tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: Row
    rows: list[Row]


class ExportKind(StrEnum):
    """What may be exported: the summary (of markets across the district, of stalls for one market) and the
    detail lists."""

    SUMMARY = "summary"
    TESTS = "tests"
    COMPLAINTS = "complaints"
    FINDINGS = "findings"
    LICENCES = "licences"
    RECALLS = "recalls"

    @property
    def label_zh(self) -> str:
        return _EXPORT_ZH[self]


_EXPORT_ZH: Final = {ExportKind.SUMMARY: "汇总", ExportKind.TESTS: "快检问题", ExportKind.COMPLAINTS: "投诉",
                     ExportKind.FINDINGS: "问题线索", ExportKind.LICENCES: "证照到期与缺失",
                     ExportKind.RECALLS: "召回"}

COUNT_HEADER: Final = ("证照30天内到期", "证照已过期", "证照缺失", "快检不合格", "疑似阳性待复检", "召回",
                       "价格问题线索", "其他问题线索", "投诉未办结", "投诉已超期", "投诉期内办结")
CREDIT_HEADER: Final = ("信用C级（诚信警示）经营者", "信用D级（失信经营）经营者")


def summary_table(rows: Sequence[MarketRow]) -> Table:
    return Table(("市场编号", "市场名称", "有问题的摊位", *COUNT_HEADER, *CREDIT_HEADER, "数据不全"),
                 [(row.site, row.name, str(row.stalls_with_problems), *_counts(row.counts),
                   str(row.counts.vendors_graded_c), str(row.counts.vendors_graded_d), "是" if row.truncated else "")
                  for row in rows])


def stalls_table(facts: MarketFacts, rows: Sequence[StallRow]) -> Table:
    return Table(("市场编号", "摊位号", "摊位名称", *COUNT_HEADER, "经营者信用等级"),
                 [(facts.site, row.stall, row.name, *_counts(row.counts),
                   f"{row.credit.grade.value} {row.credit.grade.label_zh}" if row.credit else "") for row in rows])


def _counts(counts: object) -> Row:
    return tuple(str(getattr(counts, name)) for name in (
        "licences_expiring", "licences_expired", "licences_missing", "tests_failed", "tests_suspected", "recalls",
        "price_findings", "other_findings", "complaints_open", "complaints_overdue", "complaints_closed"))


def tests_table(markets: Iterable[MarketFacts], window: Window) -> Table:
    return _detail(("检测编号", "批次", "商品", "检测项目", "结果", "检测时间"), markets, window, lambda facts: [
        (str(t.test_id), t.batch_id, t.product, t.item, t.verdict, local_text(t.tested_at), t.stall)
        for t in facts.tests])


def complaints_table(markets: Iterable[MarketFacts], window: Window) -> Table:
    return _detail(("投诉编号", "类别", "状态", "受理时间", "办理期限", "办结时间", "超期"), markets, window,
                   lambda facts: [(c.reference, c.category.label_zh, c.state.label_zh, local_text(c.filed_at),
                                   local_text(c.deadline), _time(c.closed_at), "是" if c.overdue(window.now) else "",
                                   c.stall) for c in facts.complaints])


def findings_table(markets: Iterable[MarketFacts], window: Window) -> Table:
    return _detail(("线索编号", "类别", "价格问题", "发生时间", "处理"), markets, window, lambda facts: [
        (str(f.finding_id), f.kind.label_zh, "是" if f.about_prices else "", local_text(f.at),
         "已处理 " + local_text(f.resolved_at) if f.resolved_at else "未处理", f.stall or "") for f in facts.findings])


def licences_table(markets: Iterable[MarketFacts], window: Window) -> Table:
    return _detail(("证照", "持证人", "经营者", "状态", "有效期至", "剩余天数", "证照号码"), markets, window,
                   lambda facts: [(f.requirement, f.person or "", f.vendor or "", f.validity.label_zh,
                                   "" if f.validity is Validity.MISSING else _day(f.valid_to),
                                   "" if f.days_to_expiry is None else str(f.days_to_expiry),
                                   f.number or "", f.stall) for f in facts.licences])


def recalls_table(markets: Iterable[MarketFacts], window: Window) -> Table:
    return _detail(("批次", "商品", "召回时间", "原因", "解除时间"), markets, window, lambda facts: [
        (r.batch_id, r.product, local_text(r.at), r.reason, _time(r.released_at), r.stall) for r in facts.recalls])


DETAIL_TABLES: Final[dict[ExportKind, Callable[[Iterable[MarketFacts], Window], Table]]] = {
    ExportKind.TESTS: tests_table, ExportKind.COMPLAINTS: complaints_table, ExportKind.FINDINGS: findings_table,
    ExportKind.LICENCES: licences_table, ExportKind.RECALLS: recalls_table}


def _detail(header: Row, markets: Iterable[MarketFacts], window: Window,
            lines: Callable[[MarketFacts], list[Row]]) -> Table:
    """Rows of each market's facts in ``window``: market, stall (each line's last cell), then the line."""
    rows: list[Row] = []
    for facts in markets:
        for line in lines(in_window(facts, window)):
            *cells, stall = line
            rows.append((facts.site, facts.name, stall, facts.stalls.get(stall, ""), *cells))
    return Table(("市场编号", "市场名称", "摊位号", "摊位名称", *header), rows)


def _time(at: datetime | None) -> str:
    return local_text(at) if at is not None else ""


def _day(day: date | None) -> str:
    return day.isoformat() if day is not None else "长期"


_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A cell a spreadsheet shows as the text it is: one that would start a formula gets a leading apostrophe
    (a number like -3 stays a number)."""
    if cell.startswith(_FORMULA_STARTS) and not _is_number(cell):
        return "'" + cell
    return cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def csv_bytes(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.header)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in table.rows)
    return out.getvalue().encode("utf-8-sig")
