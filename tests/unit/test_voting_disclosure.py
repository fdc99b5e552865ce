"""What of a record is shown before its result is published — the log's hash chain alone, naming no voter, unit or
choice — and the checks it allows: its links hold, and a later copy of the log only grew from an earlier one."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from community.voting.audit import ChainProblemKind
from community.voting.disclosure import (
    CHAIN_FORMAT,
    ChainLink,
    HashChain,
    chain_document,
    chain_of,
    disclosed_document,
    growth_problems,
    hash_chain,
    link_problems,
    read_document,
)
from community.voting.verification import RECORD_FORMAT, record_document
from tests.unit.test_voting_verification import honest


def test_before_publication_only_the_hash_chain_is_disclosed() -> None:
    record = honest(published=False)
    document = disclosed_document(record)
    text = json.dumps(document, ensure_ascii=False)
    assert document["format"] == CHAIN_FORMAT and document["published"] is None
    for named in ("wang", "li", "chen", "sun", "zhao", "1-101", "1-102", "2-201", "agree", "oppose", "1栋101"):
        assert f'"{named}"' not in text and named not in json.dumps(document["chain"]), named
    assert [link["entry_hash"] for link in document["chain"]] == [entry.entry_hash for entry in record.chain]
    assert document["chain"][0]["previous_hash"] == record.roll_digest == document["roll_digest"]
    assert document["head"] == {"length": 4, "head_hash": record.chain[-1].entry_hash}


def test_once_published_the_whole_record_is_disclosed() -> None:
    record = honest()
    assert disclosed_document(record) == record_document(record)
    assert disclosed_document(record)["format"] == RECORD_FORMAT


def test_a_hash_chain_reads_back_as_it_was_and_a_record_reads_back_as_a_record() -> None:
    chain = hash_chain(honest(published=False))
    assert read_document(json.loads(json.dumps(chain_document(chain)))) == chain
    assert chain_of(read_document(record_document(honest()))) == hash_chain(honest())
    for bad in ({"format": "something/1"}, {**chain_document(chain), "chain": [{"sequence": "1"}]},
                {**chain_document(chain), "chain": "none"}, {"format": CHAIN_FORMAT}):
        with pytest.raises(ValueError):
            read_document(bad)


def test_intact_links_show_no_problem_and_every_broken_one_is_named() -> None:
    chain = hash_chain(honest(published=False))
    assert link_problems(chain) == ()
    links = list(chain.links)

    relinked = replace(chain, links=(*links[:2], replace(links[2], previous_hash="f" * 64), links[3]))
    assert [p.kind for p in link_problems(relinked)] == [ChainProblemKind.BROKEN_LINK]
    dropped = replace(chain, links=(links[0], *links[2:]))
    assert {p.kind for p in link_problems(dropped)} == {ChainProblemKind.OUT_OF_ORDER, ChainProblemKind.BROKEN_LINK}
    other_roll = replace(chain, roll_digest="e" * 64)
    assert [p.kind for p in link_problems(other_roll)] == [ChainProblemKind.ROLL_MISMATCH]
    repeated = replace(chain, links=(*links, replace(links[3], sequence=5)))
    assert ChainProblemKind.DUPLICATE in {p.kind for p in link_problems(repeated)}


def test_a_log_that_only_grew_passes_and_one_rewritten_is_caught() -> None:
    earlier = hash_chain(replace(honest(published=False), chain=honest().chain[:2]))
    later = hash_chain(honest())
    assert growth_problems(earlier, later) == ()
    assert growth_problems(later, later) == ()

    shortened = replace(later, links=later.links[:1])
    assert [(p.kind, p.sequence) for p in growth_problems(earlier, shortened)] == [(ChainProblemKind.REWRITTEN, 2)]
    changed = replace(later, links=(later.links[0], replace(later.links[1], entry_hash="a" * 64), *later.links[2:]))
    assert [p.sequence for p in growth_problems(earlier, changed)] == [2]
    assert [p.kind for p in growth_problems(earlier, replace(later, proposal_id="p-other"))] == [
        ChainProblemKind.FOREIGN_PROPOSAL]
    assert [p.kind for p in growth_problems(earlier, replace(later, roll_digest="e" * 64))] == [
        ChainProblemKind.ROLL_MISMATCH]


def test_an_empty_log_begins_and_ends_at_the_roll_digest() -> None:
    chain = HashChain("p-lifts", "d" * 64, True, ())
    assert chain.head.length == 0 and chain.head.head_hash == "d" * 64 and link_problems(chain) == ()
    assert growth_problems(chain, replace(chain, links=(ChainLink(1, "d" * 64, "a" * 64),))) == ()
