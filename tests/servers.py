"""Real Mosquitto and InfluxDB servers on free loopback ports, for the tests and the benchmark.

Each server runs from a temporary directory and is killed at the end; nothing here touches the
machine's own services or their standard ports.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Mosquitto:
    """Mosquitto configured as production should be: persistence on, queues large enough that a
    gateway's persistent session loses nothing while it is down (the default keeps 1000)."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sc-mosquitto-")))
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    anonymous: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.anonymous else 'false'}\n"
            # started as root, mosquitto would switch to its own user and could not save here
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.directory}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 2000000\n"
            "max_inflight_messages 40000\n"
            + self.extra_config
        )
        log = (self.directory / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), so the broker writes its persistence file as a restart would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class InfluxDB:
    """Debian's influxd 1.x from environment variables (``-config /dev/null``)."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sc-influxdb-")))
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    auth: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which("influxd") or "/usr/bin/influxd"
        environment = dict(
            os.environ,
            INFLUXDB_META_DIR=str(self.directory / "meta"),
            INFLUXDB_DATA_DIR=str(self.directory / "data"),
            INFLUXDB_DATA_WAL_DIR=str(self.directory / "wal"),
            INFLUXDB_HTTP_BIND_ADDRESS=f"127.0.0.1:{self.port}",
            INFLUXDB_BIND_ADDRESS=f"127.0.0.1:{self.rpc_port}",
            INFLUXDB_REPORTING_DISABLED="true",
            INFLUXDB_MONITOR_STORE_ENABLED="false",
            INFLUXDB_HTTP_LOG_ENABLED="false",
            INFLUXDB_DATA_QUERY_LOG_ENABLED="false",
            INFLUXDB_HTTP_MAX_BODY_SIZE="0",
            INFLUXDB_HTTP_AUTH_ENABLED="true" if self.auth else "false",
        )
        log = (self.directory / "influxd.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "-config", "/dev/null"], env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                    if response.status == 204:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"influxd did not answer /ping within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def wait_until_answering(process: subprocess.Popen[bytes], url: str, timeout: float, what: str) -> None:
    """Return once ``url`` answers 200; fail early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{what} did not answer {url} within {timeout}s")


def have(binary: str) -> bool:
    return shutil.which(binary) is not None or Path(f"/usr/sbin/{binary}").exists()


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@dataclass
class PostgreSQL:
    """A throw-away PostgreSQL cluster (Debian's server binaries) on a free loopback port.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    """

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sc-postgres-")))
    port: int = field(default_factory=free_port)
    started: bool = False

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://smartcity@127.0.0.1:{self.port}/smartcity"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        binaries = _postgres_bin()
        if binaries is None:
            raise FileNotFoundError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        data = self.directory / "data"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(str(binaries / "initdb"), "-D", str(data), "-U", "smartcity", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.directory / "log"),
                  "-w", "start")
        self.started = True
        self._run(str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "smartcity",
                  "smartcity")

    def stop(self) -> None:
        binaries = _postgres_bin()
        if self.started and binaries is not None:
            self._run(str(binaries / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop")
            self.started = False

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
