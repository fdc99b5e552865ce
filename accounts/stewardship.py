"""Who looks after whose account (plain Python, no I/O): who may invite staff, and to what; whose password a
person may reset and whose account they may disable; who may hand residents their activation letters.

An administrator acts on every account. A property manager or a market operator acts within their own
organisation and scope: they invite colleagues to a role they hold themselves and to communities or markets they
are assigned; they reset and disable the accounts of colleagues whose scope is within theirs; a property manager
also looks after the residents and committee members of their communities. Nobody but an administrator touches an
administrator's account; integrations' accounts are looked after through their tokens (``/api/accounts/tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from accounts.domain import MAX_DISPLAY_NAME_CHARS
from accounts.one_time_codes import INVITATION_MAX_DAYS
from accounts.organisations import COMMUNITY_ROLES, STAFF_ROLES, check_ids
from webkit.identity import NOTHING, Principal, Role, Scope

STEWARDS: Final = frozenset({Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR})
"""The staff who look after their colleagues' accounts (and, for property managers, residents'): the routes'
roles (an administrator passes every guard). A supervisor only reads."""
LETTER_ISSUERS: Final = frozenset({Role.PROPERTY_MANAGER})
"""Who issues residents' activation letters, for their communities."""


@dataclass(frozen=True)
class Steward:
    """Someone acting on others' accounts: their principal (roles and scope now) and organisation."""

    principal: Principal
    organisation_id: str | None
    integration: bool = False
    """An integration token's account: it invites no one and resets nothing (a leaked token would make accounts)."""


@dataclass(frozen=True)
class Ward:
    """An account as its stewards see it."""

    account_id: str
    roles: frozenset[Role]
    organisation_id: str | None
    scope: Scope
    integration: bool = False


@dataclass(frozen=True)
class InvitationTerms:
    role: Role
    display_name: str
    organisation_id: str | None
    scope: Scope
    days: int


def may_look_after(steward: Steward, ward: Ward) -> bool:
    """Whether ``steward`` may reset ``ward``'s password or disable their account; when not, the account is
    answered as if it did not exist."""
    principal = steward.principal
    if steward.integration or ward.integration:
        return False
    if principal.is_admin:
        return True
    if Role.ADMIN in ward.roles or not principal.roles & STEWARDS:
        return False
    staff = ward.roles & STAFF_ROLES
    if staff:
        return (steward.organisation_id is not None and ward.organisation_id == steward.organisation_id
                and staff <= principal.roles and principal.scope.covers(ward.scope))
    communities = ward.scope.communities
    return (Role.PROPERTY_MANAGER in principal.roles and bool(ward.roles & COMMUNITY_ROLES) and bool(communities)
            and not ward.scope.markets and communities <= principal.scope.communities)


def committee_problem(steward: Steward, ward: Ward) -> str | None:
    """Why ``steward`` may not record ``ward`` as a member of their community's owners' committee (业主委员会), or
    remove them, or None. The owners' assembly elects the committee; the property manager of the community (or an
    administrator) records the result: for a resident of one community, on an account they look after."""
    if not steward.principal.is_admin and Role.PROPERTY_MANAGER not in steward.principal.roles:
        return "the community's property manager or an administrator records the owners' committee"
    if Role.RESIDENT not in ward.roles or ward.roles & STAFF_ROLES or Role.ADMIN in ward.roles:
        return "a committee member is a resident (an owner) of the community: this account is not a resident's"
    if len(ward.scope.communities) != 1 or ward.scope.markets or ward.scope.everything:
        return "a committee member belongs to one community: this resident's account is assigned none or several"
    return None


def invitation_problem(steward: Steward, terms: InvitationTerms) -> str | None:
    """Why ``steward`` may not issue an invitation on ``terms``, or None. (Whether the organisation holds the
    scope is the tenancy's to say, :func:`accounts.organisations.check_assignment`, when the invitation is made
    and again when it is taken up.)"""
    principal = steward.principal
    if steward.integration:
        return "an integration's token invites no one: an administrator or staff does"
    if not 1 <= terms.days <= INVITATION_MAX_DAYS:
        return f"an invitation is valid 1 to {INVITATION_MAX_DAYS} days"
    name = terms.display_name.strip()
    if not name or len(name) > MAX_DISPLAY_NAME_CHARS or not name.isprintable():
        return f"the invitee's name has 1–{MAX_DISPLAY_NAME_CHARS} printable characters"
    if terms.role in COMMUNITY_ROLES:
        return ("residents and committee members are not invited: their property manager gives them an activation "
                "letter (POST /api/accounts/activation-codes)")
    if terms.role is Role.ADMIN:
        if not principal.is_admin:
            return "only an administrator invites an administrator"
        if terms.organisation_id is not None or terms.scope != NOTHING:
            return "an administrator belongs to no organisation and acts on everything: name neither"
        return None
    return _staff_invitation_problem(steward, terms)


def _staff_invitation_problem(steward: Steward, terms: InvitationTerms) -> str | None:
    principal = steward.principal
    scope = terms.scope
    problem = check_ids((*scope.communities, *scope.markets))
    if problem:
        return problem
    if scope.everything or (not scope.communities and not scope.markets):
        return "name the communities or markets the invitee will act on"
    if principal.is_admin:
        return None if terms.organisation_id else "name the organisation the invitee will work for"
    if terms.role not in principal.roles:
        return f"you invite to a role you hold ({', '.join(sorted(principal.roles & STEWARDS))})"
    if steward.organisation_id is None:
        return "you belong to no organisation: an administrator places you in one first"
    if terms.organisation_id not in (None, steward.organisation_id):
        return f"you invite to your own organisation ({steward.organisation_id}) only"
    if not principal.scope.covers(scope):
        return "an invitation's communities and markets are within your own"
    return None


def may_see_invitation(steward: Steward, organisation_id: str | None, scope: Scope) -> bool:
    """Whether ``steward`` sees (and may revoke) an invitation to ``organisation_id`` for ``scope``: an
    administrator every one; staff those to their organisation within their scope."""
    if steward.integration:
        return False
    if steward.principal.is_admin:
        return True
    return (steward.organisation_id is not None and organisation_id == steward.organisation_id
            and steward.principal.scope.covers(scope))
