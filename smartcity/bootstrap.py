"""The composition root: every object of the installation is built here from :class:`Settings` and handed to
what uses it — the time-series store (given to the gateway and to the services), the gateway, the market,
access, ownership, e-voting and accounts services with their broker sessions (a ServiceFeed per device kind,
one Downlink), and the aiohttp application their APIs and pages are mounted on.

``smartcity run`` (gateway, services and simulator in one process) and ``smartcity services`` (as in the
compose stack) both build through here; :mod:`smartcity.lifecycle` runs what is built. Nothing imports this
package but the CLI and the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.api import mount as mount_accounts_api
from accounts.onboarding_pages import mount_onboarding_pages
from accounts.pages import mount_pages
from accounts.residents import DirectoryResident
from accounts.service import AccountService
from accounts.tenancy import TenancyService
from accounts.throttling import SignInRules, SignInThrottle
from community.access.directory import ResidentRecord, ResidentStatus
from community.access.pages import mount_access_pages
from community.access.service import AccessKeys, AccessService, AccessSettings, NotFound
from community.access.web import mount as mount_access_api
from community.ownership.owners import RegisterOwners
from community.ownership.service import OwnershipService
from community.ownership.web import mount as mount_ownership_api
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles
from community.voting.pages import mount_voting_pages
from community.voting.service import VotingService
from community.voting.web import mount as mount_voting_api
from config.keys import credential_key, gate_site_key, load_or_create_secret, visitor_pass_key
from config.settings import MqttEndpoint, Settings
from devices.topics import DeviceKind
from gateway.outputs import TimeSeriesStore
from gateway.outputs.embedded import EmbeddedStore
from gateway.outputs.influxdb import InfluxStore
from gateway.processors.points import Measurement
from gateway.service import Gateway
from gateway.staff_access import SignatureAlone, StaffAccess
from market.pages import mount_market_pages
from market.service import MarketService, MarketSettings
from messaging.mqtt_downlink import MqttDownlink
from messaging.service_feed import ServiceFeed
from notifications.backoff import RetryPolicy
from notifications.channels import Sender
from notifications.channels.address_guard import EndpointGuard
from notifications.channels.in_app import InAppSender
from notifications.channels.mail import MailSender, SmtpSettings
from notifications.channels.robots import DingTalkSender, WeComSender
from notifications.channels.sms import SmsProvider, SmsSender
from notifications.channels.webhook import HttpPoster, WebhookSender
from notifications.dispatcher import Dispatcher, DispatchSettings
from notifications.endpoint_pages import mount_endpoint_pages
from notifications.events import Channel
from notifications.outbox import Outbox
from notifications.pages import mount_notification_pages
from notifications.recipients import TenancyRecipients
from notifications.service import NotificationService
from notifications.web import mount as mount_notifications_api
from relational.database import create_engine, migrate
from smartcity.admin_pages import mount_admin_pages
from webkit.body_limit import limited_application
from webkit.identity import Role, TokenAuthority
from webkit.pages import NavLink, mount_portal
from webkit.secure_cookies import SecureCookiePolicy, SecureCookies

log = logging.getLogger(__name__)

CONTEXTS = ("community", "market", "accounts", "notifications")
"""The packages whose Alembic migrations make up the relational schema."""


class ServicesUnavailable(Exception):
    """The services cannot start (the database cannot be reached or migrated); the message says why."""


@dataclass
class Services:
    engine: AsyncEngine
    authority: TokenAuthority
    accounts: AccountService
    voting: VotingService
    access: AccessService
    ownership: OwnershipService
    market: MarketService
    feeds: tuple[ServiceFeed, ...]
    downlink: MqttDownlink
    cookie_policy: SecureCookiePolicy
    tenancy: TenancyService
    notifications: NotificationService
    dispatcher: Dispatcher
    http_poster: HttpPoster
    """The notifications' HTTP client: closed when the services stop."""
    trusted_proxies: tuple[str, ...] = ()
    meetings: MeetingService | None = None
    """Owners' assembly and committee meetings (beside the voting service they read proposals through)."""


def token_authority(settings: Settings) -> TokenAuthority:
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else None
    return TokenAuthority(load_or_create_secret(secret, settings.data_dir))


