"""The committee's page of a proposal's paper ballots (``/voting/proposals/{id}/paper``): the form by which a member
enters a paper ballot — the unit, the choice, the reference of its scan, when it was delivered — as the first or the
second entry (:mod:`community.voting.paper_entry`), and every paper ballot with its state: awaiting the second entry,
agreed (in the log; counted once the result is published), held for review with the fields the entries disagree on,
or set aside (a third member's entry settled it the other way).

The form is checked by the API's own model (:class:`paper_api.PaperBallotIn`) and the service's rules, and each
refusal is shown next to its field in Chinese with the status the API gives it; nothing is written until the entry is
right, and an entry that disagrees is kept (held), never lost.

Who: committee members enter; property managers and the supervisor (a street office) read. Scope as every voting page:
a proposal of another community is "not found", as one that does not exist. Before the result is published the
supervisor sees the entries without their choices (how a unit voted is not shown to anyone outside the count while
voting goes on, as ``disclosure.py`` keeps the named record back).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from community.voting.api_common import REFUSAL_STATUS, in_scope
from community.voting.paper_api import PaperBallotIn
from community.voting.paper_entry import PaperReading, differences
from community.voting.service import ProposalState, UnknownProposal, VotingService
from community.voting.storage import LogConflict, StoredPaperEntry
from community.voting.tally import Approvals, BallotChoice, BallotRefusal, Choice, VoterRoll
from webkit.auth import CLOCK, PRINCIPAL
from webkit.context_app import ContextApp
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.formatting import SHANGHAI
from webkit.identity import Role
from webkit.pages import PageProblem, form_of, page, render

PAPER_SERVICE = web.AppKey("paper_pages_service", VotingService)
READERS: Final = (Role.COMMITTEE, Role.PROPERTY_MANAGER, Role.SUPERVISOR)
CLERKS: Final = (Role.COMMITTEE,)
FIELDS: Final = ("unit_id", "choice", "scan_ref", "received_at")
WORDS: Final = FieldWords(
    {"unit_id": "专有部分", "choice": "表决意见", "scan_ref": "扫描件编号", "received_at": "送达时间"},
    {"unit_id": "请从名册中选择专有部分（可输入房号或编号）", "choice": "请选择同意、反对或弃权",
     "received_at": "送达时间的格式应为 2026-12-01 09:30（北京时间）"})
FIELD_OF_REFUSAL: Final = {
    BallotRefusal.UNIT_NOT_ON_ROLL: "unit_id",
    BallotRefusal.PAPER_EXISTS: "unit_id",
    BallotRefusal.PAPER_RECEIVED_AFTER_CLOSE: "received_at",
    BallotRefusal.WRONG_OPTION: "choice",
    BallotRefusal.TOO_MANY_CANDIDATES: "choice",
}
"""The field a refusal is shown next to; the others (not open, closed, the same member twice) above the form."""
FIELD_NAMES_ZH: Final = {"choice": "表决意见", "scan_ref": "扫描件编号", "received_at": "送达时间"}
STATE_WORDS: Final = {
    "pending": ("info", "待第二人录入"),
    "held": ("bad", "不一致，待复核"),
    "agreed": ("ok", "两人一致，已记入投票记录"),
    "counted": ("ok", "已计入结果"),
    "refused": ("", "未采用"),
}


def add_paper_pages(pages: ContextApp, service: VotingService) -> None:
    """Serve the page from the voting pages' sub-application (before it is attached)."""
    pages.app[PAPER_SERVICE] = service
    path = "/voting/proposals/{proposal_id}/paper"
    pages.add_get(path, paper_page)
    pages.add_post(path, enter_paper)


@dataclass(frozen=True)
class PaperRow:
    """One entry as the list shows it."""

    entry: StoredPaperEntry
    unit_label: str
    state: str
    disagreeing: tuple[str, ...]
    choice_text: str | None
    """None: not shown to this reader (the supervisor, before the result is published)."""

    @property
    def style(self) -> str:
        return STATE_WORDS[self.state][0]

    @property
    def state_text(self) -> str:
        return STATE_WORDS[self.state][1]

    @property
    def disagreeing_text(self) -> str:
        return "、".join(FIELD_NAMES_ZH.get(name, name) for name in self.disagreeing)


def paper_rows(entries: Sequence[StoredPaperEntry], roll: VoterRoll | None, *, published: bool,
               show_choices: bool) -> list[PaperRow]:
    """The entries with their state; a held entry lists the fields it disagrees on with the unit's other held ones."""
    rows = []
    for entry in entries:
        state = entry.status
        if state == "confirmed":
            state = "counted" if published else "agreed"
        disagreeing: tuple[str, ...] = ()
        if entry.status == "held":
            mine = _reading(entry)
            found = {name for other in entries if other.unit_id == entry.unit_id and other.status == "held"
                     and other.entry_id != entry.entry_id for name in differences(mine, _reading(other))}
            disagreeing = tuple(name for name in ("choice", "scan_ref", "received_at") if name in found)
        unit = roll.unit(entry.unit_id) if roll is not None else None
        rows.append(PaperRow(entry, unit.label if unit else entry.unit_id, state, disagreeing,
                             choice_text(entry.choice) if show_choices else None))
    return rows


def _reading(entry: StoredPaperEntry) -> PaperReading:
    return PaperReading(entry.unit_id, entry.choice, entry.scan_ref, entry.received_at)


