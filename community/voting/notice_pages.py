"""Public notices (公示/公告) of the owners' decisions, for every signed-in resident of the community — owners,
family members and tenants alike, not only those on a roll (《物业管理条例》 Art. 12: the owners' assembly's decisions
are announced to all owners; the notice of a meeting goes to all owners, Art. 14):

* ``/voting/notices`` — the archive: every notice of the person's communities, newest first — each proposal's notice
  (published when it was created), each published result, and each meeting's notice and minutes;
* ``/voting/notices/{proposal_id}`` — a proposal's notice: the matter, the text, the notice period (from the notice's
  publication to the opening of voting, against the minimum the installation requires), the voting window and the
  rule that decides it;
* ``/voting/notices/{proposal_id}/result`` — its result notice once published: agree, oppose, abstain and not voted
  by area and heads, which Art. 278 criteria were met and by how much, the log's chain head and the roll digest to
  recount against. No names: the split owners are counted, not listed.

Each has a printable A4 version (``?print=1``: print CSS, no navigation) for the noticeboard. Scope as every voting
page: a proposal of another community is "not found", as one that does not exist. Meetings add theirs through
:data:`MEETING_NOTICES` (``meeting_pages.py``), so this module does not import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from aiohttp import web

from community.voting.api_common import communities_in_scope, in_scope
from community.voting.notice import LEGAL_MINIMUM_DAYS, RULE_ZH
from community.voting.publication import approx
from community.voting.service import ProposalState, UnknownProposal, VotingService
from webkit.auth import CLOCK, PRINCIPAL
from webkit.context_app import ContextApp
from webkit.identity import Principal, Role
from webkit.pages import NavLink, PageProblem, add_navigation, page, render

NOTICE_SERVICE = web.AppKey("notice_pages_service", VotingService)
READERS: Final = (Role.RESIDENT, Role.COMMITTEE, Role.PROPERTY_MANAGER, Role.SUPERVISOR)
MAX_ARCHIVED: Final = 300
"""Proposals whose notices the archive lists (a compound votes a few times a year)."""


@dataclass(frozen=True)
class ArchivedNotice:
    """One notice in the archive."""

    kind: str
    """表决公告, 表决结果公告, 会议通知, 会议纪要"""
    title: str
    community: str
    published_at: datetime | None
    href: str


class MeetingNotices(Protocol):
    async def __call__(self, request: web.Request, principal: Principal) -> list[ArchivedNotice]: ...


MEETING_NOTICES = web.AppKey("meeting_notices", MeetingNotices)
"""The meetings' notices for the archive, when the meeting pages are served."""


def add_notice_pages(pages: ContextApp, app: web.Application, service: VotingService) -> None:
    """Serve the notices from the voting pages' sub-application (before it is attached)."""
    pages.app[NOTICE_SERVICE] = service
    add_navigation(app, NavLink("公告", "/voting/notices", READERS))
    pages.add_get("/voting/notices", notice_archive)
    pages.add_get("/voting/notices/{proposal_id}", proposal_notice)
    pages.add_get("/voting/notices/{proposal_id}/result", result_notice)


def printable(request: web.Request) -> bool:
    return request.query.get("print") == "1"


async def community_names(service: VotingService, principal: Principal) -> dict[str, str]:
    return dict(await service.communities(communities_in_scope(principal)))


@page(*READERS)
async def notice_archive(request: web.Request) -> web.Response:
    service, principal = request.app[NOTICE_SERVICE], request[PRINCIPAL]
    names = await community_names(service, principal)
    notices: list[ArchivedNotice] = []
    for proposal_id in await service.proposal_ids(MAX_ARCHIVED, communities_in_scope(principal)):
        state = await service.state(proposal_id, request.config_dict[CLOCK]())
        community = names.get(state.community_id or "", state.community_id or "")
        title = state.proposal.title
        notices.append(ArchivedNotice("表决公告", title, community, state.notice_published_at,
                                      f"/voting/notices/{proposal_id}"))
        published = await service.published(proposal_id)
        if published is not None:
            notices.append(ArchivedNotice("表决结果公告", title, community, published.closed_at,
                                          f"/voting/notices/{proposal_id}/result"))
    meetings = request.config_dict.get(MEETING_NOTICES)
    if meetings is not None:
        notices += await meetings(request, principal)
    notices.sort(key=lambda n: (n.published_at is not None, n.published_at or datetime.min), reverse=True)
    return await render(request, "voting/notices.html", {"notices": notices})


async def _state(request: web.Request) -> ProposalState:
    try:
        state = await request.app[NOTICE_SERVICE].state(request.match_info["proposal_id"],
                                                        request.config_dict[CLOCK]())
    except UnknownProposal:
        raise _no_such_notice() from None
    if not in_scope(request[PRINCIPAL], state.community_id):
        raise _no_such_notice()
    return state


def _no_such_notice() -> PageProblem:
    return PageProblem(404, "没有这则公告，链接可能有误。", title="公告不存在")


@page(*READERS)
async def proposal_notice(request: web.Request) -> web.Response:
    state = await _state(request)
    service = request.app[NOTICE_SERVICE]
    body, _ = await service.text(state.proposal.proposal_id)
    names = await community_names(service, request[PRINCIPAL])
    published_at, opens_at = state.notice_published_at, state.proposal.opens_at
    period = await service.notice_period(state.community_id)  # the community's period as it stands now
    return await render(request, "voting/notice.html", {
        "state": state, "proposal": state.proposal, "body": body, "print": printable(request),
        "community": names.get(state.community_id or "", state.community_id or ""),
        "notice_days": None if published_at is None else round((opens_at - published_at).total_seconds() / 86400, 1),
        "required_days": period.days, "legal_days": LEGAL_MINIMUM_DAYS,
        "rule_zh": f"{period.basis_zh}；{RULE_ZH}" if period.by_community else RULE_ZH,
        "published": await service.published(state.proposal.proposal_id),
    })


@page(*READERS)
async def result_notice(request: web.Request) -> web.Response:
    state = await _state(request)
    service = request.app[NOTICE_SERVICE]
    proposal_id = state.proposal.proposal_id
    published = await service.published(proposal_id)
    names = await community_names(service, request[PRINCIPAL])
    context: dict[str, Any] = {
        "state": state, "proposal": state.proposal, "published": published, "print": printable(request),
        "community": names.get(state.community_id or "", state.community_id or ""), "approx": approx,
        "breakdown": None, "elected": (), "document": None,
    }
    if published is not None:
        context["breakdown"] = await service.breakdown(proposal_id)
        context["document"] = published.result
        context["elected"] = tuple(published.result.get("elected", ()))
    return await render(request, "voting/result_notice.html", context)
