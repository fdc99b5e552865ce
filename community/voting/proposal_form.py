"""The owners' committee's and the property manager's form to open a proposal (``/voting/new``): the community (one
of theirs), the title, the matter (the nine of Civil Code Art. 278), the text, the voting window in Beijing time and,
to elect the owners' committee, the candidates and seats. The roll is frozen from the community's ownership register
when voting opens (:meth:`VotingService.open_proposal_from_register`), as ``roll_from_register`` does in the API.

Every field is checked by the API's own rules — its request model (:class:`web.ProposalIn`), then the domain's checks
(:class:`tally.Proposal`) and the service's (the community is the person's and exists; a vote opening now needs a
register with owners) — and what is wrong is shown next to the field, in Chinese; nothing is written until every field
is right. The page is the committee's and the property manager's (and an administrator's), the chooser lists only the
communities of their scope, and a community typed in by hand outside it is refused exactly as one that does not exist.

The page also shows each of those communities' notice period with its legal basis, and a small form
(``/voting/communities/{community_id}/notice``) to set the community's own period as its rules of procedure require:
checked by the API's model (:class:`notice_api.NoticeDaysIn`) and the same bounds (not below the installation's
minimum, at most 90 days), the reason next to the field; another community's is "not found", before the form is read.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from community.ownership.service import UnknownCommunity
from community.voting.api_common import MANAGERS, communities_in_scope
from community.voting.notice import CommunityDaysRefused, NoticePeriod
from community.voting.notice_api import NoticeDaysIn
from community.voting.rules import SPECIAL_MATTERS, Matter
from community.voting.service import NoticeRefused, ProposalExists, VotingService
from community.voting.tally import Election, Proposal
from community.voting.web import ProposalIn
from webkit.auth import CLOCK, PRINCIPAL
from webkit.context_app import ContextApp
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.formatting import SHANGHAI
from webkit.pages import PageProblem, form_of, page, render

FORM_PATH: Final = "/voting/new"
FORM_SERVICE = web.AppKey("proposal_form_service", VotingService)
FIELDS: Final = ("community_id", "title", "matter", "body", "opens_at", "closes_at", "candidates", "seats")
LABELS: Final = {"community_id": "小区", "title": "标题", "matter": "表决事项", "body": "议题说明",
                 "opens_at": "开始时间", "closes_at": "截止时间", "candidates": "候选人", "seats": "应选名额"}
DEFAULT_WINDOW: Final = timedelta(days=7)
OPENING_HOUR: Final = time(9, 0)
NOTICE_PATH: Final = "/voting/communities/{community_id}/notice"
NOTICE_WORDS: Final = FieldWords({"notice_days": "公告期（天）"},
                                 {"notice_days": "公告期应填写整数天数，例如 20"})

DOMAIN_WORDS: Final = {
    "a proposal must close after it opens": ("closes_at", "截止时间必须晚于开始时间"),
    "only the owners' committee": ("candidates", "只有“选举业主委员会或者更换业主委员会成员”（第三项）以选举方式表决；"
                                                 "其他事项请不要填写候选人和应选名额"),
    "a candidate is listed twice": ("candidates", "同一位候选人填写了两次"),
    "seats must be between": ("seats", "应选名额须在 1 到候选人人数之间"),
}
"""The domain's refusals of a proposal (tally.Proposal), by how their message begins: the field, in words for people."""


def add_proposal_form(pages: ContextApp, service: VotingService) -> None:
    """Serve the form from the voting pages' sub-application (before it is attached)."""
    pages.app[FORM_SERVICE] = service
    pages.add_get(FORM_PATH, new_proposal_page)
    pages.add_post(FORM_PATH, create_proposal)
    pages.add_post(NOTICE_PATH, set_notice_period)


@dataclass
class Draft:
    """What the person typed, and what is wrong with it, field by field."""

    values: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def refuse(self, name: str, words: str) -> None:
        self.problems.setdefault(name, words)  # the first problem of a field is the one to fix first


@page(*MANAGERS)
async def new_proposal_page(request: web.Request) -> web.Response:
    communities = await _communities(request)
    return await _render(request, Draft(await _new_values(request, communities)), communities)


async def _new_values(request: web.Request, communities: list[tuple[str, str]]) -> dict[str, str]:
    """A new form's values: the one community when there is one, and a voting window from the day after the longest
    notice period of the person's communities ends (tomorrow on a test installation), at 09:00 — always a lawful
    opening, whichever community is chosen."""
    now = request.config_dict[CLOCK]()
    notice = max([period.required for period in (await _periods(request, communities)).values()],
                 default=request.app[FORM_SERVICE].notice)
    opens = datetime.combine((now + notice).astimezone(SHANGHAI).date() + timedelta(days=1), OPENING_HOUR, SHANGHAI)
    return {"title": "", "matter": "", "body": "", "candidates": "", "seats": "",
            "community_id": communities[0][0] if len(communities) == 1 else "",
            "opens_at": _local_input(opens), "closes_at": _local_input(opens + DEFAULT_WINDOW)}


