"""The gateway's HTTP face: status page, health, readiness, Prometheus metrics, dead letters (who may read them:
:mod:`gateway.staff_access`)."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from devices import chinese_names
from gateway.outputs import PointQuery, Row, StoreRejected, StoreUnavailable, TimeSeriesStore
from gateway.processors.decoding import DeadLetterReason
from gateway.processors.points import Measurement
from gateway.registry import DeviceStatus
from gateway.service import Gateway
from gateway.staff_access import StaffAccess, staff_api, staff_page
from webkit.auth import check_tokens_with, serve_tokens
from webkit.json_errors import json_error

GATEWAY = web.AppKey("gateway", Gateway)
STORE = web.AppKey("store", TimeSeriesStore)
"""The store the pages read points from: the gateway's, or (several workers) the parent's own connection to it."""
TEMPLATES = web.AppKey("templates", jinja2.Environment)
MORE_METRICS = web.AppKey("more_metrics", list[CollectorRegistry])
"""Other registries served at /metrics after the gateway's (the notifications', where the services run beside)."""
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_PAGE = 500


DEAD_LETTER_REASON: Mapping[str, str] = {
    DeadLetterReason.UNKNOWN_TOPIC: "主题不合规范", DeadLetterReason.PAYLOAD_TOO_LARGE: "消息过大",
    DeadLetterReason.NOT_UTF8: "不是 UTF-8 编码", DeadLetterReason.BAD_JSON: "JSON 格式错误",
    DeadLetterReason.SCHEMA: "字段不符合协议", DeadLetterReason.DEVICE_MISMATCH: "设备号与主题不符",
}
COUNTED: Mapping[str, str] = {
    "event": "门禁事件", "record": "交易", "state": "状态", "ack": "回执", "cmd": "指令", "invalid": "无效",
    "store": "时序库", "spool": "磁盘暂存", "mqtt": "MQTT", "http": "HTTP 上报",
}
"""The status page's counters: channels received, and where stored messages went."""
NAMES: Mapping[str, Mapping[Any, str]] = {
    "event_name": chinese_names.GATE_EVENT, "method_name": chinese_names.ACCESS_METHOD,
    "reason_name": chinese_names.DENIAL_REASON, "device_kind_name": chinese_names.DEVICE_KIND,
    "dead_letter_reason_name": DEAD_LETTER_REASON, "counted_name": COUNTED,
}
"""Template filters naming the contract's values in Chinese (an unknown value shows as it is)."""


def _naming(vocabulary: Mapping[Any, str]) -> Callable[[object], str]:
    def name(value: object) -> str:
        return vocabulary.get(str(value), str(value))

    return name


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class StatusHandlers:
    """What differs between one gateway's face and the face of several workers' parent (gateway.fleet_web)."""

    page: Handler
    readyz: Handler
    metrics: Handler
    status: Handler
    devices: Handler


def mount_status_routes(app: web.Application, store: TimeSeriesStore, access: StaffAccess, handlers: StatusHandlers,
                        status_path: str = "/") -> None:
    """The status page and its APIs on ``app``, reading points from ``store``: one place decides who may call each
    (staff only but /healthz and /readyz, and /metrics when ``access`` leaves it open to a scraper)."""
    app[STORE] = store
    app[TEMPLATES] = status_templates()
    serve_tokens(app, access.authority, access.now)
    if access.checker is not None:
        check_tokens_with(app, access.checker)
    app.router.add_get(status_path, staff_page(handlers.page, access.sign_in_page))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics if access.metrics_public else staff_api(handlers.metrics))
    app.router.add_get("/api/status", staff_api(handlers.status))
    app.router.add_get("/api/devices", staff_api(handlers.devices))
    app.router.add_get("/api/dead-letters", staff_api(dead_letters_json))
    app.router.add_get("/api/recent/{measurement}", staff_api(recent_json))


