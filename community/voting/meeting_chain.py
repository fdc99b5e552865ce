"""A meeting's hash chain: its notice and its published minutes, chained as a proposal's log chains ballots
(:mod:`community.voting.audit`: SHA-256 over canonical JSON — keys sorted, no spaces, UTF-8 unescaped, times in UTC
with microseconds — each entry naming the previous entry's hash).

The chain begins at the **meeting digest**: the meeting's terms (community, title, kind, form, time, place). Entry 1
is the **notice**, with the agenda (each item's proposal and when its voting opens) and each material's SHA-256, so
the agenda and materials owners were given cannot be changed unseen. Entry 2 is the **minutes**: the digest of their
text, who drafted and approved them and when they were published, and for each agenda item the head of its
proposal's log published at close (length and last hash; null while its vote has not closed), so the minutes are
bound to the votes they report. A vote that closes after the minutes were published is bound then: its closing
appends a **result** entry with the log head it was counted from — one per such vote, so every agenda item ends bound.
A text edited in the database no longer matches its entry; an entry changed no longer matches its hash; the chain
rebuilt no longer matches the head shown on the published minutes; a result entry where none is due shows too.

Plain Python, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from community.voting.meetings import AgendaItem, Meeting


@dataclass(frozen=True)
class MeetingEntry:
    sequence: int
    kind: str
    """``notice``, ``minutes`` or ``result``"""
    record: Mapping[str, Any]
    """The entry's content (without sequence, kind and links)."""
    previous_hash: str
    entry_hash: str


@dataclass(frozen=True)
class ChainProblem:
    sequence: int | None
    problem: str
    """``altered_entry``, ``broken_link``, ``out_of_order``, ``minutes_altered``, ``unexpected_result``"""


@dataclass(frozen=True)
class BoundHead:
    """A vote's log head as a meeting's chain binds it: by the minutes entry (the vote had closed when they were
    published) or by a later ``result`` entry (it closed afterwards)."""

    proposal_id: str
    length: int
    head_hash: str
    sequence: int
    """The entry that binds it."""
    kind: str
    """``minutes`` or ``result``"""


def meeting_digest(meeting: Meeting) -> str:
    """Where a meeting's chain begins: the digest of its terms."""
    return _digest({"meeting_id": meeting.meeting_id, "community_id": meeting.community_id, "title": meeting.title,
                    "kind": meeting.kind.value, "form": meeting.form.value, "starts_at": _utc(meeting.starts_at),
                    "ends_at": _utc(meeting.ends_at), "place": meeting.place})


def notice_record(agenda: Sequence[AgendaItem], materials: Sequence[tuple[str, str]],
                  published_at: datetime) -> dict[str, Any]:
    """The notice's entry: the agenda and the materials' (title, SHA-256) as published."""
    return {"published_at": _utc(published_at),
            "agenda": [{"position": item.position, "proposal_id": item.proposal_id, "opens_at": _utc(item.opens_at)}
                       for item in agenda],
            "materials": [{"title": title, "sha256": sha} for title, sha in materials]}


def minutes_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def minutes_record(text: str, drafted_by: str, approved_by: str, published_at: datetime,
                   heads: Mapping[str, tuple[int, str] | None]) -> dict[str, Any]:
    """The minutes' entry: their text's digest, who drafted and approved them, when published, and each agenda
    item's published log head (None: its vote has not closed)."""
    return {"minutes_sha256": minutes_digest(text), "drafted_by": drafted_by, "approved_by": approved_by,
            "published_at": _utc(published_at),
            "results": {pid: None if head is None else {"length": head[0], "head_hash": head[1]}
                        for pid, head in sorted(heads.items())}}


def result_record(proposal_id: str, head: tuple[int, str], published_at: datetime) -> dict[str, Any]:
    """A ``result`` entry: the final head of the log of `proposal_id`, an agenda item whose vote closed after the
    minutes were published (null in their entry), and when its result was published."""
    return {"proposal_id": proposal_id, "length": head[0], "head_hash": head[1],
            "result_published_at": _utc(published_at)}


def bound_heads(chain: Sequence[MeetingEntry]) -> dict[str, BoundHead | None]:
    """Each agenda item the minutes entry names, with the log head the chain binds it to (None: its vote has not
    closed yet); empty before the minutes are published."""
    heads: dict[str, BoundHead | None] = {}
    for entry in chain:
        if entry.kind == "minutes":
            for proposal_id, head in dict(entry.record.get("results") or {}).items():
                heads[str(proposal_id)] = None if head is None else BoundHead(
                    str(proposal_id), int(head["length"]), str(head["head_hash"]), entry.sequence, entry.kind)
        elif entry.kind == "result":
            proposal_id = str(entry.record.get("proposal_id"))
            if proposal_id in heads and heads[proposal_id] is None:
                heads[proposal_id] = BoundHead(proposal_id, int(entry.record["length"]),
                                               str(entry.record["head_hash"]), entry.sequence, entry.kind)
    return heads


def awaits_result(chain: Sequence[MeetingEntry], proposal_id: str) -> bool:
    """Whether the chain's minutes hold null for `proposal_id` and no result entry has bound it yet: its closing
    appends one."""
    heads = bound_heads(chain)
    return proposal_id in heads and heads[proposal_id] is None


def append(chain: Sequence[MeetingEntry], kind: str, record: Mapping[str, Any], genesis: str) -> MeetingEntry:
    sequence = len(chain) + 1
    previous = chain[-1].entry_hash if chain else genesis
    return MeetingEntry(sequence, kind, record, previous, entry_hash(sequence, kind, record, previous))


def entry_hash(sequence: int, kind: str, record: Mapping[str, Any], previous_hash: str) -> str:
    return _digest({"sequence": sequence, "kind": kind, "record": dict(record), "previous_hash": previous_hash})


def verify(chain: Sequence[MeetingEntry], genesis: str, minutes_text: str | None = None) -> list[ChainProblem]:
    """Every problem of the chain from `genesis`, and — given the stored minutes' text — whether it is the text the
    minutes entry was published with. A result entry is due only after the minutes, for an item they hold null
    for, once."""
    problems: list[ChainProblem] = []
    previous = genesis
    awaiting: set[str] | None = None  # the items the minutes hold null for (None: no minutes yet)
    for position, entry in enumerate(chain, start=1):
        if entry.sequence != position:
            problems.append(ChainProblem(entry.sequence, "out_of_order"))
        if entry_hash(entry.sequence, entry.kind, entry.record, entry.previous_hash) != entry.entry_hash:
            problems.append(ChainProblem(entry.sequence, "altered_entry"))
        if entry.previous_hash != previous:
            problems.append(ChainProblem(entry.sequence, "broken_link"))
        previous = entry.entry_hash
        if entry.kind == "minutes" and minutes_text is not None \
                and entry.record.get("minutes_sha256") != minutes_digest(minutes_text):
            problems.append(ChainProblem(entry.sequence, "minutes_altered"))
        if entry.kind == "minutes":
            awaiting = {str(pid) for pid, head in dict(entry.record.get("results") or {}).items() if head is None}
        elif entry.kind == "result":
            proposal_id = str(entry.record.get("proposal_id"))
            if awaiting is None or proposal_id not in awaiting:
                problems.append(ChainProblem(entry.sequence, "unexpected_result"))
            else:
                awaiting.discard(proposal_id)
    return problems


def head(chain: Sequence[MeetingEntry], genesis: str) -> tuple[int, str]:
    return (len(chain), chain[-1].entry_hash if chain else genesis)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
