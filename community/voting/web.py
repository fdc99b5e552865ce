"""The voting API (aiohttp): proposals, delegations, ballots, turnout, receipts, verification.

Handlers only translate HTTP to VotingService calls; the rules are in the domain. Results are
published once voting has closed; while it is open only turnout is.

A proposal's roll is given with it (``roll``, frozen when the proposal is opened) or frozen from a
community's ownership register when voting opens (``roll_from_register``). Until it is frozen the
proposal says so (``roll_frozen: false`` and a note) and refuses ballots and delegations with 409
``roll_not_frozen``.

Every proposal belongs to a community (``community_id``): the register's community for a roll from the register,
the one named with a given roll. The caller's scope (the communities its account is assigned) decides what it sees:
a proposal of a community outside it is answered exactly as a proposal that does not exist (404, the same body), and
opening one for such a community exactly as for an unknown community (422 ``unknown_community``). The committee and
property managers act on their communities' proposals, residents take part in their community's (on its roll, or as
a proxy), and the supervisor (a street office, which guides owners' assemblies) reads a proposal, its turnout,
deliberation, verification and result — never the named record, never a write.

``GET /api/voting/proposals`` lists the proposals of the caller's communities, a page at a time, with where the caller
stands in each (``listing.py``).

Every rule broken is one JSON error (webkit.json_errors): ``{"error": <English message>,
"error_zh": <Chinese message>, "reason": <code>}``, with the status :data:`REFUSAL_STATUS` gives
the code — the table the pages use too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from aiohttp import web
from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    RootModel,
    StringConstraints,
    model_validator,
)

from community.ownership.service import UnknownCommunity
from community.voting.api_common import (
    _ERROR_KINDS,
    MANAGERS,
    REFUSAL_STATUS,
    SERVICE,
    SUPERVISED,
    VOTERS,
    Id,
    _body,
    _busy,
    _frozen_roll,
    _In,
    _not_frozen,
    _proposal,
    communities_in_scope,
    refusal_error,
)
from community.voting.deliberation import MAX_COMMENT_CHARS, Comment, CommentRefusal
from community.voting.disclosure import disclosed_document
from community.voting.listing import ProposalsPage, ProposalSummaryOut, read_list_query, summary
from community.voting.meeting_api import MEETING_ROUTES, MEETINGS, MeetingOut, may_see, meeting_out
from community.voting.meeting_service import MeetingService
from community.voting.notice_api import NOTICE_ROUTES
from community.voting.paper_api import PAPER_ROUTES
from community.voting.participation import Phase
from community.voting.publication import PublishedResult, breakdown_document, result_document, turnout_document
from community.voting.register_roll import RollProblem
from community.voting.rules import Matter
from community.voting.service import (
    Accepted,
    NoticeRefused,
    ProposalExists,
    ProposalState,
    Refused,
    RollNotFrozen,
    StillOpen,
    VotingService,
)
from community.voting.storage import LogConflict, RollState
from community.voting.tally import (
    Approvals,
    Ballot,
    BallotRefusal,
    Capacity,
    Choice,
    Delegation,
    Election,
    Proposal,
    Turnout,
    Unit,
    VoterRoll,
)
from webkit.auth import CLOCK, PRINCIPAL, serve_tokens
from webkit.context_app import ContextApp
from webkit.identity import Role, TokenAuthority
from webkit.json_errors import json_error
from webkit.openapi import LIMIT, OFFSET, QueryParam, Route, add_routes


class UnitIn(_In):
    unit_id: Id
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    area_m2: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
    owner_ids: Annotated[list[Id], Field(min_length=1)]
    held_by_developer: bool = False
    representative_id: Id | None = None


class ElectionIn(_In):
    candidates: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=64)]], Field(min_length=1)]
    seats: Annotated[int, Field(ge=1)]


class AttachmentIn(_In):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    ref: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = Field(
        description="Where to fetch it: a URL or a document-store key")
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None


class RegisterRollIn(_In):
    community_id: Id


class ProposalIn(_In):
    proposal_id: Id
    matter: Matter
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(max_length=20_000)] = ""
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    election: ElectionIn | None = None
    attachments: Annotated[list[AttachmentIn], Field(max_length=50)] = []  # noqa: RUF012 - a pydantic model: copied for each instance
    roll: Annotated[list[UnitIn], Field(min_length=1, max_length=20_000)] | None = Field(
        default=None, description="The roll, given: frozen when the proposal is opened")
    roll_from_register: RegisterRollIn | None = Field(
        default=None, description="Freeze the roll from this community's ownership register as it stands when voting "
                                  "opens (now, if the proposal opens now or opened already)")
    community_id: Id | None = Field(
        default=None, description="The community the proposal is for: required with a given roll; with "
                                  "roll_from_register it is that register's community (give it or not, it must agree)")

    @model_validator(mode="after")
    def _one_roll(self) -> Self:
        if (self.roll is None) == (self.roll_from_register is None):
            raise ValueError("give either roll or roll_from_register")
        if self.roll is not None and self.community_id is None:
            raise ValueError("give community_id with a roll: the community the proposal is for")
        register = self.roll_from_register
        if register is not None and self.community_id not in (None, register.community_id):
            raise ValueError("community_id and roll_from_register.community_id name different communities")
        return self

    @property
    def community(self) -> str:
        """The community the proposal is for (the validator made sure there is one)."""
        if self.roll_from_register is not None:
            return self.roll_from_register.community_id
        if self.community_id is None:
            raise ValueError("a proposal names its community")
        return self.community_id


class DelegationIn(_In):
    unit_id: Id
    delegate_id: Id


class BallotIn(_In):
    unit_id: Id
    capacity: Literal["owner", "proxy"] = "owner"
    choice: Literal["agree", "oppose", "abstain"] | None = None
    approve: list[str] | None = Field(default=None, description="Election ballots: the candidates approved")


class AllUnitsBallotIn(_In):
    choice: Literal["agree", "oppose", "abstain"] | None = None
    approve: list[str] | None = Field(default=None, description="Election ballots: the candidates approved")


class UnitReceiptOut(BaseModel):
    unit_id: str
    capacity: Literal["owner", "proxy"]
    receipt: str
    sequence: int
    cast_at: datetime


class AllUnitsReceiptsOut(BaseModel):
    """One ballot per unit, each in the log with its own receipt."""

    ballots: list[UnitReceiptOut]


class CommentIn(_In):
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMMENT_CHARS)]


class HideIn(_In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CommentOut(BaseModel):
    comment_id: int
    author_id: str
    body: str
    posted_at: datetime
    hidden: bool
    hidden_reason: str | None


class CommentsOut(BaseModel):
    comments: list[CommentOut]


class RollProblemOut(BaseModel):
    unit_id: str
    label: str
    area_m2: str
    problem: Literal["no_owner_recorded", "left_off"]
    problem_zh: str
    problem_en: str


class RollPreviewOut(BaseModel):
    """Before freezing, to the committee and property managers: the roll the register gives now."""

    as_of: datetime
    units: int
    total_area_m2: str | None
    problems: list[RollProblemOut] = Field(description="Units the register gives no owner for: register them")
    problem: str | None


class ProposalOut(BaseModel):
    proposal_id: str
    community_id: str | None = Field(description="The community it belongs to; null only for a proposal created "
                                                 "before proposals had one, which administrators alone see")
    matter: str
    matter_zh: str
    title: str
    body: str
    attachments: list[dict[str, Any]]
    opens_at: datetime
    closes_at: datetime
    rule_zh: str
    rule_en: str
    candidates: list[str] | None
    seats: int | None
    roll: list[dict[str, Any]] = Field(description="The published roll: units, areas, whether an owner is "
                                                   "recorded (no owners); empty until frozen")
    roll_source: Literal["given", "register"]
    roll_community_id: str | None
    roll_frozen: bool
    roll_frozen_at: datetime | None = Field(description="The moment the roll stands for; null until it is frozen")
    roll_note: str | None
    roll_digest: str | None = Field(description="SHA-256 of the proposal's terms and frozen roll: where its log "
                                                "begins; note it to check the roll later")
    log_anchored: bool = Field(description="False for a log begun before roll anchoring (migration 0006)")
    roll_problems: list[RollProblemOut] = Field(
        description="Units on the roll without a recorded owner (counted in both totals, nobody can vote for them), "
                    "and units an older roll left off")
    roll_problem: str | None = Field(description="Why the register gave no roll (the proposal cannot be voted on)")
    roll_preview: RollPreviewOut | None
    notice_published_at: datetime | None = Field(
        description="When the proposal's notice was published (its creation); null for a proposal created before "
                    "notices were recorded. Voting opens at least SC_VOTING_NOTICE_DAYS later")


class ReceiptOut(BaseModel):
    receipt: str
    sequence: int
    cast_at: datetime


class TurnoutOut(BaseModel):
    total_area_m2: str
    total_headcount: int
    participating_area_m2: str
    participating_headcount: int
    participation_area_ratio: str
    participation_headcount_ratio: str
    quorum_met: bool


class ReceiptStatusOut(BaseModel):
    status: Literal["counted", "superseded", "not_found"]


class VerificationOut(BaseModel):
    entries: int
    delegation_entries: int
    roll_digest: str
    log_anchored: bool = Field(description="False: the log was begun before roll anchoring and holds ballots only")
    chain_intact: bool
    chain_problems: list[dict[str, Any]]
    delegations_match_log: bool = Field(description="Are the delegations on record exactly those in the log?")
    record_problems: list[dict[str, Any]]
    published_result_matches: bool | None = Field(description="Once published: does a recount give it?")
    refused_on_recount: list[dict[str, Any]]
    closed: bool
    result: dict[str, Any] | None = Field(description="Published once voting has closed")


class RecordOut(BaseModel):
    """Once the result is published: the record anyone entitled recounts (``smartcity votes verify --from FILE``)."""

    format: Literal["smartcity-vote-record/1"]
    proposal: dict[str, Any]
    roll: dict[str, Any] = Field(description="The frozen roll with owner ids (register person ids; no names)")
    roll_digest: str
    log_anchored: bool
    delegations: list[dict[str, Any]] = Field(description="The delegations on record beside the log")
    chain: list[dict[str, Any]] = Field(description="Every log entry, ballots and delegations, with its hash")
    head: dict[str, Any]
    published: dict[str, Any] | None


class ChainLinkOut(BaseModel):
    sequence: int
    previous_hash: str
    entry_hash: str


class HashChainOut(BaseModel):
    """Until the result is published: the log's hash chain alone — no voter, unit or choice — to check later that
    the log only grew (``smartcity votes verify --from FILE --since EARLIER``) and to find one's receipt in it."""

    format: Literal["smartcity-vote-chain/1"]
    proposal_id: str
    roll_digest: str = Field(description="Where the log begins: the first entry's previous_hash")
    log_anchored: bool
    chain: list[ChainLinkOut] = Field(description="Each entry's sequence, hash (a receipt code is its first 16 hex "
                                                  "digits) and the previous entry's hash")
    head: dict[str, Any]
    published: None


