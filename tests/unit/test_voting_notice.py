"""The notice period (Property Management Regulations Arts. 13-14): voting opens at least the period after notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from community.voting.notice import LEGAL_MINIMUM_DAYS, TEST_INSTALLATION_NOTICE, notice_refusal

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
