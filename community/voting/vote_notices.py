"""What a vote's notifications say to the owners of its community (issue 14): voting opened, closing within a day,
result published — their phase rule and words; and a meeting's notice, once published. Pure:
:mod:`community.voting.vote_notice_check` records them."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from notifications.events import NotificationEvent, NotificationKind, Severity
from notifications.quiet_hours import LOCAL

CLOSING_NOTICE: Final = timedelta(hours=24)
"""How long before the close the owners are reminded."""


class VotePhase(StrEnum):
    OPENED = "opened"
    CLOSING = "closing"
    PUBLISHED = "published"


KINDS: Final = {VotePhase.OPENED: NotificationKind.VOTE_OPENED, VotePhase.CLOSING: NotificationKind.VOTE_CLOSING,
                VotePhase.PUBLISHED: NotificationKind.VOTE_PUBLISHED}


def due_phases(opens_at: datetime, closes_at: datetime, now: datetime) -> list[VotePhase]:
    """The phases a vote is in at ``now`` that the owners are told of once: opened (while it is open) and closing
    (in its last 24 hours — not for a vote shorter than a day: its opening notice says when it closes)."""
    if not opens_at <= now < closes_at:
        return []
    phases = [VotePhase.OPENED]
    if closes_at - now <= CLOSING_NOTICE < closes_at - opens_at:
        phases.append(VotePhase.CLOSING)
    return phases


def once_key(proposal_id: str, phase: VotePhase) -> str:
    return f"vote:{proposal_id}:{phase.value}"[:255]


def vote_event(phase: VotePhase, proposal_id: str, title: str, community_id: str, community_name: str,
               closes_at: datetime, now: datetime) -> NotificationEvent:
    closes = closes_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
    quoted = f"“{title}”"
    words = {
        VotePhase.OPENED: (f"{community_name}：{quoted}开始表决", f"{community_name}业主大会表决{quoted}已开始，"
                           f"截止时间 {closes}（北京时间）。请登录后在“业主表决”中投票。"),
        VotePhase.CLOSING: (f"{community_name}：{quoted}即将截止", f"{community_name}业主大会表决{quoted}将于 "
                            f"{closes}（北京时间）截止；尚未投票的业主请尽快投票。"),
        VotePhase.PUBLISHED: (f"{community_name}：{quoted}表决结果已公布", f"{community_name}业主大会表决{quoted}"
                              "已截止，结果已公布。请登录后在“业主表决”中查看结果，并可下载记录自行核验。"),
    }
    subject, text = words[phase]
    return NotificationEvent(
        kind=KINDS[phase], title=subject[:200], text=text[:2000], occurred_at=now, community_id=community_id,
        severity=Severity.INFO,
        data={"proposal_id": proposal_id, "phase": phase.value, "title": title, "closes_at": closes_at.isoformat()})


def meeting_once_key(meeting_id: str) -> str:
    return f"meeting:{meeting_id}:notice"[:255]


def meeting_notice_event(meeting_id: str, title: str, kind_zh: str, community_id: str, community_name: str,
                         starts_at: datetime, place: str, now: datetime) -> NotificationEvent:
    starts = starts_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
    subject = f"{community_name}：召开{kind_zh}的通知"
    text = (f"{community_name}定于 {starts}（北京时间）在{place}召开{kind_zh}“{title}”。会议通知、议程和材料已公告，"
            "请登录后在“业主表决”的公告中查看，会议开始前两小时起可网上签到。")
    return NotificationEvent(
        kind=NotificationKind.MEETING_NOTICE, title=subject[:200], text=text[:2000], occurred_at=now,
        community_id=community_id, severity=Severity.INFO,
        data={"meeting_id": meeting_id, "title": title, "starts_at": starts_at.isoformat()})