def create_app(gateway: Gateway, access: StaffAccess, status_path: str = "/",
               app: web.Application | None = None) -> web.Application:
    """The gateway's pages and APIs, on ``app`` when given (the composition root's, with its body limit) or on a
    new application; its status page at ``status_path`` ("/" when it runs alone). Everything but /healthz,
    /readyz and the devices' ``POST /ingest/v1/...`` (a device token, :mod:`gateway.inputs.http`) answers staff
    only, checked with ``access`` (:mod:`gateway.staff_access`)."""
    app = web.Application() if app is None else app
    app[GATEWAY] = gateway
    mount_status_routes(app, gateway.store, access, StatusHandlers(status_page, readyz, metrics, status_json,
                                                                  devices_json), status_path)
    gateway.http_source.mount(app)  # a device route: its own token, no person's (gateway.inputs.http)
    return app


def create_worker_app(gateway: Gateway) -> web.Application:
    """What one worker of several (``smartcity gateway --workers N``) serves its parent, on a socket only the
    installation's user can open (so without tokens): its metrics, status, devices and readiness, and the devices'
    HTTP ingestion the parent passes on. The parent serves the one status page, /metrics and /readyz."""
    app = web.Application()
    app[GATEWAY] = gateway
    app[STORE] = gateway.store
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/status", status_json)
    app.router.add_get("/api/devices", devices_json)
    gateway.http_source.mount(app)
    return app


