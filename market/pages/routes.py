"""The market pages' routes and :func:`mount_market_pages`: the public price board and trace lookup,
the operator's pages under /market/{site}/manage, their templates, filters and navigation links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

from aiohttp import web

from market.pages.batches import (
    batch_epcis,
    batch_page,
    batches_page,
    correct_quantity,
    recall_batch,
    record_laboratory,
    record_test,
    register_batch,
    release_batch,
)
from market.pages.choosing import (
    CHOOSER_PATH,
    PUBLIC_PRICES_PATH,
    PUBLIC_TRACE_PATH,
    markets_page,
    public_markets_page,
)
from market.pages.complaints import (
    act_on_complaint,
    complaint_form_page,
    complaint_lookup_page,
    complaint_page,
    complaint_photo,
    complaint_status_page,
    complaints_page,
    file_complaint,
)
from market.pages.context import MARKET_PAGES, MarketPages
from market.pages.district import DISTRICT_PATH, district_routes
from market.pages.documents import add_document, document_scan, keep_scan
from market.pages.findings import findings_page, resolve_finding
from market.pages.price_board import BoardTrends, price_board_page
from market.pages.publishing import price_form_page, publish_prices
from market.pages.stall_forms import (
    add_stall,
    edit_stall,
    edit_stall_page,
    register_scale,
    set_licence_policy,
    set_staff,
)
from market.pages.stalls import stall_page, stalls_page, void_document
from market.pages.test_board import test_board_page
from market.pages.trace_lookup import trace_form_page, trace_result_page
from market.pages.vendors import add_vendor, set_farmer, vendor_page, vendors_page
from market.pages.wording import (
    delivery_text,
    delivery_tone,
    kilograms,
    licence_text,
    licence_tone,
    masked_phone,
)
from market.scans import size_text
from market.service import MarketService
from market.web.presenting import yuan
from market.web.routes import market_contexts
from market.web.scope import READERS
from webkit.identity import Role, TokenAuthority
from webkit.pages import SITE, NavLink, add_navigation, add_templates

TEMPLATE_DIR: Final = Path(__file__).parents[1] / "templates"


def mount_market_pages(app: web.Application, service: MarketService, site: str, authority: TokenAuthority,
                       now: Callable[[], datetime]) -> None:
    """The market API with the market's pages (call :func:`accounts.pages.mount_pages` first): the API and its
    public stall pages as :func:`market.web.mount` serves them, and on the same sub-application at /market the
    operator's pages under /market/{site}/manage (each market's to its operators and supervisors only; the way in,
    /market/manage, lists the signed-in person's markets), the public price board and trace lookup (whose rate
    limit it shares with the API's per client address). The navigation's public links go to the market
    ``site``."""
    if SITE not in app:
        raise RuntimeError("mount the shared page machinery first: accounts.pages.mount_pages")
    api, pages = market_contexts(app, service, authority, now)
    pages.app[MARKET_PAGES] = MarketPages(service, site, BoardTrends(service.settings.board_trend_ttl))
    add_templates(app, TEMPLATE_DIR)
    filters = app[SITE].templates.filters
    filters.update(yuan=yuan, kg=kilograms, licence_tone=licence_tone, licence_text=licence_text,
                   delivery_tone=delivery_tone, delivery_text=delivery_text, masked_phone=masked_phone,
                   size_text=size_text)
    # to the installation's one market, or a choice of its markets: SC_SITE need not name a market
    add_navigation(app, NavLink("价格公示", PUBLIC_PRICES_PATH, (),
                                "今日农贸市场各商品最低、平均、最高价与价格走势"))
    add_navigation(app, NavLink("溯源查询", PUBLIC_TRACE_PATH, (),
                                "输入小票上的追溯码，查看产地、供货商与快检结果"))
    # to the markets of whoever signs in (straight to theirs when they have one), not to ``site``'s, which may
    # not be theirs
    add_navigation(app, NavLink("市场管理", CHOOSER_PATH, READERS,
                                "经营者与证照、摊位与电子秤、价格发布、进货与快检、召回、问题线索"))
    add_navigation(app, NavLink("辖区概览", DISTRICT_PATH, (Role.SUPERVISOR,),
                                "辖区各市场的证照到期、快检不合格、召回、问题线索与投诉，趋势与导出"))
    market = "/market/{site}"
    manage = market + "/manage"
    for path, handler in district_routes():
        pages.add_get(path, handler)
    pages.add_get(market + "/prices", price_board_page)
    pages.add_get(market + "/trace", trace_form_page)
    pages.add_get(market + "/tests", test_board_page)
    pages.add_get(market + "/complaints/new", complaint_form_page)
    pages.add_post(market + "/complaints/new", file_complaint)
    pages.add_get(market + "/complaints/status", complaint_lookup_page)
    pages.add_get(market + "/complaints/status/{reference}", complaint_status_page)
    pages.add_get(manage + "/complaints", complaints_page)
    pages.add_get(manage + "/complaints/{complaint_id}", complaint_page)
    pages.add_post(manage + "/complaints/{complaint_id}/state", act_on_complaint)
    pages.add_get(manage + "/complaints/{complaint_id}/photo", complaint_photo)
    pages.add_get(market + "/trace/{trace_code:.+}", trace_result_page)
    pages.add_get(CHOOSER_PATH, markets_page)
    pages.add_get(PUBLIC_PRICES_PATH, public_markets_page)
    pages.add_get(PUBLIC_TRACE_PATH, public_markets_page)
    pages.add_get(manage, stalls_page)
    pages.add_post(manage + "/licence-policy", set_licence_policy)
    pages.add_post(manage + "/stalls", add_stall)
    pages.add_get(manage + "/stalls/{stall}", stall_page)
    pages.add_get(manage + "/stalls/{stall}/edit", edit_stall_page)
    pages.add_post(manage + "/stalls/{stall}/edit", edit_stall)
    pages.add_post(manage + "/stalls/{stall}/scales", register_scale)
    pages.add_post(manage + "/stalls/{stall}/staff", set_staff)
    pages.add_get(manage + "/vendors", vendors_page)
    pages.add_post(manage + "/vendors", add_vendor)
    pages.add_get(manage + "/vendors/{vendor_id}", vendor_page)
    pages.add_post(manage + "/vendors/{vendor_id}/farmer", set_farmer)
    pages.add_post(manage + "/vendors/{vendor_id}/documents", add_document)
    pages.add_get(manage + "/vendors/{vendor_id}/documents/{document_id}/scan", document_scan)
    pages.add_post(manage + "/vendors/{vendor_id}/documents/{document_id}/scan", keep_scan)
    pages.add_get(manage + "/stalls/{stall}/prices", price_form_page)
    pages.add_post(manage + "/stalls/{stall}/prices", publish_prices)
    pages.add_get(manage + "/batches", batches_page)
    pages.add_post(manage + "/batches", register_batch)
    pages.add_get(manage + "/batches/{batch_id}", batch_page)
    pages.add_post(manage + "/batches/{batch_id}/tests", record_test)
    pages.add_post(manage + "/batches/{batch_id}/tests/{test_id}/laboratory", record_laboratory)
    pages.add_post(manage + "/batches/{batch_id}/recall", recall_batch)
    pages.add_post(manage + "/batches/{batch_id}/release", release_batch)
    pages.add_post(manage + "/batches/{batch_id}/quantity", correct_quantity)
    pages.add_post(manage + "/stalls/{stall}/documents/{document_id}/void", void_document)
    pages.add_get(manage + "/batches/{batch_id}/epcis", batch_epcis)
    pages.add_get(manage + "/findings", findings_page)
    pages.add_post(manage + "/findings/{finding_id}/resolve", resolve_finding)
    api.attach(app)
    pages.attach(app)