@page(*MANAGERS)
async def create_proposal(request: web.Request) -> web.StreamResponse:
    """Open the proposal when every field is right (to its page), else the form again with the reasons."""
    service, principal, now = request.app[FORM_SERVICE], request[PRINCIPAL], request.config_dict[CLOCK]()
    draft = Draft(_values(await form_of(request)))
    proposal_id = f"p-{now.astimezone(SHANGHAI):%Y%m%d}-{secrets.token_hex(4)}"
    checked = _checked(draft, proposal_id)
    if checked is None:
        return await _render(request, draft, await _communities(request), status=400)
    data, proposal = checked
    try:
        await service.open_proposal_from_register(proposal, data.community, body=data.body,
                                                  created_by=principal.subject, now=now,
                                                  within=principal.has_community)
    except UnknownCommunity:  # none such, or not this person's: the same words, so nothing is told
        draft.refuse("community_id", "请从列表中选择您负责的小区")
    except NoticeRefused as short:  # the rule quoted, with the earliest lawful opening in Beijing time
        earliest = _local_input(short.refusal.earliest_opening).replace("T", " ")
        draft.refuse("opens_at", f"公告期不足：开始时间最早为 {earliest}（北京时间），即公告发布 "
                                 f"{short.refusal.required.days} 天以后。{short.refusal.rule_zh}")
    except ValueError as problem:  # voting opens now, and the register gives no roll to freeze
        draft.refuse("community_id", f"该小区的产权登记还不能生成业主名册，表决无法现在开始：请先登记产权，或把开始时间"
                                     f"定在登记完成之后（{problem}）")
    except ProposalExists:  # a random id taken: vanishingly rare, and nothing was written
        draft.general.append("未能保存，请再提交一次。")
    else:
        raise web.HTTPSeeOther(f"/voting/proposals/{proposal.proposal_id}")
    return await _render(request, draft, await _communities(request), status=422)


@page(*MANAGERS)
async def set_notice_period(request: web.Request) -> web.StreamResponse:
    """Set the community's own notice period (to the form's section when saved, else the page with the reason)."""
    service, principal, now = request.app[FORM_SERVICE], request[PRINCIPAL], request.config_dict[CLOCK]()
    community_id = request.match_info["community_id"]
    try:  # scope before the form: another's community is one that does not exist
        await service.community_notice(community_id, principal.has_community)
    except UnknownCommunity:
        raise _no_such_community() from None
    state = typed(await form_of(request), ("notice_days",), codes=("notice_days",))
    data = checked(NoticeDaysIn, state, NOTICE_WORDS)
    if data is None:
        return await _render_with_notice(request, community_id, state, 400)
    try:
        outcome = await service.set_community_notice(community_id, data.notice_days, by=principal.subject, now=now,
                                                     within=principal.has_community)
    except UnknownCommunity:
        raise _no_such_community() from None
    if isinstance(outcome, CommunityDaysRefused):
        state.refuse("notice_days", outcome.message_zh)
        return await _render_with_notice(request, community_id, state, 422)
    raise web.HTTPSeeOther(f"{FORM_PATH}#notice-{community_id}")


def _no_such_community() -> PageProblem:
    return PageProblem(404, "没有这个小区，链接可能有误。", title="小区不存在")


async def _render_with_notice(request: web.Request, community_id: str, state: FormState,
                              status: int) -> web.Response:
    """The page again, the proposal form as new, the notice period's form with what was typed and why it failed."""
    communities = await _communities(request)
    return await _render(request, Draft(await _new_values(request, communities)), communities, status=status,
                         notice_forms={community_id: state})


def _values(form: MultiDictProxy[str]) -> dict[str, str]:
    values = {name: form.get(name, "") for name in FIELDS}
    for name in ("body", "candidates"):  # a browser sends a textarea's lines with CRLF
        values[name] = values[name].replace("\r\n", "\n")
    return values