def status_templates() -> jinja2.Environment:
    """The status page's template with its filters."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    templates.filters["local_time"] = local_time
    templates.filters["local_clock"] = local_clock
    for name, vocabulary in NAMES.items():
        templates.filters[name] = _naming(vocabulary)
    return templates


def local_time(time_ns: Any, short: bool = False) -> str:
    """Asia/Shanghai wall-clock time of a point, for people; ``short``: the time of day only."""
    if not isinstance(time_ns, int):
        return ""
    moment = datetime.fromtimestamp(time_ns / 1e9, tz=UTC).astimezone(SHANGHAI)
    return moment.strftime("%H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")


def local_clock(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%H:%M:%S") if moment else ""


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[GATEWAY].readiness()
    ready = checks["broker_connected"] and (checks["store_up"] or checks["spool_has_room"])
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = b"".join(generate_latest(registry) for registry in (
        request.app[GATEWAY].metrics.registry, *request.app.get(MORE_METRICS, ())))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def status_summary(gateway: Gateway) -> dict[str, Any]:
    m = gateway.metrics
    return {
        "site": gateway.settings.site,
        "store": gateway.store.name,
        "readiness": gateway.readiness(),
        "received": m.by_label("sc_gateway_messages_received_total", "channel"),
        "received_by_transport": m.by_label("sc_gateway_messages_received_total", "transport"),
        "http_answers": m.by_label("sc_gateway_http_ingest_requests_total", "status"),
        "stored": m.by_label("sc_gateway_messages_stored_total", "to"),
        "dead_letters": m.by_label("sc_gateway_dead_letters_total", "reason"),
        "spool": {"points": gateway.spool.depth_points, "bytes": gateway.spool.depth_bytes},
        "devices_online": gateway.registry.online_count(),
        "devices_known": len(gateway.registry.devices()),
    }


async def status_json(request: web.Request) -> web.Response:
    return web.json_response(status_summary(request.app[GATEWAY]))


async def devices_json(request: web.Request) -> web.Response:
    devices = [
        {
            "site": d.site,
            "kind": d.kind.value,
            "device": d.device,
            "online": d.online,
            "last_seen": d.last_seen.isoformat() if d.last_seen else None,
            "messages": d.messages,
        }
        for d in request.app[GATEWAY].registry.devices()
    ]
    return web.json_response({"devices": devices})


LATEST_NS = 2**63 - 1
"""The latest point time either store can hold or compare with (a signed 64-bit count of ns)."""


def _limit(request: web.Request, default: int = 50) -> int:
    limit = _integer(request, "limit", 1, MAX_PAGE)
    return default if limit is None else limit


def _before(request: web.Request) -> int | None:
    return _integer(request, "before", 0, LATEST_NS, "a point time in ns (as next_before gives it)")


def _integer(request: web.Request, name: str, lowest: int, highest: int, what: str = "an integer") -> int | None:
    """Query parameter ``name`` as a whole number in [lowest, highest]; None when absent; a 400 saying what it must
    be otherwise (a number beyond what the store can compare was a 500 once)."""
    raw = request.query.get(name)
    if raw is None:
        return None
    # isdigit() alone takes "²"; the length bound keeps int() cheap on a long string of digits
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(highest))) or not lowest <= int(raw) <= highest:
        raise json_error(web.HTTPBadRequest, f"{name} must be {what} from {lowest} to {highest}")
    return int(raw)


async def _select(store: TimeSeriesStore, query: PointQuery) -> list[Row]:
    try:
        return await store.select(query)
    except StoreUnavailable as error:
        raise json_error(web.HTTPServiceUnavailable, str(error)) from None
    except StoreRejected as error:
        raise json_error(web.HTTPBadRequest, str(error)) from None


def dead_letter_view(row: Row) -> dict[str, Any]:
    raw = base64.b64decode(str(row.get("payload_b64", "")))
    return {
        "time": datetime.fromtimestamp(int(row["time"]) / 1e9, tz=UTC).isoformat(),
        "time_ns": row["time"],
        "reason": row.get("reason"),
        "detail": row.get("detail"),
        "topic": row.get("topic"),
        "payload_bytes": row.get("payload_bytes"),
        "payload_truncated": row.get("truncated"),
        "payload_text": raw.decode("utf-8", "replace"),
        "payload_b64": row.get("payload_b64"),
    }


async def dead_letters_json(request: web.Request) -> web.Response:
    """Newest first; ``?reason=`` filters, ``?before=<time_ns>`` pages back."""
    tags: dict[str, str] = {}
    reason = request.query.get("reason")
    if reason is not None:
        if reason not in DeadLetterReason.__members__.values():
            reasons = ", ".join(r.value for r in DeadLetterReason)
            raise json_error(web.HTTPBadRequest, f"reason must be one of {reasons}")
        tags["reason"] = reason
    limit = _limit(request)
    rows = await _select(
        request.app[STORE],
        PointQuery(Measurement.DEAD_LETTER, end_ns=_before(request), tags=tags, limit=limit),
    )
    items = [dead_letter_view(row) for row in rows]
    next_before = items[-1]["time_ns"] if len(items) == limit else None
    return web.json_response({"dead_letters": items, "next_before": next_before})


RECENT = {Measurement.GATE_EVENT, Measurement.SCALE_RECORD, Measurement.DEVICE_STATE, Measurement.DEVICE_ACK}


async def recent_json(request: web.Request) -> web.Response:
    measurement = request.match_info["measurement"]
    if measurement not in RECENT:
        raise json_error(web.HTTPNotFound, f"measurement must be one of {', '.join(sorted(RECENT))}")
    limit = _limit(request)
    rows = await _select(
        request.app[STORE], PointQuery(measurement, end_ns=_before(request), limit=limit)
    )
    next_before = rows[-1]["time"] if len(rows) == limit else None
    return web.json_response({"points": rows, "next_before": next_before})


async def status_page(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    html = await status_html(request.app[TEMPLATES], gateway.store, status_summary(gateway),
                             gateway.registry.devices())
    return web.Response(text=html, content_type="text/html")


async def status_html(templates: jinja2.Environment, store: TimeSeriesStore, summary: Mapping[str, Any],
                      devices: list[DeviceStatus], workers: list[Mapping[str, Any]] | None = None) -> str:
    """The status page: ``summary`` as :func:`status_summary` makes it, the latest points from ``store``; with
    ``workers`` (several gateway processes), a row for each."""
    started = time.perf_counter()
    try:
        events = await store.select(PointQuery(Measurement.GATE_EVENT, limit=15))
        records = await store.select(PointQuery(Measurement.SCALE_RECORD, limit=15))
        dead = [dead_letter_view(row) for row in await store.select(PointQuery(Measurement.DEAD_LETTER, limit=10))]
        store_error = None
    except (StoreUnavailable, StoreRejected) as error:
        events, records, dead, store_error = [], [], [], str(error)
    return templates.get_template("status.html").render(
        summary=summary,
        devices=devices,
        workers=workers,
        events=events,
        records=records,
        dead_letters=dead,
        store_error=store_error,
        query_ms=round((time.perf_counter() - started) * 1000),
        now=datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
    )
