"""Storage of the market's directory: the markets themselves (with their licence policy), vendors with their
documents, and stalls (what each sells) with their staff rosters, who held them when and the scales that stand at
them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, not_, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from market.licences import (
    Document,
    DocumentKind,
    LicencePolicy,
    Offering,
    RecordedDocument,
    StaffMember,
    StallType,
    offerings_of,
    offerings_text,
)
from market.scans import Scan, ScanType
from market.stalls import Market, ScaleRegistration, Stall, StallTenure, Vendor
from market.storage.repository import Repository
from market.storage.tables import documents, markets, scales, stall_staff, stall_tenures, stalls, vendors


class SiteRepository(Repository):
    """The markets, one per site."""

    async def add_market(self, market: Market, now: datetime) -> None:
        await self._connection.execute(markets.insert().values(
            site=market.site, name=market.name, address=market.address,
            complaint_hotline=market.complaint_hotline, created_at=now, **_policy_columns(market.policy)))

    async def set_policy(self, site: str, policy: LicencePolicy) -> bool:
        result = await self._connection.execute(update(markets).where(markets.c.site == site)
                                                .values(**_policy_columns(policy)))
        return bool(result.rowcount)

    async def market(self, site: str) -> Market | None:
        rows = await self._rows(select(markets).where(markets.c.site == site))
        return _market(rows[0]) if rows else None

    async def markets(self, limit: int, offset: int, sites: Collection[str] | None = None) -> list[Market]:
        """A page of the markets by site id; ``sites``: only these (None: all)."""
        statement = select(markets)
        if sites is not None:
            if not sites:
                return []
            statement = statement.where(markets.c.site.in_(sorted(sites)))
        rows = await self._rows(statement.order_by(markets.c.site).limit(limit).offset(offset))
        return [_market(row) for row in rows]


class VendorRepository(Repository):
    """Vendors and the documents recorded for them (licences, permits, health certificates)."""

    async def add_vendor(self, site: str, vendor: Vendor, now: datetime) -> None:
        await self._connection.execute(vendors.insert().values(
            site=site, vendor_id=vendor.vendor_id, name=vendor.name, photo_ref=vendor.photo_ref,
            contact_phone=vendor.contact_phone, created_at=now, self_producing=vendor.self_producing))

    async def set_self_producing(self, site: str, vendor_id: str, self_producing: bool) -> bool:
        result = await self._connection.execute(
            update(vendors).where(vendors.c.site == site, vendors.c.vendor_id == vendor_id)
            .values(self_producing=self_producing))
        return bool(result.rowcount)

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

    async def add_document(self, site: str, vendor_id: str, document: Document, by: str, now: datetime,
                           scan: Scan | None = None) -> int:
        result = await self._connection.execute(documents.insert().values(
            site=site, vendor_id=vendor_id, kind=document.kind.value, number=document.number,
            valid_from=document.valid_from, valid_to=document.valid_to, holder=document.holder,
            scope=document.scope, recorded_at=now, recorded_by=by, **_scan_columns(scan)))
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

    async def keep_scan(self, site: str, document_id: int, scan: Scan) -> bool:
        """Refer the document to ``scan`` (in place of any it had), unless it was voided meanwhile."""
        result = await self._connection.execute(
            update(documents).where(documents.c.site == site, documents.c.document_id == document_id,
                                    documents.c.voided_at.is_(None))
            .values(**_scan_columns(scan)))
        return bool(result.rowcount)

    async def void_document(self, site: str, document_id: int, by: str, reason: str, now: datetime) -> bool:
        """Void the document, unless it was voided meanwhile."""
        result = await self._connection.execute(
            update(documents).where(documents.c.site == site, documents.c.document_id == document_id,
                                    documents.c.voided_at.is_(None))
            .values(voided_at=now, voided_by=by, void_reason=reason[:200]))
        return bool(result.rowcount)


class StallRepository(Repository):
    """Stalls, their tenures (name and vendor from a moment on) and the scales registered at them."""

    async def add_stall(self, site: str, stall: Stall) -> None:
        await self._connection.execute(stalls.insert().values(
            site=site, stall=stall.stall, name=stall.name, stall_type=stall.stall_type.value,
            vendor_id=stall.vendor_id, offerings=offerings_text(stall.offerings)))

    async def update_stall(self, site: str, stall: Stall) -> bool:
        result = await self._connection.execute(
            update(stalls).where(stalls.c.site == site, stalls.c.stall == stall.stall)
            .values(name=stall.name, stall_type=stall.stall_type.value, vendor_id=stall.vendor_id,
                    offerings=offerings_text(stall.offerings)))
        return bool(result.rowcount)

    async def staff(self, site: str, codes: Iterable[str]) -> dict[str, list[StaffMember]]:
        """Each stall's roster, by name."""
        wanted = sorted(set(codes))
        found: dict[str, list[StaffMember]] = {code: [] for code in wanted}
        if not wanted:
            return found
        rows = await self._rows(select(stall_staff).where(stall_staff.c.site == site, stall_staff.c.stall.in_(wanted))
                                .order_by(stall_staff.c.stall, stall_staff.c.name))
        for row in rows:
            found[row["stall"]].append(StaffMember(row["name"], bool(row["handles_ready_to_eat"])))
        return found

    async def replace_staff(self, site: str, stall: str, staff: Iterable[StaffMember], by: str,
                            now: datetime) -> None:
        """Make ``staff`` the stall's roster: those no longer on it leave, those new join (added now, by ``by``),
        those staying keep when they were added."""
        wanted = {member.name: member for member in staff}
        kept = {row["name"] for row in await self._rows(select(stall_staff.c.name).where(
            stall_staff.c.site == site, stall_staff.c.stall == stall))}
        gone = sorted(kept - set(wanted))
        if gone:
            await self._connection.execute(delete(stall_staff).where(
                stall_staff.c.site == site, stall_staff.c.stall == stall, stall_staff.c.name.in_(gone)))
        for name in sorted(kept & set(wanted)):
            await self._connection.execute(update(stall_staff).where(
                stall_staff.c.site == site, stall_staff.c.stall == stall, stall_staff.c.name == name)
                .values(handles_ready_to_eat=wanted[name].handles_ready_to_eat))
        joining = [wanted[name] for name in sorted(set(wanted) - kept)]
        if joining:
            await self._connection.execute(stall_staff.insert(), [
                {"site": site, "stall": stall, "name": member.name,
                 "handles_ready_to_eat": member.handles_ready_to_eat, "added_at": now, "added_by": by}
                for member in joining])

    async def stall(self, site: str, code: str) -> Stall | None:
        rows = await self._rows(select(stalls).where(stalls.c.site == site, stalls.c.stall == code))
        return _stall(rows[0]) if rows else None

    async def stalls(self, site: str, limit: int, offset: int) -> list[Stall]:
        rows = await self._rows(select(stalls).where(stalls.c.site == site).order_by(stalls.c.stall)
                                .limit(limit).offset(offset))
        return [_stall(row) for row in rows]

    async def stalls_to_review(self, site: str, today: date, horizon_days: int, policy: LicencePolicy,
                               after: str | None, limit: int) -> list[Stall]:
        """Stalls (by code, after ``after``) whose licences may need attention on ``today``: no vendor, no
        licence nor a farmer's identity, no permit (bulk or ready-to-eat food) or filing (pre-packaged food), a
        roster that must be certified with someone on it lacking a certificate or with nobody on it, or a document
        not yet valid or ending within ``horizon_days``. A superset: the domain decides (a document about to end
        may have a successor); stalls whose every document is comfortably valid are not read."""
        held = (documents.c.site == stalls.c.site, documents.c.vendor_id == stalls.c.vendor_id,
                documents.c.voided_at.is_(None))

        def has(*kinds: DocumentKind) -> ColumnElement[bool]:
            return exists().where(*held, documents.c.kind.in_([kind.value for kind in kinds]))

        def sells(*offered: Offering) -> ColumnElement[bool]:
            # offerings are comma-joined values, none a part of another; NULL (never written): the type's
            types = sorted(t.value for t in StallType if t.default_offerings & set(offered))
            return or_(*(stalls.c.offerings.contains(o.value) for o in offered),
                       and_(stalls.c.offerings.is_(None), stalls.c.stall_type.in_(types)))

        on_roster = (stall_staff.c.site == stalls.c.site, stall_staff.c.stall == stalls.c.stall)
        certificate = (documents.c.kind == DocumentKind.HEALTH_CERTIFICATE.value,
                       documents.c.holder == stall_staff.c.name)
        uncertified = exists().where(*on_roster, not_(exists().where(*held, *certificate)))
        certified_roster = (stalls.c.site.is_not(None) if policy.health_certificate_every_stall
                            else sells(Offering.READY_TO_EAT))
        untimely = exists().where(*held, or_(documents.c.valid_from > today,
                                             documents.c.valid_to <= today + timedelta(days=horizon_days)))
        statement = select(stalls).where(stalls.c.site == site, or_(
            stalls.c.vendor_id.is_(None),
            not_(has(DocumentKind.BUSINESS_LICENCE, DocumentKind.RESIDENT_ID, DocumentKind.VILLAGE_CERTIFICATE)),
            and_(sells(Offering.BULK_FOOD, Offering.READY_TO_EAT), not_(has(DocumentKind.FOOD_BUSINESS_PERMIT))),
            and_(sells(Offering.PREPACKAGED_FOOD), not_(has(DocumentKind.FOOD_FILING,
                                                            DocumentKind.FOOD_BUSINESS_PERMIT))),
            and_(certified_roster, or_(not_(exists().where(*on_roster)), uncertified)),
            untimely))
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


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _market(row: Mapping[str, Any]) -> Market:
    policy = LicencePolicy(bool(row["policy_health_every_stall"]), bool(row["policy_licence_for_farmers"]))
    return Market(row["site"], row["name"], row["address"], row["complaint_hotline"], policy)


