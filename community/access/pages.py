"""The property manager's access console and the residents' access pages, rendered on the server.

Managers (property manager; admin passes every guard), under /access/console: the console — the gates as a grid
(online, last event, whitelist sync), open alarms to acknowledge or resolve, today's entries per gate read from the
time series, and the live feed: the newest events are on the page, newer ones arrive over Server-Sent Events as rows
rendered here, which webkit/static/live-feed.js puts on top (without JavaScript a reload shows them). Remote open
(a form, a confirmation step, then the outcome, which the gate's ack decides: the page refreshes while it waits),
the access-log search, the alarm list with its history.

Residents, under /access/my: my unit (household with masked phones, my credentials by their hints only), my
visitors (revoke), invite a visitor → the pass with its QR code as inline SVG, to show on a phone or print.

Handlers call :class:`AccessService` directly (no HTTP to the JSON API); a refusal comes back as a message on the
page. Times are shown in Asia/Shanghai.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from community.access.access_log import MAX_PAGE, AccessLogEntry, LogQuery, decode_cursor
from community.access.alarms import SYSTEM, Alarm, AlarmKind, AlarmStatus
from community.access.directory import (
    Community,
    CredentialRecord,
    DoorKind,
    Gate,
    GateDoor,
    ResidentRecord,
    ResidentRole,
    ResidentStatus,
    mask_phone,
)
from community.access.live_feed import GAP, FeedFull, FeedItem
from community.access.live_stream import Skip, last_event_id, send_events
from community.access.permissions import ALWAYS, CredentialKind, Door, WeeklyWindow
from community.access.remote_open import RemoteOpen, RemoteOpenStatus
from community.access.service import AccessError, AccessService, Conflict, GateStatus, NotAllowed, NotFound
from community.access.visitor_pass import MAX_NAME_LENGTH
from community.access.visitors import PassStatus, VisitorPassRecord
from devices import chinese_names
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind
from gateway.outputs import PointQuery, StoreRejected, StoreUnavailable, TimeSeriesStore
from gateway.processors.points import Measurement
from webkit.auth import CLOCK, PRINCIPAL
from webkit.charts import TimeSeries, bar_chart, line_chart
from webkit.formatting import SHANGHAI
from webkit.identity import Role
from webkit.pages import (
    CSRF_FIELD,
    SITE,
    NavLink,
    PageProblem,
    add_navigation,
    add_templates,
    csrf_token,
    form_of,
    page,
    render,
    safe_next,
)
from webkit.qr_code import qr_svg

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
MANAGERS = (Role.PROPERTY_MANAGER,)
RESIDENTS = (Role.RESIDENT,)
CONSOLE = "/access/console"
MINE = "/access/my"

FEED_ROWS = 30
"""Events on the console when it is loaded (the live feed keeps at most this many, newest first)."""
LOG_PAGE = 50
ALARMS_LISTED = 200
OPEN_ALARMS = 50
REMOTE_OPENS_LISTED = 20
MAX_NOTE_CHARS = 500
MAX_REASON_CHARS = 200
MAX_INVITE_AHEAD = timedelta(days=30)
INVITE_HOURS = (1, 2, 4, 8, 12, 24)
PENDING_REFRESH_S = 2
NAMES_KEPT = 4096

HOUR = timedelta(hours=1)
HOUR_ROWS = 20_000
"""Entry points read per hour for the chart; an hour with more is counted gate by gate instead."""
CHART_LINES = 6
"""Gates drawn as their own line in the hourly chart; the rest are summed into one."""
RECOUNT_AFTER = timedelta(minutes=5)
"""A finished hour's counts are read again after this long: an offline gate's backlog may arrive late."""
RECOUNT_OLD_AFTER = timedelta(hours=1)
"""For hours that ended more than an hour ago (late backlogs are rarer; a day at 5 events/s takes ~1 s to read)."""

_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,30}$")
_DOOR_VALUE = re.compile(r"^([A-Za-z0-9_-]{1,64}):([0-9]{1,4})$")


# --- words for people ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Words:
    """How the pages name the domain's values, in Chinese."""

    event: Mapping[GateEventKind, str]
    method: Mapping[AccessMethod, str]
    direction: Mapping[Direction, str]
    reason: Mapping[DenialReason, str]
    alarm: Mapping[AlarmKind, str]
    alarm_status: Mapping[AlarmStatus, str]
    open_status: Mapping[RemoteOpenStatus, str]
    pass_status: Mapping[PassStatus, str]
    role: Mapping[ResidentRole, str]
    resident_status: Mapping[ResidentStatus, str]
    credential: Mapping[CredentialKind, str]
    door_kind: Mapping[DoorKind, str]


WORDS = Words(
    event=chinese_names.GATE_EVENT,
    method=chinese_names.ACCESS_METHOD,
    direction=chinese_names.DIRECTION,
    reason=chinese_names.DENIAL_REASON,
    alarm={AlarmKind.FORCED_DOOR: "强行开门", AlarmKind.DOOR_HELD_OPEN: "门长时间未关",
           AlarmKind.TAMPER: "设备防拆报警", AlarmKind.REPEATED_DENIALS: "多次拒绝通行",
           AlarmKind.GATE_OFFLINE: "门禁离线"},
    alarm_status={AlarmStatus.OPEN: "未处理", AlarmStatus.ACKNOWLEDGED: "处理中", AlarmStatus.RESOLVED: "已解决"},
    open_status={RemoteOpenStatus.PENDING: "等待门禁回应", RemoteOpenStatus.OPENED: "已开门",
                 RemoteOpenStatus.FAILED: "开门失败", RemoteOpenStatus.TIMED_OUT: "门禁未回应"},
    pass_status={PassStatus.ACTIVE: "有效", PassStatus.REVOKED: "已撤销", PassStatus.USED_UP: "次数已用完",
                 PassStatus.EXPIRED: "已过期"},
    role={ResidentRole.OWNER: "业主", ResidentRole.FAMILY: "家庭成员", ResidentRole.TENANT: "租户"},
    resident_status={ResidentStatus.ACTIVE: "正常", ResidentStatus.REVOKED: "已停用",
                     ResidentStatus.MOVED_OUT: "已迁出"},
    credential={CredentialKind.CARD: "门禁卡", CredentialKind.PIN: "密码", CredentialKind.FACE: "人脸",
                CredentialKind.QR: "二维码"},
    door_kind={DoorKind.ENTRANCE: "小区出入口", DoorKind.BUILDING: "单元门", DoorKind.GARAGE: "地库"},
)

