"""The market service: the one object the web API, the pages, the demo and the composition root hold.

Each use case opens one transaction, loads what the domain needs, lets the domain decide, stores the
outcome, and then sends the commands it produced to the scales. :class:`MarketService` owns none of that
itself: it hands each use case to the collaborator that holds its group (directory, vendors, prices,
batches, recalls, tracing, the stall screen, oversight, the scales' uplinks, command delivery), all built
here on one engine, downlink, time series, clock and settings.

The same service hears the scales (:meth:`MarketService.handle`, fed by a ``ServiceFeed`` with their
records, acks and states) and does its periodic work in :meth:`MarketService.tick` (command retries).
Both are idempotent: a redelivered record is one sale, a redelivered ack changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from devices.contract import UplinkModel
from devices.topics import DeviceTopic
from gateway.outputs import TimeSeriesStore
from market.complaints import Complaint, ComplaintAction, ComplaintConclusion, ComplaintState
from market.corrections import CorrectionKind, RecordedCorrection
from market.credit import CreditRating
from market.district import MarketFacts, Period, Window
from market.findings import FindingKind, RecordedFinding
from market.licences import Document, LicencePolicy, RecordedDocument, StaffMember
from market.pricing import BoardLine, PublishedPrice
from market.rapid_tests import LaboratoryResult, TypedTest
from market.refusals import FieldProblem
from market.scale_delivery import Delivery, DeliveryStatus
from market.scans import ScanType
from market.service.batches import BatchDetail, Batches
from market.service.command_delivery import CommandDelivery
from market.service.complaints import ComplaintDetail, ComplaintForm, Complaints
from market.service.credit import VendorCredit
from market.service.directory import MarketDirectory, ScaleOverview, StallOverview
from market.service.district import District, DistrictFacts
from market.service.licence_check import LicenceCheck
from market.service.notices import MarketNotices
from market.service.oversight import LicenceProblem, Oversight
from market.service.prices import PriceHistory, PriceItem, Prices, Publication
from market.service.rapid_testing import LaboratoryOutcome, RapidTesting, TestBoard, TestLine
from market.service.recall import Recall, Recalls, RecordedTest, Release
from market.service.settings import MarketSettings
from market.service.stall_screen import StallDisplay, StallScreen
from market.service.trace_queries import PublicTrace, TraceQueries
from market.service.uplinks import ScaleUplinks
from market.service.vendors import VendorRecords
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, ForwardTrace, RapidTest
from messaging.downlink import Downlink
from notifications.outbox import Outbox


class MarketService:
    """The market's use cases, each handed to the collaborator of its group (built here, sharing one
    :class:`CommandDelivery`, so every command leaves only after its use case's transaction)."""

    def __init__(
        self,
        engine: AsyncEngine,
        downlink: Downlink,
        timeseries: TimeSeriesStore,
        clock: Callable[[], datetime],
        settings: MarketSettings | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        """``outbox``: where the market's notifications are recorded (issue 14); None: nobody is notified."""
        self.settings = settings or MarketSettings()
        self._commands = CommandDelivery(engine, downlink, self.settings)
        self._directory = MarketDirectory(engine, self._commands, clock, self.settings)
        self._vendors = VendorRecords(engine, self.settings)
        self._prices = Prices(engine, self._commands, timeseries, self.settings)
        self._traces = TraceQueries(engine, self.settings)
        notices = MarketNotices(outbox)
        self._recalls = Recalls(engine, self._commands, self._traces, notices)
        self._batches = Batches(engine, self.settings, self._recalls)
        self._testing = RapidTesting(engine, self._commands)
        self._complaints = Complaints(engine, self.settings)
        self._screen = StallScreen(engine, self.settings)
        self._oversight = Oversight(engine, self.settings)
        self._uplinks = ScaleUplinks(engine, self._commands, clock, self.settings, notices)
        self._licence_check = LicenceCheck(engine, self._oversight, outbox)
        self._credit = VendorCredit(engine, self.settings)
        self._district = District(engine, self._oversight, self._credit)

    # -- the market's directory: markets, stalls, scales ------------------------------------------

    async def create_market(self, market: Market, now: datetime) -> None:
        await self._directory.create_market(market, now)

    async def market(self, site: str) -> Market:
        return await self._directory.market(site)

    async def markets(self, limit: int, offset: int, sites: Collection[str] | None = None) -> list[Market]:
        """A page of the markets by site id; ``sites``: only these (a caller's scope), None: every market."""
        return await self._directory.markets(limit, offset, sites)

    async def set_licence_policy(self, site: str, policy: LicencePolicy, reason: str, by: str, now: datetime
                                 ) -> Market:
        """What the market asks of its stalls beyond the law (audited)."""
        return await self._directory.set_licence_policy(site, policy, reason, by, now)

    async def add_stall(self, site: str, stall: Stall, now: datetime | None = None) -> None:
        await self._directory.add_stall(site, stall, now)

    async def update_stall(self, site: str, stall: Stall, now: datetime | None = None) -> None:
        await self._directory.update_stall(site, stall, now)

    async def stalls(self, site: str, now: datetime, limit: int, offset: int) -> list[StallOverview]:
        return await self._directory.stalls(site, now, limit, offset)

    async def set_staff(self, site: str, stall: str, staff: Sequence[StaffMember], by: str, now: datetime) -> None:
        """Make ``staff`` the stall's roster."""
        await self._directory.set_staff(site, stall, staff, by, now)

    async def register_scale(self, site: str, scale: str, stall: str, now: datetime) -> list[Delivery]:
        return await self._directory.register_scale(site, scale, stall, now)

    async def scales(self, site: str, limit: int, offset: int, stall: str | None = None) -> list[ScaleOverview]:
        return await self._directory.scales(site, limit, offset, stall)

    # -- vendors and their documents ----------------------------------------------------------------

    async def add_vendor(self, site: str, vendor: Vendor, now: datetime) -> None:
        await self._vendors.add_vendor(site, vendor, now)

    async def vendors(self, site: str, limit: int, offset: int) -> list[tuple[Vendor, list[RecordedDocument]]]:
        return await self._vendors.vendors(site, limit, offset)

    async def set_self_producing(self, site: str, vendor_id: str, self_producing: bool) -> Vendor:
        """Mark a vendor a farmer selling their own produce (自产自销), or no longer one."""
        return await self._vendors.set_self_producing(site, vendor_id, self_producing)

    async def vendor(self, site: str, vendor_id: str) -> Vendor:
        return await self._vendors.vendor(site, vendor_id)

    async def vendor_documents(self, site: str, vendor_id: str) -> list[RecordedDocument]:
        return await self._vendors.vendor_documents(site, vendor_id)

    async def void_document(self, site: str, vendor_id: str, document_id: int, reason: str, by: str,
                            now: datetime) -> RecordedDocument:
        return await self._vendors.void_document(site, vendor_id, document_id, reason, by, now)

    async def add_document(self, site: str, vendor_id: str, document: Document, by: str, now: datetime,
                           scan: bytes | None = None) -> int:
        """Record a vendor's document, with its scan or photo (JPEG, PNG or PDF by content) when given."""
        return await self._vendors.add_document(site, vendor_id, document, by, now, scan)

    def checked_scan(self, content: bytes) -> ScanType:
        """The type of a file taken as a licence's scan, or :class:`ScanRefused` saying why not."""
        return self._vendors.checked_scan(content)

    async def keep_scan(self, site: str, vendor_id: str, document_id: int, content: bytes, by: str
                        ) -> RecordedDocument:
        return await self._vendors.keep_scan(site, vendor_id, document_id, content, by)

    async def document_scan(self, site: str, vendor_id: str, document_id: int) -> tuple[RecordedDocument, bytes]:
        return await self._vendors.document_scan(site, vendor_id, document_id)

    # -- prices ---------------------------------------------------------------------------------------

    async def publish_prices(self, site: str, stall: str, items: Sequence[PriceItem], effective_from: datetime | None,
                             by: str, now: datetime) -> Publication:
        return await self._prices.publish_prices(site, stall, items, effective_from, by, now)

    async def price_history(self, site: str, stall: str, plu: str | None, limit: int, offset: int
                            ) -> list[PublishedPrice]:
        return await self._prices.price_history(site, stall, plu, limit, offset)

    async def price_board(self, site: str, now: datetime) -> tuple[Market, list[BoardLine]]:
        return await self._prices.price_board(site, now)

    async def sales_price_history(self, site: str, plu: str, days: int, now: datetime) -> PriceHistory:
        return await self._prices.sales_price_history(site, plu, days, now)

    async def price_histories(self, site: str, days: int, now: datetime, plu: str | None = None
                              ) -> dict[str, PriceHistory]:
        return await self._prices.price_histories(site, days, now, plu)

    # -- commands to the scales -----------------------------------------------------------------------

    async def deliveries(self, site: str, statuses: Iterable[DeliveryStatus] | None, scale: str | None,
                         limit: int, offset: int) -> list[Delivery]:
        return await self._commands.deliveries(site, statuses, scale, limit, offset)

    async def tick(self, now: datetime) -> None:
        """Send the deliveries whose time has come (retries), give up those out of attempts; once a market day,
        the licence notices."""
        await self._commands.tick(now)
        await self._licence_check.tick(now)

    # -- batches, rapid tests, recall and release ---------------------------------------------------

    async def receive_batch(self, site: str, batch: Batch, by: str, now: datetime,
                            tests: Sequence[TypedTest] = ()) -> Batch:
        """Receive a batch (its category, when it says none, its stall's trade's); :class:`FieldsRefused` with each
        field's reason when its origin or its certificates do not pass. ``tests``: the market's rapid tests at
        intake (farm produce without a commitment certificate or test report enters on them, all negative)."""
        return await self._batches.receive_batch(site, batch, by, now, tests)

    async def batches(self, site: str, stall: str | None, limit: int, offset: int) -> list[Batch]:
        return await self._batches.batches(site, stall, limit, offset)

    async def batch_detail(self, site: str, batch_id: str) -> BatchDetail:
        return await self._batches.batch_detail(site, batch_id)

    async def correct_quantity(self, site: str, batch_id: str, quantity_g: int, reason: str, by: str,
                               now: datetime) -> BatchDetail:
        return await self._batches.correct_quantity(site, batch_id, quantity_g, reason, by, now)

    async def record_test(self, site: str, test: RapidTest | TypedTest, by: str, now: datetime) -> RecordedTest:
        """Record a rapid test (as typed: judged against the batch's standard items first, :class:`FieldsRefused`
        with each field's problem); a positive recalls the batch, a suspected positive holds it for the
        laboratory."""
        if isinstance(test, TypedTest):
            test = await self._testing.read_test(site, test)
        return await self._recalls.record_test(site, test, by, now)

    async def record_laboratory(self, site: str, batch_id: str, test_id: int, laboratory: LaboratoryResult,
                                now: datetime) -> LaboratoryOutcome:
        """The laboratory's result on a suspected positive: pass lets the batch go (when nothing else stands),
        fail keeps it stopped as a recall."""
        return await self._testing.record_laboratory(site, batch_id, test_id, laboratory, now)

    async def test_board(self, site: str, day: date) -> TestBoard:
        """The market's tests of a market day (农残检测公示)."""
        return await self._testing.test_board(site, day)

    async def stall_tests(self, site: str, stall: str, since: datetime, until: datetime, limit: int
                          ) -> list[TestLine]:
        return await self._testing.stall_tests(site, stall, since, until, limit)

    async def recall(self, site: str, batch_id: str, reason: str, by: str, now: datetime) -> Recall:
        return await self._recalls.recall(site, batch_id, reason, by, now)

    async def release(self, site: str, batch_id: str, reason: str, by: str, now: datetime) -> Release:
        return await self._recalls.release(site, batch_id, reason, by, now)

    # -- tracing ----------------------------------------------------------------------------------------

    async def forward_trace(self, site: str, batch_id: str, limit: int, offset: int) -> ForwardTrace:
        return await self._traces.forward_trace(site, batch_id, limit, offset)

    async def trace(self, site: str, trace_code: str) -> PublicTrace | None:
        return await self._traces.trace(site, trace_code)

    async def batch_epcis(self, site: str, batch_id: str, identifier_base: str, now: datetime) -> dict[str, Any]:
        return await self._traces.batch_epcis(site, batch_id, identifier_base, now)

    # -- what the stall and the operator see --------------------------------------------------------

    async def stall_display(self, site: str, stall_code: str, now: datetime) -> StallDisplay:
        return await self._screen.stall_display(site, stall_code, now)

    async def licence_problems(self, site: str, now: datetime, limit: int, offset: int) -> list[LicenceProblem]:
        return await self._oversight.licence_problems(site, now, limit, offset)

    async def findings(self, site: str, kind: FindingKind | None, stall: str | None, open_only: bool,
                       limit: int, offset: int, resolved_only: bool = False) -> list[RecordedFinding]:
        return await self._oversight.findings(site, kind, stall, open_only, limit, offset, resolved_only)

    async def resolve_finding(self, site: str, finding_id: int, by: str, resolution: str,
                              now: datetime) -> RecordedFinding:
        return await self._oversight.resolve_finding(site, finding_id, by, resolution, now)

    async def corrections(self, site: str, kinds: Iterable[CorrectionKind] | None, subject: str | None, limit: int,
                          offset: int) -> list[RecordedCorrection]:
        return await self._oversight.corrections(site, kinds, subject, limit, offset)

    async def vendor_credit(self, site: str, vendor_id: str, now: datetime, days: int | None = None) -> CreditRating:
        """The vendor's credit rating (信用评价) at ``now`` over the last ``days`` (the settings' window if None)."""
        return await self._credit.vendor_credit(site, vendor_id, now, days)

    async def stall_vendor_credit(self, site: str, stall: str, now: datetime
                                  ) -> tuple[Vendor | None, CreditRating | None]:
        """The stall's vendor now and their credit rating (None, None without one)."""
        return await self._credit.stall_vendor_credit(site, stall, now)

    # -- shoppers' complaints ----------------------------------------------------------------------

    async def file_complaint(self, site: str, form: ComplaintForm, now: datetime) -> Complaint:
        """A shopper's complaint (public); :class:`FieldsRefused` with each field's reason, nothing kept then."""
        return await self._complaints.file(site, form, now)

    def complaint_photo_problem(self, content: bytes) -> FieldProblem | None:
        return self._complaints.photo_problem(content)

    async def complaint_by_reference(self, site: str, reference: str) -> Complaint:
        return await self._complaints.by_reference(site, reference)

    async def complaints(self, site: str, states: frozenset[ComplaintState] | None, limit: int, offset: int
                         ) -> list[Complaint]:
        return await self._complaints.complaints(site, states, limit, offset)

    async def complaint_detail(self, site: str, complaint_id: int) -> ComplaintDetail:
        return await self._complaints.detail(site, complaint_id)

    async def act_on_complaint(self, site: str, complaint_id: int, action: ComplaintAction, outcome: str | None,
                               by: str, now: datetime, conclusion: ComplaintConclusion | None = None) -> Complaint:
        return await self._complaints.act(site, complaint_id, action, outcome, by, now, conclusion)

    async def complaint_photo(self, site: str, complaint_id: int) -> tuple[Complaint, bytes]:
        return await self._complaints.photo(site, complaint_id)

    # -- the district view of a supervision office ------------------------------------------------------

    async def district(self, sites: Collection[str] | None, period: Period, now: datetime, credit: bool = True
                       ) -> DistrictFacts:
        """The problems of the markets ``sites`` (None: every market) over ``period``; ``credit``: with the grades of
        their vendors (False: a list that does not show them is spared rating every vendor)."""
        return await self._district.facts(sites, period, now, credit)

    async def market_problems(self, site: str, period: Period, now: datetime, credit: bool = True
                              ) -> tuple[Window, MarketFacts]:
        return await self._district.market_facts(site, period, now, credit)

    # -- the scales' side -------------------------------------------------------------------------------

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        """Apply a burst of scale uplinks: records become sales (once each), acks settle deliveries,
        states track availability and catch a returning scale up."""
        await self._uplinks.handle(messages)
