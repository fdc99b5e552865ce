"""Owners' e-voting under PRC Civil Code Art. 278, owners' meetings and their public notices.

The pure domain core (no I/O, no clock; the caller passes `now`), re-exported here in part:

* `rules` — the nine matters and the thresholds that decide them;
* `tally` — the voter roll, ballot eligibility, the ballot box and the count;
* `audit` — the hash-chained log of ballots and delegations anchored to the roll digest, voter receipts and the
  recount from the log;
* `verification` — the record anyone entitled downloads and recounts, and the one check over it;
* `disclosure` — what of that record is shown before the result is published: the log's hash chain alone;
* `register_roll` — the roll frozen from the ownership register (``community.ownership``), and its units without a
  recorded owner;
* `breakdown` — agree, oppose, abstain and not voted by area and heads, each criterion met or failed and by how much;
* `publication` — the published result as plain JSON with exact fractions;
* `participation` — where a proposal stands, and where one person stands in it;
* `deliberation` — owners' comments and the committee's moderation;
* `notice` — the notice period (公告期) before voting opens, Property Management Regulations Arts. 13–14, and a
  community's own longer period (its rules of procedure): the longer of the two;
* `paper_entry` — paper ballots entered twice by two committee members, mismatches held for review;
* `meetings` — meetings (业主大会会议, 业主委员会会议): agenda, notice period, sign-in, proxies (委托出席) and
  attendance, minutes;
* `meeting_chain` — a meeting's hash chain: its notice, published minutes and the results of votes closing after them;
* `materials` — what a meeting material must be (PDF, JPEG or PNG by content, bounded) and how a kept one is named;
* `vote_notices` — what a vote's and a meeting's notifications say to the owners.

Around it: `storage` and `meeting_storage` (SQLAlchemy Core; materials' files), `service` and `meeting_service`
(use cases, one transaction each), `vote_notice_check` (the notices the voting tick records in the outbox), `demo`
(the demo's votes and meetings); the API — `web` (mounts it), `api_common`, `listing`, `meeting_api`, `paper_api`,
`notice_api` (a community's notice period);
the pages — `pages` (the residents' voting pages; mounts the rest), `proposal_form`, `meeting_pages`, `paper_pages`,
`notice_pages` (public notices with their A4 prints).

See docs/voting.md for the rules, the headcount rule and a worked example.
"""

from community.voting.audit import (
    AuditReport,
    ChainEntry,
    ChainHead,
    ChainProblem,
    ChainProblemKind,
    DelegationEntry,
    LogEntry,
    ReceiptStatus,
    Recount,
    TallyDiscrepancy,
    append_delegation,
    append_entry,
    audit_log,
    chain_head,
    compare_tallies,
    find_receipt,
    receipt_code,
    receipt_status,
    recount_from_log,
    roll_digest,
    verify_chain,
)
from community.voting.rules import (
    ELECTION_RULE,
    ORDINARY_RULE,
    SPECIAL_MATTERS,
    SPECIAL_RULE,
    Matter,
    PassingRule,
    Threshold,
    rule_for,
)
from community.voting.tally import (
    Approvals,
    Ballot,
    BallotBox,
    BallotChoice,
    BallotRefusal,
    CandidateResult,
    Capacity,
    Choice,
    Delegation,
    Election,
    ElectionTally,
    OwnerPerson,
    Proposal,
    Tally,
    Turnout,
    Unit,
    VoterRoll,
    check_ballot,
    check_delegation,
    measure_turnout,
    speaker_refusal,
    tally,
    tally_election,
    tally_resolution,
)

__all__ = [
    "ELECTION_RULE",
    "ORDINARY_RULE",
    "SPECIAL_MATTERS",
    "SPECIAL_RULE",
    "Approvals",
    "AuditReport",
    "Ballot",
    "BallotBox",
    "BallotChoice",
    "BallotRefusal",
    "CandidateResult",
    "Capacity",
    "ChainEntry",
    "ChainHead",
    "ChainProblem",
    "ChainProblemKind",
    "Choice",
    "Delegation",
    "DelegationEntry",
    "Election",
    "ElectionTally",
    "LogEntry",
    "Matter",
    "OwnerPerson",
    "PassingRule",
    "Proposal",
    "ReceiptStatus",
    "Recount",
    "Tally",
    "TallyDiscrepancy",
    "Threshold",
    "Turnout",
    "Unit",
    "VoterRoll",
    "append_delegation",
    "append_entry",
    "audit_log",
    "chain_head",
    "check_ballot",
    "check_delegation",
    "compare_tallies",
    "find_receipt",
    "measure_turnout",
    "receipt_code",
    "receipt_status",
    "recount_from_log",
    "roll_digest",
    "rule_for",
    "speaker_refusal",
    "tally",
    "tally_election",
    "tally_resolution",
    "verify_chain",
]
