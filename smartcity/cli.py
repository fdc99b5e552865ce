"""``smartcity``: the one console script. Configuration comes from ``SC_`` environment variables.

Each command imports what it runs inside its own body (marked "on use"): the whole installation takes about
1.5 s to import, which ``--help``, ``simulate``, ``provision`` and ``token`` need not pay. This module is the top
of the dependency graph, so these deferred imports hide no cycle (import-linter checks that)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from config.logs import configure_logging
from config.private_files import PRIVATE_UMASK
from config.sample_secrets import REFUSAL, is_sample_secret
from config.settings import MqttEndpoint, Settings, SettingsError, load_settings, settings_help

if TYPE_CHECKING:
    from webkit.identity import Scope  # for the annotations only: imported on use

log = logging.getLogger("smartcity")

SETTINGS_EPILOG = "\b\nEnvironment variables:\n" + settings_help()

SIMULATED_FLEET = (4, 6)
"""The gates and scales 'smartcity simulate' and 'run' simulate unless told otherwise."""


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
    # before any command writes: the databases (and the -wal/-shm files SQLite adds later), the spool and the
    # keys under SC_DATA_DIR are the installation's user's alone, whichever code creates them
    os.umask(PRIVATE_UMASK)


def _simulation_options(function: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--gates", default=SIMULATED_FLEET[0], show_default=True, type=click.IntRange(0, 10_000),
                     help="Simulated gates"),
        click.option("--scales", default=SIMULATED_FLEET[1], show_default=True, type=click.IntRange(0, 10_000),
                     help="Simulated scales"),
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
@click.option("--demo", is_flag=True,
              help="Seed the demo (two compounds, two markets, their organisations and sign-in accounts) matching "
                   "the simulated devices; without it the installation starts as it is (empty, the first time)")
@click.option("--simulator/--no-simulator", default=None,
              help="Run the simulated devices  [default: with --demo only]")
@click.option("--uhppote", is_flag=True,
              help="With --demo: the demo compound's gate-01 is an emulated UHPPOTE (微耕) controller behind the "
                   "UHPPOTE bridge, run in this process, instead of a simulated gate (docs/devices.md)")
def run(gates: int, scales: int, rate: float, bad_ratio: float, seed: int | None, demo: bool,
        simulator: bool | None, uhppote: bool) -> None:
    """All in one: broker (embedded by default), gateway, the market, access and e-voting services
    with their APIs and pages (SC_DATABASE_URL, migrated at start).

    Without --demo nothing is seeded: a new data directory starts empty (no community, market or
    account) and no device is simulated unless --simulator is given (its devices are then unknown to
    the services until registered). With --demo: the demo data and the simulated devices it matches
    (--no-simulator leaves them out); with --uhppote too, its first gate is an emulated UHPPOTE
    controller speaking its own UDP protocol to the bridge, which speaks the contract for it."""
    if uhppote and not demo:
        raise click.UsageError("--uhppote stands an emulated controller in for a gate of the demo: add --demo")
    if uhppote and gates < 1:
        raise click.UsageError("--uhppote stands in for the demo's gate-01: --gates must be at least 1")
    settings = _settings()
    fleet = _demo_fleet(settings, gates, scales, seed, bad_ratio) if demo else None
    emulated = _emulated_gate(settings, fleet, seed) if uhppote and fleet is not None else None
    simulation = None
    if demo if simulator is None else simulator:
        generators = fleet.generators if fleet is not None else (
            _traffic_generator(settings, gates, scales, seed, bad_ratio),)
        simulation = (generators, rate)
    from smartcity.serve import serve  # on use

    _run_until_signal(lambda stop: serve(settings, stop, simulation, services=True, demo=fleet,
                                         fleet=(gates, scales), emulated=emulated))


def _emulated_gate(settings: Settings, fleet: Any, seed: int | None) -> Any:
    """The demo's gate-01, handed over from its simulator to an emulated UHPPOTE controller and its bridge."""
    from smartcity.emulated_gate import EMULATED_GATE, EmulatedGate  # on use

    return EmulatedGate(settings.site, fleet.main.hand_over(EMULATED_GATE), seed=_seed(seed))


@main.command(epilog=SETTINGS_EPILOG)
@click.option("--demo", is_flag=True, help="Seed a demo market and compound matching 'smartcity simulate'")
@click.option("--gates", default=4, show_default=True, type=click.IntRange(0, 10_000),
              help="With --demo: the simulator's gates")
