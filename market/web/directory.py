"""The market API's directory: markets (and their own licence policy), vendors (a farmer selling their own produce
marked) and their documents (recorded, voided), stalls (what each sells, who works there), the scales registered at
them, and the licence problems an operator must look into."""

from __future__ import annotations

from aiohttp import web

from market.licences import Document, LicencePolicy, RecordedDocument, StaffMember
from market.service import StallOverview
from market.stalls import Market, Stall, Vendor
from market.web.handling import (
    SERVICE,
    built,
    calling,
    json_of,
    now_of,
    paged,
    paging,
    read_body,
    site_of,
    subject_of,
)
from market.web.presenting import (
    delivery_out,
    document_out,
    market_out,
    recorded_document_out,
    stall_out,
    status_out,
)
from market.web.schemas import (
    DocumentIn,
    FarmerIn,
    LicencePolicyIn,
    LicenceProblemOut,
    LicenceProblemsPage,
    MarketIn,
    MarketsPage,
    ScaleIn,
    ScaleOut,
    ScalesPage,
    StaffRosterIn,
    StallChangeIn,
    StallIn,
    StallsPage,
    VendorIn,
    VendorOut,
    VendorsPage,
    VoidIn,
)
from market.web.scope import sees_contacts, sites_in_scope
from webkit.auth import PRINCIPAL
from webkit.json_errors import json_error


async def create_market(request: web.Request) -> web.Response:
    """An administrator creates any market; an operator one whose site id an administrator has assigned to
    them (and their organisation) first. The id is new, so refusing with 403 tells nothing of other markets;
    one that exists within the caller's scope is 409, as before."""
    data: MarketIn = await read_body(request, MarketIn)
    if not request[PRINCIPAL].has_market(data.site):
        raise json_error(web.HTTPForbidden, f"market {data.site!r} is not assigned to you: an administrator assigns "
                                            "its site id to your organisation and your account first")
    market = built(lambda: Market(data.site, data.name, data.address, data.complaint_hotline))
    await calling(request.app[SERVICE].create_market(market, now_of(request)))
    return json_of(market_out(market), 201)


