"""The operator's findings page: what to look into, filtered by kind, stall and state, each with its
facts in words and units (prices in yuan, weights in kilograms, links to the batch or the trace), and
closed with a note on how it was resolved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlencode, urlsplit

from aiohttp import web

from market.findings import FindingKind, RecordedFinding
from market.pages.context import FINDINGS_PER_PAGE, market_of, market_page, now_of, operator_page, service_of
from market.pages.form_fields import ASCII_ID, InputProblem, text_field
from market.pages.wording import kilograms
from market.service import Conflict, MarketService, NotFound
from market.web.presenting import yuan
from market.web.scope import OPERATORS, READERS
from webkit.auth import PRINCIPAL
from webkit.pages import PageProblem, form_of

FINDING_STATES: Final = {"open": "未处理", "closed": "已处理", "all": "全部"}

_DETAIL_LABELS: Final = {
    "plu": "商品编码", "charged_fen": "实收单价", "published_fen": "公示单价", "difference_fen": "差价",
    "unit_price_fen": "单价", "amount_fen": "收款金额", "expected_amount_fen": "应收金额", "net_g": "重量",
    "trace_code": "追溯码", "scale": "电子秤", "batch": "批次", "linked_to": "已关联批次",
    "received_g": "进货量", "sold_g": "已售量", "oversold_g": "超出", "registered_stall": "登记摊位",
    "reported_stall": "所报摊位", "batch_plu": "该批次商品编码",
}
_PER_KG: Final = {"charged_fen", "published_fen", "difference_fen", "unit_price_fen"}
_AMOUNTS: Final = {"amount_fen", "expected_amount_fen"}
_WEIGHTS: Final = {"net_g", "received_g", "sold_g", "oversold_g"}


@dataclass(frozen=True)
class FindingFact:
    label: str
    value: str
    href: str | None = None


def finding_facts(recorded: RecordedFinding, site: str) -> list[FindingFact]:
    """A finding's detail in words and units for the operator (prices in yuan, weights in kg)."""
    facts = []
    for key, value in recorded.finding.detail.items():
        if value is None:
            continue
        label = _DETAIL_LABELS.get(key, key)
        href = None
        if isinstance(value, int) and not isinstance(value, bool) and key in _PER_KG:
            shown = ("-" if value < 0 else "") + yuan(abs(value)) + " 元/公斤"
        elif isinstance(value, int) and not isinstance(value, bool) and key in _AMOUNTS:
            shown = yuan(value) + " 元"
        elif isinstance(value, int) and not isinstance(value, bool) and key in _WEIGHTS:
            shown = kilograms(value) + " 公斤"
        else:
            shown = str(value)
            if key in ("batch", "linked_to") and ASCII_ID.fullmatch(shown):
                href = f"/market/{site}/manage/batches/{quote(shown)}"
            elif key == "trace_code":
                href = f"/market/{site}/trace/{quote(shown, safe='')}"
        facts.append(FindingFact(label, shown, href))
    return facts


@dataclass(frozen=True)
class FindingFilters:
    kind: FindingKind | None
    stall: str | None
    state: str
    offset: int

    def query(self, **changes: Any) -> str:
        values = {"kind": self.kind.value if self.kind else "", "stall": self.stall or "", "state": self.state,
                  "offset": self.offset}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None, 0)})


def _finding_filters(query: Mapping[str, str]) -> FindingFilters:
    kind = query.get("kind", "")
    state = query.get("state", "open")
    raw_offset = query.get("offset", "0")
    return FindingFilters(
        FindingKind(kind) if kind in FindingKind._value2member_map_ else None,
        query.get("stall", "").strip()[:32] or None,
        state if state in FINDING_STATES else "open",
        int(raw_offset) if raw_offset.isascii() and raw_offset.isdigit() and len(raw_offset) <= 9 else 0,
    )


async def _findings_window(service: MarketService, site: str, filters: FindingFilters
                           ) -> tuple[list[RecordedFinding], int | None]:
    """One page of findings (open, resolved or all; of a kind and a stall when given; newest first) and
    the offset of the next page, if there is one."""
    found = await service.findings(site, filters.kind, filters.stall, filters.state == "open",
                                   FINDINGS_PER_PAGE + 1, filters.offset, resolved_only=filters.state == "closed")
    more = len(found) > FINDINGS_PER_PAGE
    return found[:FINDINGS_PER_PAGE], filters.offset + FINDINGS_PER_PAGE if more else None


@market_page(*READERS)
async def findings_page(request: web.Request) -> web.Response:
    return await _findings_page(request, _finding_filters(request.query))


async def _findings_page(request: web.Request, filters: FindingFilters, *, failed_id: int | None = None,
                         failure: str | None = None, draft: str = "", status: int = 200) -> web.Response:
    market = await market_of(request)
    found, next_offset = await _findings_window(service_of(request), market.site, filters)
    return await operator_page(request, "pages/findings.html", {
        "market": market, "tab": "findings", "filters": filters, "kinds": list(FindingKind),
        "states": FINDING_STATES, "findings": [(f, finding_facts(f, market.site)) for f in found],
        "next_offset": next_offset, "failed_id": failed_id, "failure": failure, "draft": draft,
        "back": f"/market/{market.site}/manage/findings?{filters.query()}",
    }, status=status)


@market_page(*OPERATORS)
async def resolve_finding(request: web.Request) -> web.StreamResponse:
    market = await market_of(request)
    raw = request.match_info["finding_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise PageProblem(404, "没有这条问题线索。", title="问题线索不存在")
    finding_id = int(raw)
    form = await form_of(request)
    back = form.get("back", "")
    prefix = f"/market/{market.site}/manage/findings"
    if not back.startswith(prefix):
        back = prefix
    filters = _finding_filters(dict(_query_pairs(back)))
    note = form.get("resolution", "").strip()
    try:
        text_field(note, "处理说明", 500)
    except InputProblem as problem:
        return await _findings_page(request, filters, failed_id=finding_id, failure=str(problem), draft=note[:500],
                                    status=422)
    try:
        await service_of(request).resolve_finding(market.site, finding_id, request[PRINCIPAL].subject, note,
                                                  now_of(request))
    except NotFound:
        raise PageProblem(404, "没有这条问题线索。", title="问题线索不存在") from None
    except Conflict:
        return await _findings_page(request, filters, failed_id=finding_id, failure="这条问题线索已经处理过了。",
                                    status=409)
    raise web.HTTPSeeOther(back + f"#finding-{finding_id}")


def _query_pairs(path: str) -> list[tuple[str, str]]:
    query = urlsplit(path).query
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name:
            pairs.append((unquote(name), unquote(value.replace("+", " "))))
    return pairs
