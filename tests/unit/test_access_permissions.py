"""Each gate's effective whitelist and the door decision: groups, schedules across midnight, validity boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from community.access import (
    ALWAYS,
    SHANGHAI,
    AccessGroup,
    Credential,
    CredentialKind,
    Denied,
    Door,
    Granted,
    Resident,
    WeeklyWindow,
    Whitelist,
    credential_hash,
    decide,
    effective_whitelist,
)
from devices.contract import DenialReason

KEY = b"site-key-for-tests-0123456789abc"
ALICE_CARD = credential_hash(CredentialKind.CARD, "0012345678", KEY)
ALICE_PIN = credential_hash(CredentialKind.PIN, "123456", KEY)
BOB_CARD = credential_hash(CredentialKind.CARD, "0087654321", KEY)
WEEKDAYS = WeeklyWindow(frozenset(range(5)), time(6), time(23))
NIGHT_SHIFT = WeeklyWindow(frozenset({4}), time(22), time(2))  # Friday 22:00 → Saturday 02:00


def local(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


# 2025-03-03 is a Monday, 2025-03-07 a Friday
MONDAY_NOON = local(2025, 3, 3, 12)

BUILDING_1 = AccessGroup("b1", frozenset({Door("gate-n", 1), Door("gate-n", 2), Door("gate-s", 1)}), (WEEKDAYS,))
GYM = AccessGroup("gym", frozenset({Door("gate-n", 3)}), (NIGHT_SHIFT,))
CAR_PARK = AccessGroup("park", frozenset({Door("gate-p", 1)}))


def whitelist_n(credentials: list[Credential], residents: list[Resident] | None = None) -> Whitelist:
    residents = residents or [Resident("alice", frozenset({"b1", "gym"})), Resident("bob", frozenset({"park"}))]
    return effective_whitelist("gate-n", credentials, residents, [BUILDING_1, GYM, CAR_PARK])


def test_credential_hash_is_keyed_and_never_the_raw_value() -> None:
    assert "123456" not in ALICE_PIN
    assert credential_hash(CredentialKind.PIN, "123456", b"another-site-key-0123456789") != ALICE_PIN
    assert credential_hash(CredentialKind.CARD, "123456", KEY) != ALICE_PIN
    with pytest.raises(ValueError, match="16 bytes"):
        credential_hash(CredentialKind.PIN, "1", b"short")


def test_credential_refuses_a_raw_value_in_place_of_a_hash() -> None:
    with pytest.raises(ValueError, match="hash"):
        Credential("c1", CredentialKind.CARD, "0012345678", "alice")


def test_resident_in_several_groups_gets_the_union_of_their_doors_on_this_gate() -> None:
    whitelist = whitelist_n([Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")])
    (entry,) = whitelist.entries
    assert entry.doors == {1, 2, 3}
    assert [grant.group_id for grant in entry.grants] == ["b1", "gym"]


def test_resident_whose_groups_have_no_door_on_this_gate_is_not_listed() -> None:
    whitelist = whitelist_n([Credential("c2", CredentialKind.CARD, BOB_CARD, "bob")])
    assert whitelist.entries == ()
    assert decide(whitelist, BOB_CARD, 1, MONDAY_NOON) == Denied(DenialReason.UNKNOWN_CREDENTIAL)


def test_whitelist_is_deterministic_whatever_the_input_order() -> None:
    credentials = [
        Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice"),
        Credential("c3", CredentialKind.PIN, ALICE_PIN, "alice"),
    ]
    forward = whitelist_n(credentials)
    backward = whitelist_n(credentials[::-1])
    assert forward == backward
    assert forward.content_hash == backward.content_hash
    assert [entry.credential_hash for entry in forward.entries] == sorted([ALICE_CARD, ALICE_PIN])


def test_content_hash_changes_when_a_schedule_changes() -> None:
    credentials = [Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")]
    before = whitelist_n(credentials)
    later_group = AccessGroup("b1", BUILDING_1.doors, (WeeklyWindow(frozenset(range(5)), time(7), time(23)),))
    after = effective_whitelist("gate-n", credentials, [Resident("alice", frozenset({"b1"}))], [later_group])
    assert before.content_hash != after.content_hash


def test_credentials_of_residents_no_longer_known_are_dropped() -> None:
    whitelist = whitelist_n(
        [Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")], [Resident("bob", frozenset({"park"}))]
    )
    assert whitelist.entries == ()


def test_unknown_group_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(ValueError, match="unknown group"):
        effective_whitelist("gate-n", [], [Resident("carol", frozenset({"nope"}))], [BUILDING_1])


def test_two_active_credentials_with_one_hash_are_refused() -> None:
    with pytest.raises(ValueError, match="share a hash"):
        whitelist_n(
            [
                Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice"),
                Credential("c9", CredentialKind.CARD, ALICE_CARD, "alice"),
            ]
        )


def test_revoked_credential_is_blacklisted_and_denied_as_blacklisted() -> None:
    whitelist = whitelist_n([Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice", revoked=True)])
    assert whitelist.entries == ()
    assert whitelist.blacklist == (ALICE_CARD,)
    assert decide(whitelist, ALICE_CARD, 1, MONDAY_NOON) == Denied(DenialReason.BLACKLISTED)


def test_re_enrolled_card_wins_over_its_revoked_predecessor() -> None:
    whitelist = whitelist_n(
        [
            Credential("old", CredentialKind.CARD, ALICE_CARD, "alice", revoked=True),
            Credential("new", CredentialKind.CARD, ALICE_CARD, "alice"),
        ]
    )
    assert whitelist.blacklist == ()
    assert isinstance(decide(whitelist, ALICE_CARD, 1, MONDAY_NOON), Granted)


def test_door_not_in_any_group_is_no_permission() -> None:
    whitelist = whitelist_n([Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")])
    assert decide(whitelist, ALICE_CARD, 9, MONDAY_NOON) == Denied(DenialReason.NO_PERMISSION)


def test_weekday_window_opens_inclusive_and_closes_exclusive() -> None:
    whitelist = whitelist_n([Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")])
    assert decide(whitelist, ALICE_CARD, 1, local(2025, 3, 3, 6)) == Granted(("b1",))
    assert decide(whitelist, ALICE_CARD, 1, local(2025, 3, 3, 5, 59, 59)) == Denied(DenialReason.OUTSIDE_SCHEDULE)
    assert decide(whitelist, ALICE_CARD, 1, local(2025, 3, 3, 23)) == Denied(DenialReason.OUTSIDE_SCHEDULE)
    assert decide(whitelist, ALICE_CARD, 1, local(2025, 3, 8, 12)) == Denied(DenialReason.OUTSIDE_SCHEDULE)  # Sat


def test_window_crossing_midnight_runs_into_the_next_morning() -> None:
    whitelist = whitelist_n([Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")])
    assert isinstance(decide(whitelist, ALICE_CARD, 3, local(2025, 3, 7, 22)), Granted)  # Friday 22:00
    assert isinstance(decide(whitelist, ALICE_CARD, 3, local(2025, 3, 8, 1, 59, 59)), Granted)  # Saturday 01:59:59
    assert decide(whitelist, ALICE_CARD, 3, local(2025, 3, 8, 2)) == Denied(DenialReason.OUTSIDE_SCHEDULE)
    assert decide(whitelist, ALICE_CARD, 3, local(2025, 3, 7, 1)) == Denied(DenialReason.OUTSIDE_SCHEDULE)  # Fri 01:00


def test_window_crossing_midnight_from_sunday_wraps_to_monday() -> None:
    sunday_night = WeeklyWindow(frozenset({6}), time(20), time(4))
    assert sunday_night.contains(local(2025, 3, 10, 3))  # Monday 03:00
    assert not sunday_night.contains(local(2025, 3, 10, 20))  # Monday 20:00


def test_schedule_is_in_shanghai_time_whatever_zone_the_moment_is_given_in() -> None:
    whitelist = whitelist_n([Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")])
    # Monday 06:00 in Shanghai is Sunday 22:00 UTC
    assert isinstance(decide(whitelist, ALICE_CARD, 1, datetime(2025, 3, 2, 22, tzinfo=UTC)), Granted)
    assert decide(whitelist, ALICE_CARD, 1, datetime(2025, 3, 2, 21, 59, tzinfo=UTC)) == Denied(
        DenialReason.OUTSIDE_SCHEDULE
    )


def test_credential_validity_starts_inclusive_and_ends_exclusive() -> None:
    start, end = local(2025, 3, 3, 8), local(2025, 3, 3, 18)
    whitelist = whitelist_n([Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice", start, end)])
    assert isinstance(decide(whitelist, ALICE_CARD, 1, start), Granted)
    assert isinstance(decide(whitelist, ALICE_CARD, 1, end - timedelta(microseconds=1)), Granted)
    assert decide(whitelist, ALICE_CARD, 1, end) == Denied(DenialReason.EXPIRED)
    assert decide(whitelist, ALICE_CARD, 1, start - timedelta(seconds=1)) == Denied(DenialReason.EXPIRED)


def test_expired_group_is_expired_while_another_group_still_opens_its_doors() -> None:
    ended = local(2025, 3, 1, 0)
    old_b1 = AccessGroup("b1", BUILDING_1.doors, (ALWAYS,), valid_to=ended)
    whitelist = effective_whitelist(
        "gate-n",
        [Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice")],
        [Resident("alice", frozenset({"b1", "gym"}))],
        [old_b1, GYM],
    )
    assert decide(whitelist, ALICE_CARD, 1, MONDAY_NOON) == Denied(DenialReason.EXPIRED)
    assert isinstance(decide(whitelist, ALICE_CARD, 3, local(2025, 3, 7, 23)), Granted)


def test_as_of_leaves_out_credentials_already_expired() -> None:
    ended = local(2025, 3, 1, 0)
    credentials = [
        Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice", valid_to=ended),
        Credential("c3", CredentialKind.PIN, ALICE_PIN, "alice"),
    ]
    residents = [Resident("alice", frozenset({"b1"}))]
    whitelist = effective_whitelist("gate-n", credentials, residents, [BUILDING_1], as_of=ended)
    assert [entry.credential_hash for entry in whitelist.entries] == [ALICE_PIN]


def test_naive_moments_and_inverted_periods_are_refused() -> None:
    whitelist = whitelist_n([])
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(whitelist, ALICE_CARD, 1, datetime(2025, 3, 3, 12))
    with pytest.raises(ValueError, match="end after"):
        Credential("c1", CredentialKind.CARD, ALICE_CARD, "alice", MONDAY_NOON, MONDAY_NOON)
    with pytest.raises(ValueError, match=r"1\.\.1024"):
        Door("gate-n", 0)


@given(
    st.frozensets(st.integers(0, 6), min_size=1),
    st.times(),
    st.times(),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
)
def test_a_window_contains_a_moment_exactly_when_some_start_day_covers_it(
    days: frozenset[int], start: time, end: time, at: datetime
) -> None:
    window = WeeklyWindow(days, start, end)
    local_at = at.astimezone(SHANGHAI).replace(tzinfo=None)
    length = (datetime.combine(local_at.date(), end) - datetime.combine(local_at.date(), start)) % timedelta(
        days=1
    ) or timedelta(days=1)
    expected = False
    for back in (0, 1):
        opening = datetime.combine(local_at.date() - timedelta(days=back), start)
        if opening.weekday() in days and opening <= local_at < opening + length:
            expected = True
    assert window.contains(at) is expected