def choice_text(choice: BallotChoice) -> str:
    if isinstance(choice, Choice):
        return choice.label_zh
    return "同意：" + "、".join(sorted(choice.candidates)) if choice.candidates else "未同意任何候选人"


async def _state(request: web.Request) -> ProposalState:
    """The proposal in the path, within the person's scope (else the page of a proposal that does not exist)."""
    try:
        state = await request.app[PAPER_SERVICE].state(request.match_info["proposal_id"],
                                                       request.config_dict[CLOCK]())
    except UnknownProposal:
        raise _no_such_proposal() from None
    if not in_scope(request[PRINCIPAL], state.community_id):
        raise _no_such_proposal()
    return state


def _no_such_proposal() -> PageProblem:
    return PageProblem(404, "没有这项表决，链接可能有误。", title="表决不存在")


@page(*READERS)
async def paper_page(request: web.Request) -> web.Response:
    state = await _state(request)
    form = FormState({"received_at": _local_input(request.config_dict[CLOCK]())})
    return await _render(request, state, form)


@page(*CLERKS)
async def enter_paper(request: web.Request) -> web.StreamResponse:
    """One member's entry of a paper ballot: to the list (303) when kept — pending, agreed or held —, else the form
    again with the reason next to the field."""
    state = await _state(request)
    service, now = request.app[PAPER_SERVICE], request.config_dict[CLOCK]()
    raw = await form_of(request)
    form = typed(raw, FIELDS, codes=("unit_id", "received_at"))
    approve = [name[:64] for name in raw.getall("approve", [])][:50]
    unit_id = _unit_id(state, form.values["unit_id"])
    received_at = _moment(form.values["received_at"])
    election = state.proposal.election is not None
    fixed: dict[str, object] = {"unit_id": unit_id} if unit_id else {}
    if received_at is not None:
        fixed["received_at"] = received_at
    elif form.values["received_at"]:
        form.refuse("received_at", WORDS.patterns["received_at"])
    if election:
        fixed["approve"] = approve
        form.values.pop("choice", None)
    data = checked(PaperBallotIn, form, WORDS, **fixed)
    if data is not None and not election and data.choice is None:
        form.refuse("choice", "请选择表决意见")
    if data is not None and data.received_at > now:
        form.refuse("received_at", "送达时间不能晚于现在")
    if data is None or form.failed:
        return await _render(request, state, form, status=400, approve=approve)
    choice: BallotChoice = Choice(data.choice) if data.choice else Approvals(frozenset(data.approve or ()))
    reading = PaperReading(data.unit_id, choice, data.scan_ref, data.received_at)
    try:
        outcome = await service.enter_paper(state.proposal.proposal_id, reading, request[PRINCIPAL].subject, now)
    except LogConflict:
        form.general.append("同时录入的选票较多，本次录入未保存，请重新提交。")
        return await _render(request, state, form, status=503, approve=approve)
    if outcome.refusal is not None:
        words = outcome.refusal.message_zh
        name = FIELD_OF_REFUSAL.get(outcome.refusal)
        if name is not None:
            form.refuse(name, words)
        else:
            form.general.append(words)
        return await _render(request, state, form, status=REFUSAL_STATUS[outcome.refusal], approve=approve)
    raise web.HTTPSeeOther(f"/voting/proposals/{state.proposal.proposal_id}/paper?entered={outcome.status}"
                           f"&entry={outcome.entry_id}#entry-{outcome.entry_id}")


def _unit_id(state: ProposalState, typed_unit: str) -> str:
    """The unit typed: its id, or its label on the roll (a paper ballot names the flat as people write it)."""
    roll = state.roll
    if roll is not None and roll.unit(typed_unit) is None:
        return next((unit.unit_id for unit in roll.units if unit.label == typed_unit), typed_unit)
    return typed_unit


def _moment(text: str) -> datetime | None:
    """A Beijing wall-clock time from a datetime-local field, as an aware moment; None when it is none."""
    text = unicodedata.normalize("NFKC", text).strip().replace(" ", "T", 1)
    if not text or len(text) > 32:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)).astimezone(UTC)


def _local_input(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


async def _render(request: web.Request, state: ProposalState, form: FormState, *, status: int = 200,
                  approve: Sequence[str] = ()) -> web.Response:
    service, principal = request.app[PAPER_SERVICE], request[PRINCIPAL]
    proposal_id = state.proposal.proposal_id
    published = await service.published(proposal_id) is not None
    show_choices = published or principal.has_any((Role.COMMITTEE, Role.PROPERTY_MANAGER)) or principal.is_admin
    rows = paper_rows(await service.paper_entries(proposal_id), state.roll, published=published,
                      show_choices=show_choices)
    entered = request.query.get("entered", "")
    entry = request.query.get("entry", "")
    just = next((row for row in rows if str(row.entry.entry_id) == entry), None) if entered else None
    now = request.config_dict[CLOCK]()
    return await render(request, "voting/paper.html", {
        "state": state, "proposal": state.proposal, "rows": rows, "form": form, "approve": list(approve),
        "can_enter": principal.has_any(CLERKS) and state.roll is not None
        and state.proposal.opens_at <= now < state.proposal.closes_at,
        "units": state.roll.units if state.roll is not None else (),
        "choices": [(choice.value, choice.label_zh) for choice in Choice], "just": just, "published": published,
        "show_choices": show_choices,
        "counts": {name: sum(1 for row in rows if row.state == name) for name in STATE_WORDS},
    }, status=status)
