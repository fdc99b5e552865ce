"""Storage of the market context (SQLAlchemy Core, async): markets, vendors and their documents,
stalls and who held them when, scales, published prices, command deliveries, batches, rapid tests,
sales, findings and operators' corrections.

Tables mirror market/migrations; the domain's dataclasses are converted here, at the edge. Money is
integer fen (BIGINT where an amount may pass 2^31), weight integer grams, times aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    and_,
    exists,
    func,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from market.corrections import Correction, CorrectionKind, RecordedCorrection
from market.findings import Finding, FindingKind, RecordedFinding
from market.licences import Document, DocumentKind, RecordedDocument, StallType
from market.pricing import PublishedPrice
from market.scale_delivery import Delivery, DeliveryStatus
from market.stalls import Market, ScaleRegistration, Stall, StallTenure, Vendor
from market.tracing import Batch, Block, BlockCause, CertificateType, RapidTest, RapidTestResult, Sale
from relational.database import UtcDateTime

metadata = MetaData()

markets = Table(
    "market_markets", metadata,
    Column("site", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("address", String(200), nullable=False),
    Column("complaint_hotline", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

vendors = Table(
    "market_vendors", metadata,
    Column("site", String(64), primary_key=True),
    Column("vendor_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("photo_ref", String(500), nullable=True),
    Column("contact_phone", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    ForeignKeyConstraint(["site"], ["market_markets.site"]),
)

documents = Table(
    "market_documents", metadata,
    Column("document_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("vendor_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("number", String(64), nullable=False),
    Column("valid_from", Date(), nullable=False),
    Column("valid_to", Date(), nullable=True),
    Column("holder", String(64), nullable=True),
    Column("scope", String(200), nullable=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("voided_at", UtcDateTime(), nullable=True),
    Column("voided_by", String(64), nullable=True),
    Column("void_reason", String(200), nullable=True),
    ForeignKeyConstraint(["site", "vendor_id"], ["market_vendors.site", "market_vendors.vendor_id"]),
    Index("market_documents_by_vendor", "site", "vendor_id"),
)

stalls = Table(
    "market_stalls", metadata,
    Column("site", String(64), primary_key=True),
    Column("stall", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("stall_type", String(32), nullable=False),
    Column("vendor_id", String(64), nullable=True),
    ForeignKeyConstraint(["site"], ["market_markets.site"]),
    ForeignKeyConstraint(["site", "vendor_id"], ["market_vendors.site", "market_vendors.vendor_id"]),
)

stall_tenures = Table(
    "market_stall_tenures", metadata,
    Column("tenure_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("name", String(100), nullable=False),
    Column("vendor_id", String(64), nullable=True),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_stall_tenures_by_stall", "site", "stall", "since"),
)

scales = Table(
    "market_scales", metadata,
    Column("site", String(64), primary_key=True),
    Column("scale_id", String(64), primary_key=True),
    Column("stall", String(32), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("online", Boolean(), nullable=True),
    Column("state_changed_at", UtcDateTime(), nullable=True),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_scales_by_stall", "site", "stall"),
)

prices = Table(
    "market_prices", metadata,
    Column("price_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("plu", String(32), nullable=False),
    Column("product", String(128), nullable=False),
    Column("unit_price_fen", BigInteger(), nullable=False),
    Column("effective_from", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime(), nullable=False),
    Column("published_by", String(64), nullable=False),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_prices_by_stall_plu", "site", "stall", "plu", "effective_from"),
)

deliveries = Table(
    "market_deliveries", metadata,
    Column("delivery_id", Integer(), primary_key=True, autoincrement=True),  # creation order
    Column("cmd_id", String(64), nullable=False, unique=True),
    Column("site", String(64), nullable=False),
    Column("scale_id", String(64), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("op", String(32), nullable=False),
    Column("args", JSON(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_sent_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("error", String(200), nullable=True),
    Column("result", JSON(), nullable=True),
    Index("market_deliveries_due", "status", "next_attempt_at"),
    Index("market_deliveries_by_scale", "site", "scale_id", "delivery_id"),
)

batches = Table(
    "market_batches", metadata,
    Column("site", String(64), primary_key=True),
    Column("batch_id", String(64), primary_key=True),
    Column("stall", String(32), nullable=False),
    Column("plu", String(32), nullable=False),
    Column("product", String(128), nullable=False),
    Column("supplier", String(100), nullable=False),
    Column("supplier_contact", String(64), nullable=True),
    Column("origin_code", String(6), nullable=False),
    Column("origin_name", String(100), nullable=False),
    Column("quantity_g", BigInteger(), nullable=False),
    Column("certificate_type", String(16), nullable=False),
    Column("certificate_number", String(64), nullable=False),
    Column("arrived_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("blocked_at", UtcDateTime(), nullable=True),
    Column("block_reason", String(200), nullable=True),
    Column("blocked_by", String(64), nullable=True),
    Column("block_cause", String(16), nullable=True),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_batches_by_stall_plu", "site", "stall", "plu", "arrived_at"),
)

rapid_tests = Table(
    "market_rapid_tests", metadata,
    Column("test_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("item", String(64), nullable=False),
    Column("method", String(64), nullable=False),
    Column("result", String(8), nullable=False),
    Column("value", String(64), nullable=True),
    Column("tester", String(64), nullable=False),
    Column("tested_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    ForeignKeyConstraint(["site", "batch_id"], ["market_batches.site", "market_batches.batch_id"]),
    Index("market_rapid_tests_by_batch", "site", "batch_id"),
)

sales = Table(
    "market_sales", metadata,
    Column("site", String(64), primary_key=True),
    Column("scale_id", String(64), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("ts", UtcDateTime(), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("plu", String(32), nullable=False),
    Column("product", String(128), nullable=True),
    Column("net_g", Integer(), nullable=False),
    Column("unit_price_fen", BigInteger(), nullable=False),
    Column("amount_fen", BigInteger(), nullable=False),
    Column("trace_code", String(64), nullable=False),
    Column("claimed_batch", String(64), nullable=True),
    Column("batch_id", String(64), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("stall_name", String(100), nullable=True),
    Column("vendor_id", String(64), nullable=True),
    Column("vendor_name", String(100), nullable=True),
    Index("market_sales_by_trace_code", "site", "trace_code"),
    Index("market_sales_by_batch", "site", "batch_id", "ts"),
)

findings = Table(
    "market_findings", metadata,
    Column("finding_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("finding_key", String(255), nullable=False),
    Column("stall", String(32), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("detail", JSON(), nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Column("resolution", String(500), nullable=True),
    UniqueConstraint("site", "finding_key", name="market_findings_once"),
    Index("market_findings_by_time", "site", "at"),
)

corrections = Table(
    "market_corrections", metadata,
    Column("correction_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("corrected_by", String(64), nullable=False),
    Column("corrected_at", UtcDateTime(), nullable=False),
    Column("detail", JSON(), nullable=False),
    Index("market_corrections_by_subject", "site", "kind", "subject"),
    Index("market_corrections_by_time", "site", "corrected_at"),
)


SaleKey = tuple[str, str]  # scale, record id
PricePair = tuple[str, str]  # stall, PLU


class MarketRepository:
    """Reads and writes one transaction's worth of market data on ``connection``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def _rows(self, statement: Any) -> Sequence[Any]:
        return (await self._connection.execute(statement)).mappings().all()

    # -- markets, vendors, documents, stalls, scales ---------------------------------------------

    async def add_market(self, market: Market, now: datetime) -> None:
        await self._connection.execute(markets.insert().values(
            site=market.site, name=market.name, address=market.address,
            complaint_hotline=market.complaint_hotline, created_at=now))

    async def market(self, site: str) -> Market | None:
        rows = await self._rows(select(markets).where(markets.c.site == site))
        return _market(rows[0]) if rows else None

    async def markets(self, limit: int, offset: int) -> list[Market]:
        rows = await self._rows(select(markets).order_by(markets.c.site).limit(limit).offset(offset))
        return [_market(row) for row in rows]

    async def add_vendor(self, site: str, vendor: Vendor, now: datetime) -> None:
        await self._connection.execute(vendors.insert().values(
            site=site, vendor_id=vendor.vendor_id, name=vendor.name, photo_ref=vendor.photo_ref,
            contact_phone=vendor.contact_phone, created_at=now))

    async def vendor(self, site: str, vendor_id: str) -> Vendor | None:
        rows = await self._rows(select(vendors).where(vendors.c.site == site, vendors.c.vendor_id == vendor_id))
        return _vendor(rows[0]) if rows else None

    async def vendors_by_id(self, site: str, vendor_ids: Iterable[str]) -> dict[str, Vendor]:
        wanted = sorted(set(vendor_ids))
        if not wanted:
            return {}
        rows = await self._rows(select(vendors).where(vendors.c.site == site, vendors.c.vendor_id.in_(wanted)))
        return {row["vendor_id"]: _vendor(row) for row in rows}

    async def vendors(self, site: str, limit: int, offset: int) -> list[Vendor]:
        rows = await self._rows(select(vendors).where(vendors.c.site == site).order_by(vendors.c.vendor_id)
                                .limit(limit).offset(offset))
        return [_vendor(row) for row in rows]

    async def add_document(self, site: str, vendor_id: str, document: Document, by: str, now: datetime) -> int:
        result = await self._connection.execute(documents.insert().values(
            site=site, vendor_id=vendor_id, kind=document.kind.value, number=document.number,
            valid_from=document.valid_from, valid_to=document.valid_to, holder=document.holder,
            scope=document.scope, recorded_at=now, recorded_by=by))
        key = result.inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no id for the new document")
        return int(key[0])

    async def documents(self, site: str, vendor_ids: Iterable[str]) -> dict[str, list[Document]]:
        """The documents that count: voided ones left out."""
        held = await self.recorded_documents(site, vendor_ids, voided=False)
        return {vendor_id: [r.document for r in recorded] for vendor_id, recorded in held.items()}

    async def recorded_documents(self, site: str, vendor_ids: Iterable[str], voided: bool = True
                                 ) -> dict[str, list[RecordedDocument]]:
        """Each vendor's documents in the order recorded, voided ones too unless ``voided`` is False."""
        wanted = sorted(set(vendor_ids))
        held: dict[str, list[RecordedDocument]] = {vendor_id: [] for vendor_id in wanted}
        if not wanted:
            return held
        statement = select(documents).where(documents.c.site == site, documents.c.vendor_id.in_(wanted))
        if not voided:
            statement = statement.where(documents.c.voided_at.is_(None))
        for row in await self._rows(statement.order_by(documents.c.document_id)):
            held[row["vendor_id"]].append(_recorded_document(row))
        return held

    async def recorded_document(self, site: str, document_id: int) -> RecordedDocument | None:
        rows = await self._rows(select(documents).where(documents.c.site == site,
                                                        documents.c.document_id == document_id))
        return _recorded_document(rows[0]) if rows else None

    async def void_document(self, site: str, document_id: int, by: str, reason: str, now: datetime) -> bool:
        """Void the document, unless it was voided meanwhile."""
        result = await self._connection.execute(
            update(documents).where(documents.c.site == site, documents.c.document_id == document_id,
                                    documents.c.voided_at.is_(None))
            .values(voided_at=now, voided_by=by, void_reason=reason[:200]))
        return bool(result.rowcount)

    async def add_stall(self, site: str, stall: Stall) -> None:
        await self._connection.execute(stalls.insert().values(
            site=site, stall=stall.stall, name=stall.name, stall_type=stall.stall_type.value,
            vendor_id=stall.vendor_id))

    async def update_stall(self, site: str, stall: Stall) -> bool:
        result = await self._connection.execute(
            update(stalls).where(stalls.c.site == site, stalls.c.stall == stall.stall)
            .values(name=stall.name, stall_type=stall.stall_type.value, vendor_id=stall.vendor_id))
        return bool(result.rowcount)

    async def stall(self, site: str, code: str) -> Stall | None:
        rows = await self._rows(select(stalls).where(stalls.c.site == site, stalls.c.stall == code))
        return _stall(rows[0]) if rows else None

    async def stalls(self, site: str, limit: int, offset: int) -> list[Stall]:
        rows = await self._rows(select(stalls).where(stalls.c.site == site).order_by(stalls.c.stall)
                                .limit(limit).offset(offset))
        return [_stall(row) for row in rows]

    async def stalls_to_review(self, site: str, today: date, horizon_days: int, permit_types: Iterable[StallType],
                               after: str | None, limit: int) -> list[Stall]:
        """Stalls (by code, after ``after``) whose licences may need attention on ``today``: no vendor,
        a required kind with no document at all, or a document not yet valid or ending within
        ``horizon_days``. A superset: the domain decides (a document about to end may have a
        successor); stalls whose every document is comfortably valid are not read."""
        held = (documents.c.site == stalls.c.site, documents.c.vendor_id == stalls.c.vendor_id,
                documents.c.voided_at.is_(None))

        def has(*kinds: DocumentKind) -> ColumnElement[bool]:
            return exists().where(*held, documents.c.kind.in_([kind.value for kind in kinds]))

        needs_permit = stalls.c.stall_type.in_(sorted(t.value for t in permit_types))
        food_missing = or_(and_(needs_permit, not_(has(DocumentKind.FOOD_BUSINESS_PERMIT))),
                           and_(not_(needs_permit), not_(has(DocumentKind.FOOD_FILING,
                                                             DocumentKind.FOOD_BUSINESS_PERMIT))))
        untimely = exists().where(*held, or_(documents.c.valid_from > today,
                                             documents.c.valid_to <= today + timedelta(days=horizon_days)))
        statement = select(stalls).where(stalls.c.site == site, or_(
            stalls.c.vendor_id.is_(None), not_(has(DocumentKind.BUSINESS_LICENCE)), food_missing,
            not_(has(DocumentKind.HEALTH_CERTIFICATE)), untimely))
        if after is not None:
            statement = statement.where(stalls.c.stall > after)
        rows = await self._rows(statement.order_by(stalls.c.stall).limit(limit))
        return [_stall(row) for row in rows]

    async def add_tenure(self, site: str, stall: Stall, since: datetime) -> None:
        await self._connection.execute(stall_tenures.insert().values(
            site=site, stall=stall.stall, since=since, name=stall.name, vendor_id=stall.vendor_id))

    async def tenures(self, site: str, codes: Iterable[str]) -> dict[str, list[StallTenure]]:
        """Each stall's tenures, oldest first."""
        wanted = sorted(set(codes))
        found: dict[str, list[StallTenure]] = {code: [] for code in wanted}
        if not wanted:
            return found
        rows = await self._rows(select(stall_tenures).where(stall_tenures.c.site == site,
                                                            stall_tenures.c.stall.in_(wanted))
                                .order_by(stall_tenures.c.since, stall_tenures.c.tenure_id))
        for row in rows:
            found[row["stall"]].append(StallTenure(row["stall"], row["name"], row["vendor_id"], row["since"]))
        return found

    async def register_scale(self, site: str, scale: str, stall: str, now: datetime) -> None:
        """Put ``scale`` at ``stall`` (moving it if it stood elsewhere)."""
        moved = await self._connection.execute(update(scales).where(scales.c.site == site, scales.c.scale_id == scale)
                                               .values(stall=stall, registered_at=now))
        if not moved.rowcount:
            await self._connection.execute(scales.insert().values(site=site, scale_id=scale, stall=stall,
                                                                  registered_at=now))

    async def scales(self, site: str, ids: Iterable[str] | None = None, stall: str | None = None,
                     limit: int | None = None, offset: int = 0) -> list[ScaleRegistration]:
        statement = select(scales).where(scales.c.site == site)
        if ids is not None:
            statement = statement.where(scales.c.scale_id.in_(sorted(set(ids))))
        if stall is not None:
            statement = statement.where(scales.c.stall == stall)
        rows = await self._rows(statement.order_by(scales.c.scale_id).limit(limit).offset(offset))
        return [ScaleRegistration(row["scale_id"], row["stall"], row["registered_at"], row["online"],
                                  row["state_changed_at"]) for row in rows]

    async def set_online(self, site: str, scale: str, online: bool, at: datetime) -> None:
        await self._connection.execute(update(scales).where(scales.c.site == site, scales.c.scale_id == scale)
                                       .values(online=online, state_changed_at=at))

    # -- prices ------------------------------------------------------------------------------

    async def add_prices(self, site: str, published: Sequence[PublishedPrice]) -> None:
        await self._connection.execute(prices.insert(), [
            {"site": site, "stall": p.stall, "plu": p.plu, "product": p.product, "unit_price_fen": p.unit_price_fen,
             "effective_from": p.effective_from, "published_at": p.published_at, "published_by": p.published_by}
            for p in published])

    async def prices_from(self, site: str, at: datetime, stall: str | None = None,
                          pairs: Iterable[PricePair] | None = None, until: datetime | None = None
                          ) -> list[PublishedPrice]:
        """The prices in force at ``at`` (with any rival for the same moment) and every later one up to
        ``until`` (inclusive; all if None), for one stall, some stall/PLU pairs, or the whole market."""
        scope: list[ColumnElement[bool]] = [prices.c.site == site]
        if stall is not None:
            scope.append(prices.c.stall == stall)
        if pairs is not None:
            wanted = sorted(set(pairs))
            if not wanted:
                return []
            scope.append(tuple_(prices.c.stall, prices.c.plu).in_(wanted))
        anchor = (select(prices.c.stall, prices.c.plu, func.max(prices.c.effective_from).label("since"))
                  .where(*scope, prices.c.effective_from <= at).group_by(prices.c.stall, prices.c.plu).subquery())
        in_force = (select(prices).join(anchor, and_(prices.c.stall == anchor.c.stall, prices.c.plu == anchor.c.plu,
                                                     prices.c.effective_from == anchor.c.since)).where(*scope))
        later_scope = [*scope, prices.c.effective_from > at]
        if until is not None:
            later_scope.append(prices.c.effective_from <= until)
        rows = [*await self._rows(in_force), *await self._rows(select(prices).where(*later_scope))]
        return [_price(row) for row in rows]

    async def price_history(self, site: str, stall: str, plu: str | None, limit: int, offset: int
                            ) -> list[PublishedPrice]:
        statement = select(prices).where(prices.c.site == site, prices.c.stall == stall)
        if plu is not None:
            statement = statement.where(prices.c.plu == plu)
        rows = await self._rows(statement.order_by(prices.c.effective_from.desc(), prices.c.price_id.desc())
                                .limit(limit).offset(offset))
        return [_price(row) for row in rows]

    # -- deliveries --------------------------------------------------------------------------

    async def add_delivery(self, delivery: Delivery) -> None:
        await self._connection.execute(deliveries.insert().values(**_delivery_row(delivery)))

    async def save_delivery(self, delivery: Delivery, expected: Delivery | None = None) -> bool:
        """Store the delivery's new state; with ``expected``, only if nobody changed it meanwhile."""
        statement = update(deliveries).where(deliveries.c.cmd_id == delivery.cmd_id)
        if expected is not None:
            statement = statement.where(deliveries.c.status == expected.status.value,
                                        deliveries.c.attempts == expected.attempts)
        row = _delivery_row(delivery)
        del row["cmd_id"]
        result = await self._connection.execute(statement.values(**row))
        return bool(result.rowcount)

    async def delivery(self, cmd_id: str) -> Delivery | None:
        rows = await self._rows(select(deliveries).where(deliveries.c.cmd_id == cmd_id))
        return _delivery(rows[0]) if rows else None

    async def deliveries_by_id(self, cmd_ids: Iterable[str]) -> dict[str, Delivery]:
        wanted = sorted(set(cmd_ids))
        if not wanted:
            return {}
        rows = await self._rows(select(deliveries).where(deliveries.c.cmd_id.in_(wanted)))
        return {row["cmd_id"]: _delivery(row) for row in rows}

    async def deliveries(self, site: str, *, scale: str | None = None, op: str | None = None,
                         statuses: Iterable[DeliveryStatus] | None = None, limit: int = 100, offset: int = 0
                         ) -> list[Delivery]:
        """Newest first."""
        statement = select(deliveries).where(deliveries.c.site == site)
        if scale is not None:
            statement = statement.where(deliveries.c.scale_id == scale)
        if op is not None:
            statement = statement.where(deliveries.c.op == op)
        if statuses is not None:
            statement = statement.where(deliveries.c.status.in_([status.value for status in statuses]))
        rows = await self._rows(statement.order_by(deliveries.c.delivery_id.desc()).limit(limit).offset(offset))
        return [_delivery(row) for row in rows]

    async def due_deliveries(self, now: datetime, limit: int) -> list[tuple[Delivery, bool | None]]:
        """Pending deliveries whose time has come, oldest first, with their scale's availability."""
        statement = (select(deliveries, scales.c.online.label("scale_online"))
                     .outerjoin(scales, and_(scales.c.site == deliveries.c.site,
                                             scales.c.scale_id == deliveries.c.scale_id))
                     .where(deliveries.c.status == DeliveryStatus.PENDING.value,
                            deliveries.c.next_attempt_at <= now,
                            or_(scales.c.online.is_(None), scales.c.online.is_(True)))
                     .order_by(deliveries.c.next_attempt_at, deliveries.c.delivery_id).limit(limit))
        return [(_delivery(row), row["scale_online"]) for row in await self._rows(statement)]

    # -- batches and tests ---------------------------------------------------------------------

    async def add_batch(self, site: str, batch: Batch, by: str, now: datetime) -> None:
        await self._connection.execute(batches.insert().values(
            site=site, batch_id=batch.batch_id, stall=batch.stall, plu=batch.plu, product=batch.product,
            supplier=batch.supplier, supplier_contact=batch.supplier_contact, origin_code=batch.origin_code,
            origin_name=batch.origin_name, quantity_g=batch.quantity_g,
            certificate_type=batch.certificate_type.value, certificate_number=batch.certificate_number,
            arrived_at=batch.arrived_at, recorded_at=now, recorded_by=by))

    async def batch(self, site: str, batch_id: str) -> Batch | None:
        rows = await self._rows(select(batches).where(batches.c.site == site, batches.c.batch_id == batch_id))
        return _batch(rows[0]) if rows else None

    async def batches_by_id(self, site: str, batch_ids: Iterable[str]) -> dict[str, Batch]:
        wanted = sorted(set(batch_ids))
        if not wanted:
            return {}
        rows = await self._rows(select(batches).where(batches.c.site == site, batches.c.batch_id.in_(wanted)))
        return {row["batch_id"]: _batch(row) for row in rows}

    async def batches(self, site: str, *, stall: str | None = None, plu: str | None = None,
                      pairs: Iterable[PricePair] | None = None, arrived_since: datetime | None = None,
                      arrived_until: datetime | None = None, limit: int | None = 100, offset: int = 0
                      ) -> list[Batch]:
        """Newest arrival first."""
        statement = select(batches).where(batches.c.site == site)
        if stall is not None:
            statement = statement.where(batches.c.stall == stall)
        if plu is not None:
            statement = statement.where(batches.c.plu == plu)
        if pairs is not None:
            wanted = sorted(set(pairs))
            if not wanted:
                return []
            statement = statement.where(tuple_(batches.c.stall, batches.c.plu).in_(wanted))
        if arrived_since is not None:
            statement = statement.where(batches.c.arrived_at >= arrived_since)
        if arrived_until is not None:
            statement = statement.where(batches.c.arrived_at <= arrived_until)
        rows = await self._rows(statement.order_by(batches.c.arrived_at.desc(), batches.c.batch_id)
                                .limit(limit).offset(offset))
        return [_batch(row) for row in rows]

    async def block(self, site: str, batch: Batch) -> bool:
        """Record the batch's block, unless it was blocked meanwhile."""
        if batch.block is None:
            raise ValueError("nothing to record: the batch is not blocked")
        result = await self._connection.execute(
            update(batches).where(batches.c.site == site, batches.c.batch_id == batch.batch_id,
                                  batches.c.blocked_at.is_(None))
            .values(blocked_at=batch.block.at, block_reason=batch.block.reason[:200], blocked_by=batch.block.by,
                    block_cause=batch.block.cause.value))
        return bool(result.rowcount)

    async def release(self, site: str, batch: Batch) -> bool:
        """Lift the batch's block, unless it changed meanwhile (lifted, or lifted and blocked again)."""
        if batch.block is None:
            raise ValueError("nothing to lift: the batch is not blocked")
        result = await self._connection.execute(
            update(batches).where(batches.c.site == site, batches.c.batch_id == batch.batch_id,
                                  batches.c.blocked_at == batch.block.at)
            .values(blocked_at=None, block_reason=None, blocked_by=None, block_cause=None))
        return bool(result.rowcount)

    async def set_quantity(self, site: str, batch_id: str, quantity_g: int, expected_g: int) -> bool:
        """Correct the received grams, unless someone corrected them meanwhile."""
        result = await self._connection.execute(
            update(batches).where(batches.c.site == site, batches.c.batch_id == batch_id,
                                  batches.c.quantity_g == expected_g).values(quantity_g=quantity_g))
        return bool(result.rowcount)

    async def add_test(self, site: str, test: RapidTest, now: datetime) -> None:
        await self._connection.execute(rapid_tests.insert().values(
            site=site, batch_id=test.batch_id, item=test.item, method=test.method, result=test.result.value,
            value=test.value, tester=test.tester, tested_at=test.tested_at, recorded_at=now))

    async def tests(self, site: str, batch_ids: Iterable[str]) -> dict[str, list[RapidTest]]:
        wanted = sorted(set(batch_ids))
        found: dict[str, list[RapidTest]] = {batch_id: [] for batch_id in wanted}
        if not wanted:
            return found
        rows = await self._rows(select(rapid_tests).where(rapid_tests.c.site == site,
                                                          rapid_tests.c.batch_id.in_(wanted))
                                .order_by(rapid_tests.c.tested_at, rapid_tests.c.test_id))
        for row in rows:
            found[row["batch_id"]].append(RapidTest(row["batch_id"], row["item"], row["method"],
                                                    RapidTestResult(row["result"]), row["value"], row["tester"],
                                                    row["tested_at"]))
        return found

    # -- sales -------------------------------------------------------------------------------

    async def known_sales(self, site: str, keys: Iterable[SaleKey]) -> set[SaleKey]:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = (await self._connection.execute(
            select(sales.c.scale_id, sales.c.record_id).where(
                sales.c.site == site, tuple_(sales.c.scale_id, sales.c.record_id).in_(wanted)))).all()
        return {(row[0], row[1]) for row in rows}

    async def add_sales(self, site: str, new_sales: Sequence[Sale], now: datetime) -> None:
        if new_sales:
            await self._connection.execute(sales.insert(), [
                {"site": site, "scale_id": s.scale, "record_id": s.record_id, "ts": s.ts, "stall": s.stall,
                 "plu": s.plu, "product": s.product, "net_g": s.net_g, "unit_price_fen": s.unit_price_fen,
                 "amount_fen": s.amount_fen, "trace_code": s.trace_code, "claimed_batch": s.claimed_batch,
                 "batch_id": s.batch_id, "received_at": now, "stall_name": s.stall_name, "vendor_id": s.vendor_id,
                 "vendor_name": s.vendor_name} for s in new_sales])

    async def sale_by_trace_code(self, site: str, trace_code: str) -> Sale | None:
        """The sale printed with ``trace_code``; the latest if a scale ever printed one twice."""
        rows = await self._rows(select(sales).where(sales.c.site == site, sales.c.trace_code == trace_code)
                                .order_by(sales.c.ts.desc()).limit(1))
        return _sale(rows[0]) if rows else None

    async def sales_of_batch(self, site: str, batch_id: str, limit: int | None, offset: int = 0) -> list[Sale]:
        """Oldest first: the order of a forward trace."""
        rows = await self._rows(select(sales).where(sales.c.site == site, sales.c.batch_id == batch_id)
                                .order_by(sales.c.ts, sales.c.scale_id, sales.c.record_id).limit(limit).offset(offset))
        return [_sale(row) for row in rows]

    async def batch_totals(self, site: str, batch_ids: Iterable[str]
                           ) -> dict[str, tuple[int, int, datetime | None, datetime | None]]:
        """Per batch: number of sales, grams sold, first and last sale."""
        wanted = sorted(set(batch_ids))
        totals: dict[str, tuple[int, int, datetime | None, datetime | None]] = {
            batch_id: (0, 0, None, None) for batch_id in wanted}
        if not wanted:
            return totals
        rows = (await self._connection.execute(
            select(sales.c.batch_id, func.count(), func.sum(sales.c.net_g), func.min(sales.c.ts), func.max(sales.c.ts))
            .where(sales.c.site == site, sales.c.batch_id.in_(wanted)).group_by(sales.c.batch_id))).all()
        for batch_id, count, grams, first, last in rows:
            totals[batch_id] = (int(count), int(grams or 0), _utc(first), _utc(last))
        return totals

    # -- findings ----------------------------------------------------------------------------

    async def known_findings(self, site: str, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = (await self._connection.execute(select(findings.c.finding_key).where(
            findings.c.site == site, findings.c.finding_key.in_(wanted)))).scalars().all()
        return set(rows)

    async def add_findings(self, site: str, new: Sequence[Finding], now: datetime) -> None:
        if new:
            await self._connection.execute(findings.insert(), [
                {"site": site, "kind": f.kind.value, "finding_key": f.key, "stall": f.stall, "at": f.at,
                 "detail": dict(f.detail), "raised_at": now} for f in new])

    async def findings(self, site: str, *, kind: FindingKind | None = None, stall: str | None = None,
                       open_only: bool = False, resolved_only: bool = False, limit: int = 100,
                       offset: int = 0) -> list[RecordedFinding]:
        """Newest first."""
        statement = select(findings).where(findings.c.site == site)
        if kind is not None:
            statement = statement.where(findings.c.kind == kind.value)
        if stall is not None:
            statement = statement.where(findings.c.stall == stall)
        if open_only:
            statement = statement.where(findings.c.resolved_at.is_(None))
        if resolved_only:
            statement = statement.where(findings.c.resolved_at.is_not(None))
        rows = await self._rows(statement.order_by(findings.c.at.desc(), findings.c.finding_id.desc())
                                .limit(limit).offset(offset))
        return [_finding(row) for row in rows]

    async def finding(self, site: str, finding_id: int) -> RecordedFinding | None:
        rows = await self._rows(select(findings).where(findings.c.site == site, findings.c.finding_id == finding_id))
        return _finding(rows[0]) if rows else None

    async def resolve_finding(self, site: str, finding_id: int, by: str, resolution: str, now: datetime) -> bool:
        result = await self._connection.execute(
            update(findings).where(findings.c.site == site, findings.c.finding_id == finding_id,
                                   findings.c.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by=by, resolution=resolution))
        return bool(result.rowcount)

    # -- corrections -------------------------------------------------------------------------

    async def add_correction(self, site: str, correction: Correction) -> int:
        result = await self._connection.execute(corrections.insert().values(
            site=site, kind=correction.kind.value, subject=correction.subject, reason=correction.reason[:500],
            corrected_by=correction.by, corrected_at=correction.at, detail=dict(correction.detail)))
        key = result.inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no id for the correction")
        return int(key[0])

    async def corrections(self, site: str, *, kinds: Iterable[CorrectionKind] | None = None,
                          subject: str | None = None, limit: int = 100, offset: int = 0) -> list[RecordedCorrection]:
        """Newest first."""
        statement = select(corrections).where(corrections.c.site == site)
        if kinds is not None:
            statement = statement.where(corrections.c.kind.in_(sorted(kind.value for kind in kinds)))
        if subject is not None:
            statement = statement.where(corrections.c.subject == subject)
        rows = await self._rows(statement.order_by(corrections.c.corrected_at.desc(),
                                                   corrections.c.correction_id.desc()).limit(limit).offset(offset))
        return [RecordedCorrection(row["correction_id"], Correction(
            CorrectionKind(row["kind"]), row["subject"], row["reason"], row["corrected_by"], row["corrected_at"],
            row["detail"])) for row in rows]


def _utc(value: datetime | str | None) -> datetime | None:
    """Aggregates of a time column, as an aware UTC time whatever the driver hands back."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _market(row: Mapping[str, Any]) -> Market:
    return Market(row["site"], row["name"], row["address"], row["complaint_hotline"])


def _vendor(row: Mapping[str, Any]) -> Vendor:
    return Vendor(row["vendor_id"], row["name"], row["photo_ref"], row["contact_phone"])


def _stall(row: Mapping[str, Any]) -> Stall:
    return Stall(row["stall"], row["name"], StallType(row["stall_type"]), row["vendor_id"])


def _price(row: Mapping[str, Any]) -> PublishedPrice:
    return PublishedPrice(row["stall"], row["plu"], row["product"], int(row["unit_price_fen"]), row["effective_from"],
                          row["published_at"], row["published_by"])


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    return {"cmd_id": delivery.cmd_id, "site": delivery.site, "scale_id": delivery.scale, "stall": delivery.stall,
            "op": delivery.op, "args": dict(delivery.args), "created_at": delivery.created_at,
            "status": delivery.status.value, "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at, "last_sent_at": delivery.last_sent_at,
            "finished_at": delivery.finished_at, "error": delivery.error,
            "result": dict(delivery.result) if delivery.result is not None else None}


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(row["cmd_id"], row["site"], row["scale_id"], row["stall"], row["op"], row["args"],
                    row["created_at"], DeliveryStatus(row["status"]), row["attempts"], row["next_attempt_at"],
                    row["last_sent_at"], row["finished_at"], row["error"], row["result"])


def _batch(row: Mapping[str, Any]) -> Batch:
    block = None
    if row["blocked_at"] is not None:
        block = Block(row["blocked_at"], row["block_reason"], row["blocked_by"], BlockCause(row["block_cause"]))
    return Batch(row["batch_id"], row["stall"], row["plu"], row["product"], row["supplier"], row["origin_code"],
                 row["origin_name"], int(row["quantity_g"]), CertificateType(row["certificate_type"]),
                 row["certificate_number"], row["arrived_at"], row["supplier_contact"], block)


def _sale(row: Mapping[str, Any]) -> Sale:
    return Sale(row["scale_id"], row["record_id"], row["ts"], row["stall"], row["plu"], row["product"], row["net_g"],
                int(row["unit_price_fen"]), int(row["amount_fen"]), row["trace_code"], row["claimed_batch"],
                row["batch_id"], row["stall_name"], row["vendor_id"], row["vendor_name"])


def _recorded_document(row: Mapping[str, Any]) -> RecordedDocument:
    document = Document(DocumentKind(row["kind"]), row["number"], _date(row["valid_from"]),
                        _date(row["valid_to"]) if row["valid_to"] is not None else None, row["holder"], row["scope"])
    return RecordedDocument(row["document_id"], row["vendor_id"], document, row["recorded_at"], row["recorded_by"],
                            row["voided_at"], row["voided_by"], row["void_reason"])


def _finding(row: Mapping[str, Any]) -> RecordedFinding:
    finding = Finding(FindingKind(row["kind"]), row["finding_key"], row["stall"], row["at"], row["detail"])
    return RecordedFinding(row["finding_id"], finding, row["raised_at"], row["resolved_at"], row["resolved_by"],
                           row["resolution"])
