"""How the market API shows the domain's values: each as its response model, and what the public never
sees (no contact, no tester, a personal document's number — a health certificate's, an identity card's — withheld
and its holder's name masked); fen as yuan for people."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from market.complaints import Complaint, ComplaintConclusion, PublishedOutcome
from market.corrections import RecordedCorrection
from market.divisions import Divisions
from market.findings import RecordedFinding
from market.licences import Document, DocumentStatus, LicencePolicy, Offering, RecordedDocument, StaffMember
from market.pricing import PublishedPrice
from market.rapid_tests import quantity_text
from market.scale_delivery import Delivery
from market.service import BatchDetail, ComplaintDetail, PublicTrace, Recall, StallDisplay, StallOverview, TestBoard
from market.stalls import Market
from market.tracing import Batch, Certificate, ForwardTrace, RapidTest, Sale
from market.web.schemas import (
    BatchDetailOut,
    BatchOut,
    BlockOut,
    BoardTestOut,
    CertificateOut,
    ComplaintDetailOut,
    ComplaintFiledOut,
    ComplaintOut,
    ComplaintStatusOut,
    CorrectionOut,
    DeliveryOut,
    DisplayPriceOut,
    DocumentOut,
    DocumentStatusOut,
    FindingOut,
    ForwardTraceOut,
    LaboratoryOut,
    LicencePolicyOut,
    MarketOut,
    PriceOut,
    PublicBatchOut,
    PublicSaleOut,
    PublicTestOut,
    PublishedOutcomeOut,
    RapidTestOut,
    RecallOut,
    SaleOut,
    SaleRecordOut,
    StaffOut,
    StallDisplayOut,
    StallOut,
    TestBoardOut,
    TraceOut,
)


def market_out(market: Market) -> MarketOut:
    return MarketOut(site=market.site, name=market.name, address=market.address,
                     complaint_hotline=market.complaint_hotline, licence_policy=policy_out(market.policy))


def policy_out(policy: LicencePolicy) -> LicencePolicyOut:
    return LicencePolicyOut(health_certificate_every_stall=policy.health_certificate_every_stall,
                            licence_for_farmers=policy.licence_for_farmers)


def document_out(document_id: int, document: Document, recorded: RecordedDocument | None = None) -> DocumentOut:
    return DocumentOut(document_id=document_id, kind=document.kind.value, kind_zh=document.kind.label_zh,
                       number=document.number, valid_from=document.valid_from, valid_to=document.valid_to,
                       holder=document.holder, scope=document.scope,
                       voided_at=recorded.voided_at if recorded else None,
                       voided_by=recorded.voided_by if recorded else None,
                       void_reason=recorded.void_reason if recorded else None,
                       scan_type=recorded.scan.media_type.value if recorded and recorded.scan else None,
                       scan_bytes=recorded.scan.size if recorded and recorded.scan else None)


def recorded_document_out(recorded: RecordedDocument) -> DocumentOut:
    return document_out(recorded.document_id, recorded.document, recorded)


def correction_out(recorded: RecordedCorrection) -> CorrectionOut:
    correction = recorded.correction
    return CorrectionOut(correction_id=recorded.correction_id, kind=correction.kind.value,
                         kind_zh=correction.kind.label_zh, subject=correction.subject, reason=correction.reason,
                         corrected_by=correction.by, corrected_at=correction.at, detail=dict(correction.detail))


def mask_name(name: str) -> str:
    """A person's name as shown to the public: the family name and a star per other character."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def status_out(status: DocumentStatus, public: bool) -> DocumentStatusOut:
    document = status.document
    holder = document.holder if document else None
    return DocumentStatusOut(
        required=status.required.value, required_zh=status.required.label_zh, validity=status.validity.value,
        validity_zh=status.validity.label_zh, days_to_expiry=status.days_to_expiry, warning_days=status.warning_days,
        number=None if document is None or (public and document.kind.personal) else document.number,
        valid_from=document.valid_from if document else None, valid_to=document.valid_to if document else None,
        holder=mask_name(holder) if holder and public else holder,
        person=mask_name(status.person) if status.person and public else status.person,
        basis=status.basis.citation if status.basis else None)


