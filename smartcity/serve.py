"""What ``smartcity run``, ``services`` and ``gateway`` serve: the embedded broker when asked for, the gateway,
the services built by :mod:`smartcity.bootstrap` and run by :mod:`smartcity.lifecycle`, and the HTTP server,
started in order and stopped in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config.keys import gate_site_key
from config.settings import MqttEndpoint, Settings
from devices.provisioning import GATEWAY_USER, SERVICES_USER, BrokerUser, device_users, fleet_users
from devices.simulator import TrafficGenerator, run_fleet
from gateway.outputs import TimeSeriesStore
from gateway.staff_access import STAFF, staff_api
from gateway.web import MORE_METRICS, create_app
from messaging.embedded_broker import CREDENTIALS_FILE, EmbeddedBroker
from smartcity.bootstrap import (
    Services,
    ServicesUnavailable,
    build_gateway,
    build_services,
    build_store,
    gateway_access,
    migrated_engine,
    mount_services,
    root_application,
    token_authority,
)
from smartcity.demo import DemoFleet
from smartcity.emulated_gate import EmulatedGate, gate_login, run_emulated_gate
from smartcity.lifecycle import services_context
from webkit.identity import TokenAuthority
from webkit.pages import NavLink

log = logging.getLogger("smartcity")


HTTP_SHUTDOWN_S = 5.0
GATEWAY_LINK = NavLink("网关状态", "/gateway", STAFF, "设备消息、死信、存储与吞吐")
"""The portal's link to the gateway's status page, where it is served beside the pages: for its administrators
(``gateway.staff_access.STAFF``), as the page answers no one else."""


@dataclass(frozen=True)
class BrokerLogins:
    """How each part reaches the broker: the gateway's and the services' SC_MQTT_URL, and the simulated
    devices' (each device logging in as its own user when ``device_credentials`` names it)."""

    gateway_url: str
    services_url: str
    devices_url: str
    device_credentials: Mapping[str, tuple[str, str]] | None = None


@contextlib.asynccontextmanager
async def _broker(settings: Settings, fleet: tuple[int, int],
                  more_devices: Sequence[BrokerUser] = ()) -> AsyncIterator[BrokerLogins]:
    """SC_MQTT_URL for everyone, or the embedded broker with users for the gateway, the services, the ``fleet``
    (gates, scales) of simulated devices and ``more_devices`` (another site's), made for this run."""
    if not settings.embedded_mqtt:
        yield BrokerLogins(settings.mqtt_url, settings.mqtt_url, settings.mqtt_url)
        return
    async with _embedded_broker(settings, [*device_users(settings.site, *fleet), *more_devices]) as broker:
        yield BrokerLogins(broker.url_for(GATEWAY_USER), broker.url_for(SERVICES_USER), broker.url,
                           broker.device_credentials())


@contextlib.asynccontextmanager
async def _services_broker(settings: Settings, devices: Sequence[BrokerUser]) -> AsyncIterator[str]:
    """The services' SC_MQTT_URL: the one set, or the embedded broker's with a user for the services alone (no
    gateway runs beside them) and for ``devices``, made for this run."""
    if not settings.embedded_mqtt:
        yield settings.mqtt_url
        return
    users = [*devices, BrokerUser(SERVICES_USER, secrets.token_urlsafe(24), SERVICES_USER, settings.site)]
    async with _embedded_broker(settings, users) as broker:
        yield broker.url_for(SERVICES_USER)


@contextlib.asynccontextmanager
async def _embedded_broker(settings: Settings, users: Sequence[BrokerUser]) -> AsyncIterator[EmbeddedBroker]:
    """The broker in this process for ``users`` alone, their passwords in SC_DATA_DIR while it runs."""
    credentials_file = settings.data_dir / CREDENTIALS_FILE
    broker = EmbeddedBroker(settings.embedded_mqtt_port, users, credentials_file)
    try:
        await broker.start()
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise click.ClickException(f"cannot start the embedded MQTT broker: {error.strerror or error}{where}; "
                                   "SC_DATA_DIR must be a folder this user can write") from None
    if broker.moved:
        click.echo(
            f"Port {broker.wanted_port} (SC_EMBEDDED_MQTT_PORT) is taken; "
            f"the embedded MQTT broker listens on 127.0.0.1:{broker.port} instead.",
            err=True,
        )
    click.echo(f"The embedded MQTT broker takes no anonymous clients; this run's users and passwords: "
               f"{credentials_file} (removed at exit).", err=True)
    log.info("embedded mqtt broker started", extra={"url": broker.url})
    try:
        yield broker
    finally:
        await broker.stop()


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    simulation: tuple[Sequence[TrafficGenerator], float] | None,
    services: bool,
    demo: DemoFleet | None = None,
    fleet: tuple[int, int] = (0, 0),
    emulated: EmulatedGate | None = None,
) -> None:
    """``simulation``: the simulators to run and their messages per second in all; ``fleet``: the (gates, scales)
    of the installation's own site the embedded broker makes device users for (with ``demo``: its north site's
    too); ``emulated``: a gate an emulated UHPPOTE controller and its bridge stand in for."""
    async with _broker(settings, fleet, demo.north_users() if demo is not None else ()) as logins:
        gateway_ = build_gateway(settings, logins.gateway_url)
        # one authority for the gateway's pages and the services' mounted beside them (one root application)
        authority = token_authority(settings)
        # with the services, "/" is the people's portal and the gateway's status page moves aside
        app = create_app(gateway_, gateway_access(settings, authority, _clock, sign_in_page=services),
                         status_path="/gateway" if services else "/", app=root_application(settings))
        async with contextlib.AsyncExitStack() as stack:
            if services:
                built = await _services_on(app, settings, logins.services_url, gateway_.store, authority)
                app[MORE_METRICS] = [built.dispatcher.metrics.registry]
                stack.push_async_callback(built.engine.dispose)
                app.cleanup_ctx.append(services_context(built, settings, _clock, demo, _tell))
            await gateway_.start()
            # stopped after the HTTP application and the services it runs: they read the store the gateway closes
            stack.push_async_callback(gateway_.stop)
            await start_http(app, settings, stack)
            click.echo(f"Pages and status: http://{settings.http_host}:{settings.http_port}/   (Ctrl-C stops)",
                       err=True)
            devices: list[asyncio.Task[None]] = []
            if simulation is not None:
                devices.append(asyncio.create_task(_simulate(logins, simulation, stop)))
            if emulated is not None:
                devices.append(asyncio.create_task(_emulate(settings, logins, emulated, stop)))
            await stop.wait()
            click.echo("Stopping: flushing batches...", err=True)
            await asyncio.gather(*devices, return_exceptions=True)