def _checked(draft: Draft, proposal_id: str) -> tuple[ProposalIn, Proposal] | None:
    """The API's request model and the domain's proposal from ``draft``, or None with its problems filled in."""
    values = draft.values
    payload: dict[str, Any] = {"proposal_id": proposal_id, "matter": values["matter"], "title": values["title"].strip(),
                               "body": values["body"],
                               "roll_from_register": {"community_id": values["community_id"].strip()}}
    for name in ("opens_at", "closes_at"):
        moment = _moment(draft, name)
        if moment is not None:
            payload[name] = moment
    candidates = [line.strip() for line in values["candidates"].split("\n") if line.strip()]
    seats = unicodedata.normalize("NFKC", values["seats"]).strip()
    if candidates or seats:  # an election: both, or the model says which is missing
        payload["election"] = {"candidates": candidates, **({"seats": seats} if seats else {})}
    try:
        data = ProposalIn.model_validate(payload)
    except ValidationError as invalid:
        for error in invalid.errors(include_url=False):
            name = _field_of(error["loc"])
            draft.refuse(name, _schema_words(name, error, blank=not draft.values[name].strip()))
        return None
    if draft.problems:
        return None
    election = Election(tuple(data.election.candidates), data.election.seats) if data.election else None
    try:
        proposal = Proposal(data.proposal_id, data.matter, data.title, data.opens_at, data.closes_at, election)
    except ValueError as refused:
        name, words = next(((name, words) for start, (name, words) in DOMAIN_WORDS.items()
                            if str(refused).startswith(start)), ("", str(refused)))
        if name:
            draft.refuse(name, words)
        else:
            draft.general.append(words)
        return None
    return data, proposal


def _moment(draft: Draft, name: str) -> datetime | None:
    """A Beijing wall-clock time from a datetime-local field (``2026-12-01T09:00``), as an aware UTC moment."""
    text = unicodedata.normalize("NFKC", draft.values[name]).strip()
    if not text:
        draft.refuse(name, f"请填写{LABELS[name]}")
        return None
    try:
        moment = datetime.fromisoformat(text) if len(text) <= 32 else None
    except ValueError:
        moment = None
    if moment is None:
        draft.refuse(name, f"{LABELS[name]}的格式应为 2026-12-01 09:00（北京时间）")
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)).astimezone(UTC)


def _field_of(location: tuple[int | str, ...]) -> str:
    """The form field of a place in the API's request body."""
    if location[:1] == ("election",):
        return "seats" if "seats" in location else "candidates"
    if location[:1] == ("roll_from_register",):
        return "community_id"
    name = str(location[0]) if location else ""
    return name if name in FIELDS else "body"


def _schema_words(name: str, error: Mapping[str, Any], blank: bool) -> str:
    """What the request model found wrong with the field ``name`` (``blank``: left empty), in words for the person
    who typed it."""
    label, kind, limits = LABELS[name], error["type"], error.get("ctx") or {}
    if name == "candidates" and kind in ("string_too_long", "string_too_short"):
        return "每位候选人的姓名为 1 到 64 个字"
    if blank or kind in ("missing", "string_too_short", "too_short"):
        return f"请选择{label}" if name in ("matter", "community_id") else f"请填写{label}"
    if kind == "string_too_long":
        return f"{label}最多 {limits.get('max_length')} 个字"
    if kind == "enum":
        return f"请从列表中选择{label}"
    if kind == "string_pattern_mismatch":
        return "请从列表中选择您负责的小区"
    if name == "seats":
        return "应选名额应为正整数"
    return f"{label}：{error['msg']}"


def _local_input(moment: datetime) -> str:
    """A moment as a datetime-local field shows it (Beijing time, to the minute)."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


async def _communities(request: web.Request) -> list[tuple[str, str]]:
    """(id, name) of the communities the person may open a proposal for: those of their scope that exist."""
    return await request.app[FORM_SERVICE].communities(communities_in_scope(request[PRINCIPAL]))


async def _periods(request: web.Request, communities: list[tuple[str, str]]) -> dict[str, NoticePeriod]:
    return {id_: await request.app[FORM_SERVICE].notice_period(id_) for id_, _ in communities}


async def _render(request: web.Request, draft: Draft, communities: list[tuple[str, str]],
                  status: int = 200, notice_forms: Mapping[str, FormState] | None = None) -> web.Response:
    periods = await _periods(request, communities)
    forms = {id_: (notice_forms or {}).get(id_) or FormState({"notice_days": str(period.community_days or "")})
             for id_, period in periods.items()}
    installation = request.app[FORM_SERVICE].notice
    return await render(request, "voting/new.html", {
        "values": draft.values, "problems": draft.problems, "general": draft.general, "labels": LABELS,
        "communities": communities, "matters": list(Matter), "special": SPECIAL_MATTERS,
        "election_matter": Matter.OWNERS_COMMITTEE, "form_path": FORM_PATH,
        "notice_days": max([p.days for p in periods.values()], default=installation.days),
        "installation_days": installation.days, "periods": periods, "notice_forms": forms,
        "notice_path": NOTICE_PATH,
    }, status=status)
