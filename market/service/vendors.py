"""Vendors and the documents that license them (business licence, food permit or filing, health
certificate): recorded, listed, and voided when mistyped, with an audit entry; the scan or photo of a
document the market keeps on file, checked by its content and kept on disk (:class:`ScanFiles`) — written
before the database refers to it, removed again when the transaction does not commit, and a replaced one
removed once nothing refers to it."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from market.corrections import Correction, CorrectionKind
from market.licences import Document, RecordedDocument
from market.scans import Scan, ScanProblem, ScanType, scan_problem, sniffed_type
from market.service.errors import Conflict, NotFound, Refused, ScanRefused
from market.service.lookup import existing_market
from market.service.settings import MarketSettings
from market.stalls import Vendor
from market.storage import MarketRepository
from market.storage.scans import ScanFiles

log = logging.getLogger(__name__)


class VendorRecords:
    """Who sells at the market, and what they hold."""

    def __init__(self, engine: AsyncEngine, settings: MarketSettings) -> None:
        self._engine = engine
        self._scans = ScanFiles(settings.scan_dir) if settings.scan_dir is not None else None
        self._max_scan_bytes = settings.max_scan_bytes

    async def add_vendor(self, site: str, vendor: Vendor, now: datetime) -> None:
        try:
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                await existing_market(repository, site)
                await repository.add_vendor(site, vendor, now)
        except IntegrityError:
            raise Conflict(f"vendor {vendor.vendor_id!r} exists already") from None

    async def set_self_producing(self, site: str, vendor_id: str, self_producing: bool) -> Vendor:
        """Mark the vendor a farmer selling their own produce (自产自销), or no longer one."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            found = await repository.vendor(site, vendor_id)
            if found is None:
                raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
            await repository.set_self_producing(site, vendor_id, self_producing)
        log.info("vendor farmer status set", extra={"site": site, "vendor": vendor_id,
                                                    "self_producing": self_producing})
        return replace(found, self_producing=self_producing)

    async def vendors(self, site: str, limit: int, offset: int) -> list[tuple[Vendor, list[RecordedDocument]]]:
        """Vendors with every document recorded for them, voided ones too (marked)."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            found = await repository.vendors(site, limit, offset)
            held = await repository.recorded_documents(site, [vendor.vendor_id for vendor in found])
        return [(vendor, held[vendor.vendor_id]) for vendor in found]

    async def vendor(self, site: str, vendor_id: str) -> Vendor:
        async with self._engine.connect() as connection:
            found = await MarketRepository(connection).vendor(site, vendor_id)
        if found is None:
            raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
        return found

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

    def checked_scan(self, content: bytes) -> ScanType:
        """The type of a file taken as a scan; :class:`ScanRefused` for one that is not (nothing is kept)."""
        if self._scans is None:
            raise Refused("this installation keeps no scans (the market service has no scan folder)")
        problem = scan_problem(len(content), content[:16], self._max_scan_bytes)
        media_type = sniffed_type(content[:16])
        if problem is not None or media_type is None:
            raise ScanRefused(problem or ScanProblem.UNKNOWN_TYPE, self._max_scan_bytes)
        return media_type

    async def add_document(self, site: str, vendor_id: str, document: Document, by: str, now: datetime,
                           scan: bytes | None = None) -> int:
        """Record a document, with its scan when one is given (checked first: a refused file records nothing)."""
        media_type = self.checked_scan(scan) if scan is not None else None
        kept: Scan | None = None
        try:
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                if await repository.vendor(site, vendor_id) is None:
                    raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
                if scan is not None and media_type is not None:
                    kept = await self._store().keep(site, scan, media_type)
                document_id = await repository.add_document(site, vendor_id, document, by, now, kept)
        except BaseException:
            await self._forget(site, kept)
            raise
        log.info("vendor document recorded", extra={"site": site, "vendor": vendor_id, "kind": document.kind.value,
                                                    "scan": kept is not None, "by": by})
        return document_id

    async def keep_scan(self, site: str, vendor_id: str, document_id: int, content: bytes, by: str
                        ) -> RecordedDocument:
        """Keep ``content`` as the scan of a document of the vendor's (in place of the one it had, whose file is then
        removed); a voided document takes none (:class:`Conflict`): record the right one with its scan."""
        media_type = self.checked_scan(content)
        store = self._store()
        kept: Scan | None = None
        try:
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                found = await repository.recorded_document(site, document_id)
                if found is None or found.vendor_id != vendor_id:
                    raise NotFound(f"no document {document_id} of vendor {vendor_id!r} at market {site!r}")
                if found.voided:
                    raise Conflict(f"document {document_id} is voided: record the right document with its scan")
                kept = await store.keep(site, content, media_type)
                if not await repository.keep_scan(site, document_id, kept):
                    raise Conflict(f"document {document_id} was voided meanwhile")
        except BaseException:
            await self._forget(site, kept)
            raise
        if found.scan is not None:  # committed: nothing refers to the replaced file any more
            await store.remove(site, found.scan)
        log.info("vendor document scan kept", extra={"site": site, "vendor": vendor_id, "document": document_id,
                                                     "type": media_type.value, "bytes": kept.size, "by": by})
        return replace(found, scan=kept)

    async def document_scan(self, site: str, vendor_id: str, document_id: int) -> tuple[RecordedDocument, bytes]:
        """A document of the vendor's with its scan's bytes; :class:`NotFound` when it has none."""
        async with self._engine.connect() as connection:
            found = await MarketRepository(connection).recorded_document(site, document_id)
        if found is None or found.vendor_id != vendor_id:
            raise NotFound(f"no document {document_id} of vendor {vendor_id!r} at market {site!r}")
        if found.scan is None or self._scans is None:
            raise NotFound(f"document {document_id} has no scan")
        content = await self._scans.read(site, found.scan)
        if content is None:
            log.warning("document scan file missing", extra={"site": site, "document": document_id})
            raise NotFound(f"document {document_id} has no scan")
        return found, content

    def _store(self) -> ScanFiles:
        if self._scans is None:
            raise Refused("this installation keeps no scans (the market service has no scan folder)")
        return self._scans

    async def _forget(self, site: str, kept: Scan | None) -> None:
        """Remove a file written for a transaction that did not commit: nothing refers to it."""
        if kept is not None and self._scans is not None:
            await self._scans.remove(site, kept)