class RecordDownloadOut(RootModel[RecordOut | HashChainOut]):
    """The whole record once the result is published; before that, the log's hash chain alone."""


async def open_proposal(request: web.Request) -> web.Response:
    data: ProposalIn = await _body(request, ProposalIn)
    service, now, creator = request.app[SERVICE], request.config_dict[CLOCK](), request[PRINCIPAL].subject
    community_id, within = data.community, request[PRINCIPAL].has_community
    try:
        election = Election(tuple(data.election.candidates), data.election.seats) if data.election else None
        proposal = Proposal(data.proposal_id, data.matter, data.title, data.opens_at, data.closes_at, election)
        attachments = [a.model_dump(exclude_none=True) for a in data.attachments]
        if data.roll_from_register is not None:
            await service.open_proposal_from_register(proposal, community_id, body=data.body, created_by=creator,
                                                      now=now, attachments=attachments, within=within)
        else:
            # frozen now, or — for a proposal opening in the past — as of its opening: no ballot came in between
            roll = VoterRoll(tuple(Unit(u.unit_id, u.label, u.area_m2, frozenset(u.owner_ids), u.held_by_developer,
                                        u.representative_id) for u in data.roll or ()),
                             frozen_at=min(now, data.opens_at))
            await service.open_proposal(proposal, roll, body=data.body, created_by=creator, now=now,
                                        attachments=attachments, community_id=community_id, within=within)
    except NoticeRefused as short:  # the notice period of the Property Management Regulations, quoted
        raise json_error(web.HTTPUnprocessableEntity, short.refusal.message_en, error_zh=short.refusal.message_zh,
                         reason="notice_too_short", field="opens_at") from None
    except ValueError as invalid:  # the domain's own checks: times, roll consistency, elections, an empty register
        raise json_error(web.HTTPUnprocessableEntity, str(invalid)) from None
    except ProposalExists:
        raise json_error(web.HTTPConflict, f"proposal {data.proposal_id!r} exists already") from None
    except UnknownCommunity:  # none such, or not the caller's: the same answer, so its existence is not told
        raise _unknown_community(community_id) from None
    out = _proposal_out(await service.state(proposal.proposal_id, now), data.body, attachments, now, manager=True)
    return web.json_response(out.model_dump(mode="json"), status=201)


