"""``smartcity``: the one console script. Configuration comes from ``SC_`` environment variables."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from aiohttp import web

from gateway.embedded_broker import EmbeddedBroker
from gateway.logs import configure_logging
from gateway.settings import MqttEndpoint, Settings, SettingsError, load_settings, settings_help

if TYPE_CHECKING:
    from gateway.auth import TokenAuthority

log = logging.getLogger("smartcity")

SETTINGS_EPILOG = "\b\nEnvironment variables:\n" + settings_help()
HTTP_SHUTDOWN_S = 5.0


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


@click.group(epilog=SETTINGS_EPILOG, context_settings={"max_content_width": 120})
def main() -> None:
    """Smart-community IoT gateway and smart-market backend.

    Devices (access-control gates, traceability scales) publish over MQTT; the gateway validates
    every message, stores time series in InfluxDB (or an embedded store) and serves a status page.
    """


def _simulation_options(function: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--gates", default=4, show_default=True, type=click.IntRange(0, 10_000), help="Simulated gates"),
        click.option("--scales", default=6, show_default=True, type=click.IntRange(0, 10_000), help="Simulated scales"),
        click.option("--rate", default=5.0, show_default=True, type=click.FloatRange(0.01, 100_000),
                     help="Messages per second, all devices together"),
        click.option("--bad-ratio", default=0.02, show_default=True, type=click.FloatRange(0, 1),
                     help="Share of deliberately malformed messages"),
        click.option("--seed", default=None, type=int, help="Random seed, for a repeatable stream"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@main.command(epilog=SETTINGS_EPILOG)
@_simulation_options
@click.option("--no-simulator", is_flag=True, help="Do not start the simulated devices")
def run(gates: int, scales: int, rate: float, bad_ratio: float, seed: int | None, no_simulator: bool) -> None:
    """All in one: broker (embedded by default), gateway, the market, access and e-voting services
    with their APIs and pages (SC_DATABASE_URL, migrated at start), and simulated devices with a
    demo market and compound to match."""
    settings = _settings()
    generator = _traffic_generator(settings, gates, scales, seed, bad_ratio)
    simulation = None if no_simulator else (generator, rate)
    _run_until_signal(lambda stop: _serve(settings, stop, simulation, services=True, demo=generator))


@main.command(epilog=SETTINGS_EPILOG)
@click.option("--demo", is_flag=True, help="Seed a demo market and compound matching 'smartcity simulate'")
@click.option("--gates", default=4, show_default=True, type=click.IntRange(0, 10_000),
              help="With --demo: the simulator's gates")
@click.option("--scales", default=6, show_default=True, type=click.IntRange(0, 10_000),
              help="With --demo: the simulator's scales")
@click.option("--seed", default=None, type=int, help="With --demo: the simulator's --seed")
def services(demo: bool, gates: int, scales: int, seed: int | None) -> None:
    """The market, access and e-voting services with their APIs and the people's pages, without a
    gateway: each service keeps its own MQTT session on its devices' topics at SC_MQTT_URL."""
    settings = _settings()
    if settings.embedded_mqtt:
        raise click.ClickException("services connect to a running broker: set SC_MQTT_URL=mqtt://host:port "
                                   "(or use 'smartcity run', which starts everything in one process)")
    if demo and seed is None:
        raise click.ClickException("--demo needs the simulator's --seed, so the demo data matches its devices")
    generator = _traffic_generator(settings, gates, scales, seed, 0.0) if demo else None
    _run_until_signal(lambda stop: _serve_services(settings, stop, generator))


@main.command(epilog=SETTINGS_EPILOG)
def gateway() -> None:
    """The gateway alone: MQTT → validation → time-series store, with its HTTP status and metrics."""
    settings = _settings()
    _run_until_signal(lambda stop: _serve(settings, stop, None, services=False))