async def serve_services(settings: Settings, stop: asyncio.Event, demo: DemoFleet | None,
                         fleet: tuple[int, int] = (0, 0)) -> None:
    """The services alone, on SC_MQTT_URL or on an embedded broker of their own; ``fleet``: the (gates, scales) of
    the installation's site the embedded broker makes device users for (with ``demo``: its north site's too), so
    that a ``smartcity simulate --credentials`` of the embedded broker's file can join."""
    devices = [*fleet_users(settings.site, *fleet), *(demo.north_users() if demo is not None else ())]
    async with _services_broker(settings, devices) as mqtt_url, contextlib.AsyncExitStack() as stack:
        app = root_application(settings)
        store = build_store(settings)
        await store.open()
        stack.push_async_callback(store.close)
        built = await _services_on(app, settings, mqtt_url, store)
        stack.push_async_callback(built.engine.dispose)
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/readyz", _services_ready(built))
        app.router.add_get("/metrics", _services_metrics(built) if settings.metrics_public
                           else staff_api(_services_metrics(built)))
        app.cleanup_ctx.append(services_context(built, settings, _clock, demo, _tell))
        await start_http(app, settings, stack)
        click.echo(f"Pages and APIs: http://{settings.http_host}:{settings.http_port}/   (Ctrl-C stops)", err=True)
        await stop.wait()
        click.echo("Stopping...", err=True)


async def _healthz(_request: web.Request) -> web.Response:
    """The process answers (for a container's health check); as the gateway's /healthz."""
    return web.json_response({"status": "ok"})


def _services_ready(built: Services) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def readyz(_request: web.Request) -> web.Response:
        """Ready once the services reach the broker (their commands to devices go out)."""
        connected = built.downlink.connected.is_set()
        return web.json_response({"ready": connected, "broker_connected": connected}, status=200 if connected else 503)

    return readyz


def _services_metrics(built: Services) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(_request: web.Request) -> web.Response:
        """The services' metrics (the notifications'), for administrators unless SC_METRICS_PUBLIC."""
        return web.Response(body=generate_latest(built.dispatcher.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


async def _services_on(app: web.Application, settings: Settings, mqtt_url: str, store: TimeSeriesStore,
                       gateway_authority: TokenAuthority | None = None) -> Services:
    """The services on ``app``; ``gateway_authority``: the gateway's, when it is served from ``app`` too."""
    try:
        engine = await migrated_engine(settings)
    except ServicesUnavailable as error:
        raise click.ClickException(str(error)) from None
    built = build_services(settings, engine, mqtt_url, store, _clock, gateway_authority)
    gateway_links = () if gateway_authority is None else (GATEWAY_LINK,)
    mount_services(app, built, store, _clock, settings.site, gateway_links)
    return built


async def start_http(app: web.Application, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    # starts the services too (the app's cleanup_ctx) and stops them at cleanup; requests still running when we
    # stop get this long to finish (live streams are ended at once)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=HTTP_SHUTDOWN_S)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    except OSError as error:
        raise click.ClickException(
            f"cannot serve HTTP on {settings.http_host}:{settings.http_port} ({error.strerror}); "
            "set SC_HTTP_PORT to a free port"
        ) from None


def _tell(line: str) -> None:
    click.echo(line, err=True)


def _clock() -> datetime:
    return datetime.now(UTC)


async def _simulate(logins: BrokerLogins, simulation: tuple[Sequence[TrafficGenerator], float],
                    stop: asyncio.Event) -> None:
    """Each simulator with its share of the rate (by its number of devices)."""
    generators, rate = simulation
    endpoint = MqttEndpoint.parse(logins.devices_url)
    await run_fleet(endpoint.host, endpoint.port, generators, rate, None, endpoint.username, endpoint.password, stop,
                    device_credentials=logins.device_credentials)


async def _emulate(settings: Settings, logins: BrokerLogins, emulated: EmulatedGate, stop: asyncio.Event) -> None:
    """The emulated UHPPOTE controller and its bridge, logged in to the broker as the gate they stand in for."""
    broker = gate_login(logins.devices_url, logins.device_credentials, emulated.roster.gate_id)
    try:
        await run_emulated_gate(emulated, broker, gate_site_key(settings), settings.data_dir, stop, _tell)
    except Exception:  # said when it happens, not at the end: the rest of the run goes on without the gate
        log.exception("the emulated UHPPOTE controller or its bridge stopped", extra={"gate": emulated.roster.gate_id})
