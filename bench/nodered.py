"""The open-source peer on the same backlog: Node-RED 4 + node-red-contrib-influxdb.

A user who does not run our gateway would build this flow: mqtt in (QoS 1, persistent session)
→ function (JSON → InfluxDB point) → join (1000 messages or 1 s) → influxdb batch. Measuring it
here, against the same Mosquitto and InfluxDB and the same messages, makes the comparison in
docs/performance.md a same-machine, same-day figure rather than a number from another box.

Procedure as bench/ingest.py's backlog phase: start Node-RED once so its session exists, stop
it, queue the backlog (QoS 1), start it again and time until InfluxDB holds every point.
Node-RED has no "stored" counter, so we poll COUNT in InfluxDB every 0.2 s (the resolution of
the figures). Node-RED is installed outside git, only when wanted:

    npm install --prefix bench/.node-red node-red@4 node-red-contrib-influxdb
    .venv/bin/python bench/nodered.py --backlog 100000
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.timing import ConnectionWatch, points_written, wait_until_counted  # noqa: E402
from tests.mqtt_load import publish_backlog  # noqa: E402
from tests.servers import InfluxDB, Mosquitto, free_port, wait_until_answering  # noqa: E402

NODE_RED_DIR = Path(__file__).resolve().parent / ".node-red"
CLIENT_ID = "bench-nodered"
# give up when the count has not moved for this long: Node-RED drops, it does not retry
STALL_S = 30.0

# What a Node-RED user writes in the function node. The point time is the device's own
# timestamp plus a sub-millisecond offset from the event id, as our gateway does: with bare
# milliseconds, ~2 % of this backlog (same device, same millisecond) would merge into one point
# and look like loss that is really the schema's.
FUNCTION_JS = r"""
// topic: sc/v1/<site>/<kind>/<device>/<channel>
const parts = msg.topic.split("/");
const measurement = parts[3] === "gate" ? "gate_event" : parts[3] === "scale" ? "scale_record" : null;
if (measurement === null) {
    return null;
}
let body;
try {
    body = JSON.parse(msg.payload);
} catch (err) {
    node.warn("bad JSON on " + msg.topic);
    return null;
}
const fields = {};
for (const [key, value] of Object.entries(body)) {
    if (key === "ts" || key === "device" || value === null || typeof value === "object") {
        continue;
    }
    fields[key] = value;
}
const ms = typeof body.ts === "number" ? body.ts : Date.parse(body.ts);
const id = String(body.event_id || body.record_id || "");
let hash = 0x811c9dc5;
for (let i = 0; i < id.length; i++) {
    hash = Math.imul(hash ^ id.charCodeAt(i), 16777619) >>> 0;
}
msg.payload = {
    measurement: measurement,
    tags: {site: parts[2], device: parts[4]},
    fields: fields,
    timestamp: String(ms) + String(hash % 1000000).padStart(6, "0"),  // nanoseconds
};
return msg;
"""


def node_red_available() -> str | None:
    """The node-red launcher installed under bench/.node-red, or None (then skip the peer)."""
    launcher = NODE_RED_DIR / "node_modules" / ".bin" / "node-red"
    plugin = NODE_RED_DIR / "node_modules" / "node-red-contrib-influxdb" / "package.json"
    if launcher.exists() and plugin.exists() and shutil.which("node"):
        return str(launcher)
    return None


def flow(mosquitto_port: int, influx_port: int, database: str) -> list[dict[str, Any]]:
    """The flow, as the editor would export it (only the settings that matter are not defaults).

    Ids must not equal any other string property: Node-RED takes such a string for a reference
    (a config node named "influx" with id "influx" fails as a circular dependency).
    """
    return [
        {"id": "nr-tab", "type": "tab", "label": "ingest"},
        {
            "id": "nr-broker", "type": "mqtt-broker", "name": "mosquitto",
            "broker": "127.0.0.1", "port": str(mosquitto_port), "clientid": CLIENT_ID,
            "autoConnect": True, "usetls": False, "protocolVersion": "4", "keepalive": "60",
            # a persistent session that survives a restart: without autoUnsubscribe false,
            # Node-RED unsubscribes on shutdown and the broker drops everything queued meanwhile
            "cleansession": False, "autoUnsubscribe": False,
            "birthTopic": "", "closeTopic": "", "willTopic": "",
        },
        {
            "id": "nr-influx", "type": "influxdb", "hostname": "127.0.0.1", "port": str(influx_port),
            "protocol": "http", "database": database, "name": "influx", "usetls": False,
            "influxdbVersion": "1.x",
        },
        {
            "id": "nr-in", "type": "mqtt in", "z": "nr-tab", "name": "", "topic": "sc/v1/#", "qos": "1",
            "datatype": "utf8", "broker": "nr-broker", "nl": False, "rap": True, "rh": 0, "inputs": 0,
            "x": 100, "y": 100, "wires": [["nr-point"]],
        },
        {
            "id": "nr-point", "type": "function", "z": "nr-tab", "name": "to point", "func": FUNCTION_JS,
            "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
            "x": 300, "y": 100, "wires": [["nr-join"]],
        },
        {
            "id": "nr-join", "type": "join", "z": "nr-tab", "name": "", "mode": "custom", "build": "array",
            "property": "payload", "propertyType": "msg", "key": "topic", "joiner": "\\n",
            "joinerType": "str", "useparts": False, "accumulate": False, "timeout": "1", "count": "1000",
            "reduceRight": False, "x": 500, "y": 100, "wires": [["nr-write"]],
        },
        {
            "id": "nr-write", "type": "influxdb batch", "z": "nr-tab", "influxdb": "nr-influx", "precision": "",
            "retentionPolicy": "", "name": "", "x": 700, "y": 100, "wires": [],
        },
    ]


def settings_js(http_port: int) -> str:
    """Loopback only, no telemetry or update checks, info logs (we wait for a log line)."""
    return (
        "module.exports = {\n"
        f"    uiHost: '127.0.0.1',\n    uiPort: {http_port},\n"
        "    flowFile: 'flows.json',\n    credentialSecret: false,\n"
        "    logging: { console: { level: 'info', metrics: false, audit: false } },\n"
        "    diagnostics: { enabled: false, ui: false },\n"
        "    telemetry: { enabled: false, updateNotification: false },\n"
        "    externalModules: { autoInstall: false, palette: { allowInstall: false } },\n"
        "};\n"
    )


class NodeRedProcess:
    """One Node-RED with its own userDir; start and stop it like the gateway in bench/ingest.py."""

    def __init__(self, launcher: str, user_dir: Path) -> None:
        self.launcher = launcher
        self.user_dir = user_dir
        self.http_port = free_port()
        self.log_path = user_dir / "node-red.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    def write_config(self, mosquitto_port: int, influx_port: int, database: str) -> None:
        (self.user_dir / "settings.js").write_text(settings_js(self.http_port))
        (self.user_dir / "flows.json").write_text(json.dumps(flow(mosquitto_port, influx_port, database), indent=1))

    def spawn(self) -> int:
        """Start it; returns its process id (the node process: the launcher is a script run by node)."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [self.launcher, "--userDir", str(self.user_dir), "--port", str(self.http_port)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start and return once the HTTP admin answers (Node-RED listens after starting flows)."""
        self.spawn()
        assert self.process is not None
        wait_until_answering(self.process, f"http://127.0.0.1:{self.http_port}/", timeout,
                             f"node-red (log: {self.log_path})")

    def log_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_since_start():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} in {self.log_path} after {timeout}s")
            time.sleep(0.05)

    def peak_rss_mib(self) -> float:
        assert self.process is not None
        match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{self.process.pid}/status").read_text())
        return int(match.group(1)) / 1024 if match else float("nan")

    def stop(self) -> None:
        """SIGTERM lets Node-RED close its flows (and its MQTT session cleanly); kill if stuck."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def influx_query(influx: InfluxDB, database: str, query: str, method: str = "GET") -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"db": database, "q": query})
    request = urllib.request.Request(f"{influx.url}/query?{params}", method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        results: list[dict[str, Any]] = json.load(response)["results"]
        return results


def stored_count(influx: InfluxDB, database: str) -> int:
    """Points of both measurements, counted on the field every point has (as bench/ingest.py)."""
    results = influx_query(
        influx, database, 'SELECT COUNT("event_id") FROM "gate_event"; SELECT COUNT("record_id") FROM "scale_record"'
    )
    return sum(int(series["values"][0][1]) for result in results for series in result.get("series", []))




def node_red_backlog_drain(
    mosquitto: Mosquitto,
    influx: InfluxDB,
    batch: list[tuple[str, bytes]],
    database: str,
    time_limit: float = 600.0,
) -> dict[str, float]:
    """Node-RED draining ``batch`` queued for its persistent session, into ``database``.

    ``database`` should hold nothing else (it is created here; counts are of all its points).
    ``drain_events_per_s`` counts from its connection to the broker to the last point queryable
    (bench/timing.py), as every consumer's figure does. ``lost`` is what InfluxDB did not receive
    within ``time_limit`` (or before progress stalled).
    """
    launcher = node_red_available()
    if launcher is None:
        raise RuntimeError(f"node-red not installed under {NODE_RED_DIR}")
    influx_query(influx, database, f'CREATE DATABASE "{database}"', method="POST")
    user_dir = Path(tempfile.mkdtemp(prefix="sc-nodered-"))
    node_red = NodeRedProcess(launcher, user_dir)
    node_red.write_config(mosquitto.port, influx.port, database)
    count = 0
    try:
        node_red.start()  # creates the persistent session
        node_red.wait_for_log("Connected to broker")
        time.sleep(1.0)  # the SUBSCRIBE follows the CONNACK; no log line says it was granted
        node_red.stop()
        publish_backlog(mosquitto.port, batch, f"{CLIENT_ID}-pub")
        written_before = points_written(influx.url)
        started = time.perf_counter()
        watch = ConnectionWatch(node_red.spawn(), mosquitto.port)
        connected = watch.wait()
        _, last = wait_until_counted(lambda: points_written(influx.url) - written_before, len(batch), time_limit,
                                     STALL_S)
        count = stored_count(influx, database)
        errors = node_red.log_since_start().count("[error]")
        rss = node_red.peak_rss_mib()
    finally:
        node_red.stop()
        if count == len(batch):
            shutil.rmtree(user_dir, ignore_errors=True)
        else:  # keep the flow and Node-RED's log: loss is the finding to explain
            print(f"node-red: {count} of {len(batch)} stored; log kept in {node_red.log_path}", file=sys.stderr)
    return {
        "messages": float(len(batch)),
        "stored": float(count),
        "lost": float(len(batch) - count),
        # events stored per second from its connection to the last point (all of them, if no loss)
        "drain_events_per_s": count / (last - connected) if count else 0.0,
        "connected_to_all_s": last - connected,
        "start_to_all_stored_s": last - started,
        "connected_s": connected - started,
        "error_log_lines": float(errors),
        "peak_rss_mib": rss,
    }


def report(result: dict[str, float]) -> str:
    """One line in the style of bench/ingest.py's, plus the loss check."""
    loss = "zero loss" if result["lost"] == 0 else f"LOSS of {result['lost']:,.0f}"
    return (
        f"node-red backlog drain: {result['drain_events_per_s']:,.0f} events/s "
        f"({result['stored']:,.0f} of {result['messages']:,.0f} stored, {loss}; "
        f"connected→all stored {result['connected_to_all_s']:.2f}s, connected {result['connected_s']:.2f}s "
        f"after start; "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB, {result['error_log_lines']:.0f} error log lines)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=100_000, help="messages queued for the drain")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds to wait for all points")
    args = parser.parse_args()
    if node_red_available() is None:
        sys.exit(f"node-red not installed: npm install --prefix {NODE_RED_DIR} node-red@4 node-red-contrib-influxdb")

    from datetime import UTC, datetime, timedelta

    from bench.ingest import messages  # here, not at the top: bench/ingest.py imports this module

    batch = messages(args.backlog, seed=7, start=datetime.now(UTC) - timedelta(hours=1))
    mosquitto, influx = Mosquitto(), InfluxDB()
    mosquitto.start()
    influx.start()
    try:
        print(report(node_red_backlog_drain(mosquitto, influx, batch, "nodered", args.time_limit)))
    finally:
        mosquitto.cleanup()
        influx.cleanup()


if __name__ == "__main__":
    main()