@main.command(epilog=SETTINGS_EPILOG)
@_simulation_options
@click.option("--duration", default=None, type=click.FloatRange(0.1), help="Seconds to run (default: until Ctrl-C)")
@click.option("--credentials", "credentials_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="credentials.csv from 'smartcity provision': each device connects as its own broker user")
def simulate(gates: int, scales: int, rate: float, bad_ratio: float, seed: int | None, duration: float | None,
             credentials_file: Path | None) -> None:
    """Simulated gates and scales publishing realistic traffic to the broker at SC_MQTT_URL.

    The gates hold the site key (SC_CREDENTIAL_HASH_KEY) and the visitor pass key
    (SC_VISITOR_PASS_KEY), so they decide from the whitelists the access service syncs to them."""
    from devices.provisioning import CredentialsFileError, device_credentials

    settings = _settings()
    if settings.embedded_mqtt:
        raise click.ClickException(
            "simulate publishes to a running broker: set SC_MQTT_URL=mqtt://host:port "
            "(or use 'smartcity run', which starts the embedded broker and the simulator together)"
        )
    endpoint = MqttEndpoint.parse(settings.mqtt_url)
    credentials = None
    if credentials_file is not None:
        try:
            credentials = device_credentials(credentials_file.read_text())
        except CredentialsFileError as error:
            raise click.ClickException(f"{credentials_file}: {error}") from None

    async def simulate_until(stop: asyncio.Event) -> None:
        from devices.simulator import run_simulation

        generator = _traffic_generator(settings, gates, scales, seed, bad_ratio)
        stats = await run_simulation(
            endpoint.host, endpoint.port, generator, rate, duration, endpoint.username, endpoint.password, stop,
            device_credentials=credentials,
        )
        click.echo(f"published: {stats}")

    _run_until_signal(simulate_until)


def _traffic_generator(settings: Settings, gates: int, scales: int, seed: int | None, bad_ratio: float) -> Any:
    from devices.simulator import GateKeys, TrafficGenerator
    from gateway.service import gate_site_key, visitor_pass_key

    keys = GateKeys(gate_site_key(settings), visitor_pass_key(settings))
    return TrafficGenerator(settings.site, gates, scales, seed=_seed(seed), bad_ratio=bad_ratio, gate_keys=keys)


@main.command(epilog=SETTINGS_EPILOG)
@click.option("--gates", default=4, show_default=True, type=click.IntRange(0, 9_999), help="Gates gate-01..")
@click.option("--scales", default=6, show_default=True, type=click.IntRange(0, 9_999), help="Scales scale-01..")
@click.option("--out", "out_dir", default="var/mosquitto", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for passwd, acl, credentials.csv")
@click.option("--gateway-password", envvar="BROKER_GATEWAY_PASSWORD", default=None,
              help="Password of the 'gateway' broker user (env BROKER_GATEWAY_PASSWORD); default: random")
@click.option("--services-password", envvar="BROKER_SERVICES_PASSWORD", default=None,
              help="Password of the 'services' broker user (env BROKER_SERVICES_PASSWORD); default: random")
def provision(gates: int, scales: int, out_dir: Path, gateway_password: str | None,
              services_password: str | None) -> None:
    """Mosquitto password and ACL files for the devices of SC_SITE, plus the gateway and services users.

    Each device may publish only its own uplink topics and read only its own cmd topic.
    credentials.csv (mode 0600) holds the clear passwords to configure the devices with.
    """
    from devices.provisioning import acl_file, credentials_csv, device_users, password_file

    settings = _settings()
    users = device_users(settings.site, gates, scales, gateway_password=gateway_password,
                         services_password=services_password)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text, mode in (("passwd", password_file(users), 0o640), ("acl", acl_file(users), 0o644),
                             ("credentials.csv", credentials_csv(users), 0o600)):
        path = out_dir / name
        path.touch(mode=mode)
        path.chmod(mode)
        path.write_text(text)
    click.echo(f"{len(users)} broker users for site {settings.site!r} written to {out_dir}/ "
               "(passwd, acl, credentials.csv)")


@main.group()
def token() -> None:
    """Bearer tokens for the services' APIs."""


@token.command("issue", epilog=SETTINGS_EPILOG)
@click.option("--subject", required=True, help="Who the token is for (user or resident id)")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["admin", "property_manager", "market_operator", "resident", "committee"]),
              help="A role the token carries (repeatable)")