def offerings_zh(offerings: frozenset[Offering]) -> list[str]:
    return [offering.label_zh for offering in Offering if offering in offerings]


def staff_out(member: StaffMember) -> StaffOut:
    return StaffOut(name=member.name, handles_ready_to_eat=member.handles_ready_to_eat)


def stall_out(overview: StallOverview) -> StallOut:
    stall = overview.stall
    return StallOut(stall=stall.stall, name=stall.name, stall_type=stall.stall_type.value,
                    stall_type_zh=stall.stall_type.label_zh,
                    offerings=[o.value for o in Offering if o in stall.offerings],
                    offerings_zh=offerings_zh(stall.offerings), vendor_id=stall.vendor_id,
                    vendor_name=overview.vendor.name if overview.vendor else None,
                    vendor_self_producing=overview.vendor is not None and overview.vendor.self_producing,
                    licences_compliant=overview.licences.compliant,
                    licences=[status_out(s, public=False) for s in overview.licences.required],
                    staff=[staff_out(member) for member in overview.staff],
                    health_certificates=[status_out(s, public=False) for s in overview.licences.health_certificates])


def delivery_out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(cmd_id=delivery.cmd_id, scale_id=delivery.scale, stall=delivery.stall, op=delivery.op,
                       status=delivery.status.value, attempts=delivery.attempts, created_at=delivery.created_at,
                       last_sent_at=delivery.last_sent_at, next_attempt_at=delivery.next_attempt_at,
                       finished_at=delivery.finished_at, error=delivery.error)


def price_out(price: PublishedPrice) -> PriceOut:
    return PriceOut(stall=price.stall, plu=price.plu, product=price.product, unit_price_fen=price.unit_price_fen,
                    effective_from=price.effective_from, published_at=price.published_at,
                    published_by=price.published_by)


def rapid_test_out(test: RapidTest) -> RapidTestOut:
    reading, lab = test.reading, test.laboratory
    return RapidTestOut(
        test_id=test.test_id, item=test.item, item_code=reading.item.value if reading else None, method=test.method,
        method_code=reading.method.value if reading else None, value=test.value,
        measured=quantity_text(reading.value) if reading else None, unit=reading.unit if reading else None,
        cutoff=quantity_text(reading.cutoff) if reading else None, outcome=test.outcome.value,
        outcome_zh=test.outcome.label_zh, result=test.result.value, result_zh=test.result.label_zh,
        verdict_zh=test.verdict_zh, tester=test.tester, tested_at=test.tested_at,
        laboratory=LaboratoryOut(verdict=lab.verdict.value, verdict_zh=lab.verdict.label_zh, laboratory=lab.laboratory,
                                 report_number=lab.report_number, reported_at=lab.reported_at) if lab else None)


def _public_test_out(test: RapidTest) -> PublicTestOut:
    return PublicTestOut(item=test.item, method=test.method, result=test.result.value,
                         result_zh=test.result.label_zh, outcome=test.outcome.value, verdict_zh=test.verdict_zh,
                         value=test.value, tested_at=test.tested_at)


def test_board_out(board: TestBoard) -> TestBoardOut:
    return TestBoardOut(site=board.market.site, market=board.market.name, day=board.day, **board.counts,
                        tests=[board_test_out(line.test, line.batch) for line in board.lines])


def board_test_out(test: RapidTest, batch: Batch) -> BoardTestOut:
    return BoardTestOut(stall=batch.stall, product=batch.product, **_public_test_out(test).model_dump())


def _block_out(batch: Batch) -> BlockOut | None:
    block = batch.block
    if block is None:
        return None
    return BlockOut(blocked_at=block.at, reason=block.reason, cause=block.cause.value, blocked_by=block.by)


def certificate_out(certificate: Certificate) -> CertificateOut:
    return CertificateOut(kind=certificate.kind.value, kind_zh=certificate.kind.label_zh, number=certificate.number)


