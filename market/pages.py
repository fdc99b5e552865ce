"""The market's pages: the operator's (stalls and their licences, a stall with its scales, publishing
prices with a confirmation, batches and rapid tests, recall with the forward trace, findings) and the
public ones (the price board with price-trend charts, the trace lookup a receipt's QR code opens).

Handlers translate forms into :class:`MarketService` calls and render. Input is checked here first,
so every refusal comes back as a Chinese message on the page, never as a traceback. Prices typed in
yuan become integer fen by exact decimal arithmetic, never through a float.

URLs (``{site}`` is the market's site id)::

    /market/{site}/prices                 public: today's board, price trends (?days=7|14|30)
    /market/{site}/trace                  public: the trace lookup form (?code= also takes a receipt URL)
    /market/{site}/trace/{trace_code}     public: what a receipt's trace code leads to (the receipt's QR code)
    /market/{site}/manage[/...]           operators: stalls, prices, batches, findings
"""

from __future__ import annotations

import copy
import logging
import re
import secrets
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import quote, unquote, urlencode, urlsplit

import pygal
from aiohttp import web
from multidict import MultiDictProxy

from devices.scale_commands import BLOCK_BATCH, UNBLOCK_BATCH
from gateway.outputs import StoreRejected, StoreUnavailable
from market.corrections import CorrectionKind, RecordedCorrection
from market.findings import FindingKind, RecordedFinding
from market.licences import DocumentStatus, Validity
from market.market_time import MARKET_TZ, day_start, market_day
from market.pricing import (
    MAX_UNIT_PRICE_FEN,
    BoardLine,
    DailyPrice,
    PublishedPrice,
    price_in_force,
    prices_in_force,
    scale_price_table,
)
from market.rate_limit import TokenBuckets
from market.scale_delivery import Delivery, DeliveryStatus
from market.service import (
    Conflict,
    MarketService,
    NotFound,
    PriceHistory,
    PriceItem,
    PublicTrace,
    Refused,
    ScaleOverview,
    StallDisplay,
    StallOverview,
    TestBeforeArrival,
    Unchanged,
)
from market.stalls import CODE, Market, Stall
from market.tracing import (
    MAX_BATCH_GRAMS,
    REGION_CODE,
    Batch,
    CertificateType,
    RapidTest,
    RapidTestResult,
    Sale,
    accepted_certificates,
    standing_failures,
)
from market.web.presenting import yuan
from market.web.tracing import TRACE_BUCKETS, trace_client
from webkit.auth import CLOCK, PRINCIPAL
from webkit.charts import STYLE, padded_time_range
from webkit.identity import Role
from webkit.pages import SITE, NavLink, PageProblem, add_navigation, add_templates, form_of, page, render

log = logging.getLogger(__name__)
TEMPLATE_DIR: Final = Path(__file__).parent / "templates"
OPERATORS: Final = (Role.MARKET_OPERATOR,)
STALLS_PER_PAGE: Final = 200
BATCHES_PER_PAGE: Final = 50
SALES_PER_PAGE: Final = 50
FINDINGS_PER_PAGE: Final = 50
DIRECTORY_SCAN: Final = 5_000
"""Stalls read at most for one page (the service lists them in pages); scales of one stall at most."""
PRICE_HISTORY_SCAN: Final = 1_000
"""A stall's latest publications read for the prices it has scheduled (taking effect later)."""
PRICE_ROWS_MAX: Final = 100
BLANK_PRICE_ROWS: Final = 3
PUBLISH_REFRESH_S: Final = 5
TREND_DAYS: Final = (7, 14, 30)
BOARD_CHARTS_MAX: Final = 40
"""Products charted on the board (each chart costs its drawing; the figures are one query for all)."""
BOARD_TREND_ENTRIES: Final = 64
"""Boards (market, range, day) whose trends are kept for reuse."""
LICENCE_PROBLEMS_PER_PAGE: Final = 50
CORRECTIONS_SHOWN: Final = 20
BLOCK_SCALES_MAX: Final = 50
ASCII_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
PHONE: Final = re.compile(r"[0-9+ -]{3,32}")
_YUAN: Final = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")
_KILOGRAMS: Final = re.compile(r"([0-9]+)(?:\.([0-9]{1,3}))?")
_TOO_PRECISE: Final = re.compile(r"[0-9]*\.[0-9]+")
_T = TypeVar("_T")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_SCRIPT: Final = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)
TREND_STYLE: Final = copy.copy(STYLE)
"""The shared chart style with larger type: a trend chart is shown about 300 px wide, in a card."""
TREND_STYLE.label_font_size = TREND_STYLE.major_label_font_size = TREND_STYLE.legend_font_size = 21


@dataclass
class _Trends:
    made_at: datetime
    histories: dict[str, PriceHistory]
    charts: dict[str, str | None] = field(default_factory=dict)


class BoardTrends:
    """The public board's price histories and drawn charts per (market, days, market day), reused for
    ``ttl``: the board is the most viewed page and yesterday's sales do not change; today's show up
    within ``ttl``. Bounded: the least recently used board is forgotten first."""

    def __init__(self, ttl: timedelta, max_entries: int = BOARD_TREND_ENTRIES) -> None:
        self.ttl = ttl
        self._entries: OrderedDict[tuple[str, int, date], _Trends] = OrderedDict()
        self._max = max_entries

    def get(self, key: tuple[str, int, date], now: datetime) -> _Trends | None:
        entry = self._entries.get(key)
        if entry is None or not entry.made_at <= now < entry.made_at + self.ttl:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, int, date], entry: _Trends) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class MarketPages:
    service: MarketService
    site: str
    """The market the navigation links to."""
    trends: BoardTrends


MARKET_PAGES = web.AppKey("market_pages_context", MarketPages)


