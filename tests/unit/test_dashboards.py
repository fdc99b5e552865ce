"""The Grafana dashboards as files: built from their specification, provisioned against the right datasource,
each query reading a measurement the gateway writes. That every query runs on real InfluxDB is checked in
tests/integration/test_dashboards.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from gateway.processors.points import Measurement

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards" / "json").glob("*.json"))


def test_dashboard_json_is_built_from_its_specification() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "dashboards" / "build.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_provisioning_points_at_the_dashboards_and_the_datasource_uid() -> None:
    datasource = (ROOT / "dashboards/provisioning/datasources/influxdb.yml").read_text()
    assert "uid: smartcity-influxdb" in datasource and "type: influxdb" in datasource
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == "smartcity-influxdb", (path.name, panel["title"])


def all_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found.append((path.stem, panel["title"], target["query"]))
    return found


def test_every_query_reads_a_measurement_the_gateway_writes() -> None:
    written = {value for name, value in vars(Measurement).items() if name.isupper()}
    for dashboard, title, query in all_queries():
        measurements = set(re.findall(r'FROM "([a-z_]+)"', query))
        assert measurements and measurements <= written, (dashboard, title, measurements)