def batch_out(batch: Batch, divisions: Divisions) -> BatchOut:
    first = batch.certificates[0] if batch.certificates else None
    division = divisions.get(batch.origin_code)
    return BatchOut(batch_id=batch.batch_id, stall=batch.stall, plu=batch.plu, product=batch.product,
                    category=batch.category.value if batch.category else None,
                    category_zh=batch.category.label_zh if batch.category else None,
                    supplier=batch.supplier, supplier_contact=batch.supplier_contact, origin_code=batch.origin_code,
                    origin_name=batch.origin_name, origin_division=division.full_name if division else None,
                    quantity_g=batch.quantity_g, certificates=[certificate_out(c) for c in batch.certificates],
                    certificate_type=first.kind.value if first else "",
                    certificate_number=first.number if first else "", admitted_by_test=batch.admitted_by_test,
                    arrived_at=batch.arrived_at, block=_block_out(batch))


def _public_batch_out(batch: Batch, tests: Sequence[RapidTest]) -> PublicBatchOut:
    first = batch.certificates[0] if batch.certificates else None
    return PublicBatchOut(batch_id=batch.batch_id, product=batch.product, supplier=batch.supplier,
                          origin_code=batch.origin_code, origin_name=batch.origin_name,
                          certificates=[certificate_out(c) for c in batch.certificates],
                          certificate_type=first.kind.value if first else "",
                          certificate_type_zh=first.kind.label_zh if first else "市场快检合格入场",
                          certificate_number=first.number if first else "", arrived_at=batch.arrived_at,
                          recalled=batch.block is not None, recall_reason=batch.block.reason if batch.block else None,
                          tests=[_public_test_out(test) for test in tests])


def _sale_out(sale: Sale) -> SaleOut:
    return SaleOut(trace_code=sale.trace_code, ts=sale.ts, scale_id=sale.scale, stall=sale.stall, plu=sale.plu,
                   product=sale.product, net_g=sale.net_g, unit_price_fen=sale.unit_price_fen,
                   amount_fen=sale.amount_fen)


def trace_out(trace: ForwardTrace, limit: int, offset: int) -> ForwardTraceOut:
    more = offset + len(trace.sales) < trace.sales_count
    return ForwardTraceOut(batch_id=trace.batch.batch_id, blocked=trace.batch.block is not None,
                           received_g=trace.balance.received_g, sold_g=trace.balance.sold_g,
                           oversold_g=trace.balance.oversold_g, sales_count=trace.sales_count,
                           first_sale_at=trace.first_sale_at, last_sale_at=trace.last_sale_at,
                           sales=[_sale_out(sale) for sale in trace.sales], limit=limit, offset=offset,
                           next_offset=offset + len(trace.sales) if more else None)


def recall_out(recall: Recall) -> RecallOut:
    block = _block_out(recall.trace.batch)
    assert block is not None
    return RecallOut(batch_id=recall.trace.batch.batch_id, block=block,
                     deliveries=[delivery_out(d) for d in recall.deliveries],
                     trace=trace_out(recall.trace, len(recall.trace.sales) or 1, 0))


def finding_out(recorded: RecordedFinding) -> FindingOut:
    finding = recorded.finding
    return FindingOut(finding_id=recorded.finding_id, kind=finding.kind.value, kind_zh=finding.kind.label_zh,
                      stall=finding.stall, at=finding.at, detail=dict(finding.detail), raised_at=recorded.raised_at,
                      resolved_at=recorded.resolved_at, resolved_by=recorded.resolved_by,
                      resolution=recorded.resolution)


def detail_out(detail: BatchDetail, divisions: Divisions) -> BatchDetailOut:
    balance = detail.balance
    return BatchDetailOut(batch=batch_out(detail.batch, divisions), tests=[rapid_test_out(t) for t in detail.tests],
                          received_g=balance.received_g, sold_g=balance.sold_g, remaining_g=balance.remaining_g,
                          oversold_g=balance.oversold_g, sales_count=detail.sales_count,
                          first_sale_at=detail.first_sale_at, last_sale_at=detail.last_sale_at)


def public_trace_out(found: PublicTrace) -> TraceOut:
    sale = found.sale
    return TraceOut(
        market=found.market.name if found.market else None,
        sale=PublicSaleOut(trace_code=sale.trace_code, ts=sale.ts, stall=sale.stall,
                           stall_name=found.stall_name, vendor_name=found.vendor_name,
                           plu=sale.plu, product=sale.product, net_g=sale.net_g, unit_price_fen=sale.unit_price_fen,
                           amount_fen=sale.amount_fen),
        batch=_public_batch_out(found.batch, found.tests) if found.batch else None)


