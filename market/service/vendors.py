"""Vendors and the documents that license them (business licence, food permit or filing, health
certificate): recorded, listed, and voided when mistyped, with an audit entry."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from market.corrections import Correction, CorrectionKind
from market.licences import Document, RecordedDocument
from market.service.errors import Conflict, NotFound, Refused
from market.service.lookup import existing_market
from market.stalls import Vendor
from market.storage import MarketRepository

log = logging.getLogger(__name__)


class VendorRecords:
    """Who sells at the market, and what they hold."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_vendor(self, site: str, vendor: Vendor, now: datetime) -> None:
        try:
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                await existing_market(repository, site)
                await repository.add_vendor(site, vendor, now)
        except IntegrityError:
            raise Conflict(f"vendor {vendor.vendor_id!r} exists already") from None

    async def vendors(self, site: str, limit: int, offset: int) -> list[tuple[Vendor, list[RecordedDocument]]]:
        """Vendors with every document recorded for them, voided ones too (marked)."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            found = await repository.vendors(site, limit, offset)
            held = await repository.recorded_documents(site, [vendor.vendor_id for vendor in found])
        return [(vendor, held[vendor.vendor_id]) for vendor in found]

    async def vendor_documents(self, site: str, vendor_id: str) -> list[RecordedDocument]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            if await repository.vendor(site, vendor_id) is None:
                raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
            return (await repository.recorded_documents(site, [vendor_id]))[vendor_id]

    async def void_document(self, site: str, vendor_id: str, document_id: int, reason: str, by: str,
                            now: datetime) -> RecordedDocument:
        """Void a mistyped document: it no longer counts for the vendor's stalls, and stays listed as
        voided, with who voided it, when and why (also an audit entry)."""
        if not reason.strip():
            raise Refused("say why the document is voided")
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            found = await repository.recorded_document(site, document_id)
            if found is None or found.vendor_id != vendor_id:
                raise NotFound(f"no document {document_id} of vendor {vendor_id!r} at market {site!r}")
            if found.voided or not await repository.void_document(site, document_id, by, reason, now):
                raise Conflict(f"document {document_id} was voided already")
            await repository.add_correction(site, Correction(
                CorrectionKind.VOID_DOCUMENT, str(document_id), reason, by, now,
                {"vendor_id": vendor_id, "kind": found.document.kind.value, "number": found.document.number}))
        log.info("vendor document voided", extra={"site": site, "vendor": vendor_id, "document": document_id,
                                                  "by": by})
        return replace(found, voided_at=now, voided_by=by, void_reason=reason)

    async def add_document(self, site: str, vendor_id: str, document: Document, by: str, now: datetime) -> int:
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            if await repository.vendor(site, vendor_id) is None:
                raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
            document_id = await repository.add_document(site, vendor_id, document, by, now)
        log.info("vendor document recorded",
                 extra={"site": site, "vendor": vendor_id, "kind": document.kind.value, "by": by})
        return document_id
