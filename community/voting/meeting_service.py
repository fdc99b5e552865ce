"""Meeting use cases: each in one transaction under the meeting's lock, the rules decided by
:mod:`community.voting.meetings` and the chain by :mod:`community.voting.meeting_chain`. Proposals (the agenda's
matters) are read through :class:`VotingService`; who may see a meeting (its community in the caller's scope) is the
web layer's to check, as for proposals."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from community.ownership.service import CommunityTest, UnknownCommunity, anywhere
from community.voting import meeting_chain
from community.voting.materials import (
    MAX_MATERIAL_BYTES,
    KeptMaterial,
    MaterialProblem,
    material_problem,
    media_type,
    new_file_name,
    sha256,
)
from community.voting.meeting_chain import ChainProblem, MeetingEntry
from community.voting.meeting_storage import MaterialFiles, MeetingRepository, SignIn, StoredMeeting
from community.voting.meetings import (
    AgendaItem,
    Attendance,
    Meeting,
    MeetingRefusal,
    Minutes,
    attendance,
    item_refusal,
    minutes_refusal,
    next_position,
    notice_problem,
    signed_units,
    text_refusal,
)
from community.voting.notice import NoticeTooShort
from community.voting.service import UnknownProposal, VotingService


class UnknownMeeting(Exception):
    pass


class MeetingExists(Exception):
    pass


@dataclass(frozen=True)
class MeetingView:
    """A meeting as stored, with its agenda, materials, sign-ins and chain."""

    stored: StoredMeeting
    agenda: tuple[AgendaItem, ...]
    materials: tuple[KeptMaterial, ...]
    sign_ins: tuple[SignIn, ...]
    chain: tuple[MeetingEntry, ...]

    @property
    def meeting(self) -> Meeting:
        return self.stored.meeting

    @property
    def minutes(self) -> Minutes | None:
        return self.stored.minutes

    @property
    def notice_published_at(self) -> datetime | None:
        return self.stored.notice_published_at

    @property
    def genesis(self) -> str:
        return meeting_chain.meeting_digest(self.meeting)

    @property
    def head(self) -> tuple[int, str]:
        return meeting_chain.head(self.chain, self.genesis)

    @property
    def chain_problems(self) -> list[ChainProblem]:
        minutes = self.minutes
        published_text = minutes.text if minutes is not None and minutes.published_at is not None else None
        return meeting_chain.verify(self.chain, self.genesis, published_text)


class MeetingService:
    def __init__(self, engine: AsyncEngine, voting: VotingService, files: MaterialFiles, *,
                 max_material_bytes: int = MAX_MATERIAL_BYTES) -> None:
        self._engine = engine
        self.voting = voting
        self.files = files
        self.max_material_bytes = max_material_bytes

    @property
    def notice(self) -> timedelta:
        """The installation's minimum; a meeting needs its community's :meth:`VotingService.notice_period`."""
        return self.voting.notice

    async def create(self, meeting: Meeting, created_by: str, now: datetime, within: CommunityTest = anywhere) -> None:
        """:class:`UnknownCommunity` for a community that does not exist or is not `within` the caller's scope
        (one answer for both); :class:`MeetingExists` for a taken id."""
        if not (within(meeting.community_id) and await self.voting.community_exists(meeting.community_id)):
            raise UnknownCommunity(meeting.community_id)
        try:
            async with self._engine.begin() as connection:
                await MeetingRepository(connection).add(meeting, created_by, now)
        except IntegrityError:
            raise MeetingExists(meeting.meeting_id) from None

    async def meeting_ids(self, communities: Collection[str] | None, limit: int = 200) -> list[str]:
        async with self._engine.connect() as connection:
            return await MeetingRepository(connection).ids(communities, limit)

    async def view(self, meeting_id: str, now: datetime) -> MeetingView:
        async with self._engine.connect() as connection:
            repository = MeetingRepository(connection)
            stored = await repository.get(meeting_id)
            if stored is None:
                raise UnknownMeeting(meeting_id)
            positions = await repository.items(meeting_id)
            found_materials = await repository.materials(meeting_id)
            found_sign_ins = await repository.sign_ins(meeting_id)
            chain = await repository.chain(meeting_id)
        agenda = [await self._item(position, proposal_id, now) for position, proposal_id in positions]
        return MeetingView(stored, tuple(agenda), tuple(found_materials), tuple(found_sign_ins), tuple(chain))

    async def _item(self, position: int, proposal_id: str, now: datetime) -> AgendaItem:
        proposal = (await self.voting.state(proposal_id, now)).proposal
        return AgendaItem(position, proposal_id, proposal.title, proposal.opens_at)

    async def add_item(self, meeting_id: str, proposal_id: str | None, now: datetime) -> MeetingRefusal | None:
        """Put a proposal of the meeting's community on its agenda (before the notice is published)."""
        view = await self.view(meeting_id, now)
        found = False
        if proposal_id:
            try:
                found = (await self.voting.state(proposal_id, now)).community_id == view.meeting.community_id
            except UnknownProposal:
                found = False
        try:
            return await self._add_item(meeting_id, proposal_id, found)
        except IntegrityError:  # the same proposal added at the same instant by another request
            return MeetingRefusal.ITEM_EXISTS

    async def _add_item(self, meeting_id: str, proposal_id: str | None, found: bool) -> MeetingRefusal | None:
        async with self._engine.begin() as connection:
            repository = MeetingRepository(connection)
            await repository.lock(meeting_id)
            stored = await repository.get(meeting_id)
            if stored is None:
                raise UnknownMeeting(meeting_id)
            # no other connection inside this transaction: SQLite has one writer, and the proposal was read before
            agenda = await repository.items(meeting_id)
            refusal = item_refusal(proposal_id, [pid for _, pid in agenda], stored.notice_published_at is not None,
                                   found)
            if refusal is not None or not proposal_id:
                return refusal
            await repository.add_item(meeting_id, next_position(p for p, _ in agenda), proposal_id)
        return None

    async def add_material(self, meeting_id: str, title: str, content: bytes, by: str,
                           now: datetime) -> KeptMaterial | MaterialProblem | MeetingRefusal:
        """Keep a file as the meeting's material (before the notice is published): a PDF, JPEG or PNG by its content,
        not empty, at most :attr:`max_material_bytes`. The file is on disk before the database refers to it; when the
        database refuses, it is removed again, so nothing half-kept remains."""
        problem = material_problem(content, self.max_material_bytes)
        if problem is not None:
            return problem
        kind = media_type(content)
        assert kind is not None  # material_problem checked it
        name = new_file_name(kind[1])
        view = await self.view(meeting_id, now)
        if view.notice_published_at is not None:
            return MeetingRefusal.NOTICE_PUBLISHED
        await self.files.keep(meeting_id, name, content)
        try:
            async with self._engine.begin() as connection:
                repository = MeetingRepository(connection)
                await repository.lock(meeting_id)
                stored = await repository.get(meeting_id)
                if stored is None or stored.notice_published_at is not None:
                    await self.files.remove(meeting_id, name)
                    return MeetingRefusal.NOTICE_PUBLISHED
                digest = sha256(content)
                material_id = await repository.add_material(meeting_id, title, name, kind[0], len(content), digest,
                                                            by, now)
        except BaseException:
            await self.files.remove(meeting_id, name)
            raise
        return KeptMaterial(material_id, title, name, kind[0], len(content), digest)

    async def material(self, meeting_id: str, material_id: int) -> tuple[KeptMaterial, bytes] | None:
        async with self._engine.connect() as connection:
            found = [m for m in await MeetingRepository(connection).materials(meeting_id)
                     if m.material_id == material_id]
        if not found:
            return None
        content = await self.files.read(meeting_id, found[0].file_name)
        return None if content is None else (found[0], content)

    async def publish_notice(self, meeting_id: str, now: datetime) -> MeetingRefusal | NoticeTooShort | None:
        """Publish the notice — the agenda and materials frozen, entry 1 of the meeting's chain — if the agenda is not
        empty and the notice period of the meeting's community (the longer of the installation's and its own) is kept
        before the meeting and before every item's voting."""
        view = await self.view(meeting_id, now)
        period = await self.voting.notice_period(view.meeting.community_id)  # read before the writer's transaction
        async with self._engine.begin() as connection:
            repository = MeetingRepository(connection)
            await repository.lock(meeting_id)
            stored = await repository.get(meeting_id)
            if stored is None:
                raise UnknownMeeting(meeting_id)
            if stored.notice_published_at is not None:
                return MeetingRefusal.NOTICE_PUBLISHED
            problem = notice_problem(view.meeting, view.agenda, now, period)
            if problem is not None:
                return problem
            chain = await repository.chain(meeting_id)
            record = meeting_chain.notice_record(view.agenda, [(m.title, m.sha256) for m in view.materials], now)
            await repository.append(meeting_id, meeting_chain.append(chain, "notice", record, view.genesis))
            await repository.publish_notice(meeting_id, now)
            await self.voting.notices.meeting_notice(connection, view.meeting, now)
        return None

    async def sign_in(self, meeting_id: str, person_id: str, now: datetime) -> tuple[str, ...] | MeetingRefusal:
        """An owner signs in online (from two hours before the meeting until it ends) for the units the community's
        ownership register lists them as an owner of; the units signed in for."""
        view = await self.view(meeting_id, now)
        if view.notice_published_at is None:
            return MeetingRefusal.NOTICE_NOT_PUBLISHED
        if not view.meeting.sign_in_open(now):
            return MeetingRefusal.SIGN_IN_CLOSED
        try:
            roll = await self.voting.register_roll(view.meeting.community_id, now)
        except ValueError:
            return MeetingRefusal.NOT_AN_OWNER
        units = signed_units(roll, person_id)
        if not units:
            return MeetingRefusal.NOT_AN_OWNER
        try:
            async with self._engine.begin() as connection:
                await MeetingRepository(connection).sign_in(meeting_id, person_id, now, units)
        except IntegrityError:
            return MeetingRefusal.ALREADY_SIGNED_IN
        return units

    async def attendance(self, meeting_id: str, now: datetime) -> Attendance | None:
        """Attendance against the register as it stood when the meeting began (as it stands now, before that); None
        when the register gives no roll."""
        view = await self.view(meeting_id, now)
        try:
            roll = await self.voting.register_roll(view.meeting.community_id, min(now, view.meeting.starts_at))
        except ValueError:
            return None
        return attendance(roll, {sign_in.person_id for sign_in in view.sign_ins})

    async def draft_minutes(self, meeting_id: str, text: str, by: str, now: datetime) -> MeetingRefusal | None:
        """Write (or rewrite) the minutes' draft; refused once approved, and for ever once published."""
        return await self._minutes_step(meeting_id, "draft", by, now, text)

    async def approve_minutes(self, meeting_id: str, by: str, now: datetime) -> MeetingRefusal | None:
        """Another committee member than the drafter approves the draft."""
        return await self._minutes_step(meeting_id, "approve", by, now)

    async def publish_minutes(self, meeting_id: str, by: str, now: datetime) -> MeetingRefusal | None:
        """Publish approved minutes after the meeting: entry 2 of the meeting's chain, with the digest of their text
        and each agenda item's published log head."""
        return await self._minutes_step(meeting_id, "publish", by, now)

    async def _minutes_step(self, meeting_id: str, step: str, by: str, now: datetime,
                            text: str | None = None) -> MeetingRefusal | None:
        view = await self.view(meeting_id, now)
        heads: dict[str, tuple[int, str] | None] = {}
        for item in view.agenda:
            published = await self.voting.published(item.proposal_id)
            heads[item.proposal_id] = None if published is None else (published.head.length,
                                                                      published.head.head_hash)
        async with self._engine.begin() as connection:
            repository = MeetingRepository(connection)
            await repository.lock(meeting_id)
            stored = await repository.get(meeting_id)
            if stored is None:
                raise UnknownMeeting(meeting_id)
            if stored.notice_published_at is None:
                return MeetingRefusal.NOTICE_NOT_PUBLISHED
            refusal = minutes_refusal(stored.meeting, stored.minutes, step, by, now)
            if refusal is None and text is not None:
                refusal = text_refusal(text)
            if refusal is not None:
                return refusal
            if step == "draft":
                await repository.set_minutes(meeting_id, text=text, drafted_by=by, drafted_at=now)
            elif step == "approve":
                await repository.set_minutes(meeting_id, approved_by=by, approved_at=now)
            else:
                minutes = stored.minutes
                assert minutes is not None and minutes.approved_by is not None  # minutes_refusal checked both
                record = meeting_chain.minutes_record(minutes.text, minutes.drafted_by, minutes.approved_by, now,
                                                      heads)
                chain = await repository.chain(meeting_id)
                await repository.append(meeting_id, meeting_chain.append(chain, "minutes", record,
                                                                         meeting_chain.meeting_digest(stored.meeting)))
                await repository.set_minutes(meeting_id, published_at=now)
        return None
