"""The market API's request and response bodies (pydantic): what it accepts, checked before any handler
runs, and what it answers; /openapi.json describes the API with them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    create_model,
    model_validator,
)

from market.complaints import ComplaintAction, ComplaintCategory, ComplaintConclusion
from market.licences import MAX_STAFF, DocumentKind, Offering, StallType
from market.rapid_tests import LaboratoryVerdict, TestItem, TestMethod
from market.service.settings import MAX_SCAN_BYTES_LIMIT
from market.tracing import MAX_CERTIFICATES, CertificateType, ProductCategory

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
Measured = Annotated[Decimal, Field(allow_inf_nan=False, ge=-1_000_000, le=1_000_000)]
DivisionCode = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{5}$")]


PHOTO_BASE64_CHARS = 4 * -(-MAX_SCAN_BYTES_LIMIT // 3) + 64
"""The longest base64 photo a complaint's schema takes (the largest limit a market may set, and a data: prefix);
the market's own limit is checked on the decoded bytes."""


# -- request bodies ----------------------------------------------------------------------------


# the base of every request body: a field the schema does not name is refused, not ignored
class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarketIn(RequestBody):
    site: Site = Field(description="The site id of the market's devices (topic segment {site})")
    name: Text
    address: LongText
    complaint_hotline: Annotated[str, StringConstraints(pattern=r"^[0-9-]{3,20}$")]


class LicencePolicyIn(RequestBody):
    health_certificate_every_stall: StrictBool = Field(
        description="Every person on every stall's roster holds a health certificate (the law asks it of those "
                    "handling ready-to-eat food only)")
    licence_for_farmers: StrictBool = Field(
        description="Farmers selling their own produce show a business licence too (the law exempts them)")
    reason: LongText = Field(description="Why the market's rules change (kept with the change)")


class VendorIn(RequestBody):
    vendor_id: Id
    name: Text
    photo_ref: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description="Where the photo is kept: a URL or a document-store key")
    contact_phone: Phone | None = Field(default=None, description="Private: shown to operators only")
    self_producing: StrictBool = Field(
        default=False, description="A farmer selling their own produce (自产自销): identified by a resident identity "
                                   "card or a village committee's certificate instead of a business licence")


class FarmerIn(RequestBody):
    self_producing: StrictBool = Field(description="Whether the vendor is a farmer selling their own produce")


class DocumentIn(RequestBody):
    kind: DocumentKind
    number: ShortText = Field(description="Credit code (licence, GB 32100), JY + 14 digits (permit), identity "
                                          "number (resident identity card, GB 11643), certificate number")
    valid_from: date
    valid_to: date | None = Field(default=None, description="Last valid day; none for a long-term document")
    holder: Text | None = Field(default=None, description="Health certificates, identity cards, village "
                                                           "certificates: the person named")
    scope: LongText | None = Field(default=None, description="Food business permits: the business scope")


Offerings = Annotated[list[Offering], Field(
    min_length=1, max_length=len(Offering),
    description="What the stall sells (the licences it needs follow; one named twice counts once); default: what its "
                "type sells (farm produce; bulk food for soy products and prepared food; ready-to-eat food for cooked "
                "food; pre-packaged food)")]


class StallIn(RequestBody):
    stall: Code
    name: Text
    stall_type: StallType
    vendor_id: Id | None = None
    offerings: Offerings | None = None


class StallChangeIn(RequestBody):
    name: Text
    stall_type: StallType
    vendor_id: Id | None = None
    offerings: Offerings | None = None


class StaffIn(RequestBody):
    name: ShortText
    handles_ready_to_eat: StrictBool = Field(
        default=True, description="Handles ready-to-eat food (接触直接入口食品): needs a health certificate")


class StaffRosterIn(RequestBody):
    staff: Annotated[list[StaffIn], Field(max_length=MAX_STAFF)] = Field(
        description="Everyone working at the stall; a health certificate of the stall's vendor naming a person as "
                    "its holder is theirs")


class ScaleIn(RequestBody):
    scale_id: ScaleId = Field(description="The scale's device id (topic segment {device})")
    stall: Code


class PriceIn(RequestBody):
    plu: Code
    product: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                              pattern=r"^[^\x00-\x1f\x7f]*$")]
    unit_price_fen: Fen


