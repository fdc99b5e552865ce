"""The residents' e-voting pages: the proposals one may vote on, a proposal with its deliberation
and turnout, the ballot form, the receipt, a receipt check, and the result with the four ratios;
and, for the committee and the property manager, the form to open a proposal (``proposal_form.py``).

Handlers translate forms to :class:`VotingService` calls (no HTTP to the JSON API) and render;
every rule the service applies comes back as a message on the page, with the status the API gives
it (``web.REFUSAL_STATUS``, one table for both).

A proposal whose roll is frozen from the ownership register when voting opens shows as upcoming
until the roll is frozen — with a note, and no ballot form — and then the time it was frozen for.

As in the API, a person sees the proposals of their communities only (their account's scope): the list holds no
other, and a proposal of another community is "not found", exactly as one that does not exist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from community.voting.api_common import REFUSAL_STATUS, communities_in_scope, in_scope
from community.voting.audit import LogEntry, ReceiptStatus, find_receipt, receipt_status
from community.voting.breakdown import Breakdown
from community.voting.deliberation import MAX_COMMENT_CHARS, Comment, CommentRefusal
from community.voting.meeting_pages import add_meeting_pages
from community.voting.meeting_service import MeetingService
from community.voting.notice_pages import add_notice_pages
from community.voting.paper_pages import add_paper_pages
from community.voting.participation import MyUnit, Phase, phase_of, units_of
from community.voting.proposal_form import add_proposal_form
from community.voting.publication import PublishedResult, approx
from community.voting.rules import QUORUM, PassingRule, Threshold
from community.voting.service import (
    Accepted,
    ProposalState,
    RollNotFrozen,
    StillOpen,
    UnknownProposal,
    VotingService,
)
from community.voting.storage import LogConflict, RollState
from community.voting.tally import (
    Approvals,
    Ballot,
    BallotBox,
    BallotChoice,
    BallotRefusal,
    Capacity,
    Choice,
    Delegation,
    OwnerPerson,
    Proposal,
    Turnout,
    Unit,
    VoterRoll,
    measure_turnout,
)
from devices.topics import IDENTIFIER
from webkit.auth import CLOCK, PRINCIPAL
from webkit.charts import TimeSeries, bar_chart, line_chart
from webkit.context_app import ContextApp
from webkit.formatting import percent
from webkit.identity import Principal, Role
from webkit.pages import NavLink, PageProblem, add_navigation, add_templates, form_of, page, render

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
VOTERS = (Role.RESIDENT, Role.COMMITTEE)
MANAGERS = (Role.COMMITTEE, Role.PROPERTY_MANAGER)
SUPERVISED = (Role.SUPERVISOR,)
READERS = (*VOTERS, Role.PROPERTY_MANAGER, *SUPERVISED)
"""Who reads the list, a proposal and its result: the supervisor too (a street office guides owners' assemblies, as
the API's ``supervised`` routes let it), read-only."""
MAX_LISTED = 200
"""Proposals on the list page, newest first (a compound votes a few times a year)."""
CHART_POINTS = 120
"""Turnout is measured at most this many times along the log for the chart."""


@dataclass(frozen=True)
class VotingPages:
    service: VotingService


PAGES = web.AppKey("voting_pages", VotingPages)


def mount_voting_pages(app: web.Application, service: VotingService,
                       meetings: MeetingService | None = None) -> web.Application:
    """The residents' voting pages, served from their own sub-application of ``app`` at /voting (call
    accounts.pages.mount_pages on ``app`` first), with the meetings' pages when ``meetings`` is given; returns it."""
    pages = ContextApp("/voting")
    pages.app[PAGES] = VotingPages(service)
    add_templates(app, TEMPLATE_DIR)
    add_navigation(app, NavLink("业主表决", "/voting", READERS))
    proposal = "/voting/proposals/{proposal_id}"
    pages.add_get("/voting", proposal_list)
    pages.add_get(proposal, proposal_page)
    pages.add_post(proposal + "/ballot", cast_ballots)
    pages.add_get(proposal + "/receipt", receipt_page)
    pages.add_get(proposal + "/check", receipt_check_page)
    pages.add_post(proposal + "/comments", post_comment)
    pages.add_post(proposal + "/delegations", delegate_vote)
    pages.add_post(proposal + "/close", close_voting)
    pages.add_get(proposal + "/result", result_page)
    add_proposal_form(pages, service)
    add_paper_pages(pages, service)
    add_notice_pages(pages, app, service)
    if meetings is not None:
        add_navigation(app, NavLink("会议", "/voting/meetings", (*VOTERS, Role.PROPERTY_MANAGER, Role.SUPERVISOR)))
        add_meeting_pages(pages, meetings)
    return pages.attach(app)


# --- what a page shows --------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """One ratio as people read it: part / whole, exactly and as a percentage, against its threshold."""

    label: str
    part: str
    whole: str
    ratio: Fraction
    threshold: Threshold

    @property
    def met(self) -> bool:
        return self.threshold.is_met_by(self.ratio)

    @property
    def threshold_text(self) -> str:
        share = self.threshold.share
        return f"{'≥' if self.threshold.inclusive else '>'} {share.numerator}/{share.denominator}"

    @property
    def threshold_percent(self) -> str:
        return percent(self.threshold.share)


@dataclass(frozen=True)
class Context:
    """A proposal as the signed-in person may see it."""

    principal: Principal
    state: ProposalState
    delegations: list[Delegation]
    entries: list[LogEntry]
    now: datetime

    @property
    def proposal(self) -> Proposal:
        return self.state.proposal

    @property
    def roll(self) -> VoterRoll | None:
        """The frozen roll; None until a roll from the register is frozen."""
        return self.state.roll

    @property
    def roll_state(self) -> RollState:
        return self.state.roll_state

    @property
    def phase(self) -> Phase:
        return phase_of(self.proposal, self.now, self.roll is not None)

    @property
    def is_manager(self) -> bool:
        return self.principal.has_any(MANAGERS)

    @property
    def reads_only(self) -> bool:
        """The supervisor (not also an owner, proxy or manager here): reads, never votes, comments or closes."""
        return not _entitled(self.principal, self.state, self.delegations)

    def my_units(self) -> list[MyUnit]:
        return units_of(self.principal.subject, self.roll, self.delegations, self.entries)

    def delegable_units(self) -> list[MyUnit]:
        """The units this person may hand to a proxy: those they would vote for themselves, while voting
        has not closed."""
        if self.phase is Phase.CLOSED:
            return []
        return [unit for unit in self.my_units() if unit.capacity is Capacity.OWNER and unit.blocked_by is None]

    def my_grants(self) -> list[Delegation]:
        """The delegations this person has given on this proposal."""
        return [d for d in self.delegations if d.granted_by == self.principal.subject]

    def owns_several(self) -> bool:
        """Whether one owner person (same owner set) with this person in it holds several units:
        then a split vote counts them as taking part but not in favour."""
        if self.roll is None:
            return False
        return any(len(unit_ids) > 1 for person, unit_ids in self.roll.units_by_person.items()
                   if self.principal.subject in person.owner_ids)

    def author_label(self, author_id: str) -> str:
        # owners see each other as the units they own, not by name (personal data stays off the page)
        roll = self.state.voters_roll
        labels = [unit.label for unit in roll.units if author_id in unit.owner_ids] if roll else []
        return "、".join(labels[:3]) + (" 等" if len(labels) > 3 else "") + " 业主" if labels else "业主"


async def _context(request: web.Request, *, supervised: bool = False) -> Context:
    """The proposal in the path, for those entitled to it (as in the API): the owners on its roll,
    their proxies, the committee and property managers — and, where ``supervised``, the supervisor, who reads."""
    pages = request.app[PAGES]
    proposal_id = request.match_info["proposal_id"]
    now = request.config_dict[CLOCK]()
    try:
        state = await pages.service.state(proposal_id, now)
    except UnknownProposal:
        raise _no_such_proposal() from None
    principal = request[PRINCIPAL]
    if not in_scope(principal, state.community_id):
        raise _no_such_proposal()  # another community's: as if it did not exist
    delegations = await pages.service.delegations(proposal_id)
    if not (_entitled(principal, state, delegations) or (supervised and principal.has_any(SUPERVISED))):
        raise PageProblem(403, "只有本次表决名册上的业主、受托人、业主委员会和物业可以查看这项表决。",
                          title="您不在本次表决的名册中")
    entries = await pages.service.log(proposal_id)
    return Context(principal, state, delegations, entries, now)


def _no_such_proposal() -> PageProblem:
    return PageProblem(404, "没有这项表决，链接可能有误。", title="表决不存在")


def _entitled(principal: Principal, state: ProposalState, delegations: Sequence[Delegation]) -> bool:
    """The owners on the roll (before a roll from the register is frozen: the owners the register
    lists now), their proxies, the committee and property managers."""
    return (state.is_owner(principal.subject)
            or any(d.delegate_id == principal.subject for d in delegations)
            or principal.has_any(MANAGERS))


def turnout_measures(turnout: Turnout) -> list[Measure]:
    return [
        Measure("参与表决的专有部分面积", f"{turnout.participating_area:,.2f} m²", f"{turnout.total_area:,.2f} m²",
                turnout.participation_area_ratio, QUORUM),
        Measure("参与表决的业主人数", f"{turnout.participating_headcount} 人", f"{turnout.total_headcount} 人",
                turnout.participation_headcount_ratio, QUORUM),
    ]


@dataclass(frozen=True)
class Chart:
    """One chart drawn twice: for a wide column and for a phone (the page shows one by CSS)."""

    wide: str
    narrow: str


def turnout_chart(context: Context, wide_width: int = 900) -> Chart | None:
    """Participation by area and headcount along the log, with the quorum line; ``wide_width``
    suits the column it is shown in (the chart scales, its labels with it)."""
    roll = context.roll
    if not context.entries or roll is None:
        return None
    box = BallotBox(context.proposal, roll, context.delegations)
    step = max(1, math.ceil(len(context.entries) / CHART_POINTS))
    area: list[tuple[datetime, Fraction]] = [(context.proposal.opens_at, Fraction(0))]
    heads: list[tuple[datetime, Fraction]] = [(context.proposal.opens_at, Fraction(0))]
    for index, entry in enumerate(context.entries, start=1):
        box.cast(entry.ballot, entry.cast_at)
        if index % step == 0 or index == len(context.entries):
            turnout = measure_turnout(roll, box.counted_ballots)
            # participation changes when a ballot arrives and holds until the next: draw steps
            area += [(entry.cast_at, area[-1][1]), (entry.cast_at, turnout.participation_area_ratio * 100)]
            heads += [(entry.cast_at, heads[-1][1]), (entry.cast_at, turnout.participation_headcount_ratio * 100)]
    end = min(context.now, context.proposal.closes_at)
    if end > area[-1][0]:
        area.append((end, area[-1][1]))
        heads.append((end, heads[-1][1]))
    quorum = QUORUM.share * 100
    series = [
        TimeSeries("参与面积比例", area),
        TimeSeries("参与人数比例", heads),
        TimeSeries("参与门槛 2/3", [(context.proposal.opens_at, quorum), (end, quorum)], dashed=True),
    ]
    return Chart(line_chart(series, y_range=(0, 100), value_suffix="%", width=wide_width, height=340, dots=False),
                 line_chart(series, y_range=(0, 100), value_suffix="%", width=460, height=330, dots=False))


def rule_in_words(rule: PassingRule) -> dict[str, str]:
    return {"zh": rule.statement_zh, "en": rule.statement_en}


# --- the list -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Listed:
    proposal: Proposal
    phase: Phase
    my_units: int
    voted_units: int
    published: bool
    roll_frozen: bool


@page(*READERS)
async def proposal_list(request: web.Request) -> web.Response:
    pages = request.app[PAGES]
    principal = request[PRINCIPAL]
    now = request.config_dict[CLOCK]()
    listed: list[Listed] = []
    for proposal_id in await pages.service.proposal_ids(MAX_LISTED, communities_in_scope(principal)):
        state = await pages.service.state(proposal_id, now)
        delegations = await pages.service.delegations(proposal_id)
        if not (_entitled(principal, state, delegations) or principal.has_any(SUPERVISED)):
            continue
        context = Context(principal, state, delegations, [], now)
        if context.phase is Phase.OPEN:
            context = Context(principal, state, delegations, await pages.service.log(proposal_id), now)
        mine = context.my_units()
        published = context.phase is Phase.CLOSED and await pages.service.published(proposal_id) is not None
        listed.append(Listed(state.proposal, context.phase, len(mine), sum(1 for unit in mine if unit.counted),
                             published, state.roll is not None))
    groups = {phase: [item for item in listed if item.phase is phase] for phase in Phase}
    groups[Phase.OPEN].sort(key=lambda item: item.proposal.closes_at)
    groups[Phase.UPCOMING].sort(key=lambda item: item.proposal.opens_at)
    return await render(request, "voting/list.html", {"groups": groups, "Phase": Phase,
                                                      "can_create": principal.has_any(MANAGERS)})


# --- a proposal, the ballot, deliberation -------------------------------------------------------

@page(*READERS)
async def proposal_page(request: web.Request) -> web.Response:
    return await _render_proposal(request, await _context(request, supervised=True))


async def _render_proposal(request: web.Request, context: Context, *, status: int = 200,
                           ballot_errors: Sequence[str] = (), comment_error: str | None = None,
                           comment_draft: str = "", close_error: str | None = None,
                           delegation_error: str | None = None) -> web.Response:
    pages = request.app[PAGES]
    proposal_id = context.proposal.proposal_id
    body, attachments = await pages.service.text(proposal_id)
    comments = await pages.service.comments(proposal_id, moderator=context.principal.has_any((Role.COMMITTEE,)))
    published = await pages.service.published(proposal_id) if context.phase is Phase.CLOSED else None
    has_turnout = context.phase is not Phase.UPCOMING and context.roll is not None
    turnout = await pages.service.turnout(proposal_id) if has_turnout else None
    return await render(request, "voting/proposal.html", {
        "c": context,
        "Phase": Phase,
        "body": body,
        "attachments": [_attachment(item) for item in attachments],
        "rule": rule_in_words(context.proposal.rule),
        "my_units": context.my_units(),
        "choices": list(Choice),
        "turnout": turnout_measures(turnout) if turnout else None,
        "quorum_met": turnout.quorum_met if turnout else False,
        "chart": turnout_chart(context) if turnout else None,
        "comments": [_comment_view(context, comment) for comment in comments],
        "published": published,
        "can_close": (context.is_manager and context.phase is Phase.CLOSED and published is None
                      and context.roll is not None),
        "preview": context.state.preview if context.is_manager else None,
        "preview_problems": context.state.preview_problems if context.is_manager else (),
        "preview_problem": context.state.preview_problem if context.is_manager else None,
        "ballot_errors": ballot_errors,
        "comment_error": comment_error,
        "comment_draft": comment_draft,
        "close_error": close_error,
        "delegation_error": delegation_error,
        "delegated": request.query.get("delegated"),
        "max_comment_chars": MAX_COMMENT_CHARS,
    }, status=status)


@dataclass(frozen=True)
class AttachmentView:
    title: str
    ref: str
    sha256: str | None
    href: str | None
    """Only web links become links: a javascript: or data: "ref" stays inert text."""


def _attachment(item: dict[str, str]) -> AttachmentView:
    ref = item.get("ref", "")
    return AttachmentView(item.get("title", ref), ref, item.get("sha256"),
                          ref if ref.startswith(("https://", "http://")) else None)


def _comment_view(context: Context, comment: Comment) -> dict[str, Any]:
    return {"comment": comment, "author": context.author_label(comment.author_id),
            "mine": comment.author_id == context.principal.subject}


@page(*VOTERS)
async def cast_ballots(request: web.Request) -> web.StreamResponse:
    """One ballot per unit filled in on the form; the receipts (and any refusals) on the next page."""
    context = await _context(request)
    if context.roll is None:
        # voting may have opened a moment ago: freeze the roll now rather than wait for the tick
        await request.app[PAGES].service.freeze_roll(context.proposal.proposal_id, context.now)
        context = await _context(request)
    if context.roll is None:
        return await _render_proposal(request, context, status=409,
                                      ballot_errors=[f"{BallotRefusal.ROLL_NOT_FROZEN.message_zh}。"])
    form = await form_of(request)
    ballots = _ballots_from(form, context)
    if not ballots:
        return await _render_proposal(request, context, status=400,
                                      ballot_errors=["请至少为一个专有部分选择意见后再提交。"])
    service = request.app[PAGES].service
    codes: list[str] = []
    refused: list[tuple[str, BallotRefusal]] = []
    busy: list[str] = []
    for unit_id, ballot in ballots:
        if isinstance(ballot, BallotRefusal):
            refused.append((unit_id, ballot))
            continue
        try:
            outcome = await service.cast(ballot, request.config_dict[CLOCK]())
        except LogConflict:
            busy.append(unit_id)
            continue
        if isinstance(outcome, Accepted):
            codes.append(outcome.receipt)
        else:
            refused.append((unit_id, outcome.refusal))
    if busy:
        # many ballots at the same instant beat this one to the log: nothing was recorded for it
        refused_texts = [_refusal_text(context, unit_id, refusal) for unit_id, refusal in refused]
        busy_texts = [f"{_unit_label(context, unit_id)}：同时提交的选票较多，本户选票未能记录，请重新提交。"
                      for unit_id in busy]
        recorded = [f"其余选票已记录，回执码：{'、'.join(codes)}（请保存）。"] if codes else []
        return await _render_proposal(request, await _context(request), status=503,
                                      ballot_errors=[*busy_texts, *refused_texts, *recorded])
    if not codes:
        first = refused[0][1]
        return await _render_proposal(request, context, status=REFUSAL_STATUS[first],
                                      ballot_errors=[_refusal_text(context, unit_id, refusal)
                                                     for unit_id, refusal in refused])
    query = [("code", code) for code in codes] + [("refused", f"{unit_id}:{refusal.value}")
                                                  for unit_id, refusal in refused]
    raise web.HTTPSeeOther(f"/voting/proposals/{context.proposal.proposal_id}/receipt?{urlencode(query)}")


def _ballots_from(form: MultiDictProxy[str], context: Context) -> list[tuple[str, Ballot | BallotRefusal]]:
    """The ballots on the form: ``choice.<unit>`` (resolutions) or ``cast.<unit>`` with
    ``approve.<unit>`` (elections). The capacity is decided here, not taken from the form."""
    mine = {unit.unit.unit_id: unit for unit in context.my_units()}
    election = context.proposal.election is not None
    unit_ids = [name.split(".", 1)[1] for name in form if name.startswith("cast." if election else "choice.")]
    ballots: list[tuple[str, Ballot | BallotRefusal]] = []
    for unit_id in dict.fromkeys(unit_ids):
        capacity = mine[unit_id].capacity if unit_id in mine else Capacity.OWNER
        choice: BallotChoice
        if election:
            choice = Approvals(frozenset(form.getall(f"approve.{unit_id}", [])))
        else:
            try:
                choice = Choice(form[f"choice.{unit_id}"])
            except ValueError:
                ballots.append((unit_id, BallotRefusal.WRONG_OPTION))
                continue
        ballots.append((unit_id, Ballot(context.proposal.proposal_id, unit_id, context.principal.subject,
                                        capacity, choice)))
    return ballots


def _refusal_text(context: Context, unit_id: str, refusal: BallotRefusal) -> str:
    return f"{_unit_label(context, unit_id)}：{refusal.message_zh}。"


def _unit_label(context: Context, unit_id: str) -> str:
    unit = context.roll.unit(unit_id) if context.roll else None
    return unit.label if unit else unit_id


@page(*VOTERS)
async def delegate_vote(request: web.Request) -> web.StreamResponse:
    """An owner hands one unit's vote on this proposal to a proxy, by the proxy's sign-in account; checked
    by the rule the API and the ballots use, and written into the proposal's log."""
    context = await _context(request)
    form = await form_of(request)
    unit_id, delegate_id = form.get("unit_id", "").strip(), form.get("delegate_id", "").strip()
    if context.roll is None:
        return await _render_proposal(request, context, status=REFUSAL_STATUS[BallotRefusal.ROLL_NOT_FROZEN],
                                      delegation_error=f"{BallotRefusal.ROLL_NOT_FROZEN.message_zh}，冻结后才能委托。")
    if not IDENTIFIER.fullmatch(delegate_id):
        return await _render_proposal(request, context, status=400,
                                      delegation_error="请填写受托人的登录账号（字母、数字、“-”或“_”）。")
    if delegate_id == context.principal.subject:
        return await _render_proposal(request, context, status=400, delegation_error="不能委托给自己。")
    delegation = Delegation(delegate_id, context.principal.subject, context.proposal.proposal_id, unit_id[:64])
    try:
        refused = await request.app[PAGES].service.record_delegation(delegation, request.config_dict[CLOCK]())
    except LogConflict:
        return await _render_proposal(request, context, status=503,
                                      delegation_error="同时提交的委托或选票较多，未能记录，请重新提交。")
    if refused is not None:
        return await _render_proposal(request, context, status=REFUSAL_STATUS[refused.refusal],
                                      delegation_error=f"{_unit_label(context, unit_id)}："
                                                       f"{refused.refusal.message_zh}。")
    raise web.HTTPSeeOther(f"/voting/proposals/{context.proposal.proposal_id}?"
                           f"{urlencode({'delegated': unit_id})}#delegate")


@page(*VOTERS)
async def post_comment(request: web.Request) -> web.StreamResponse:
    context = await _context(request)
    body = (await form_of(request)).get("body", "")
    outcome = await request.app[PAGES].service.post_comment(
        context.proposal.proposal_id, context.principal.subject, body, context.now)
    if isinstance(outcome, CommentRefusal):
        return await _render_proposal(request, context, status=REFUSAL_STATUS[outcome],
                                      comment_error=f"{outcome.message_zh}。", comment_draft=body[:MAX_COMMENT_CHARS])
    raise web.HTTPSeeOther(f"/voting/proposals/{context.proposal.proposal_id}#comment-{outcome.comment_id}")


@page(*MANAGERS)
async def close_voting(request: web.Request) -> web.StreamResponse:
    """Count and publish the result with the log's head (the committee or the property manager)."""
    context = await _context(request)
    try:
        await request.app[PAGES].service.close(context.proposal.proposal_id, context.now, context.principal.subject)
    except StillOpen:
        return await _render_proposal(request, context, status=409,
                                      close_error="表决尚未结束，截止后才能计票并公布结果。")
    except RollNotFrozen:
        return await _render_proposal(request, context, status=409,
                                      close_error="本次表决没有冻结的业主名册，无法计票。")
    raise web.HTTPSeeOther(f"/voting/proposals/{context.proposal.proposal_id}/result")


# --- receipts -----------------------------------------------------------------------------------

_RECEIPT_STATUS = {
    ReceiptStatus.COUNTED: ("ok", "有效", "这是该专有部分当前计入的选票。"),
    ReceiptStatus.SUPERSEDED: ("warn", "已被替换", "该专有部分之后又提交了选票，以最后一次提交的为准。"),
    ReceiptStatus.NOT_FOUND: ("bad", "未找到", "投票记录中没有这个回执码，请检查是否输入有误。"),
}


@dataclass(frozen=True)
class ReceiptView:
    entry: LogEntry
    unit: Unit | None
    choice: str
    status: tuple[str, str, str]
    """(style, label, explanation)"""


@page(*VOTERS)
async def receipt_page(request: web.Request) -> web.Response:
    """The receipts of the ballots just cast: only the signed-in voter's own entries are shown."""
    context = await _context(request)
    roll = context.roll
    if roll is None:
        raise PageProblem(404, "本次表决的业主名册尚未冻结，还没有选票和回执。", title="回执不存在")
    receipts: list[ReceiptView] = []
    for code in request.query.getall("code", [])[:50]:
        entry = find_receipt(context.entries, code)
        if entry is None or entry.voter_id != context.principal.subject:
            continue
        receipts.append(ReceiptView(entry, roll.unit(entry.unit_id), _choice_text(entry.choice),
                                    _RECEIPT_STATUS[receipt_status(context.entries, entry.receipt)]))
    refused = []
    for pair in request.query.getall("refused", [])[:50]:
        unit_id, _, reason = pair.partition(":")
        if reason in BallotRefusal._value2member_map_:
            refused.append(_refusal_text(context, unit_id, BallotRefusal(reason)))
    if not receipts and not refused:
        raise PageProblem(404, "没有找到您的回执。回执码可在“核对回执”页面查询。", title="回执不存在")
    choices_by_person: dict[OwnerPerson, set[str]] = {}
    for receipt in receipts:
        if receipt.entry.capacity is Capacity.OWNER:
            choices_by_person.setdefault(roll.person_of(receipt.entry.unit_id), set()).add(receipt.choice)
    split = any(len(choices) > 1 for choices in choices_by_person.values())
    return await render(request, "voting/receipt.html", {
        "c": context, "Phase": Phase, "receipts": receipts, "refused": refused, "split": split,
        "published": await _published_if_closed(request, context),
    })


@page(*VOTERS, Role.PROPERTY_MANAGER)
async def receipt_check_page(request: web.Request) -> web.Response:
    context = await _context(request)
    code = request.query.get("code", "").strip()[:64]
    result = None
    if code:
        status = await request.app[PAGES].service.receipt(context.proposal.proposal_id, code)
        result = _RECEIPT_STATUS[status]
    return await render(request, "voting/check.html", {
        "c": context, "Phase": Phase, "code": code, "result": result,
        "published": await _published_if_closed(request, context),
    })


async def _published_if_closed(request: web.Request, context: Context) -> PublishedResult | None:
    if context.phase is not Phase.CLOSED:
        return None
    return await request.app[PAGES].service.published(context.proposal.proposal_id)


def _choice_text(choice: BallotChoice) -> str:
    if isinstance(choice, Choice):
        return choice.label_zh
    return "同意：" + "、".join(sorted(choice.candidates)) if choice.candidates else "未同意任何候选人"


# --- the result ---------------------------------------------------------------------------------

@page(*READERS)
async def result_page(request: web.Request) -> web.Response:
    context = await _context(request, supervised=True)
    service = request.app[PAGES].service
    published = await service.published(context.proposal.proposal_id)
    if published is None:
        return await render(request, "voting/result.html", {
            "c": context, "Phase": Phase, "published": None, "rule": rule_in_words(context.proposal.rule),
            "can_close": context.is_manager and context.phase is Phase.CLOSED and context.roll is not None,
        })
    verification = await service.verify(context.proposal.proposal_id)
    return await render(request, "voting/result.html", {
        "c": context,
        "Phase": Phase,
        "published": published,
        "rule": {"zh": published.result["rule_zh"], "en": published.result["rule_en"]},
        "outcome": _outcome(context, published),
        "verified": verification.is_clean,
        "distribution": _distribution_chart(context),
        "chart": turnout_chart(context, wide_width=580),
        "can_close": False,
        "breakdown": _breakdown_for(context, await service.breakdown(context.proposal.proposal_id)),
        "approx": approx,
    })


def _breakdown_for(context: Context, found: Breakdown | None) -> Breakdown | None:
    """The breakdown as the reader may see it: the split owners are named to those who may read the named record,
    not to the supervisor (as the API's result); they are still counted."""
    return replace(found, split_owners=()) if found is not None and context.reads_only else found


def _outcome(context: Context, published: PublishedResult) -> dict[str, Any]:
    """The published document, read back into exact numbers for the page."""
    document = published.result
    turnout = document["turnout"]
    participating_area = Decimal(turnout["participating_area_m2"])
    participating_heads = int(turnout["participating_headcount"])
    quorum = [
        Measure("参与表决的专有部分面积 / 总面积", f"{participating_area:,.2f} m²",
                f"{Decimal(turnout['total_area_m2']):,.2f} m²", Fraction(turnout["participation_area_ratio"]), QUORUM),
        Measure("参与表决的业主人数 / 业主总人数", f"{participating_heads} 人", f"{turnout['total_headcount']} 人",
                Fraction(turnout["participation_headcount_ratio"]), QUORUM),
    ]
    rule = context.proposal.rule
    if "candidates" in document:
        candidates = [{
            "name": row["candidate"],
            "measures": [
                Measure("同意面积 / 参与面积", "", "", Fraction(row["approval_area_ratio"]), rule.approval),
                Measure("同意人数 / 参与人数", "", "", Fraction(row["approval_headcount_ratio"]), rule.approval),
            ],
            "elected": row["candidate"] in document["elected"],
            "tied": row["candidate"] in document["tied_for_last_seat"],
        } for row in document["candidates"]]
        return {"election": True, "quorum": quorum, "quorum_met": turnout["quorum_met"], "candidates": candidates,
                "elected": document["elected"], "tied": document["tied_for_last_seat"],
                "seats": context.proposal.election.seats if context.proposal.election else 0}
    approval = [
        Measure("同意的专有部分面积 / 参与表决的面积", f"{Decimal(document['in_favour_area_m2']):,.2f} m²",
                f"{participating_area:,.2f} m²", Fraction(document["approval_area_ratio"]), rule.approval),
        Measure("同意的业主人数 / 参与表决的人数", f"{document['in_favour_headcount']} 人", f"{participating_heads} 人",
                Fraction(document["approval_headcount_ratio"]), rule.approval),
    ]
    return {"election": False, "quorum": quorum, "quorum_met": turnout["quorum_met"], "approval": approval,
            "passed": document["passed"]}


def _distribution_chart(context: Context) -> Chart | None:
    """Units per option among the counted ballots (shown once voting has closed)."""
    if context.roll is None:
        return None
    box = BallotBox(context.proposal, context.roll, context.delegations)
    for entry in context.entries:
        box.cast(entry.ballot, entry.cast_at)
    counted = list(box.counted_ballots.values())
    if not counted:
        return None
    election = context.proposal.election
    if election is not None:
        counts = [(name, sum(1 for b in counted if isinstance(b.choice, Approvals) and name in b.choice.candidates))
                  for name in election.candidates]
        label, title = "同意的户数", "各候选人获得同意的户数"
    else:
        counts = [(choice.label_zh, sum(1 for b in counted if b.choice == choice)) for choice in Choice]
        label, title = "户数", "各选项的户数（专有部分）"
    return Chart(bar_chart(counts, series_label=label, title=title, width=580, height=400),
                 bar_chart(counts, series_label=label, title=title, width=460, height=320))