def _unknown_community(community_id: str) -> web.HTTPException:
    return json_error(web.HTTPUnprocessableEntity, f"no community {community_id!r}", reason="unknown_community")


async def list_proposals(request: web.Request) -> web.Response:
    """The proposals of the caller's communities (see :mod:`community.voting.listing`); ``?community_id=`` outside
    them is answered as a community that does not exist."""
    query, service, principal = read_list_query(request), request.app[SERVICE], request[PRINCIPAL]
    now = request.config_dict[CLOCK]()
    named = query.community_id
    if named is not None and not (principal.has_community(named) and await service.community_exists(named)):
        raise json_error(web.HTTPNotFound, f"no community {named!r}", reason="unknown_community")
    found = await service.proposal_ids(query.limit + 1, communities_in_scope(principal), offset=query.offset,
                                       community_id=named, phase=(query.phase, now) if query.phase else None)
    items = [await summary(service, proposal_id, principal.subject, now) for proposal_id in found[:query.limit]]
    more = len(found) > query.limit
    page = ProposalsPage(items=items, limit=query.limit, offset=query.offset,
                         next_offset=query.offset + query.limit if more else None)
    return web.json_response(page.model_dump(mode="json"))


async def get_proposal(request: web.Request) -> web.Response:
    state = await _proposal(request, supervised=True)
    body, attachments = await request.app[SERVICE].text(state.proposal.proposal_id)
    out = _proposal_out(state, body, attachments, request.config_dict[CLOCK](), request[PRINCIPAL].has_any(MANAGERS))
    return web.json_response(out.model_dump(mode="json"))