class PricesIn(RequestBody):
    prices: Annotated[list[PriceIn], Field(min_length=1, max_length=500)]
    effective_from: AwareDatetime | None = Field(default=None, description="Default: now")


class CertificateIn(RequestBody):
    kind: CertificateType
    number: ShortText


class BatchIn(RequestBody):
    batch_id: Id
    stall: Code
    plu: Code
    product: Text
    supplier: Text
    supplier_contact: Phone | None = Field(default=None, description="Private: shown to operators only")
    category: ProductCategory | None = Field(
        default=None, description="What the batch is, for the certificates it needs; default: the stall type's "
                                  "(required of a meat stall's batch: pork, livestock_meat or poultry)")
    origin_code: DivisionCode = Field(
        description="GB/T 2260 administrative division code of the origin, a division of the list shipped in "
                    "market/data (county, prefecture or province)")
    origin_name: Text | None = Field(default=None, description="Default: the division's name in the list")
    quantity_g: Grams
    certificates: Annotated[list[CertificateIn], Field(max_length=MAX_CERTIFICATES)] | None = Field(
        default=None, description="The certificates the batch came with, of the kinds its category requires (none: "
                                  "farm produce entering on the market's own rapid tests, in tests)")
    certificate_type: CertificateType | None = Field(default=None, description="One certificate only: its kind "
                                                                               "(instead of certificates)")
    certificate_number: ShortText | None = None
    arrived_at: AwareDatetime
    tests: Annotated[list[RapidTestIn], Field(max_length=8)] = Field(
        default_factory=list, description="The market's rapid tests done at intake: farm produce with neither a "
                                          "commitment certificate nor a test report enters once every standard "
                                          "item of its category tested negative; a batch with its certificates is "
                                          "received and stopped by a test that is not negative (a suspected "
                                          "positive holds it for the laboratory)")

    @model_validator(mode="after")
    def _certificates_given_once(self) -> BatchIn:
        single = self.certificate_type is not None or self.certificate_number is not None
        if self.certificates is not None and single:
            raise ValueError("certificates, or certificate_type with certificate_number, not both")
        if self.certificates is None and (self.certificate_type is None or self.certificate_number is None):
            raise ValueError("certificates (a list), or certificate_type with certificate_number")
        return self

    @property
    def all_certificates(self) -> list[CertificateIn]:
        if self.certificates is not None:
            return self.certificates
        assert self.certificate_type is not None and self.certificate_number is not None
        return [CertificateIn(kind=self.certificate_type, number=self.certificate_number)]


class RapidTestIn(RequestBody):
    item: TestItem = Field(description="A standard item of the batch's category (organophosphate_carbamate for "
                                       "vegetables and fruit, clenbuterol/ractopamine/salbutamol for pork and other "
                                       "livestock meat...; 422 for one that does not fit the product)")
    method: TestMethod | None = Field(default=None, description="Default: the item's method; another is 422")
    value: Measured = Field(description="The measured value, e.g. 12.5 (an enzyme inhibition rate in %)")
    unit: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)] | None = Field(
        default=None, description="The value's unit, the item's own (%, μg/kg, mg/kg, g/kg); missing or another: 422")
    seller_accepts: StrictBool = Field(
        default=False, description="At or beyond the cutoff: the seller accepts the rapid result and asks no "
                                   "laboratory recheck (Food Safety Law Art. 88): positive, recalled at once; "
                                   "otherwise a suspected positive, held until the laboratory reports")
    tester: ShortText
    tested_at: AwareDatetime


class ComplaintIn(RequestBody):
    category: ComplaintCategory
    text: Annotated[str, StringConstraints(max_length=4000)] = Field(
        description="What happened, 5 to 1000 characters (kept as typed, shown escaped)")
    trace_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = Field(
        default=None, description="The receipt's trace code (the purchase complained of)")
    stall: Code | None = Field(default=None, description="The stall, when there is no receipt")
    photo: Annotated[str, StringConstraints(strip_whitespace=True, max_length=PHOTO_BASE64_CHARS)] | None = Field(
        default=None, json_schema_extra={"contentEncoding": "base64", "contentMediaType": "image/*"},
        description="A photo of what is complained of, the file's bytes in base64 (RFC 4648, with or without a "
                    "data:image/...;base64, prefix): a JPEG or PNG by its content whatever it is called, up to the "
                    "market's SC_MARKET_MAX_COMPLAINT_PHOTO_BYTES decoded (5 MiB by default; larger: 413, and a "
                    "body over SC_HTTP_MAX_BODY_BYTES is 413 unread); not base64: 400; another type: 415; "
                    "nothing is kept when anything is refused")


