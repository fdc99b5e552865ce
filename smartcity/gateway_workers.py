"""``smartcity gateway --workers N``: N gateway processes in one MQTT shared-subscription group, behind one HTTP port.

The parent (:func:`serve_workers`) starts each worker as this same program (``smartcity gateway --worker-index i``,
the settings from the same environment) rather than a ``multiprocessing`` child: a worker is then an ordinary
gateway process — its own interpreter and event loop, SIGTERM draining its batches as always, a crash or a
``kill -9`` of one touching no other — and nothing (settings with secrets, sockets) has to be pickled across. The
parent serves the status page, /metrics (summed) and /readyz, and restarts a worker that dies
(:mod:`gateway.fleet`). A worker (:func:`serve_worker`) runs the gateway with its own client id and spool
(:mod:`gateway.workers`) and answers the parent on a Unix socket; it stops by itself if its parent is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

import click
from aiohttp import web

from config.private_files import private_directory
from config.settings import Settings
from gateway.batching.spool import move_batches
from gateway.fleet import Fleet, WorkerLaunch
from gateway.fleet_web import create_fleet_app
from gateway.web import create_worker_app
from gateway.workers import WorkerIdentity, stranded_spool_dirs, worker_identity
from smartcity.bootstrap import build_gateway, build_store, gateway_access, root_application, token_authority
from smartcity.lifecycle import stopped_within
from smartcity.serve import _clock, start_http

log = logging.getLogger("smartcity")

SOCKETS_DIR = "gateway-workers"
MAX_SOCKET_PATH = 100
"""A Unix socket's path must fit in 108 bytes (Linux); longer data directories get theirs under the temp dir."""
PARENT_CHECK_S = 1.0


def refusal(settings: Settings) -> str | None:
    """Why these settings cannot run several workers, or None."""
    if settings.embedded_mqtt:
        return ("--workers: the workers share one subscription on a broker that shares it out (Mosquitto, EMQX, "
                "HiveMQ): set SC_MQTT_URL=mqtt://host:port; the embedded broker runs one gateway")
    if settings.influx_url is None:
        return ("--workers: the embedded store is one SQLite file one process writes; several workers write to "
                "InfluxDB: set SC_INFLUX_URL")
    return None


def identities(settings: Settings, workers: int) -> list[WorkerIdentity]:
    return [worker_identity(index, settings.mqtt_client_id, settings.mqtt_share_group, settings.data_dir)
            for index in range(workers)]


def hand_over_stranded_spools(settings: Settings, workers: int) -> None:
    """Batches in spools no process of this run replays (a gateway that ran with more workers, or alone before) go
    to the spool of worker 0 (or of the one process): they were never stored, so they must be replayed."""
    target = identities(settings, workers)[0].spool_dir if workers > 1 else settings.spool_dir
    for stranded in stranded_spool_dirs(settings.data_dir, workers):
        moved = move_batches(stranded, target)
        if moved:
            log.warning("spooled batches handed over", extra={"batches": moved, "from": str(stranded),
                                                               "to": str(target)})
            click.echo(f"{moved} spooled batches of {stranded} handed over to {target}", err=True)


def socket_dir(settings: Settings) -> Path:
    """Where the workers' sockets are: SC_DATA_DIR/gateway-workers (mode 0700), or a private temp directory when
    that path is too long for a socket."""
    wanted = settings.data_dir.resolve() / SOCKETS_DIR
    if len(str(wanted / "w99.sock")) <= MAX_SOCKET_PATH:
        private_directory(wanted)
        return wanted
    return Path(tempfile.mkdtemp(prefix="sc-gateway-workers-"))


def launches(settings: Settings, workers: int) -> list[WorkerLaunch]:
    sockets = socket_dir(settings)
    environment = {**os.environ, "SC_MQTT_CLIENT_ID": settings.mqtt_client_id}  # the base both sides derive from
    return [
        WorkerLaunch(identity,
                     [sys.executable, "-m", "smartcity.cli", "gateway", "--worker-index", str(identity.index),
                      "--worker-socket", str(sockets / f"w{identity.index}.sock")],
                     environment, sockets / f"w{identity.index}.sock")
        for identity in identities(settings, workers)
    ]


async def serve_workers(settings: Settings, stop: asyncio.Event, workers: int) -> None:
    """The parent: ``workers`` gateway processes kept running, one HTTP port for them all, until ``stop``."""
    hand_over_stranded_spools(settings, workers)
    fleet = Fleet(launches(settings, workers), settings.site)
    store = build_store(settings)  # the pages' and staff APIs' reads; the workers write
    await store.open()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        access = gateway_access(settings, token_authority(settings), _clock, sign_in_page=False)
        app = create_fleet_app(fleet, store, access, root_application(settings), settings.http_ingest_wait_s)
        running = asyncio.create_task(fleet.run(stop), name="gateway-workers")
        await start_http(app, settings, stack)
        group = fleet.slots[0].launch.identity.share_group
        click.echo(f"Status: http://{settings.http_host}:{settings.http_port}/   ({workers} gateway workers in "
                   f"shared-subscription group {group}; Ctrl-C stops)", err=True)
        await stop.wait()
        click.echo("Stopping: each worker flushes its batches...", err=True)
        await running


async def serve_worker(settings: Settings, stop: asyncio.Event, index: int, socket: Path) -> None:
    """Worker ``index``: the gateway as its own client of the shared group, with its own spool, answering its
    parent on ``socket``; it stops (draining its batches) on SIGTERM or when the parent is gone."""
    identity = worker_identity(index, settings.mqtt_client_id, settings.mqtt_share_group, settings.data_dir)
    own = settings.model_copy(update={"mqtt_client_id": identity.client_id, "mqtt_share_group": identity.share_group})
    gateway = build_gateway(own, spool_dir=identity.spool_dir)
    orphaned = asyncio.create_task(_stop_when_orphaned(stop), name="parent-watch")
    async with contextlib.AsyncExitStack() as stack:
        await gateway.start()
        stack.push_async_callback(gateway.stop)
        runner = web.AppRunner(create_worker_app(gateway), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.UnixSite(runner, str(socket)).start()
        await stop.wait()
    orphaned.cancel()


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    """Set ``stop`` once the parent process is gone (killed without stopping its workers)."""
    parent = os.getppid()
    while not await stopped_within(stop, PARENT_CHECK_S):
        if os.getppid() != parent:
            log.warning("the gateway's parent process is gone: stopping this worker")
            stop.set()
