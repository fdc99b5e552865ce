"""Ingestion benchmark: the gateway against real Mosquitto and InfluxDB on this machine.

Prints figures; asserts nothing about speed (docs/performance.md records the figures with the
machine and date). Two phases, one run:

1. sustained — a paced publisher at R messages/s for D seconds while the gateway runs, on fresh
   servers; we report the stored rate and publish → stored latency (p50, p99) from the
   publisher's schedule and the gateway's own stored counter, sampled every 20 ms.
2. backlog drain — N contract messages queued (QoS 1) for a persistent session while the consumer
   is stopped; then it starts, and we time ready → all stored. This is capacity. The same backlog
   is drained by a bare paho subscriber that stores nothing (the ceiling of a Python consumer
   here) and by Node-RED (bench/nodered.py, when installed), the peer to beat.

Zero loss is checked by counting the points in InfluxDB at the end.

    .venv/bin/python bench/ingest.py --backlog 100000 --rate 10000 --duration 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.nodered import node_red_available, node_red_backlog_drain, report  # noqa: E402
from bench.timing import ConnectionWatch, points_written, wait_until_counted  # noqa: E402
from devices.simulator import TrafficGenerator  # noqa: E402
from tests.mqtt_load import RawPublisher, publish_backlog  # noqa: E402
from tests.servers import InfluxDB, Mosquitto, free_port, wait_until_answering  # noqa: E402

SMARTCITY = str(Path(sys.executable).parent / "smartcity")


def messages(count: int, seed: int, start: datetime) -> list[tuple[str, bytes]]:
    """Gate events and scale records from the simulator, unique ids, no state or bad messages."""
    generator = TrafficGenerator("bench", gates=40, scales=60, seed=seed, bad_ratio=0.0)
    out: list[tuple[str, bytes]] = []
    now = start
    while len(out) < count:
        message = generator.next_message(now)
        now += timedelta(microseconds=200)
        if message.topic.endswith(("/event", "/record")):
            out.append((message.topic, message.payload))
    return out


class GatewayProcess:
    def __init__(self, mosquitto: Mosquitto, influx: InfluxDB, data_dir: Path, client_id: str, extra: dict[str, str],
                 workers: int = 1):
        self.http_port = free_port()
        self.workers = workers  # more than 1: 'smartcity gateway --workers N', its parent's /metrics summed
        self.env = dict(
            os.environ,
            SC_MQTT_URL=mosquitto.url,
            SC_INFLUX_URL=influx.url,
            SC_INFLUX_DB="bench",
            SC_DATA_DIR=str(data_dir),
            SC_HTTP_PORT=str(self.http_port),
            SC_MQTT_CLIENT_ID=client_id,
            SC_LOG_LEVEL="WARNING",
            SC_SITE="bench",
            SC_METRICS_PUBLIC="true",  # the benchmark reads /metrics on loopback as a scraper would, without a token
            **extra,
        )
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> int:
        more = ["--workers", str(self.workers)] if self.workers > 1 else []
        self.process = subprocess.Popen([SMARTCITY, "gateway", *more], env=self.env)
        return self.process.pid

    def start(self) -> None:
        self.spawn()
        assert self.process is not None
        wait_until_answering(self.process, f"http://127.0.0.1:{self.http_port}/readyz", 120, "gateway")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def stored(self) -> float:
        text = self.metrics()
        return sum(float(v) for v in re.findall(r'^sc_gateway_messages_stored_total\{[^}]*\} (\S+)$', text, re.M))

    def spooled(self) -> float:
        found = re.search(r'^sc_gateway_messages_stored_total\{to="spool"\} (\S+)$', self.metrics(), re.M)
        return float(found.group(1)) if found else 0.0

    def peak_rss_mib(self) -> float:
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


def influx_count(influx: InfluxDB, database: str) -> int:
    total = 0
    for measurement, field in (("gate_event", "event_id"), ("scale_record", "record_id")):
        query = urllib.parse.urlencode({"db": database, "q": f'SELECT COUNT("{field}") FROM "{measurement}"'})
        with urllib.request.urlopen(f"{influx.url}/query?{query}", timeout=60) as response:
            result = json.load(response)["results"][0]
        for series in result.get("series", []):
            total += int(series["values"][0][1])
    return total


def bare_paho_drain(mosquitto: Mosquitto, batch: list[tuple[str, bytes]]) -> float:
    """A paho subscriber that counts and stores nothing, draining the same backlog."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    state = {"n": 0, "last": 0.0}

    def on_message(_c: object, _u: object, _m: object) -> None:
        state["n"] += 1
        state["last"] = time.perf_counter()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", clean_session=False)
    client.on_message = on_message
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe("sc/v1/#", qos=1)
    client.loop(1)
    client.disconnect()
    publish_backlog(mosquitto.port, batch, "bench-bare-pub")
    client.reconnect()  # connected when it returns: paho connects the socket, then sends CONNECT
    connected = time.perf_counter()
    deadline = time.monotonic() + 300
    while state["n"] < len(batch) and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    return len(batch) / (state["last"] - connected)