def mount_market_pages(app: web.Application, service: MarketService, site: str) -> None:
    """The market's pages on ``app``: the operator's under /market/{site}/manage, the public price
    board and trace lookup; the navigation links to the market ``site``. Call
    :func:`webkit.pages.mount_pages` first, and :func:`market.web.mount` too (the stall screen the
    pages link to, and the trace lookup's rate limit, which pages and API share per client address)."""
    if SITE not in app:
        raise RuntimeError("mount the shared page machinery first: webkit.pages.mount_pages")
    app[MARKET_PAGES] = MarketPages(service, site, BoardTrends(service.settings.board_trend_ttl))
    if TRACE_BUCKETS not in app:
        app[TRACE_BUCKETS] = TokenBuckets(service.settings.trace_rate)
    add_templates(app, TEMPLATE_DIR)
    filters = app[SITE].templates.filters
    filters.update(yuan=yuan, kg=kilograms, licence_tone=licence_tone, licence_text=licence_text,
                   delivery_tone=delivery_tone, delivery_text=delivery_text)
    add_navigation(app, NavLink("价格公示", f"/market/{site}/prices", (),
                                "今日农贸市场各商品最低、平均、最高价与价格走势"))
    add_navigation(app, NavLink("溯源查询", f"/market/{site}/trace", (),
                                "输入小票上的追溯码，查看产地、供货商与快检结果"))
    add_navigation(app, NavLink("市场管理", f"/market/{site}/manage", OPERATORS,
                                "摊位证照、价格发布、进货与快检、召回、问题线索"))
    market = "/market/{site}"
    manage = market + "/manage"
    app.router.add_get(market + "/prices", price_board_page)
    app.router.add_get(market + "/trace", trace_form_page)
    app.router.add_get(market + "/trace/{trace_code:.+}", trace_result_page)
    app.router.add_get(manage, stalls_page)
    app.router.add_get(manage + "/stalls/{stall}", stall_page)
    app.router.add_get(manage + "/stalls/{stall}/prices", price_form_page)
    app.router.add_post(manage + "/stalls/{stall}/prices", publish_prices)
    app.router.add_get(manage + "/batches", batches_page)
    app.router.add_post(manage + "/batches", register_batch)
    app.router.add_get(manage + "/batches/{batch_id}", batch_page)
    app.router.add_post(manage + "/batches/{batch_id}/tests", record_test)
    app.router.add_post(manage + "/batches/{batch_id}/recall", recall_batch)
    app.router.add_post(manage + "/batches/{batch_id}/release", release_batch)
    app.router.add_post(manage + "/batches/{batch_id}/quantity", correct_quantity)
    app.router.add_post(manage + "/stalls/{stall}/documents/{document_id}/void", void_document)
    app.router.add_get(manage + "/batches/{batch_id}/epcis", batch_epcis)
    app.router.add_get(manage + "/findings", findings_page)
    app.router.add_post(manage + "/findings/{finding_id}/resolve", resolve_finding)


# --- what people type --------------------------------------------------------------------------

class InputProblem(ValueError):
    """What is wrong with one field, in words for the person who typed it."""


def fen_from_yuan(typed: str) -> int:
    """A price typed in yuan (``6.8``, ``6.80``, ``12``; full-width digits too) as integer fen,
    exactly: at most two decimals, more than 0, at most the contract's bound."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        raise InputProblem("请填写价格")
    if text.startswith("-"):
        raise InputProblem("价格必须大于 0")
    match = _YUAN.fullmatch(text) if len(text) <= 20 else None
    if match is None:
        if _TOO_PRECISE.fullmatch(text):
            raise InputProblem("价格最多两位小数（精确到分）")
        raise InputProblem("请输入数字，例如 6.80")
    fen = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    if fen <= 0:
        raise InputProblem("价格必须大于 0")
    if fen > MAX_UNIT_PRICE_FEN:
        raise InputProblem(f"价格不能超过 {yuan(MAX_UNIT_PRICE_FEN)} 元/公斤")
    return fen


def grams_from_kilograms(typed: str) -> int:
    """A quantity typed in kilograms (at most three decimals: grams) as integer grams, exactly."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        raise InputProblem("请填写数量")
    if text.startswith("-"):
        raise InputProblem("数量必须大于 0")
    match = _KILOGRAMS.fullmatch(text) if len(text) <= 20 else None
    if match is None:
        if _TOO_PRECISE.fullmatch(text):
            raise InputProblem("数量最多三位小数（精确到克）")
        raise InputProblem("请输入数字，例如 50 或 12.5")
    grams = int(match[1]) * 1000 + int((match[2] or "0").ljust(3, "0"))
    if grams <= 0:
        raise InputProblem("数量必须大于 0")
    if grams > MAX_BATCH_GRAMS:
        raise InputProblem(f"数量不能超过 {MAX_BATCH_GRAMS // 1000:,} 公斤")
    return grams


def moment_from_local(typed: str) -> datetime | None:
    """A wall-clock time in Beijing time (``2026-11-23T08:30`` as a datetime-local field sends it) as
    an aware UTC datetime; blank: None."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text) if len(text) <= 32 else None
    except ValueError:
        moment = None
    if moment is None:
        raise InputProblem("时间格式应为 2026-11-23 08:30")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MARKET_TZ)
    return moment.astimezone(UTC)


def local_input(moment: datetime) -> str:
    """A time as a datetime-local field shows it (Beijing time, to the minute)."""
    return moment.astimezone(MARKET_TZ).strftime("%Y-%m-%dT%H:%M")


def text_field(typed: str, label: str, most: int, required: bool = True) -> str:
    text = typed.strip()
    if not text and required:
        raise InputProblem(f"请填写{label}")
    if len(text) > most:
        raise InputProblem(f"{label}最多 {most} 个字")
    if _CONTROL.search(text):
        raise InputProblem(f"{label}含有无法识别的字符")
    return text


def kilograms(grams: int) -> str:
    """Grams as kilograms for people, exactly: 1250 → "1.25", 50000 → "50"."""
    whole, part = divmod(grams, 1000)
    return f"{whole:,}" + (f".{part:03d}".rstrip("0") if part else "")


def trace_code_from(typed: str) -> str | None:
    """The trace code in what a shopper typed or pasted: the code itself, or the address a receipt's
    QR code carries (``https://…/market/{site}/trace/{code}``)."""
    text = typed.strip()
    if "/trace/" in text:
        path = urlsplit(text).path if "://" in text else text.split("?", 1)[0].split("#", 1)[0]
        text = unquote(path.rsplit("/trace/", 1)[-1]).strip().strip("/")
    if not 1 <= len(text) <= 64 or not text.isprintable():
        return None
    return text


# --- how states are shown ----------------------------------------------------------------------

def licence_tone(status: DocumentStatus) -> str:
    if status.validity is Validity.VALID:
        return "ok"
    if status.validity is Validity.EXPIRING:
        return "bad" if status.warning_days == 0 else "warn"
    return "bad"


def licence_text(status: DocumentStatus) -> str:
    days = status.days_to_expiry
    if status.validity is Validity.MISSING:
        return "缺失"
    if status.validity is Validity.EXPIRED:
        return f"已过期 {-days} 天" if days is not None else "已过期"
    if status.validity is Validity.NOT_YET_VALID:
        start = status.document.valid_from if status.document else None
        return f"{start} 起生效" if start else "尚未生效"
    if status.validity is Validity.EXPIRING:
        return "今天到期" if days == 0 else f"剩 {days} 天"
    return "有效" if days is not None else "长期有效"


_DELIVERY_TEXT: Final = {
    DeliveryStatus.PENDING: ("warn", "等待确认"),
    DeliveryStatus.ACKED: ("ok", "已确认"),
    DeliveryStatus.FAILED: ("bad", "失败"),
    DeliveryStatus.GIVEN_UP: ("bad", "已放弃"),
    DeliveryStatus.SUPERSEDED: ("", "已被新价目表取代"),
}


def delivery_tone(delivery: Delivery) -> str:
    return _DELIVERY_TEXT[delivery.status][0]


def delivery_text(delivery: Delivery) -> str:
    return _DELIVERY_TEXT[delivery.status][1]


# --- shared lookups ----------------------------------------------------------------------------

def _pages(request: web.Request) -> MarketPages:
    return request.app[MARKET_PAGES]


def _service(request: web.Request) -> MarketService:
    return request.app[MARKET_PAGES].service


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK]()