_EVENT_TONE = {GateEventKind.GRANTED: "ok", GateEventKind.DENIED: "warn", GateEventKind.FORCED: "bad",
               GateEventKind.HELD_OPEN: "bad", GateEventKind.TAMPER: "bad"}
_ALARM_TONE = {AlarmStatus.OPEN: "bad", AlarmStatus.ACKNOWLEDGED: "warn", AlarmStatus.RESOLVED: "ok"}
_OPEN_TONE = {RemoteOpenStatus.PENDING: "info", RemoteOpenStatus.OPENED: "ok", RemoteOpenStatus.FAILED: "bad",
              RemoteOpenStatus.TIMED_OUT: "warn"}
_PASS_TONE = {PassStatus.ACTIVE: "ok", PassStatus.REVOKED: "bad", PassStatus.USED_UP: "warn", PassStatus.EXPIRED: ""}
_WEEKDAYS = "一二三四五六日"


def window_text(window: WeeklyWindow) -> str:
    """A weekly window as people say it: 全天, 每天 06:00–23:00, 周一至周五 08:00–18:00."""
    if window == ALWAYS:
        return "全天"
    days = sorted(window.days)
    if len(days) == 7:
        day_text = "每天"
    elif days == [0, 1, 2, 3, 4]:
        day_text = "周一至周五"
    elif days == [5, 6]:
        day_text = "周末"
    else:
        day_text = "、".join(f"周{_WEEKDAYS[day]}" for day in days)
    if window.start == window.end:
        return f"{day_text} {window.start:%H:%M} 起 24 小时"
    overnight = "（次日）" if window.crosses_midnight else ""
    return f"{day_text} {window.start:%H:%M}–{overnight}{window.end:%H:%M}"


def open_error_text(request: RemoteOpen) -> str | None:
    """Why a remote open did not happen, in words (a gate's own error text is shown as it came)."""
    error = request.error
    if error is None:
        return None
    if error == "the gate is offline":
        return "门禁离线，指令未发送。"
    if error == "no answer from the gate":
        return "门禁在规定时间内没有回应，门未打开（迟到的指令会被门禁忽略）。"
    if error.startswith("the command could not be sent"):
        return "消息服务器暂时无法接收指令，指令未发送。"
    return f"门禁回复：{error}"


# --- what the pages share -----------------------------------------------------------------------

class People:
    """Names for the rows of the feed and the log: a row is drawn for every event, the names rarely change, so they
    are remembered (at most `kept` of each)."""

    def __init__(self, service: AccessService, kept: int = NAMES_KEPT) -> None:
        self._service = service
        self._kept = kept
        self._residents: dict[str, str] = {}
        self._passes: dict[str, str] = {}

    async def resident(self, resident_id: str) -> str:
        name = self._residents.get(resident_id)
        if name is None:
            try:
                record, _ = await self._service.resident(resident_id)
                name = record.name
            except NotFound:
                name = resident_id
            self._remember(self._residents, resident_id, name)
        return name

    async def visitor(self, pass_id: str) -> str:
        label = self._passes.get(pass_id)
        if label is None:
            try:
                record, _ = await self._service.visitor_pass(pass_id)
                inviter = await self.resident(record.resident_id)
                visitor = record.visitor_pass.visitor_name
                label = f"访客 {visitor}（{inviter}邀请）" if visitor else f"访客（{inviter}邀请）"
            except NotFound:
                label = "访客"
            self._remember(self._passes, pass_id, label)
        return label

    async def label(self, resident_id: str | None, pass_id: str | None) -> str | None:
        if resident_id is not None:
            return await self.resident(resident_id)
        if pass_id is not None:
            return await self.visitor(pass_id)
        return None

    def _remember(self, names: dict[str, str], key: str, value: str) -> None:
        if len(names) >= self._kept:
            names.clear()
        names[key] = value


@dataclass(frozen=True)
class TodayEntries:
    """People entering (granted, direction in) per gate and hour of today in Shanghai, up to the current hour."""

    day_start: datetime
    hours: int
    by_gate: Mapping[str, tuple[int, ...]]

    def total(self, gate_id: str) -> int:
        return sum(self.by_gate.get(gate_id, ()))

    @property
    def grand_total(self) -> int:
        return sum(sum(counts) for counts in self.by_gate.values())


