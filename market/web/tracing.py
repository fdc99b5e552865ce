"""The market API's tracing: batches received, their rapid tests, recall and release, a received
quantity corrected, the operators' corrections, the forward trace and the EPCIS export; and the public
trace lookup a receipt's code opens, rate-limited per client address (shared with the pages)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aiohttp import web

from market.corrections import CorrectionKind
from market.market_time import market_day
from market.rapid_tests import LaboratoryResult, TypedTest
from market.rate_limit import TokenBuckets
from market.service import MarketSettings, Release
from market.tracing import Batch, Certificate
from market.web.handling import (
    SERVICE,
    built,
    calling,
    divisions_of,
    json_of,
    now_of,
    paged,
    paging,
    public_base,
    query_choice,
    read_body,
    site_of,
    subject_of,
)
from market.web.presenting import (
    batch_out,
    correction_out,
    delivery_out,
    detail_out,
    public_trace_out,
    rapid_test_out,
    recall_out,
    test_board_out,
    trace_out,
)
from market.web.schemas import (
    BatchesPage,
    BatchIn,
    CorrectionsPage,
    LaboratoryIn,
    LaboratoryOutcomeOut,
    QuantityIn,
    RapidTestIn,
    RecallIn,
    RecordedTestOut,
    ReleaseIn,
    ReleaseOut,
)
from webkit.client_address import client_address
from webkit.json_errors import json_error

TRACE_BUCKETS = web.AppKey("market_trace_buckets", TokenBuckets)


async def receive_batch(request: web.Request) -> web.Response:
    """A batch with its certificates; its origin's name, when none is sent, the division's in the GB/T 2260 list.
    Each field the rules refuse (an origin that is no division, a certificate that does not fit the product) is
    named in the 422's details; nothing is recorded then."""
    data: BatchIn = await read_body(request, BatchIn)
    divisions = divisions_of(request)
    division = divisions.get(data.origin_code)
    origin_name = data.origin_name or (division.full_name if division else data.origin_code)
    certificates = tuple(Certificate(c.kind, c.number) for c in data.all_certificates)
    # none: farm produce entering on the market's tests, if the rules let it (the service decides)
    batch = built(lambda: Batch(data.batch_id, data.stall, data.plu, data.product, data.supplier, data.origin_code,
                                origin_name, data.quantity_g, certificates, data.arrived_at, data.supplier_contact,
                                category=data.category, admitted_by_test=not certificates))
    tests = [typed_test(data.batch_id, test) for test in data.tests]
    received = await calling(request.app[SERVICE].receive_batch(site_of(request), batch, subject_of(request),
                                                                now_of(request), tests))
    return json_of(batch_out(received, divisions), 201)


def typed_test(batch_id: str, data: RapidTestIn) -> TypedTest:
    return TypedTest(batch_id, data.item.value, data.method.value if data.method else None, data.value, data.unit,
                     data.tester, data.tested_at, data.seller_accepts)


