"""The console: the gates as a grid (online, last event, whitelist sync, today's entries), open alarms, today's
entries as charts, and the live feed — the newest events on the page, newer ones pushed over Server-Sent Events
as rows rendered by the same macros.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from community.access.access_log import LogQuery
from community.access.alarms import Alarm, AlarmStatus
from community.access.directory import Gate
from community.access.live_feed import GAP, SUPERSEDED, FeedFull, FeedItem
from community.access.live_stream import Skip, last_event_id, send_events
from community.access.pages.context import CONSOLE, MANAGERS, AccessPages, _now, _pages, _render
from community.access.pages.entries import HOUR, TodayEntries
from community.access.pages.people import Actors
from community.access.pages.rows import AlarmView, _feed_event_row, alarm_view, event_row, open_view
from community.access.pages.scope import Scope, _gate_filter, _scope
from community.access.pages.words import WORDS
from community.access.service import GateStatus, NotFound
from gateway.outputs import StoreRejected, StoreUnavailable
from webkit.auth import PRINCIPAL
from webkit.charts import TimeSeries, bar_chart, line_chart
from webkit.pages import CSRF_FIELD, SITE, PageProblem, csrf_token, page

log = logging.getLogger(__name__)

FEED_ROWS = 30
"""Events on the console when it is loaded (the live feed keeps at most this many, newest first)."""
OPEN_ALARMS = 50
CHART_LINES = 6
"""Gates drawn as their own line in the hourly chart; the rest are summed into one."""


@dataclass(frozen=True)
class GateTile:
    status: GateStatus
    last_event: datetime | None
    entries_today: int | None
    open_alarms: int

    @property
    def gate(self) -> Gate:
        return self.status.gate


def _fragment(request: web.Request, macro: str, **arguments: Any) -> str:
    """One macro of access/_parts.html, rendered alone (rows pushed to the live feed)."""
    module = request.config_dict[SITE].templates.get_template("access/_parts.html").module
    return str(getattr(module, macro)(**arguments))


@dataclass(frozen=True)
class Chart:
    """One chart drawn twice: for a wide column and for a phone (the page shows one by CSS)."""

    wide: str
    narrow: str


def entries_charts(entries: TodayEntries, scope: Scope, gate_filter: str | None) -> tuple[Chart, Chart] | None:
    """Today's entries per gate (bars) and per hour (a line per busy gate, the rest summed), or None when nobody
    has entered yet today."""
    if entries.grand_total == 0:
        return None
    ranked = sorted(entries.by_gate, key=lambda gate_id: (-entries.total(gate_id), gate_id))
    totals = [(scope.gate_name(gate_id), entries.total(gate_id)) for gate_id in ranked]
    shown = [gate_filter] if gate_filter else ranked[:CHART_LINES]
    rest = [] if gate_filter else ranked[CHART_LINES:]
    moments = [entries.day_start + index * HOUR for index in range(entries.hours)]
    series = [TimeSeries(scope.gate_name(gate_id), list(zip(moments, entries.by_gate[gate_id], strict=True)))
              for gate_id in shown]
    if rest:
        summed = [sum(entries.by_gate[gate_id][index] for gate_id in rest) for index in range(entries.hours)]
        series.append(TimeSeries(f"其他 {len(rest)} 个门禁", list(zip(moments, summed, strict=True))))
    bars = Chart(bar_chart(totals, series_label="进入人次", width=560, height=360),
                 bar_chart(totals, series_label="进入人次", width=460, height=340))
    lines = Chart(line_chart(series, y_title="人次/小时", width=560, height=360),
                  line_chart(series, y_title="人次/小时", width=460, height=360))
    return bars, lines


async def _tiles(pages: AccessPages, scope: Scope, entries: TodayEntries | None,
                 open_alarms: Iterable[AlarmView]) -> list[GateTile]:
    alarms = Counter(view.alarm.gate_id for view in open_alarms)
    tiles: list[GateTile] = []
    for gate_id in sorted(scope.gates):
        status = await pages.service.gate_status(gate_id)
        last = await pages.service.access_log(LogQuery(community_id=scope.community.community_id, gate_id=gate_id,
                                                       limit=1))
        tiles.append(GateTile(status, last.entries[0].ts if last.entries else None,
                              entries.total(gate_id) if entries is not None else None, alarms[gate_id]))
    return tiles


async def _unresolved_alarms(pages: AccessPages, scope: Scope, actors: Actors) -> list[AlarmView]:
    """Open alarms first, then those being dealt with; newest first in each."""
    found: list[tuple[int, Alarm]] = []
    for status in (AlarmStatus.OPEN, AlarmStatus.ACKNOWLEDGED):
        found += await pages.service.alarms(scope.community.community_id, status=status, limit=OPEN_ALARMS)
    found.sort(key=lambda pair: (pair[1].status is not AlarmStatus.OPEN, -pair[1].raised_at.timestamp(), -pair[0]))
    return [await alarm_view(scope, actors, number, alarm) for number, alarm in found[:OPEN_ALARMS]]


@page(*MANAGERS)
async def console(request: web.Request) -> web.Response:
    pages = _pages(request)
    scope = await _scope(request)
    gate_filter = _gate_filter(request, scope)
    actors = Actors(request)
    community_id = scope.community.community_id
    alarms = await _unresolved_alarms(pages, scope, actors)
    entries: TodayEntries | None = None
    try:
        entries = await pages.entries.today(scope.community.site, sorted(scope.gates), _now(request))
    except (StoreUnavailable, StoreRejected) as failure:
        log.warning("entries chart unavailable", extra={"error": str(failure)})
    # the feed's position before the rows are read: the stream replays from there, so an event committed while
    # the page is being built is not missed (at worst it shows twice)
    position = pages.service.feed.position
    recent = await pages.service.access_log(LogQuery(community_id=community_id, gate_id=gate_filter,
                                                     limit=FEED_ROWS))
    live = scope.href(CONSOLE + "/live", gate=gate_filter, last_event_id=position)
    return await _render(request, "access/console.html", {
        "scope": scope,
        "gate_filter": gate_filter,
        "presence": await pages.service.presence(community_id),
        "tiles": await _tiles(pages, scope, entries, alarms),
        "alarms": [view for view in alarms if gate_filter is None or view.alarm.gate_id == gate_filter],
        "entries": entries,
        "charts": entries_charts(entries, scope, gate_filter) if entries is not None else None,
        "rows": [await event_row(scope, pages.people, entry) for entry in recent.entries],
        "feed_rows": FEED_ROWS,
        "live_url": live,
        "next": request.path_qs,
    }, tabs=scope.tabs(CONSOLE))


@page(*MANAGERS)
async def console_live(request: web.Request) -> web.StreamResponse:
    """The console's live feed as Server-Sent Events: each item as rows rendered here (``data:`` JSON with HTML)."""
    pages = _pages(request)
    scope = await _scope(request)
    gate_filter = _gate_filter(request, scope)
    gates = frozenset({gate_filter}) if gate_filter else None
    try:
        # counted under the signed-in account, with its API streams: one account cannot take every place
        with pages.service.feed.subscribe(gates, frozenset({scope.community.community_id}),
                                          last_event_id(request), request[PRINCIPAL].subject) as subscription:
            async def payload(item: FeedItem) -> dict[str, Any]:
                try:
                    return await _live_payload(request, scope, item)
                except NotFound:
                    raise Skip from None  # gone meanwhile (a gate removed): nothing to draw

            return await send_events(request, subscription, payload)
    except FeedFull:
        raise PageProblem(503, "同时打开控制台的人数已达上限，请稍后刷新。", title="实时动态繁忙") from None


