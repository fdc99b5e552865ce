"""The notice period (公告期): voting may open only once owners have had notice of it for long enough.

The Property Management Regulations (《物业管理条例》) require that all owners are notified 15 days before an
owners' assembly meeting is held (Art. 14 ¶1: 召开业主大会会议，应当于会议召开15日以前通知全体业主; Art. 13 for
the meetings it calls). An owners' vote — on site, in writing or online — is such a meeting, and it is *held* when
voting opens; the notice is *published* when the committee puts the proposal (or the meeting) before the owners.
So voting must open at least the minimum notice after publication. An installation may require more
(SC_VOTING_NOTICE_DAYS); 0 is for test installations only and is warned about at start.

A community's rules of procedure (业主大会议事规则, which the owners' assembly adopts: Civil Code Art. 278 ¶1 (1),
Property Management Regulations Art. 11 (2) and Art. 18) may require a longer notice for its own votes and meetings,
never a shorter one than the installation's: the notice its votes need is the longer of the two
(:func:`required_notice`, :class:`NoticePeriod`), and a community's period is refused below the installation's minimum
or above :data:`MAX_COMMUNITY_NOTICE_DAYS` (:func:`community_days_refusal`).

Plain values and functions, no clock: the caller says when the notice is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

LEGAL_MINIMUM_DAYS: Final = 15
"""Art. 14 ¶1 of the Property Management Regulations: the shortest notice the law allows."""

TEST_INSTALLATION_NOTICE: Final = timedelta(0)
"""SC_VOTING_NOTICE_DAYS=0: test installations open votes at once (warned about at start)."""

RULE_ZH: Final = "《物业管理条例》第十三条、第十四条：召开业主大会会议，应当于会议召开15日以前通知全体业主"
RULE_EN: Final = ("Property Management Regulations Arts. 13–14: all owners are notified 15 days before an owners' "
                  "assembly meeting is held")
COMMUNITY_RULE_ZH: Final = ("本小区业主大会议事规则规定的公告期（《民法典》第二百七十八条第一款第一项、"
                            "《物业管理条例》第十一条、第十八条：议事规则由业主大会制定，可以规定更长的公告期，"
                            "但不得短于法定期限）")
COMMUNITY_RULE_EN: Final = ("the community's rules of procedure (Civil Code Art. 278 ¶1 (1), Property Management "
                            "Regulations Arts. 11 and 18: adopted by the owners' assembly; they may require a longer "
                            "notice, never a shorter one than the law's)")
MAX_COMMUNITY_NOTICE_DAYS: Final = 90
"""The longest notice a community may set: a quarter of a year; longer is a typo, not a rule of procedure."""


def required_notice(installation: timedelta, community_days: int | None) -> timedelta:
    """The notice a community's votes and meetings need: the installation's minimum, or the community's own period
    when its rules of procedure require more (None: the community set none). Never less than the installation's."""
    if community_days is None:
        return installation
    return max(installation, timedelta(days=community_days))


@dataclass(frozen=True)
class NoticePeriod:
    """The notice period one community's votes and meetings need, and where it comes from."""

    installation: timedelta
    """SC_VOTING_NOTICE_DAYS (15 days by law; 0 on a test installation)."""
    community_days: int | None = None
    """The community's own period from its rules of procedure; None: it set none."""

    @property
    def required(self) -> timedelta:
        return required_notice(self.installation, self.community_days)

    @property
    def by_community(self) -> bool:
        """Whether the community's rules of procedure, not the installation's minimum, decide the period."""
        return self.required > self.installation

    @property
    def days(self) -> int:
        return self.required.days

    @property
    def basis_zh(self) -> str:
        return COMMUNITY_RULE_ZH if self.by_community else RULE_ZH

    @property
    def basis_en(self) -> str:
        return COMMUNITY_RULE_EN if self.by_community else RULE_EN


class DaysProblem(StrEnum):
    BELOW_MINIMUM = "below_minimum"
    ABOVE_BOUND = "above_bound"


@dataclass(frozen=True)
class CommunityDaysRefused:
    """A community's notice period refused: below the installation's minimum, or above the sane bound."""

    days: int
    problem: DaysProblem
    minimum_days: int
    maximum_days: int

    @property
    def message_zh(self) -> str:
        if self.problem is DaysProblem.BELOW_MINIMUM:
            return (f"公告期不能少于 {self.minimum_days} 天：小区议事规则可以规定更长的公告期，不能短于本系统的最低期限"
                    f"（{RULE_ZH}）")
        return f"公告期最多 {self.maximum_days} 天"

    @property
    def message_en(self) -> str:
        if self.problem is DaysProblem.BELOW_MINIMUM:
            return (f"the notice period cannot be shorter than the installation's {self.minimum_days} days: a "
                    f"community's rules of procedure may require more, never less ({RULE_EN})")
        return f"the notice period is at most {self.maximum_days} days"


def community_days_refusal(days: int, installation: timedelta) -> CommunityDaysRefused | None:
    """Why a community may not set its notice period to `days`, or None: fewer days than the installation's minimum
    (rounded up to whole days), or more than :data:`MAX_COMMUNITY_NOTICE_DAYS` (or the minimum, if that is more)."""
    minimum = -(-installation // timedelta(days=1))
    maximum = max(MAX_COMMUNITY_NOTICE_DAYS, minimum)
    if days < minimum:
        return CommunityDaysRefused(days, DaysProblem.BELOW_MINIMUM, minimum, maximum)
    if days > maximum:
        return CommunityDaysRefused(days, DaysProblem.ABOVE_BOUND, minimum, maximum)
    return None


@dataclass(frozen=True)
class NoticeTooShort:
    """Voting would open sooner after the notice than `required`; `short_by` is how much sooner."""

    published_at: datetime
    opens_at: datetime
    required: timedelta
    by_community: bool = False
    """The community's rules of procedure, not the installation's minimum, require `required`."""

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
                f"最早 {self.earliest_opening.isoformat(timespec='minutes')}（{self.rule_zh}）")

    @property
    def rule_zh(self) -> str:
        """The rule quoted: the law's, and the community's own period when that decides."""
        return f"{COMMUNITY_RULE_ZH}：{_days(self.required)} 天；{RULE_ZH}" if self.by_community else RULE_ZH

    @property
    def rule_en(self) -> str:
        return f"{COMMUNITY_RULE_EN}: {_days(self.required)} days; {RULE_EN}" if self.by_community else RULE_EN

    @property
    def message_en(self) -> str:
        return (f"notice too short: voting may open {_days(self.required)} days after the notice is published at "
                f"the earliest, {self.earliest_opening.isoformat(timespec='minutes')} ({self.rule_en})")


def notice_refusal(published_at: datetime, opens_at: datetime,
                   required: timedelta | NoticePeriod) -> NoticeTooShort | None:
    """Why voting opening at `opens_at` is refused for a notice published at `published_at`, or None. `required`: a
    period, or a community's :class:`NoticePeriod` (its refusal then quotes the community's rule when that decides).

    Exactly the required period is enough (15 日以前: the notice on day 0, the meeting on day 15). A notice
    published after the opening gives a negative period, refused unless nothing is required.
    """
    period = required if isinstance(required, NoticePeriod) else NoticePeriod(required)
    needed = period.required
    if needed < timedelta(0):
        raise ValueError("the notice period cannot be negative")
    if needed == timedelta(0) or opens_at - published_at >= needed:
        return None
    return NoticeTooShort(published_at, opens_at, needed, period.by_community)


def _days(period: timedelta) -> str:
    days = period / timedelta(days=1)
    return str(int(days)) if days == int(days) else f"{days:.2f}"