async def list_markets(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    found = await request.app[SERVICE].markets(limit + 1, offset, sites_in_scope(request[PRINCIPAL]))
    return paged(MarketsPage, [market_out(m) for m in found], limit, offset)


async def get_market(request: web.Request) -> web.Response:
    return json_of(market_out(await calling(request.app[SERVICE].market(site_of(request)))))


async def set_licence_policy(request: web.Request) -> web.Response:
    """What the market asks of its stalls beyond the law; the change is an audit entry with its reason."""
    data: LicencePolicyIn = await read_body(request, LicencePolicyIn)
    policy = LicencePolicy(data.health_certificate_every_stall, data.licence_for_farmers)
    market = await calling(request.app[SERVICE].set_licence_policy(site_of(request), policy, data.reason,
                                                                   subject_of(request), now_of(request)))
    return json_of(market_out(market))


async def add_vendor(request: web.Request) -> web.Response:
    data: VendorIn = await read_body(request, VendorIn)
    vendor = Vendor(data.vendor_id, data.name, data.photo_ref, data.contact_phone, data.self_producing)
    await calling(request.app[SERVICE].add_vendor(site_of(request), vendor, now_of(request)))
    return json_of(_vendor_out(vendor, [], contacts=True), 201)


def _vendor_out(vendor: Vendor, documents: list[RecordedDocument], contacts: bool) -> VendorOut:
    return VendorOut(vendor_id=vendor.vendor_id, name=vendor.name, photo_ref=vendor.photo_ref,
                     contact_phone=vendor.contact_phone if contacts else None, self_producing=vendor.self_producing,
                     documents=[recorded_document_out(d) for d in documents])


async def list_vendors(request: web.Request) -> web.Response:
    """Vendors with their documents; the contact phone to operators only (a supervisor is shown null)."""
    limit, offset = paging(request)
    found = await calling(request.app[SERVICE].vendors(site_of(request), limit + 1, offset))
    contacts = sees_contacts(request[PRINCIPAL])
    return paged(VendorsPage, [_vendor_out(v, docs, contacts) for v, docs in found], limit, offset)


async def set_farmer(request: web.Request) -> web.Response:
    """Mark a vendor a farmer selling their own produce (自产自销), or no longer one."""
    data: FarmerIn = await read_body(request, FarmerIn)
    service = request.app[SERVICE]
    site, vendor_id = site_of(request), request.match_info["vendor_id"]
    vendor = await calling(service.set_self_producing(site, vendor_id, data.self_producing))
    return json_of(_vendor_out(vendor, await calling(service.vendor_documents(site, vendor_id)), contacts=True))


async def add_document(request: web.Request) -> web.Response:
    data: DocumentIn = await read_body(request, DocumentIn)
    document = built(lambda: Document(data.kind, data.number, data.valid_from, data.valid_to, data.holder,
                                      data.scope))
    document_id = await calling(request.app[SERVICE].add_document(site_of(request), request.match_info["vendor_id"],
                                                                  document, subject_of(request), now_of(request)))
    return json_of(document_out(document_id, document), 201)


async def void_document(request: web.Request) -> web.Response:
    data: VoidIn = await read_body(request, VoidIn)
    raw = request.match_info["document_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise json_error(web.HTTPNotFound, f"no document {raw!r}")
    voided = await calling(request.app[SERVICE].void_document(site_of(request), request.match_info["vendor_id"],
                                                              int(raw), data.reason, subject_of(request),
                                                              now_of(request)))
    return json_of(recorded_document_out(voided))


async def add_stall(request: web.Request) -> web.Response:
    data: StallIn = await read_body(request, StallIn)
    stall = built(lambda: Stall(data.stall, data.name, data.stall_type, data.vendor_id,
                                frozenset(data.offerings or ())))
    await calling(request.app[SERVICE].add_stall(site_of(request), stall, now_of(request)))
    return json_of(stall_out(await _stall_overview(request, stall.stall)), 201)


async def change_stall(request: web.Request) -> web.Response:
    data: StallChangeIn = await read_body(request, StallChangeIn)
    stall = built(lambda: Stall(request.match_info["stall"], data.name, data.stall_type, data.vendor_id,
                                frozenset(data.offerings or ())))
    await calling(request.app[SERVICE].update_stall(site_of(request), stall, now_of(request)))
    return json_of(stall_out(await _stall_overview(request, stall.stall)))


async def set_staff(request: web.Request) -> web.Response:
    """The stall's roster, whole: who works there and who of them handles ready-to-eat food."""
    data: StaffRosterIn = await read_body(request, StaffRosterIn)
    staff = built(lambda: [StaffMember(member.name, member.handles_ready_to_eat) for member in data.staff])
    code = request.match_info["stall"]
    await calling(request.app[SERVICE].set_staff(site_of(request), code, staff, subject_of(request),
                                                 now_of(request)))
    return json_of(stall_out(await _stall_overview(request, code)))


async def _stall_overview(request: web.Request, code: str) -> StallOverview:
    display = await calling(request.app[SERVICE].stall_display(site_of(request), code, now_of(request)))
    return StallOverview(display.stall, display.vendor, display.licences, display.staff)


async def list_stalls(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    found = await calling(request.app[SERVICE].stalls(site_of(request), now_of(request), limit + 1, offset))
    return paged(StallsPage, [stall_out(o) for o in found], limit, offset)


async def register_scale(request: web.Request) -> web.Response:
    data: ScaleIn = await read_body(request, ScaleIn)
    pushes = await calling(request.app[SERVICE].register_scale(site_of(request), data.scale_id, data.stall,
                                                               now_of(request)))
    return json_of(ScaleOut(scale_id=data.scale_id, stall=data.stall, online=None, state_changed_at=None,
                            last_price_push=delivery_out(pushes[-1]) if pushes else None), 201)


async def list_scales(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    found = await calling(request.app[SERVICE].scales(site_of(request), limit + 1, offset))
    return paged(ScalesPage, [
        ScaleOut(scale_id=o.registration.scale, stall=o.registration.stall, online=o.registration.online,
                 state_changed_at=o.registration.state_changed_at,
                 last_price_push=delivery_out(o.last_price_push) if o.last_price_push else None)
        for o in found], limit, offset)


async def licence_problems(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    found = await calling(request.app[SERVICE].licence_problems(site_of(request), now_of(request), limit + 1,
                                                                offset))
    return paged(LicenceProblemsPage, [
        LicenceProblemOut(stall=p.stall.stall, stall_name=p.stall.name, vendor_id=p.stall.vendor_id,
                          vendor_name=p.vendor.name if p.vendor else None, document=status_out(p.status, False))
        for p in found], limit, offset)