@click.option("--ttl-days", default=30, show_default=True, type=click.IntRange(1, 3650), help="Validity")
def token_issue(subject: str, roles: tuple[str, ...], ttl_days: int) -> None:
    """Print a signed bearer token (signed with SC_AUTH_SECRET)."""
    from datetime import timedelta

    from gateway.auth import Role

    settings = _settings()
    authority = _token_authority(settings)
    click.echo(authority.issue(subject, [Role(role) for role in roles], datetime.now(UTC), timedelta(days=ttl_days)))


@main.group()
def votes() -> None:
    """Owners' e-voting (Civil Code Art. 278): checks anyone entitled can run."""


@votes.command("verify", epilog=SETTINGS_EPILOG)
@click.argument("proposal_id", required=False)
@click.option("--from", "record_file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Recount from a record file (GET /api/voting/proposals/{id}/record, or 'smartcity votes export') "
                   "without the database")
def votes_verify(proposal_id: str | None, record_file: Path | None) -> None:
    """Check a proposal's log and recount it: from the database in SC_DATABASE_URL, or from a record file.

    Exits 1 on any discrepancy: a broken hash chain, a roll or delegations other than those the log was begun on,
    a logged ballot or delegation the rules refuse, or a published result the recount does not give.
    """
    if record_file is not None:
        report = _verify_record_file(record_file, proposal_id)
    elif proposal_id is None:
        raise click.UsageError("give the PROPOSAL_ID to verify in SC_DATABASE_URL, or --from FILE")
    else:
        report = _from_voting_database(proposal_id, lambda service: service.verify(proposal_id))
    click.echo(_verification_text(report))
    if not report.is_clean:
        raise SystemExit(1)


@votes.command("export", epilog=SETTINGS_EPILOG)
@click.argument("proposal_id")
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the record to this file (default: standard output)")
def votes_export(proposal_id: str, out_file: Path | None) -> None:
    """Write a proposal's record from SC_DATABASE_URL as JSON — its terms, frozen roll, delegations, whole log and
    head, and the published result — the document 'smartcity votes verify --from FILE' recounts."""
    import json

    from community.voting.verification import record_document

    record = _from_voting_database(proposal_id, lambda service: service.record(proposal_id))
    text = json.dumps(record_document(record), ensure_ascii=False, indent=1)
    if out_file is None:
        click.echo(text)
        return
    out_file.write_text(text + "\n", encoding="utf-8")
    click.echo(f"record of proposal {proposal_id} written to {out_file}", err=True)


def _from_voting_database(proposal_id: str, read: Callable[[Any], Awaitable[Any]]) -> Any:
    """``read(VotingService)`` on SC_DATABASE_URL, its refusals as messages."""
    from community.voting.service import RollNotFrozen, UnknownProposal, VotingService
    from gateway.database import create_engine

    settings = _settings()
    found: list[Any] = []

    async def run(_stop: asyncio.Event) -> None:
        engine = create_engine(settings.database_url)
        try:
            found.append(await read(VotingService(engine)))
        except UnknownProposal:
            raise click.ClickException(f"no proposal {proposal_id!r} in the database") from None
        except RollNotFrozen:
            raise click.ClickException(f"proposal {proposal_id!r} has not opened yet: its voter roll is not "
                                       "frozen, so there is nothing to verify") from None
        finally:
            await engine.dispose()

    _run_until_signal(run)
    return found[0]


