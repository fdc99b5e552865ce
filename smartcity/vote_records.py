"""``smartcity votes``: a proposal's record recounted from a file (or, before its result is published, its hash
chain checked), and the verification report as text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from community.voting.audit import ChainProblem
from community.voting.disclosure import HashChain, chain_of, growth_problems, link_problems, read_document
from community.voting.tally import ElectionTally
from community.voting.verification import VoteRecord, verify_record
from webkit.formatting import percent


def verify_record_file(path: Path, proposal_id: str | None, since: Path | None = None) -> tuple[str, bool]:
    """The report on the record or hash chain in ``path`` (and, with ``since``, whether its log only grew since the
    copy in that file), and whether all is clean."""
    shown = read_record_file(path, proposal_id)
    if isinstance(shown, HashChain):
        problems = link_problems(shown)
        lines, clean = chain_lines(shown, problems), not problems
    else:
        report = verify_record(shown)
        lines, clean = [verification_text(report)], report.is_clean
    if since is not None:
        earlier = chain_of(read_record_file(since, proposal_id))
        grown = growth_problems(earlier, chain_of(shown))
        lines.append(growth_line(since, earlier, grown))
        lines += [f"  - {problem.kind.value} at entry {problem.sequence}: {problem.detail}" for problem in grown]
        clean = clean and not grown
    return "\n".join(lines), clean


def read_record_file(path: Path, proposal_id: str | None) -> VoteRecord | HashChain:
    try:
        shown = read_document(json.loads(path.read_text(encoding="utf-8")))
        found = shown.proposal_id if isinstance(shown, HashChain) else shown.proposal.proposal_id
        if proposal_id is not None and found != proposal_id:
            raise ValueError(f"it is the record of proposal {found!r}, not {proposal_id!r}")
        return shown
    except (OSError, UnicodeDecodeError, ValueError, ArithmeticError) as error:  # JSON errors are ValueErrors
        raise click.ClickException(f"{path}: not a vote record that can be recounted: {error}") from None


def chain_lines(chain: HashChain, problems: Sequence[ChainProblem]) -> list[str]:
    head = chain.head
    links = "intact" if not problems else f"BROKEN ({len(problems)} problems)"
    return [
        f"proposal {chain.proposal_id}: result not published yet — the log's hash chain alone (no ballots, no roll), "
        "nothing to recount until it is",
        f"roll digest: {chain.roll_digest}" + (" (the log begins there)" if chain.log_anchored else ""),
        f"log: {head.length} entries, head {head.head_hash[:16]}…; links {links}",
        *(f"  - {problem.kind.value} at entry {problem.sequence}: {problem.detail}" for problem in problems),
    ]


def growth_line(since: Path, earlier: HashChain, problems: Sequence[ChainProblem]) -> str:
    if not problems:
        return f"since {since} ({earlier.head.length} entries): the log only grew"
    return f"since {since} ({earlier.head.length} entries): the log was REWRITTEN ({len(problems)} problems)"


def verification_text(report: Any) -> str:
    result = report.recount.result
    turnout = result.turnout
    chain = "intact" if not report.chain_problems else f"BROKEN ({len(report.chain_problems)} problems)"
    lines = [
        f"proposal {report.proposal.proposal_id}: {report.proposal.title}",
        f"matter: {report.proposal.matter.label_zh} ({report.proposal.matter.label_en})",
        f"rule: {result.rule.statement_zh}",
        f"      {result.rule.statement_en}",
        f"roll digest: {report.roll_digest}" + (" (the log begins there)" if report.log_anchored else ""),
        f"log: {report.entries} ballots, {report.delegation_entries} delegations; hash chain {chain}",
    ]
    if not report.log_anchored:
        lines.append("note: this log was begun before roll anchoring (migration 0006): it is not anchored to the "
                     "roll and holds no delegations, so a changed roll or delegation cannot be seen in it")
    elif report.record_problems:
        lines.append(f"delegations on record DIFFER from the log ({len(report.record_problems)} problems)")
    if report.published is not None:
        head = report.published.head
        lines.append(f"published {report.published.closed_at:%Y-%m-%d %H:%M} UTC with head {head.head_hash[:16]}… "
                     f"over {head.length} entries; recount "
                     + ("matches it" if not report.discrepancies else f"DIFFERS in {', '.join(report.discrepancies)}"))
    lines += [f"  - {problem.kind.value} at entry {problem.sequence}: {problem.detail}"
              for problem in report.chain_problems]
    lines += [f"  - {problem.kind.value}: {problem.detail}" for problem in report.record_problems]
    lines += [f"  - refused on recount: entry {entry.sequence} ({refusal.value})"
              for entry, refusal in report.recount.refused]
    lines.append(f"participation: area {ratio_text(turnout.participation_area_ratio)}, "
                 f"headcount {ratio_text(turnout.participation_headcount_ratio)}; "
                 f"quorum {'met' if turnout.quorum_met else 'NOT met'}")
    if isinstance(result, ElectionTally):
        lines.append(f"elected: {', '.join(result.elected) or 'nobody'}")
    else:
        lines.append(f"in favour: area {ratio_text(result.approval_area_ratio)}, "
                     f"headcount {ratio_text(result.approval_headcount_ratio)}; "
                     f"{'PASSED' if result.passed else 'NOT passed'}")
    return "\n".join(lines)


def ratio_text(value: Any) -> str:
    """Exact, and as a percentage rounded half-even: as the result page shows it."""

    return f"{value.numerator}/{value.denominator} ({percent(value)})"