def cookie_policy(settings: Settings) -> SecureCookiePolicy:
    """When the pages' cookies are Secure: SC_SECURE_COOKIES, believing X-Forwarded-Proto from SC_TRUSTED_PROXIES."""
    return SecureCookiePolicy(SecureCookies(settings.secure_cookies), settings.trusted_proxy_list)


async def migrated_engine(settings: Settings) -> AsyncEngine:
    engine = create_engine(settings.database_url)
    try:
        for package in CONTEXTS:
            await migrate(engine, package)
    except Exception as failure:
        await engine.dispose()
        raise ServicesUnavailable(f"cannot prepare the database at SC_DATABASE_URL: {failure}") from None
    return engine


def sign_in_rules(settings: Settings) -> SignInRules:
    """The sign-in throttle's limits from their SC_SIGNIN_ variables."""
    return SignInRules(
        free_failures=settings.signin_account_free_failures,
        max_delay=timedelta(seconds=settings.signin_account_max_delay_s),
        new_address_spacing=timedelta(seconds=settings.signin_new_address_spacing_s),
        address_failures=settings.signin_address_failures,
    )


def access_settings(settings: Settings) -> AccessSettings:
    """The access service's alarm thresholds, presence cutoff, live-feed share, visitor pass cap and access-log
    retention (0 days: forever) from their SC_ variables."""
    return AccessSettings(
        denial_threshold=settings.access_denial_threshold,
        denial_window=timedelta(seconds=settings.access_denial_window_s),
        door_held_open_after=timedelta(seconds=settings.access_door_held_open_s),
        gate_offline_after=timedelta(seconds=settings.access_gate_offline_s),
        resident_presence_stale_after=timedelta(hours=settings.access_presence_stale_h),
        live_streams_per_account=settings.access_live_streams_per_account,
        max_active_passes=settings.access_max_active_passes,
        log_retention=timedelta(days=days) if (days := settings.access_log_retention_days) else None,
    )


def voting_service(settings: Settings, engine: AsyncEngine) -> VotingService:
    """The voting service with its notice period from SC_VOTING_NOTICE_DAYS; 0 (a test installation) is warned about,
    as it lets votes open without the notice the law requires."""
    notice = timedelta(days=settings.voting_notice_days)
    if not notice:
        log.warning("SC_VOTING_NOTICE_DAYS=0: votes may open without notice to the owners; the Property Management "
                    "Regulations (Arts. 13-14) require 15 days - for test installations only")
    return VotingService(engine, notice=notice, outbox=Outbox())


def build_services(settings: Settings, engine: AsyncEngine, mqtt_url: str, store: TimeSeriesStore,
                   clock: Callable[[], datetime], authority: TokenAuthority | None = None) -> Services:
    """The services; ``authority``: the token authority the gateway in the same process checks with (one object
    on one application), else built from ``settings``."""
    endpoint = MqttEndpoint.parse(mqtt_url)
    client_id = settings.mqtt_client_id
    downlink = MqttDownlink(endpoint, f"{client_id}-downlink"[:64])
    access = AccessService(engine, downlink, clock, AccessKeys(gate_site_key(settings), visitor_pass_key(settings)),
                           access_settings(settings), outbox=Outbox())
    market_settings = MarketSettings(public_base_url=settings.public_base_url,
                                     trusted_proxies=settings.trusted_proxy_list,
                                     scan_dir=settings.data_dir / "market-scans",
                                     max_scan_bytes=settings.market_max_scan_bytes,
                                     complaint_days=settings.market_complaint_days,
                                     complaint_dir=settings.data_dir / "market-complaints",
                                     max_complaint_photo_bytes=settings.market_max_complaint_photo_bytes)
    market = MarketService(engine, downlink, store, clock, market_settings, outbox=Outbox())
    feeds = (
        ServiceFeed(endpoint, f"{client_id}-access"[:64], DeviceKind.GATE, access, protocol=settings.mqtt_protocol),
        ServiceFeed(endpoint, f"{client_id}-market"[:64], DeviceKind.SCALE, market, protocol=settings.mqtt_protocol),
    )
    accounts = AccountService(engine, SignInThrottle(sign_in_rules(settings)), AccessResidents(access))
    own_hosts = own_host_names(settings)
    poster = HttpPoster(settings.notify_send_timeout_s,
                        EndpointGuard(settings.notify_allow_private_endpoints, own_hosts))
    dispatcher = Dispatcher(engine, TenancyRecipients(RegisterOwners()),
                            notification_senders(settings, engine, poster, clock), clock, dispatch_settings(settings))
    notifications = NotificationService(engine, clock, allow_private_endpoints=settings.notify_allow_private_endpoints,
                                        configured=dispatcher.configured, own_hosts=own_hosts, tester=dispatcher)
    voting = voting_service(settings, engine)
    meetings = MeetingService(engine, voting, MaterialFiles(settings.data_dir / "voting-materials"),
                              max_material_bytes=settings.voting_max_material_bytes)
    return Services(engine, authority or token_authority(settings), accounts, voting, access,
                    OwnershipService(engine), market, feeds, downlink, cookie_policy(settings),
                    accounts.tenancy, notifications, dispatcher, poster, settings.trusted_proxy_list, meetings)


