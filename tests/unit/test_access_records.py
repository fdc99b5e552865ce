"""The small pieces around the access domain: phone masking, credential hints, remote-open outcomes, visitor pass
status, log cursors and presence movements, and the live feed's bounded fan-out."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from community.access.access_log import AccessLogEntry, LogQuery, Movement, decode_cursor, encode_cursor, movement
from community.access.directory import DoorKind, Unit, credential_hint, mask_phone
from community.access.live_feed import (
    GAP,
    GAP_NOTICE,
    SUPERSEDED,
    SUPERSEDED_NOTICE,
    FeedFull,
    FeedItem,
    LiveFeed,
    Subscription,
)
from community.access.permissions import CredentialKind, Door
from community.access.remote_open import RemoteOpen, RemoteOpenStatus, answered, timed_out, undeliverable
from community.access.visitor_pass import VisitorPass
from community.access.visitors import PassStatus, VisitorPassRecord
from devices.contract import AccessMethod, Direction, GateEventKind

T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)


def test_phones_are_masked_whatever_their_format() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("138-1234-5678") == "138****5678"
    assert mask_phone("1234567") == "*******"


def test_a_credential_shows_only_its_hint() -> None:
    assert credential_hint(CredentialKind.CARD, "0012345678") == "…5678"
    assert credential_hint(CredentialKind.CARD, "1234") is None
    assert credential_hint(CredentialKind.PIN, "123456") is None
    assert credential_hint(CredentialKind.QR, "static-qr-0042") is None


def test_a_face_template_reference_is_masked_like_a_card_never_shown_whole() -> None:
    assert credential_hint(CredentialKind.FACE, "P010001") == "…0001"
    long_reference = "face-system/tenant-7/" + "f" * 100 + "9z8y"
    hint = credential_hint(CredentialKind.FACE, long_reference)
    assert hint == "…9z8y" and len(hint) <= 64, "a hint fits its column whatever the reference's length"
    assert credential_hint(CredentialKind.FACE, "abcd") is None, "too short to hide anything: nothing shown"
    assert credential_hint(CredentialKind.FACE, "…9z8y") == "…9z8y", "masking a stored hint again changes nothing"


def test_a_unit_needs_a_positive_exact_area() -> None:
    assert Unit("u", "b", "1单元", "101", Decimal("89.37")).area_m2 == Decimal("89.37")
    for bad in ("0", "-1", "NaN"):
        with pytest.raises(ValueError, match="area"):
            Unit("u", "b", "1单元", "101", Decimal(bad))


REQUEST = RemoteOpen("open-1", "gate-01", 1, "pm-1", "访客", T0, T0 + timedelta(seconds=10))


def test_a_remote_open_ends_once_by_ack_or_by_timeout() -> None:
    opened = answered(REQUEST, True, None, T0 + timedelta(seconds=2))
    assert opened is not None and opened.status is RemoteOpenStatus.OPENED and opened.error is None
    assert answered(opened, False, "door jammed", T0 + timedelta(seconds=3)) is None, "a late ack changes nothing"
    assert timed_out(opened, T0 + timedelta(minutes=1)) is None
    failed = answered(REQUEST, False, "door jammed", T0)
    assert failed is not None and (failed.status, failed.error) == (RemoteOpenStatus.FAILED, "door jammed")
    assert timed_out(REQUEST, T0 + timedelta(seconds=9)) is None
    late = timed_out(REQUEST, T0 + timedelta(seconds=10))
    assert late is not None and late.status is RemoteOpenStatus.TIMED_OUT
    assert undeliverable(REQUEST, "broker down", T0).status is RemoteOpenStatus.FAILED


def test_a_remote_open_says_why_and_ends_after_it_starts() -> None:
    with pytest.raises(ValueError, match="why"):
        RemoteOpen("open-2", "gate-01", 1, "pm-1", " ", T0, T0 + timedelta(seconds=10))
    with pytest.raises(ValueError, match="deadline"):
        RemoteOpen("open-2", "gate-01", 1, "pm-1", "x", T0, T0)


def test_a_pass_is_active_then_used_up_revoked_or_expired() -> None:
    visit = VisitorPass("vp-1", "wang", frozenset({Door("gate-01", 1)}), T0, T0 + timedelta(hours=4), max_uses=2)
    record = VisitorPassRecord(visit, "0" * 64, T0)
    assert record.status(T0) is PassStatus.ACTIVE and not record.blacklisted(T0)
    spent = VisitorPassRecord(visit, "0" * 64, T0, uses=2)
    assert spent.status(T0) is PassStatus.USED_UP and spent.blacklisted(T0)
    revoked = VisitorPassRecord(visit, "0" * 64, T0, revoked_at=T0, revoked_by="wang")
    assert revoked.status(T0) is PassStatus.REVOKED and revoked.blacklisted(T0)
    assert spent.status(T0 + timedelta(hours=4)) is PassStatus.EXPIRED
    assert not spent.blacklisted(T0 + timedelta(hours=4)), "an expired pass needs no blacklist entry"


def entry(**fields: object) -> AccessLogEntry:
    values: dict[str, object] = {"gate_id": "gate-01", "event_id": "e1", "community_id": "lotus", "ts": T0,
                                 "received_at": T0, "door": 1, "kind": GateEventKind.GRANTED,
                                 "method": AccessMethod.CARD, "direction": Direction.IN, "resident_id": "wang"}
    return AccessLogEntry(**(values | fields))  # type: ignore[arg-type]


def test_log_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = encode_cursor(entry())
    assert decode_cursor(cursor) == (T0, "gate-01", "e1")
    for bad in ("", "xyz", "W10", encode_cursor(entry())[:-3]):
        with pytest.raises(ValueError, match="cursor"):
            decode_cursor(bad)
    with pytest.raises(ValueError, match="page"):
        LogQuery(limit=501)


def test_only_known_people_through_perimeter_doors_move() -> None:
    assert movement(entry(), DoorKind.ENTRANCE) == Movement("resident", "wang", True, T0)
    assert movement(entry(direction=Direction.OUT, resident_id=None, pass_id="vp-1"), DoorKind.GARAGE) == Movement(
        "visitor", "vp-1", False, T0)
    assert movement(entry(), DoorKind.BUILDING) is None
    assert movement(entry(kind=GateEventKind.DENIED), DoorKind.ENTRANCE) is None
    assert movement(entry(resident_id=None), DoorKind.ENTRANCE) is None
    assert movement(entry(direction=None), DoorKind.ENTRANCE) is None


def item(gate: str, n: int = 0) -> FeedItem:
    return FeedItem("event", "lotus", gate, {"n": n})


async def test_the_feed_delivers_to_subscribers_of_the_gate_only() -> None:
    feed = LiveFeed()
    with feed.subscribe(gates=frozenset({"gate-01"})) as one, feed.subscribe() as everyone:
        feed.publish(item("gate-02"))
        feed.publish(item("gate-01"))
        assert await one.next() == item("gate-01")
        assert [await everyone.next(), await everyone.next()] == [item("gate-02"), item("gate-01")]
    assert feed.subscribers == 0


async def test_a_slow_subscriber_is_dropped_instead_of_growing_memory() -> None:
    feed = LiveFeed(queue_size=3)
    with feed.subscribe() as slow, feed.subscribe() as fast:
        for n in range(3):
            feed.publish(item("gate-01", n))
            assert await fast.next() == item("gate-01", n)
        feed.publish(item("gate-01", 3))
        assert slow.dropped and not fast.dropped
        assert await fast.next() == item("gate-01", 3)
        assert await asyncio.wait_for(slow.next(), 1) is None, "its stream ends"
        assert slow.queue.qsize() == 0
        feed.publish(item("gate-01", 4))
        assert await fast.next() == item("gate-01", 4)
        assert feed.subscribers == 1 and feed.stats.dropped_subscribers == 1


async def test_closing_the_feed_ends_every_stream_after_what_it_holds_and_any_later_one_at_once() -> None:
    feed = LiveFeed(queue_size=2)
    with feed.subscribe() as full, feed.subscribe() as idle:
        feed.publish(item("gate-01", 1))
        feed.publish(item("gate-01", 2))
        assert await idle.next() == item("gate-01", 1) and await idle.next() == item("gate-01", 2)

        feed.close()

        assert queued(full) == [item("gate-01", 1), item("gate-01", 2), None]
        assert await asyncio.wait_for(idle.next(), 1) is None
        assert feed.subscribers == 0
        with feed.subscribe() as late:
            assert await asyncio.wait_for(late.next(), 1) is None


def test_the_number_of_listeners_is_bounded() -> None:
    feed = LiveFeed(max_subscribers=1)
    with feed.subscribe(), pytest.raises(FeedFull), feed.subscribe():
        pass


def queued(subscription: Subscription) -> list[FeedItem | None]:
    return [subscription.queue.get_nowait() for _ in range(subscription.queue.qsize())]


def test_an_account_over_its_share_loses_its_oldest_stream_not_the_new_one() -> None:
    feed = LiveFeed(max_per_subscriber=2)
    with feed.subscribe(subscriber="pm-1") as oldest, feed.subscribe(subscriber="pm-2") as other, \
            feed.subscribe(subscriber="pm-1") as older, feed.subscribe(subscriber="pm-1") as newest:
        (ended, end) = queued(oldest)
        assert ended.kind == SUPERSEDED and ended.data == {"notice": SUPERSEDED_NOTICE} and end is None
        assert oldest.superseded and not oldest.dropped
        assert oldest.event_id(ended) is None, "not a position: a client resumes from the last item it saw"
        feed.publish(item("gate-01"))
        assert [queued(s) for s in (other, older, newest)] == [[item("gate-01")]] * 3
        assert queued(oldest) == [], "it gets nothing more"
        assert feed.subscribers == 3 and feed.stats.superseded == 1


def test_one_account_cannot_lock_the_others_out_of_the_feed() -> None:
    feed = LiveFeed(max_subscribers=3, max_per_subscriber=2)
    with contextlib.ExitStack() as streams:
        for _ in range(5):  # one console too many, again and again: only its own streams give way
            streams.enter_context(feed.subscribe(subscriber="pm-1"))
        assert feed.subscribers == 2 and feed.stats.superseded == 3
        streams.enter_context(feed.subscribe(subscriber="pm-2"))
        assert feed.subscribers == 3
        with pytest.raises(FeedFull), feed.subscribe(subscriber="pm-3"):
            pass  # the global bound still holds, with every account within its share


def test_a_superseded_stream_misses_nothing_when_it_resumes_from_its_last_id() -> None:
    feed = LiveFeed(max_per_subscriber=1)
    with feed.subscribe(subscriber="pm-1") as first:
        feed.publish(item("gate-01", 1))
        (seen,) = queued(first)
        assert seen is not None
        last_id = first.event_id(seen)
        feed.publish(item("gate-01", 2))  # queued for it, never sent
        with feed.subscribe(subscriber="pm-1"):
            assert [entry.kind for entry in queued(first) if entry] == [SUPERSEDED]
        with feed.subscribe(subscriber="pm-1", last_event_id=last_id) as again:
            assert queued(again) == [item("gate-01", 2)]


def test_streams_of_no_account_are_bounded_only_by_the_global_limit() -> None:
    feed = LiveFeed(max_subscribers=3, max_per_subscriber=1)
    with feed.subscribe(), feed.subscribe(), feed.subscribe(subscriber="pm-1"):
        assert feed.subscribers == 3 and feed.stats.superseded == 0
    with pytest.raises(ValueError):
        LiveFeed(max_per_subscriber=0)


async def test_every_item_has_an_id_and_a_reconnecting_client_gets_what_it_missed() -> None:
    feed = LiveFeed()
    with feed.subscribe() as first:
        feed.publish(item("gate-01", 1))
        seen = await first.next()
        assert seen is not None
        last_id = first.event_id(seen)
        assert last_id == feed.position and last_id.startswith(feed.epoch + ".")
    feed.publish(item("gate-01", 2))  # while the client was away
    feed.publish(item("gate-02", 3))
    with feed.subscribe(gates=frozenset({"gate-01"}), last_event_id=last_id) as again:
        feed.publish(item("gate-01", 4))
        assert queued(again) == [item("gate-01", 2), item("gate-01", 4)], "replayed first, then live, as filtered"
    with feed.subscribe(last_event_id=feed.position) as current:
        assert queued(current) == [], "nothing missed, nothing replayed"
    assert feed.stats.replayed == 1 and feed.stats.gaps == 0


@pytest.mark.parametrize("reason", ["evicted", "restart", "garbage", "too_many"])
async def test_a_gap_that_cannot_be_filled_is_said_once_instead_of_passing_silently(reason: str) -> None:
    feed = LiveFeed(queue_size=4, replay_size=8)
    feed.publish(item("gate-01", 0))
    last_id = feed.position
    for n in range(1, 6 if reason == "too_many" else 12):
        feed.publish(item("gate-01", n))
    if reason == "restart":
        feed, last_id = LiveFeed(queue_size=4, replay_size=8), last_id  # a new process: a new epoch
        feed.publish(item("gate-01", 99))
    elif reason == "garbage":
        last_id = "not-an-id"
    with feed.subscribe(last_event_id=last_id) as subscription:
        (gap,) = queued(subscription)
    assert gap is not None and gap.kind == GAP and gap.data == {"notice": GAP_NOTICE}
    assert subscription.event_id(gap) == feed.position, "a reconnect after the gap resumes from now"
    assert feed.stats.gaps == 1


def test_only_the_latest_items_are_kept_for_replay() -> None:
    feed = LiveFeed(replay_size=3)
    for n in range(10):
        feed.publish(item("gate-01", n))
    with feed.subscribe(last_event_id=f"{feed.epoch}.7") as subscription:
        assert [entry.data["n"] for entry in queued(subscription) if entry] == [7, 8, 9]
    with feed.subscribe(last_event_id=f"{feed.epoch}.6") as subscription:
        assert [entry.kind for entry in queued(subscription) if entry] == [GAP], "item 7 is no longer kept"
    with pytest.raises(ValueError):
        LiveFeed(replay_size=-1)


def test_phone_numbers_are_masked() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "861******5678"
    assert mask_phone("12345") == "*****"