class ComplaintActionIn(RequestBody):
    action: ComplaintAction = Field(description="start (handling), resolve or reject (both close it)")
    outcome: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None, description="To resolve or reject: the outcome, published on the stall's page without the "
                                  "complainant's text, photo or purchase")
    conclusion: ComplaintConclusion | None = Field(
        default=None, description="To resolve: whether the complaint was upheld (upheld 查实 — counts against the "
                                  "vendor's credit) or not (not_upheld 不属实); required. To reject: not_upheld or "
                                  "none (a rejected complaint is not upheld; upheld is 422). Not with start (422). "
                                  "Published with the outcome")


class LaboratoryIn(RequestBody):
    verdict: LaboratoryVerdict = Field(description="pass: the batch is let go (when nothing else stands); fail: "
                                                   "it stays stopped, recalled")
    laboratory: Text
    report_number: ShortText
    reported_at: AwareDatetime


class RecallIn(RequestBody):
    reason: LongText


class ReleaseIn(RequestBody):
    reason: LongText = Field(description="Why the block is lifted, e.g. 复检合格")


class QuantityIn(RequestBody):
    quantity_g: Grams = Field(description="The grams actually received")
    reason: LongText


class VoidIn(RequestBody):
    reason: LongText = Field(description="Why the document is voided, e.g. 证号录入错误")


class ResolutionIn(RequestBody):
    resolution: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


# -- response bodies ---------------------------------------------------------------------------


class LicencePolicyOut(BaseModel):
    health_certificate_every_stall: bool
    licence_for_farmers: bool


class MarketOut(BaseModel):
    site: str
    name: str
    address: str
    complaint_hotline: str
    licence_policy: LicencePolicyOut = Field(description="What the market asks of its stalls beyond the law")


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
    scan_type: str | None = Field(default=None, description="The kept scan's type (image/jpeg, image/png, "
                                  "application/pdf): GET .../documents/{document_id}/scan; null: none kept")
    scan_bytes: int | None = None


class VendorOut(BaseModel):
    vendor_id: str
    name: str
    photo_ref: str | None
    contact_phone: str | None = Field(description="Personal data: shown to the market's operators; null for a "
                                                  "supervisor, as when none was recorded")
    self_producing: bool = Field(description="A farmer selling their own produce (自产自销)")
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
    person: str | None = Field(default=None, description="Whose health certificate this is (a missing one names "
                                                         "who lacks it)")
    basis: str | None = Field(default=None, description="Why it is required: the law and article, or 本市场规定")


class StaffOut(BaseModel):
    name: str
    handles_ready_to_eat: bool


class StallOut(BaseModel):
    stall: str
    name: str
    stall_type: str
    stall_type_zh: str
    offerings: list[str]
    offerings_zh: list[str]
    vendor_id: str | None
    vendor_name: str | None
    vendor_self_producing: bool
    licences_compliant: bool
    licences: list[DocumentStatusOut]
    staff: list[StaffOut]
    health_certificates: list[DocumentStatusOut] = Field(description="Each person's on the roster who needs one")


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


class LaboratoryOut(BaseModel):
    verdict: str
    verdict_zh: str
    laboratory: str
    report_number: str
    reported_at: datetime


class RapidTestOut(BaseModel):
    test_id: int | None
    item: str
    item_code: str | None = Field(description="The standard item; null for a test recorded before items were data")
    method: str
    method_code: str | None
    value: str | None = Field(description="As shown: value and unit, e.g. 12.5 %")
    measured: str | None = Field(description="The value as an exact decimal")
    unit: str | None
    cutoff: str | None = Field(description="The cutoff the value was judged by (at or beyond: not negative)")
    outcome: str = Field(description="negative, suspected_positive or positive")
    outcome_zh: str
    result: str = Field(description="pass while nothing stands against the batch from this test, else fail")
    result_zh: str
    verdict_zh: str = Field(description="What the test says now, laboratory included")
    laboratory: LaboratoryOut | None
    tester: str
    tested_at: datetime


class BlockOut(BaseModel):
    blocked_at: datetime
    reason: str
    cause: str
    blocked_by: str