async def add_delegation(request: web.Request) -> web.Response:
    data: DelegationIn = await _body(request, DelegationIn)
    state = await _proposal(request)
    _frozen_roll(state)
    delegation = Delegation(data.delegate_id, request[PRINCIPAL].subject, state.proposal.proposal_id, data.unit_id)
    try:
        refused = await request.app[SERVICE].record_delegation(delegation, request.config_dict[CLOCK]())
    except LogConflict:
        raise _busy() from None
    if refused is not None:
        raise refusal_error(refused.refusal)
    return web.json_response({"unit_id": data.unit_id, "delegate_id": data.delegate_id}, status=201)


async def cast_ballot(request: web.Request) -> web.Response:
    data: BallotIn = await _body(request, BallotIn)
    proposal = (await _proposal(request)).proposal
    if (data.choice is None) == (data.approve is None):
        raise json_error(web.HTTPBadRequest, "give either choice (resolutions) or approve (elections)")
    choice = Choice(data.choice) if data.choice else Approvals(frozenset(data.approve or ()))
    ballot = Ballot(proposal.proposal_id, data.unit_id, request[PRINCIPAL].subject, Capacity(data.capacity), choice)
    try:
        outcome = await request.app[SERVICE].cast(ballot, request.config_dict[CLOCK]())
    except LogConflict:
        raise _busy() from None
    if isinstance(outcome, Accepted):
        entry = outcome.entry
        return web.json_response(ReceiptOut(receipt=entry.receipt, sequence=entry.sequence,
                                            cast_at=entry.cast_at).model_dump(mode="json"), status=201)
    raise refusal_error(outcome.refusal)


