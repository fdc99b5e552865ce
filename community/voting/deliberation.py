"""Deliberation on a proposal: owners on its roll comment before and during voting; the owners'
committee moderates by hiding a comment with a reason (the comment is kept, never deleted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from community.voting.tally import Proposal, VoterRoll

MAX_COMMENT_CHARS = 2000


class CommentRefusal(Enum):
    NOT_ON_ROLL = "not_on_roll"
    VOTING_CLOSED = "voting_closed"
    EMPTY = "empty"
    TOO_LONG = "too_long"

    @property
    def message_zh(self) -> str:
        return _COMMENT_MESSAGES[self][0]

    @property
    def message_en(self) -> str:
        return _COMMENT_MESSAGES[self][1]


_COMMENT_MESSAGES: dict[CommentRefusal, tuple[str, str]] = {
    CommentRefusal.NOT_ON_ROLL: ("只有本次表决名册上的业主可以发表意见",
                                 "Only the owners on this proposal's roll comment on it"),
    CommentRefusal.VOTING_CLOSED: ("表决已结束，讨论已关闭", "Voting is closed, and so is the deliberation"),
    CommentRefusal.EMPTY: ("意见内容不能为空", "The comment is empty"),
    CommentRefusal.TOO_LONG: (f"意见不能超过 {MAX_COMMENT_CHARS} 个字",
                              f"A comment has at most {MAX_COMMENT_CHARS} characters"),
}


@dataclass(frozen=True)
class Comment:
    comment_id: int
    proposal_id: str
    author_id: str
    body: str
    posted_at: datetime
    hidden_by: str | None = None
    hidden_reason: str | None = None

    @property
    def hidden(self) -> bool:
        return self.hidden_by is not None


def check_comment(
    proposal: Proposal, roll: VoterRoll | None, author_id: str, body: str, now: datetime
) -> CommentRefusal | None:
    """Why ``author_id`` may not post ``body`` now, or None. ``roll`` is the proposal's roll — before a roll from
    the ownership register is frozen, the roll the register gives now — or None when there is nobody on it."""
    if now >= proposal.closes_at:
        return CommentRefusal.VOTING_CLOSED
    if roll is None or not any(author_id in unit.owner_ids for unit in roll.units):
        return CommentRefusal.NOT_ON_ROLL
    if not body.strip():
        return CommentRefusal.EMPTY
    if len(body) > MAX_COMMENT_CHARS:
        return CommentRefusal.TOO_LONG
    return None


def as_seen_by(comment: Comment, moderator: bool) -> Comment:
    """Owners see that a comment was hidden and why, not its text; moderators see everything."""
    if comment.hidden and not moderator:
        return Comment(comment.comment_id, comment.proposal_id, comment.author_id, "", comment.posted_at,
                       comment.hidden_by, comment.hidden_reason)
    return comment