def own_host_names(settings: Settings) -> frozenset[str]:
    """The installation's own host names, which an organisation's endpoint may not point at: SC_PUBLIC_BASE_URL's
    host, and SC_HTTP_HOST when it names one (loopback and private addresses are refused anyway, unless allowed)."""
    names = {urlsplit(settings.public_base_url).hostname or ""} if settings.public_base_url else set()
    if settings.http_host not in ("", "0.0.0.0", "::"):
        names.add(settings.http_host)
    return frozenset(name.lower() for name in names if name)


def dispatch_settings(settings: Settings) -> DispatchSettings:
    """The dispatcher's retries, coalescing window and bounds from their SC_NOTIFY_ variables."""
    retry = RetryPolicy(first_delay=timedelta(seconds=settings.notify_retry_first_s),
                        max_delay=timedelta(seconds=max(settings.notify_retry_max_s, settings.notify_retry_first_s)),
                        give_up_after=timedelta(seconds=settings.notify_give_up_after_s))
    return DispatchSettings(retry=retry, coalesce_window=timedelta(seconds=settings.notify_coalesce_window_s),
                            poll_s=settings.notify_poll_s, max_in_flight=settings.notify_max_in_flight)


def notification_senders(settings: Settings, engine: AsyncEngine, poster: HttpPoster,
                         clock: Callable[[], datetime]) -> dict[Channel, Sender]:
    """The channels this installation delivers on: in-app, the organisations' endpoints, and e-mail and SMS when
    their SC_NOTIFY_SMTP_HOST / SC_NOTIFY_SMS_URL_TEMPLATE are set."""
    senders: dict[Channel, Sender] = {
        Channel.IN_APP: InAppSender(engine, clock), Channel.WEBHOOK: WebhookSender(poster, clock),
        Channel.WECOM: WeComSender(poster), Channel.DINGTALK: DingTalkSender(poster, clock),
    }
    if settings.notify_smtp_host:
        password = settings.notify_smtp_password.get_secret_value() if settings.notify_smtp_password else None
        senders[Channel.EMAIL] = MailSender(SmtpSettings(
            settings.notify_smtp_host, settings.notify_smtp_port, settings.notify_smtp_starttls,
            settings.notify_smtp_implicit_tls, settings.notify_smtp_user, password, settings.notify_mail_from,
            settings.notify_send_timeout_s,
            ca_file=str(settings.notify_smtp_ca_file) if settings.notify_smtp_ca_file else None))
    if settings.notify_sms_url_template:
        authorization = (settings.notify_sms_authorization.get_secret_value()
                         if settings.notify_sms_authorization else None)
        senders[Channel.SMS] = SmsSender(SmsProvider(
            settings.notify_sms_url_template, settings.notify_sms_method, settings.notify_sms_body_template,
            settings.notify_sms_content_type, authorization), poster)
    return senders


def root_application(settings: Settings) -> web.Application:
    """The application everything is served from: request bodies up to SC_HTTP_MAX_BODY_BYTES (aiohttp reads the
    limit from the root application only), a JSON 413 beyond."""
    return limited_application(settings.http_max_body_bytes)


