"""The public trace lookup: the form (a code typed, or the address a receipt's QR code carries) and
what a receipt's trace code leads to (sale, stall, batch, origin, rapid tests), rate-limited per client
address like the API's lookup, with which it shares its buckets."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from market.pages.context import market_of, now_of, service_of
from market.pages.form_fields import trace_code_from
from market.service import PublicTrace
from market.stalls import Market
from market.web.tracing import TRACE_BUCKETS, trace_client
from webkit.pages import render


async def trace_form_page(request: web.Request) -> web.StreamResponse:
    market = await market_of(request)
    typed = request.query.get("code")
    if typed is None:
        return await _trace_page(request, market, typed="")
    code = trace_code_from(typed[:2000])
    if code is None:
        return await _trace_page(request, market, typed=typed[:200], status=400,
                                 problem="请输入小票上的追溯码（1–64 个字符），或扫描小票上的二维码。")
    raise web.HTTPSeeOther(f"/market/{market.site}/trace/{quote(code, safe='')}")


async def trace_result_page(request: web.Request) -> web.Response:
    market = await market_of(request)
    code = request.match_info["trace_code"]
    now = now_of(request)
    wait = request.config_dict[TRACE_BUCKETS].take(trace_client(request, service_of(request).settings), now)
    if wait:
        response = await _trace_page(request, market, typed=code[:200], status=429,
                                     problem=f"查询过于频繁，请 {wait} 秒后再试。")
        response.headers["Retry-After"] = str(wait)
        return response
    if not 1 <= len(code) <= 64 or not code.isprintable():
        return await _trace_page(request, market, typed=code[:200], status=400,
                                 problem="追溯码为 1–64 个字符，请核对小票。")
    found = await service_of(request).trace(market.site, code)
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