def _policy_columns(policy: LicencePolicy) -> dict[str, bool]:
    return {"policy_health_every_stall": policy.health_certificate_every_stall,
            "policy_licence_for_farmers": policy.licence_for_farmers}


def _vendor(row: Mapping[str, Any]) -> Vendor:
    return Vendor(row["vendor_id"], row["name"], row["photo_ref"], row["contact_phone"], bool(row["self_producing"]))


def _stall(row: Mapping[str, Any]) -> Stall:
    return Stall(row["stall"], row["name"], StallType(row["stall_type"]), row["vendor_id"],
                 offerings_of(row["offerings"] or ""))


def _recorded_document(row: Mapping[str, Any]) -> RecordedDocument:
    document = Document(DocumentKind(row["kind"]), row["number"], _date(row["valid_from"]),
                        _date(row["valid_to"]) if row["valid_to"] is not None else None, row["holder"], row["scope"])
    scan = Scan(row["scan_name"], ScanType(row["scan_type"]), row["scan_bytes"]) if row["scan_name"] else None
    return RecordedDocument(row["document_id"], row["vendor_id"], document, row["recorded_at"], row["recorded_by"],
                            row["voided_at"], row["voided_by"], row["void_reason"], scan)


def _scan_columns(scan: Scan | None) -> dict[str, Any]:
    if scan is None:
        return {}
    return {"scan_name": scan.name, "scan_type": scan.media_type.value, "scan_bytes": scan.size}
