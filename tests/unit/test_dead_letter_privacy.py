"""Dead letters keep what a device sent, but never a resident's raw credential: the simulator's own
malformed gate events (built from real card swipes) go through the gateway's decoding and come out
with every card number replaced by its keyed hash."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from devices.simulator import TrafficGenerator
from gateway.processors.decoding import Rejected, decode
from gateway.processors.points import CredentialHasher, dead_letter_point

HASH = CredentialHasher(b"site key")


def test_no_card_of_the_compound_survives_in_a_dead_letter() -> None:
    generator = TrafficGenerator("demo", gates=3, scales=0, seed=7, bad_ratio=1.0)
    cards = {resident.card for gate in generator.community_roster() for resident in gate.residents}
    cards |= {card for gate in generator.community_roster() for card in (*gate.expired_cards, *gate.blacklisted_cards)}
    now = datetime(2026, 11, 20, 8, tzinfo=UTC)
    kept: list[bytes] = []
    carried_a_card = 0
    for step in range(400):
        message = generator.next_message(now + timedelta(seconds=step))
        decoded = decode(message.topic, message.payload)
        if not isinstance(decoded, Rejected):
            continue
        carried_a_card += any(card.encode() in message.payload for card in cards)
        point = dead_letter_point(message.topic, message.payload, decoded.reason.value, decoded.detail, 1, 4096, HASH)
        kept.append(base64.b64decode(point.fields["payload_b64"]))  # type: ignore[arg-type]

    assert carried_a_card > 20, "the simulator's malformed gate events carry real cards: the case under test"
    assert not [payload for payload in kept if any(card.encode() in payload for card in cards)]
    assert any(b'"redacted:' in payload for payload in kept)
