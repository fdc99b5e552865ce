"""The market API's route table, which is also its OpenAPI document, and ``mount``: each route with its
request and response bodies, the roles it needs (none: public) and the errors it may answer. Every route that
needs a role and names a market answers 404 for a market outside the caller's scope, as for none
(:mod:`market.web.scope`); the supervisor has the GET routes' roles, never a write's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import jinja2
from aiohttp import web

from market.rate_limit import TokenBuckets
from market.service import MarketService
from market.web.complaints import (
    COMPLAINT_BUCKETS,
    act_on_complaint,
    complaint_photo,
    complaint_status,
    file_complaint,
    get_complaint,
    list_complaints,
)
from market.web.credit import WINDOW_DAYS, CreditOut, vendor_credit
from market.web.directory import (
    add_document,
    add_stall,
    add_vendor,
    change_stall,
    create_market,
    get_market,
    licence_problems,
    list_markets,
    list_scales,
    list_stalls,
    list_vendors,
    register_scale,
    set_farmer,
    set_licence_policy,
    set_staff,
    void_document,
)
from market.web.district import mount_district_api
from market.web.findings import list_findings, resolve_finding
from market.web.handling import SERVICE
from market.web.prices import list_deliveries, price_board, price_history, publish_prices, stall_prices
from market.web.scans import get_scan, upload_scan
from market.web.schemas import (
    BatchDetailOut,
    BatchesPage,
    BatchIn,
    BatchOut,
    BoardOut,
    ComplaintActionIn,
    ComplaintDetailOut,
    ComplaintFiledOut,
    ComplaintIn,
    ComplaintOut,
    ComplaintsPage,
    ComplaintStatusOut,
    CorrectionsPage,
    DeliveriesPage,
    DocumentIn,
    DocumentOut,
    FarmerIn,
    FindingOut,
    FindingsPage,
    ForwardTraceOut,
    LaboratoryIn,
    LaboratoryOutcomeOut,
    LicencePolicyIn,
    LicenceProblemsPage,
    MarketIn,
    MarketOut,
    MarketsPage,
    PriceHistoryOut,
    PricesIn,
    PricesPage,
    PublicationOut,
    QuantityIn,
    RapidTestIn,
    RecallIn,
    RecallOut,
    RecordedTestOut,
    ReleaseIn,
    ReleaseOut,
    ResolutionIn,
    ScaleIn,
    ScaleOut,
    ScalesPage,
    StaffRosterIn,
    StallChangeIn,
    StallDisplayOut,
    StallIn,
    StallOut,
    StallsPage,
    TestBoardOut,
    TraceOut,
    VendorIn,
    VendorOut,
    VendorsPage,
    VoidIn,
)
from market.web.scope import OPERATORS, READERS, scoped_routes
from market.web.stall_screen import PAGES, TEMPLATE_DIR, stall_display, stall_page, stall_screen
from market.web.tracing import (
    TRACE_BUCKETS,
    batch_epcis,
    batch_sales,
    correct_quantity,
    get_batch,
    list_batches,
    list_corrections,
    recall_batch,
    receive_batch,
    record_laboratory,
    record_test,
    release_batch,
    test_board,
    trace_lookup,
)
from webkit.auth import serve_tokens
from webkit.context_app import ContextApp
from webkit.identity import TokenAuthority
from webkit.openapi import LIMIT, OFFSET, QueryParam, Route, add_routes

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
COMPLAINT_STATE = QueryParam("state", description="received, handling, resolved or rejected")
DAY = QueryParam("day", description="A market day (YYYY-MM-DD) of the last 31 days; default today")
ROUTES = scoped_routes([
    Route("POST", "/api/markets", create_market, "Create a market (its site id is its devices' topic site): an "
          "administrator, or an operator the site id is assigned to already (else 403)",
          MarketIn, MarketOut, 201, OPERATORS, (400, 409, 422)),
    Route("GET", "/api/markets", list_markets, "The caller's markets", None, MarketsPage, 200, READERS,
          (400,), query=PAGE),
    Route("GET", ST, get_market, "A market, with what it asks of its stalls beyond the law", None, MarketOut, 200,
          READERS, (404,)),
    Route("PUT", ST + "/licence-policy", set_licence_policy,
          "Change what the market asks of its stalls beyond the law (health certificates at every stall, a licence "
          "of farmers too), saying why (audited; 422 when nothing changes)", LicencePolicyIn, MarketOut, 200,
          OPERATORS, (400, 404, 422)),
    Route("POST", ST + "/vendors", add_vendor, "Add a vendor (contact kept private)", VendorIn, VendorOut, 201,
          OPERATORS, (400, 404, 409)),
    Route("PUT", ST + "/vendors/{vendor_id}/farmer", set_farmer,
          "Mark a vendor a farmer selling their own produce (自产自销: no business licence at a stall selling only "
          "farm produce; a resident identity card or a village committee's certificate instead), or no longer one",
          FarmerIn, VendorOut, 200, OPERATORS, (400, 404)),
    Route("GET", ST + "/vendors", list_vendors, "Vendors with their documents", None,
          VendorsPage, 200, READERS, (400, 404), query=PAGE),
    Route("GET", ST + "/vendors/{vendor_id}/credit", vendor_credit,
          "The vendor's credit rating (信用评价): a score 0–100 from their licences, findings, rapid tests, upheld "
          "complaints and recalls over the window, the grade (A 诚信经营 … D 失信经营) and every deduction with its "
          "reason and the fact it came from", None, CreditOut, 200, READERS, (400, 404), query=(WINDOW_DAYS,)),
    Route("POST", ST + "/vendors/{vendor_id}/documents", add_document,
          "Record a vendor's licence, permit, filing or health certificate", DocumentIn, DocumentOut, 201, OPERATORS,
          (400, 404, 422)),
    Route("POST", ST + "/vendors/{vendor_id}/documents/{document_id}/void", void_document,
          "Void a mistyped document: it no longer counts, and stays listed as voided (audited)", VoidIn,
          DocumentOut, 200, OPERATORS, (400, 404, 409, 422)),
    Route("POST", ST + "/vendors/{vendor_id}/documents/{document_id}/scan", upload_scan,
          "Keep the document's scan or photo: the request body is the file itself, a JPEG, PNG or PDF by its content "
          "(whatever the Content-Type says), at most SC_MARKET_MAX_SCAN_BYTES (413 beyond, 415 another type, 422 "
          "empty); it replaces the one kept before. A voided document takes none (409)", None, DocumentOut, 200,
          OPERATORS, (404, 409, 413, 415, 422)),
    Route("GET", ST + "/vendors/{vendor_id}/documents/{document_id}/scan", get_scan,
          "The document's scan (image/jpeg, image/png or application/pdf) as a download, never cached; 404 when none "
          "is kept", None, None, 200, READERS, (404,)),
    Route("POST", ST + "/stalls", add_stall, "Add a stall", StallIn, StallOut, 201, OPERATORS, (400, 404, 409, 422)),
    Route("GET", ST + "/stalls", list_stalls, "Stalls with their licence status", None,
          StallsPage, 200, READERS, (400, 404), query=PAGE),
    Route("PUT", ST + "/stalls/{stall}", change_stall, "Change a stall's name, type, what it sells or its vendor",
          StallChangeIn, StallOut, 200, OPERATORS, (400, 404, 422)),
    Route("PUT", ST + "/stalls/{stall}/staff", set_staff,
          "The stall's staff roster, whole: each person and whether they handle ready-to-eat food (then a health "
          "certificate naming them is required)", StaffRosterIn, StallOut, 200, OPERATORS, (400, 404, 422)),
    Route("POST", ST + "/scales", register_scale, "Register a scale at a stall; it is sent the stall's prices",
          ScaleIn, ScaleOut, 201, OPERATORS, (400, 404, 422)),
    Route("GET", ST + "/scales", list_scales, "Scales, their availability and last price push",
          None, ScalesPage, 200, READERS, (400, 404), query=PAGE),
    Route("GET", ST + "/licences/problems", licence_problems,
          "Missing, expired and expiring documents (30/7/0 days), most urgent first", None,
          LicenceProblemsPage, 200, READERS, (400, 404), query=PAGE),
    Route("POST", ST + "/stalls/{stall}/prices", publish_prices,
          "Publish a stall's prices and push them to its scales (set_prices)", PricesIn, PublicationOut, 201,
          OPERATORS, (400, 404, 422)),
    Route("GET", ST + "/stalls/{stall}/prices", stall_prices, "A stall's published prices, newest first",
          None, PricesPage, 200, READERS, (400, 404), query=(PLU, *PAGE)),
    Route("GET", ST + "/deliveries", list_deliveries, "Commands to scales and their acks", None, DeliveriesPage, 200,
          READERS, (400, 404), query=(DELIVERY_STATUS, SCALE, *PAGE)),
    Route("GET", ST + "/prices/board", price_board, "Today's prices across the market: min/avg/max per product",
          None, BoardOut, 200, None, (404,)),
    Route("GET", ST + "/prices/history", price_history, "Daily min/avg/max price paid per product, from the "
          "time series", None, PriceHistoryOut, 200, None, (400, 404, 422, 503), query=(PLU, DAYS)),
    Route("POST", ST + "/batches", receive_batch,
          "Record an incoming batch with its certificates; refused (422, each field named) when its origin is no "
          "GB/T 2260 division or its certificates do not fit its product (pork: quarantine and meat quality; produce: "
          "a commitment certificate or a test report...). With `tests`, the day's rapid tests: produce without a "
          "certificate enters on them when all are negative; a batch with its certificates is received and a test "
          "that is not negative stops it (a suspected positive holds it for the laboratory)",
          BatchIn, BatchOut, 201, OPERATORS, (400, 404, 409, 422)),
    Route("GET", ST + "/batches", list_batches, "Batches, newest first", None,
          BatchesPage, 200, READERS, (400, 404), query=(STALL, *PAGE)),
    Route("GET", ST + "/batches/{batch_id}", get_batch, "A batch with its tests and mass balance", None,
          BatchDetailOut, 200, READERS, (404,)),
    Route("POST", ST + "/batches/{batch_id}/tests", record_test,
          "Record a rapid test of a standard item of the batch's category (value, unit, judged by the item's "
          "cutoff); a positive recalls the batch, a suspected positive holds it for the laboratory; an item that "
          "does not fit the product, a value without its unit or out of range: 422 naming the field",
          RapidTestIn, RecordedTestOut, 201, OPERATORS, (400, 404, 422)),
    Route("POST", ST + "/batches/{batch_id}/tests/{test_id}/laboratory", record_laboratory,
          "The laboratory's result on a suspected positive: pass lets the batch go again (unblock_batch, audited) "
          "unless something else stands; fail keeps it stopped, recalled. 409 for a test that is no suspected "
          "positive or has its result", LaboratoryIn, LaboratoryOutcomeOut, 200, OPERATORS,
          (400, 404, 409, 422)),
    Route("GET", ST + "/tests/board", test_board,
          "The market's rapid tests of a day, public (农残检测公示): item, outcome, stall, product", None,
          TestBoardOut, 200, None, (400, 404), query=(DAY,)),
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
          None, CorrectionsPage, 200, READERS, (400, 404), query=(CORRECTION_KIND, SUBJECT, *PAGE)),
    Route("GET", ST + "/batches/{batch_id}/sales", batch_sales, "Forward trace: every sale of a batch", None,
          ForwardTraceOut, 200, READERS, (400, 404), query=PAGE),
    Route("GET", ST + "/batches/{batch_id}/epcis", batch_epcis,
          "The batch's history as a GS1 EPCIS 2.0 JSON-LD document (application/ld+json)", None, None, 200,
          READERS, (404, 422)),
    Route("GET", ST + "/trace/{trace_code}", trace_lookup, "What a receipt's trace code leads to (rate-limited)",
          None, TraceOut, 200, None, (400, 404, 429)),
    Route("GET", ST + "/findings", list_findings, "Findings for the operator", None, FindingsPage, 200, READERS,
          (400, 404), query=(FINDING_KIND, STALL, OPEN_ONLY, *PAGE)),
    Route("POST", ST + "/findings/{finding_id}/resolve", resolve_finding, "Resolve a finding, saying how",
          ResolutionIn, FindingOut, 200, OPERATORS, (400, 404, 409)),
    Route("POST", ST + "/complaints", file_complaint,
          "A shopper's complaint (public, rate-limited per client address: 429 with Retry-After): about a purchase "
          "(trace_code) or a stall, a category and a text, and a photo if any (`photo`: the JPEG or PNG file in "
          "base64, checked by its content; over the market's limit 413, another type 415, not base64 400); answers "
          "the reference to follow it by. Each field refused is named in a 422 (no purchase with that trace code, "
          "no such stall, a text under 5 or over 1000 characters); nothing is kept then, not even the photo",
          ComplaintIn, ComplaintFiledOut, 201, None, (400, 404, 413, 415, 422, 429)),
    Route("GET", ST + "/complaint-status/{reference}", complaint_status,
          "A complaint's state by the complainant's reference (public, rate-limited): state, deadline, and once "
          "closed the outcome", None, ComplaintStatusOut, 200, None, (404, 429)),
    Route("GET", ST + "/complaints", list_complaints, "Complaints, the earliest deadline first", None,
          ComplaintsPage, 200, READERS, (400, 404), query=(COMPLAINT_STATE, *PAGE)),
    Route("GET", ST + "/complaints/{complaint_id}", get_complaint,
          "A complaint, with the scale's record of the purchase it names (weight, price, amount, the amount they "
          "make)", None, ComplaintDetailOut, 200, READERS, (404,)),
    Route("POST", ST + "/complaints/{complaint_id}/state", act_on_complaint,
          "Move a complaint on: start handling it, or resolve or reject it with the outcome to publish (409 when "
          "closed already, 422 without an outcome)", ComplaintActionIn, ComplaintOut, 200, OPERATORS,
          (400, 404, 409, 422)),
    Route("GET", ST + "/complaints/{complaint_id}/photo", complaint_photo,
          "The complaint's photo (image/jpeg or image/png) as a download, never cached; 404 when none", None, None,
          200, READERS, (404,)),
    Route("GET", ST + "/stalls/{stall}/display", stall_display,
          "What the stall shows: vendor, licences, today's prices, current batches and tests", None,
          StallDisplayOut, 200, None, (404,)),
    Route("GET", "/market/{site}/stalls/{stall}/screen", stall_screen,
          "The stall screen (HTML, 1280×800, refreshes itself)", None, None, 200, None, (404,)),
    Route("GET", "/market/{site}/stalls/{stall}", stall_page, "The stall's public page (HTML), the QR code's target",
          None, None, 200, None, (404,)),
])


API_PREFIX = "/api/markets"
SITE_PREFIX = "/market"


def market_contexts(app: web.Application, service: MarketService, authority: TokenAuthority,
                    now: Callable[[], datetime]) -> tuple[ContextApp, ContextApp]:
    """The market's two sub-applications of ``app`` with the API's routes on them, not yet attached: the API at
    /api/markets, and the one at /market with the public stall pages, which the operator's pages join
    (:func:`market.pages.mount_market_pages`) before it is attached — aiohttp takes no route on a sub-application
    once it is added."""
    serve_tokens(app, authority, now)
    # on the root: the API's and the pages' trace lookups share one limit per client address
    app[TRACE_BUCKETS] = TokenBuckets(service.settings.trace_rate)
    app[COMPLAINT_BUCKETS] = TokenBuckets(service.settings.complaint_rate)
    api, site = ContextApp(API_PREFIX), ContextApp(SITE_PREFIX)
    api.app[SERVICE] = site.app[SERVICE] = service
    site.app[PAGES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    add_routes(app, ROUTES, context=(api, site))
    mount_district_api(app, service)  # its own sub-application: /api/markets/{site} would take "district"
    return api, site


def mount(app: web.Application, service: MarketService, authority: TokenAuthority,
          now: Callable[[], datetime]) -> None:
    """Serve the market API and its public stall pages from the market's sub-applications of ``app``, described in
    ``app``'s /openapi.json (with the operator's pages too: :func:`market.pages.mount_market_pages` instead)."""
    for context in market_contexts(app, service, authority, now):
        context.attach(app)


def create_app(service: MarketService, authority: TokenAuthority, now: Callable[[], datetime]) -> web.Application:
    app = web.Application()
    mount(app, service, authority, now)
    return app