def _site(request: web.Request) -> str:
    return request.match_info["site"]


async def _market(request: web.Request) -> Market:
    try:
        return await _service(request).market(_site(request))
    except NotFound:
        raise PageProblem(404, "没有这个市场，链接可能有误。", title="市场不存在") from None


async def _display(request: web.Request, stall: str) -> StallDisplay:
    try:
        return await _service(request).stall_display(_site(request), stall, _now(request))
    except NotFound:
        raise PageProblem(404, f"本市场没有摊位 {stall}，链接可能有误。", title="摊位不存在") from None


async def _all_stalls(service: MarketService, site: str, now: datetime) -> list[StallOverview]:
    found: list[StallOverview] = []
    while len(found) < DIRECTORY_SCAN:
        chunk = await service.stalls(site, now, STALLS_PER_PAGE, len(found))
        found.extend(chunk)
        if len(chunk) < STALLS_PER_PAGE:
            break
    return found


async def _scales_of(service: MarketService, site: str, stall: str) -> list[ScaleOverview]:
    """The scales at ``stall``, by id."""
    return await service.scales(site, DIRECTORY_SCAN, 0, stall=stall)


async def _operator_page(request: web.Request, template: str, context: dict[str, Any],
                         status: int = 200) -> web.Response:
    """An operator page: the market and its section tabs (with the count of open findings)."""
    service = _service(request)
    market = context.get("market") or await _market(request)
    open_findings = await service.findings(market.site, None, None, True, FINDINGS_PER_PAGE + 1, 0)
    return await render(request, template, {
        **context, "market": market, "base": f"/market/{market.site}/manage",
        "open_findings": len(open_findings), "more_findings": len(open_findings) > FINDINGS_PER_PAGE,
    }, status=status)


# --- operator: stalls and licences ---------------------------------------------------------------

@dataclass(frozen=True)
class StallRow:
    overview: StallOverview

    @property
    def attention(self) -> tuple[DocumentStatus, ...]:
        return self.overview.licences.attention

    @property
    def other_certificates(self) -> list[DocumentStatus]:
        """Staff certificates needing attention besides the one that stands for the stall's requirement."""
        shown = {s.document for s in self.overview.licences.required}
        return [s for s in self.overview.licences.health_certificates
                if s.validity is not Validity.VALID and s.document not in shown]

    @property
    def tone(self) -> str:
        if not self.overview.licences.compliant or any(licence_tone(s) == "bad" for s in self.attention):
            return "bad"
        return "warn" if self.attention else "ok"


@page(*OPERATORS)
async def stalls_page(request: web.Request) -> web.Response:
    market = await _market(request)
    service = _service(request)
    now = _now(request)
    offset = _offset(request)
    found = await service.stalls(market.site, now, STALLS_PER_PAGE + 1, offset)
    rows = [StallRow(overview) for overview in found[:STALLS_PER_PAGE]]
    problems_offset = _offset(request, "problems")
    problems = await service.licence_problems(market.site, now, LICENCE_PROBLEMS_PER_PAGE + 1, problems_offset)
    return await _operator_page(request, "pages/stalls.html", {
        "market": market, "rows": rows, "problems": problems[:LICENCE_PROBLEMS_PER_PAGE], "tab": "stalls",
        "problems_offset": problems_offset, "problems_per_page": LICENCE_PROBLEMS_PER_PAGE,
        "problems_next": problems_offset + LICENCE_PROBLEMS_PER_PAGE
        if len(problems) > LICENCE_PROBLEMS_PER_PAGE else None,
        "counts": {
            "stalls": len(rows),
            "compliant": sum(1 for row in rows if row.tone == "ok"),
            "bad": sum(1 for row in rows if row.tone == "bad"),
            "warn": sum(1 for row in rows if row.tone == "warn"),
        },
        "offset": offset, "next_offset": offset + STALLS_PER_PAGE if len(found) > STALLS_PER_PAGE else None,
    })