def mount_services(app: web.Application, services: Services, store: TimeSeriesStore,
                   clock: Callable[[], datetime], site: str, system_links: tuple[NavLink, ...] = ()) -> None:
    """The services' JSON APIs (one /openapi.json) and the people's pages on ``app``, with the
    portal at "/" (``system_links``: the gateway's status page, when it runs in the same process);
    ``site``: the market the pages' links lead to."""
    mount_voting_api(app, services.voting, services.authority, clock, services.meetings)
    mount_access_api(app, services.access, services.authority, clock)
    mount_ownership_api(app, services.ownership, services.authority, clock)
    mount_accounts_api(app, services.tenancy, services.authority, clock, services.accounts.onboarding)
    mount_pages(app, services.accounts, services.authority, clock, cookie_policy=services.cookie_policy,
                trusted_proxies=services.trusted_proxies)
    # the first link a person may open is where they land after sign-in: managers on the console
    mount_market_pages(app, services.market, site, services.authority, clock)
    mount_access_pages(app, services.access, store)
    mount_voting_pages(app, services.voting, services.meetings)
    mount_onboarding_pages(app, services.accounts)  # after the others: managers land on their console
    mount_notifications_api(app, services.notifications)
    mount_notification_pages(app, services.notifications)
    mount_endpoint_pages(app)
    mount_admin_pages(app, services.tenancy, services.access, services.market)
    mount_portal(app, (*system_links, NavLink("API 文档", "/openapi.json", (Role.ADMIN,), "OpenAPI 3.1 (JSON)")))


class AccessResidents:
    """The access service's directory as the accounts see it (:class:`accounts.residents.ResidentDirectory`): who
    lives in which community, for the residents' activation letters — the accounts import nothing of the
    community context, which sits above them."""

    def __init__(self, access: AccessService) -> None:
        self._access = access

    async def community_name(self, community_id: str) -> str | None:
        try:
            return (await self._access.community(community_id)).name
        except NotFound:
            return None

    async def communities(self) -> list[tuple[str, str]]:
        return [(community.community_id, community.name) for community in await self._access.communities()]

    async def residents(self, community_id: str) -> list[DirectoryResident]:
        return [_directory_resident(record, community_id) for record in await self._access.residents(community_id)]

    async def resident(self, resident_id: str) -> DirectoryResident | None:
        try:
            record, community_id = await self._access.resident(resident_id)
        except NotFound:
            return None
        return _directory_resident(record, community_id)


def _directory_resident(record: ResidentRecord, community_id: str) -> DirectoryResident:
    return DirectoryResident(record.resident_id, community_id, record.unit_id, record.name,
                             record.status is ResidentStatus.ACTIVE)


def build_store(settings: Settings) -> TimeSeriesStore:
    """InfluxDB when SC_INFLUX_URL is set, else the embedded SQLite store under the data directory."""
    if settings.influx_url is None:
        # people's movements are kept as long as the access log keeps them (PIPL); an InfluxDB is given the same
        # period as a retention policy (docs/security.md)
        days = settings.access_log_retention_days
        retention = {Measurement.GATE_EVENT: timedelta(days=days)} if days else None
        return EmbeddedStore(settings.data_dir / "timeseries.sqlite", retention)
    return InfluxStore(
        settings.influx_url,
        settings.influx_db,
        token=settings.influx_token.get_secret_value() if settings.influx_token else None,
        username=settings.influx_user,
        password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        timeout_s=settings.write_timeout_s,
        create_database=settings.influx_create_db,
    )


def gateway_access(settings: Settings, authority: TokenAuthority, clock: Callable[[], datetime],
                   sign_in_page: bool) -> StaffAccess:
    """Who may read the gateway's status page and APIs: staff, by a token of ``authority`` or (``sign_in_page``:
    the people's pages are served beside it) a page session; /metrics open when SC_METRICS_PUBLIC says so."""
    # beside the pages, the accounts check every token of the application; alone, the gateway has no accounts
    checker = None if sign_in_page else SignatureAlone()
    return StaffAccess(authority, clock, sign_in_page=sign_in_page, metrics_public=settings.metrics_public,
                       checker=checker)


def build_gateway(settings: Settings, mqtt_url: str | None = None,
                  store: TimeSeriesStore | None = None, spool_dir: Path | None = None) -> Gateway:
    """The ingestion path with its store (built from ``settings`` unless given) and the credential key;
    ``spool_dir``: a worker's own (SC_DATA_DIR/spool unless given)."""
    return Gateway(settings, store if store is not None else build_store(settings), credential_key(settings),
                   mqtt_url, spool_dir)
