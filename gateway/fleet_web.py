"""The HTTP face of a gateway of several workers (``smartcity gateway --workers N``), served by their parent on the
one HTTP port: the same status page (totals, and a row per worker), /metrics summed over the workers, /readyz
ready when every worker is, the staff APIs, and the devices' HTTP ingestion passed on to a worker in turn. Who may
read what is as for one gateway (:mod:`gateway.staff_access`)."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.fleet import Fleet
from gateway.inputs.http import INGEST_PATH
from gateway.outputs import TimeSeriesStore
from gateway.staff_access import StaffAccess
from gateway.summed_metrics import render
from gateway.web import STORE, TEMPLATES, StatusHandlers, mount_status_routes, status_html
from webkit.json_errors import json_error

FLEET = web.AppKey("fleet", Fleet)
PASSED_ON = ("Authorization", "Content-Type")
"""The headers of a device's ingestion request the worker needs."""
ANSWERED_WITH = ("Content-Type", "Retry-After", "WWW-Authenticate", "Cache-Control")
INGEST_RETRY_AFTER_S = 5


def create_fleet_app(fleet: Fleet, store: TimeSeriesStore, access: StaffAccess,
                     app: web.Application | None = None, ingest_wait_s: float = 10.0) -> web.Application:
    """As :func:`gateway.web.create_app` for one gateway, over ``fleet``'s workers; ``store``: the parent's own
    connection to the time-series store the workers write, for the pages' latest points and the staff APIs;
    ``ingest_wait_s``: how long a worker may take to answer an ingestion request (SC_HTTP_INGEST_WAIT_S)."""
    app = web.Application() if app is None else app
    app[FLEET] = fleet
    mount_status_routes(app, store, access, StatusHandlers(status_page, readyz, metrics, status_json, devices_json))
    app.router.add_post(INGEST_PATH, _ingest(ingest_wait_s))  # a device route: the worker checks its token
    return app


async def readyz(request: web.Request) -> web.Response:
    """Ready when every worker is (a load balancer sends devices' HTTP here only then)."""
    workers = await request.app[FLEET].readiness()
    ready = all(worker["ready"] for worker in workers)
    checks = {name: all(worker[name] for worker in workers)
              for name in ("broker_connected", "store_up", "spool_has_room")}
    return web.json_response({"ready": ready, **checks, "workers": workers}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    fleet = request.app[FLEET]
    await fleet.read()
    body = render(fleet.totals()) + generate_latest(fleet.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def fleet_summary(fleet: Fleet, store_name: str) -> dict[str, Any]:
    """:func:`gateway.web.status_summary` of the workers together, with a row for each (``workers``)."""
    await fleet.read()
    totals = fleet.totals()
    rows = fleet.rows()
    devices = await fleet.devices()
    return {
        "site": fleet.site,
        "store": store_name,
        "readiness": {
            "broker_connected": all(row["broker_connected"] for row in rows),
            "store_up": all(row["store_up"] for row in rows),
            "spool_has_room": all(row["spool_has_room"] for row in rows),
        },
        "received": totals.by_label("sc_gateway_messages_received_total", "channel"),
        "received_by_transport": totals.by_label("sc_gateway_messages_received_total", "transport"),
        "http_answers": totals.by_label("sc_gateway_http_ingest_requests_total", "status"),
        "stored": totals.by_label("sc_gateway_messages_stored_total", "to"),
        "dead_letters": totals.by_label("sc_gateway_dead_letters_total", "reason"),
        "spool": {"points": sum(row["spool_points"] for row in rows),
                  "bytes": sum(row["spool_bytes"] for row in rows)},
        "devices_online": sum(1 for device in devices if device.online),
        "devices_known": len(devices),
        "workers": rows,
    }


async def status_json(request: web.Request) -> web.Response:
    return web.json_response(await fleet_summary(request.app[FLEET], request.app[STORE].name))


async def devices_json(request: web.Request) -> web.Response:
    devices = [
        {"site": d.site, "kind": d.kind.value, "device": d.device, "online": d.online,
         "last_seen": d.last_seen.isoformat() if d.last_seen else None, "messages": d.messages}
        for d in await request.app[FLEET].devices()
    ]
    return web.json_response({"devices": devices})


async def status_page(request: web.Request) -> web.Response:
    fleet, store = request.app[FLEET], request.app[STORE]
    summary = await fleet_summary(fleet, store.name)
    html = await status_html(request.app[TEMPLATES], store, summary, await fleet.devices(), summary["workers"])
    return web.Response(text=html, content_type="text/html")


def _ingest(wait_s: float) -> Any:
    async def ingest(request: web.Request) -> web.Response:
        """A device's message(s), passed on to the next running worker as they came; its answer, as it gave it."""
        slot = request.app[FLEET].ingest_worker()
        if slot is None or slot.session is None:
            raise json_error(web.HTTPServiceUnavailable, "no gateway worker is running: send again later",
                             headers={"Retry-After": str(INGEST_RETRY_AFTER_S)})
        headers = {name: request.headers[name] for name in PASSED_ON if name in request.headers}
        body = await request.read()
        try:
            async with slot.session.post(f"http://gateway-worker{request.path_qs}", data=body, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=wait_s + 5)) as answer:
                text = await answer.read()
                kept = {name: answer.headers[name] for name in ANSWERED_WITH if name in answer.headers}
                return web.Response(body=text, status=answer.status, headers=kept)
        except (aiohttp.ClientError, TimeoutError, OSError):
            raise json_error(web.HTTPServiceUnavailable, "the gateway worker did not answer: send again",
                             headers={"Retry-After": str(INGEST_RETRY_AFTER_S)}) from None

    return ingest