async def cast_for_all_units(request: web.Request) -> web.Response:
    """One submission for all the caller's units (and those they are a proxy for): each a unit ballot in the log."""
    data: AllUnitsBallotIn = await _body(request, AllUnitsBallotIn)
    proposal = (await _proposal(request)).proposal
    if (data.choice is None) == (data.approve is None):
        raise json_error(web.HTTPBadRequest, "give either choice (resolutions) or approve (elections)")
    choice = Choice(data.choice) if data.choice else Approvals(frozenset(data.approve or ()))
    try:
        outcome = await request.app[SERVICE].cast_for_all(proposal.proposal_id, request[PRINCIPAL].subject, choice,
                                                          request.config_dict[CLOCK]())
    except LogConflict:
        raise _busy() from None
    if isinstance(outcome, Refused):
        raise refusal_error(outcome.refusal, "you have no unit to vote for on this proposal"
                            if outcome.refusal is BallotRefusal.NOT_AN_OWNER else None)
    if outcome and not isinstance(outcome[0], Accepted):
        refused = [item for item in outcome if not isinstance(item, Accepted)]
        first = refused[0][1]
        raise json_error(_ERROR_KINDS[REFUSAL_STATUS[first]], first.message_en + " (no ballot was recorded)",
                         error_zh=first.message_zh + "（所有选票均未记录）", reason=first.value,
                         units=[{"unit_id": unit_id, "reason": why.value} for unit_id, why in refused])
    out = AllUnitsReceiptsOut(ballots=[
        UnitReceiptOut(unit_id=item.entry.unit_id, capacity=item.entry.capacity.value, receipt=item.receipt,
                       sequence=item.entry.sequence, cast_at=item.entry.cast_at)
        for item in outcome if isinstance(item, Accepted)])
    return web.json_response(out.model_dump(mode="json"), status=201)


async def my_open_votes(request: web.Request) -> web.Response:
    """The open proposals of the caller's communities on which the caller has a unit to vote for (their own, or as a
    proxy), the soonest closing first, with where each of their units stands; and their communities' meetings
    whose notice is out and which have not ended, the soonest first."""
    service, principal, now = request.app[SERVICE], request[PRINCIPAL], request.config_dict[CLOCK]()
    found = await service.proposal_ids(MY_OPEN_VOTES, communities_in_scope(principal), phase=(Phase.OPEN, now))
    items = [item for item in [await summary(service, proposal_id, principal.subject, now) for proposal_id in found]
             if item.my_units]
    items.sort(key=lambda item: (item.closes_at, item.proposal_id))
    return web.json_response(MyVotesOut(proposals=items, meetings=await _coming_meetings(request, now))
                             .model_dump(mode="json"))


async def _coming_meetings(request: web.Request, now: datetime) -> list[MeetingOut]:
    if MEETINGS not in request.app:
        return []
    meetings, principal = request.app[MEETINGS], request[PRINCIPAL]
    views = [await meetings.view(meeting_id, now)
             for meeting_id in await meetings.meeting_ids(communities_in_scope(principal))]
    coming = [view for view in views if view.notice_published_at is not None and view.meeting.ends_at > now
              and may_see(principal, view)]
    coming.sort(key=lambda view: (view.meeting.starts_at, view.meeting.meeting_id))
    return [meeting_out(view, principal) for view in coming]


MY_OPEN_VOTES = 200
"""Open proposals looked at for one person at most (a compound has a handful open at once)."""


class MyVotesOut(BaseModel):
    proposals: list[ProposalSummaryOut] = Field(description="Open proposals the caller has a unit on, soonest "
                                                            "closing first; may_vote says whether one is left to cast")
    meetings: list[MeetingOut] = Field(default=[], description="Meetings of the caller's communities whose notice "
                                                               "is published and which have not ended, soonest first")


async def post_comment(request: web.Request) -> web.Response:
    data: CommentIn = await _body(request, CommentIn)
    proposal = (await _proposal(request)).proposal
    outcome = await request.app[SERVICE].post_comment(proposal.proposal_id, request[PRINCIPAL].subject, data.body,
                                                      request.config_dict[CLOCK]())
    if isinstance(outcome, CommentRefusal):
        raise refusal_error(outcome)
    return web.json_response(_comment_out(outcome).model_dump(mode="json"), status=201)


async def list_comments(request: web.Request) -> web.Response:
    proposal = (await _proposal(request, supervised=True)).proposal
    moderator = request[PRINCIPAL].has_any(MANAGERS)
    found = await request.app[SERVICE].comments(proposal.proposal_id, moderator)
    return web.json_response(CommentsOut(comments=[_comment_out(c) for c in found]).model_dump(mode="json"))


async def hide_comment(request: web.Request) -> web.Response:
    data: HideIn = await _body(request, HideIn)
    proposal = (await _proposal(request)).proposal
    raw_id = request.match_info["comment_id"]
    if not (raw_id.isascii() and raw_id.isdigit()):
        raise json_error(web.HTTPNotFound, f"no comment {raw_id!r}")
    hidden = await request.app[SERVICE].hide_comment(proposal.proposal_id, int(raw_id), request[PRINCIPAL].subject,
                                                     data.reason)
    if not hidden:
        raise json_error(web.HTTPNotFound, f"no comment {raw_id!r} on this proposal")
    return web.json_response({"comment_id": int(raw_id), "hidden": True})


