"""The public trace lookup's token buckets: a burst, then a steady rate, per client, in bounded memory;
the client behind a trusted reverse proxy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from market.rate_limit import RateLimit, TokenBuckets, client_address, trusted_networks
from market.service import MarketSettings

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


PROXIES = trusted_networks(["10.0.0.0/8", "192.168.1.5", "fd00::/8"])


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], ()) == "203.0.113.7"
    assert client_address("10.0.0.2", ["198.51.100.1"], ()) == "10.0.0.2"
    assert client_address(None, [], ()) == "unknown"


def test_behind_a_trusted_proxy_the_client_is_the_right_most_untrusted_hop() -> None:
    assert client_address("10.0.0.2", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    # the client forged the left entry; the proxies appended the address they saw
    assert client_address("10.0.0.2", ["1.1.1.1, 198.51.100.1", "192.168.1.5"], PROXIES) == "198.51.100.1"
    assert client_address("fd00::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"


def test_an_untrusted_peer_cannot_choose_its_bucket() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], PROXIES) == "203.0.113.7"


def test_nonsense_or_only_proxies_forwarded_falls_back_to_the_proxy() -> None:
    assert client_address("10.0.0.2", ["not-an-address"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["198.51.100.1, garbage"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["10.0.0.9"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", [], PROXIES) == "10.0.0.2"


def test_trusted_proxies_are_checked_when_read() -> None:
    with pytest.raises(ValueError, match=r"'proxy\.example'"):
        trusted_networks(["10.0.0.0/8", "proxy.example"])
    with pytest.raises(ValueError, match="trusted proxy"):
        MarketSettings(trusted_proxies=("10.0.0.0/33",))
    assert MarketSettings().trusted_proxy_networks == ()
    assert MarketSettings(trusted_proxies=("127.0.0.1",)).trusted_proxy_networks == trusted_networks(["127.0.0.1"])