class EntryCounter:
    """Reads today's entries from the time series (``gate_event`` points, tags site/device/kind/direction), one hour
    at a time and bounded: at most `hour_rows` points per hour are read, a busier hour is counted gate by gate.
    Finished hours are remembered (only today's, per site) and read again after `recount_after`, or
    :data:`RECOUNT_OLD_AFTER` once they ended more than an hour ago."""

    def __init__(self, store: TimeSeriesStore, recount_after: timedelta = RECOUNT_AFTER,
                 hour_rows: int = HOUR_ROWS) -> None:
        self._store = store
        self._recount_after = recount_after
        self._hour_rows = hour_rows
        self._hours: dict[tuple[str, datetime], tuple[datetime, Counter[str]]] = {}

    async def today(self, site: str, gate_ids: Sequence[str], now: datetime) -> TodayEntries:
        day_start = now.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        hours = min(24, (now - day_start) // HOUR + 1)
        self._hours = {key: value for key, value in self._hours.items() if key[1] >= day_start}
        by_gate = {gate_id: [0] * hours for gate_id in gate_ids}
        for index in range(hours):
            start = day_start + index * HOUR
            counts = await self._hour(site, gate_ids, start, now)
            for gate_id, counted in counts.items():
                if gate_id in by_gate:
                    by_gate[gate_id][index] = counted
        return TodayEntries(day_start, hours, {gate_id: tuple(counts) for gate_id, counts in by_gate.items()})

    async def _hour(self, site: str, gate_ids: Sequence[str], start: datetime, now: datetime) -> Counter[str]:
        end = start + HOUR
        remembered = self._hours.get((site, start))
        if remembered is not None:
            computed_at, counts = remembered
            if now < computed_at + (self._recount_after if now - end < HOUR else RECOUNT_OLD_AFTER):
                return counts
        tags = {"site": site, "kind": GateEventKind.GRANTED.value, "direction": Direction.IN.value}
        start_ns, end_ns = _ns(start), _ns(end)
        rows = await self._store.select(PointQuery(Measurement.GATE_EVENT, start_ns, end_ns, tags,
                                                   limit=self._hour_rows + 1, newest_first=False))
        if len(rows) <= self._hour_rows:
            counts = Counter(str(row.get("device")) for row in rows)
        else:
            counts = Counter({gate_id: await self._store.count(PointQuery(
                Measurement.GATE_EVENT, start_ns, end_ns, {**tags, "device": gate_id})) for gate_id in gate_ids})
        if end <= now:
            self._hours[(site, start)] = (now, counts)
        return counts


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


@dataclass
class AccessPages:
    service: AccessService
    store: TimeSeriesStore
    entries: EntryCounter
    people: People


PAGES = web.AppKey("access_pages", AccessPages)


def mount_access_pages(app: web.Application, service: AccessService, store: TimeSeriesStore, *,
                       recount_after: timedelta = RECOUNT_AFTER) -> None:
    """The access console (property managers) and the residents' access pages (call webkit.pages.mount_pages
    first). ``store`` is the gateway's time-series store, read for today's entries per gate."""
    app[PAGES] = AccessPages(service, store, EntryCounter(store, recount_after), People(service))
    add_templates(app, TEMPLATE_DIR)
    add_navigation(app, NavLink("门禁管理", CONSOLE, MANAGERS, "实时动态、告警、远程开门、通行记录"))
    add_navigation(app, NavLink("我的门禁", MINE, RESIDENTS, "我的住户信息、邀请访客"))
    app.router.add_get(CONSOLE, console)
    app.router.add_get(CONSOLE + "/live", console_live)
    app.router.add_get(CONSOLE + "/log", access_log_page)
    app.router.add_get(CONSOLE + "/alarms", alarms_page)
    app.router.add_post(CONSOLE + "/alarms/{number}/acknowledge", acknowledge_alarm)
    app.router.add_post(CONSOLE + "/alarms/{number}/resolve", resolve_alarm)
    app.router.add_get(CONSOLE + "/open", remote_open_page)
    app.router.add_post(CONSOLE + "/open", remote_open_form)
    app.router.add_get(CONSOLE + "/open/{cmd_id}", remote_open_result)
    app.router.add_get(MINE, my_unit)
    app.router.add_get(MINE + "/visitors", my_visitors)
    app.router.add_get(MINE + "/visitors/new", invite_page)
    app.router.add_post(MINE + "/visitors", invite)
    app.router.add_get(MINE + "/visitors/{pass_id}", pass_page)
    app.router.add_post(MINE + "/visitors/{pass_id}/revoke", revoke_pass)


def _pages(request: web.Request) -> AccessPages:
    return request.app[PAGES]


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK]()


@dataclass(frozen=True)
class Tab:
    label: str
    href: str
    current: bool


async def _render(request: web.Request, template: str, context: Mapping[str, Any], *, tabs: Sequence[Tab] = (),
                  status: int = 200) -> web.Response:
    return await render(request, template, {"w": WORDS, "tabs": tabs, **context}, status=status)


# --- the manager's scope: which community -------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """The community a manager's page is about (chosen with ?community= when there are several), and its gates."""

    community: Community
    communities: tuple[Community, ...]
    gates: Mapping[str, Gate]

    @property
    def query(self) -> dict[str, str]:
        return {"community": self.community.community_id} if len(self.communities) > 1 else {}

    def href(self, path: str, **params: str | int | None) -> str:
        query = {**self.query, **{key: str(value) for key, value in params.items() if value not in (None, "")}}
        return path + (f"?{urlencode(query)}" if query else "")

    def gate_name(self, gate_id: str) -> str:
        gate = self.gates.get(gate_id)
        return gate.name if gate is not None else gate_id

    def door_name(self, gate_id: str, number: int | None) -> str | None:
        if number is None:
            return None
        gate = self.gates.get(gate_id)
        door = next((door for door in gate.doors if door.number == number), None) if gate else None
        return door.name if door is not None else f"{number}号门"

    def tabs(self, current: str) -> list[Tab]:
        return [Tab(label, self.href(path), path == current) for label, path in (
            ("控制台", CONSOLE), ("通行记录", CONSOLE + "/log"), ("告警", CONSOLE + "/alarms"),
            ("远程开门", CONSOLE + "/open"))]


