"""What the voting API's modules share: the service on the application, who acts (managers, voters, the
supervisor), request bodies read against their models, the proposal named in the path for those entitled to it (scope
first: another community's proposal is answered as an unknown one), and every rule broken as one JSON error with its
status (:data:`REFUSAL_STATUS`, the pages' table too). ``web.py`` (proposals, ballots, results) and ``paper_api.py``
(paper ballots) serve their routes with these."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from community.voting.deliberation import CommentRefusal
from community.voting.service import ProposalState, UnknownProposal, VotingService
from community.voting.storage import RollState
from community.voting.tally import BallotRefusal, VoterRoll
from webkit.auth import CLOCK, PRINCIPAL
from webkit.identity import Principal, Role
from webkit.json_errors import json_error

SERVICE = web.AppKey("voting_service", VotingService)

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
MANAGERS = (Role.COMMITTEE, Role.PROPERTY_MANAGER)
VOTERS = (Role.RESIDENT, Role.COMMITTEE)
SUPERVISED = (Role.SUPERVISOR,)
"""Who reads, beside those taking part, what a proposal shows of how it goes (never the named record): the routes
that pass ``supervised=True`` to :func:`_proposal`."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

REFUSAL_STATUS: dict[BallotRefusal | CommentRefusal, int] = {
    BallotRefusal.WRONG_PROPOSAL: 422,
    BallotRefusal.NOT_OPEN_YET: 409,
    BallotRefusal.VOTING_CLOSED: 409,
    BallotRefusal.ROLL_NOT_FROZEN: 409,
    BallotRefusal.DELEGATION_EXISTS: 409,
    BallotRefusal.PAPER_BALLOT_COUNTS: 409,
    BallotRefusal.PAPER_EXISTS: 409,
    BallotRefusal.PAPER_RECEIVED_AFTER_CLOSE: 409,
    BallotRefusal.SAME_CLERK: 409,
    BallotRefusal.UNIT_NOT_ON_ROLL: 422,
    BallotRefusal.NOT_AN_OWNER: 403,
    BallotRefusal.NO_DELEGATION: 403,
    BallotRefusal.DOUBLE_REPRESENTATION: 403,
    BallotRefusal.WRONG_OPTION: 422,
    BallotRefusal.TOO_MANY_CANDIDATES: 422,
    CommentRefusal.NOT_ON_ROLL: 403,
    CommentRefusal.VOTING_CLOSED: 409,
    CommentRefusal.EMPTY: 422,
    CommentRefusal.TOO_LONG: 422,
}
"""The HTTP status of every rule broken, for the API and the pages alike: 403 who may not, 409 not now (or not
again), 422 what is asked does not exist or does not fit the proposal."""

_ERROR_KINDS: dict[int, type[web.HTTPException]] = {
    403: web.HTTPForbidden, 409: web.HTTPConflict, 422: web.HTTPUnprocessableEntity}


def refusal_error(refusal: BallotRefusal | CommentRefusal, message_en: str | None = None) -> web.HTTPException:
    """The JSON error for a refusal: its English and Chinese messages and its code, with its status."""
    return json_error(_ERROR_KINDS[REFUSAL_STATUS[refusal]], message_en or refusal.message_en,
                      error_zh=refusal.message_zh, reason=refusal.value)


async def _body(request: web.Request, model: type[_In]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as invalid:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                   for e in invalid.errors(include_url=False, include_input=False)]
        raise json_error(web.HTTPBadRequest, "the request body breaks the schema", details=details) from None

async def _proposal(request: web.Request, *, supervised: bool = False) -> ProposalState:
    """The proposal named in the path, for those entitled to it: the owners on its roll (before a
    roll from the register is frozen: the owners the register lists now), their proxies, the
    committee and property managers — and, where ``supervised``, the supervisor. The roll is
    published to them, not to all. Outside the caller's scope it does not exist (404, as for an
    unknown id), whatever the caller's roles."""
    service, proposal_id, principal = request.app[SERVICE], request.match_info["proposal_id"], request[PRINCIPAL]
    try:
        state = await service.state(proposal_id, request.config_dict[CLOCK]())
    except UnknownProposal:
        raise _unknown_proposal(proposal_id) from None
    if not in_scope(principal, state.community_id):
        raise _unknown_proposal(proposal_id)
    if not (state.is_owner(principal.subject) or principal.has_any(MANAGERS)
            or (supervised and principal.has_any(SUPERVISED))
            or principal.subject in await service.delegates(state.proposal.proposal_id)):
        raise json_error(web.HTTPForbidden, "only the owners on this proposal's roll, their proxies, the committee "
                         "and property managers take part in it", reason="not_entitled")
    return state


def _unknown_proposal(proposal_id: str) -> web.HTTPException:
    return json_error(web.HTTPNotFound, f"no proposal {proposal_id!r}")


def in_scope(principal: Principal, community_id: str | None) -> bool:
    """Whether a proposal of ``community_id`` is the principal's to see: one of its communities; a proposal of no
    community (created before proposals had one, and not attributable) only an administrator's."""
    if community_id is None:
        return principal.is_admin or principal.scope.everything
    return principal.has_community(community_id)


def communities_in_scope(principal: Principal) -> frozenset[str] | None:
    """The communities whose proposals a listing shows the principal; None: all (an administrator)."""
    return None if principal.is_admin or principal.scope.everything else principal.scope.communities


def _frozen_roll(state: ProposalState) -> VoterRoll:
    if state.roll is None:
        raise _not_frozen(state.roll_state)
    return state.roll


def _busy() -> web.HTTPServiceUnavailable:
    # many writers at one instant took every retry: nothing was recorded, and trying again will do
    return json_error(web.HTTPServiceUnavailable, "too many ballots at once: nothing was recorded, try again",
                      headers={"Retry-After": "1"}, error_zh="同时提交的选票较多，未能记录，请重试", reason="busy")


def _not_frozen(state: RollState) -> web.HTTPException:
    return refusal_error(BallotRefusal.ROLL_NOT_FROZEN,
                         None if state.problem is None else f"the register gave no roll: {state.problem}")
