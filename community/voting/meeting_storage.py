"""Storage of meetings (SQLAlchemy Core, async; tables of migrations 0011, 0013 — the proxies appointed to attend — and
0014 — the appointments withdrawn, kept for the record — in the voting context's metadata) and of
their materials' files under the data directory (``<root>/<meeting_id>/<random>.<ext>``, folders 0700 and files 0600,
as the market keeps its scans: written whole and flushed before the database refers to them)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from accounts.storage import AccountRepository
from community.voting.materials import MATERIAL_NAME, KeptMaterial
from community.voting.meeting_chain import MeetingEntry
from community.voting.meetings import Meeting, MeetingForm, MeetingKind, Minutes, ProxyAppointment, ProxyWithdrawal
from community.voting.storage import metadata
from config.private_files import PRIVATE_FILE_MODE, private_directory
from relational.database import UtcDateTime
from webkit.identity import Role

_NO_FOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)

meetings = Table(
    "voting_meetings", metadata,
    Column("meeting_id", String(64), primary_key=True),
    Column("community_id", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("form", String(32), nullable=False),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("place", String(200), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("notice_published_at", UtcDateTime(), nullable=True),
    Column("minutes_text", Text(), nullable=True),
    Column("minutes_drafted_by", String(64), nullable=True),
    Column("minutes_drafted_at", UtcDateTime(), nullable=True),
    Column("minutes_approved_by", String(64), nullable=True),
    Column("minutes_approved_at", UtcDateTime(), nullable=True),
    Column("minutes_published_at", UtcDateTime(), nullable=True),
    Index("voting_meetings_by_community", "community_id"),
)

items = Table(
    "voting_meeting_items", metadata,
    Column("meeting_id", String(64), ForeignKey("voting_meetings.meeting_id"), primary_key=True),
    Column("position", Integer(), primary_key=True, autoincrement=False),
    Column("proposal_id", String(64), ForeignKey("voting_proposals.proposal_id"), nullable=False),
    UniqueConstraint("meeting_id", "proposal_id", name="voting_meeting_items_once"),
)

materials = Table(
    "voting_meeting_materials", metadata,
    Column("material_id", Integer(), primary_key=True, autoincrement=True),
    Column("meeting_id", String(64), ForeignKey("voting_meetings.meeting_id"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("file_name", String(64), nullable=False),
    Column("media_type", String(40), nullable=False),
    Column("size", Integer(), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
)

signins = Table(
    "voting_meeting_signins", metadata,
    Column("meeting_id", String(64), ForeignKey("voting_meetings.meeting_id"), primary_key=True),
    Column("person_id", String(64), primary_key=True),
    Column("signed_at", UtcDateTime(), nullable=False),
    Column("unit_ids", JSON(), nullable=False),
)

proxies = Table(
    "voting_meeting_proxies", metadata,
    Column("meeting_id", String(64), ForeignKey("voting_meetings.meeting_id"), primary_key=True),
    Column("unit_id", String(64), primary_key=True),  # one proxy per unit and meeting: a unit is never counted twice
    Column("proxy_id", String(64), nullable=False),
    Column("granted_by", String(64), nullable=False),
    Column("granted_at", UtcDateTime(), nullable=False),
)

proxy_withdrawals = Table(
    # an appointment withdrawn leaves `proxies` (its unit may be appointed again) and is kept here, counting nothing
    "voting_meeting_proxy_withdrawals", metadata,
    Column("withdrawal_id", Integer(), primary_key=True, autoincrement=True),
    Column("meeting_id", String(64), ForeignKey("voting_meetings.meeting_id"), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("proxy_id", String(64), nullable=False),
    Column("granted_by", String(64), nullable=False),
    Column("granted_at", UtcDateTime(), nullable=False),
    Column("withdrawn_by", String(64), nullable=False),
    Column("withdrawn_at", UtcDateTime(), nullable=False),
    Index("voting_meeting_proxy_withdrawals_by_meeting", "meeting_id"),
)

meeting_log = Table(
    "voting_meeting_log", metadata,
    Column("meeting_id", String(64), ForeignKey("voting_meetings.meeting_id"), primary_key=True),
    Column("sequence", Integer(), primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("record", JSON(), nullable=False),
    Column("previous_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False, unique=True),
)


@dataclass(frozen=True)
class StoredMeeting:
    meeting: Meeting
    created_by: str
    notice_published_at: datetime | None
    minutes: Minutes | None


@dataclass(frozen=True)
class SignIn:
    person_id: str
    signed_at: datetime
    unit_ids: tuple[str, ...]


class MeetingRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, meeting: Meeting, created_by: str, now: datetime) -> None:
        await self._c.execute(insert(meetings).values(
            meeting_id=meeting.meeting_id, community_id=meeting.community_id, title=meeting.title,
            kind=meeting.kind.value, form=meeting.form.value, starts_at=meeting.starts_at, ends_at=meeting.ends_at,
            place=meeting.place, created_by=created_by, created_at=now))

    async def lock(self, meeting_id: str) -> None:
        """Serialise the writers of one meeting (PostgreSQL row lock; SQLite has one writer)."""
        await self._c.execute(select(meetings.c.meeting_id).where(meetings.c.meeting_id == meeting_id)
                              .with_for_update())

    async def get(self, meeting_id: str) -> StoredMeeting | None:
        row = (await self._c.execute(select(meetings).where(meetings.c.meeting_id == meeting_id))).first()
        return None if row is None else _stored(row)

    async def ids(self, communities: Collection[str] | None, limit: int) -> list[str]:
        query = select(meetings.c.meeting_id).order_by(meetings.c.starts_at.desc(), meetings.c.meeting_id).limit(limit)
        if communities is not None:
            query = query.where(meetings.c.community_id.in_(sorted(communities)))
        return [row.meeting_id for row in await self._c.execute(query)]

    async def items(self, meeting_id: str) -> list[tuple[int, str]]:
        rows = await self._c.execute(select(items.c.position, items.c.proposal_id)
                                     .where(items.c.meeting_id == meeting_id).order_by(items.c.position))
        return [(row.position, row.proposal_id) for row in rows]

    async def add_item(self, meeting_id: str, position: int, proposal_id: str) -> None:
        await self._c.execute(insert(items).values(meeting_id=meeting_id, position=position, proposal_id=proposal_id))

    async def meetings_of(self, proposal_id: str) -> list[str]:
        rows = await self._c.execute(select(items.c.meeting_id).where(items.c.proposal_id == proposal_id))
        return [row.meeting_id for row in rows]

    async def materials(self, meeting_id: str) -> list[KeptMaterial]:
        rows = await self._c.execute(select(materials).where(materials.c.meeting_id == meeting_id)
                                     .order_by(materials.c.material_id))
        return [KeptMaterial(r.material_id, r.title, r.file_name, r.media_type, r.size, r.sha256) for r in rows]

    async def add_material(self, meeting_id: str, title: str, file_name: str, media_type: str, size: int,
                           sha256: str, by: str, now: datetime) -> int:
        result = await self._c.execute(insert(materials).values(
            meeting_id=meeting_id, title=title, file_name=file_name, media_type=media_type, size=size, sha256=sha256,
            added_by=by, added_at=now).returning(materials.c.material_id))
        return int(result.scalar_one())

    async def publish_notice(self, meeting_id: str, now: datetime) -> None:
        await self._c.execute(update(meetings).where(meetings.c.meeting_id == meeting_id)
                              .values(notice_published_at=now))

    async def sign_ins(self, meeting_id: str) -> list[SignIn]:
        rows = await self._c.execute(select(signins).where(signins.c.meeting_id == meeting_id)
                                     .order_by(signins.c.signed_at, signins.c.person_id))
        return [SignIn(r.person_id, r.signed_at, tuple(r.unit_ids)) for r in rows]

    async def sign_in(self, meeting_id: str, person_id: str, now: datetime, unit_ids: tuple[str, ...]) -> None:
        await self._c.execute(insert(signins).values(meeting_id=meeting_id, person_id=person_id, signed_at=now,
                                                     unit_ids=list(unit_ids)))

    async def proxies(self, meeting_id: str) -> list[ProxyAppointment]:
        rows = await self._c.execute(select(proxies).where(proxies.c.meeting_id == meeting_id)
                                     .order_by(proxies.c.granted_at, proxies.c.unit_id))
        return [ProxyAppointment(r.unit_id, r.proxy_id, r.granted_by, r.granted_at) for r in rows]

    async def appoint(self, meeting_id: str, appointment: ProxyAppointment) -> None:
        """IntegrityError when the unit has a proxy for the meeting already."""
        await self._c.execute(insert(proxies).values(
            meeting_id=meeting_id, unit_id=appointment.unit_id, proxy_id=appointment.proxy_id,
            granted_by=appointment.granted_by, granted_at=appointment.granted_at))

    async def withdraw(self, meeting_id: str, withdrawal: ProxyWithdrawal) -> bool:
        """Move the withdrawn appointment from the proxies to the withdrawals; False (nothing written) when it is no
        longer appointed."""
        appointment = withdrawal.appointment
        removed = await self._c.execute(delete(proxies).where(
            proxies.c.meeting_id == meeting_id, proxies.c.unit_id == appointment.unit_id,
            proxies.c.proxy_id == appointment.proxy_id, proxies.c.granted_by == appointment.granted_by))
        if removed.rowcount != 1:
            return False
        await self._c.execute(insert(proxy_withdrawals).values(
            meeting_id=meeting_id, unit_id=appointment.unit_id, proxy_id=appointment.proxy_id,
            granted_by=appointment.granted_by, granted_at=appointment.granted_at, withdrawn_by=withdrawal.withdrawn_by,
            withdrawn_at=withdrawal.withdrawn_at))
        return True

    async def withdrawals(self, meeting_id: str) -> list[ProxyWithdrawal]:
        rows = await self._c.execute(select(proxy_withdrawals).where(proxy_withdrawals.c.meeting_id == meeting_id)
                                     .order_by(proxy_withdrawals.c.withdrawal_id))
        return [ProxyWithdrawal(ProxyAppointment(r.unit_id, r.proxy_id, r.granted_by, r.granted_at), r.withdrawn_by,
                                r.withdrawn_at) for r in rows]

    async def may_attend(self, account_id: str, community_id: str, roles: Collection[Role]) -> bool:
        """Whether `account_id` is an enabled person's account (not an integration's) assigned `community_id` with
        one of `roles` — someone of the community who can sign in to its meetings."""
        accounts = AccountRepository(self._c)
        account = await accounts.get(account_id)
        if account is None or not account.enabled or not account.roles & set(roles):
            return False
        if await accounts.is_integration(account_id):
            return False
        return (await accounts.account_scope(account_id)).has_community(community_id)

    async def set_minutes(self, meeting_id: str, **values: Any) -> None:
        await self._c.execute(update(meetings).where(meetings.c.meeting_id == meeting_id)
                              .values(**{f"minutes_{name}": value for name, value in values.items()}))

    async def chain(self, meeting_id: str) -> list[MeetingEntry]:
        rows = await self._c.execute(select(meeting_log).where(meeting_log.c.meeting_id == meeting_id)
                                     .order_by(meeting_log.c.sequence))
        return [MeetingEntry(r.sequence, r.kind, r.record, r.previous_hash, r.entry_hash) for r in rows]

    async def append(self, meeting_id: str, entry: MeetingEntry) -> None:
        await self._c.execute(insert(meeting_log).values(
            meeting_id=meeting_id, sequence=entry.sequence, kind=entry.kind, record=dict(entry.record),
            previous_hash=entry.previous_hash, entry_hash=entry.entry_hash))



def _stored(row: Any) -> StoredMeeting:
    meeting = Meeting(row.meeting_id, row.community_id, row.title, MeetingKind(row.kind), MeetingForm(row.form),
                      row.starts_at, row.ends_at, row.place)
    minutes = None
    if row.minutes_text is not None:
        minutes = Minutes(row.minutes_text, row.minutes_drafted_by, row.minutes_drafted_at, row.minutes_approved_by,
                          row.minutes_approved_at, row.minutes_published_at)
    return StoredMeeting(meeting, row.created_by, row.notice_published_at, minutes)


class MaterialFiles:
    """The meetings' materials on disk, one folder per meeting."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, meeting_id: str, file_name: str) -> Path:
        # a meeting id is an API Id (letters, digits, _ . : -): no separator, and never "." or ".." alone
        if not meeting_id or meeting_id in (".", "..") or "/" in meeting_id or "\\" in meeting_id:
            raise ValueError(f"meeting {meeting_id!r} cannot name a folder")
        if not MATERIAL_NAME.fullmatch(file_name):
            raise ValueError(f"file name {file_name!r} is not one this store gave")
        return self.root / meeting_id.replace(":", "_") / file_name

    async def keep(self, meeting_id: str, file_name: str, content: bytes) -> None:
        await asyncio.to_thread(_write_new, self._path(meeting_id, file_name), content)

    async def read(self, meeting_id: str, file_name: str) -> bytes | None:
        try:
            return await asyncio.to_thread(_read, self._path(meeting_id, file_name))
        except FileNotFoundError:
            return None

    async def remove(self, meeting_id: str, file_name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._path(meeting_id, file_name).unlink)


def _write_new(path: Path, content: bytes) -> None:
    private_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())  # on disk before the database refers to it
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


def _read(path: Path) -> bytes:
    with os.fdopen(os.open(path, os.O_RDONLY | _NO_FOLLOW), "rb") as file:
        return file.read()