def _comment_out(comment: Comment) -> CommentOut:
    return CommentOut(comment_id=comment.comment_id, author_id=comment.author_id, body=comment.body,
                      posted_at=comment.posted_at, hidden=comment.hidden, hidden_reason=comment.hidden_reason)


async def turnout(request: web.Request) -> web.Response:
    proposal = (await _proposal(request, supervised=True)).proposal
    try:
        measured = await request.app[SERVICE].turnout(proposal.proposal_id)
    except RollNotFrozen as not_frozen:
        raise _not_frozen(not_frozen.state) from None
    return web.json_response(_turnout_out(measured).model_dump(mode="json"))


async def receipt(request: web.Request) -> web.Response:
    proposal = (await _proposal(request)).proposal
    status = await request.app[SERVICE].receipt(proposal.proposal_id, request.match_info["code"])
    return web.json_response(ReceiptStatusOut(status=status.value).model_dump(mode="json"))


class PublishedOut(BaseModel):
    proposal_id: str
    closed_at: datetime
    chain_length: int
    chain_head: str
    result: dict[str, Any]
    published_by: str = Field(description="Who closed the vote; 'system:deadline' when it closed by itself")
    breakdown: dict[str, Any] | None = Field(
        default=None, description="Recounted from the log (not part of the published document): agree, oppose, "
        "abstain, split and not voted by area and heads; each Art. 278 criterion with its ratio, what was needed and "
        "the margin; owners whose units voted differently. Null for an election")


async def _published_out(service: VotingService, published: PublishedResult, *, named: bool = True) -> PublishedOut:
    """`named`: with the split owners' ids and units, for those who may read the named record (not the supervisor)."""
    found = await service.breakdown(published.proposal_id)
    document = None if found is None else breakdown_document(found)
    if document is not None and not named:
        document["split_owners"] = []
    return PublishedOut(proposal_id=published.proposal_id, closed_at=published.closed_at,
                        chain_length=published.head.length, chain_head=published.head.head_hash,
                        result=published.result, published_by=published.published_by, breakdown=document)


async def close_voting(request: web.Request) -> web.Response:
    proposal = (await _proposal(request)).proposal
    try:
        published = await request.app[SERVICE].close(proposal.proposal_id, request.config_dict[CLOCK](),
                                                      request[PRINCIPAL].subject)
    except StillOpen:
        raise json_error(web.HTTPConflict, "voting is still open", reason="still_open") from None
    except RollNotFrozen as not_frozen:
        raise _not_frozen(not_frozen.state) from None
    return web.json_response((await _published_out(request.app[SERVICE], published)).model_dump(mode="json"),
                             status=201)


async def get_result(request: web.Request) -> web.Response:
    state = await _proposal(request, supervised=True)
    published = await request.app[SERVICE].published(state.proposal.proposal_id)
    if published is None:
        raise json_error(web.HTTPNotFound, "no result published yet", reason="not_published")
    principal = request[PRINCIPAL]
    named = (state.is_owner(principal.subject) or principal.has_any(MANAGERS)
             or principal.subject in await request.app[SERVICE].delegates(state.proposal.proposal_id))
    out = await _published_out(request.app[SERVICE], published, named=named)
    return web.json_response(out.model_dump(mode="json"))


async def verification(request: web.Request) -> web.Response:
    proposal = (await _proposal(request, supervised=True)).proposal
    try:
        report = await request.app[SERVICE].verify(proposal.proposal_id)
    except RollNotFrozen as not_frozen:
        raise _not_frozen(not_frozen.state) from None
    closed = request.config_dict[CLOCK]() >= proposal.closes_at
    out = VerificationOut(
        entries=report.entries,
        delegation_entries=report.delegation_entries,
        roll_digest=report.roll_digest,
        log_anchored=report.log_anchored,
        chain_intact=not report.chain_problems,
        chain_problems=[{"sequence": problem.sequence, "problem": problem.kind.value, "detail": problem.detail}
                        for problem in report.chain_problems],
        delegations_match_log=not report.record_problems,
        record_problems=[{"problem": problem.kind.value, "detail": problem.detail}
                         for problem in report.record_problems],
        published_result_matches=None if report.published is None else not report.discrepancies,
        refused_on_recount=[{"sequence": entry.sequence, "reason": refusal.value}
                            for entry, refusal in report.recount.refused],
        closed=closed,
        result=result_document(report.recount.result, report.roll_digest if report.log_anchored else None)
        if closed else None,
    )
    return web.json_response(out.model_dump(mode="json"))