async def _scope(request: web.Request, community_id: str | None = None) -> Scope:
    service = _pages(request).service
    communities = tuple(sorted(await service.communities(), key=lambda c: c.community_id))
    if not communities:
        raise PageProblem(404, "还没有登记任何小区。请先通过管理接口导入小区、楼栋和门禁。", title="没有小区")
    wanted = community_id or request.query.get("community")
    community = next((c for c in communities if c.community_id == wanted), None) if wanted else communities[0]
    if community is None:
        raise PageProblem(404, "没有这个小区，链接可能有误。", title="小区不存在")
    gates = {gate.gate_id: gate for gate in await service.gates(community.community_id)}
    return Scope(community, communities, gates)


def _gate_filter(request: web.Request, scope: Scope) -> str | None:
    gate_id = request.query.get("gate") or None
    if gate_id is not None and gate_id not in scope.gates:
        raise PageProblem(404, "本小区没有这个门禁，链接可能有误。", title="门禁不存在")
    return gate_id


# --- rows of the feed and the log ---------------------------------------------------------------

@dataclass(frozen=True)
class EventRow:
    gate_id: str
    gate_name: str
    event_id: str
    ts: datetime
    door: int
    door_name: str
    kind: GateEventKind
    method: AccessMethod | None
    direction: Direction | None
    reason: DenialReason | None
    offline: bool
    person: str | None

    @property
    def tone(self) -> str:
        return _EVENT_TONE.get(self.kind, "")

    @property
    def place(self) -> str:
        return _place(self.gate_name, self.door_name)


def _place(gate_name: str, door_name: str | None) -> str:
    """Where, as people say it: the gate and its door (once when the door is named like its gate)."""
    if not door_name or door_name == gate_name:
        return gate_name
    return f"{gate_name} · {door_name}"


async def event_row(scope: Scope, people: People, entry: AccessLogEntry) -> EventRow:
    return EventRow(entry.gate_id, scope.gate_name(entry.gate_id), entry.event_id, entry.ts, entry.door,
                    scope.door_name(entry.gate_id, entry.door) or "", entry.kind, entry.method, entry.direction,
                    entry.reason, entry.offline, await people.label(entry.resident_id, entry.pass_id))


async def _feed_event_row(scope: Scope, people: People, item: FeedItem) -> EventRow:
    data = item.data
    return EventRow(
        item.gate_id, scope.gate_name(item.gate_id), str(data["event_id"]), datetime.fromisoformat(data["ts"]),
        int(data["door"]), data.get("door_name") or scope.door_name(item.gate_id, int(data["door"])) or "",
        GateEventKind(data["event"]), _optional(AccessMethod, data.get("method")),
        _optional(Direction, data.get("direction")), _optional(DenialReason, data.get("reason")),
        bool(data.get("offline")), await people.label(data.get("resident_id"), data.get("pass_id")))


T = TypeVar("T")


def _optional(kind: Callable[[str], T], value: Any) -> T | None:
    return None if value is None else kind(str(value))


@dataclass(frozen=True)
class AlarmView:
    number: int
    alarm: Alarm
    gate_name: str
    door_name: str | None
    acknowledged_by: str | None
    resolved_by: str | None

    @property
    def tone(self) -> str:
        return _ALARM_TONE[self.alarm.status]

    @property
    def place(self) -> str:
        return _place(self.gate_name, self.door_name)


class Actors:
    """Display names of the accounts that acted (acknowledged, resolved, opened), looked up once per page."""

    def __init__(self, request: web.Request) -> None:
        self._accounts = request.app[SITE].accounts
        self._names: dict[str, str] = {SYSTEM: "系统"}

    async def name(self, account_id: str | None) -> str | None:
        if account_id is None:
            return None
        if account_id not in self._names:
            self._names[account_id] = await self._accounts.display_name(account_id) or account_id
        return self._names[account_id]


async def alarm_view(scope: Scope, actors: Actors, number: int, alarm: Alarm) -> AlarmView:
    return AlarmView(number, alarm, scope.gate_name(alarm.gate_id), scope.door_name(alarm.gate_id, alarm.door),
                     await actors.name(alarm.acknowledged_by), await actors.name(alarm.resolved_by))


@dataclass(frozen=True)
class OpenView:
    request: RemoteOpen
    gate_name: str
    door_name: str
    requested_by: str
    error: str | None

    @property
    def tone(self) -> str:
        return _OPEN_TONE[self.request.status]

    @property
    def place(self) -> str:
        return _place(self.gate_name, self.door_name)


async def open_view(scope: Scope, actors: Actors, request: RemoteOpen) -> OpenView:
    return OpenView(request, scope.gate_name(request.gate_id), scope.door_name(request.gate_id, request.door) or "",
                    await actors.name(request.requested_by) or request.requested_by, open_error_text(request))


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
    module = request.app[SITE].templates.get_template("access/_parts.html").module
    return str(getattr(module, macro)(**arguments))