def _verify_record_file(path: Path, proposal_id: str | None) -> Any:
    import json

    from community.voting.verification import record_from_document, verify_record

    try:
        record = record_from_document(json.loads(path.read_text(encoding="utf-8")))
        if proposal_id is not None and record.proposal.proposal_id != proposal_id:
            raise ValueError(f"it is the record of proposal {record.proposal.proposal_id!r}, not {proposal_id!r}")
        return verify_record(record)
    except (OSError, UnicodeDecodeError, ValueError, ArithmeticError) as error:  # JSON errors are ValueErrors
        raise click.ClickException(f"{path}: not a vote record that can be recounted: {error}") from None


def _verification_text(report: Any) -> str:
    from community.voting.tally import ElectionTally

    result = report.recount.result
    turnout = result.turnout
    chain = "intact" if not report.chain_problems else f"BROKEN ({len(report.chain_problems)} problems)"
    lines = [
        f"proposal {report.proposal.proposal_id}: {report.proposal.title}",
        f"matter: {report.proposal.matter.label_zh} ({report.proposal.matter.label_en})",
        f"rule: {result.rule.statement_zh}",
        f"      {result.rule.statement_en}",
        f"roll digest: {report.roll_digest}" + (" (the log begins there)" if report.log_anchored else ""),
        f"log: {report.entries} ballots, {report.delegation_entries} delegations; hash chain {chain}",
    ]
    if not report.log_anchored:
        lines.append("note: this log was begun before roll anchoring (migration 0006): it is not anchored to the "
                     "roll and holds no delegations, so a changed roll or delegation cannot be seen in it")
    elif report.record_problems:
        lines.append(f"delegations on record DIFFER from the log ({len(report.record_problems)} problems)")
    if report.published is not None:
        head = report.published.head
        lines.append(f"published {report.published.closed_at:%Y-%m-%d %H:%M} UTC with head {head.head_hash[:16]}… "
                     f"over {head.length} entries; recount "
                     + ("matches it" if not report.discrepancies else f"DIFFERS in {', '.join(report.discrepancies)}"))
    lines += [f"  - {problem.kind.value} at entry {problem.sequence}: {problem.detail}"
              for problem in report.chain_problems]
    lines += [f"  - {problem.kind.value}: {problem.detail}" for problem in report.record_problems]
    lines += [f"  - refused on recount: entry {entry.sequence} ({refusal.value})"
              for entry, refusal in report.recount.refused]
    lines.append(f"participation: area {_ratio(turnout.participation_area_ratio)}, "
                 f"headcount {_ratio(turnout.participation_headcount_ratio)}; "
                 f"quorum {'met' if turnout.quorum_met else 'NOT met'}")
    if isinstance(result, ElectionTally):
        lines.append(f"elected: {', '.join(result.elected) or 'nobody'}")
    else:
        lines.append(f"in favour: area {_ratio(result.approval_area_ratio)}, "
                     f"headcount {_ratio(result.approval_headcount_ratio)}; "
                     f"{'PASSED' if result.passed else 'NOT passed'}")
    return "\n".join(lines)


def _ratio(value: Any) -> str:
    from gateway.pages import percent  # exact, rounded half-even: as the result page shows it

    return f"{value.numerator}/{value.denominator} ({percent(value)})"


def _seed(seed: int | None) -> int:
    import random

    return seed if seed is not None else random.SystemRandom().randrange(2**31)