async def record(request: web.Request) -> web.Response:
    """The record a recount is made from, as a document to download (``smartcity votes verify --from FILE``); until
    the result is published, the log's hash chain alone (named ballots would show how each owner voted and how the
    count stands while it can still be swayed)."""
    proposal = (await _proposal(request)).proposal
    try:
        stored = await request.app[SERVICE].record(proposal.proposal_id)
    except RollNotFrozen as not_frozen:
        raise _not_frozen(not_frozen.state) from None
    return web.json_response(disclosed_document(stored), headers={
        "Content-Disposition": f'attachment; filename="vote-record-{proposal.proposal_id}.json"'})


def roll_note(state: RollState, opens_at: datetime) -> str | None:
    """What to tell people about a roll that is not frozen yet."""
    if state.is_frozen:
        return None
    if state.problem is not None:
        return f"the roll could not be frozen from the ownership register: {state.problem}"
    return (f"roll not yet frozen: it is frozen from the ownership register of community {state.community_id!r} "
            f"as it stands when voting opens ({opens_at.isoformat()})")


def _turnout_out(turnout: Turnout) -> TurnoutOut:
    return TurnoutOut(**turnout_document(turnout))


def _problems_out(problems: tuple[RollProblem, ...]) -> list[RollProblemOut]:
    return [RollProblemOut(unit_id=p.unit_id, label=p.label, area_m2=str(p.area), problem=p.kind.value,
                           problem_zh=p.kind.message_zh, problem_en=p.kind.message_en) for p in problems]


def _preview_out(state: ProposalState, now: datetime) -> RollPreviewOut | None:
    if state.roll is not None or not state.roll_state.from_register or state.roll_state.problem is not None:
        return None
    preview = state.preview
    return RollPreviewOut(as_of=now, units=len(preview.units) if preview else 0,
                          total_area_m2=str(preview.total_area) if preview else None,
                          problems=_problems_out(state.preview_problems), problem=state.preview_problem)


def _proposal_out(
    state: ProposalState, body: str, attachments: list[dict[str, str]], now: datetime, manager: bool
) -> ProposalOut:
    # the published roll: units and areas, not who owns them (the record for a recount, GET .../record, has the ids)
    proposal, roll, roll_state = state.proposal, state.roll, state.roll_state
    return ProposalOut(
        proposal_id=proposal.proposal_id, community_id=state.community_id, matter=proposal.matter.value,
        matter_zh=proposal.matter.label_zh,
        title=proposal.title, body=body, attachments=attachments, opens_at=proposal.opens_at,
        closes_at=proposal.closes_at,
        rule_zh=proposal.rule.statement_zh, rule_en=proposal.rule.statement_en,
        candidates=list(proposal.election.candidates) if proposal.election else None,
        seats=proposal.election.seats if proposal.election else None,
        roll=[{"unit_id": u.unit_id, "label": u.label, "area_m2": str(u.area),
               "held_by_developer": u.held_by_developer, "owner_recorded": u.has_recorded_owner}
              for u in roll.units] if roll else [],
        roll_source="register" if roll_state.from_register else "given",
        roll_community_id=roll_state.community_id,
        roll_frozen=roll is not None,
        roll_frozen_at=roll.frozen_at if roll else None,
        roll_note=roll_note(roll_state, proposal.opens_at),
        roll_digest=state.roll_digest,
        log_anchored=roll_state.log_anchored,
        roll_problems=_problems_out(state.roll_problems),
        roll_problem=roll_state.problem,
        roll_preview=_preview_out(state, now) if manager else None,
        notice_published_at=state.notice_published_at,
    )


