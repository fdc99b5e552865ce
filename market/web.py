"""The market API (aiohttp) and the stall pages.

Operators (``market_operator`` or ``admin``) manage the market; the stall display, the price board,
price history and the trace lookup are public, and show nothing private: no vendor's or supplier's
contact, no payment, no tester's name, health-certificate holders' names masked. The trace lookup is
rate-limited per client address (behind a trusted reverse proxy, the address it forwards). Handlers only
translate HTTP to MarketService calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import jinja2
from aiohttp import web
from markupsafe import Markup
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    create_model,
)

from gateway.outputs import StoreRejected, StoreUnavailable
from market.corrections import CorrectionKind, RecordedCorrection
from market.findings import FindingKind, RecordedFinding
from market.licences import Document, DocumentKind, DocumentStatus, RecordedDocument, StallType
from market.market_time import local_text
from market.pricing import PublishedPrice
from market.rate_limit import TokenBuckets, client_address
from market.scale_delivery import Delivery, DeliveryStatus
from market.service import (
    BatchDetail,
    Conflict,
    DisplayBatch,
    MarketService,
    MarketSettings,
    NotFound,
    PriceItem,
    PublicTrace,
    Recall,
    Refused,
    Release,
    StallDisplay,
    StallOverview,
)
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, CertificateType, ForwardTrace, RapidTest, RapidTestResult, Sale
from webkit.auth import AUTHORITY, CLOCK, PRINCIPAL
from webkit.identity import Role, TokenAuthority
from webkit.json_errors import json_error
from webkit.openapi import LIMIT, OFFSET, QueryParam, Route, add_routes
from webkit.qr_code import qr_svg

log = logging.getLogger(__name__)
SERVICE = web.AppKey("market_service", MarketService)
TRACE_BUCKETS = web.AppKey("market_trace_buckets", TokenBuckets)
PAGES = web.AppKey("market_pages", jinja2.Environment)

OPERATORS = (Role.MARKET_OPERATOR,)
MAX_PAGE: Final = 200
DEFAULT_PAGE: Final = 50
SCREEN_REFRESH_S: Final = 30
SCREEN_PRICE_ROWS: Final = 12
"""Price rows the 1280×800 stall screen shows (dense); more are counted, "另有 N 项", not cut off."""
SCREEN_BATCH_LINES: Final = 20
"""Lines of the screen's batch column: a batch takes four (product, supplier, batch, certificate), or
one per rapid test (and one for a recall) when it has more."""

Site = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[\w.:-]{1,32}$")]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
ScaleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                        pattern=r"^[^\x00-\x1f\x7f]*$")]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                            pattern=r"^[^\x00-\x1f\x7f]*$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                             pattern=r"^[^\x00-\x1f\x7f]*$")]
Phone = Annotated[str, StringConstraints(pattern=r"^[0-9+ -]{3,32}$")]
Fen = Annotated[StrictInt, Field(gt=0, le=100_000_000, description="fen (1/100 yuan) per kilogram")]
Grams = Annotated[StrictInt, Field(gt=0, le=1_000_000_000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarketIn(_In):
    site: Site = Field(description="The site id of the market's devices (topic segment {site})")
    name: Text
    address: LongText
    complaint_hotline: Annotated[str, StringConstraints(pattern=r"^[0-9-]{3,20}$")]


class VendorIn(_In):
    vendor_id: Id
    name: Text
    photo_ref: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description="Where the photo is kept: a URL or a document-store key")
    contact_phone: Phone | None = Field(default=None, description="Private: shown to operators only")


class DocumentIn(_In):
    kind: DocumentKind
    number: ShortText = Field(description="Credit code (licence), JY + 14 digits (permit), certificate number")
    valid_from: date
    valid_to: date | None = Field(default=None, description="Last valid day; none for a long-term document")
    holder: Text | None = Field(default=None, description="Health certificates: the staff member")
    scope: LongText | None = Field(default=None, description="Food business permits: the business scope")


class StallIn(_In):
    stall: Code
    name: Text
    stall_type: StallType
    vendor_id: Id | None = None


class StallChangeIn(_In):
    name: Text
    stall_type: StallType
    vendor_id: Id | None = None


class ScaleIn(_In):
    scale_id: ScaleId = Field(description="The scale's device id (topic segment {device})")
    stall: Code


class PriceIn(_In):
    plu: Code
    product: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                              pattern=r"^[^\x00-\x1f\x7f]*$")]
    unit_price_fen: Fen


class PricesIn(_In):
    prices: Annotated[list[PriceIn], Field(min_length=1, max_length=500)]
    effective_from: AwareDatetime | None = Field(default=None, description="Default: now")


class BatchIn(_In):
    batch_id: Id
    stall: Code
    plu: Code
    product: Text
    supplier: Text
    supplier_contact: Phone | None = Field(default=None, description="Private: shown to operators only")
    origin_code: Annotated[str, StringConstraints(pattern=r"^[1-9]\d{5}$")] = Field(
        description="GB/T 2260 administrative division code of the origin")
    origin_name: Text
    quantity_g: Grams
    certificate_type: CertificateType
    certificate_number: ShortText
    arrived_at: AwareDatetime


class RapidTestIn(_In):
    item: ShortText = Field(description="e.g. 农药残留, 克伦特罗")
    method: ShortText = Field(description="e.g. 酶抑制法, 胶体金法")
    result: RapidTestResult
    value: ShortText | None = None
    tester: ShortText
    tested_at: AwareDatetime


class RecallIn(_In):
    reason: LongText


class ReleaseIn(_In):
    reason: LongText = Field(description="Why the block is lifted, e.g. 复检合格")


class QuantityIn(_In):
    quantity_g: Grams = Field(description="The grams actually received")
    reason: LongText


class VoidIn(_In):
    reason: LongText = Field(description="Why the document is voided, e.g. 证号录入错误")


class ResolutionIn(_In):
    resolution: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class MarketOut(BaseModel):
    site: str
    name: str
    address: str
    complaint_hotline: str


class DocumentOut(BaseModel):
    document_id: int
    kind: str
    kind_zh: str
    number: str
    valid_from: date
    valid_to: date | None
    holder: str | None
    scope: str | None
    voided_at: datetime | None = Field(default=None, description="A voided document counts no more")
    voided_by: str | None = None
    void_reason: str | None = None


class VendorOut(BaseModel):
    vendor_id: str
    name: str
    photo_ref: str | None
    contact_phone: str | None
    documents: list[DocumentOut]


class DocumentStatusOut(BaseModel):
    required: str
    required_zh: str
    validity: str
    validity_zh: str
    days_to_expiry: int | None
    warning_days: int | None
    number: str | None
    valid_from: date | None
    valid_to: date | None
    holder: str | None


class StallOut(BaseModel):
    stall: str
    name: str
    stall_type: str
    stall_type_zh: str
    vendor_id: str | None
    vendor_name: str | None
    licences_compliant: bool
    licences: list[DocumentStatusOut]


class DeliveryOut(BaseModel):
    cmd_id: str
    scale_id: str
    stall: str
    op: str
    status: str
    attempts: int
    created_at: datetime
    last_sent_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None
    error: str | None


class ScaleOut(BaseModel):
    scale_id: str
    stall: str
    online: bool | None
    state_changed_at: datetime | None
    last_price_push: DeliveryOut | None


class PriceOut(BaseModel):
    stall: str
    plu: str
    product: str
    unit_price_fen: int
    effective_from: datetime
    published_at: datetime
    published_by: str


class PublicationOut(BaseModel):
    prices: list[PriceOut]
    deliveries: list[DeliveryOut]


class BoardLineOut(BaseModel):
    plu: str
    product: str
    stalls: int
    min_fen: int
    avg_fen: int = Field(description="Mean of the stalls' prices, rounded half up")
    max_fen: int


class BoardOut(BaseModel):
    site: str
    market: str
    at: datetime
    lines: list[BoardLineOut]


class DailyPriceOut(BaseModel):
    day: date
    sales: int
    grams: int
    min_fen: int
    avg_fen: int = Field(description="Mean weighted by weight: what a kilogram cost on average")
    max_fen: int


class PriceHistoryOut(BaseModel):
    site: str
    plu: str
    days: list[DailyPriceOut] = Field(description="Market days with sales, over every sale of the day")


class RapidTestOut(BaseModel):
    item: str
    method: str
    result: str
    result_zh: str
    value: str | None
    tester: str
    tested_at: datetime


class BlockOut(BaseModel):
    blocked_at: datetime
    reason: str
    cause: str
    blocked_by: str


class BatchOut(BaseModel):
    batch_id: str
    stall: str
    plu: str
    product: str
    supplier: str
    supplier_contact: str | None
    origin_code: str
    origin_name: str
    quantity_g: int
    certificate_type: str
    certificate_number: str
    arrived_at: datetime
    block: BlockOut | None


class BatchDetailOut(BaseModel):
    batch: BatchOut
    tests: list[RapidTestOut]
    received_g: int
    sold_g: int
    remaining_g: int
    oversold_g: int
    sales_count: int
    first_sale_at: datetime | None
    last_sale_at: datetime | None


class SaleOut(BaseModel):
    trace_code: str
    ts: datetime
    scale_id: str
    stall: str
    plu: str
    product: str | None
    net_g: int
    unit_price_fen: int
    amount_fen: int


class ForwardTraceOut(BaseModel):
    batch_id: str
    blocked: bool
    received_g: int
    sold_g: int
    oversold_g: int
    sales_count: int
    first_sale_at: datetime | None
    last_sale_at: datetime | None
    sales: list[SaleOut]
    limit: int
    offset: int
    next_offset: int | None


class RecallOut(BaseModel):
    batch_id: str
    block: BlockOut
    deliveries: list[DeliveryOut]
    trace: ForwardTraceOut


class CorrectionOut(BaseModel):
    correction_id: int
    kind: str
    kind_zh: str
    subject: str = Field(description="The batch id or the document id corrected")
    reason: str
    corrected_by: str
    corrected_at: datetime
    detail: dict[str, Any] = Field(description="The values before (and after) the correction")


class ReleaseOut(BaseModel):
    batch: BatchOut
    deliveries: list[DeliveryOut]
    correction: CorrectionOut


class RecordedTestOut(BaseModel):
    test: RapidTestOut
    recall: RecallOut | None


class FindingOut(BaseModel):
    finding_id: int
    kind: str
    kind_zh: str
    stall: str | None
    at: datetime
    detail: dict[str, Any]
    raised_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


class LicenceProblemOut(BaseModel):
    stall: str
    stall_name: str
    vendor_id: str | None
    vendor_name: str | None
    document: DocumentStatusOut


class PublicTestOut(BaseModel):
    item: str
    method: str
    result: str
    result_zh: str
    value: str | None
    tested_at: datetime


class PublicBatchOut(BaseModel):
    batch_id: str
    product: str
    supplier: str
    origin_code: str
    origin_name: str
    certificate_type: str
    certificate_type_zh: str
    certificate_number: str
    arrived_at: datetime
    recalled: bool
    recall_reason: str | None
    tests: list[PublicTestOut]


class PublicSaleOut(BaseModel):
    trace_code: str
    ts: datetime
    stall: str
    stall_name: str | None
    vendor_name: str | None
    plu: str
    product: str | None
    net_g: int
    unit_price_fen: int
    amount_fen: int


class TraceOut(BaseModel):
    market: str | None
    sale: PublicSaleOut
    batch: PublicBatchOut | None


class DisplayPriceOut(BaseModel):
    plu: str
    product: str
    unit_price_fen: int
    effective_from: datetime


class StallDisplayOut(BaseModel):
    site: str
    market: str
    stall: str
    stall_name: str
    stall_type: str
    stall_type_zh: str
    vendor_name: str | None
    vendor_photo_ref: str | None
    licences_compliant: bool
    licences: list[DocumentStatusOut]
    health_certificates: list[DocumentStatusOut]
    prices: list[DisplayPriceOut]
    batches: list[PublicBatchOut]
    complaint_hotline: str
    public_url: str
    day: date


def _page_model(name: str, item: type[BaseModel]) -> type[BaseModel]:
    """A page of a list: ``items``, and ``next_offset`` (null on the last page)."""
    fields: dict[str, Any] = {"items": (list[item], ...),  # type: ignore[valid-type]
                              "limit": (int, ...), "offset": (int, ...), "next_offset": (int | None, ...)}
    return create_model(name, **fields)


MarketsPage = _page_model("MarketsPage", MarketOut)
VendorsPage = _page_model("VendorsPage", VendorOut)
StallsPage = _page_model("StallsPage", StallOut)
ScalesPage = _page_model("ScalesPage", ScaleOut)
PricesPage = _page_model("PricesPage", PriceOut)
DeliveriesPage = _page_model("DeliveriesPage", DeliveryOut)
BatchesPage = _page_model("BatchesPage", BatchOut)
FindingsPage = _page_model("FindingsPage", FindingOut)
LicenceProblemsPage = _page_model("LicenceProblemsPage", LicenceProblemOut)
CorrectionsPage = _page_model("CorrectionsPage", CorrectionOut)


# -- request helpers --------------------------------------------------------------------------


async def _body(request: web.Request, model: type[_In]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as invalid:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                   for e in invalid.errors(include_url=False, include_input=False)]
        raise json_error(web.HTTPBadRequest, "the request body breaks the schema", details=details) from None


def _page(request: web.Request) -> tuple[int, int]:
    limit = _query_int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    offset = _query_int(request, "offset", 0, 0, 10**9)
    return limit, offset


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise json_error(web.HTTPBadRequest, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


_Choice = TypeVar("_Choice", bound=StrEnum)


def _query_choice(request: web.Request, name: str, choices: type[_Choice]) -> _Choice | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return choices(raw)
    except ValueError:
        raise json_error(web.HTTPBadRequest, f"{name} must be one of: {', '.join(c.value for c in choices)}") from None


def _query_flag(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise json_error(web.HTTPBadRequest, f"{name} must be true or false")
    return raw == "true"


def _paged(model: type[BaseModel], items: Sequence[BaseModel], limit: int, offset: int) -> web.Response:
    """``items`` holds up to ``limit + 1`` entries: one more than asked tells that there is a next page."""
    more = len(items) > limit
    page = model(items=list(items[:limit]), limit=limit, offset=offset, next_offset=offset + limit if more else None)
    return web.json_response(page.model_dump(mode="json"))


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


_T = TypeVar("_T")


async def _calling(call: Awaitable[_T]) -> _T:
    """The service's refusals as 4xx: not found, conflict, a rule broken."""
    try:
        return await call
    except NotFound as missing:
        raise json_error(web.HTTPNotFound, str(missing)) from None
    except Conflict as conflict:
        raise json_error(web.HTTPConflict, str(conflict)) from None
    except Refused as refused:
        raise json_error(web.HTTPUnprocessableEntity, str(refused)) from None
    except StoreUnavailable:
        raise json_error(web.HTTPServiceUnavailable, "the time-series store is not reachable now") from None
    except StoreRejected as rejected:  # a query this store version does not take: logged, the page says so
        log.error("time-series query refused", extra={"error": str(rejected)})
        raise json_error(web.HTTPServiceUnavailable, "the time-series store cannot answer this now") from None