# --- the console --------------------------------------------------------------------------------

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
        with pages.service.feed.subscribe(gates, frozenset({scope.community.community_id}),
                                          last_event_id(request)) as subscription:
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
    if item.kind == GAP:
        # missed items that cannot be replayed: say so instead of looking complete
        notice = str(item.data["notice"])
        payload["notice"] = notice
        payload["row"] = _fragment(request, "gap_item", notice=notice,
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


# --- the access log -----------------------------------------------------------------------------

@dataclass
class LogFilters:
    gate: str = ""
    door: str = ""
    person: str = ""
    kind: str = ""
    since: str = ""
    until: str = ""


def _local_input(moment: datetime) -> str:
    """An aware time as the value of a datetime-local field (Shanghai wall clock)."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def _from_local_input(text: str) -> datetime:
    """A datetime-local field's value (Shanghai wall clock); ValueError outside 2000..2099 (the contract's)."""
    moment = datetime.fromisoformat(text)
    if not 2000 <= moment.year <= 2099:
        raise ValueError(f"{moment.year} is out of range")
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment


async def _resident_of(service: AccessService, community_id: str, text: str) -> tuple[str | None, str | None]:
    """(resident id, problem) for what was typed: a resident id, or a name that only one resident has."""
    residents = await service.residents(community_id)
    if any(resident.resident_id == text for resident in residents):
        return text, None
    named = [resident for resident in residents if resident.name == text]
    if len(named) == 1:
        return named[0].resident_id, None
    if named:
        ids = "、".join(f"{resident.resident_id}（{resident.unit_id}）" for resident in named[:10])
        return None, f"有 {len(named)} 位住户叫“{text}”，请输入住户编号：{ids}。"
    return None, f"本小区没有住户编号或姓名为“{text}”的住户。"


@page(*MANAGERS)
async def access_log_page(request: web.Request) -> web.Response:
    pages = _pages(request)
    scope = await _scope(request)
    query = request.query
    filters = LogFilters(**{name: query.get(name, "").strip()[:64] for name in LogFilters.__dataclass_fields__})
    problems: list[str] = []
    criteria: dict[str, Any] = {}
    if filters.gate:
        if filters.gate not in scope.gates:
            problems.append("请选择本小区的门禁。")
        criteria["gate_id"] = filters.gate
    if filters.door:
        if not filters.door.isdigit() or not 1 <= int(filters.door) <= 1024:
            problems.append("门号是 1 到 1024 的数字。")
        else:
            criteria["door"] = int(filters.door)
    if filters.person:
        resident_id, problem = await _resident_of(pages.service, scope.community.community_id, filters.person)
        if problem:
            problems.append(problem)
        criteria["resident_id"] = resident_id
    if filters.kind:
        if filters.kind not in GateEventKind._value2member_map_:
            problems.append("请选择事件类型。")
        else:
            criteria["kind"] = GateEventKind(filters.kind)
    for name, label in (("since", "开始时间"), ("until", "结束时间")):
        text = getattr(filters, name)
        if text:
            try:
                criteria[name] = _from_local_input(text)
            except ValueError:
                problems.append(f"{label}的格式不对。")
    if "since" in criteria and "until" in criteria and criteria["until"] <= criteria["since"]:
        problems.append("结束时间要晚于开始时间。")
    cursor = query.get("cursor")
    if cursor:
        try:
            criteria["after"] = decode_cursor(cursor)
        except ValueError:
            problems.append("翻页链接已失效，请从第一页开始。")
    entries: list[EventRow] = []
    next_href = None
    if not problems:
        found = await pages.service.access_log(LogQuery(community_id=scope.community.community_id,
                                                        limit=min(LOG_PAGE, MAX_PAGE), **criteria))
        entries = [await event_row(scope, pages.people, entry) for entry in found.entries]
        if found.next_cursor:
            next_href = scope.href(CONSOLE + "/log", **vars(filters), cursor=found.next_cursor)
    return await _render(request, "access/log.html", {
        "scope": scope, "filters": filters, "problems": problems, "rows": entries, "next_href": next_href,
        "first_href": scope.href(CONSOLE + "/log", **vars(filters)) if cursor else None,
        "kinds": list(GateEventKind), "page_size": LOG_PAGE,
    }, tabs=scope.tabs(CONSOLE + "/log"), status=400 if problems else 200)


# --- alarms -------------------------------------------------------------------------------------

@page(*MANAGERS)
async def alarms_page(request: web.Request) -> web.Response:
    return await _render_alarms(request, await _scope(request))


async def _render_alarms(request: web.Request, scope: Scope, *, problem: str | None = None,
                         status: int = 200) -> web.Response:
    pages = _pages(request)
    query = request.query
    wanted_status = query.get("status", "")
    wanted_gate = query.get("gate", "")
    wanted_kind = query.get("kind", "")
    found = await pages.service.alarms(
        scope.community.community_id,
        status=AlarmStatus(wanted_status) if wanted_status in AlarmStatus._value2member_map_ else None,
        gate_id=wanted_gate if wanted_gate in scope.gates else None,
        kind=AlarmKind(wanted_kind) if wanted_kind in AlarmKind._value2member_map_ else None,
        limit=ALARMS_LISTED)
    actors = Actors(request)
    return await _render(request, "access/alarms.html", {
        "scope": scope, "alarms": [await alarm_view(scope, actors, number, alarm) for number, alarm in found],
        "wanted": {"status": wanted_status, "gate": wanted_gate, "kind": wanted_kind},
        "statuses": list(AlarmStatus), "kinds": list(AlarmKind), "problem": problem, "limit": ALARMS_LISTED,
        "next": request.path_qs,
    }, tabs=scope.tabs(CONSOLE + "/alarms"), status=status)


@page(*MANAGERS)
async def acknowledge_alarm(request: web.Request) -> web.StreamResponse:
    return await _move_alarm(request, acknowledge=True)


@page(*MANAGERS)
async def resolve_alarm(request: web.Request) -> web.StreamResponse:
    return await _move_alarm(request, acknowledge=False)


async def _move_alarm(request: web.Request, *, acknowledge: bool) -> web.StreamResponse:
    service = _pages(request).service
    number = _number(request.match_info["number"])
    form = await form_of(request)
    note = form.get("note", "").strip()
    try:
        community_id, _ = await service.alarm(number)
    except NotFound:
        raise PageProblem(404, f"没有编号为 {number} 的告警。", title="告警不存在") from None
    scope = await _scope(request, community_id)
    if len(note) > MAX_NOTE_CHARS:
        return await _render_alarms(request, scope, status=422,
                                    problem=f"告警 #{number}：备注不能超过 {MAX_NOTE_CHARS} 个字。")
    by = request[PRINCIPAL].subject
    try:
        if acknowledge:
            await service.acknowledge_alarm(number, by, note)
        else:
            await service.resolve_alarm(number, by, note)
    except Conflict:
        _, alarm = await service.alarm(number)
        doing = "确认" if acknowledge else "解决"
        return await _render_alarms(request, scope, status=409, problem=(
            f"告警 #{number} 当前为“{WORDS.alarm_status[alarm.status]}”，不能再{doing}。"))
    raise web.HTTPSeeOther(f"{safe_next(form.get('next') or scope.href(CONSOLE + '/alarms'))}#alarm-{number}")


def _number(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise PageProblem(404, "没有这个告警，链接可能有误。", title="告警不存在")
    return int(raw)


# --- remote open --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DoorChoice:
    value: str
    gate: Gate
    door: GateDoor
    online: bool


async def _door_choices(pages: AccessPages, scope: Scope) -> list[DoorChoice]:
    choices: list[DoorChoice] = []
    for gate_id in sorted(scope.gates):
        gate = scope.gates[gate_id]
        online = (await pages.service.gate_status(gate_id)).online
        choices += [DoorChoice(f"{gate_id}:{door.number}", gate, door, online) for door in gate.doors]
    return choices


@page(*MANAGERS)
async def remote_open_page(request: web.Request) -> web.Response:
    """The form; ?gate= offers that gate's doors only (from its tile on the console), ?door= picks one."""
    scope = await _scope(request)
    gate, door = request.query.get("gate", ""), request.query.get("door", "")
    only = gate if gate in scope.gates else None
    chosen = f"{gate}:{door}" if only and door else ""
    if only and not door and len(scope.gates[only].doors) == 1:
        chosen = f"{only}:{scope.gates[only].doors[0].number}"
    return await _render_open_form(request, scope, chosen, "", only_gate=only)


