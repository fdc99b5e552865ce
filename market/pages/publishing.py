"""The operator's page for publishing a stall's prices: edit (prices typed in yuan) → preview (the
price table each scale will hold) → confirm, then the prices are published and pushed to the stall's
scales. Each row is checked on its own; only the prices that change are published."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from market.pages.context import display_of, market_page, now_of, operator_page, scales_of, service_of, site_of
from market.pages.form_fields import InputProblem, fen_from_yuan, local_input, moment_from_local, text_field
from market.pricing import PublishedPrice, price_in_force, prices_in_force, scale_price_table
from market.service import MarketService, PriceItem, Refused, StallDisplay
from market.stalls import CODE
from market.web.presenting import yuan
from market.web.scope import OPERATORS
from webkit.auth import PRINCIPAL
from webkit.pages import form_of

PRICE_HISTORY_SCAN: Final = 1_000
"""A stall's latest publications read for the prices it has scheduled (taking effect later)."""
PRICE_ROWS_MAX: Final = 100
BLANK_PRICE_ROWS: Final = 3


@dataclass(frozen=True)
class PriceRow:
    """One line of the price form as typed, with what is wrong with it."""

    plu: str
    product: str
    price: str
    problem: str | None = None

    @property
    def blank(self) -> bool:
        return not (self.plu.strip() or self.product.strip() or self.price.strip())


@dataclass(frozen=True)
class PriceChange:
    price: PublishedPrice
    before: PublishedPrice | None


@dataclass(frozen=True)
class PriceDraft:
    rows: list[PriceRow]
    effective_text: str
    effective_from: datetime | None
    changes: list[PriceChange]
    unchanged: list[PublishedPrice]
    problems: list[str]


async def _stall_prices(service: MarketService, display: StallDisplay, now: datetime) -> list[PublishedPrice]:
    """What the stall's scales hold: each product's price in force now (as the stall display reads it)
    and the prices published to take effect later."""
    later = [p for p in await service.price_history(display.market.site, display.stall.stall, None,
                                                    PRICE_HISTORY_SCAN, 0) if p.effective_from > now]
    return [p for p in display.prices if p.effective_from <= now] + later


@market_page(*OPERATORS)
async def price_form_page(request: web.Request) -> web.Response:
    display = await display_of(request, request.match_info["stall"])
    now = now_of(request)
    current = prices_in_force(await _stall_prices(service_of(request), display, now), now)
    rows = [PriceRow(p.plu, p.product, yuan(p.unit_price_fen)) for p in current]
    rows += [PriceRow("", "", "")] * BLANK_PRICE_ROWS
    return await _price_form(request, display, PriceDraft(rows, "", None, [], [], []))


async def _price_form(request: web.Request, display: StallDisplay, draft: PriceDraft,
                      status: int = 200) -> web.Response:
    rows = [row for row in draft.rows if not row.blank]
    rows += [PriceRow("", "", "")] * BLANK_PRICE_ROWS  # room for new products
    shown = PriceDraft(rows, draft.effective_text, draft.effective_from, draft.changes, draft.unchanged,
                       draft.problems)
    return await operator_page(request, "pages/publish.html", {
        "market": display.market, "d": display, "draft": shown, "stage": "edit", "tab": "stalls",
        "now_input": local_input(now_of(request)),
    }, status=status)


@market_page(*OPERATORS)
async def publish_prices(request: web.Request) -> web.StreamResponse:
    """Edit → preview (what the scales will get) → confirm: publish and push to the stall's scales."""
    service = service_of(request)
    site = site_of(request)
    display = await display_of(request, request.match_info["stall"])
    form = await form_of(request)
    now = now_of(request)
    existing = await _stall_prices(service, display, now)
    draft = _price_draft(form, display.stall.stall, existing, request[PRINCIPAL].subject, now,
                         service.settings.price_backdating)
    action = form.get("action", "preview")
    if action == "edit" or draft.problems:
        return await _price_form(request, display, draft, status=422 if draft.problems and action != "edit" else 200)
    if action != "confirm":
        new = [change.price for change in draft.changes]
        table = scale_price_table([*existing, *new], display.stall.stall, now)
        return await operator_page(request, "pages/publish.html", {
            "market": display.market, "d": display, "draft": draft, "stage": "preview", "tab": "stalls",
            "table": [(entry, entry in new) for entry in table],
            "scales": await scales_of(service, site, display.stall.stall), "now_input": local_input(now),
        })
    items = [PriceItem(c.price.plu, c.price.product, c.price.unit_price_fen) for c in draft.changes]
    try:
        await service.publish_prices(site, display.stall.stall, items, draft.effective_from,
                                     request[PRINCIPAL].subject, now)
    except Refused as refused:
        failed = PriceDraft(draft.rows, draft.effective_text, draft.effective_from, draft.changes, draft.unchanged,
                            [f"价格未能发布：{refused}"])
        return await _price_form(request, display, failed, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/stalls/{quote(display.stall.stall)}?published=1#scales")


def _price_draft(form: MultiDictProxy[str], stall: str, existing: Sequence[PublishedPrice], by: str,
                 now: datetime, backdating: timedelta) -> PriceDraft:
    """The form's rows checked one by one; the changed ones become the prices to publish."""
    problems: list[str] = []
    effective_text = form.get("effective_from", "").strip()
    effective_from: datetime | None = None
    try:
        effective_from = moment_from_local(effective_text)
        if effective_from is not None and effective_from < now - backdating:
            raise InputProblem("生效时间不能早于现在：已成交的销售是按原价成交的")
    except InputProblem as problem:
        problems.append(f"生效时间：{problem}")
    effective = effective_from or now
    indexes = sorted({int(name[4:]) for name in form if name.startswith("plu.") and name[4:].isdigit()
                      and len(name) <= 8})[:PRICE_ROWS_MAX]
    rows: list[PriceRow] = []
    changes: list[PriceChange] = []
    unchanged: list[PublishedPrice] = []
    seen: set[str] = set()
    for index in indexes:
        row = PriceRow(form.get(f"plu.{index}", "")[:64], form.get(f"product.{index}", "")[:200],
                       form.get(f"price.{index}", "")[:40])
        if row.blank:
            rows.append(row)
            continue
        try:
            plu = row.plu.strip()
            if not CODE.fullmatch(plu):
                raise InputProblem("商品编码（PLU）为 1–32 位字母、数字或 _ . : -")
            if plu in seen:
                raise InputProblem(f"商品编码 {plu} 重复")
            seen.add(plu)
            product = text_field(row.product, "品名", 128)
            fen = fen_from_yuan(row.price)
        except InputProblem as problem:
            rows.append(PriceRow(row.plu, row.product, row.price, str(problem)))
            problems.append(f"第 {len(rows)} 行：{problem}")
            continue
        rows.append(row)
        price = PublishedPrice(stall, plu, product, fen, effective, now, by)
        before = price_in_force(existing, stall, plu, effective)
        if before is not None and (before.unit_price_fen, before.product) == (fen, product):
            unchanged.append(before)
        else:
            changes.append(PriceChange(price, before))
    if not problems and not changes:
        problems.append("价格没有变化：请修改价格或添加商品后再发布。")
    return PriceDraft(rows, effective_text, effective_from, changes, unchanged, problems)