def _built(make: Callable[[], _T]) -> _T:
    """A domain value from validated input; its own rules (check characters, dates) as 422."""
    try:
        return make()
    except ValueError as invalid:
        raise json_error(web.HTTPUnprocessableEntity, str(invalid)) from None


def _site(request: web.Request) -> str:
    return request.match_info["site"]


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK]()


def _who(request: web.Request) -> str:
    return request[PRINCIPAL].subject


def _public_base(request: web.Request) -> str:
    configured = request.app[SERVICE].settings.public_base_url
    return (configured or str(request.url.origin())).rstrip("/")


# -- converting to the API's models -----------------------------------------------------------


def _market_out(market: Market) -> MarketOut:
    return MarketOut(site=market.site, name=market.name, address=market.address,
                     complaint_hotline=market.complaint_hotline)


def _document_out(document_id: int, document: Document, recorded: RecordedDocument | None = None) -> DocumentOut:
    return DocumentOut(document_id=document_id, kind=document.kind.value, kind_zh=document.kind.label_zh,
                       number=document.number, valid_from=document.valid_from, valid_to=document.valid_to,
                       holder=document.holder, scope=document.scope,
                       voided_at=recorded.voided_at if recorded else None,
                       voided_by=recorded.voided_by if recorded else None,
                       void_reason=recorded.void_reason if recorded else None)


