"""Builds the Grafana dashboards (dashboards/json/*.json) from the compact specification below.

    python dashboards/build.py          # rewrite the JSON files
    python dashboards/build.py --check  # exit 1 if they are stale (the tests do this)

Every query is InfluxQL over the measurements the gateway writes (docs/storage.md), so the same
dashboards work on InfluxDB 1.x, 2.x (v1 API, DBRP) and 3.x.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "influxdb", "uid": "smartcity-influxdb"}
OUT = Path(__file__).parent / "json"


@dataclass(frozen=True)
class Query:
    text: str
    alias: str = ""
    result: str = "time_series"


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"  # timeseries | stat | table | barchart
    unit: str = ""
    width: int = 12
    height: int = 8
    stacked: bool = False
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = field(default_factory=tuple)


GATEWAY = Dashboard("sc-gateway", "网关 Gateway", tags=("smartcity", "gateway"), panels=(
    Panel("Stored events/s 存储速率", (Query(
        'SELECT non_negative_derivative(max("stored"), 1s) FROM "gateway_stats" '
        'WHERE $timeFilter GROUP BY time($__interval), "gateway" fill(none)', "$tag_gateway"),), unit="ops"),
    Panel("Received events/s 接收速率", (Query(
        'SELECT non_negative_derivative(max("received"), 1s) FROM "gateway_stats" '
        'WHERE $timeFilter GROUP BY time($__interval), "gateway" fill(none)', "$tag_gateway"),), unit="ops"),
    Panel("Dead letters by reason 死信", (Query(
        'SELECT count("payload_bytes") FROM "dead_letter" WHERE $timeFilter '
        'GROUP BY time($__interval), "reason" fill(0)', "$tag_reason"),), kind="barchart", stacked=True),
    Panel("Spool depth 缓存积压 (points)", (Query(
        'SELECT max("spool_points") FROM "gateway_stats" WHERE $timeFilter '
        'GROUP BY time($__interval), "gateway" fill(previous)', "$tag_gateway"),)),
    Panel("Latest dead letters", (Query(
        'SELECT "reason", "topic", "detail", "payload_bytes" FROM "dead_letter" WHERE $timeFilter '
        'ORDER BY time DESC LIMIT 50', result="table"),), kind="table", width=24),
))

ACCESS = Dashboard("sc-access", "门禁 Access control", tags=("smartcity", "community"), panels=(
    Panel("Gate events per hour by kind 每小时通行事件", (Query(
        'SELECT count("event_id") FROM "gate_event" WHERE $timeFilter GROUP BY time(1h), "kind" fill(0)',
        "$tag_kind"),), kind="barchart", stacked=True),
    Panel("Denial rate 拒绝率", (Query(
        'SELECT mean("denied") FROM "gate_event" WHERE $timeFilter GROUP BY time($__interval), "device" fill(none)',
        "$tag_device"),), unit="percentunit",
        description="Share of entry attempts (granted + denied) refused, per gate"),
    Panel("Denials 拒绝 vs grants 通过", (
        Query('SELECT count("event_id") FROM "gate_event" WHERE "kind" = \'denied\' AND $timeFilter '
              'GROUP BY time($__interval) fill(0)', "denied"),
        Query('SELECT count("event_id") FROM "gate_event" WHERE "kind" = \'granted\' AND $timeFilter '
              'GROUP BY time($__interval) fill(0)', "granted"),
    )),
    Panel("Denials by reason 拒绝原因", (Query(
        'SELECT count("event_id") FROM "gate_event" WHERE "kind" = \'denied\' AND $timeFilter '
        'GROUP BY "reason"', "$tag_reason"),), kind="barchart"),
    Panel("Alarms 告警 (forced, held open, tamper)", (Query(
        'SELECT count("event_id") FROM "gate_event" WHERE "kind" =~ /^(forced|held_open|tamper)$/ '
        'AND $timeFilter GROUP BY time($__interval), "kind", "device" fill(0)', "$tag_device $tag_kind"),),
        kind="barchart", stacked=True),
    Panel("Devices going offline 设备掉线", (Query(
        'SELECT count("online") FROM "device_state" WHERE "online" = false AND $timeFilter '
        'GROUP BY time($__interval), "kind", "device" fill(0)', "$tag_kind $tag_device"),),
        kind="barchart", stacked=True,
        description="Offline states (the device's own, or its last will when the connection dropped)"),
    Panel("Devices online 在线设备", (Query(
        'SELECT count("last") FROM (SELECT last("online") FROM "device_state" GROUP BY "device") '
        'WHERE "last" = true', "online"),), kind="stat", width=6),
    Panel("Device availability 设备状态", (Query(
        'SELECT last("online") AS "online" FROM "device_state" GROUP BY "kind", "device"',
        result="table"),), kind="table", width=18),
))

MARKET = Dashboard("sc-market", "市场 Market", tags=("smartcity", "market"), panels=(
    Panel("Sales volume per hour 每小时销量 (kg)", (Query(
        'SELECT sum("net_g") / 1000 FROM "scale_record" WHERE $timeFilter GROUP BY time(1h) fill(0)', "kg"),),
        kind="barchart", unit="kg"),
    Panel("Sales amount per hour 每小时销售额 (¥)", (Query(
        'SELECT sum("amount_fen") / 100 FROM "scale_record" WHERE $timeFilter GROUP BY time(1h) fill(0)', "¥"),),
        kind="barchart", unit="currencyCNY"),
    Panel("Price trends per product 价格走势 (¥/kg)", (Query(
        'SELECT mean("unit_price_fen") / 100 FROM "scale_record" WHERE $timeFilter '
        'GROUP BY time($__interval), "plu" fill(none)', "PLU $tag_plu"),), width=24, unit="currencyCNY"),
    Panel("Amount mismatches 金额异常", (Query(
        'SELECT count("record_id") FROM "scale_record" WHERE "amount_mismatch" = \'true\' AND $timeFilter '
        'GROUP BY time($__interval), "stall" fill(0)', "$tag_stall"),), kind="barchart", stacked=True),
    Panel("Sales by stall 各摊位销售额 (¥)", (Query(
        'SELECT sum("amount_fen") / 100 FROM "scale_record" WHERE $timeFilter GROUP BY "stall"', "$tag_stall"),),
        kind="barchart", unit="currencyCNY"),
))

DASHBOARDS = (GATEWAY, ACCESS, MARKET)


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "rawQuery": True, "query": q.text,
         "alias": q.alias, "resultFormat": q.result}
        for i, q in enumerate(panel.queries)
    ]
    custom: dict[str, Any] = {"stacking": {"mode": "normal" if panel.stacked else "none"}}
    return {
        "id": panel_id, "type": panel.kind, "title": panel.title, "description": panel.description,
        "datasource": DATASOURCE, "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {"defaults": {"unit": panel.unit, "custom": custom}, "overrides": []},
        "options": {}, "targets": targets,
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    panels, x, y, row_height = [], 0, 0, 0
    for number, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + row_height
            row_height = 0
        panels.append(panel_json(panel, number, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": dashboard.uid, "title": dashboard.title, "tags": list(dashboard.tags), "timezone": "Asia/Shanghai",
        "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "panels": panels,
    }


def rendered() -> dict[Path, str]:
    return {OUT / f"{d.uid}.json": json.dumps(dashboard_json(d), ensure_ascii=False, indent=2) + "\n"
            for d in DASHBOARDS}


def main() -> int:
    files = rendered()
    if "--check" in sys.argv:
        stale = [path.name for path, text in files.items() if not path.exists() or path.read_text() != text]
        if stale:
            print(f"stale dashboards: {stale}; run python dashboards/build.py")
            return 1
        return 0
    OUT.mkdir(exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