async def _live_payload(request: web.Request, scope: Scope, item: FeedItem) -> dict[str, Any]:
    """What the console's script needs to show one feed item: HTML rendered by the same macros as the page."""
    pages = _pages(request)
    payload: dict[str, Any] = {"gate_id": item.gate_id}
    if item.kind in (GAP, SUPERSEDED):
        # missed items that cannot be replayed, or this tab's stream ended for a newer one: say so, with a reload
        notice = str(item.data["notice"])
        payload["notice"] = notice
        payload["row"] = _fragment(request, "gap_item" if item.kind == GAP else "superseded_item", notice=notice,
                                   href=scope.href(CONSOLE, gate=request.query.get("gate")))
    elif item.kind == "event":
        row = await _feed_event_row(scope, pages.people, item)
        payload["row"] = _fragment(request, "event_item", row=row, w=WORDS, fresh=True)
        payload["seen"] = _fragment(request, "seen", moment=row.ts)
    elif item.kind == "alarm":
        number = int(item.data["number"])
        _, alarm = await pages.service.alarm(number)
        view = await alarm_view(scope, Actors(request), number, alarm)
        payload["number"] = number
        payload["row"] = _fragment(request, "alarm_item", view=view, w=WORDS)
        payload["alarm"] = None if alarm.status is AlarmStatus.RESOLVED else _fragment(
            request, "alarm_card", view=view, w=WORDS, csrf_field=CSRF_FIELD, csrf_token=csrf_token(request),
            next=scope.href(CONSOLE, gate=request.query.get("gate")))
    elif item.kind == "remote_open":
        found, _ = await pages.service.remote_open(str(item.data["cmd_id"]))
        view_open = await open_view(scope, Actors(request), found)
        payload["row"] = _fragment(request, "remote_open_item", view=view_open, w=WORDS)
    elif item.kind == "gate":
        status = await pages.service.gate_status(item.gate_id)
        payload["state"] = _fragment(request, "gate_state", status=status)
        if "online" in item.data:
            payload["row"] = _fragment(request, "availability_item", gate_name=scope.gate_name(item.gate_id),
                                       online=bool(item.data["online"]), moment=_now(request))
    return payload