def _recorded_document_out(recorded: RecordedDocument) -> DocumentOut:
    return _document_out(recorded.document_id, recorded.document, recorded)


def _correction_out(recorded: RecordedCorrection) -> CorrectionOut:
    correction = recorded.correction
    return CorrectionOut(correction_id=recorded.correction_id, kind=correction.kind.value,
                         kind_zh=correction.kind.label_zh, subject=correction.subject, reason=correction.reason,
                         corrected_by=correction.by, corrected_at=correction.at, detail=dict(correction.detail))


def mask_name(name: str) -> str:
    """A person's name as shown to the public: the family name and a star per other character."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def _status_out(status: DocumentStatus, public: bool) -> DocumentStatusOut:
    document = status.document
    holder = document.holder if document else None
    health = status.required is DocumentKind.HEALTH_CERTIFICATE
    return DocumentStatusOut(
        required=status.required.value, required_zh=status.required.label_zh, validity=status.validity.value,
        validity_zh=status.validity.label_zh, days_to_expiry=status.days_to_expiry, warning_days=status.warning_days,
        number=None if document is None or (public and health) else document.number,
        valid_from=document.valid_from if document else None, valid_to=document.valid_to if document else None,
        holder=mask_name(holder) if holder and public else holder)


def _stall_out(overview: StallOverview) -> StallOut:
    stall = overview.stall
    return StallOut(stall=stall.stall, name=stall.name, stall_type=stall.stall_type.value,
                    stall_type_zh=stall.stall_type.label_zh, vendor_id=stall.vendor_id,
                    vendor_name=overview.vendor.name if overview.vendor else None,
                    licences_compliant=overview.licences.compliant,
                    licences=[_status_out(s, public=False) for s in overview.licences.required])


def _delivery_out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(cmd_id=delivery.cmd_id, scale_id=delivery.scale, stall=delivery.stall, op=delivery.op,
                       status=delivery.status.value, attempts=delivery.attempts, created_at=delivery.created_at,
                       last_sent_at=delivery.last_sent_at, next_attempt_at=delivery.next_attempt_at,
                       finished_at=delivery.finished_at, error=delivery.error)


def _price_out(price: PublishedPrice) -> PriceOut:
    return PriceOut(stall=price.stall, plu=price.plu, product=price.product, unit_price_fen=price.unit_price_fen,
                    effective_from=price.effective_from, published_at=price.published_at,
                    published_by=price.published_by)


def _test_out(test: RapidTest) -> RapidTestOut:
    return RapidTestOut(item=test.item, method=test.method, result=test.result.value, result_zh=test.result.label_zh,
                        value=test.value, tester=test.tester, tested_at=test.tested_at)


def _public_test_out(test: RapidTest) -> PublicTestOut:
    return PublicTestOut(item=test.item, method=test.method, result=test.result.value,
                         result_zh=test.result.label_zh, value=test.value, tested_at=test.tested_at)


def _block_out(batch: Batch) -> BlockOut | None:
    block = batch.block
    if block is None:
        return None
    return BlockOut(blocked_at=block.at, reason=block.reason, cause=block.cause.value, blocked_by=block.by)


def _batch_out(batch: Batch) -> BatchOut:
    return BatchOut(batch_id=batch.batch_id, stall=batch.stall, plu=batch.plu, product=batch.product,
                    supplier=batch.supplier, supplier_contact=batch.supplier_contact, origin_code=batch.origin_code,
                    origin_name=batch.origin_name, quantity_g=batch.quantity_g,
                    certificate_type=batch.certificate_type.value, certificate_number=batch.certificate_number,
                    arrived_at=batch.arrived_at, block=_block_out(batch))


def _public_batch_out(batch: Batch, tests: Sequence[RapidTest]) -> PublicBatchOut:
    return PublicBatchOut(batch_id=batch.batch_id, product=batch.product, supplier=batch.supplier,
                          origin_code=batch.origin_code, origin_name=batch.origin_name,
                          certificate_type=batch.certificate_type.value,
                          certificate_type_zh=batch.certificate_type.label_zh,
                          certificate_number=batch.certificate_number, arrived_at=batch.arrived_at,
                          recalled=batch.block is not None, recall_reason=batch.block.reason if batch.block else None,
                          tests=[_public_test_out(test) for test in tests])


def _sale_out(sale: Sale) -> SaleOut:
    return SaleOut(trace_code=sale.trace_code, ts=sale.ts, scale_id=sale.scale, stall=sale.stall, plu=sale.plu,
                   product=sale.product, net_g=sale.net_g, unit_price_fen=sale.unit_price_fen,
                   amount_fen=sale.amount_fen)


def _trace_out(trace: ForwardTrace, limit: int, offset: int) -> ForwardTraceOut:
    more = offset + len(trace.sales) < trace.sales_count
    return ForwardTraceOut(batch_id=trace.batch.batch_id, blocked=trace.batch.block is not None,
                           received_g=trace.balance.received_g, sold_g=trace.balance.sold_g,
                           oversold_g=trace.balance.oversold_g, sales_count=trace.sales_count,
                           first_sale_at=trace.first_sale_at, last_sale_at=trace.last_sale_at,
                           sales=[_sale_out(sale) for sale in trace.sales], limit=limit, offset=offset,
                           next_offset=offset + len(trace.sales) if more else None)


def _recall_out(recall: Recall) -> RecallOut:
    block = _block_out(recall.trace.batch)
    assert block is not None
    return RecallOut(batch_id=recall.trace.batch.batch_id, block=block,
                     deliveries=[_delivery_out(d) for d in recall.deliveries],
                     trace=_trace_out(recall.trace, len(recall.trace.sales) or 1, 0))


def _finding_out(recorded: RecordedFinding) -> FindingOut:
    finding = recorded.finding
    return FindingOut(finding_id=recorded.finding_id, kind=finding.kind.value, kind_zh=finding.kind.label_zh,
                      stall=finding.stall, at=finding.at, detail=dict(finding.detail), raised_at=recorded.raised_at,
                      resolved_at=recorded.resolved_at, resolved_by=recorded.resolved_by,
                      resolution=recorded.resolution)


def _detail_out(detail: BatchDetail) -> BatchDetailOut:
    balance = detail.balance
    return BatchDetailOut(batch=_batch_out(detail.batch), tests=[_test_out(t) for t in detail.tests],
                          received_g=balance.received_g, sold_g=balance.sold_g, remaining_g=balance.remaining_g,
                          oversold_g=balance.oversold_g, sales_count=detail.sales_count,
                          first_sale_at=detail.first_sale_at, last_sale_at=detail.last_sale_at)


def _public_trace_out(found: PublicTrace) -> TraceOut:
    sale = found.sale
    return TraceOut(
        market=found.market.name if found.market else None,
        sale=PublicSaleOut(trace_code=sale.trace_code, ts=sale.ts, stall=sale.stall,
                           stall_name=found.stall_name, vendor_name=found.vendor_name,
                           plu=sale.plu, product=sale.product, net_g=sale.net_g, unit_price_fen=sale.unit_price_fen,
                           amount_fen=sale.amount_fen),
        batch=_public_batch_out(found.batch, found.tests) if found.batch else None)


def _display_out(display: StallDisplay, public_url: str) -> StallDisplayOut:
    stall, vendor, licences = display.stall, display.vendor, display.licences
    return StallDisplayOut(
        site=display.market.site, market=display.market.name, stall=stall.stall, stall_name=stall.name,
        stall_type=stall.stall_type.value, stall_type_zh=stall.stall_type.label_zh,
        vendor_name=vendor.name if vendor else None, vendor_photo_ref=vendor.photo_ref if vendor else None,
        licences_compliant=licences.compliant, licences=[_status_out(s, public=True) for s in licences.required],
        health_certificates=[_status_out(s, public=True) for s in licences.health_certificates],
        prices=[DisplayPriceOut(plu=p.plu, product=p.product, unit_price_fen=p.unit_price_fen,
                                effective_from=p.effective_from) for p in display.prices],
        batches=[_public_batch_out(b.batch, b.tests) for b in display.batches],
        complaint_hotline=display.market.complaint_hotline, public_url=public_url, day=display.day)


# -- handlers: the market's directory ----------------------------------------------------------


async def create_market(request: web.Request) -> web.Response:
    data: MarketIn = await _body(request, MarketIn)
    market = _built(lambda: Market(data.site, data.name, data.address, data.complaint_hotline))
    await _calling(request.app[SERVICE].create_market(market, _now(request)))
    return _json(_market_out(market), 201)


async def list_markets(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    found = await request.app[SERVICE].markets(limit + 1, offset)
    return _paged(MarketsPage, [_market_out(m) for m in found], limit, offset)


async def get_market(request: web.Request) -> web.Response:
    return _json(_market_out(await _calling(request.app[SERVICE].market(_site(request)))))


async def add_vendor(request: web.Request) -> web.Response:
    data: VendorIn = await _body(request, VendorIn)
    vendor = Vendor(data.vendor_id, data.name, data.photo_ref, data.contact_phone)
    await _calling(request.app[SERVICE].add_vendor(_site(request), vendor, _now(request)))
    return _json(VendorOut(vendor_id=vendor.vendor_id, name=vendor.name, photo_ref=vendor.photo_ref,
                           contact_phone=vendor.contact_phone, documents=[]), 201)


async def list_vendors(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    found = await _calling(request.app[SERVICE].vendors(_site(request), limit + 1, offset))
    return _paged(VendorsPage, [VendorOut(vendor_id=v.vendor_id, name=v.name, photo_ref=v.photo_ref,
                                          contact_phone=v.contact_phone,
                                          documents=[_recorded_document_out(d) for d in docs])
                                for v, docs in found], limit, offset)


async def add_document(request: web.Request) -> web.Response:
    data: DocumentIn = await _body(request, DocumentIn)
    document = _built(lambda: Document(data.kind, data.number, data.valid_from, data.valid_to, data.holder,
                                       data.scope))
    document_id = await _calling(request.app[SERVICE].add_document(_site(request), request.match_info["vendor_id"],
                                                                   document, _who(request), _now(request)))
    return _json(_document_out(document_id, document), 201)


async def void_document(request: web.Request) -> web.Response:
    data: VoidIn = await _body(request, VoidIn)
    raw = request.match_info["document_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise json_error(web.HTTPNotFound, f"no document {raw!r}")
    voided = await _calling(request.app[SERVICE].void_document(_site(request), request.match_info["vendor_id"],
                                                               int(raw), data.reason, _who(request), _now(request)))
    return _json(_recorded_document_out(voided))


async def add_stall(request: web.Request) -> web.Response:
    data: StallIn = await _body(request, StallIn)
    stall = _built(lambda: Stall(data.stall, data.name, data.stall_type, data.vendor_id))
    await _calling(request.app[SERVICE].add_stall(_site(request), stall, _now(request)))
    return _json(_stall_out(await _stall_overview(request, stall.stall)), 201)


async def change_stall(request: web.Request) -> web.Response:
    data: StallChangeIn = await _body(request, StallChangeIn)
    stall = _built(lambda: Stall(request.match_info["stall"], data.name, data.stall_type, data.vendor_id))
    await _calling(request.app[SERVICE].update_stall(_site(request), stall, _now(request)))
    return _json(_stall_out(await _stall_overview(request, stall.stall)))


async def _stall_overview(request: web.Request, code: str) -> StallOverview:
    display = await _calling(request.app[SERVICE].stall_display(_site(request), code, _now(request)))
    return StallOverview(display.stall, display.vendor, display.licences)


async def list_stalls(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    found = await _calling(request.app[SERVICE].stalls(_site(request), _now(request), limit + 1, offset))
    return _paged(StallsPage, [_stall_out(o) for o in found], limit, offset)


async def register_scale(request: web.Request) -> web.Response:
    data: ScaleIn = await _body(request, ScaleIn)
    pushes = await _calling(request.app[SERVICE].register_scale(_site(request), data.scale_id, data.stall,
                                                                _now(request)))
    return _json(ScaleOut(scale_id=data.scale_id, stall=data.stall, online=None, state_changed_at=None,
                          last_price_push=_delivery_out(pushes[-1]) if pushes else None), 201)


async def list_scales(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    found = await _calling(request.app[SERVICE].scales(_site(request), limit + 1, offset))
    return _paged(ScalesPage, [
        ScaleOut(scale_id=o.registration.scale, stall=o.registration.stall, online=o.registration.online,
                 state_changed_at=o.registration.state_changed_at,
                 last_price_push=_delivery_out(o.last_price_push) if o.last_price_push else None)
        for o in found], limit, offset)


async def licence_problems(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    found = await _calling(request.app[SERVICE].licence_problems(_site(request), _now(request), limit + 1, offset))
    return _paged(LicenceProblemsPage, [
        LicenceProblemOut(stall=p.stall.stall, stall_name=p.stall.name, vendor_id=p.stall.vendor_id,
                          vendor_name=p.vendor.name if p.vendor else None, document=_status_out(p.status, False))
        for p in found], limit, offset)


# -- handlers: prices -------------------------------------------------------------------------


async def publish_prices(request: web.Request) -> web.Response:
    data: PricesIn = await _body(request, PricesIn)
    items = [PriceItem(p.plu, p.product, p.unit_price_fen) for p in data.prices]
    publication = await _calling(request.app[SERVICE].publish_prices(
        _site(request), request.match_info["stall"], items, data.effective_from, _who(request), _now(request)))
    return _json(PublicationOut(prices=[_price_out(p) for p in publication.prices],
                                deliveries=[_delivery_out(d) for d in publication.deliveries]), 201)


async def stall_prices(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    plu = request.query.get("plu")
    found = await _calling(request.app[SERVICE].price_history(_site(request), request.match_info["stall"], plu,
                                                              limit + 1, offset))
    return _paged(PricesPage, [_price_out(p) for p in found], limit, offset)


async def list_deliveries(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    status = _query_choice(request, "status", DeliveryStatus)
    found = await _calling(request.app[SERVICE].deliveries(_site(request), [status] if status else None,
                                                           request.query.get("scale"), limit + 1, offset))
    return _paged(DeliveriesPage, [_delivery_out(d) for d in found], limit, offset)


async def price_board(request: web.Request) -> web.Response:
    now = _now(request)
    market, lines = await _calling(request.app[SERVICE].price_board(_site(request), now))
    return _json(BoardOut(site=market.site, market=market.name, at=now, lines=[
        BoardLineOut(plu=line.plu, product=line.product, stalls=line.stalls, min_fen=line.min_fen,
                     avg_fen=line.avg_fen, max_fen=line.max_fen) for line in lines]))


async def price_history(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    plu = request.query.get("plu", "")
    if not plu or len(plu) > 32:
        raise json_error(web.HTTPBadRequest, "give the product: ?plu=1001")
    days = _query_int(request, "days", 7, 1, service.settings.history_max_days)
    history = await _calling(service.sales_price_history(_site(request), plu, days, _now(request)))
    return _json(PriceHistoryOut(site=_site(request), plu=plu, days=[
        DailyPriceOut(day=d.day, sales=d.sales, grams=d.grams, min_fen=d.min_fen, avg_fen=d.avg_fen,
                      max_fen=d.max_fen) for d in history.days]))


# -- handlers: tracing ------------------------------------------------------------------------


async def receive_batch(request: web.Request) -> web.Response:
    data: BatchIn = await _body(request, BatchIn)
    batch = _built(lambda: Batch(data.batch_id, data.stall, data.plu, data.product, data.supplier, data.origin_code,
                                 data.origin_name, data.quantity_g, data.certificate_type, data.certificate_number,
                                 data.arrived_at, data.supplier_contact))
    await _calling(request.app[SERVICE].receive_batch(_site(request), batch, _who(request), _now(request)))
    return _json(_batch_out(batch), 201)


async def list_batches(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    found = await _calling(request.app[SERVICE].batches(_site(request), request.query.get("stall"), limit + 1, offset))
    return _paged(BatchesPage, [_batch_out(b) for b in found], limit, offset)


async def get_batch(request: web.Request) -> web.Response:
    detail = await _calling(request.app[SERVICE].batch_detail(_site(request), request.match_info["batch_id"]))
    return _json(_detail_out(detail))


async def record_test(request: web.Request) -> web.Response:
    data: RapidTestIn = await _body(request, RapidTestIn)
    test = RapidTest(request.match_info["batch_id"], data.item, data.method, data.result, data.value, data.tester,
                     data.tested_at)
    recorded = await _calling(request.app[SERVICE].record_test(_site(request), test, _who(request), _now(request)))
    return _json(RecordedTestOut(test=_test_out(recorded.test),
                                 recall=_recall_out(recorded.recall) if recorded.recall else None), 201)


async def recall_batch(request: web.Request) -> web.Response:
    data: RecallIn = await _body(request, RecallIn)
    recall = await _calling(request.app[SERVICE].recall(_site(request), request.match_info["batch_id"], data.reason,
                                                        _who(request), _now(request)))
    return _json(_recall_out(recall), 201)


async def release_batch(request: web.Request) -> web.Response:
    data: ReleaseIn = await _body(request, ReleaseIn)
    release: Release = await _calling(request.app[SERVICE].release(
        _site(request), request.match_info["batch_id"], data.reason, _who(request), _now(request)))
    return _json(ReleaseOut(batch=_batch_out(release.batch), deliveries=[_delivery_out(d) for d in release.deliveries],
                            correction=_correction_out(release.correction)))


async def correct_quantity(request: web.Request) -> web.Response:
    data: QuantityIn = await _body(request, QuantityIn)
    detail = await _calling(request.app[SERVICE].correct_quantity(
        _site(request), request.match_info["batch_id"], data.quantity_g, data.reason, _who(request), _now(request)))
    return _json(_detail_out(detail))


async def list_corrections(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    kind = _query_choice(request, "kind", CorrectionKind)
    subject = request.query.get("subject")
    if subject is not None and not 1 <= len(subject) <= 64:
        raise json_error(web.HTTPBadRequest, "subject: a batch id or a document id, at most 64 characters")
    found = await _calling(request.app[SERVICE].corrections(_site(request), [kind] if kind else None, subject,
                                                            limit + 1, offset))
    return _paged(CorrectionsPage, [_correction_out(c) for c in found], limit, offset)


async def batch_sales(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    trace = await _calling(request.app[SERVICE].forward_trace(_site(request), request.match_info["batch_id"], limit,
                                                              offset))
    return _json(_trace_out(trace, limit, offset))


async def batch_epcis(request: web.Request) -> web.Response:
    site = _site(request)
    document = await _calling(request.app[SERVICE].batch_epcis(site, request.match_info["batch_id"],
                                                               f"{_public_base(request)}/market/{site}",
                                                               _now(request)))
    return web.json_response(document, content_type="application/ld+json")


def trace_client(request: web.Request, settings: MarketSettings) -> str:
    """Whose lookup this is, for the rate limit: the peer, or behind a trusted proxy the client it names."""
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                          settings.trusted_proxy_networks)


async def trace_lookup(request: web.Request) -> web.Response:
    wait = request.app[TRACE_BUCKETS].take(trace_client(request, request.app[SERVICE].settings), _now(request))
    if wait:
        raise json_error(web.HTTPTooManyRequests, "too many lookups from this address; try again later",
                         headers={"Retry-After": str(wait)}, retry_after_s=wait)
    code = request.match_info["trace_code"]
    if len(code) > 64 or not code.isprintable():
        raise json_error(web.HTTPBadRequest, "a trace code has at most 64 printable characters")
    found = await request.app[SERVICE].trace(_site(request), code)
    if found is None:
        raise json_error(web.HTTPNotFound, "no sale with this trace code")
    return _json(_public_trace_out(found))


# -- handlers: findings -----------------------------------------------------------------------


async def list_findings(request: web.Request) -> web.Response:
    limit, offset = _page(request)
    kind = _query_choice(request, "kind", FindingKind)
    open_only = _query_flag(request, "open", True)
    found = await _calling(request.app[SERVICE].findings(_site(request), kind, request.query.get("stall"), open_only,
                                                         limit + 1, offset))
    return _paged(FindingsPage, [_finding_out(f) for f in found], limit, offset)


async def resolve_finding(request: web.Request) -> web.Response:
    data: ResolutionIn = await _body(request, ResolutionIn)
    raw = request.match_info["finding_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise json_error(web.HTTPNotFound, f"no finding {raw!r}")
    resolved = await _calling(request.app[SERVICE].resolve_finding(_site(request), int(raw), _who(request),
                                                                   data.resolution, _now(request)))
    return _json(_finding_out(resolved))


# -- the stall's screen and its public page -----------------------------------------------------


async def stall_display(request: web.Request) -> web.Response:
    display = await _calling(request.app[SERVICE].stall_display(_site(request), request.match_info["stall"],
                                                                _now(request)))
    return _json(_display_out(display, _public_page_url(request, display)))


async def stall_screen(request: web.Request) -> web.Response:
    return await _stall_page(request, screen=True)


async def stall_page(request: web.Request) -> web.Response:
    return await _stall_page(request, screen=False)


def _public_page_url(request: web.Request, display: StallDisplay) -> str:
    return f"{_public_base(request)}/market/{display.market.site}/stalls/{display.stall.stall}"


def stall_qr_svg(url: str) -> str:
    """The QR code of a stall's public page, in the screen's ink colour."""
    return qr_svg(url, "摊位公示页二维码", dark="#102a43")


def screen_batches(batches: Sequence[DisplayBatch], lines: int = SCREEN_BATCH_LINES) -> int:
    """How many of ``batches`` the stall screen's column holds (at least one)."""
    used = shown = 0
    for batch in batches:
        used += max(4, len(batch.tests) + (1 if batch.batch.block is not None else 0))
        if used > lines and shown:
            break
        shown += 1
    return shown


