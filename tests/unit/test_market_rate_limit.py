"""The public trace lookup's token buckets: a burst, then a steady rate, per client, in bounded memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from market.rate_limit import RateLimit, TokenBuckets

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_a_client_gets_a_burst_then_waits_for_tokens() -> None:
    buckets = TokenBuckets(RateLimit(capacity=3, refill_per_minute=6))
    assert [buckets.take("1.2.3.4", NOW) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("1.2.3.4", NOW) == 10  # one token per 10 s
    assert buckets.take("1.2.3.4", NOW + timedelta(seconds=9)) == 1
    assert buckets.take("1.2.3.4", NOW + timedelta(seconds=10)) == 0


def test_clients_have_their_own_buckets() -> None:
    buckets = TokenBuckets(RateLimit(capacity=1, refill_per_minute=1))
    assert buckets.take("a", NOW) == 0 and buckets.take("a", NOW) == 60
    assert buckets.take("b", NOW) == 0


def test_a_bucket_never_holds_more_than_its_capacity() -> None:
    buckets = TokenBuckets(RateLimit(capacity=2, refill_per_minute=60))
    buckets.take("a", NOW)
    later = NOW + timedelta(hours=5)
    assert [buckets.take("a", later) for _ in range(3)] == [0, 0, 1]


def test_the_client_table_is_bounded_forgetting_the_least_recent() -> None:
    buckets = TokenBuckets(RateLimit(capacity=1, refill_per_minute=1, max_clients=2))
    buckets.take("a", NOW)
    buckets.take("b", NOW)
    buckets.take("c", NOW)
    assert len(buckets) == 2
    assert buckets.take("c", NOW) > 0  # remembered
    assert buckets.take("a", NOW) == 0  # forgotten: a full bucket again


def test_a_clock_going_backwards_adds_no_tokens() -> None:
    buckets = TokenBuckets(RateLimit(capacity=1, refill_per_minute=1))
    buckets.take("a", NOW)
    assert buckets.take("a", NOW - timedelta(hours=1)) > 0