async def list_batches(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    found = await calling(request.app[SERVICE].batches(site_of(request), request.query.get("stall"), limit + 1,
                                                       offset))
    return paged(BatchesPage, [batch_out(b, divisions_of(request)) for b in found], limit, offset)


async def get_batch(request: web.Request) -> web.Response:
    detail = await calling(request.app[SERVICE].batch_detail(site_of(request), request.match_info["batch_id"]))
    return json_of(detail_out(detail, divisions_of(request)))


async def record_test(request: web.Request) -> web.Response:
    data: RapidTestIn = await read_body(request, RapidTestIn)
    test = typed_test(request.match_info["batch_id"], data)
    recorded = await calling(request.app[SERVICE].record_test(site_of(request), test, subject_of(request),
                                                              now_of(request)))
    return json_of(RecordedTestOut(test=rapid_test_out(recorded.test),
                                   recall=recall_out(recorded.recall) if recorded.recall else None), 201)


async def record_laboratory(request: web.Request) -> web.Response:
    """The laboratory's result on a suspected positive."""
    data: LaboratoryIn = await read_body(request, LaboratoryIn)
    test_id = request.match_info["test_id"]
    if not test_id.isdigit() or len(test_id) > 12:
        raise json_error(web.HTTPNotFound, f"no rapid test {test_id!r}")
    outcome = await calling(request.app[SERVICE].record_laboratory(
        site_of(request), request.match_info["batch_id"], int(test_id),
        LaboratoryResult(data.verdict, data.laboratory, data.report_number, data.reported_at, subject_of(request)),
        now_of(request)))
    return json_of(LaboratoryOutcomeOut(test=rapid_test_out(outcome.test),
                                        batch=batch_out(outcome.batch, divisions_of(request)),
                                        deliveries=[delivery_out(d) for d in outcome.deliveries]))


async def test_board(request: web.Request) -> web.Response:
    """The market's tests of a day (public: 农残检测公示): ``?day=YYYY-MM-DD``, today by default, at most 31 days
    back."""
    day = board_day(request.query.get("day"), now_of(request))
    if day is None:
        raise json_error(web.HTTPBadRequest, f"day: a date (YYYY-MM-DD) of the last {BOARD_DAYS} days")
    board = await calling(request.app[SERVICE].test_board(site_of(request), day))
    return json_of(test_board_out(board))


BOARD_DAYS = 31


def board_day(typed: str | None, now: datetime) -> date | None:
    """The market day a board is asked for: today when none is given; None when it is no date of the last
    :data:`BOARD_DAYS` days."""
    today = market_day(now)
    if typed is None or not typed.strip():
        return today
    try:
        day = date.fromisoformat(typed.strip()[:10])
    except ValueError:
        return None
    return day if today - timedelta(days=BOARD_DAYS) <= day <= today else None


async def recall_batch(request: web.Request) -> web.Response:
    data: RecallIn = await read_body(request, RecallIn)
    recall = await calling(request.app[SERVICE].recall(site_of(request), request.match_info["batch_id"], data.reason,
                                                       subject_of(request), now_of(request)))
    return json_of(recall_out(recall), 201)


async def release_batch(request: web.Request) -> web.Response:
    data: ReleaseIn = await read_body(request, ReleaseIn)
    release: Release = await calling(request.app[SERVICE].release(
        site_of(request), request.match_info["batch_id"], data.reason, subject_of(request), now_of(request)))
    return json_of(ReleaseOut(batch=batch_out(release.batch, divisions_of(request)),
                              deliveries=[delivery_out(d) for d in release.deliveries],
                              correction=correction_out(release.correction)))


async def correct_quantity(request: web.Request) -> web.Response:
    data: QuantityIn = await read_body(request, QuantityIn)
    detail = await calling(request.app[SERVICE].correct_quantity(
        site_of(request), request.match_info["batch_id"], data.quantity_g, data.reason, subject_of(request),
        now_of(request)))
    return json_of(detail_out(detail, divisions_of(request)))


async def list_corrections(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    kind = query_choice(request, "kind", CorrectionKind)
    subject = request.query.get("subject")
    if subject is not None and not 1 <= len(subject) <= 64:
        raise json_error(web.HTTPBadRequest, "subject: a batch id or a document id, at most 64 characters")
    found = await calling(request.app[SERVICE].corrections(site_of(request), [kind] if kind else None, subject,
                                                           limit + 1, offset))
    return paged(CorrectionsPage, [correction_out(c) for c in found], limit, offset)


async def batch_sales(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    trace = await calling(request.app[SERVICE].forward_trace(site_of(request), request.match_info["batch_id"], limit,
                                                             offset))
    return json_of(trace_out(trace, limit, offset))


async def batch_epcis(request: web.Request) -> web.Response:
    site = site_of(request)
    document = await calling(request.app[SERVICE].batch_epcis(site, request.match_info["batch_id"],
                                                              f"{public_base(request)}/market/{site}",
                                                              now_of(request)))
    return web.json_response(document, content_type="application/ld+json")


def trace_client(request: web.Request, settings: MarketSettings) -> str:
    """Whose lookup this is, for the rate limit: the peer, or behind a trusted proxy the client it names."""
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                          settings.trusted_proxy_networks)


async def trace_lookup(request: web.Request) -> web.Response:
    client = trace_client(request, request.app[SERVICE].settings)
    wait = request.config_dict[TRACE_BUCKETS].take(client, now_of(request))
    if wait:
        raise json_error(web.HTTPTooManyRequests, "too many lookups from this address; try again later",
                         headers={"Retry-After": str(wait)}, retry_after_s=wait)
    code = request.match_info["trace_code"]
    if len(code) > 64 or not code.isprintable():
        raise json_error(web.HTTPBadRequest, "a trace code has at most 64 printable characters")
    found = await request.app[SERVICE].trace(site_of(request), code)
    if found is None:
        raise json_error(web.HTTPNotFound, "no sale with this trace code")
    return json_of(public_trace_out(found))