def display_out(display: StallDisplay, public_url: str) -> StallDisplayOut:
    stall, vendor, licences = display.stall, display.vendor, display.licences
    return StallDisplayOut(
        site=display.market.site, market=display.market.name, stall=stall.stall, stall_name=stall.name,
        stall_type=stall.stall_type.value, stall_type_zh=stall.stall_type.label_zh,
        offerings_zh=offerings_zh(stall.offerings),
        vendor_name=vendor.name if vendor else None, vendor_photo_ref=vendor.photo_ref if vendor else None,
        licences_compliant=licences.compliant, licences=[status_out(s, public=True) for s in licences.required],
        health_certificates=[status_out(s, public=True) for s in licences.health_certificates],
        prices=[DisplayPriceOut(plu=p.plu, product=p.product, unit_price_fen=p.unit_price_fen,
                                effective_from=p.effective_from) for p in display.prices],
        batches=[_public_batch_out(b.batch, b.tests) for b in display.batches],
        recent_tests=[board_test_out(test, batch) for test, batch in display.recent_tests],
        complaint_outcomes=[outcome_out(o) for o in display.complaint_outcomes],
        complaint_hotline=display.market.complaint_hotline, public_url=public_url, day=display.day)


def yuan(fen: int) -> str:
    """Fen as yuan for people: 680 → "6.80"; exact, no float."""
    return f"{fen // 100}.{fen % 100:02d}"


def outcome_out(outcome: PublishedOutcome) -> PublishedOutcomeOut:
    return PublishedOutcomeOut(category=outcome.category.value, category_zh=outcome.category.label_zh,
                               state=outcome.state.value, state_zh=outcome.state.label_zh,
                               filed_on=outcome.filed_on, closed_on=outcome.closed_on, outcome=outcome.outcome,
                               **_conclusion_fields(outcome.conclusion))


def complaint_filed_out(complaint: Complaint) -> ComplaintFiledOut:
    return ComplaintFiledOut(**_complaint_fields(complaint))


def complaint_status_out(complaint: Complaint) -> ComplaintStatusOut:
    return ComplaintStatusOut(**_complaint_fields(complaint), outcome=complaint.outcome,
                              closed_at=complaint.closed_at, **_conclusion_fields(complaint.conclusion))


def _conclusion_fields(conclusion: ComplaintConclusion | None) -> dict[str, str | None]:
    return {"conclusion": conclusion.value if conclusion else None,
            "conclusion_zh": conclusion.label_zh if conclusion else None}


def complaint_out(complaint: Complaint, now: datetime) -> ComplaintOut:
    assert complaint.complaint_id is not None
    photo = complaint.photo
    return ComplaintOut(**_complaint_fields(complaint), outcome=complaint.outcome, closed_at=complaint.closed_at,
                        **_conclusion_fields(complaint.conclusion),
                        complaint_id=complaint.complaint_id, trace_code=complaint.trace_code, text=complaint.text,
                        photo_type=photo.media_type.value if photo else None, photo_bytes=photo.size if photo else None,
                        overdue=complaint.overdue(now), handled_by=complaint.handled_by)


def complaint_detail_out(detail: ComplaintDetail, now: datetime) -> ComplaintDetailOut:
    sale = detail.sale
    return ComplaintDetailOut(complaint=complaint_out(detail.complaint, now), sale=SaleRecordOut(
        **_sale_out(sale).model_dump(), expected_amount_fen=expected_amount_fen(sale)) if sale else None)


def expected_amount_fen(sale: Sale) -> int:
    """What weight × price comes to, rounded half up to the fen (the scales' rule)."""
    return (sale.net_g * sale.unit_price_fen + 500) // 1000


def _complaint_fields(complaint: Complaint) -> dict[str, Any]:
    return {"reference": complaint.reference, "stall": complaint.stall, "category": complaint.category.value,
            "category_zh": complaint.category.label_zh, "state": complaint.state.value,
            "state_zh": complaint.state.label_zh, "filed_at": complaint.filed_at, "deadline": complaint.deadline}