async def _render_open_form(request: web.Request, scope: Scope, chosen: str, reason: str,
                            problems: Sequence[str] = (), status: int = 200,
                            only_gate: str | None = None) -> web.Response:
    pages = _pages(request)
    actors = Actors(request)
    recent = await pages.service.remote_opens(scope.community.community_id, limit=REMOTE_OPENS_LISTED)
    choices = [choice for choice in await _door_choices(pages, scope)
               if only_gate is None or choice.gate.gate_id == only_gate]
    return await _render(request, "access/open.html", {
        "scope": scope, "choices": choices, "only_gate": only_gate, "chosen": chosen, "reason": reason,
        "problems": problems, "max_reason": MAX_REASON_CHARS,
        "recent": [await open_view(scope, actors, item) for item in recent],
        "seconds": pages.service.settings.remote_open_seconds,
    }, tabs=scope.tabs(CONSOLE + "/open"), status=status)


@page(*MANAGERS)
async def remote_open_form(request: web.Request) -> web.StreamResponse:
    """One form, three steps: review (show what will happen), edit (back to the form), confirm (send ``open``)."""
    pages = _pages(request)
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    chosen, reason, step = form.get("door", ""), " ".join(form.get("reason", "").split()), form.get("step", "review")
    problems: list[str] = []
    match = _DOOR_VALUE.match(chosen)
    gate = scope.gates.get(match.group(1)) if match else None
    door = next((d for d in gate.doors if d.number == int(match.group(2))), None) if gate and match else None
    if door is None or gate is None:
        problems.append("请选择要打开的门。")
    if not reason:
        problems.append("请写明开门原因（会记入审计日志）。")
    elif len(reason) > MAX_REASON_CHARS:
        problems.append(f"开门原因不能超过 {MAX_REASON_CHARS} 个字。")
    if problems or step == "edit" or gate is None or door is None:
        return await _render_open_form(request, scope, chosen, reason, problems, status=422 if problems else 200)
    if step != "confirm":
        status = await pages.service.gate_status(gate.gate_id)
        return await _render(request, "access/open_confirm.html", {
            "scope": scope, "gate": gate, "door": door, "chosen": chosen, "reason": reason, "online": status.online,
            "seconds": pages.service.settings.remote_open_seconds,
            "timeout": int(pages.service.settings.remote_open_timeout.total_seconds()),
        }, tabs=scope.tabs(CONSOLE + "/open"))
    try:
        outcome = await pages.service.open_door(gate.gate_id, door.number, request[PRINCIPAL].subject, reason)
    except AccessError:
        return await _render_open_form(request, scope, chosen, reason, ["这扇门已不存在或无法远程打开。"], status=422)
    raise web.HTTPSeeOther(scope.href(f"{CONSOLE}/open/{outcome.cmd_id}"))


@page(*MANAGERS)
async def remote_open_result(request: web.Request) -> web.Response:
    service = _pages(request).service
    try:
        found, community_id = await service.remote_open(request.match_info["cmd_id"])
    except NotFound:
        raise PageProblem(404, "没有这条远程开门记录，链接可能有误。", title="记录不存在") from None
    scope = await _scope(request, community_id)
    view = await open_view(scope, Actors(request), found)
    return await _render(request, "access/open_result.html", {
        "scope": scope, "view": view, "pending": found.status is RemoteOpenStatus.PENDING,
        "refresh_s": PENDING_REFRESH_S, "again": scope.href(CONSOLE + "/open", gate=found.gate_id, door=found.door),
    }, tabs=scope.tabs(CONSOLE + "/open"))


# --- residents ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Me:
    resident: ResidentRecord
    community: Community
    gates: Mapping[str, Gate]

    def door_label(self, door: Door) -> str:
        gate = self.gates.get(door.gate_id)
        named = next((d for d in gate.doors if d.number == door.number), None) if gate else None
        if gate is None or named is None:
            return f"{door.gate_id} {door.number}号门"
        return named.name if named.name == gate.name else f"{named.name}（{gate.name}）"


