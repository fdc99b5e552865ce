"""A community's own notice period in the voting API (``/api/voting/communities/{community_id}/notice``): read by
the committee, the property managers and the supervisor; set by the committee and the property managers. Its rules of
procedure (业主大会议事规则) may require more days than the installation's minimum (SC_VOTING_NOTICE_DAYS), never
fewer (422 ``below_minimum``), and at most :data:`notice.MAX_COMMUNITY_NOTICE_DAYS` (422 ``above_bound``). Every
proposal and meeting of the community then needs the longer of the two (:mod:`community.voting.notice`).

Scope first, as everywhere in the voting API: another community's period is answered as an unknown community's (404,
the same body), whatever the caller's roles, and before the body is judged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field

from community.ownership.service import UnknownCommunity
from community.voting.api_common import MANAGERS, SERVICE, SUPERVISED, _body, _In
from community.voting.notice import CommunityDaysRefused
from community.voting.service import CommunityNotice
from webkit.auth import CLOCK, PRINCIPAL
from webkit.json_errors import json_error
from webkit.openapi import Route


class NoticeDaysIn(_In):
    notice_days: Annotated[int, Field(description="Days between a vote's or meeting's notice and its opening, as the "
                                                  "community's rules of procedure require: at least the "
                                                  "installation's minimum, at most 90")]


class CommunityNoticeOut(BaseModel):
    community_id: str
    notice_days: int = Field(description="The notice the community's votes and meetings need: the longer of the "
                                         "installation's minimum and the community's own period")
    installation_days: int = Field(description="SC_VOTING_NOTICE_DAYS (15 by law; 0 on a test installation)")
    community_days: int | None = Field(description="The community's own period; null: it set none")
    by_community: bool = Field(description="Whether the community's own period decides (it is the longer)")
    set_by: str | None
    set_at: datetime | None
    basis_zh: str
    basis_en: str


def notice_out(notice: CommunityNotice) -> CommunityNoticeOut:
    period, stored = notice.period, notice.stored
    return CommunityNoticeOut(
        community_id=notice.community_id, notice_days=period.days, installation_days=period.installation.days,
        community_days=period.community_days, by_community=period.by_community,
        set_by=stored.set_by if stored else None, set_at=stored.set_at if stored else None,
        basis_zh=period.basis_zh, basis_en=period.basis_en)


def _unknown_community(community_id: str) -> web.HTTPException:
    return json_error(web.HTTPNotFound, f"no community {community_id!r}")


async def get_notice(request: web.Request) -> web.Response:
    community_id = request.match_info["community_id"]
    try:
        notice = await request.app[SERVICE].community_notice(community_id, request[PRINCIPAL].has_community)
    except UnknownCommunity:
        raise _unknown_community(community_id) from None
    return web.json_response(notice_out(notice).model_dump(mode="json"))


async def set_notice(request: web.Request) -> web.Response:
    service, principal, community_id = request.app[SERVICE], request[PRINCIPAL], request.match_info["community_id"]
    try:  # scope before the body: another's community is unknown, whatever is sent
        await service.community_notice(community_id, principal.has_community)
        data: NoticeDaysIn = await _body(request, NoticeDaysIn)
        outcome = await service.set_community_notice(community_id, data.notice_days, by=principal.subject,
                                                     now=request.config_dict[CLOCK](),
                                                     within=principal.has_community)
    except UnknownCommunity:
        raise _unknown_community(community_id) from None
    if isinstance(outcome, CommunityDaysRefused):
        raise json_error(web.HTTPUnprocessableEntity, outcome.message_en, error_zh=outcome.message_zh,
                         reason=outcome.problem.value, field="notice_days")
    return web.json_response(notice_out(outcome).model_dump(mode="json"))


C = "/api/voting/communities/{community_id}/notice"
NOTICE_ROUTES = [
    Route("GET", C, get_notice, "The community's notice period: the installation's minimum, its own period (its "
          "rules of procedure) and the one its votes and meetings need, with the legal basis (the supervisor reads "
          "it too)", None, CommunityNoticeOut, 200, (*MANAGERS, *SUPERVISED), (404,)),
    Route("PUT", C, set_notice, "Set the community's own notice period (its rules of procedure): 422 below_minimum "
          "under the installation's minimum, 422 above_bound over 90 days", NoticeDaysIn, CommunityNoticeOut, 200,
          MANAGERS, (400, 404, 422)),
]