@click.option("--scales", default=6, show_default=True, type=click.IntRange(0, 10_000),
              help="With --demo: the simulator's scales")
@click.option("--seed", default=None, type=int, help="With --demo: the simulator's --seed")
def services(demo: bool, gates: int, scales: int, seed: int | None) -> None:
    """The market, access and e-voting services with their APIs and the people's pages, without a
    gateway: each service keeps its own MQTT session on its devices' topics at SC_MQTT_URL — or, with
    SC_MQTT_URL=embedded (the default), on a broker started in this process with this run's users
    (the services', and with --demo the demo's devices'), so a voting-only setup needs no MQTT server.
    Without --demo nothing is seeded."""
    settings = _settings()
    if demo and seed is None:
        raise click.ClickException("--demo needs the simulator's --seed, so the demo data matches its devices")
    fleet = _demo_fleet(settings, gates, scales, seed, 0.0) if demo else None
    from smartcity.serve import serve_services  # on use

    _run_until_signal(lambda stop: serve_services(settings, stop, fleet, (gates, scales) if demo else (0, 0)))


@main.command(epilog=SETTINGS_EPILOG)
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Gateway processes sharing the stream (one MQTT shared-subscription group), behind one HTTP port "
                   "with one status page and summed /metrics; needs SC_MQTT_URL and SC_INFLUX_URL "
                   "(docs/operations.md)  [default: SC_GATEWAY_WORKERS, 1]")
@click.option("--worker-index", type=click.IntRange(0, 63), default=None, hidden=True)
@click.option("--worker-socket", type=click.Path(dir_okay=False, path_type=Path), default=None, hidden=True)
def gateway(workers: int | None, worker_index: int | None, worker_socket: Path | None) -> None:
    """The gateway alone: MQTT → validation → time-series store, with its HTTP status and metrics."""
    settings = _settings()
    if worker_index is not None and worker_socket is not None:  # started by the parent of --workers
        from smartcity.gateway_workers import serve_worker  # on use

        _run_until_signal(lambda stop: serve_worker(settings, stop, worker_index, worker_socket))
        return
    count = workers if workers is not None else settings.gateway_workers
    if count > 1:
        from smartcity.gateway_workers import refusal, serve_workers  # on use

        if (problem := refusal(settings)) is not None:
            raise click.ClickException(problem)
        _run_until_signal(lambda stop: serve_workers(settings, stop, count))
        return
    from smartcity.gateway_workers import hand_over_stranded_spools  # on use
    from smartcity.serve import serve  # on use

    hand_over_stranded_spools(settings, 1)  # what workers of an earlier run left spooled
    # the embedded broker's device users: those of a 'smartcity simulate' with its default fleet
    _run_until_signal(lambda stop: serve(settings, stop, None, services=False, fleet=SIMULATED_FLEET))