async def _stall_page(request: web.Request, screen: bool) -> web.Response:
    now = _now(request)
    display = await _calling(request.app[SERVICE].stall_display(_site(request), request.match_info["stall"], now))
    url = _public_page_url(request, display)
    shown = _display_out(display, url)
    more_prices = more_batches = 0
    if screen:  # a screen cannot scroll: what does not fit is counted, never silently cut off
        more_prices = max(0, len(shown.prices) - SCREEN_PRICE_ROWS)
        more_batches = len(display.batches) - screen_batches(display.batches)
        shown = shown.model_copy(update={"prices": shown.prices[:len(shown.prices) - more_prices],
                                         "batches": shown.batches[:len(shown.batches) - more_batches]})
    html = request.app[PAGES].get_template("stall.html").render(
        d=shown, screen=screen, refresh_s=SCREEN_REFRESH_S, qr_svg=Markup(stall_qr_svg(url)),
        more_prices=more_prices, more_batches=more_batches, updated=local_text(now), now_utc=now, yuan=yuan,
        local=local_text)
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"} if screen else None)


def yuan(fen: int) -> str:
    """Fen as yuan for people: 680 → "6.80"; exact, no float."""
    return f"{fen // 100}.{fen % 100:02d}"


ST = "/api/markets/{site}"
PAGE = (LIMIT, OFFSET)
PLU = QueryParam("plu", description="Only this product (PLU)")
STALL = QueryParam("stall", description="Only this stall")
SCALE = QueryParam("scale", description="Only this scale")
DAYS = QueryParam("days", "integer", "How many days back")
DELIVERY_STATUS = QueryParam("status", description="pending, acked, failed, given_up or superseded")
FINDING_KIND = QueryParam("kind", description="Only this kind of finding")
OPEN_ONLY = QueryParam("open", "boolean", "true: only open findings; false: all")
CORRECTION_KIND = QueryParam("kind", description="release_batch, void_document or correct_quantity")
SUBJECT = QueryParam("subject", description="Only corrections of this batch id or document id")
ROUTES = [
    Route("POST", "/api/markets", create_market, "Create a market (its site id is its devices' topic site)",
          MarketIn, MarketOut, 201, OPERATORS, (400, 409, 422)),
    Route("GET", "/api/markets", list_markets, "Markets", None, MarketsPage, 200, OPERATORS,
          (400,), query=PAGE),
    Route("GET", ST, get_market, "A market", None, MarketOut, 200, OPERATORS, (404,)),
    Route("POST", ST + "/vendors", add_vendor, "Add a vendor (contact kept private)", VendorIn, VendorOut, 201,
          OPERATORS, (400, 404, 409)),
    Route("GET", ST + "/vendors", list_vendors, "Vendors with their documents", None,
          VendorsPage, 200, OPERATORS, (400, 404), query=PAGE),
    Route("POST", ST + "/vendors/{vendor_id}/documents", add_document,
          "Record a vendor's licence, permit, filing or health certificate", DocumentIn, DocumentOut, 201, OPERATORS,
          (400, 404, 422)),
    Route("POST", ST + "/vendors/{vendor_id}/documents/{document_id}/void", void_document,
          "Void a mistyped document: it no longer counts, and stays listed as voided (audited)", VoidIn,
          DocumentOut, 200, OPERATORS, (400, 404, 409, 422)),
    Route("POST", ST + "/stalls", add_stall, "Add a stall", StallIn, StallOut, 201, OPERATORS, (400, 404, 409, 422)),
    Route("GET", ST + "/stalls", list_stalls, "Stalls with their licence status", None,
          StallsPage, 200, OPERATORS, (400, 404), query=PAGE),
    Route("PUT", ST + "/stalls/{stall}", change_stall, "Change a stall's name, type or vendor", StallChangeIn,
          StallOut, 200, OPERATORS, (400, 404, 422)),
    Route("POST", ST + "/scales", register_scale, "Register a scale at a stall; it is sent the stall's prices",
          ScaleIn, ScaleOut, 201, OPERATORS, (400, 404, 422)),
    Route("GET", ST + "/scales", list_scales, "Scales, their availability and last price push",
          None, ScalesPage, 200, OPERATORS, (400, 404), query=PAGE),
    Route("GET", ST + "/licences/problems", licence_problems,
          "Missing, expired and expiring documents (30/7/0 days), most urgent first", None,
          LicenceProblemsPage, 200, OPERATORS, (400, 404), query=PAGE),
    Route("POST", ST + "/stalls/{stall}/prices", publish_prices,
          "Publish a stall's prices and push them to its scales (set_prices)", PricesIn, PublicationOut, 201,
          OPERATORS, (400, 404, 422)),
    Route("GET", ST + "/stalls/{stall}/prices", stall_prices, "A stall's published prices, newest first",
          None, PricesPage, 200, OPERATORS, (400, 404), query=(PLU, *PAGE)),
    Route("GET", ST + "/deliveries", list_deliveries, "Commands to scales and their acks", None, DeliveriesPage, 200,
          OPERATORS, (400, 404), query=(DELIVERY_STATUS, SCALE, *PAGE)),
    Route("GET", ST + "/prices/board", price_board, "Today's prices across the market: min/avg/max per product",
          None, BoardOut, 200, None, (404,)),
    Route("GET", ST + "/prices/history", price_history, "Daily min/avg/max price paid per product, from the "
          "time series", None, PriceHistoryOut, 200, None, (400, 404, 422, 503), query=(PLU, DAYS)),
    Route("POST", ST + "/batches", receive_batch, "Record an incoming batch", BatchIn, BatchOut, 201, OPERATORS,
          (400, 404, 409, 422)),
    Route("GET", ST + "/batches", list_batches, "Batches, newest first", None,
          BatchesPage, 200, OPERATORS, (400, 404), query=(STALL, *PAGE)),
    Route("GET", ST + "/batches/{batch_id}", get_batch, "A batch with its tests and mass balance", None,
          BatchDetailOut, 200, OPERATORS, (404,)),
    Route("POST", ST + "/batches/{batch_id}/tests", record_test,
          "Record a rapid test; a failed one recalls the batch", RapidTestIn, RecordedTestOut, 201, OPERATORS,
          (400, 404, 422)),
    Route("POST", ST + "/batches/{batch_id}/recall", recall_batch,
          "Stop a batch: block_batch to the scales, and every sale of it", RecallIn, RecallOut, 201, OPERATORS,
          (400, 404, 409, 422)),
    Route("POST", ST + "/batches/{batch_id}/release", release_batch,
          "Lift a batch's block: unblock_batch to the scales (refused while a failed rapid test stands; audited)",
          ReleaseIn, ReleaseOut, 200, OPERATORS, (400, 404, 409, 422)),
    Route("POST", ST + "/batches/{batch_id}/quantity", correct_quantity,
          "Correct the grams a batch was received with (audited); the mass balance follows", QuantityIn,
          BatchDetailOut, 200, OPERATORS, (400, 404, 409, 422)),
    Route("GET", ST + "/corrections", list_corrections,
          "Operators' corrections (blocks lifted, documents voided, quantities corrected): who, when, why",
          None, CorrectionsPage, 200, OPERATORS, (400, 404), query=(CORRECTION_KIND, SUBJECT, *PAGE)),
    Route("GET", ST + "/batches/{batch_id}/sales", batch_sales, "Forward trace: every sale of a batch", None,
          ForwardTraceOut, 200, OPERATORS, (400, 404), query=PAGE),
    Route("GET", ST + "/batches/{batch_id}/epcis", batch_epcis,
          "The batch's history as a GS1 EPCIS 2.0 JSON-LD document (application/ld+json)", None, None, 200,
          OPERATORS, (404, 422)),
    Route("GET", ST + "/trace/{trace_code}", trace_lookup, "What a receipt's trace code leads to (rate-limited)",
          None, TraceOut, 200, None, (400, 404, 429)),
    Route("GET", ST + "/findings", list_findings, "Findings for the operator", None, FindingsPage, 200, OPERATORS,
          (400, 404), query=(FINDING_KIND, STALL, OPEN_ONLY, *PAGE)),
    Route("POST", ST + "/findings/{finding_id}/resolve", resolve_finding, "Resolve a finding, saying how",
          ResolutionIn, FindingOut, 200, OPERATORS, (400, 404, 409)),
    Route("GET", ST + "/stalls/{stall}/display", stall_display,
          "What the stall shows: vendor, licences, today's prices, current batches and tests", None,
          StallDisplayOut, 200, None, (404,)),
    Route("GET", "/market/{site}/stalls/{stall}/screen", stall_screen,
          "The stall screen (HTML, 1280×800, refreshes itself)", None, None, 200, None, (404,)),
    Route("GET", "/market/{site}/stalls/{stall}", stall_page, "The stall's public page (HTML), the QR code's target",
          None, None, 200, None, (404,)),
]


def mount(app: web.Application, service: MarketService, authority: TokenAuthority,
          now: Callable[[], datetime]) -> None:
    """Serve the market API and stall pages (and /openapi.json) from ``app``."""
    app[SERVICE] = service
    app[AUTHORITY] = authority
    app[CLOCK] = now
    app[TRACE_BUCKETS] = TokenBuckets(service.settings.trace_rate)
    app[PAGES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    add_routes(app, ROUTES)


def create_app(service: MarketService, authority: TokenAuthority, now: Callable[[], datetime]) -> web.Application:
    app = web.Application()
    mount(app, service, authority, now)
    return app

