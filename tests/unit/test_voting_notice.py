"""The notice period (Property Management Regulations Arts. 13-14): voting opens at least the period after notice;
a community's rules of procedure may require more, never less (the longer of the two)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from community.voting.notice import (
    LEGAL_MINIMUM_DAYS,
    TEST_INSTALLATION_NOTICE,
    DaysProblem,
    NoticePeriod,
    community_days_refusal,
    notice_refusal,
    required_notice,
)

PUBLISHED = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
LEGAL = timedelta(days=LEGAL_MINIMUM_DAYS)


def test_exactly_fifteen_days_of_notice_is_enough() -> None:
    assert notice_refusal(PUBLISHED, PUBLISHED + LEGAL, LEGAL) is None


def test_a_second_less_than_fifteen_days_is_refused_with_the_rule_quoted() -> None:
    refusal = notice_refusal(PUBLISHED, PUBLISHED + LEGAL - timedelta(seconds=1), LEGAL)
    assert refusal is not None
    assert refusal.short_by == timedelta(seconds=1)
    assert refusal.earliest_opening == PUBLISHED + LEGAL
    assert "《物业管理条例》第十三条、第十四条" in refusal.message_zh and "15日以前通知全体业主" in refusal.message_zh
    assert "Arts. 13–14" in refusal.message_en


def test_voting_that_opened_before_its_notice_is_refused() -> None:
    refusal = notice_refusal(PUBLISHED, PUBLISHED - timedelta(hours=1), LEGAL)
    assert refusal is not None and refusal.given == -timedelta(hours=1)


def test_a_community_may_require_more_than_the_law() -> None:
    assert notice_refusal(PUBLISHED, PUBLISHED + LEGAL, timedelta(days=20)) is not None
    assert notice_refusal(PUBLISHED, PUBLISHED + timedelta(days=20), timedelta(days=20)) is None


def test_a_test_installation_opens_at_once_even_in_the_past() -> None:
    assert notice_refusal(PUBLISHED, PUBLISHED - timedelta(days=3), TEST_INSTALLATION_NOTICE) is None


def test_a_negative_period_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        notice_refusal(PUBLISHED, PUBLISHED, -timedelta(days=1))


# --- a community's own notice period (its rules of procedure) ---------------------------------------------------

def test_a_community_needs_the_longer_of_the_installations_minimum_and_its_own_period() -> None:
    fifteen = timedelta(days=15)
    assert required_notice(fifteen, None) == fifteen, "no period of its own: the installation's"
    assert required_notice(fifteen, 20) == timedelta(days=20), "its rules of procedure require more"
    assert required_notice(fifteen, 10) == fifteen, "never fewer than the installation's"
    assert required_notice(timedelta(0), 7) == timedelta(days=7), "a test installation: the community's"
    assert NoticePeriod(fifteen, 20).by_community and not NoticePeriod(fifteen, 15).by_community


@given(installation=st.integers(0, 365), own=st.none() | st.integers(0, 365))
def test_the_required_notice_is_never_below_either_rule(installation: int, own: int | None) -> None:
    required = required_notice(timedelta(days=installation), own)
    assert required >= timedelta(days=installation) and required >= timedelta(days=own or 0)
    assert required in (timedelta(days=installation), timedelta(days=own or 0))


def test_a_community_period_below_the_minimum_or_above_ninety_days_is_refused() -> None:
    fifteen = timedelta(days=15)
    assert community_days_refusal(15, fifteen) is None and community_days_refusal(90, fifteen) is None
    below = community_days_refusal(14, fifteen)
    assert below is not None and below.problem is DaysProblem.BELOW_MINIMUM and "不能少于 15 天" in below.message_zh
    above = community_days_refusal(91, fifteen)
    assert above is not None and above.problem is DaysProblem.ABOVE_BOUND and "90" in above.message_en
    assert community_days_refusal(-1, timedelta(0)) is not None
    assert community_days_refusal(120, timedelta(days=120)) is None, "an installation above the bound: its minimum"


def test_a_refusal_by_the_communitys_period_quotes_its_rules_of_procedure() -> None:
    published = datetime(2026, 11, 1, tzinfo=UTC)
    refusal = notice_refusal(published, published + timedelta(days=16), NoticePeriod(timedelta(days=15), 20))
    assert refusal is not None and refusal.by_community and refusal.required == timedelta(days=20)
    assert "议事规则" in refusal.message_zh and "20 天" in refusal.message_zh and "15日以前" in refusal.message_zh
    assert "rules of procedure" in refusal.message_en
    assert notice_refusal(published, published + timedelta(days=20), NoticePeriod(timedelta(days=15), 20)) is None
    law = notice_refusal(published, published + timedelta(days=14), NoticePeriod(timedelta(days=15), 10))
    assert law is not None and not law.by_community and "议事规则" not in law.message_zh