@dataclass(frozen=True)
class MyDoor:
    door: Door
    label: str
    kind: DoorKind | None
    windows: tuple[str, ...]

    @property
    def value(self) -> str:
        return f"{self.door.gate_id}:{self.door.number}"


async def _me(request: web.Request) -> Me:
    service = _pages(request).service
    try:
        resident, community_id = await service.signed_in_resident(request[PRINCIPAL].subject)
    except NotFound:
        raise PageProblem(403, "您的账号还没有与小区的住户登记关联。请带上身份证明到物业服务中心登记后再使用。",
                          title="尚未登记住户信息") from None
    except NotAllowed:
        raise PageProblem(403, "您的住户登记已迁出或停用，不能再查看住户信息。如有疑问请联系物业服务中心。",
                          title="住户登记已失效") from None
    community = await service.community(community_id)
    gates = {gate.gate_id: gate for gate in await service.gates(community_id)}
    return Me(resident, community, gates)


def _resident_tabs(current: str) -> list[Tab]:
    return [Tab(label, path, path == current) for label, path in (
        ("我的住户信息", MINE), ("我的访客", MINE + "/visitors"), ("邀请访客", MINE + "/visitors/new"))]


async def _my_doors(service: AccessService, me: Me) -> list[MyDoor]:
    """The doors the resident may open, with when (from their access groups)."""
    windows: dict[Door, list[str]] = {}
    for record in await service.groups(me.community.community_id):
        if record.group.group_id in me.resident.group_ids:
            for door in record.group.doors:
                texts = windows.setdefault(door, [])
                texts += [text for text in map(window_text, record.group.windows) if text not in texts]
    doors: list[MyDoor] = []
    for door in sorted(windows):
        gate = me.gates.get(door.gate_id)
        named = next((d for d in gate.doors if d.number == door.number), None) if gate else None
        doors.append(MyDoor(door, me.door_label(door), named.kind if named else None, tuple(windows[door])))
    return doors


@dataclass(frozen=True)
class CredentialView:
    record: CredentialRecord
    hint: str
    state: str
    tone: str


def _credential_view(record: CredentialRecord, now: datetime) -> CredentialView:
    if record.kind is CredentialKind.CARD:
        hint = f"尾号 {record.hint.lstrip('…')}" if record.hint else "已登记"
    elif record.kind is CredentialKind.FACE:
        hint = "已录入"
    else:
        hint = "已设置（不显示）"
    if record.revoked_at is not None:
        return CredentialView(record, hint, "已挂失/停用", "bad")
    if record.valid_to is not None and record.valid_to <= now:
        return CredentialView(record, hint, "已过期", "warn")
    if record.valid_from is not None and record.valid_from > now:
        return CredentialView(record, hint, "尚未生效", "info")
    return CredentialView(record, hint, "有效", "ok")