def backlog_phase(gateway: GatewayProcess, mosquitto: Mosquitto, influx: InfluxDB,
                  batch: list[tuple[str, bytes]]) -> dict[str, float]:
    gateway.start()  # creates the persistent session
    gateway.stop()
    publish_backlog(mosquitto.port, batch, "bench-backlog-pub")
    written_before = points_written(influx.url)
    started = time.perf_counter()
    watch = ConnectionWatch(gateway.spawn(), mosquitto.port)
    connected = watch.wait()
    written, last = wait_until_counted(lambda: points_written(influx.url) - written_before, len(batch))
    if written < len(batch):
        raise TimeoutError(f"backlog not drained: {written} of {len(batch)} points written to InfluxDB")
    # a drain of a backlog drained before (another worker count) overwrites the same points: main() checks the
    # total against what was published
    return {
        "messages": len(batch),
        # from its connection to the broker to the last point queryable (bench/timing.py)
        "drain_events_per_s": len(batch) / (last - connected),
        "connected_to_all_s": last - connected,
        "start_to_all_stored_s": last - started,
        "connected_s": connected - started,
    }


def sustained_phase(
    gateway: GatewayProcess, mosquitto: Mosquitto, batch: list[tuple[str, bytes]], rate: float, before: float
) -> dict[str, float]:
    publisher = RawPublisher("127.0.0.1", mosquitto.port, "bench-sustained-pub")
    packets = publisher.packets(batch)
    tick = 0.01
    per_tick = rate * tick
    schedule: list[tuple[float, int]] = []  # (time, messages published so far)
    samples: list[tuple[float, float]] = []  # (time, stored so far in this phase)
    started = time.perf_counter()
    sent = 0
    next_sample = started
    while sent < len(packets):
        due = min(len(packets), int((time.perf_counter() - started) / tick * per_tick) + int(per_tick))
        if due > sent:
            publisher.send(packets[sent:due])
            sent = due
            schedule.append((time.perf_counter(), sent))
        now = time.perf_counter()
        if now >= next_sample:
            samples.append((now, gateway.stored() - before))
            next_sample = now + 0.02
        time.sleep(max(0.0, tick - (time.perf_counter() - now)))
    publish_done = time.perf_counter()
    while samples[-1][1] < len(packets) and time.perf_counter() - publish_done < 120:
        samples.append((time.perf_counter(), gateway.stored() - before))
        time.sleep(0.02)
    publisher.wait_acked()
    publisher.close()
    latencies = []
    index = 0
    for when_published, count in schedule:
        while index < len(samples) and samples[index][1] < count:
            index += 1
        if index == len(samples):
            break
        latencies.append(samples[index][0] - when_published)
    latencies.sort()
    return {
        "messages": len(packets),
        "publish_rate": len(packets) / (publish_done - started),
        "stored_rate": samples[-1][1] / (samples[-1][0] - started),
        "latency_p50_s": latencies[len(latencies) // 2],
        "latency_p99_s": latencies[int(len(latencies) * 0.99)],
        "latency_max_s": latencies[-1],
        "all_stored": float(samples[-1][1] >= len(packets)),
    }


def machine() -> str:
    cpu = "unknown cpu"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{platform.node()} · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=100_000, help="messages queued for the drain phase")
    parser.add_argument("--rate", type=float, default=10_000, help="messages/s in the sustained phase")
    parser.add_argument("--duration", type=float, default=60, help="seconds of the sustained phase (0: skip)")
    parser.add_argument("--protocol", type=int, default=4, choices=(4, 5))
    parser.add_argument("--skip-bare", action="store_true", help="skip the bare paho baseline")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="gateway processes in the backlog drain (smartcity gateway --workers N); several "
                             "counts: one drain each, e.g. --workers 1 2")
    parser.add_argument("--skip-node-red", action="store_true", help="skip the Node-RED peer (bench/nodered.py)")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    start = datetime.now(UTC) - timedelta(hours=1)
    sustained_count = int(args.rate * args.duration)
    generated = time.perf_counter()
    batch = messages(args.backlog + sustained_count, seed=7, start=start)
    backlog, sustained = batch[: args.backlog], batch[args.backlog :]
    print(f"generated {len(batch)} messages in {time.perf_counter() - generated:.1f}s, "
          f"mean payload {sum(len(p) for _, p in batch) / len(batch):.0f} bytes")

    mosquitto, influx = Mosquitto(), InfluxDB()
    mosquitto.start()
    influx.start()
    data_dir = Path(tempfile.mkdtemp(prefix="sc-bench-"))
    gateway = GatewayProcess(mosquitto, influx, data_dir, "bench-gateway", {"SC_MQTT_PROTOCOL": str(args.protocol)})
    try:
        # Sustained first, on fresh servers: after the drains InfluxDB holds 600k more points and
        # compacts them, which would be measured too.
        if sustained:
            gateway.start()
            result = sustained_phase(gateway, mosquitto, sustained, args.rate, gateway.stored())
            print(f"gateway sustained: published {result['publish_rate']:,.0f}/s, "
                  f"stored {result['stored_rate']:,.0f}/s over {args.duration:.0f}s; publish→stored "
                  f"p50 {result['latency_p50_s'] * 1000:.0f} ms, p99 {result['latency_p99_s'] * 1000:.0f} ms, "
                  f"max {result['latency_max_s'] * 1000:.0f} ms; peak RSS {gateway.peak_rss_mib():.0f} MiB; "
                  f"spooled {gateway.spooled():,.0f}")
            gateway.stop()
        if not args.skip_bare:
            print(f"bare paho subscriber (stores nothing): {bare_paho_drain(mosquitto, backlog):,.0f} msg/s")
        node_red = None
        if not args.skip_node_red:
            if node_red_available():
                node_red = node_red_backlog_drain(mosquitto, influx, backlog, "nodered")
                print(report(node_red))
            else:
                print("Node-RED: not installed (npm install --prefix bench/.node-red node-red@4 "
                      "node-red-contrib-influxdb), skipped")
        for workers in args.workers:
            # each count its own sessions and group: a session of another run left in the group would be dealt
            # its share of the backlog and keep it (docs/operations.md, "More cores")
            drainer = gateway if workers == 1 else GatewayProcess(
                mosquitto, influx, data_dir, f"bench-gateway-n{workers}",
                {"SC_MQTT_PROTOCOL": str(args.protocol), "SC_MQTT_SHARE_GROUP": f"bench{workers}"}, workers)
            drain = backlog_phase(drainer, mosquitto, influx, backlog)
            name = "gateway" if workers == 1 else f"gateway ({workers} workers)"
            rss = f"peak RSS {drainer.peak_rss_mib():.0f} MiB" if workers == 1 else "RSS: the workers' not summed"
            print(f"{name} backlog drain: {drain['drain_events_per_s']:,.0f} events/s "
                  f"({drain['messages']:,} events; connected→all stored {drain['connected_to_all_s']:.2f}s, "
                  f"connected {drain['connected_s']:.2f}s after start); {rss}; spooled {drainer.spooled():,.0f}")
            drainer.stop()
            if node_red is not None and node_red["lost"] == 0:
                print(f"{name} / Node-RED, same backlog, same run: "
                      f"{drain['drain_events_per_s'] / node_red['drain_events_per_s']:.2f}×")
        in_influx = influx_count(influx, "bench")
        expected = len(batch)
        print(f"gateway points in InfluxDB: {in_influx:,} of {expected:,} published -> "
              f"{'zero loss' if in_influx == expected else f'LOSS of {expected - in_influx}'}")
    finally:
        mosquitto.cleanup()
        influx.cleanup()


if __name__ == "__main__":
    main()
