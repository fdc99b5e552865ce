"""Visitor passes as the platform records them: who invited whom, for which doors and when, how often it was used.

The pass itself (`visitor_pass.VisitorPass`) is signed so a gate verifies it offline; revoking it, or its uses being
spent across gates, puts its QR credential hash on the blacklist of every gate whose doors it names (through the same
versioned whitelist sync as residents' cards), until the pass would have expired anyway. A gate reports a pass it
admitted or refused with the pass id as the event's ``credential``, which the platform hashes like any other one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from community.access.permissions import CredentialKind, credential_hash
from community.access.visitor_pass import VisitorPass


class PassStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    USED_UP = "used_up"
    EXPIRED = "expired"


def pass_credential_hash(pass_id: str, site_key: bytes) -> str:
    """The keyed hash under which gates blacklist a pass, and under which its gate events are recorded."""
    return credential_hash(CredentialKind.QR, pass_id, site_key)


@dataclass(frozen=True)
class VisitorPassRecord:
    visitor_pass: VisitorPass
    value_hash: str
    issued_at: datetime
    visitor_phone: str | None = None
    uses: int = 0
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def pass_id(self) -> str:
        return self.visitor_pass.pass_id

    @property
    def resident_id(self) -> str:
        return self.visitor_pass.resident_id

    def status(self, now: datetime) -> PassStatus:
        if self.revoked_at is not None:
            return PassStatus.REVOKED
        if now >= self.visitor_pass.valid_to:
            return PassStatus.EXPIRED
        if self.uses >= self.visitor_pass.max_uses:
            return PassStatus.USED_UP
        return PassStatus.ACTIVE

    def blacklisted(self, now: datetime) -> bool:
        """Whether gates must refuse it now: revoked or spent, and not yet expired (expiry refuses it anyway)."""
        return self.status(now) in (PassStatus.REVOKED, PassStatus.USED_UP)
