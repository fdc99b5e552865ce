"""The API's list of proposals (``GET /api/voting/proposals``): what it takes — ``?community_id=``, ``?status=``, a
page (``?limit=``, ``?offset=``) — and what it tells the caller of each proposal: its terms and status, and where the
caller stands in it (on its roll? the units they may vote for, and whether their ballot counts for each).

Which proposals: those of the caller's communities (their account's scope; an administrator's, all), whatever their
part in them — an owner sees the proposals of their compound and whether they are on the roll, the committee,
property managers and supervisors their communities'. Opening one stays for those it is open to (``GET
.../{proposal_id}``: the owners on its roll, their proxies, the committee and property managers, the supervisor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from community.voting.participation import MyUnit, Phase, phase_of, units_of
from community.voting.service import VotingService
from webkit.json_errors import json_error

DEFAULT_PAGE: Final = 50
MAX_PAGE: Final = 200
COMMUNITY_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""A community id as the API's bodies take it (``web.Id``)."""


@dataclass(frozen=True)
class ListQuery:
    community_id: str | None
    phase: Phase | None
    limit: int
    offset: int


def read_list_query(request: web.Request) -> ListQuery:
    """The list's query string, or a 400 naming what is wrong."""
    community_id = request.query.get("community_id")
    if community_id is not None and not COMMUNITY_ID.fullmatch(community_id):
        raise json_error(web.HTTPBadRequest, "community_id must be 1 to 64 letters, digits or . _ : -",
                         field="community_id")
    status = request.query.get("status")
    if status is not None and status not in {phase.value for phase in Phase}:
        raise json_error(web.HTTPBadRequest, f"status must be one of: {', '.join(p.value for p in Phase)}",
                         field="status")
    return ListQuery(community_id, Phase(status) if status is not None else None,
                     _whole_number(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE),
                     _whole_number(request, "offset", 0, 0, 10**9))


def _whole_number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise json_error(web.HTTPBadRequest, f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)


class MyUnitOut(BaseModel):
    unit_id: str
    label: str
    capacity: Literal["owner", "proxy"]
    voted: bool | None = Field(description="Whether a ballot of the caller's counts for the unit; null unless "
                                            "voting is open")
    blocked: str | None = Field(description="Why the caller cannot vote for the unit (someone else speaks for it), "
                                            "as a ballot refusal's reason code; null when they can")


class ProposalSummaryOut(BaseModel):
    proposal_id: str
    community_id: str | None = Field(description="Null only for a proposal created before proposals had a "
                                                 "community, which administrators alone see")
    matter: str
    matter_zh: str
    title: str
    opens_at: datetime
    closes_at: datetime
    election: bool
    status: Literal["upcoming", "open", "closed"] = Field(
        description="open only with a frozen roll: past its opening without one, a proposal is still upcoming")
    roll_frozen: bool
    result_published: bool
    on_roll: bool = Field(description="The caller owns a unit on the roll (before it is frozen: in the ownership "
                                      "register now)")
    may_vote: bool = Field(description="Voting is open and the caller may cast a ballot for at least one unit")
    my_units: list[MyUnitOut] = Field(description="The units on the frozen roll the caller owns or is a proxy for")


class ProposalsPage(BaseModel):
    """A page of the proposals the caller may see, the newest first (by closing time); ``next_offset`` is null on
    the last page."""

    items: list[ProposalSummaryOut]
    limit: int
    offset: int
    next_offset: int | None


async def summary(service: VotingService, proposal_id: str, subject: str, now: datetime) -> ProposalSummaryOut:
    """A proposal as the list shows it to ``subject`` at ``now``."""
    state = await service.state(proposal_id, now)
    proposal = state.proposal
    phase = phase_of(proposal, now, state.roll is not None)
    delegations = await service.delegations(proposal_id)
    entries = await service.log(proposal_id) if phase is Phase.OPEN else []
    mine = units_of(subject, state.roll, delegations, entries)
    published = phase is Phase.CLOSED and await service.published(proposal_id) is not None
    return ProposalSummaryOut(
        proposal_id=proposal.proposal_id, community_id=state.community_id, matter=proposal.matter.value,
        matter_zh=proposal.matter.label_zh, title=proposal.title, opens_at=proposal.opens_at,
        closes_at=proposal.closes_at, election=proposal.election is not None, status=phase.value,
        roll_frozen=state.roll is not None, result_published=published, on_roll=state.is_owner(subject),
        may_vote=phase is Phase.OPEN and any(unit.blocked_by is None for unit in mine),
        my_units=[_my_unit_out(unit, phase) for unit in mine])


def _my_unit_out(unit: MyUnit, phase: Phase) -> MyUnitOut:
    return MyUnitOut(unit_id=unit.unit.unit_id, label=unit.unit.label, capacity=unit.capacity.value,
                     voted=unit.counted is not None if phase is Phase.OPEN else None,
                     blocked=unit.blocked_by.value if unit.blocked_by is not None else None)