@main.command(epilog=SETTINGS_EPILOG)
@_simulation_options
@click.option("--duration", default=None, type=click.FloatRange(0.1), help="Seconds to run (default: until Ctrl-C)")
@click.option("--credentials", "credentials_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="credentials.csv from 'smartcity provision': each device connects as its own broker user")
@click.option("--demo", is_flag=True,
              help="Also the demo's north site (its compound's gates and its market's scales, ids north-...), as "
                   "'smartcity services --demo' seeds it; needs --seed, the services' own")
def simulate(gates: int, scales: int, rate: float, bad_ratio: float, seed: int | None, duration: float | None,
             credentials_file: Path | None, demo: bool) -> None:
    """Simulated gates and scales publishing realistic traffic to the broker at SC_MQTT_URL.

    The gates hold the site key (SC_CREDENTIAL_HASH_KEY) and the visitor pass key
    (SC_VISITOR_PASS_KEY), so they decide from the whitelists the access service syncs to them."""
    from devices.provisioning import CredentialsFileError, device_credentials  # on use

    settings = _settings()
    if demo and seed is None:
        raise click.ClickException("--demo needs --seed: the one 'smartcity services --demo' was given, so the "
                                   "simulated devices match the demo's data")
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
        from devices.simulator import run_fleet  # on use

        generators = (_demo_fleet(settings, gates, scales, seed, bad_ratio).generators if demo
                      else (_traffic_generator(settings, gates, scales, seed, bad_ratio),))
        stats = await run_fleet(
            endpoint.host, endpoint.port, generators, rate, duration, endpoint.username, endpoint.password, stop,
            device_credentials=credentials,
        )
        for generator, published in zip(generators, stats, strict=True):
            click.echo(f"published ({generator.site}): {published}")

    _run_until_signal(simulate_until)


def _traffic_generator(settings: Settings, gates: int, scales: int, seed: int | None, bad_ratio: float) -> Any:
    from config.keys import gate_site_key, visitor_pass_key  # on use
    from devices.simulator import GateKeys, TrafficGenerator  # on use

    keys = GateKeys(gate_site_key(settings), visitor_pass_key(settings))
    return TrafficGenerator(settings.site, gates, scales, seed=_seed(seed), bad_ratio=bad_ratio, gate_keys=keys)


def _demo_fleet(settings: Settings, gates: int, scales: int, seed: int | None, bad_ratio: float) -> Any:
    """The demo's simulators: the installation's site (``gates``, ``scales``) and its smaller north site."""
    from config.keys import gate_site_key, visitor_pass_key  # on use
    from devices.simulator import GateKeys, TrafficGenerator  # on use
    from smartcity.demo import DemoFleet  # on use

    keys = GateKeys(gate_site_key(settings), visitor_pass_key(settings))
    drawn = _seed(seed)
    main = TrafficGenerator(settings.site, gates, scales, seed=drawn, bad_ratio=bad_ratio, gate_keys=keys)
    return DemoFleet.of(main, drawn, keys)


@main.command(epilog=SETTINGS_EPILOG)
@click.option("--gates", default=4, show_default=True, type=click.IntRange(0, 9_999), help="Gates gate-01..")
@click.option("--scales", default=6, show_default=True, type=click.IntRange(0, 9_999), help="Scales scale-01..")
@click.option("--out", "out_dir", default="var/mosquitto", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for passwd, acl, credentials.csv")
@click.option("--gateway-password", envvar="BROKER_GATEWAY_PASSWORD", default=None,
              help="Password of the 'gateway' broker user (env BROKER_GATEWAY_PASSWORD); default: random")
@click.option("--services-password", envvar="BROKER_SERVICES_PASSWORD", default=None,
              help="Password of the 'services' broker user (env BROKER_SERVICES_PASSWORD); default: random")
@click.option("--demo", is_flag=True,
              help="Also the users of the demo's north site's devices (north-gate-.., north-scale-..), as "
                   "'smartcity simulate --demo' runs them")
def provision(gates: int, scales: int, out_dir: Path, gateway_password: str | None,
              services_password: str | None, demo: bool) -> None:
    """Mosquitto password and ACL files for the devices of SC_SITE, plus the gateway and services users, and each
    device's token for HTTP ingestion (devices without MQTT).

    Each device may publish only its own uplink topics and read only its own cmd topic, over MQTT or HTTP.
    credentials.csv (mode 0600) holds the clear passwords to configure the devices with; http-credentials.csv
    (0600) their HTTP tokens; http-tokens (0640) only their salted hashes, for the gateway (SC_HTTP_TOKENS_FILE).
    """
    from devices import http_tokens  # on use
    from devices.provisioning import acl_file, credentials_csv, device_users, password_file  # on use
    from devices.topics import DeviceKind  # on use

    settings = _settings()
    for variable, password in (("BROKER_GATEWAY_PASSWORD", gateway_password),
                               ("BROKER_SERVICES_PASSWORD", services_password)):
        if is_sample_secret(password) and not settings.demo_secrets:
            raise click.ClickException(f"{variable}: {REFUSAL}")
    users = device_users(settings.site, gates, scales, gateway_password=gateway_password,
                         services_password=services_password)
    if demo:
        from smartcity.demo import north_users  # on use

        users += north_users(settings.site)
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        out_dir.chmod(0o755)  # the broker's user reads passwd and acl there; each file has its own mode below
    tokens = [http_tokens.issue_token(http_tokens.DeviceIdentity(user.site, DeviceKind(user.kind), user.username))
              for user in users if user.kind in (DeviceKind.GATE.value, DeviceKind.SCALE.value)]
    for name, text, mode in (("passwd", password_file(users), 0o640), ("acl", acl_file(users), 0o644),
                             ("credentials.csv", credentials_csv(users), 0o600),
                             (http_tokens.TOKENS_FILE, http_tokens.tokens_file(tokens), 0o640),
                             (http_tokens.CREDENTIALS_FILE, http_tokens.credentials_csv(tokens), 0o600)):
        path = out_dir / name
        path.touch(mode=mode)
        path.chmod(mode)
        path.write_text(text)
    sites = sorted({user.site for user in users})
    click.echo(f"{len(users)} broker users for site{'s' if len(sites) > 1 else ''} {', '.join(map(repr, sites))} "
               f"written to {out_dir}/ "
               "(passwd, acl, credentials.csv), and HTTP ingestion tokens for its devices "
               f"({http_tokens.TOKENS_FILE} for the gateway's SC_HTTP_TOKENS_FILE, {http_tokens.CREDENTIALS_FILE})")


ROLE_CHOICE = click.Choice(["admin", "property_manager", "market_operator", "supervisor", "resident", "committee"])
KIND_CHOICE = click.Choice(["property_company", "market_operator", "supervision_office"])
"""As accounts.organisations.OrganisationKind names them (spelt out: importing it would cost every command)."""


def _scope_options(function: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--community", "communities", multiple=True, metavar="C",
                     help="A community id, as the access service knows it (repeatable)"),
        click.option("--market", "markets", multiple=True, metavar="M", help="A market's site id (repeatable)"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _scope(communities: tuple[str, ...], markets: tuple[str, ...], *, required: bool = True) -> Scope:
    from webkit.identity import Scope  # on use

    if required and not communities and not markets:
        raise click.UsageError("name at least one --community or --market")
    return Scope.of(communities, markets)


@main.group()
def token() -> None:
    """Bearer tokens for the services' APIs, each for an account in SC_DATABASE_URL."""


@token.command("issue", epilog=SETTINGS_EPILOG)
@click.option("--subject", required=True, help="The account the token is for (it must exist and be enabled)")
@click.option("--role", "roles", multiple=True, required=True, type=ROLE_CHOICE,
              help="A role the token carries (repeatable)")
@click.option("--ttl-days", default=30, show_default=True, type=click.IntRange(1, 365),
              help="Validity (at most a year; revoke sooner with 'smartcity token revoke')")
def token_issue(subject: str, roles: tuple[str, ...], ttl_days: int) -> None:
    """Print a signed bearer token (signed with SC_AUTH_SECRET) for an existing, enabled account; it acts on what
    the account is assigned (an administrator's: everything)."""
    from smartcity.account_commands import issue_token  # on use
    from webkit.identity import Role  # on use

    click.echo(issue_token(_settings(), subject, [Role(role) for role in roles], timedelta(days=ttl_days)))


@token.command("revoke", epilog=SETTINGS_EPILOG)
@click.argument("token_text", metavar="TOKEN")
def token_revoke(token_text: str) -> None:
    """Refuse TOKEN from now on, before it expires."""
    from smartcity.account_commands import revoke_token  # on use

    click.echo(revoke_token(_settings(), token_text))


@main.group()
def account() -> None:
    """Accounts of the people and API clients (SC_DATABASE_URL), their organisations and what they act on."""


@account.command("create", epilog=SETTINGS_EPILOG)
@click.option("--id", "account_id", required=True, help="Account id (a resident's owner id on the voter roll)")
@click.option("--name", required=True, help="Display name")
@click.option("--role", "roles", multiple=True, required=True, type=ROLE_CHOICE, help="A role (repeatable)")
@click.option("--organisation", "organisation_id", default=None, metavar="ORG_ID",
              help="The organisation a property_manager, market_operator or supervisor works for (smartcity org)")
@_scope_options
@click.password_option(help="The password to sign in with (asked for when not given)")
def account_create(account_id: str, name: str, roles: tuple[str, ...], organisation_id: str | None,
                   communities: tuple[str, ...], markets: tuple[str, ...], password: str) -> None:
    """Create an account, in its organisation and assigned the communities and markets it acts on, all at once:
    refused, with nothing created, when the tenancy rules say no (staff act on what their organisation holds; a
    resident or committee member on their community; an administrator on everything)."""
    from smartcity.account_commands import create_account  # on use
    from webkit.identity import Role  # on use

    scope = _scope(communities, markets, required=False)
    click.echo(create_account(_settings(), account_id, name, [Role(role) for role in roles], password,
                              organisation_id, scope))


@account.command("assign", epilog=SETTINGS_EPILOG)
@click.argument("account_id")
@click.option("--organisation", "organisation_id", default=None, metavar="ORG_ID",
              help="Make the account a member of this organisation too (staff; e.g. an account made before "
                   "organisations)")
@_scope_options
def account_assign(account_id: str, organisation_id: str | None, communities: tuple[str, ...],
                   markets: tuple[str, ...]) -> None:
    """Let ACCOUNT_ID act on these communities and markets too (within what its organisation holds)."""
    from smartcity.account_commands import assign  # on use

    scope = _scope(communities, markets, required=organisation_id is None)
    click.echo(assign(_settings(), account_id, scope, organisation_id))


@account.command("unassign", epilog=SETTINGS_EPILOG)
@click.argument("account_id")
@_scope_options
def account_unassign(account_id: str, communities: tuple[str, ...], markets: tuple[str, ...]) -> None:
    """ACCOUNT_ID acts on these communities and markets no more, at once (its tokens too)."""
    from smartcity.account_commands import unassign  # on use

    scope = _scope(communities, markets)
    click.echo(unassign(_settings(), account_id, scope))


@account.command("show", epilog=SETTINGS_EPILOG)
@click.argument("account_id")
def account_show(account_id: str) -> None:
    """ACCOUNT_ID's roles, organisation, the communities and markets it acts on, and whether it is enabled."""
    from smartcity.account_commands import show_account  # on use

    click.echo(show_account(_settings(), account_id))


@account.command("disable", epilog=SETTINGS_EPILOG)
@click.argument("account_id")
def account_disable(account_id: str) -> None:
    """Disable ACCOUNT_ID: it cannot sign in, and every token of it is refused at once."""
    from smartcity.account_commands import enable_account  # on use

    click.echo(enable_account(_settings(), account_id, enabled=False))


@account.command("enable", epilog=SETTINGS_EPILOG)
@click.argument("account_id")
def account_enable(account_id: str) -> None:
    """Enable ACCOUNT_ID again."""
    from smartcity.account_commands import enable_account  # on use

    click.echo(enable_account(_settings(), account_id, enabled=True))


@main.group()
def org() -> None:
    """Organisations — property companies (物业), market operators (市场开办者), supervision offices (街道办 /
    市场监管所) — and the communities and markets they hold (SC_DATABASE_URL). Their staff accounts are assigned
    some of what they hold ('smartcity account assign')."""


@org.command("create", epilog=SETTINGS_EPILOG)
@click.argument("organisation_id", metavar="ORG_ID")
@click.option("--name", required=True, help="The organisation's name, e.g. 绿城物业服务有限公司")
@click.option("--kind", required=True, type=KIND_CHOICE,
              help="property_company: communities; market_operator: markets; supervision_office: both, read-only")
def org_create(organisation_id: str, name: str, kind: str) -> None:
    """Create the organisation ORG_ID."""
    from accounts.organisations import OrganisationKind  # on use
    from smartcity.account_commands import create_organisation  # on use

    click.echo(create_organisation(_settings(), organisation_id, name, OrganisationKind(kind)))


@org.command("hold", epilog=SETTINGS_EPILOG)
@click.argument("organisation_id", metavar="ORG_ID")
@_scope_options
def org_hold(organisation_id: str, communities: tuple[str, ...], markets: tuple[str, ...]) -> None:
    """ORG_ID holds these communities and markets too: its staff may be assigned them."""
    from smartcity.account_commands import hold  # on use

    scope = _scope(communities, markets)
    click.echo(hold(_settings(), organisation_id, scope))


@org.command("release", epilog=SETTINGS_EPILOG)
@click.argument("organisation_id", metavar="ORG_ID")
@_scope_options
def org_release(organisation_id: str, communities: tuple[str, ...], markets: tuple[str, ...]) -> None:
    """ORG_ID holds these communities and markets no more, and its accounts are no longer assigned them (a
    property company that hands a community over)."""
    from smartcity.account_commands import release  # on use

    scope = _scope(communities, markets)
    click.echo(release(_settings(), organisation_id, scope))


@org.command("list", epilog=SETTINGS_EPILOG)
def org_list() -> None:
    """Every organisation with what it holds and its accounts."""
    from smartcity.account_commands import list_organisations  # on use

    click.echo(list_organisations(_settings()))


@main.group()
def admin() -> None:
    """The installation's administrators (SC_DATABASE_URL): they act on every community and market, create the
    organisations and invite their staff. The first one is made here, or with the one-time setup link an empty
    installation prints when it starts."""


@admin.command("create", epilog=SETTINGS_EPILOG)
@click.argument("username")
@click.option("--name", default=None, help="Display name (default: USERNAME)")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (scripts); else it is asked for twice")
def admin_create(username: str, name: str | None, password_stdin: bool) -> None:
    """Create the administrator account USERNAME. A weak password (short, the username, one of the most common,
    digits only...) is refused with the reason."""
    from accounts.passwords import password_problem  # on use
    from smartcity.account_commands import create_admin  # on use

    settings = _settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if (problem := password_problem(password, username)) is not None:
            raise click.ClickException(f"administrator {username!r} not created: weak password: {problem.message}")
    else:
        while True:  # asked again until strong enough; Ctrl-C or the end of input leaves
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
            if (problem := password_problem(password, username)) is None:
                break
            click.echo(f"Weak password: {problem.message}. Choose another.", err=True)
    click.echo(create_admin(settings, username, name or username, password))


@main.group()
def votes() -> None:
    """Owners' e-voting (Civil Code Art. 278): checks anyone entitled can run."""


@votes.command("verify", epilog=SETTINGS_EPILOG)
@click.argument("proposal_id", required=False)
@click.option("--from", "record_file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Recount from a record file (GET /api/voting/proposals/{id}/record, or 'smartcity votes export') "
                   "without the database; before the result is published the file is the log's hash chain alone, "
                   "and its links are checked")
@click.option("--since", "since_file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --from: an earlier download of the same proposal's record or hash chain; check that the log "
                   "only grew since (no entry changed, dropped or slipped in between)")
def votes_verify(proposal_id: str | None, record_file: Path | None, since_file: Path | None) -> None:
    """Check a proposal's log and recount it: from the database in SC_DATABASE_URL, or from a record file.

    Exits 1 on any discrepancy: a broken hash chain, a roll or delegations other than those the log was begun on,
    a logged ballot or delegation the rules refuse, a published result the recount does not give, or (--since) a
    log that did not only grow.
    """
    from smartcity.vote_records import verification_text, verify_record_file  # on use

    if since_file is not None and record_file is None:
        raise click.UsageError("--since compares a record file (--from FILE) with an earlier one")
    if record_file is not None:
        text, clean = verify_record_file(record_file, proposal_id, since_file)
    elif proposal_id is None:
        raise click.UsageError("give the PROPOSAL_ID to verify in SC_DATABASE_URL, or --from FILE")
    else:
        report = _from_voting_database(proposal_id, lambda service: service.verify(proposal_id))
        text, clean = verification_text(report), report.is_clean
    click.echo(text)
    if not clean:
        raise SystemExit(1)


@votes.command("export", epilog=SETTINGS_EPILOG)
@click.argument("proposal_id")
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the record to this file (default: standard output)")
def votes_export(proposal_id: str, out_file: Path | None) -> None:
    """Write a proposal's record from SC_DATABASE_URL as JSON — its terms, frozen roll, delegations, whole log and
    head, and the published result — the document 'smartcity votes verify --from FILE' recounts.

    The same document GET /api/voting/proposals/{id}/record gives: until the result is published, the log's hash
    chain alone (no voter, unit or choice), so that no export hands out named ballots while the vote can be swayed.
    """
    from community.voting.disclosure import disclosed_document  # on use

    record = _from_voting_database(proposal_id, lambda service: service.record(proposal_id))
    text = json.dumps(disclosed_document(record), ensure_ascii=False, indent=1)
    if record.published is None:
        click.echo(f"the result of proposal {proposal_id} is not published yet: only the log's hash chain is "
                   "exported (the whole record once it is)", err=True)
    if out_file is None:
        click.echo(text)
        return
    out_file.write_text(text + "\n", encoding="utf-8")
    click.echo(f"record of proposal {proposal_id} written to {out_file}", err=True)


def _from_voting_database(proposal_id: str, read: Callable[[Any], Awaitable[Any]]) -> Any:
    """``read(VotingService)`` on SC_DATABASE_URL, its refusals as messages."""
    from community.voting.service import RollNotFrozen, UnknownProposal, VotingService  # on use
    from relational.database import create_engine  # on use

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








def _seed(seed: int | None) -> int:
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



















def _bridge_metrics_options(command: Callable[..., None]) -> Callable[..., None]:
    """--metrics-port and --metrics-host, the same on every bridge."""
    command = click.option("--metrics-host", default="127.0.0.1", show_default=True,
                           help="The address /metrics listens on (0.0.0.0 for a scraper on another host)")(command)
    return click.option("--metrics-port", type=click.IntRange(0, 65535), default=0, show_default=True,
                        help="Serve Prometheus metrics at http://<metrics-host>:<port>/metrics; 0: off")(command)


@main.group()
def bridge() -> None:
    """Bridges: vendor devices that do not speak the device contract, made to speak it (docs/devices.md)."""


@bridge.command("uhppote", epilog=SETTINGS_EPILOG)
@click.option("--config", "config_file", envvar="SC_UHPPOTE_CONFIG", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The bridge's TOML file: controllers (serial, address, site, gate, doors), listener, state dir "
                   "[env SC_UHPPOTE_CONFIG]")
@_bridge_metrics_options
def bridge_uhppote(config_file: Path, metrics_port: int, metrics_host: str) -> None:
    """UHPPOTE (微耕) access controllers as contract gates: their events to MQTT, whitelists, remote open and
    clock to them. Needs a network broker (SC_MQTT_URL) and the site key's SC_CREDENTIAL_HASH_KEY."""
    settings = _settings()
    from bridges.config_files import BridgeConfigError  # on use
    from bridges.uhppote.bridge import run_bridge  # on use
    from bridges.uhppote.config import load_config, read_card_roster  # on use
    from config.keys import gate_site_key  # on use

    if settings.embedded_mqtt:
        raise click.ClickException("SC_MQTT_URL: the bridge is its own process and needs a broker's mqtt:// URL, "
                                   "not 'embedded'")
    try:
        config = load_config(config_file)
        cards = read_card_roster(Path(config.cards_file)) if config.cards_file else []
    except (BridgeConfigError, OSError) as error:
        raise click.ClickException(str(error)) from None
    broker = MqttEndpoint.parse(settings.mqtt_url)
    site_key = gate_site_key(settings)

    async def body(stop: asyncio.Event) -> None:
        await run_bridge(config, broker, site_key, cards, stop, metrics_port, metrics_host)

    _run_until_signal(body)


@bridge.command("hikvision", epilog=SETTINGS_EPILOG)
@click.option("--config", "config_file", envvar="SC_HIKVISION_CONFIG", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The bridge's TOML file: terminals (gate, site, ISAPI url, username, password, doors), listener, "
                   "state dir [env SC_HIKVISION_CONFIG]")
@_bridge_metrics_options
def bridge_hikvision(config_file: Path, metrics_port: int, metrics_host: str) -> None:
    """Hikvision ISAPI access terminals as contract gates: their pushed events to MQTT, whitelists as persons and
    cards, remote open to them. Needs a network broker (SC_MQTT_URL) and the site key's SC_CREDENTIAL_HASH_KEY."""
    settings = _settings()
    from bridges.config_files import BridgeConfigError  # on use
    from bridges.hikvision.bridge import run_bridge  # on use
    from bridges.hikvision.config import load_config, read_credentials  # on use
    from config.keys import gate_site_key  # on use

    if settings.embedded_mqtt:
        raise click.ClickException("SC_MQTT_URL: the bridge is its own process and needs a broker's mqtt:// URL, "
                                   "not 'embedded'")
    try:
        config = load_config(config_file)
        credentials = read_credentials(Path(config.credentials_file)) if config.credentials_file else []
    except (BridgeConfigError, OSError) as error:
        raise click.ClickException(str(error)) from None
    broker = MqttEndpoint.parse(settings.mqtt_url)
    site_key = gate_site_key(settings)

    async def body(stop: asyncio.Event) -> None:
        try:
            await run_bridge(config, broker, site_key, credentials, stop, metrics_port, metrics_host)
        except BridgeConfigError as error:  # a terminal's host name that does not resolve
            raise click.ClickException(str(error)) from None

    _run_until_signal(body)


if __name__ == "__main__":
    sys.exit(main())
