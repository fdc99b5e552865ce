"""Meeting use cases: each in one transaction under the meeting's lock, the rules decided by
:mod:`community.voting.meetings` and the chain by :mod:`community.voting.meeting_chain`. Proposals (the agenda's
matters) are read through :class:`VotingService`; who may see a meeting (its community in the caller's scope) is the
web layer's to check, as for proposals.

A vote on the agenda of meetings whose minutes were published before it closed is bound to their chains when it
closes: the service asks :class:`VotingService` to call it in the transaction that publishes a result
(:meth:`VotingService.after_result`), so the result entry is written with the result, once."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
from community.voting.meeting_chain import BoundHead, ChainProblem, MeetingEntry
from community.voting.meeting_storage import MaterialFiles, MeetingRepository, SignIn, StoredMeeting
from community.voting.meetings import (
    AgendaItem,
    Attendance,
    Meeting,
    MeetingRefusal,
    Minutes,
    ProxyAppointment,
    ProxyWithdrawal,
    appointment_refusal,
    attendance,
    item_refusal,
    minutes_refusal,
    next_position,
    notice_problem,
    present_units,
    sign_in_units,
    speaks_for,
    text_refusal,
    withdrawal_refusal,
)
from community.voting.notice import NoticeTooShort
from community.voting.publication import PublishedResult
from community.voting.service import UnknownProposal, VotingService
from community.voting.storage import VotingRepository
from community.voting.tally import Unit, VoterRoll
from webkit.identity import Role

ATTENDING_ROLES = (Role.RESIDENT, Role.COMMITTEE)
"""Who signs in to a meeting (the API's voters): a proxy must hold one of these roles in the community."""


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
    proxies: tuple[ProxyAppointment, ...] = ()
    """The proxies appointed to attend (委托出席), in the order they were appointed."""
    withdrawn: tuple[ProxyWithdrawal, ...] = ()
    """The appointments withdrawn (撤回委托), in the order they were withdrawn: on record, counting nothing."""

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
    def bound_heads(self) -> dict[str, BoundHead | None]:
        """Each agenda item's log head as the chain binds it (by the minutes, or by a result entry after them);
        empty before the minutes are published, None for a vote not closed yet."""
        return meeting_chain.bound_heads(self.chain)

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
        voting.after_result(self.bind_result)

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
            appointed = await repository.proxies(meeting_id)
            withdrawn = await repository.withdrawals(meeting_id)
        agenda = [await self._item(position, proposal_id, now) for position, proposal_id in positions]
        return MeetingView(stored, tuple(agenda), tuple(found_materials), tuple(found_sign_ins), tuple(chain),
                           tuple(appointed), tuple(withdrawn))

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
        """An owner — or a proxy an owner appointed — signs in online (from two hours before the meeting until it
        ends) for the units the community's ownership register lists them as an owner of and those they attend for
        as a proxy; the units signed in for. The appointments are read under the meeting's lock, which appointing
        and withdrawing take too: a proxy signs in for an appointment that stands, and one withdrawn meanwhile is
        withdrawn before their sign-in or refused after it."""
        view = await self.view(meeting_id, now)
        if view.notice_published_at is None:
            return MeetingRefusal.NOTICE_NOT_PUBLISHED
        if not view.meeting.sign_in_open(now):
            return MeetingRefusal.SIGN_IN_CLOSED
        roll = await self._roll(view, now)
        try:
            async with self._engine.begin() as connection:
                repository = MeetingRepository(connection)
                await repository.lock(meeting_id)
                units = sign_in_units(roll, person_id, await repository.proxies(meeting_id)) \
                    if roll is not None else ()
                if not units:
                    return MeetingRefusal.NOT_AN_OWNER
                await repository.sign_in(meeting_id, person_id, now, units)
        except IntegrityError:
            return MeetingRefusal.ALREADY_SIGNED_IN
        return units

    async def _roll(self, view: MeetingView, at: datetime) -> VoterRoll | None:
        try:
            return await self.voting.register_roll(view.meeting.community_id, at)
        except ValueError:
            return None

    async def appoint_proxy(self, meeting_id: str, unit_id: str, proxy_id: str, granted_by: str,
                            now: datetime) -> ProxyAppointment | MeetingRefusal:
        """`granted_by`, who may speak for `unit_id`, appoints `proxy_id` — a resident's or committee member's account
        of the meeting's community — to attend for it (委托出席), from the notice until sign-in closes; one proxy per
        unit, and none for a unit signed in already (see :func:`meetings.appointment_refusal`)."""
        view = await self.view(meeting_id, now)
        roll = await self._roll(view, now)
        appointment = ProxyAppointment(unit_id, proxy_id, granted_by, now)
        try:
            async with self._engine.begin() as connection:
                repository = MeetingRepository(connection)
                stored, appointed, signed = await _proxies_locked(repository, meeting_id)
                refusal = appointment_refusal(
                    stored.meeting, appointment, notice_published=stored.notice_published_at is not None, roll=roll,
                    appointed=appointed, present=present_units(roll, signed, appointed), now=now,
                    proxy_of_community=await repository.may_attend(
                        proxy_id, stored.meeting.community_id, ATTENDING_ROLES))
                if refusal is not None:
                    return refusal
                await repository.appoint(meeting_id, appointment)
        except IntegrityError:  # the same unit's proxy appointed at the same instant by another request
            return MeetingRefusal.PROXY_APPOINTED
        return appointment

    async def withdraw_proxy(self, meeting_id: str, unit_id: str, by: str,
                             now: datetime) -> ProxyWithdrawal | MeetingRefusal:
        """`by` — who appointed the proxy for `unit_id`, or who speaks for the unit now — withdraws the appointment
        (撤回委托) until the proxy signs in or sign-in closes (see :func:`meetings.withdrawal_refusal`). The unit may
        be appointed for again; the withdrawn appointment is kept for the record and counts for nothing."""
        view = await self.view(meeting_id, now)
        roll = await self._roll(view, now)
        async with self._engine.begin() as connection:
            repository = MeetingRepository(connection)
            stored, appointed, signed = await _proxies_locked(repository, meeting_id)
            refusal = withdrawal_refusal(stored.meeting, unit_id, by, appointed=appointed, roll=roll,
                                         signed_in=signed, now=now)
            if refusal is not None:
                return refusal
            withdrawal = ProxyWithdrawal(next(a for a in appointed if a.unit_id == unit_id), by, now)
            if not await repository.withdraw(meeting_id, withdrawal):  # under the lock, as read: not expected
                return MeetingRefusal.NO_APPOINTMENT
        return withdrawal

    async def withdrawable(self, view: MeetingView, person_id: str, now: datetime) -> tuple[str, ...]:
        """The units whose appointment `person_id` may withdraw now (what the page offers a button for)."""
        roll = await self._roll(view, now)
        signed = [sign_in.person_id for sign_in in view.sign_ins]
        return tuple(a.unit_id for a in view.proxies
                     if withdrawal_refusal(view.meeting, a.unit_id, person_id, appointed=view.proxies, roll=roll,
                                           signed_in=signed, now=now) is None)

    async def appointable(self, view: MeetingView, person_id: str, now: datetime) -> tuple[Unit, ...]:
        """The units `person_id` may appoint a proxy for now: those they speak for, without a proxy yet and not
        signed in for (what the page's form offers)."""
        roll = await self._roll(view, now)
        if roll is None:
            return ()
        taken = {appointment.unit_id for appointment in view.proxies}
        taken |= present_units(roll, [s.person_id for s in view.sign_ins], view.proxies)
        return tuple(unit for unit in speaks_for(roll, person_id) if unit.unit_id not in taken)

    async def unit_labels(self, view: MeetingView, now: datetime) -> dict[str, str]:
        """Each unit's label on the roll the attendance is counted against (for lists of who signed in)."""
        roll = await self._roll(view, min(now, view.meeting.starts_at))
        return {} if roll is None else {unit.unit_id: unit.label for unit in roll.units}

    async def attendance(self, meeting_id: str, now: datetime) -> Attendance | None:
        """Attendance against the register as it stood when the meeting began (as it stands now, before that), by
        owners and proxies, each unit once; None when the register gives no roll."""
        view = await self.view(meeting_id, now)
        roll = await self._roll(view, min(now, view.meeting.starts_at))
        if roll is None:
            return None
        return attendance(roll, [sign_in.person_id for sign_in in view.sign_ins], view.proxies)

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
                # read under the meeting's lock, which a closing vote takes too (bind_result): a result published
                # meanwhile is either read here or binds the published minutes itself — never neither
                votes = VotingRepository(connection)
                heads: dict[str, tuple[int, str] | None] = {}
                for item in view.agenda:
                    published = await votes.published(item.proposal_id)
                    heads[item.proposal_id] = None if published is None else (published.head.length,
                                                                              published.head.head_hash)
                record = meeting_chain.minutes_record(minutes.text, minutes.drafted_by, minutes.approved_by, now,
                                                      heads)
                chain = await repository.chain(meeting_id)
                await repository.append(meeting_id, meeting_chain.append(chain, "minutes", record,
                                                                         meeting_chain.meeting_digest(stored.meeting)))
                await repository.set_minutes(meeting_id, published_at=now)
        return None

    async def bind_result(self, connection: AsyncConnection, published: PublishedResult) -> None:
        """In the transaction publishing `published`: append a result entry binding its final log head to the chain
        of each meeting whose agenda holds the vote and whose published minutes hold null for it. Once per vote and
        meeting: a result is published once, and a chain that binds the vote already is left as it is."""
        repository = MeetingRepository(connection)
        for meeting_id in sorted(await repository.meetings_of(published.proposal_id)):
            await repository.lock(meeting_id)
            stored = await repository.get(meeting_id)
            chain = await repository.chain(meeting_id)
            if stored is None or not meeting_chain.awaits_result(chain, published.proposal_id):
                continue
            record = meeting_chain.result_record(published.proposal_id,
                                                 (published.head.length, published.head.head_hash),
                                                 published.closed_at)
            await repository.append(meeting_id, meeting_chain.append(chain, "result", record,
                                                                     meeting_chain.meeting_digest(stored.meeting)))


async def _proxies_locked(repository: MeetingRepository,
                          meeting_id: str) -> tuple[StoredMeeting, list[ProxyAppointment], list[str]]:
    """The meeting, its standing appointments and who signed in, under the meeting's lock (which appointing,
    withdrawing and signing in all take, so none of them acts on what another is changing)."""
    await repository.lock(meeting_id)
    stored = await repository.get(meeting_id)
    if stored is None:
        raise UnknownMeeting(meeting_id)
    signed = [sign_in.person_id for sign_in in await repository.sign_ins(meeting_id)]
    return stored, list(await repository.proxies(meeting_id)), signed
