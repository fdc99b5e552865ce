"""Access alarms: immediate door alarms, repeated denials in a sliding window, gates offline, the alarm lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from community.access import (
    Alarm,
    AlarmEngine,
    AlarmKind,
    AlarmRules,
    AlarmStatus,
    AlarmTransitionError,
    acknowledge,
    resolve,
)
from community.access.service import AccessSettings
from devices.contract import AccessMethod, DenialReason, GateEvent, GateEventKind

T0 = datetime(2025, 3, 3, 2, tzinfo=UTC)
_serial = iter(range(1_000_000))


def event(kind: GateEventKind, at: datetime, door: int = 1, event_id: str | None = None) -> GateEvent:
    denied = kind is GateEventKind.DENIED
    return GateEvent(
        event_id=event_id or f"e{next(_serial)}",
        ts=at,
        door=door,
        kind=kind,
        method=AccessMethod.CARD if kind in (GateEventKind.DENIED, GateEventKind.GRANTED) else None,
        reason=DenialReason.UNKNOWN_CREDENTIAL if denied else None,
    )


def deny(engine: AlarmEngine, at: datetime, door: int = 1, gate: str = "gate-n") -> list[Alarm]:
    return list(engine.on_event(gate, event(GateEventKind.DENIED, at, door), at))


@pytest.mark.parametrize(
    ("kind", "alarm"),
    [
        (GateEventKind.FORCED, AlarmKind.FORCED_DOOR),
        (GateEventKind.HELD_OPEN, AlarmKind.DOOR_HELD_OPEN),
        (GateEventKind.TAMPER, AlarmKind.TAMPER),
    ],
)
def test_forced_held_open_and_tamper_raise_an_alarm_at_once(kind: GateEventKind, alarm: AlarmKind) -> None:
    engine = AlarmEngine()
    (raised,) = engine.on_event("gate-n", event(kind, T0, door=2), T0)
    assert (raised.kind, raised.gate_id, raised.door, raised.status) == (alarm, "gate-n", 2, AlarmStatus.OPEN)


def test_granted_and_door_events_raise_nothing() -> None:
    engine = AlarmEngine()
    for kind in (GateEventKind.GRANTED, GateEventKind.DOOR_OPEN, GateEventKind.DOOR_CLOSED):
        assert engine.on_event("gate-n", event(kind, T0), T0) == []


def test_repeated_forced_door_is_counted_on_the_unresolved_alarm() -> None:
    engine = AlarmEngine()
    (first,) = engine.on_event("gate-n", event(GateEventKind.FORCED, T0), T0)
    assert engine.on_event("gate-n", event(GateEventKind.FORCED, T0), T0) == []
    assert engine.alarm(first.alarm_id).occurrences == 2


def test_five_denials_within_two_minutes_raise_one_alarm() -> None:
    engine = AlarmEngine()
    for second in (0, 30, 60, 90):
        assert deny(engine, T0 + timedelta(seconds=second)) == []
    (raised,) = deny(engine, T0 + timedelta(seconds=120))  # the window is inclusive: 5 within 2:00
    assert raised.kind is AlarmKind.REPEATED_DENIALS


def test_denials_spread_wider_than_the_window_raise_nothing() -> None:
    engine = AlarmEngine()
    for second in (0, 31, 62, 93, 124, 155, 186):
        assert deny(engine, T0 + timedelta(seconds=second)) == []


def test_window_slides_so_an_old_denial_drops_out() -> None:
    engine = AlarmEngine()
    for second in (0, 100, 110, 120, 130):  # 0..130 spans more than 2 minutes
        assert deny(engine, T0 + timedelta(seconds=second)) == []
    assert len(deny(engine, T0 + timedelta(seconds=140))) == 1  # 100..140


def test_denials_are_counted_per_door_and_per_gate() -> None:
    engine = AlarmEngine()
    for i in range(4):
        assert deny(engine, T0 + timedelta(seconds=i), door=1) == []
        assert deny(engine, T0 + timedelta(seconds=i), door=2) == []
        assert deny(engine, T0 + timedelta(seconds=i), gate="gate-s") == []


def test_no_second_denial_alarm_while_one_is_unresolved_and_a_new_one_after() -> None:
    engine = AlarmEngine()
    alarms = [a for i in range(5) for a in deny(engine, T0 + timedelta(seconds=i))]
    (raised,) = alarms
    for i in range(10):
        assert deny(engine, T0 + timedelta(seconds=10 + i)) == []
    assert engine.alarm(raised.alarm_id).occurrences == 11
    engine.acknowledge(raised.alarm_id, "guard-li", T0 + timedelta(minutes=1))
    assert deny(engine, T0 + timedelta(seconds=70)) == []
    engine.resolve(raised.alarm_id, "guard-li", T0 + timedelta(minutes=2), "kid with a dead card")
    fresh = [a for i in range(5) for a in deny(engine, T0 + timedelta(minutes=3, seconds=i))]
    assert len(fresh) == 1


def test_a_redelivered_denial_is_counted_once() -> None:
    engine = AlarmEngine()
    same = event(GateEventKind.DENIED, T0, event_id="dup")
    for _ in range(10):
        assert engine.on_event("gate-n", same, T0) == []


def test_threshold_and_window_are_configurable() -> None:
    engine = AlarmEngine(AlarmRules(denial_threshold=2, denial_window=timedelta(seconds=10)))
    assert deny(engine, T0) == []
    assert len(deny(engine, T0 + timedelta(seconds=10))) == 1


def test_gate_offline_longer_than_the_delay_raises_on_tick_and_clears_when_back() -> None:
    engine = AlarmEngine(AlarmRules(offline_after=timedelta(seconds=300)))
    assert engine.on_state("gate-n", False, T0) == []
    assert engine.tick(T0 + timedelta(seconds=300)) == []  # not *more* than 300 s yet
    (raised,) = engine.tick(T0 + timedelta(seconds=301))
    assert (raised.kind, raised.door) == (AlarmKind.GATE_OFFLINE, None)
    assert engine.tick(T0 + timedelta(seconds=900)) == []  # not raised twice
    (cleared,) = engine.on_state("gate-n", True, T0 + timedelta(seconds=960))
    assert cleared.status is AlarmStatus.RESOLVED and cleared.resolved_by == "system"
    assert engine.unresolved == ()


def test_gate_back_before_the_delay_raises_nothing() -> None:
    engine = AlarmEngine()
    engine.on_state("gate-n", False, T0)
    assert engine.on_state("gate-n", True, T0 + timedelta(seconds=60)) == []
    assert engine.tick(T0 + timedelta(hours=1)) == []


def test_repeated_offline_states_keep_the_first_moment() -> None:
    engine = AlarmEngine(AlarmRules(offline_after=timedelta(seconds=60)))
    engine.on_state("gate-n", False, T0)
    engine.on_state("gate-n", False, T0 + timedelta(seconds=50))  # the retained last will again
    assert len(engine.tick(T0 + timedelta(seconds=61))) == 1


def test_lifecycle_open_acknowledged_resolved_records_who_when_and_why() -> None:
    engine = AlarmEngine()
    (raised,) = engine.on_event("gate-n", event(GateEventKind.TAMPER, T0), T0)
    acked = engine.acknowledge(raised.alarm_id, "guard-li", T0 + timedelta(minutes=1), "on my way")
    assert (acked.status, acked.acknowledged_by, acked.acknowledge_note) == (
        AlarmStatus.ACKNOWLEDGED,
        "guard-li",
        "on my way",
    )
    resolved = engine.resolve(raised.alarm_id, "guard-li", T0 + timedelta(minutes=9), "cover screwed back")
    assert (resolved.status, resolved.resolved_at, resolved.acknowledged_by) == (
        AlarmStatus.RESOLVED,
        T0 + timedelta(minutes=9),
        "guard-li",
    )


def test_invalid_transitions_are_refused_with_a_clear_error() -> None:
    engine = AlarmEngine()
    (raised,) = engine.on_event("gate-n", event(GateEventKind.FORCED, T0), T0)
    engine.acknowledge(raised.alarm_id, "guard-li", T0 + timedelta(minutes=1))
    with pytest.raises(AlarmTransitionError, match="only an open alarm"):
        engine.acknowledge(raised.alarm_id, "guard-wang", T0 + timedelta(minutes=2))
    with pytest.raises(AlarmTransitionError, match="before it was acknowledged"):
        engine.resolve(raised.alarm_id, "guard-li", T0 + timedelta(seconds=30))
    with pytest.raises(AlarmTransitionError, match="before it was raised"):
        engine.resolve(raised.alarm_id, "guard-li", T0 - timedelta(seconds=1))
    with pytest.raises(AlarmTransitionError, match="who"):
        engine.resolve(raised.alarm_id, " ", T0)
    later = T0 + timedelta(minutes=5)
    resolved = engine.resolve(raised.alarm_id, "guard-li", later)
    with pytest.raises(AlarmTransitionError, match="no unresolved alarm"):
        engine.resolve(raised.alarm_id, "guard-li", later)
    with pytest.raises(AlarmTransitionError, match="already resolved"):
        resolve(resolved, "guard-li", later)
    with pytest.raises(AlarmTransitionError, match="resolved"):
        acknowledge(resolved, "guard-li", later)


def test_tracked_doors_are_capped() -> None:
    engine = AlarmEngine(AlarmRules(max_tracked_doors=3))
    for door in range(1, 50):
        deny(engine, T0, door=door)
    assert len(engine.denial_windows) == 3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 600)), max_size=60))
def test_at_most_one_unresolved_denial_alarm_per_door_and_windows_stay_bounded(
    denials: list[tuple[int, int]],
) -> None:
    engine = AlarmEngine(AlarmRules(max_tracked_doors=2))
    for door, second in denials:
        deny(engine, T0 + timedelta(seconds=second), door=door)
        doors = [alarm.door for alarm in engine.unresolved]
        assert len(doors) == len(set(doors))
        assert len(engine.denial_windows) <= 2
        assert all(count <= 5 for count in engine.denial_windows.values())



def test_a_restarted_engine_takes_back_unresolved_alarms_and_offline_clocks() -> None:
    before = AlarmEngine(AlarmRules(offline_after=timedelta(seconds=60)))
    (forced,) = before.on_event("g1", event(GateEventKind.FORCED, T0), T0)
    after = AlarmEngine(AlarmRules(offline_after=timedelta(seconds=60)))
    after.restore([forced], {"g2": T0})
    assert after.knows(forced.alarm_id) and after.unresolved == (forced,)
    again = T0 + timedelta(seconds=1)
    assert after.on_event("g1", event(GateEventKind.FORCED, again, event_id="e2"), again) == [], \
        "the same door's alarm is still open: folded, not raised again"
    (offline,) = after.tick(T0 + timedelta(seconds=61))
    assert (offline.kind, offline.gate_id) == (AlarmKind.GATE_OFFLINE, "g2")


def door_event(kind: GateEventKind, at: datetime, door: int = 1, offline: bool = False) -> GateEvent:
    return GateEvent(event_id=f"d{next(_serial)}", ts=at, door=door, kind=kind, offline=offline)


def test_a_door_heard_open_and_not_closed_raises_held_open_on_tick() -> None:
    engine = AlarmEngine(AlarmRules(held_open_after=timedelta(seconds=60)))
    assert engine.on_event("gate-n", door_event(GateEventKind.DOOR_OPEN, T0, door=2), T0) == []
    assert engine.tick(T0 + timedelta(seconds=60)) == []  # not *more* than 60 s yet
    (raised,) = engine.tick(T0 + timedelta(seconds=61))
    assert (raised.kind, raised.gate_id, raised.door) == (AlarmKind.DOOR_HELD_OPEN, "gate-n", 2)
    assert engine.tick(T0 + timedelta(seconds=300)) == [], "raised once"


def test_a_door_closed_in_time_or_out_of_order_news_raises_nothing() -> None:
    engine = AlarmEngine(AlarmRules(held_open_after=timedelta(seconds=60)))
    engine.on_event("gate-n", door_event(GateEventKind.DOOR_OPEN, T0), T0)
    engine.on_event("gate-n", door_event(GateEventKind.DOOR_CLOSED, T0 + timedelta(seconds=5)), T0)
    engine.on_event("gate-n", door_event(GateEventKind.DOOR_OPEN, T0 - timedelta(seconds=9)), T0)  # older news
    assert engine.tick(T0 + timedelta(hours=1)) == []


def test_a_backlog_of_door_events_is_history_not_a_door_open_now() -> None:
    engine = AlarmEngine(AlarmRules(held_open_after=timedelta(seconds=60)))
    engine.on_event("gate-n", door_event(GateEventKind.DOOR_OPEN, T0 - timedelta(hours=1), offline=True), T0)
    assert engine.tick(T0 + timedelta(hours=1)) == []


def test_a_gates_own_held_open_alarm_is_not_raised_twice_by_the_platform_rule() -> None:
    engine = AlarmEngine(AlarmRules(held_open_after=timedelta(seconds=60)))
    engine.on_event("gate-n", door_event(GateEventKind.DOOR_OPEN, T0), T0)
    (own,) = engine.on_event("gate-n", event(GateEventKind.HELD_OPEN, T0 + timedelta(seconds=30)), T0)
    assert engine.tick(T0 + timedelta(seconds=120)) == []
    assert [alarm.alarm_id for alarm in engine.unresolved] == [own.alarm_id]


def test_a_registered_gate_never_heard_from_raises_offline_after_the_delay() -> None:
    engine = AlarmEngine(AlarmRules(offline_after=timedelta(seconds=300)))
    engine.on_state("gate-new", False, T0)  # registered at T0: silent since then
    (raised,) = engine.tick(T0 + timedelta(seconds=301))
    assert (raised.kind, raised.gate_id) == (AlarmKind.GATE_OFFLINE, "gate-new")


def test_thresholds_that_cannot_work_are_refused() -> None:
    for bad in ({"held_open_after": timedelta(0)}, {"denial_window": timedelta(0)}, {"denial_threshold": 0},
                {"offline_after": timedelta(seconds=-1)}):
        with pytest.raises(ValueError):
            AlarmRules(**bad)  # type: ignore[arg-type]


def test_every_alarm_threshold_is_a_setting_with_a_default() -> None:
    defaults = AccessSettings()
    assert (defaults.denial_threshold, defaults.denial_window, defaults.door_held_open_after,
            defaults.gate_offline_after) == (5, timedelta(minutes=2), timedelta(seconds=60), timedelta(minutes=5))
    rules = AccessSettings(denial_threshold=3, denial_window=timedelta(seconds=30),
                           door_held_open_after=timedelta(seconds=90), gate_offline_after=timedelta(seconds=45)
                           ).alarm_rules
    assert (rules.denial_threshold, rules.denial_window, rules.held_open_after, rules.offline_after) == (
        3, timedelta(seconds=30), timedelta(seconds=90), timedelta(seconds=45))
    for broken in ({"denial_threshold": 0}, {"denial_window": timedelta(0)}, {"door_held_open_after": timedelta(0)},
                   {"gate_offline_after": timedelta(seconds=-1)}, {"resident_presence_stale_after": timedelta(0)}):
        with pytest.raises(ValueError):
            AccessSettings(**broken)  # type: ignore[arg-type]
