"""The market API's prices: a stall's prices published and pushed to its scales, the commands sent to
scales and their acks, and the public board and price history."""

from __future__ import annotations

from aiohttp import web

from market.scale_delivery import DeliveryStatus
from market.service import PriceItem
from market.web.handling import (
    SERVICE,
    calling,
    json_of,
    now_of,
    paged,
    paging,
    query_choice,
    query_int,
    read_body,
    site_of,
    subject_of,
)
from market.web.presenting import delivery_out, price_out
from market.web.schemas import (
    BoardLineOut,
    BoardOut,
    DailyPriceOut,
    DeliveriesPage,
    PriceHistoryOut,
    PricesIn,
    PricesPage,
    PublicationOut,
)
from webkit.json_errors import json_error


async def publish_prices(request: web.Request) -> web.Response:
    data: PricesIn = await read_body(request, PricesIn)
    items = [PriceItem(p.plu, p.product, p.unit_price_fen) for p in data.prices]
    publication = await calling(request.app[SERVICE].publish_prices(
        site_of(request), request.match_info["stall"], items, data.effective_from, subject_of(request),
        now_of(request)))
    return json_of(PublicationOut(prices=[price_out(p) for p in publication.prices],
                                  deliveries=[delivery_out(d) for d in publication.deliveries]), 201)


async def stall_prices(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    plu = request.query.get("plu")
    found = await calling(request.app[SERVICE].price_history(site_of(request), request.match_info["stall"], plu,
                                                             limit + 1, offset))
    return paged(PricesPage, [price_out(p) for p in found], limit, offset)


async def list_deliveries(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    status = query_choice(request, "status", DeliveryStatus)
    found = await calling(request.app[SERVICE].deliveries(site_of(request), [status] if status else None,
                                                          request.query.get("scale"), limit + 1, offset))
    return paged(DeliveriesPage, [delivery_out(d) for d in found], limit, offset)


async def price_board(request: web.Request) -> web.Response:
    now = now_of(request)
    market, lines = await calling(request.app[SERVICE].price_board(site_of(request), now))
    return json_of(BoardOut(site=market.site, market=market.name, at=now, lines=[
        BoardLineOut(plu=line.plu, product=line.product, stalls=line.stalls, min_fen=line.min_fen,
                     avg_fen=line.avg_fen, max_fen=line.max_fen) for line in lines]))


async def price_history(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    plu = request.query.get("plu", "")
    if not plu or len(plu) > 32:
        raise json_error(web.HTTPBadRequest, "give the product: ?plu=1001")
    days = query_int(request, "days", 7, 1, service.settings.history_max_days)
    history = await calling(service.sales_price_history(site_of(request), plu, days, now_of(request)))
    return json_of(PriceHistoryOut(site=site_of(request), plu=plu, days=[
        DailyPriceOut(day=d.day, sales=d.sales, grams=d.grams, min_fen=d.min_fen, avg_fen=d.avg_fen,
                      max_fen=d.max_fen) for d in history.days]))
