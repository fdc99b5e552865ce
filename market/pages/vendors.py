"""The operator's pages of vendors: every vendor of the market (contact phones masked, their documents and the
stalls they hold), adding one (checked by the API's own model, the reason next to the field; a farmer selling their
own produce marked as such); one vendor with the whole phone number (to the market's operators only), whether they
are such a farmer (changed by a form), the stalls they hold and every document recorded for them with its kept
scan, and the form that records a document with its scan (:mod:`market.pages.documents`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from aiohttp import web

from market.licences import DocumentKind, RecordedDocument
from market.market_time import market_day
from market.pages.context import (
    all_stalls,
    all_vendors,
    market_of,
    market_page,
    now_of,
    operator_page,
    service_of,
    site_of,
    unknown_vendor,
    vendor_of,
)
from market.pages.credit import credit_view
from market.pages.wording import masked_phone
from market.scans import size_text
from market.service import Conflict, NotFound, StallOverview
from market.stalls import Vendor
from market.web.schemas import VendorIn
from market.web.scope import OPERATORS, READERS
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.pages import form_of

VENDOR_FIELDS: Final = ("vendor_id", "name", "contact_phone", "self_producing")
VENDOR_WORDS: Final = FieldWords(
    {"vendor_id": "经营者编号", "name": "姓名或名称", "contact_phone": "联系电话"},
    {"vendor_id": "经营者编号为 1–64 位字母、数字或 _ . : -（留空则自动生成）",
     "contact_phone": "联系电话为 3–32 位数字，可含空格、+ 或 -"})
NEW_ID_ATTEMPTS: Final = 3


@dataclass(frozen=True)
class VendorRow:
    """A vendor as the list shows them: the phone masked, what they hold in counts."""

    vendor: Vendor
    documents: list[RecordedDocument]
    stalls: list[StallOverview]

    @property
    def phone(self) -> str:
        return masked_phone(self.vendor.contact_phone)

    @property
    def counted(self) -> list[RecordedDocument]:
        return [d for d in self.documents if not d.voided]

    @property
    def scanned(self) -> int:
        return sum(1 for d in self.counted if d.scan is not None)


@market_page(*READERS)
async def vendors_page(request: web.Request) -> web.Response:
    return await _vendors_page(request, FormState())


async def _vendors_page(request: web.Request, new: FormState, status: int = 200) -> web.Response:
    service = service_of(request)
    market = await market_of(request)
    held: dict[str, list[StallOverview]] = {}
    for overview in await all_stalls(service, market.site, now_of(request)):
        if overview.stall.vendor_id:
            held.setdefault(overview.stall.vendor_id, []).append(overview)
    rows = [VendorRow(vendor, documents, held.get(vendor.vendor_id, []))
            for vendor, documents in await all_vendors(service, market.site)]
    return await operator_page(request, "pages/vendors.html", {
        "market": market, "rows": rows, "tab": "vendors", "new": new,
        "new_open": new.failed or "new" in request.query,
    }, status=status)


@market_page(*OPERATORS)
async def add_vendor(request: web.Request) -> web.StreamResponse:
    """Add a vendor (an id is made when none is typed), then on to their page to record their documents."""
    service = service_of(request)
    site = site_of(request)
    state = typed(await form_of(request), VENDOR_FIELDS, codes=("vendor_id", "contact_phone"))
    chosen = state.values["vendor_id"]
    farmer = state.values["self_producing"] == "yes"
    for _ in range(NEW_ID_ATTEMPTS):
        data = checked(VendorIn, state, VENDOR_WORDS, vendor_id=chosen or _new_vendor_id(), self_producing=farmer)
        if data is None:
            return await _vendors_page(request, state, status=422)
        try:
            await service.add_vendor(site, Vendor(data.vendor_id, data.name, None, data.contact_phone,
                                                  data.self_producing), now_of(request))
        except NotFound:
            return await _vendors_page(request, state, status=404)
        except Conflict:
            if chosen:
                state.refuse("vendor_id", f"编号 {chosen} 已有经营者，请换一个编号（或留空自动生成）")
                return await _vendors_page(request, state, status=409)
            continue  # a made id taken already (unlikely): another
        raise web.HTTPSeeOther(f"/market/{site}/manage/vendors/{quote(data.vendor_id, safe='')}?notice=added")
    state.general.append("未能生成新的经营者编号，请填写一个编号。")
    return await _vendors_page(request, state, status=409)


def _new_vendor_id() -> str:
    return f"V{secrets.token_hex(3).upper()}"


_VENDOR_NOTICES: Final = {
    "added": "经营者已登记。请录入其证照（营业执照——自产自销农户为身份证或村委会证明、食品经营许可证或备案凭证、"
             "从业人员健康证明），并上传扫描件或照片。",
    "document": "证照已登记，扫描件已存档。",
    "scan": "扫描件已存档。",
    "farmer": "已更新：是否为自产自销农户。各摊位的证照要求已按此核对。",
}


@market_page(*READERS)
async def vendor_page(request: web.Request) -> web.Response:
    return await vendor_page_with(request)


async def vendor_page_with(request: web.Request, *, document: FormState | None = None,
                           scan_failed: int | None = None, scan_problem: str | None = None,
                           status: int = 200) -> web.Response:
    """The vendor's page, with the document form (or a document's scan form) as typed and refused."""
    service = service_of(request)
    market = await market_of(request)
    vendor = await vendor_of(request)
    now = now_of(request)
    stalls = [o for o in await all_stalls(service, market.site, now) if o.stall.vendor_id == vendor.vendor_id]
    credit = await credit_view(service, market.site, vendor.vendor_id, now, f"/market/{market.site}/manage")
    return await operator_page(request, "pages/vendor.html", {
        "market": market, "vendor": vendor, "tab": "vendors", "stalls": stalls, "credit": credit,
        "recorded": await service.vendor_documents(market.site, vendor.vendor_id),
        "document": document or FormState({"valid_from": market_day(now).isoformat()}),
        "document_open": document is not None or "document" in request.query
        or request.query.get("notice") == "added",  # a vendor just added: their documents come next
        "kinds": [(kind.value, kind.label_zh) for kind in DocumentKind], "scan_failed": scan_failed,
        "scan_problem": scan_problem,
        "notice": _VENDOR_NOTICES.get(request.query.get("notice", "")),
        "max_scan": size_text(service.settings.max_scan_bytes),
        "vendor_path": f"/market/{market.site}/manage/vendors/{quote(vendor.vendor_id, safe='')}",
    }, status=status)


@market_page(*OPERATORS)
async def set_farmer(request: web.Request) -> web.StreamResponse:
    """Mark the vendor a farmer selling their own produce (自产自销), or no longer one."""
    site = site_of(request)
    vendor = await vendor_of(request)
    form = await form_of(request)
    farmer = form.get("self_producing", "") == "yes"
    try:
        await service_of(request).set_self_producing(site, vendor.vendor_id, farmer)
    except NotFound:
        raise unknown_vendor() from None
    raise web.HTTPSeeOther(f"/market/{site}/manage/vendors/{quote(vendor.vendor_id, safe='')}?notice=farmer#vendor")
