"""What of a proposal's record is shown, and when: plain Python, no I/O.

Once the result is published, the whole record (:func:`verification.record_document`): terms, roll with owner ids,
delegations, every log entry with its voter and choice — what a recount needs. Before that — while voting is open,
and after the closing time until the result is published — named ballots would tell everyone how each owner voted
and how the count stands while it can still be swayed, so only the log's **hash chain** is shown
(:class:`HashChain`): each entry's sequence, hash and previous hash, the roll digest the log begins at, and the head.

That is enough to hold the log to what it was: whoever keeps a copy can check later that the log only grew
(:func:`growth_problems`) — no entry changed, dropped or slipped in between — and a voter finds their receipt code
at the start of an entry's hash. What the entries hold is checked once the record is published, against the same
hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from community.voting.audit import GENESIS_HASH, ChainHead, ChainProblem, ChainProblemKind
from community.voting.verification import RECORD_FORMAT, VoteRecord, record_document, record_from_document

T = TypeVar("T")

CHAIN_FORMAT = "smartcity-vote-chain/1"


@dataclass(frozen=True)
class ChainLink:
    """One entry of a log as shown before its result is published: where it stands and its hashes, not what it
    holds."""

    sequence: int
    previous_hash: str
    entry_hash: str


@dataclass(frozen=True)
class HashChain:
    """A proposal's log without the entries' content: nothing in it names a voter, a unit or a choice."""

    proposal_id: str
    roll_digest: str
    log_anchored: bool
    links: tuple[ChainLink, ...]

    @property
    def genesis(self) -> str:
        """What the first entry points at: the roll digest, or 64 zeros for a log begun before anchoring."""
        return self.roll_digest if self.log_anchored else GENESIS_HASH

    @property
    def head(self) -> ChainHead:
        return ChainHead(len(self.links), self.links[-1].entry_hash if self.links else self.genesis)


def hash_chain(record: VoteRecord) -> HashChain:
    """The hash chain of `record`'s log."""
    return HashChain(record.proposal.proposal_id, record.roll_digest, record.log_anchored,
                     tuple(ChainLink(entry.sequence, entry.previous_hash, entry.entry_hash) for entry in record.chain))


def disclosed_document(record: VoteRecord) -> dict[str, Any]:
    """What of `record` is handed out (by the API's record route and by ``smartcity votes export``): the whole
    record once its result is published, before that its hash chain alone."""
    if record.published is not None:
        return record_document(record)
    return chain_document(hash_chain(record))


def chain_document(chain: HashChain) -> dict[str, Any]:
    head = chain.head
    return {
        "format": CHAIN_FORMAT,
        "proposal_id": chain.proposal_id,
        "roll_digest": chain.roll_digest,
        "log_anchored": chain.log_anchored,
        "chain": [{"sequence": link.sequence, "previous_hash": link.previous_hash, "entry_hash": link.entry_hash}
                  for link in chain.links],
        "head": {"length": head.length, "head_hash": head.head_hash},
        "published": None,
    }


def read_document(document: object) -> VoteRecord | HashChain:
    """Read back what :func:`disclosed_document` gave: a whole record or a hash chain. Raises ValueError when it is
    neither, or malformed."""
    if isinstance(document, Mapping) and document.get("format") == CHAIN_FORMAT:
        return _chain_from_document(document)
    if isinstance(document, Mapping) and document.get("format") != RECORD_FORMAT:
        raise ValueError(f"not a vote record (format {document.get('format')!r}, expected {RECORD_FORMAT!r} or "
                         f"{CHAIN_FORMAT!r})")
    return record_from_document(document)


def chain_of(shown: VoteRecord | HashChain) -> HashChain:
    return shown if isinstance(shown, HashChain) else hash_chain(shown)


def link_problems(chain: HashChain) -> tuple[ChainProblem, ...]:
    """What is wrong with the links themselves: a sequence out of order or repeated, an entry that does not point
    at the one before it, a first entry that does not point at the roll digest. (Whether an entry's hash matches
    its content can be checked only with the content: in the published record.)"""
    problems: list[ChainProblem] = []
    expected_previous = chain.genesis
    seen: set[str] = set()
    for position, link in enumerate(chain.links):
        if link.sequence != position + 1:
            problems.append(ChainProblem(position, link.sequence, ChainProblemKind.OUT_OF_ORDER,
                                         f"sequence {link.sequence} at position {position + 1}"))
        if link.entry_hash in seen:
            problems.append(ChainProblem(position, link.sequence, ChainProblemKind.DUPLICATE,
                                         "the same hash appears earlier"))
        if link.previous_hash != expected_previous:
            kind = ChainProblemKind.ROLL_MISMATCH if position == 0 and chain.log_anchored \
                else ChainProblemKind.BROKEN_LINK
            problems.append(ChainProblem(position, link.sequence, kind, "does not point at "
                                         + ("the roll digest" if position == 0 else "the previous entry's hash")))
        seen.add(link.entry_hash)
        expected_previous = link.entry_hash
    return tuple(problems)


def growth_problems(earlier: HashChain, later: HashChain) -> tuple[ChainProblem, ...]:
    """How `later` fails to be `earlier` with entries added at the end: an entry of the earlier copy changed,
    moved or gone (REWRITTEN), or another proposal or roll altogether."""
    if earlier.proposal_id != later.proposal_id:
        return (ChainProblem(0, None, ChainProblemKind.FOREIGN_PROPOSAL,
                             f"the earlier copy is of proposal {earlier.proposal_id!r}, not {later.proposal_id!r}"),)
    if earlier.genesis != later.genesis:
        return (ChainProblem(0, None, ChainProblemKind.ROLL_MISMATCH,
                             f"the earlier copy begins at {earlier.genesis[:16]}…, this one at {later.genesis[:16]}…"),)
    problems = [ChainProblem(position, link.sequence, ChainProblemKind.REWRITTEN,
                             "changed since the earlier copy" if position < len(later.links)
                             else "in the earlier copy, gone from this one")
                for position, link in enumerate(earlier.links)
                if position >= len(later.links) or later.links[position] != link]
    return tuple(problems)


def _chain_from_document(document: Mapping[str, Any]) -> HashChain:
    try:
        links = tuple(_link(item) for item in _expect(document["chain"], list))
        return HashChain(_expect(document["proposal_id"], str), _expect(document["roll_digest"], str),
                         _expect(document["log_anchored"], bool), links)
    except KeyError as missing:
        raise ValueError(f"the hash chain lacks {missing}") from None


def _link(item: object) -> ChainLink:
    if not isinstance(item, Mapping):
        raise ValueError(f"a link must be a JSON object, not {item!r}")
    return ChainLink(_expect(item["sequence"], int), _expect(item["previous_hash"], str),
                     _expect(item["entry_hash"], str))


def _expect(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"expected {kind.__name__}, got {value!r}")
    return value
