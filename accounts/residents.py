"""Where the accounts learn who lives in a community, for the residents' activation letters: a small interface
(:class:`ResidentDirectory`) the composition root implements over the access service's directory, as the accounts
sit below the community context and import nothing of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DirectoryResident:
    """A person of a community's directory, as an activation letter addresses them."""

    resident_id: str
    """Their id in the directory, which becomes their account id (the owner id the voter roll uses)."""
    community_id: str
    unit_id: str
    name: str
    active: bool
    """False once moved out or revoked: no letter is issued for them, and theirs no longer works."""


class ResidentDirectory(Protocol):
    async def community_name(self, community_id: str) -> str | None:
        """The community's name, or None when there is no such community."""

    async def communities(self) -> list[tuple[str, str]]:
        """Every community's id and name (an administrator's choice of community)."""

    async def residents(self, community_id: str) -> list[DirectoryResident]:
        """The community's residents, those moved out included."""

    async def resident(self, resident_id: str) -> DirectoryResident | None:
        """The resident, wherever they live, or None."""


class NoResidents:
    """A directory with no one in it: an installation whose accounts are served without the community context
    issues no activation letters."""

    async def community_name(self, community_id: str) -> str | None:
        return None

    async def communities(self) -> list[tuple[str, str]]:
        return []

    async def residents(self, community_id: str) -> list[DirectoryResident]:
        return []

    async def resident(self, resident_id: str) -> DirectoryResident | None:
        return None
