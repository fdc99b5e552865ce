"""Double entry of paper ballots (pure): a paper ballot is typed in twice, by two different committee members, and
counts only when the two entries agree; entries that disagree are held for review, and a third member's entry that
agrees with one of them settles it. Nothing typed is thrown away (the storage keeps every entry with its status).

Plain values, no I/O: the service passes the unit's open entries and the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from community.voting.tally import BallotChoice


@dataclass(frozen=True)
class PaperReading:
    """What a member read off one paper ballot."""

    unit_id: str
    choice: BallotChoice
    scan_ref: str
    received_at: datetime


@dataclass(frozen=True)
class TypedEntry:
    entry_id: int
    reading: PaperReading
    entered_by: str


def differences(first: PaperReading, second: PaperReading) -> tuple[str, ...]:
    """The fields two readings of one paper ballot disagree on."""
    return tuple(name for name in ("choice", "scan_ref", "received_at")
                 if getattr(first, name) != getattr(second, name))


@dataclass(frozen=True)
class Decision:
    """What a new entry does: `matched` is the earlier entry it agrees with (the ballot is confirmed), else it waits
    (`held` False: the first entry) or is held with the others (`held` True: `disagreeing` lists the fields)."""

    matched: TypedEntry | None
    held: bool
    disagreeing: tuple[str, ...] = ()
    same_clerk: bool = False


def decide(open_entries: Sequence[TypedEntry], reading: PaperReading, clerk: str) -> Decision:
    """How a new entry by `clerk` fares against the unit's entries that are neither confirmed nor refused."""
    if any(entry.entered_by == clerk for entry in open_entries):
        return Decision(None, held=False, same_clerk=True)  # a second entry must be independent
    for entry in open_entries:
        if not differences(entry.reading, reading):
            return Decision(entry, held=False)
    if not open_entries:
        return Decision(None, held=False)
    found = sorted({name for entry in open_entries for name in differences(entry.reading, reading)})
    return Decision(None, held=True, disagreeing=tuple(found))
