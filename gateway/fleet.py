"""Several gateway worker processes run as one gateway (``smartcity gateway --workers N``): each started, restarted
after it dies (with :class:`~gateway.workers.RestartBackoff`), stopped with SIGTERM (it drains its batches, as a
gateway does), and read over its private Unix socket (:func:`gateway.web.create_worker_app`): its metrics, summed
into the gateway's (:mod:`gateway.summed_metrics`), its status, devices and readiness.

The command that starts a worker is the composition root's (``smartcity gateway --worker-index i``): this module
knows processes and sockets, not the command line."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge

from devices.topics import DeviceKind
from gateway.registry import DeviceStatus
from gateway.summed_metrics import Exposition, WorkerCounts, parse, summed
from gateway.workers import RestartBackoff, WorkerIdentity

log = logging.getLogger(__name__)

READ_EVERY_S = 1.0
"""How often each worker's metrics and status are read: what a worker had counted when it died is carried into
the sum (:class:`~gateway.summed_metrics.WorkerCounts`) from its last reading."""
READ_TIMEOUT_S = 2.0
WORKER_URL = "http://gateway-worker"
"""The host name of requests over a worker's Unix socket (any name: the socket is the address)."""


@dataclass(frozen=True, slots=True)
class WorkerLaunch:
    identity: WorkerIdentity
    argv: Sequence[str]
    env: Mapping[str, str]
    socket: Path
    """Where the worker serves :func:`gateway.web.create_worker_app`."""


