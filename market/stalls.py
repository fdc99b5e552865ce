"""The market, its stalls, the vendors who hold them and the scales at each stall.

A market is one installation, identified by the ``site`` of its devices' topics. A vendor's contact
is private (operators only); name and photo are shown at the stall with the licences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from market.licences import LicencePolicy, Offering, StallType

CODE: Final = re.compile(r"[\w.:-]{1,32}")  # the contract's stall and PLU codes (time-series tags)
HOTLINE: Final = re.compile(r"[0-9-]{3,20}")


@dataclass(frozen=True)
class Market:
    site: str
    name: str
    address: str
    complaint_hotline: str  # e.g. 12315, or the market office's number
    policy: LicencePolicy = field(default_factory=LicencePolicy)
    """What the market asks of its stalls beyond the law."""

    def __post_init__(self) -> None:
        if not HOTLINE.fullmatch(self.complaint_hotline):
            raise ValueError(f"complaint hotline {self.complaint_hotline!r}: digits and dashes, e.g. 12315")


@dataclass(frozen=True)
class Vendor:
    vendor_id: str
    name: str
    photo_ref: str | None = None
    contact_phone: str | None = None  # private
    self_producing: bool = False
    """A farmer selling their own produce (自产自销): no business licence at a stall selling only farm produce,
    identified by their identity card or village committee's certificate instead."""


@dataclass(frozen=True)
class Stall:
    stall: str
    name: str
    stall_type: StallType
    vendor_id: str | None = None
    offerings: frozenset[Offering] = frozenset()
    """What it sells (the licences it needs follow); none given: what its trade sells."""

    def __post_init__(self) -> None:
        if not CODE.fullmatch(self.stall):
            raise ValueError(f"stall code {self.stall!r}: letters, digits and _ . : - (at most 32), as scales send it")
        if not self.offerings:
            object.__setattr__(self, "offerings", self.stall_type.default_offerings)


@dataclass(frozen=True)
class ScaleRegistration:
    """A scale and the stall it stands at; ``online`` is None until the scale has said."""

    scale: str
    stall: str
    registered_at: datetime
    online: bool | None = None
    state_changed_at: datetime | None = None


@dataclass(frozen=True)
class StallTenure:
    """A stall's name and the vendor holding it from ``since`` until the next tenure: what a sale made
    then is attributed to, even after the stall is renamed or handed to another vendor."""

    stall: str
    name: str
    vendor_id: str | None
    since: datetime


def tenure_at(tenures: Iterable[StallTenure], at: datetime) -> StallTenure | None:
    """The tenure in force at ``at``: the latest that began by then; for a time before the first
    (a scale's clock behind, a record kept offline), the first: the stall as it was first registered."""
    ordered = sorted(tenures, key=lambda tenure: tenure.since)
    begun = [tenure for tenure in ordered if tenure.since <= at]
    if begun:
        return begun[-1]
    return ordered[0] if ordered else None
