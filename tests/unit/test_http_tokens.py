"""Device tokens for HTTP ingestion: issued, written hashed, read back, and bound to their own device's topics."""

from __future__ import annotations

import pytest

from devices.http_tokens import (
    DeviceIdentity,
    TokenBook,
    TokensFileError,
    credentials_csv,
    issue_token,
    may_publish,
    tokens_file,
)
from devices.topics import Channel, DeviceKind, topic_for

GATE = DeviceIdentity("site-a", DeviceKind.GATE, "gate-01")
SCALE = DeviceIdentity("site-a", DeviceKind.SCALE, "scale-01")


def test_a_token_identifies_its_own_device_and_the_file_holds_no_secret() -> None:
    gate, scale = issue_token(GATE), issue_token(SCALE)
    text = tokens_file([gate, scale])
    book = TokenBook.parse(text)

    assert book.identify(gate.token) == GATE and book.identify(scale.token) == SCALE
    assert gate.secret not in text and scale.secret not in text
    assert len(book) == 2


def test_a_wrong_secret_an_unknown_id_or_no_token_shape_identifies_no_one() -> None:
    gate = issue_token(GATE)
    book = TokenBook.parse(tokens_file([gate]))

    assert book.identify(f"{gate.token_id}.{gate.secret}x") is None
    assert book.identify(f"{'0' * 16}.{gate.secret}") is None
    assert book.identify(gate.secret) is None and book.identify("") is None and book.identify(gate.token_id) is None


def test_the_clear_tokens_go_to_a_csv_for_configuring_the_devices() -> None:
    gate = issue_token(GATE)
    assert credentials_csv([gate]).splitlines() == ["site,kind,device,token", f"site-a,gate,gate-01,{gate.token}"]


@pytest.mark.parametrize(("line", "says"), [
    ("abc site-a gate gate-01", "expected <token id>"),
    ("abc site-a lamp gate-01 sha256$00$" + "00" * 32, "bad kind or hash"),
    ("abc site-a gate gate-01 md5$00$" + "00" * 16, "not sha256"),
    ("abc site.a gate gate-01 sha256$00$" + "00" * 32, "must match"),
])
def test_a_bad_line_is_refused_naming_its_number(line: str, says: str) -> None:
    with pytest.raises(TokensFileError, match=f"line 2: .*{says}"):
        TokenBook.parse(f"# header\n{line}\n")


def test_the_same_token_id_twice_is_refused() -> None:
    gate = issue_token(GATE)
    text = tokens_file([gate]) + tokens_file([gate]).splitlines()[-1] + "\n"
    with pytest.raises(TokensFileError, match="appears twice"):
        TokenBook.parse(text)


def test_a_device_posts_only_its_own_uplinks_as_its_broker_user_publishes() -> None:
    assert may_publish(GATE, topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.EVENT))
    assert may_publish(GATE, topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.STATE))
    assert may_publish(GATE, topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.ACK))
    assert not may_publish(GATE, topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.CMD))
    assert not may_publish(GATE, topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.RECORD))
    assert not may_publish(GATE, topic_for("site-a", DeviceKind.GATE, "gate-02", Channel.EVENT))
    assert not may_publish(GATE, topic_for("site-b", DeviceKind.GATE, "gate-01", Channel.EVENT))
    assert not may_publish(GATE, topic_for("site-a", DeviceKind.SCALE, "gate-01", Channel.RECORD))