def _offset(request: web.Request, name: str = "offset") -> int:
    raw = request.query.get(name, "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0


@page(*OPERATORS)
async def stall_page(request: web.Request) -> web.Response:
    return await _stall_page(request)


async def _stall_page(request: web.Request, *, void_failed: int | None = None, void_problem: str | None = None,
                      void_reason: str = "", status: int = 200) -> web.Response:
    service = _service(request)
    site = _site(request)
    display = await _display(request, request.match_info["stall"])
    code = display.stall.stall
    scales = await _scales_of(service, site, code)
    pending = any(s.last_price_push is not None and s.last_price_push.status is DeliveryStatus.PENDING
                  and s.registration.online is not False for s in scales)
    just_published = "published" in request.query
    vendor_id = display.stall.vendor_id
    return await _operator_page(request, "pages/stall.html", {
        "market": display.market, "d": display, "scales": scales, "tab": "stalls",
        "recorded": await service.vendor_documents(site, vendor_id) if vendor_id else [],
        "voided_notice": "voided" in request.query, "void_failed": void_failed, "void_problem": void_problem,
        "void_reason": void_reason,
        "price_log": await service.price_history(site, code, None, 12, 0),
        "batches": await service.batches(site, code, 10, 0),
        "findings": await service.findings(site, None, code, True, 10, 0),
        "just_published": just_published,
        "refresh_s": PUBLISH_REFRESH_S if just_published and pending else None, "refresh_url": request.path_qs,
    }, status=status)


@page(*OPERATORS)
async def void_document(request: web.Request) -> web.StreamResponse:
    """Void a mistyped document of the stall's vendor, with a reason (audited)."""
    service = _service(request)
    site = _site(request)
    display = await _display(request, request.match_info["stall"])
    raw = request.match_info["document_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or display.stall.vendor_id is None:
        raise PageProblem(404, "没有这份证照。", title="证照不存在")
    document_id = int(raw)
    form = await form_of(request)
    reason = form.get("reason", "").strip()[:400]
    try:
        text_field(reason, "作废原因", 200)
        if form.get("confirm") != "yes":
            raise InputProblem("请勾选确认：作废后该证照不再计入本摊位的证照。")
    except InputProblem as problem:
        return await _stall_page(request, void_failed=document_id, void_problem=str(problem), void_reason=reason,
                                 status=422)
    try:
        await service.void_document(site, display.stall.vendor_id, document_id, reason, request[PRINCIPAL].subject,
                                    _now(request))
    except NotFound:
        raise PageProblem(404, "没有这份证照。", title="证照不存在") from None
    except Conflict:
        return await _stall_page(request, void_failed=document_id, void_problem="这份证照已经作废过了。", status=409)
    except Refused as refused:
        return await _stall_page(request, void_failed=document_id, void_problem=f"未被接受：{refused}",
                                 void_reason=reason, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/stalls/{quote(display.stall.stall)}?voided=1#recorded")


# --- operator: publishing prices ---------------------------------------------------------------

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


@page(*OPERATORS)
async def price_form_page(request: web.Request) -> web.Response:
    display = await _display(request, request.match_info["stall"])
    now = _now(request)
    current = prices_in_force(await _stall_prices(_service(request), display, now), now)
    rows = [PriceRow(p.plu, p.product, yuan(p.unit_price_fen)) for p in current]
    rows += [PriceRow("", "", "")] * BLANK_PRICE_ROWS
    return await _price_form(request, display, PriceDraft(rows, "", None, [], [], []))


async def _price_form(request: web.Request, display: StallDisplay, draft: PriceDraft,
                      status: int = 200) -> web.Response:
    rows = [row for row in draft.rows if not row.blank]
    rows += [PriceRow("", "", "")] * BLANK_PRICE_ROWS  # room for new products
    shown = PriceDraft(rows, draft.effective_text, draft.effective_from, draft.changes, draft.unchanged,
                       draft.problems)
    return await _operator_page(request, "pages/publish.html", {
        "market": display.market, "d": display, "draft": shown, "stage": "edit", "tab": "stalls",
        "now_input": local_input(_now(request)),
    }, status=status)


@page(*OPERATORS)
async def publish_prices(request: web.Request) -> web.StreamResponse:
    """Edit → preview (what the scales will get) → confirm: publish and push to the stall's scales."""
    service = _service(request)
    site = _site(request)
    display = await _display(request, request.match_info["stall"])
    form = await form_of(request)
    now = _now(request)
    existing = await _stall_prices(service, display, now)
    draft = _price_draft(form, display.stall.stall, existing, request[PRINCIPAL].subject, now,
                         service.settings.price_backdating)
    action = form.get("action", "preview")
    if action == "edit" or draft.problems:
        return await _price_form(request, display, draft, status=422 if draft.problems and action != "edit" else 200)
    if action != "confirm":
        new = [change.price for change in draft.changes]
        table = scale_price_table([*existing, *new], display.stall.stall, now)
        return await _operator_page(request, "pages/publish.html", {
            "market": display.market, "d": display, "draft": draft, "stage": "preview", "tab": "stalls",
            "table": [(entry, entry in new) for entry in table],
            "scales": await _scales_of(service, site, display.stall.stall), "now_input": local_input(now),
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


# --- operator: batches, rapid tests, recall ------------------------------------------------------

BATCH_FIELDS: Final = ("batch_id", "stall", "plu", "product", "supplier", "supplier_contact", "origin_code",
                       "origin_name", "quantity_kg", "certificate_type", "certificate_number", "arrived_at")


@page(*OPERATORS)
async def batches_page(request: web.Request) -> web.Response:
    stall = request.query.get("stall", "").strip()[:32] or None
    return await _batches_page(request, stall, {"arrived_at": local_input(_now(request)), "stall": stall or ""})


async def _batches_page(request: web.Request, stall: str | None, values: dict[str, str],
                        problems: Sequence[str] = (), status: int = 200) -> web.Response:
    service = _service(request)
    market = await _market(request)
    offset = _offset(request)
    found = await service.batches(market.site, stall, BATCHES_PER_PAGE + 1, offset)
    stalls = await _all_stalls(service, market.site, _now(request))
    return await _operator_page(request, "pages/batches.html", {
        "market": market, "batches": found[:BATCHES_PER_PAGE], "stall_filter": stall, "tab": "batches",
        "stalls": [o.stall for o in stalls], "values": values, "problems": problems,
        "register_open": "register" in request.query,
        "certificates": list(CertificateType),
        "offset": offset, "next_offset": offset + BATCHES_PER_PAGE if len(found) > BATCHES_PER_PAGE else None,
    }, status=status)


@page(*OPERATORS)
async def register_batch(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    market = await _market(request)
    now = _now(request)
    form = await form_of(request)
    values = {name: form.get(name, "").strip()[:200] for name in BATCH_FIELDS}
    stalls = {o.stall.stall: o.stall for o in await _all_stalls(service, market.site, now)}
    batch, problems = _batch_from(values, stalls, now)
    if batch is not None:
        try:
            await service.receive_batch(market.site, batch, request[PRINCIPAL].subject, now)
        except Conflict:
            problems.append(f"批次号 {batch.batch_id} 已经登记过，请换一个批次号。")
        except (Refused, NotFound) as refused:
            problems.append(f"未被接受：{refused}")
    if batch is None or problems:
        return await _batches_page(request, None, values, problems, status=422)
    raise web.HTTPSeeOther(f"/market/{market.site}/manage/batches/{quote(batch.batch_id)}?notice=received")


def _batch_from(values: dict[str, str], stalls: dict[str, Stall], now: datetime) -> tuple[Batch | None, list[str]]:
    problems: list[str] = []

    def checked(label: str, read: Callable[[], _T]) -> _T | None:
        try:
            return read()
        except InputProblem as problem:
            problems.append(f"{label}：{problem}")
            return None

    stall = stalls.get(values["stall"])
    if stall is None:
        problems.append("摊位：请选择摊位")
    plu = values["plu"]
    if not CODE.fullmatch(plu):
        problems.append("商品编码：1–32 位字母、数字或 _ . : -")
    product = checked("品名", lambda: text_field(values["product"], "品名", 100))
    supplier = checked("供货商", lambda: text_field(values["supplier"], "供货商", 100))
    contact = values["supplier_contact"] or None
    if contact is not None and not PHONE.fullmatch(contact):
        problems.append("供货商电话：3–32 位数字、空格、+ 或 -")
    origin_code = values["origin_code"]
    if not REGION_CODE.fullmatch(origin_code):
        problems.append("产地代码：6 位行政区划代码（GB/T 2260），例如 370783")
    origin_name = checked("产地名称", lambda: text_field(values["origin_name"], "产地名称", 100))
    grams = checked("数量", lambda: grams_from_kilograms(values["quantity_kg"]))
    try:
        certificate: CertificateType | None = CertificateType(values["certificate_type"])
    except ValueError:
        certificate = None
        problems.append("凭证类型：请选择")
    if certificate is not None and stall is not None and certificate not in accepted_certificates(stall.stall_type):
        wanted = "、".join(c.label_zh for c in sorted(accepted_certificates(stall.stall_type)))
        problems.append(f"凭证类型：{stall.stall_type.label_zh}摊位的批次须凭{wanted}入场")
    number = checked("凭证编号", lambda: text_field(values["certificate_number"], "凭证编号", 64))
    arrived = checked("到货时间", lambda: moment_from_local(values["arrived_at"])) or now
    if arrived > now + timedelta(minutes=5):
        problems.append("到货时间：不能晚于现在")
    batch_id = values["batch_id"] or _new_batch_id(values["stall"], now)
    if not ASCII_ID.fullmatch(batch_id):
        problems.append("批次号：1–64 位字母、数字或 _ . : -（留空则自动生成）")
    if (problems or stall is None or certificate is None or product is None or supplier is None
            or origin_name is None or grams is None or number is None):
        return None, problems
    try:
        return Batch(batch_id, stall.stall, plu, product, supplier, origin_code, origin_name, grams, certificate,
                     number, arrived, contact), []
    except ValueError as invalid:
        return None, [f"未被接受：{invalid}"]


def _new_batch_id(stall: str, now: datetime) -> str:
    middle = f"-{stall}" if ASCII_ID.fullmatch(stall) and len(stall) <= 32 else ""
    return f"B{market_day(now):%Y%m%d}{middle}-{secrets.token_hex(2).upper()}"


_BATCH_NOTICES: Final = {
    "received": ("success", "批次已登记。请录入快检结果。"),
    "tested": ("success", "快检结果已记录：合格。"),
    "recalled": ("warning", "批次已封控：已向相关电子秤下发停售指令，下方列出了该批次的全部销售。"),
    "failed_test": ("warning", "快检不合格，批次已自动封控：已向相关电子秤下发停售指令，下方列出了该批次的全部销售。"),
    "released": ("success", "已解除封控：已向相关电子秤下发恢复销售指令（unblock_batch）。"),
    "corrected": ("success", "进货量已更正，进销平衡已按新的进货量计算。"),
}


@page(*OPERATORS)
async def batch_page(request: web.Request) -> web.Response:
    return await _batch_page(request)


async def _batch_page(request: web.Request, *, test_values: dict[str, str] | None = None,
                      test_problems: Sequence[str] = (), stop_form: _StopForm | None = None,
                      quantity_values: dict[str, str] | None = None,
                      quantity_problems: Sequence[str] = (), status: int = 200) -> web.Response:
    service = _service(request)
    site = _site(request)
    batch_id = request.match_info["batch_id"]
    offset = _offset(request)
    try:
        detail = await service.batch_detail(site, batch_id)
        trace = await service.forward_trace(site, batch_id, SALES_PER_PAGE, offset)
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    blocks = await _block_deliveries(service, site, detail.batch, trace.sales, BLOCK_BATCH) \
        if detail.batch.block else []
    corrections = await service.corrections(site, (CorrectionKind.RELEASE_BATCH, CorrectionKind.CORRECT_QUANTITY),
                                            batch_id, CORRECTIONS_SHOWN, 0)
    releases = await _block_deliveries(service, site, detail.batch, trace.sales, UNBLOCK_BATCH) \
        if detail.batch.block is None and any(c.correction.kind is CorrectionKind.RELEASE_BATCH
                                               for c in corrections) else []
    notice = _BATCH_NOTICES.get(request.query.get("notice", ""))
    return await _operator_page(request, "pages/batch.html", {
        "detail": detail, "batch": detail.batch, "trace": trace, "blocks": blocks, "notice": notice,
        "tab": "batches", "offset": offset,
        "next_offset": offset + SALES_PER_PAGE if offset + len(trace.sales) < trace.sales_count else None,
        "sold_share": detail.balance.sold_share, "fill_share": min(detail.balance.sold_share, Fraction(1)),
        "test_values": test_values or {"tested_at": local_input(_now(request)), "result": "pass"},
        "test_problems": test_problems, "recall_reason": "", "recall_problems": (), "release_reason": "",
        "release_problems": (), "releases": releases,
        **({f"{stop_form.action.form}_reason": stop_form.reason,
            f"{stop_form.action.form}_problems": stop_form.problems} if stop_form is not None else {}),
        "standing": standing_failures(detail.tests), "corrections": [(c, correction_facts(c)) for c in corrections],
        "quantity_values": quantity_values or {"quantity_kg": kilograms(detail.batch.quantity_g).replace(",", "")},
        "quantity_problems": quantity_problems,
    }, status=status)


async def _block_deliveries(service: MarketService, site: str, batch: Batch, sales: Sequence[Sale],
                            op: str) -> list[Delivery]:
    """The latest ``block_batch`` (or ``unblock_batch``) command of this batch to each scale of its stall
    and each that sold it."""
    scales = {s.registration.scale for s in await _scales_of(service, site, batch.stall)}
    scales.update(sale.scale for sale in sales)
    found: list[Delivery] = []
    for scale in sorted(scales)[:BLOCK_SCALES_MAX]:
        for delivery in await service.deliveries(site, None, scale, 20, 0):
            if delivery.op == op and delivery.args.get("batch") == batch.batch_id:
                found.append(delivery)
                break
    return found


@page(*OPERATORS)
async def record_test(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    site = _site(request)
    batch_id = request.match_info["batch_id"]
    now = _now(request)
    form = await form_of(request)
    values = {name: form.get(name, "").strip()[:200] for name in ("item", "method", "result", "value", "tester",
                                                                    "tested_at")}
    problems: list[str] = []
    fields: dict[str, str] = {}
    for name, label in (("item", "检测项目"), ("method", "检测方法"), ("tester", "检测人")):
        try:
            fields[name] = text_field(values[name], label, 64)
        except InputProblem as problem:
            problems.append(f"{label}：{problem}")
    try:
        value = text_field(values["value"], "检测值", 64, required=False) or None
        tested_at = moment_from_local(values["tested_at"]) or now
        if tested_at > now + timedelta(minutes=5):
            raise InputProblem("检测时间不能晚于现在")
    except InputProblem as problem:
        problems.append(str(problem))
        value, tested_at = None, now
    try:
        result = RapidTestResult(values["result"])
    except ValueError:
        problems.append("检测结果：请选择合格或不合格")
        result = RapidTestResult.PASS
    if problems:
        return await _batch_page(request, test_values=values, test_problems=problems, status=422)
    test = RapidTest(batch_id, fields["item"], fields["method"], result, value, fields["tester"], tested_at)
    try:
        recorded = await service.record_test(site, test, request[PRINCIPAL].subject, now)
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except TestBeforeArrival as early:
        arrived = early.arrived_at.astimezone(MARKET_TZ).strftime("%Y-%m-%d %H:%M")
        return await _batch_page(request, test_values=values, status=422,
                                 test_problems=[f"检测时间不能早于该批次到货时间（{arrived}）"])
    except Refused as refused:
        return await _batch_page(request, test_values=values, test_problems=[f"未被接受：{refused}"], status=422)
    notice = "failed_test" if recorded.recall is not None else "tested" if result is RapidTestResult.PASS else ""
    raise web.HTTPSeeOther(f"/market/{site}/manage/batches/{quote(batch_id)}?notice={notice}#"
                           + ("recall" if recorded.recall else "tests"))


@dataclass(frozen=True)
class _StopForm:
    """A recall or release form shown again: what was typed and why it was not taken."""

    action: _BatchStop
    reason: str
    problems: Sequence[str]


@dataclass(frozen=True)
class _BatchStop:
    """How the batch page words one of its two confirmed actions on a batch: recall it, or release it."""

    form: str  # the form's name on the batch page: its reason and problems are shown there
    reason_label: str
    confirm_problem: str
    conflict_problem: str
    notice: str


RECALL = _BatchStop("recall", "召回原因", confirm_problem="请勾选确认：封控后该批次将停止销售，且不能撤销。",
                    conflict_problem="该批次已经封控过了。", notice="recalled")
RELEASE = _BatchStop("release", "解除原因", confirm_problem="请勾选确认：解除后各电子秤将恢复销售该批次。",
                     conflict_problem="该批次没有封控，无需解除。", notice="released")
StopAction = Callable[[str, str, str, str, datetime], Awaitable[object]]
"""The service's recall or release: (site, batch id, reason, by whom, now)."""


@page(*OPERATORS)
async def recall_batch(request: web.Request) -> web.StreamResponse:
    return await _stop_or_release(request, RECALL, _service(request).recall)


@page(*OPERATORS)
async def release_batch(request: web.Request) -> web.StreamResponse:
    """Lift the block: refused with a message while a failed rapid test stands."""
    return await _stop_or_release(request, RELEASE, _service(request).release)


async def _stop_or_release(request: web.Request, action: _BatchStop, carry_out: StopAction) -> web.StreamResponse:
    site = _site(request)
    batch_id = request.match_info["batch_id"]
    form = await form_of(request)
    reason = form.get("reason", "").strip()[:400]
    problems: list[str] = []
    try:
        text_field(reason, action.reason_label, 200)
    except InputProblem as problem:
        problems.append(str(problem))
    if form.get("confirm") != "yes":
        problems.append(action.confirm_problem)

    async def again(shown: list[str], status: int) -> web.StreamResponse:
        return await _batch_page(request, stop_form=_StopForm(action, reason, shown), status=status)

    if problems:
        return await again(problems, 422)
    try:
        await carry_out(site, batch_id, reason, request[PRINCIPAL].subject, _now(request))
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except Conflict:
        return await again([action.conflict_problem], 409)
    except Refused as refused:
        return await again([f"未被接受：{refused}"], 422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/batches/{quote(batch_id)}?notice={action.notice}#recall")


@page(*OPERATORS)
async def correct_quantity(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    site = _site(request)
    batch_id = request.match_info["batch_id"]
    form = await form_of(request)
    values = {"quantity_kg": form.get("quantity_kg", "").strip()[:40], "reason": form.get("reason", "").strip()[:400]}
    problems: list[str] = []
    grams = 0
    try:
        grams = grams_from_kilograms(values["quantity_kg"])
    except InputProblem as problem:
        problems.append(f"进货量：{problem}")
    try:
        text_field(values["reason"], "更正原因", 200)
    except InputProblem as problem:
        problems.append(str(problem))
    if problems:
        return await _batch_page(request, quantity_values=values, quantity_problems=problems, status=422)
    try:
        await service.correct_quantity(site, batch_id, grams, values["reason"], request[PRINCIPAL].subject,
                                       _now(request))
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except (Conflict, Refused) as refused:
        shown = "进货量与原登记相同，无需更正。" if isinstance(refused, Unchanged) else f"未被接受：{refused}"
        return await _batch_page(request, quantity_values=values, quantity_problems=[shown],
                                 status=409 if isinstance(refused, Conflict) else 422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/batches/{quote(batch_id)}?notice=corrected#balance")


_CORRECTION_LABELS: Final = {
    "blocked_at": "原封控时间", "block_reason": "原封控原因", "blocked_by": "原封控人", "block_cause": "封控方式",
    "scales": "通知电子秤", "before_g": "原进货量", "after_g": "更正为", "sold_g": "已售",
    "vendor_id": "经营者", "kind": "证照", "number": "证号",
}


def correction_facts(recorded: RecordedCorrection) -> list[FindingFact]:
    """A correction's before/after values in words and units for the operator."""
    facts = []
    for key, value in recorded.correction.detail.items():
        if value is None:
            continue
        if key in ("before_g", "after_g", "sold_g") and isinstance(value, int):
            shown = kilograms(value) + " 公斤"
        elif key == "blocked_at" and isinstance(value, str):
            shown = _local_iso(value)
        elif key == "block_cause":
            shown = "快检不合格自动封控" if value == "failed_test" else "管理方召回"
        else:
            shown = str(value)
        facts.append(FindingFact(_CORRECTION_LABELS.get(key, key), shown))
    return facts


def _local_iso(text: str) -> str:
    try:
        return datetime.fromisoformat(text).astimezone(MARKET_TZ).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


@page(*OPERATORS)
async def batch_epcis(request: web.Request) -> web.Response:
    """The batch's history as a GS1 EPCIS 2.0 document, for the operator to download."""
    service = _service(request)
    site = _site(request)
    batch_id = request.match_info["batch_id"]
    base = (service.settings.public_base_url or str(request.url.origin())).rstrip("/")
    try:
        document = await service.batch_epcis(site, batch_id, f"{base}/market/{site}", _now(request))
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except Refused as refused:
        raise PageProblem(422, f"无法导出：{refused}") from None
    filename = f"epcis-{batch_id}.jsonld" if ASCII_ID.fullmatch(batch_id) else "epcis.jsonld"
    return web.json_response(document, content_type="application/ld+json",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- operator: findings --------------------------------------------------------------------------

FINDING_STATES: Final = {"open": "未处理", "closed": "已处理", "all": "全部"}

_DETAIL_LABELS: Final = {
    "plu": "商品编码", "charged_fen": "实收单价", "published_fen": "公示单价", "difference_fen": "差价",
    "unit_price_fen": "单价", "amount_fen": "收款金额", "expected_amount_fen": "应收金额", "net_g": "重量",
    "trace_code": "追溯码", "scale": "电子秤", "batch": "批次", "linked_to": "已关联批次",
    "received_g": "进货量", "sold_g": "已售量", "oversold_g": "超出", "registered_stall": "登记摊位",
    "reported_stall": "所报摊位", "batch_plu": "该批次商品编码",
}
_PER_KG: Final = {"charged_fen", "published_fen", "difference_fen", "unit_price_fen"}
_AMOUNTS: Final = {"amount_fen", "expected_amount_fen"}
_WEIGHTS: Final = {"net_g", "received_g", "sold_g", "oversold_g"}


@dataclass(frozen=True)
class FindingFact:
    label: str
    value: str
    href: str | None = None


def finding_facts(recorded: RecordedFinding, site: str) -> list[FindingFact]:
    """A finding's detail in words and units for the operator (prices in yuan, weights in kg)."""
    facts = []
    for key, value in recorded.finding.detail.items():
        if value is None:
            continue
        label = _DETAIL_LABELS.get(key, key)
        href = None
        if isinstance(value, int) and not isinstance(value, bool) and key in _PER_KG:
            shown = ("-" if value < 0 else "") + yuan(abs(value)) + " 元/公斤"
        elif isinstance(value, int) and not isinstance(value, bool) and key in _AMOUNTS:
            shown = yuan(value) + " 元"
        elif isinstance(value, int) and not isinstance(value, bool) and key in _WEIGHTS:
            shown = kilograms(value) + " 公斤"
        else:
            shown = str(value)
            if key in ("batch", "linked_to") and ASCII_ID.fullmatch(shown):
                href = f"/market/{site}/manage/batches/{quote(shown)}"
            elif key == "trace_code":
                href = f"/market/{site}/trace/{quote(shown, safe='')}"
        facts.append(FindingFact(label, shown, href))
    return facts


@dataclass(frozen=True)
class FindingFilters:
    kind: FindingKind | None
    stall: str | None
    state: str
    offset: int

    def query(self, **changes: Any) -> str:
        values = {"kind": self.kind.value if self.kind else "", "stall": self.stall or "", "state": self.state,
                  "offset": self.offset}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None, 0)})


def _finding_filters(query: Mapping[str, str]) -> FindingFilters:
    kind = query.get("kind", "")
    state = query.get("state", "open")
    raw_offset = query.get("offset", "0")
    return FindingFilters(
        FindingKind(kind) if kind in FindingKind._value2member_map_ else None,
        query.get("stall", "").strip()[:32] or None,
        state if state in FINDING_STATES else "open",
        int(raw_offset) if raw_offset.isascii() and raw_offset.isdigit() and len(raw_offset) <= 9 else 0,
    )


async def _findings_window(service: MarketService, site: str, filters: FindingFilters
                           ) -> tuple[list[RecordedFinding], int | None]:
    """One page of findings (open, resolved or all; of a kind and a stall when given; newest first) and
    the offset of the next page, if there is one."""
    found = await service.findings(site, filters.kind, filters.stall, filters.state == "open",
                                   FINDINGS_PER_PAGE + 1, filters.offset, resolved_only=filters.state == "closed")
    more = len(found) > FINDINGS_PER_PAGE
    return found[:FINDINGS_PER_PAGE], filters.offset + FINDINGS_PER_PAGE if more else None


@page(*OPERATORS)
async def findings_page(request: web.Request) -> web.Response:
    return await _findings_page(request, _finding_filters(request.query))


async def _findings_page(request: web.Request, filters: FindingFilters, *, failed_id: int | None = None,
                         failure: str | None = None, draft: str = "", status: int = 200) -> web.Response:
    market = await _market(request)
    found, next_offset = await _findings_window(_service(request), market.site, filters)
    return await _operator_page(request, "pages/findings.html", {
        "market": market, "tab": "findings", "filters": filters, "kinds": list(FindingKind),
        "states": FINDING_STATES, "findings": [(f, finding_facts(f, market.site)) for f in found],
        "next_offset": next_offset, "failed_id": failed_id, "failure": failure, "draft": draft,
        "back": f"/market/{market.site}/manage/findings?{filters.query()}",
    }, status=status)


@page(*OPERATORS)
async def resolve_finding(request: web.Request) -> web.StreamResponse:
    market = await _market(request)
    raw = request.match_info["finding_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise PageProblem(404, "没有这条问题线索。", title="问题线索不存在")
    finding_id = int(raw)
    form = await form_of(request)
    back = form.get("back", "")
    prefix = f"/market/{market.site}/manage/findings"
    if not back.startswith(prefix):
        back = prefix
    filters = _finding_filters(dict(_query_pairs(back)))
    note = form.get("resolution", "").strip()
    try:
        text_field(note, "处理说明", 500)
    except InputProblem as problem:
        return await _findings_page(request, filters, failed_id=finding_id, failure=str(problem), draft=note[:500],
                                    status=422)
    try:
        await _service(request).resolve_finding(market.site, finding_id, request[PRINCIPAL].subject, note,
                                                _now(request))
    except NotFound:
        raise PageProblem(404, "没有这条问题线索。", title="问题线索不存在") from None
    except Conflict:
        return await _findings_page(request, filters, failed_id=finding_id, failure="这条问题线索已经处理过了。",
                                    status=409)
    raise web.HTTPSeeOther(back + f"#finding-{finding_id}")


def _query_pairs(path: str) -> list[tuple[str, str]]:
    query = urlsplit(path).query
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name:
            pairs.append((unquote(name), unquote(value.replace("+", " "))))
    return pairs


# --- public: the price board ---------------------------------------------------------------------

@dataclass(frozen=True)
class ProductTrend:
    line: BoardLine
    history: PriceHistory | None
    chart: str | None

    @property
    def latest(self) -> DailyPrice | None:
        """The last market day with sales."""
        return self.history.days[-1] if self.history and self.history.days else None


async def price_board_page(request: web.Request) -> web.Response:
    service = _service(request)
    site = _site(request)
    now = _now(request)
    raw_days = request.query.get("days", "")
    days = int(raw_days) if raw_days.isascii() and raw_days.isdigit() and int(raw_days) in TREND_DAYS \
        else TREND_DAYS[0]
    try:
        market, lines = await service.price_board(site, now)
    except NotFound:
        raise PageProblem(404, "没有这个市场，链接可能有误。", title="市场不存在") from None
    cache = _pages(request).trends
    key = (site, days, market_day(now))
    known = cache.get(key, now)
    unavailable = False
    if known is None and lines:
        try:
            known = _Trends(now, await service.price_histories(site, days, now))  # one query for the board
            cache.put(key, known)
        except (StoreUnavailable, StoreRejected) as failure:
            log.warning("price trends unavailable", extra={"error": str(failure)})
            unavailable = True
    trends: list[ProductTrend] = []
    for line in lines:
        history = chart = None
        if known is not None and len(trends) < BOARD_CHARTS_MAX:
            history = known.histories.get(line.plu, PriceHistory(line.plu, []))
            if line.plu not in known.charts:
                known.charts[line.plu] = _trend_chart(history)
            chart = known.charts[line.plu]
        trends.append(ProductTrend(line, history, chart))
    return await render(request, "pages/board.html", {
        "market": market, "trends": trends, "days": days, "day_choices": TREND_DAYS, "unavailable": unavailable,
        "today": market_day(now), "charted": sum(1 for t in trends if t.chart),
    })


def _trend_chart(history: PriceHistory) -> str | None:
    """Daily lowest, weighted mean and highest price paid (yuan/kg), one point per market day, as
    inline SVG in the shared chart style. Drawn here rather than with webkit.charts.line_chart, whose
    axis always starts at zero: a price that moves by a tenth would be a flat line against it."""
    days = history.days
    if len(days) < 2:
        return None
    series: list[tuple[str, list[Fraction]]] = [("成交价", [Fraction(d.min_fen) for d in days])]
    if any(d.min_fen != d.max_fen for d in days):  # one stall, one price a day: a single line says it all
        series = [("最高价", [Fraction(d.max_fen) for d in days]),
                  ("成交均价", [d.weighted_mean_fen for d in days]),
                  ("最低价", [Fraction(d.min_fen) for d in days])]
    low, high, step = _price_axis(min(d.min_fen for d in days), max(d.max_fen for d in days))
    moments = [day_start(d.day) + timedelta(hours=12) for d in days]
    every = max(1, -(-len(days) // 4))  # at most four dates under the axis: they must fit unshortened
    chart = pygal.DateTimeLine(
        style=TREND_STYLE, width=460, height=290, explicit_size=False, js=[], no_data_text="暂无数据", margin=12,
        spacing=12, include_x_axis=False, range=(low / 100, high / 100), xrange=padded_time_range(moments),
        y_labels=[fen / 100 for fen in range(low, high + 1, step)],
        x_value_formatter=lambda moment: moment.replace(tzinfo=UTC).astimezone(MARKET_TZ).strftime("%m-%d"),
        value_formatter=lambda value: f"{value:.2f} 元", x_label_rotation=0, show_x_guides=False, dots_size=3,
        legend_at_bottom=True, legend_at_bottom_columns=len(series), truncate_legend=-1, truncate_label=-1,
        margin_right=36)
    chart.x_labels = moments[::every]
    for label, values in series:
        chart.add(label, [(moment, float(value / 100)) for moment, value in zip(moments, values, strict=True)])
    rendered: str = chart.render(is_unicode=True, disable_xml_declaration=True)
    return _SCRIPT.sub("", rendered)  # pygal embeds its tooltip script's config; no script is shipped


def _price_axis(lowest_fen: int, highest_fen: int) -> tuple[int, int, int]:
    """A price axis in whole steps of 1, 2 or 5 × 10ⁿ fen around the prices, about five ticks."""
    spread = max(highest_fen - lowest_fen, 10)
    step = next(s * 10**n for n in range(0, 12) for s in (1, 2, 5) if s * 10**n * 5 >= spread)
    low = max(0, (lowest_fen - step // 2) // step * step)
    high = -(-(highest_fen + step // 2) // step) * step
    return low, high, step


# --- public: the trace lookup --------------------------------------------------------------------

async def trace_form_page(request: web.Request) -> web.StreamResponse:
    market = await _market(request)
    typed = request.query.get("code")
    if typed is None:
        return await _trace_page(request, market, typed="")
    code = trace_code_from(typed[:2000])
    if code is None:
        return await _trace_page(request, market, typed=typed[:200], status=400,
                                 problem="请输入小票上的追溯码（1–64 个字符），或扫描小票上的二维码。")
    raise web.HTTPSeeOther(f"/market/{market.site}/trace/{quote(code, safe='')}")


async def trace_result_page(request: web.Request) -> web.Response:
    market = await _market(request)
    code = request.match_info["trace_code"]
    now = _now(request)
    wait = request.app[TRACE_BUCKETS].take(trace_client(request, _service(request).settings), now)
    if wait:
        response = await _trace_page(request, market, typed=code[:200], status=429,
                                     problem=f"查询过于频繁，请 {wait} 秒后再试。")
        response.headers["Retry-After"] = str(wait)
        return response
    if not 1 <= len(code) <= 64 or not code.isprintable():
        return await _trace_page(request, market, typed=code[:200], status=400,
                                 problem="追溯码为 1–64 个字符，请核对小票。")
    found = await _service(request).trace(market.site, code)
    if found is None:
        return await _trace_page(request, market, typed=code, status=404,
                                 problem=f"没有找到追溯码 {code}。请核对小票上的追溯码（注意大小写），"
                                         "或向市场管理处咨询。")
    return await _trace_page(request, market, typed=code, found=found)


async def _trace_page(request: web.Request, market: Market, *, typed: str, found: PublicTrace | None = None,
                      problem: str | None = None, status: int = 200) -> web.Response:
    return await render(request, "pages/trace.html", {
        "market": market, "typed": typed, "found": found, "problem": problem, "status": status,
    }, status=status)
