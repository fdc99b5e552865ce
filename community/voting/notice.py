"""The notice period (公告期): voting may open only once owners have had notice of it for long enough.

The Property Management Regulations (《物业管理条例》) require that all owners are notified 15 days before an
owners' assembly meeting is held (Art. 14 ¶1: 召开业主大会会议，应当于会议召开15日以前通知全体业主; Art. 13 for
the meetings it calls). An owners' vote — on site, in writing or online — is such a meeting, and it is *held* when
voting opens; the notice is *published* when the committee puts the proposal (or the meeting) before the owners.
So voting must open at least the minimum notice after publication. An installation may require more (a community's
rules of procedure may); 0 is for test installations only and is warned about at start.

Plain values and one function, no clock: the caller says when the notice is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

LEGAL_MINIMUM_DAYS: Final = 15
"""Art. 14 ¶1 of the Property Management Regulations: the shortest notice the law allows."""

TEST_INSTALLATION_NOTICE: Final = timedelta(0)
"""SC_VOTING_NOTICE_DAYS=0: test installations open votes at once (warned about at start)."""

RULE_ZH: Final = "《物业管理条例》第十三条、第十四条：召开业主大会会议，应当于会议召开15日以前通知全体业主"
RULE_EN: Final = ("Property Management Regulations Arts. 13–14: all owners are notified 15 days before an owners' "
                  "assembly meeting is held")


@dataclass(frozen=True)
class NoticeTooShort:
    """Voting would open sooner after the notice than `required`; `short_by` is how much sooner."""

    published_at: datetime
    opens_at: datetime
    required: timedelta

    @property
    def given(self) -> timedelta:
        return self.opens_at - self.published_at

    @property
    def short_by(self) -> timedelta:
        return self.required - self.given

    @property
    def earliest_opening(self) -> datetime:
        return self.published_at + self.required

    @property
    def message_zh(self) -> str:
        return (f"公告期不足：投票开始时间须在公告发布 {_days(self.required)} 天以后，"
                f"最早 {self.earliest_opening.isoformat(timespec='minutes')}（{RULE_ZH}）")

    @property
    def message_en(self) -> str:
        return (f"notice too short: voting may open {_days(self.required)} days after the notice is published at "
                f"the earliest, {self.earliest_opening.isoformat(timespec='minutes')} ({RULE_EN})")


def notice_refusal(published_at: datetime, opens_at: datetime, required: timedelta) -> NoticeTooShort | None:
    """Why voting opening at `opens_at` is refused for a notice published at `published_at`, or None.

    Exactly the required period is enough (15 日以前: the notice on day 0, the meeting on day 15). A notice
    published after the opening gives a negative period, refused unless nothing is required.
    """
    if required < timedelta(0):
        raise ValueError("the notice period cannot be negative")
    if required == timedelta(0) or opens_at - published_at >= required:
        return None
    return NoticeTooShort(published_at, opens_at, required)


def _days(period: timedelta) -> str:
    days = period / timedelta(days=1)
    return str(int(days)) if days == int(days) else f"{days:.2f}"
