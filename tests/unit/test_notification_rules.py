"""The notifications' pure rules: coalescing, quiet hours, back-off, signing, channels per person, endpoint URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, time, timedelta
from urllib.parse import unquote_plus

from hypothesis import given
from hypothesis import strategies as st

from notifications.backoff import RetryPolicy, retry_at
from notifications.coalescing import admit, due
from notifications.endpoints import url_problem
from notifications.events import Channel, NotificationKind, Severity
from notifications.preferences import Preferences, personal_channels
from notifications.quiet_hours import QuietHours, held_until
from notifications.signing import dingtalk_sign, webhook_signature, webhook_signature_valid

T0 = datetime(2027, 1, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SPAN = timedelta(minutes=5)


def _messages(times: list[datetime], now_after: datetime) -> tuple[int, int]:
    """(messages sent, events counted in them) for events of one key at ``times``, the clock then at now_after."""
    window, sent, counted = None, 0, 0
    for number, at in enumerate(times):
        admission = admit(window, "k", number, at, SPAN)
        if admission.closed is not None:
            sent, counted = sent + 1, counted + admission.closed.folded
        if admission.deliver:
            sent, counted = sent + 1, counted + 1
        window = admission.window
    if window is not None and due(window, now_after, SPAN):
        sent, counted = sent + 1, counted + window.folded
    return sent, counted


def test_a_storm_of_a_thousand_in_a_minute_is_two_messages_counting_all() -> None:
    times = [T0 + timedelta(milliseconds=60 * i) for i in range(1000)]
    assert _messages(times, T0 + timedelta(minutes=10)) == (2, 1000)


@given(st.lists(st.integers(min_value=0, max_value=3600 * 1000), min_size=1, max_size=400))
def test_messages_are_bounded_by_windows_and_every_event_is_counted(offsets: list[int]) -> None:
    times = [T0 + timedelta(milliseconds=offset) for offset in sorted(offsets)]
    sent, counted = _messages(times, T0 + timedelta(hours=2))
    windows = (times[-1] - times[0]) // SPAN + 1
    assert counted == len(times)
    assert sent <= 2 * windows


def test_an_event_after_the_window_opens_a_new_one_and_closes_the_old() -> None:
    first = admit(None, "k", 1, T0, SPAN)
    folded = admit(first.window, "k", 2, T0 + timedelta(minutes=1), SPAN)
    assert first.deliver and not folded.deliver and folded.window.folded == 1
    later = admit(folded.window, "k", 3, T0 + timedelta(minutes=6), SPAN)
    assert later.deliver and later.closed is not None and later.closed.folded == 1 and later.window.folded == 0
    assert not due(later.window, T0 + timedelta(hours=1), SPAN)  # nothing folded: no summary


def test_quiet_hours_over_midnight_hold_mail_until_morning_in_shanghai() -> None:
    night = QuietHours(time(22, 0), time(7, 0))
    at_23 = datetime(2027, 1, 20, 15, 0, tzinfo=UTC)  # 23:00 local
    assert night.until(at_23) == datetime(2027, 1, 20, 23, 0, tzinfo=UTC)  # 07:00 local next day
    assert night.until(datetime(2027, 1, 20, 20, 30, tzinfo=UTC)) == datetime(2027, 1, 20, 23, 0, tzinfo=UTC)
    assert night.until(T0) is None  # 10:00 local
    assert QuietHours(time(8, 0), time(8, 0)).until(at_23) is None


def test_critical_events_and_in_app_pass_through_quiet_hours() -> None:
    night = QuietHours(time(22, 0), time(7, 0))
    at_23 = datetime(2027, 1, 20, 15, 0, tzinfo=UTC)
    assert held_until(night, Severity.WARNING, Channel.EMAIL, at_23) is not None
    assert held_until(night, Severity.WARNING, Channel.SMS, at_23) is not None
    assert held_until(night, Severity.CRITICAL, Channel.EMAIL, at_23) is None
    assert held_until(night, Severity.WARNING, Channel.IN_APP, at_23) is None
    assert held_until(None, Severity.WARNING, Channel.EMAIL, at_23) is None


def test_back_off_doubles_up_to_its_cap_then_gives_up() -> None:
    policy = RetryPolicy(timedelta(seconds=10), 2, timedelta(minutes=5), timedelta(hours=1))
    waits = [retry_at(policy, attempt, T0, T0) for attempt in (1, 2, 3, 6, 20)]
    assert [w - T0 for w in waits if w] == [timedelta(seconds=s) for s in (10, 20, 40, 300, 300)]
    assert retry_at(policy, 3, T0, T0 + timedelta(minutes=59, seconds=50)) is None


def test_webhook_signature_is_the_documented_recipe_and_has_a_replay_window() -> None:
    body = b'{"kind":"gate_alarm"}'
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1769000000." + body, hashlib.sha256).hexdigest()
    assert webhook_signature("s3cret-s3cret-s3cret", 1769000000, body) == f"sha256={expected}"
    signature = webhook_signature("s3cret-s3cret-s3cret", 1769000000, body)
    assert webhook_signature_valid("s3cret-s3cret-s3cret", "1769000000", signature, body, 1769000100)
    assert not webhook_signature_valid("s3cret-s3cret-s3cret", "1769000000", signature, body, 1769000400)
    assert not webhook_signature_valid("s3cret-s3cret-s3cret", "1769000000", signature, body + b" ", 1769000000)
    assert not webhook_signature_valid("other-secret-value!!", "1769000000", signature, body, 1769000000)


def test_dingtalk_sign_is_base64_hmac_of_timestamp_newline_secret_url_encoded() -> None:
    sign = dingtalk_sign("SECabc", 1700000000000)
    raw = hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
    assert base64.b64decode(unquote_plus(sign)) == raw
    # the value a published implementation gives for ("1700000000000", "secret")
    assert dingtalk_sign("secret", 1700000000000) == "OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D"


def test_a_person_hears_on_chosen_configured_reachable_channels() -> None:
    configured = frozenset({Channel.IN_APP, Channel.EMAIL})
    nobody_chose = Preferences(email="pm@example.com")
    assert personal_channels(nobody_chose, NotificationKind.GATE_ALARM, configured) == [Channel.IN_APP, Channel.EMAIL]
    assert personal_channels(Preferences(), NotificationKind.GATE_ALARM, configured) == [Channel.IN_APP]
    sms_only = Preferences(phone="13800138000", channels={NotificationKind.GATE_ALARM: frozenset({Channel.SMS})})
    assert personal_channels(sms_only, NotificationKind.GATE_ALARM, configured) == []  # SMS not configured
    assert personal_channels(sms_only, NotificationKind.GATE_ALARM, configured | {Channel.SMS}) == [Channel.SMS]


def test_endpoint_urls_are_http_and_not_loopback_unless_allowed() -> None:
    assert url_problem("https://hooks.example.com/a", False) is None
    assert url_problem("ftp://hooks.example.com/a", False)
    assert url_problem("http://127.0.0.1:8080/hook", False)
    assert url_problem("http://[::1]/hook", False)
    assert url_problem("http://169.254.169.254/latest", False)
    assert url_problem("http://localhost/hook", False)
    assert url_problem("http://user:pw@example.com/", False)
    assert url_problem("http://127.0.0.1:8080/hook", True) is None
    assert url_problem("http://[bad", False)
