"""Organisations and what their people may act on (plain Python, no I/O).

An installation serves many communities (小区) and markets. A property management company manages some
communities, a market operator some markets, a street office or district market-supervision office oversees a
set of both, read-only. Every staff account belongs to one organisation and is assigned some of its
organisation's communities or markets; an owners' committee member and a resident are assigned their own
community. An administrator belongs to none and may act on everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from webkit.identity import NOTHING, Role, Scope

ORGANISATION_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SCOPE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""The shape of a community id and of a market's site id, as the services take them."""
MAX_ORGANISATION_NAME_CHARS = 100


class OrganisationKind(StrEnum):
    PROPERTY_COMPANY = "property_company"
    """物业服务企业: manages communities."""
    MARKET_OPERATOR = "market_operator"
    """市场开办者: runs markets."""
    SUPERVISION_OFFICE = "supervision_office"
    """街道办 / 市场监管所: oversees communities and markets, read-only."""


STAFF_ROLE = {
    OrganisationKind.PROPERTY_COMPANY: Role.PROPERTY_MANAGER,
    OrganisationKind.MARKET_OPERATOR: Role.MARKET_OPERATOR,
    OrganisationKind.SUPERVISION_OFFICE: Role.SUPERVISOR,
}
"""The staff role of each kind of organisation: an account with that role belongs to such an organisation."""
STAFF_ROLES = frozenset(STAFF_ROLE.values())
COMMUNITY_ROLES = frozenset({Role.RESIDENT, Role.COMMITTEE})
"""Roles held in one's own community, without an organisation."""


@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    name: str
    kind: OrganisationKind

    @property
    def holds_communities(self) -> bool:
        return self.kind is not OrganisationKind.MARKET_OPERATOR

    @property
    def holds_markets(self) -> bool:
        return self.kind is not OrganisationKind.PROPERTY_COMPANY


def check_new_organisation(organisation_id: str, name: str) -> str | None:
    """Why an organisation cannot be created with this id and name, or None."""
    if not ORGANISATION_ID.fullmatch(organisation_id):
        return "an organisation id is 1–64 letters, digits or . _ : -"
    name = name.strip()
    if not name or len(name) > MAX_ORGANISATION_NAME_CHARS or not name.isprintable():
        return f"an organisation's name is 1–{MAX_ORGANISATION_NAME_CHARS} printable characters"
    return None


def check_ids(ids: Iterable[str]) -> str | None:
    """Why these are not all community or market ids, or None."""
    bad = sorted(identifier for identifier in ids if not SCOPE_ID.fullmatch(identifier))
    # only a few, cut short: the message may be shown back to whoever sent them
    return f"not a community or market id: {', '.join(repr(b[:70]) for b in bad[:3])}" if bad else None


def check_organisation_scope(organisation: Organisation, scope: Scope) -> str | None:
    """Why ``organisation`` cannot hold ``scope``, or None: a property company holds communities, a market
    operator markets, a supervision office both."""
    if scope.everything:
        return "an organisation holds named communities and markets, never everything"
    if scope.markets and not organisation.holds_markets:
        return f"a {organisation.kind.value} holds communities, not markets"
    if scope.communities and not organisation.holds_communities:
        return f"a {organisation.kind.value} holds markets, not communities"
    return check_ids((*scope.communities, *scope.markets))


def check_membership(roles: Iterable[Role], organisation: Organisation | None) -> str | None:
    """Why an account with ``roles`` cannot belong to ``organisation`` (None: to no organisation), or None."""
    roles = frozenset(roles)
    staff = roles & STAFF_ROLES
    if Role.ADMIN in roles:
        # whatever else it holds: an administrator's scope is everything, which no organisation holds
        if organisation is not None:
            return "an administrator belongs to no organisation: they act on the whole installation"
        return None
    if organisation is None:
        if len(staff) > 1:
            return f"one account is staff of one organisation: not {' and '.join(sorted(staff))}"
        if staff:
            return f"a {', '.join(sorted(staff))} belongs to an organisation (name it: --organisation)"
        return None
    if not staff:
        return "residents and committee members belong to no organisation: they are assigned their community"
    if staff - {STAFF_ROLE[organisation.kind]}:
        return (f"organisation {organisation.organisation_id!r} is a {organisation.kind.value}: its staff are "
                f"{STAFF_ROLE[organisation.kind].value}s")
    return None


def check_assignment(roles: Iterable[Role], organisation: Organisation | None, organisation_scope: Scope,
                     wanted: Scope) -> str | None:
    """Why an account with ``roles`` (in ``organisation``, which holds ``organisation_scope``) cannot be assigned
    ``wanted``, or None."""
    roles = frozenset(roles)
    problem = check_ids((*wanted.communities, *wanted.markets))
    if problem or wanted.everything:
        return problem or "only an administrator acts on everything"
    if Role.ADMIN in roles:
        return None if wanted == NOTHING else "an administrator acts on every community and market: assign nothing"
    if organisation is not None:
        outside = (wanted.communities - organisation_scope.communities) | (wanted.markets - organisation_scope.markets)
        if outside:
            return (f"not held by organisation {organisation.organisation_id!r}: {', '.join(sorted(outside))} "
                    "(assign it to the organisation first)")
        return None
    if roles & STAFF_ROLES and wanted != NOTHING:
        # else a manager who is also a resident would act as a manager on their home community
        return "staff are assigned what their organisation holds: name the organisation first (--organisation)"
    if wanted.markets:
        return "markets are assigned to staff of a market operator or a supervision office"
    if Role.COMMITTEE in roles and len(wanted.communities) > 1:
        return "an owners' committee member acts in one community"
    if wanted.communities and not roles & COMMUNITY_ROLES:
        return "communities are assigned to staff of an organisation, residents and committee members"
    return None


def held_elsewhere(organisation: Organisation, scope: Scope,
                   holdings: Iterable[tuple[Organisation, Scope]]) -> dict[str, frozenset[str]]:
    """The ids of ``scope`` that another organisation of ``organisation``'s kind holds already, by that
    organisation's id. A community with two property companies, or a market with two operators, is usually a
    mistake, or a handover under way; offices overlap by design (a street office and a market-supervision office
    may both oversee a market), so they are never reported."""
    if organisation.kind is OrganisationKind.SUPERVISION_OFFICE:
        return {}
    found = {}
    for other, held in holdings:
        if other.kind is organisation.kind and other.organisation_id != organisation.organisation_id:
            shared = (scope.communities & held.communities) | (scope.markets & held.markets)
            if shared:
                found[other.organisation_id] = shared
    return found