class CertificateOut(BaseModel):
    kind: str
    kind_zh: str
    number: str


class BatchOut(BaseModel):
    batch_id: str
    stall: str
    plu: str
    product: str
    category: str | None = Field(description="null: received before categories were recorded")
    category_zh: str | None
    supplier: str
    supplier_contact: str | None
    origin_code: str
    origin_name: str
    origin_division: str | None = Field(description="The code's division in the GB/T 2260 list (full name); null "
                                                    "for a code recorded before and retired since")
    quantity_g: int
    certificates: list[CertificateOut]
    certificate_type: str = Field(description="The first certificate's kind (certificates has them all; empty for a "
                                              "batch admitted on the market's tests)")
    certificate_number: str
    admitted_by_test: bool = Field(description="Farm produce that entered on the market's own negative rapid tests")
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
    outcome: str
    verdict_zh: str
    value: str | None
    tested_at: datetime


class BoardTestOut(PublicTestOut):
    stall: str
    product: str


class TestBoardOut(BaseModel):
    site: str
    market: str
    day: date
    total: int
    negative: int
    waiting: int = Field(description="Suspected positives waiting for the laboratory")
    failed: int
    tests: list[BoardTestOut]


class LaboratoryOutcomeOut(BaseModel):
    test: RapidTestOut
    batch: BatchOut
    deliveries: list[DeliveryOut] = Field(description="unblock_batch to the scales when the result let it go")


class PublicBatchOut(BaseModel):
    batch_id: str
    product: str
    supplier: str
    origin_code: str
    origin_name: str
    certificates: list[CertificateOut]
    certificate_type: str = Field(description="The first certificate's kind (certificates has them all)")
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
    offerings_zh: list[str]
    vendor_name: str | None
    vendor_photo_ref: str | None
    licences_compliant: bool
    licences: list[DocumentStatusOut]
    health_certificates: list[DocumentStatusOut]
    prices: list[DisplayPriceOut]
    batches: list[PublicBatchOut]
    recent_tests: list[BoardTestOut] = Field(description="The stall's latest rapid tests (last 7 days, newest "
                                                         "first, at most 10)")
    complaint_outcomes: list[PublishedOutcomeOut] = Field(
        description="The stall's closed complaints, anonymised (category, days, outcome), latest first")
    complaint_hotline: str
    public_url: str
    day: date
    credit_grade: str | None = Field(default=None, description="The vendor's credit grade (A, B, C, D; none without "
                                                               "a vendor): the grade alone, never what was deducted")
    credit_grade_zh: str | None = Field(default=None, description="The grade's label: 诚信经营, 守信经营, 诚信警示, "
                                                                  "失信经营")


# -- pages of lists ----------------------------------------------------------------------------


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


class ComplaintFiledOut(BaseModel):
    reference: str = Field(description="The complainant's reference to follow the complaint by")
    stall: str
    category: str
    category_zh: str
    state: str
    state_zh: str
    filed_at: datetime
    deadline: datetime


class ComplaintStatusOut(ComplaintFiledOut):
    outcome: str | None = Field(description="The operator's outcome, once resolved or rejected")
    conclusion: str | None = Field(default=None, description="Once closed: upheld (查实) or not_upheld (不属实); "
                                                             "null for one closed before conclusions were recorded")
    conclusion_zh: str | None = None
    closed_at: datetime | None


class ComplaintOut(ComplaintStatusOut):
    complaint_id: int
    trace_code: str | None
    text: str
    photo_type: str | None
    photo_bytes: int | None
    overdue: bool
    handled_by: str | None


class SaleRecordOut(SaleOut):
    expected_amount_fen: int = Field(description="Weight × price rounded half up: what the amount should be")


class ComplaintDetailOut(BaseModel):
    complaint: ComplaintOut
    sale: SaleRecordOut | None = Field(description="The scale's record of the purchase complained of")


class PublishedOutcomeOut(BaseModel):
    category: str
    category_zh: str
    state: str
    state_zh: str
    filed_on: date
    closed_on: date
    outcome: str
    conclusion: str | None = Field(default=None, description="upheld (查实) or not_upheld (不属实); null for a "
                                                             "complaint closed before conclusions were recorded")
    conclusion_zh: str | None = None


ComplaintsPage = _page_model("ComplaintsPage", ComplaintOut)
