"""The paper ballots' API: a committee member enters a paper ballot (each is entered twice, by two members; see
:mod:`community.voting.paper_entry`), and the committee and property managers list every entry with its status.
Scope as for every proposal route (another community's proposal is an unknown one); the supervisor reads nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from community.voting.api_common import MANAGERS, SERVICE, Id, _body, _busy, _In, _proposal, refusal_error
from community.voting.audit import encode_choice
from community.voting.paper_entry import PaperReading
from community.voting.storage import LogConflict
from community.voting.tally import Approvals, Choice
from webkit.auth import CLOCK, PRINCIPAL
from webkit.identity import Role
from webkit.json_errors import json_error
from webkit.openapi import Route


class PaperBallotIn(_In):
    unit_id: Id
    choice: Literal["agree", "oppose", "abstain"] | None = None
    approve: list[str] | None = Field(default=None, description="Election ballots: the candidates approved")
    scan_ref: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = Field(
        description="Where the scan of the paper ballot is kept: a URL or a document-store key")
    received_at: AwareDatetime = Field(description="When the paper ballot was delivered to the committee")


class PaperEntryOut(BaseModel):
    status: Literal["pending", "held", "confirmed", "refused"]
    entry_id: int | None
    disagreeing: list[str] = Field(description="Held: the fields the unit's entries disagree on")
    log_sequence: int | None
    supersedes: int | None = Field(description="Confirmed: the online ballot it replaced (flagged), if any")


class PaperEntriesOut(BaseModel):
    entries: list[dict[str, object]]


async def enter_paper_ballot(request: web.Request) -> web.Response:
    data: PaperBallotIn = await _body(request, PaperBallotIn)
    proposal = (await _proposal(request)).proposal
    now = request.config_dict[CLOCK]()
    if (data.choice is None) == (data.approve is None):
        raise json_error(web.HTTPBadRequest, "give either choice (resolutions) or approve (elections)")
    if data.received_at > now:
        raise json_error(web.HTTPUnprocessableEntity, "received_at is in the future", field="received_at")
    choice = Choice(data.choice) if data.choice else Approvals(frozenset(data.approve or ()))
    reading = PaperReading(data.unit_id, choice, data.scan_ref, data.received_at)
    try:
        outcome = await request.app[SERVICE].enter_paper(proposal.proposal_id, reading, request[PRINCIPAL].subject,
                                                         now)
    except LogConflict:
        raise _busy() from None
    if outcome.refusal is not None:
        raise refusal_error(outcome.refusal)
    entry = outcome.log_entry
    out = PaperEntryOut(status=outcome.status, entry_id=outcome.entry_id,
                        disagreeing=list(outcome.disagreeing),
                        log_sequence=entry.sequence if entry else None, supersedes=entry.supersedes if entry else None)
    return web.json_response(out.model_dump(mode="json"), status=201 if outcome.status != "held" else 202)


async def list_paper_entries(request: web.Request) -> web.Response:
    proposal = (await _proposal(request)).proposal
    if not request[PRINCIPAL].has_any(MANAGERS):
        raise json_error(web.HTTPForbidden, "the committee and property managers list paper entries",
                         reason="not_entitled")
    found = await request.app[SERVICE].paper_entries(proposal.proposal_id)
    return web.json_response(PaperEntriesOut(entries=[{
        "entry_id": e.entry_id, "unit_id": e.unit_id, "choice": encode_choice(e.choice), "scan_ref": e.scan_ref,
        "received_at": _text(e.received_at), "entered_by": e.entered_by, "entered_at": _text(e.entered_at),
        "status": e.status, "log_sequence": e.log_sequence} for e in found]).model_dump(mode="json"))


def _text(moment: datetime) -> str:
    return moment.isoformat()


P = "/api/voting/proposals/{proposal_id}/paper-ballots"
PAPER_ROUTES = [
    Route("POST", P, enter_paper_ballot, "Enter a paper ballot (a committee member; each is entered twice, by two "
          "members: 201 pending or confirmed, 202 held for review when the entries disagree)", PaperBallotIn,
          PaperEntryOut, 201, (Role.COMMITTEE,), (400, 403, 404, 409, 422, 503)),
    Route("GET", P, list_paper_entries, "Every entry of the paper ballots, with its status", None, PaperEntriesOut,
          200, MANAGERS, (403, 404)),
]