@page(*RESIDENTS)
async def my_unit(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    unit, _ = await service.unit(me.resident.unit_id)
    building = next((b for b in await service.buildings(me.community.community_id)
                     if b.building_id == unit.building_id), None)
    household = await service.residents(me.community.community_id, unit.unit_id, active_only=True)
    now = _now(request)
    credentials = [_credential_view(record, now) for record in await service.credentials_of(me.resident.resident_id)]
    return await _render(request, "access/my.html", {
        "me": me, "unit": unit, "building": building.name if building else unit.building_id,
        "household": household, "credentials": credentials, "doors": await _my_doors(service, me),
        "active_passes": sum(1 for record in await service.passes(resident_ids=[me.resident.resident_id])
                             if record.status(now) is PassStatus.ACTIVE),
    }, tabs=_resident_tabs(MINE))


@dataclass(frozen=True)
class PassView:
    record: VisitorPassRecord
    status: PassStatus
    doors: tuple[str, ...]
    remaining: int

    @property
    def tone(self) -> str:
        return _PASS_TONE[self.status]

    @property
    def revocable(self) -> bool:
        return self.status in (PassStatus.ACTIVE, PassStatus.USED_UP)

    @property
    def visitor_phone(self) -> str | None:
        phone = self.record.visitor_phone
        return None if phone is None else mask_phone(phone)


def _pass_view(me: Me, record: VisitorPassRecord, now: datetime) -> PassView:
    visit = record.visitor_pass
    return PassView(record, record.status(now), tuple(me.door_label(door) for door in sorted(visit.doors)),
                    max(0, visit.max_uses - record.uses))


@page(*RESIDENTS)
async def my_visitors(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    now = _now(request)
    passes = [_pass_view(me, record, now) for record in await service.passes(resident_ids=[me.resident.resident_id])]
    passes.sort(key=lambda view: (view.status is not PassStatus.ACTIVE, -view.record.issued_at.timestamp()))
    return await _render(request, "access/visitors.html", {
        "me": me, "passes": passes, "revoked": request.query.get("revoked"),
    }, tabs=_resident_tabs(MINE + "/visitors"))


@dataclass
class InviteForm:
    doors: list[str] = field(default_factory=list)
    start: str = ""
    hours: str = "4"
    uses: str = "4"
    visitor_name: str = ""
    visitor_phone: str = ""


@page(*RESIDENTS)
async def invite_page(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    settings = service.settings
    hours = int(settings.pass_default_validity.total_seconds() // 3600)
    form = InviteForm(start=_local_input(_now(request)), hours=str(hours if hours in INVITE_HOURS else 4),
                      uses=str(settings.pass_default_uses))
    return await _render_invite(request, me, form)


async def _render_invite(request: web.Request, me: Me, form: InviteForm, problems: Sequence[str] = (),
                         status: int = 200) -> web.Response:
    service = _pages(request).service
    max_hours = int(service.settings.pass_max_validity.total_seconds() // 3600)
    return await _render(request, "access/invite.html", {
        "me": me, "form": form, "problems": problems, "doors": await _my_doors(service, me),
        "hour_choices": [hours for hours in INVITE_HOURS if hours <= max_hours], "max_name": MAX_NAME_LENGTH,
        "can_invite": me.resident.status is ResidentStatus.ACTIVE,
    }, tabs=_resident_tabs(MINE + "/visitors/new"), status=status)


@dataclass(frozen=True)
class Invitation:
    doors: frozenset[Door]
    start: datetime
    end: datetime
    uses: int
    visitor_name: str | None
    visitor_phone: str | None


def read_invitation(form: InviteForm, allowed: Iterable[Door], now: datetime,
                    max_validity: timedelta) -> Invitation | list[str]:
    """The invitation on the form, or what is wrong with it (in words for the resident)."""
    problems: list[str] = []
    allowed = set(allowed)
    doors: set[Door] = set()
    for value in form.doors:
        match = _DOOR_VALUE.match(value)
        door = Door(match.group(1), int(match.group(2))) if match and 1 <= int(match.group(2)) <= 1024 else None
        if door is None or door not in allowed:
            problems.append("只能邀请访客通过您自己可以通行的门。")
            break
        doors.add(door)
    if not form.doors:
        problems.append("请至少选择一扇门。")
    start = now
    if form.start:
        try:
            start = _from_local_input(form.start)
        except ValueError:
            problems.append("开始时间的格式不对。")
    if start < now - timedelta(minutes=5):
        problems.append("开始时间已经过去，请重新选择。")
    elif start > now + MAX_INVITE_AHEAD:
        problems.append("最多只能提前 30 天邀请。")
    hours = int(form.hours) if form.hours.isdigit() else 0
    if hours < 1 or timedelta(hours=hours) > max_validity:
        problems.append(f"有效时长为 1 到 {int(max_validity.total_seconds() // 3600)} 小时。")
    uses = int(form.uses) if form.uses.isdigit() else 0
    if not 1 <= uses <= 100:
        problems.append("可用次数为 1 到 100 次。")
    name = form.visitor_name.strip()
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"访客称呼不能超过 {MAX_NAME_LENGTH} 个字（二维码里会带上它，越短越好）。")
    phone = form.visitor_phone.strip()
    if phone and not _PHONE.match(phone):
        problems.append("访客手机号的格式不对。")
    if problems:
        return problems
    start = max(start, now).replace(microsecond=0)
    return Invitation(frozenset(doors), start, start + timedelta(hours=hours), uses, name or None, phone or None)


def _invite_form(form: MultiDictProxy[str]) -> InviteForm:
    return InviteForm(doors=form.getall("door", [])[:16], start=form.get("start", "").strip(),
                      hours=form.get("hours", "").strip(), uses=form.get("uses", "").strip(),
                      visitor_name=form.get("visitor_name", ""), visitor_phone=form.get("visitor_phone", ""))


@page(*RESIDENTS)
async def invite(request: web.Request) -> web.StreamResponse:
    service = _pages(request).service
    me = await _me(request)
    form = _invite_form(await form_of(request))
    allowed = [door.door for door in await _my_doors(service, me)]
    outcome = read_invitation(form, allowed, _now(request), service.settings.pass_max_validity)
    if isinstance(outcome, list):
        return await _render_invite(request, me, form, outcome, status=422)
    try:
        issued = await service.invite(me.resident.resident_id, outcome.doors, valid_from=outcome.start,
                                      valid_to=outcome.end, max_uses=outcome.uses, visitor_name=outcome.visitor_name,
                                      visitor_phone=outcome.visitor_phone)
    except NotAllowed:
        return await _render_invite(request, me, form, ["您的住户状态不允许邀请访客，请联系物业。"], status=403)
    except AccessError as refused:
        log.info("invitation refused", extra={"error": str(refused)})
        return await _render_invite(request, me, form, ["通行码未能生成：所选的门或时间不符合规则，请调整后重试。"],
                                    status=422)
    raise web.HTTPSeeOther(f"{MINE}/visitors/{issued.record.pass_id}?new=1")


async def _my_pass(request: web.Request, me: Me) -> VisitorPassRecord:
    try:
        record, _ = await _pages(request).service.visitor_pass(request.match_info["pass_id"])
    except NotFound:
        raise PageProblem(404, "没有这张访客通行码，链接可能有误。", title="通行码不存在") from None
    if record.resident_id != me.resident.resident_id:
        raise PageProblem(403, "只有邀请访客的住户本人可以查看这张通行码。", title="不是您的访客")
    return record


@page(*RESIDENTS)
async def pass_page(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    record = await _my_pass(request, me)
    view = _pass_view(me, record, _now(request))
    qr = qr_svg(service.pass_text(record), "访客通行二维码") if view.status is PassStatus.ACTIVE else None
    return await _render(request, "access/pass.html", {
        "me": me, "view": view, "qr": qr, "created": request.query.get("new") is not None,
    }, tabs=_resident_tabs(MINE + "/visitors"))


@page(*RESIDENTS)
async def revoke_pass(request: web.Request) -> web.StreamResponse:
    service = _pages(request).service
    me = await _me(request)
    record = await _my_pass(request, me)
    try:
        await service.revoke_pass(record.pass_id, me.resident.resident_id)
    except Conflict:
        raise PageProblem(409, "这张通行码已撤销或已过期，无需再撤销。", title="无法撤销") from None
    raise web.HTTPSeeOther(f"{MINE}/visitors?{urlencode({'revoked': record.pass_id})}")


__all__ = ["PAGES", "WORDS", "AccessPages", "EntryCounter", "TodayEntries", "mount_access_pages", "read_invitation",
           "window_text"]