def _run_until_signal(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                # a second Ctrl-C: leave now; what is unacknowledged is redelivered by the broker
                click.echo("Second signal: exiting without waiting.", err=True)
                os._exit(130)
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
        await body(stop)

    try:
        asyncio.run(runner())
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@contextlib.asynccontextmanager
async def _embedded_broker(settings: Settings) -> AsyncIterator[str]:
    if not settings.embedded_mqtt:
        yield settings.mqtt_url
        return
    broker = EmbeddedBroker(settings.embedded_mqtt_port)
    await broker.start()
    if broker.moved:
        click.echo(
            f"Port {broker.wanted_port} (SC_EMBEDDED_MQTT_PORT) is taken; "
            f"the embedded MQTT broker listens on 127.0.0.1:{broker.port} instead.",
            err=True,
        )
    log.info("embedded mqtt broker started", extra={"url": broker.url})
    try:
        yield broker.url
    finally:
        await broker.stop()


async def _serve(
    settings: Settings,
    stop: asyncio.Event,
    simulation: tuple[Any, float] | None,
    services: bool,
    demo: Any = None,
) -> None:
    from gateway.service import Gateway
    from gateway.web import create_app

    async with _embedded_broker(settings) as mqtt_url:
        gateway_ = Gateway(settings, mqtt_url=mqtt_url)
        # with the services, "/" is the people's portal and the gateway's status page moves aside
        app = create_app(gateway_, status_path="/gateway" if services else "/")
        async with contextlib.AsyncExitStack() as stack:
            built = await _services_on(app, settings, mqtt_url, gateway_.store, True) if services else None
            if built is not None:
                stack.push_async_callback(built.engine.dispose)
            await _start_http(app, settings, stack)
            await gateway_.start()
            stack.push_async_callback(gateway_.stop)  # runs before the engine is disposed
            if built is not None:
                await stack.enter_async_context(_running_services(built, settings, demo))
            click.echo(f"Pages and status: http://{settings.http_host}:{settings.http_port}/   (Ctrl-C stops)",
                       err=True)
            simulator = None
            if simulation is not None:
                simulator = asyncio.create_task(_simulate(mqtt_url, simulation, stop))
            await stop.wait()
            click.echo("Stopping: flushing batches...", err=True)
            if simulator is not None:
                await asyncio.gather(simulator, return_exceptions=True)


async def _serve_services(settings: Settings, stop: asyncio.Event, demo: Any) -> None:
    from gateway.service import build_store

    app = web.Application()
    store = build_store(settings)
    async with contextlib.AsyncExitStack() as stack:
        await store.open()
        stack.push_async_callback(store.close)
        built = await _services_on(app, settings, settings.mqtt_url, store)
        stack.push_async_callback(built.engine.dispose)
        await _start_http(app, settings, stack)
        await stack.enter_async_context(_running_services(built, settings, demo))
        click.echo(f"Pages and APIs: http://{settings.http_host}:{settings.http_port}/   (Ctrl-C stops)", err=True)
        await stop.wait()
        click.echo("Stopping...", err=True)


async def _services_on(app: web.Application, settings: Settings, mqtt_url: str, store: Any,
                       with_gateway: bool = False) -> Any:
    from gateway.auth import Role
    from gateway.bootstrap import ServicesUnavailable, build_services, migrated_engine, mount_services
    from gateway.pages import NavLink

    try:
        engine = await migrated_engine(settings)
    except ServicesUnavailable as error:
        raise click.ClickException(str(error)) from None
    built = build_services(settings, engine, mqtt_url, store, _clock)
    staff = (Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR)
    gateway_links = (NavLink("网关状态", "/gateway", staff, "设备消息、死信、存储与吞吐"),) if with_gateway else ()
    mount_services(app, built, store, _clock, settings.site, gateway_links)
    return built


@contextlib.asynccontextmanager
async def _running_services(built: Any, settings: Settings, demo: Any) -> AsyncIterator[None]:
    from gateway.bootstrap import running

    async with running(built, settings, _clock, demo) as notes:
        for line in notes:
            click.echo(line, err=True)
        yield


async def _start_http(app: web.Application, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    # requests still running when we stop get this long to finish (live streams are ended at once)
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


def _clock() -> datetime:
    return datetime.now(UTC)


def _token_authority(settings: Settings) -> TokenAuthority:
    from gateway.bootstrap import token_authority

    return token_authority(settings)


async def _simulate(mqtt_url: str, simulation: tuple[Any, float], stop: asyncio.Event) -> None:
    from devices.simulator import run_simulation

    generator, rate = simulation
    endpoint = MqttEndpoint.parse(mqtt_url)
    await run_simulation(endpoint.host, endpoint.port, generator, rate, None, endpoint.username,
                         endpoint.password, stop)


if __name__ == "__main__":
    sys.exit(main())