P = "/api/voting/proposals/{proposal_id}"
READ_TOO = " (the supervisor reads it too)"
ROUTES = [
    Route("POST", "/api/voting/proposals", open_proposal, "Open a proposal of a community with its voter roll: given "
          "(frozen now) or from the community's ownership register (frozen when voting opens)",
          ProposalIn, ProposalOut, 201, MANAGERS, (400, 409, 422)),
    Route("GET", "/api/voting/proposals", list_proposals, "The proposals of the caller's communities, newest first, "
          "with where the caller stands in each (on the roll, the units they may vote for)" + READ_TOO, None,
          ProposalsPage, 200, (*VOTERS, Role.PROPERTY_MANAGER, *SUPERVISED), (400, 404),
          (QueryParam("community_id", description="Only this community's (one of the caller's)"),
           QueryParam("status", description="upcoming, open or closed (open: with a frozen roll)"), LIMIT, OFFSET)),
    Route("GET", "/api/voting/mine", my_open_votes, "The signed-in owner's open votes and coming meetings: open "
          "proposals of their communities with a unit of theirs (or one they are a proxy for), and the meetings "
          "whose notice is out", None, MyVotesOut, 200, VOTERS, ()),
    Route("GET", P, get_proposal, "A proposal and its published roll" + READ_TOO, None, ProposalOut, 200, (),
          (404,)),
    Route("POST", P + "/delegations", add_delegation, "Delegate one's unit's vote to a proxy (until voting closes; "
          "by the owner who may cast the unit's ballot)", DelegationIn, None, 201, VOTERS,
          (400, 403, 404, 409, 422, 503)),
    Route("POST", P + "/ballots", cast_ballot, "Cast (or change) the ballot for a unit; returns a receipt",
          BallotIn, ReceiptOut, 201, VOTERS, (400, 403, 404, 409, 422, 503)),
    Route("POST", P + "/ballots/all", cast_for_all_units, "One submission for all the caller's units (and those "
          "they are a proxy for): each a unit ballot in the log with its own receipt; all recorded or none",
          AllUnitsBallotIn, AllUnitsReceiptsOut, 201, VOTERS, (400, 403, 404, 409, 422, 503)),
    Route("POST", P + "/comments", post_comment, "Comment on a proposal (owners on its roll, until close)",
          CommentIn, CommentOut, 201, VOTERS, (400, 403, 404, 409, 422)),
    Route("GET", P + "/comments", list_comments, "The deliberation; hidden comments show only why" + READ_TOO, None,
          CommentsOut, 200, (), (404,)),
    Route("POST", P + "/comments/{comment_id}/hide", hide_comment, "Moderate: hide a comment, with a reason",
          HideIn, None, 200, (Role.COMMITTEE,), (400, 404)),
    Route("GET", P + "/turnout", turnout, "Live participation by area and headcount" + READ_TOO, None, TurnoutOut,
          200, (), (404, 409)),
    Route("GET", P + "/receipts/{code}", receipt, "Whether a receipt's ballot is the one counted", None,
          ReceiptStatusOut, 200, (), (404,)),
    Route("POST", P + "/close", close_voting, "Count and publish the result with the log's head (after close)",
          None, PublishedOut, 201, MANAGERS, (404, 409)),
    Route("GET", P + "/result", get_result, "The published result" + READ_TOO, None, PublishedOut, 200, (),
          (404,)),
    Route("GET", P + "/verification", verification, "Chain check and recount; the result once closed" + READ_TOO,
          None, VerificationOut, 200, (), (404, 409)),
    Route("GET", P + "/record", record, "The record for a recount once the result is published: terms, frozen roll, "
          "delegations, the whole log and its head, the published result; before, the log's hash chain alone",
          None, RecordDownloadOut, 200, (), (403, 404, 409)),
]


PREFIX = "/api/voting"


def mount(app: web.Application, service: VotingService, authority: TokenAuthority,
          now: Callable[[], datetime], meetings: MeetingService | None = None) -> web.Application:
    """Serve this API from its own sub-application of ``app`` at /api/voting (described in ``app``'s /openapi.json,
    shared with the other contexts); with ``meetings``, the meetings' routes too (``meeting_api.py``). Returns the
    sub-application."""
    serve_tokens(app, authority, now)
    api = ContextApp(PREFIX)
    api.app[SERVICE] = service
    routes = [*ROUTES, *PAPER_ROUTES, *NOTICE_ROUTES]
    if meetings is not None:
        api.app[MEETINGS] = meetings
        routes += MEETING_ROUTES
    add_routes(app, routes, "smartcity API", context=api)
    return api.attach(app)


def create_app(service: VotingService, authority: TokenAuthority, now: Callable[[], datetime]) -> web.Application:
    app = web.Application()
    mount(app, service, authority, now)
    return app
