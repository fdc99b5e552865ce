"""What the market's events say to the people who hear of them (issue 14): a licence nearing its end or expired,
a failed rapid test, a recall, a release, a price or amount finding — each a notification event with its words in
Chinese and the key that coalesces repeats. Pure: the service records them in the outbox, in the transaction of the
change (or, for a licence's threshold, once per document and threshold)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Final

from market.findings import Finding, FindingKind
from market.licences import DocumentStatus, Validity
from market.rapid_tests import TestOutcome
from market.stalls import Market
from market.tracing import Batch, RapidTest
from notifications.events import NotificationEvent, NotificationKind, Severity

PRICE_FINDINGS: Final = frozenset({FindingKind.PRICE_DIFFERS, FindingKind.NO_PUBLISHED_PRICE,
                                   FindingKind.AMOUNT_MISMATCH})
"""The findings the operator hears of at once: a price or an amount a buyer was charged wrongly."""
EXPIRED: Final = "expired"


def licence_stage(status: DocumentStatus) -> str | None:
    """The notice a document's status calls for: its warning threshold reached (``"30"``, ``"7"``, ``"0"``: the
    tightest, so a document recorded 5 days before its end is told once, as 7 days), ``"expired"``, or None (valid,
    missing, not yet valid: the licence page shows those)."""
    if status.validity is Validity.EXPIRED:
        return EXPIRED
    if status.validity is Validity.EXPIRING and status.warning_days is not None:
        return str(status.warning_days)
    return None


def licence_once_key(site: str, stall: str, status: DocumentStatus, stage: str) -> str:
    """Per document and stage: a document is named by its kind, number and end (a renewed one is another)."""
    document = status.document
    assert document is not None  # a stage is only given for a document that exists
    return f"licence:{site}:{stall}:{document.kind.value}:{document.number}:{document.valid_to}:{stage}"[:255]


def licence_event(market: Market, stall: str, status: DocumentStatus, stage: str, now: datetime,
                  vendor_name: str | None = None) -> NotificationEvent:
    document = status.document
    assert document is not None
    name = document.kind.label_zh
    holder = f"（{document.holder}）" if document.holder else ""
    who = f"{stall} 摊位{f'（{vendor_name}）' if vendor_name else ''}"
    end = _day(document.valid_to)
    if stage == EXPIRED:
        kind, severity = NotificationKind.LICENCE_EXPIRED, Severity.WARNING
        title, text = f"{market.name}·{stall}：{name}已过期", f"{who}的{name}{holder}已于 {end} 到期，请督促更新。"
    else:
        kind, severity = NotificationKind.LICENCE_EXPIRING, Severity.INFO
        when = "今天是最后有效日" if stage == "0" else f"还有 {status.days_to_expiry} 天到期"
        title = f"{market.name}·{stall}：{name}{'今天到期' if stage == '0' else '即将到期'}"
        text = f"{who}的{name}{holder}有效期至 {end}，{when}，请督促续办。"
    return NotificationEvent(
        kind=kind, title=title[:200], text=text[:2000], occurred_at=now, market_id=market.site,
        dedupe_key=None, severity=severity,
        data={"stall": stall, "document_kind": document.kind.value, "number": document.number,
              "valid_to": document.valid_to.isoformat() if document.valid_to else None, "stage": stage,
              "days_to_expiry": status.days_to_expiry})


def test_failed_event(market: Market, batch: Batch, test: RapidTest, now: datetime) -> NotificationEvent:
    """A positive test, or a suspected positive that waits for the laboratory (the batch is stopped either way)."""
    value = f"（{test.value}）" if test.value else ""
    suspected = test.outcome is TestOutcome.SUSPECTED_POSITIVE
    found = "快检疑似阳性" if suspected else "快检不合格"
    then = "实验室复检前，" if suspected else ""
    return NotificationEvent(
        kind=NotificationKind.TEST_FAILED, title=f"{market.name}·{batch.stall}：{batch.product}{found}"[:200],
        text=(f"批次 {batch.batch_id}（{batch.product}，{batch.supplier}）{test.item}{found}{value}，"
              f"{then}该批次已自动封控，各电子秤停止销售。请查看批次的销售去向并处理。")[:2000],
        occurred_at=now, market_id=market.site, severity=Severity.CRITICAL,
        data={**_batch_data(batch), "item": test.item, "method": test.method, "value": test.value,
              "tested_at": test.tested_at.isoformat()})


def recalled_event(market: Market, batch: Batch, reason: str, by: str, now: datetime) -> NotificationEvent:
    return NotificationEvent(
        kind=NotificationKind.BATCH_RECALLED, title=f"{market.name}·{batch.stall}：{batch.product}批次召回"[:200],
        text=(f"批次 {batch.batch_id}（{batch.product}，{batch.supplier}）已封控召回，"
              f"原因：{reason}（操作：{by}）。")[:2000],
        occurred_at=now, market_id=market.site, severity=Severity.WARNING,
        data={**_batch_data(batch), "reason": reason, "by": by})


def released_event(market: Market, batch: Batch, reason: str, by: str, now: datetime) -> NotificationEvent:
    return NotificationEvent(
        kind=NotificationKind.BATCH_RELEASED, title=f"{market.name}·{batch.stall}：{batch.product}批次解除封控"[:200],
        text=f"批次 {batch.batch_id}（{batch.product}）已解除封控，可以恢复销售，原因：{reason}（操作：{by}）。"[:2000],
        occurred_at=now, market_id=market.site, severity=Severity.INFO,
        data={**_batch_data(batch), "reason": reason, "by": by})


def finding_event(market: Market, finding: Finding) -> NotificationEvent:
    """A price or amount finding; coalesced per stall and kind (a misconfigured scale makes one per sale)."""
    stall = finding.stall or "未知摊位"
    return NotificationEvent(
        kind=NotificationKind.PRICE_FINDING, title=f"{market.name}·{stall}：{finding.kind.label_zh}"[:200],
        text=f"{stall} 摊位的销售记录：{finding.kind.label_zh}{_detail(finding.detail)}。请到“发现”页查看。"[:2000],
        occurred_at=finding.at, market_id=market.site,
        dedupe_key=f"market:{market.site}:{finding.kind.value}:{stall}"[:200], severity=Severity.WARNING,
        data={"finding": finding.kind.value, "key": finding.key, "stall": finding.stall,
              "detail": dict(finding.detail)})


def _detail(detail: Mapping[str, object]) -> str:
    shown = "，".join(f"{name}={value}" for name, value in list(detail.items())[:6])
    return f"（{shown}）" if shown else ""


def _batch_data(batch: Batch) -> dict[str, object]:
    return {"batch_id": batch.batch_id, "stall": batch.stall, "plu": batch.plu, "product": batch.product,
            "supplier": batch.supplier}


def _day(day: date | None) -> str:
    return "长期" if day is None else f"{day.year}年{day.month}月{day.day}日"