class WorkerSlot:
    """One worker: its current process, if any, and what the parent has read from it."""

    def __init__(self, launch: WorkerLaunch, backoff: RestartBackoff) -> None:
        self.launch = launch
        self.backoff = backoff
        self.process: asyncio.subprocess.Process | None = None
        self.run = 0
        """Which run of the worker the process is (1 the first); a reading is kept only for the run it was of."""
        self.started_at = 0.0
        self.restarts = 0
        self.last_exit: int | None = None
        self.counts = WorkerCounts()
        self.status: dict[str, Any] | None = None
        self.session: aiohttp.ClientSession | None = None

    @property
    def index(self) -> int:
        return self.launch.identity.index

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def get(self, path: str, timeout_s: float = READ_TIMEOUT_S) -> tuple[int, bytes] | None:
        """``path`` from the worker: its status and body, or None when it does not answer."""
        if self.session is None or not self.running:
            return None
        try:
            async with self.session.get(f"{WORKER_URL}{path}",
                                        timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None

    async def read(self) -> None:
        """The worker's metrics and status, as they are now."""
        run = self.run
        metrics, status = await asyncio.gather(self.get("/metrics"), self.get("/api/status"))
        if run != self.run:  # it died and was started again meanwhile: this reading was of the run before
            return
        if metrics is not None and metrics[0] == 200:
            self.counts.read(parse(metrics[1].decode()))
        if status is not None and status[0] == 200:
            self.status = _json(status[1])

    def row(self) -> dict[str, Any]:
        """The worker as the status page and /api/status show it (its counts since it last started)."""
        status = self.status if self.running else None
        readiness: Mapping[str, bool] = status["readiness"] if status else {}
        identity = self.launch.identity
        return {
            "worker": identity.index, "client_id": identity.client_id, "share_group": identity.share_group,
            "pid": self.process.pid if self.running and self.process else None,
            "running": self.running, "ready": bool(status) and is_ready(readiness),
            "broker_connected": bool(readiness.get("broker_connected")), "store_up": bool(readiness.get("store_up")),
            "spool_has_room": bool(readiness.get("spool_has_room")),
            "received": sum(status["received"].values()) if status else 0,
            "stored": sum(status["stored"].values()) if status else 0,
            "spool_points": status["spool"]["points"] if status else 0,
            "spool_bytes": status["spool"]["bytes"] if status else 0,
            "restarts": self.restarts, "last_exit": self.last_exit,
        }


def is_ready(readiness: Mapping[str, bool]) -> bool:
    """As one gateway's /readyz: connected to the broker, and the store or the spool takes batches."""
    return bool(readiness.get("broker_connected")) and bool(
        readiness.get("store_up") or readiness.get("spool_has_room"))


class FleetMetrics:
    """The parent's own metrics, served after the workers' sum."""

    def __init__(self, workers: int) -> None:
        self.registry = CollectorRegistry()
        Gauge("sc_gateway_workers", "Gateway worker processes configured (--workers)",
              registry=self.registry).set(workers)
        self.running = Gauge("sc_gateway_workers_running", "Gateway worker processes running",
                             registry=self.registry)
        self.restarts = Counter("sc_gateway_worker_restarts", "Worker processes started again after they exited",
                                ["worker"], registry=self.registry)


class Fleet:
    """The workers of one gateway, kept running until :meth:`run`'s ``stop`` is set."""

    def __init__(self, launches: Sequence[WorkerLaunch], site: str, backoff: RestartBackoff | None = None) -> None:
        self.site = site
        self.slots = [WorkerSlot(launch, backoff or RestartBackoff()) for launch in launches]
        self.metrics = FleetMetrics(len(launches))
        self._next_ingest = itertools.cycle(range(len(launches)))

    async def run(self, stop: asyncio.Event) -> None:
        """Start every worker, restart those that exit, and at ``stop`` end them all (each drains its batches)."""
        for slot in self.slots:
            slot.session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(slot.launch.socket)))
        reading = asyncio.create_task(self._keep_reading(stop), name="gateway-workers-reading")
        try:
            await asyncio.gather(*(self._keep_running(slot, stop) for slot in self.slots))
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            for slot in self.slots:
                if slot.session is not None:
                    await slot.session.close()

    async def _keep_running(self, slot: WorkerSlot, stop: asyncio.Event) -> None:
        while not stop.is_set():
            process = await self._start(slot)
            exited = asyncio.create_task(process.wait())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():  # told to stop: the worker drains its batches, then exits
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                code = await exited
                log.info("gateway worker stopped", extra={"worker": slot.index, "exit_code": code})
                self._exited(slot, code)
                return
            stopping.cancel()
            code = exited.result()
            ran_s = time.monotonic() - slot.started_at
            self._exited(slot, code)
            slot.backoff = slot.backoff.after_exit(ran_s)
            log.error("gateway worker exited; starting it again",
                      extra={"worker": slot.index, "exit_code": code, "ran_s": round(ran_s, 1),
                             "restart_in_s": slot.backoff.delay_s})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), slot.backoff.delay_s)
            if stop.is_set():
                return
            slot.restarts += 1
            self.metrics.restarts.labels(str(slot.index)).inc()

    async def _start(self, slot: WorkerSlot) -> asyncio.subprocess.Process:
        launch = slot.launch
        # a session of its own: a Ctrl-C at the terminal reaches the parent alone, which stops each worker once
        # (a second signal would make a worker leave without draining)
        slot.process = await asyncio.create_subprocess_exec(
            *launch.argv, env=dict(launch.env), stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        slot.run += 1
        slot.started_at = time.monotonic()
        slot.status = None
        self.metrics.running.set(sum(1 for s in self.slots if s.running))
        log.info("gateway worker started", extra={"worker": slot.index, "pid": slot.process.pid,
                                                  "client_id": launch.identity.client_id})
        return slot.process

    def _exited(self, slot: WorkerSlot, code: int) -> None:
        slot.last_exit = code
        slot.counts.restarted()
        slot.status = None
        self.metrics.running.set(sum(1 for s in self.slots if s.running))

    async def _keep_reading(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.read()
            await asyncio.sleep(READ_EVERY_S)

    async def read(self) -> None:
        """Every running worker's metrics and status, now."""
        await asyncio.gather(*(slot.read() for slot in self.slots if slot.running))

    def totals(self) -> Exposition:
        """The workers' metrics summed, counters carried over restarts."""
        return summed(slot.counts.total() for slot in self.slots)

    def rows(self) -> list[dict[str, Any]]:
        return [slot.row() for slot in self.slots]

    async def readiness(self) -> list[dict[str, Any]]:
        """Each worker's /readyz, asked now."""
        answers = await asyncio.gather(*(slot.get("/readyz") for slot in self.slots))
        found = []
        for slot, answer in zip(self.slots, answers, strict=True):
            checks = _json(answer[1]) if answer is not None else {}
            found.append({"worker": slot.index, "running": slot.running, "ready": bool(checks.get("ready")),
                          **{name: bool(checks.get(name)) for name in
                             ("broker_connected", "store_up", "spool_has_room")}})
        return found

    async def devices(self) -> list[DeviceStatus]:
        """The devices every worker has heard from, merged: messages summed, the latest sighting, and the online
        state said by the worker that heard from the device last."""
        answers = await asyncio.gather(*(slot.get("/api/devices") for slot in self.slots))
        merged: dict[tuple[str, str, str], DeviceStatus] = {}
        for answer in answers:
            if answer is None or answer[0] != 200:
                continue
            for item in _json(answer[1])["devices"]:
                _merge(merged, item)
        return sorted(merged.values(), key=lambda d: (d.site, d.kind.value, d.device))

    def ingest_worker(self) -> WorkerSlot | None:
        """The worker to pass the next HTTP ingestion request to: the next running one, in turn."""
        for _ in self.slots:
            slot = self.slots[next(self._next_ingest)]
            if slot.running and slot.status is not None:
                return slot
        return None


def _merge(merged: dict[tuple[str, str, str], DeviceStatus], item: Mapping[str, Any]) -> None:
    try:
        kind = DeviceKind(item["kind"])
    except ValueError:
        return
    seen = datetime.fromisoformat(item["last_seen"]) if item.get("last_seen") else None
    key = (item["site"], kind.value, item["device"])
    known = merged.get(key)
    if known is None:
        merged[key] = DeviceStatus(item["site"], kind, item["device"], item.get("online"), seen, item["messages"])
        return
    known.messages += item["messages"]
    if seen is not None and (known.last_seen is None or seen > known.last_seen):
        known.last_seen = seen
        if item.get("online") is not None:
            known.online = item["online"]
    elif known.online is None:
        known.online = item.get("online")


def _json(body: bytes) -> dict[str, Any]:
    found = json.loads(body)
    return found if isinstance(found, dict) else {}
