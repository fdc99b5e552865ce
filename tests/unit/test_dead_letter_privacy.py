"""Dead letters keep what a device sent, but never a resident's raw credential: the simulator's own
malformed gate events (built from real card swipes) go through the gateway's decoding and come out
with every card number replaced by its keyed hash."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from devices.simulator import TrafficGenerator
from gateway.processors.decoding import Accepted, Rejected, decode
from gateway.processors.points import CredentialHasher, dead_letter_point
from gateway.processors.redaction import is_credential_key, redact_credentials

HASH = CredentialHasher(b"site key")
GATE_TOPIC = "sc/v1/demo/gate/gate-01/event"


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


# -- however the key is spelt ------------------------------------------------------------------------
# The contract's models read a key as JSON decodes it: "\u0063redential" IS the credential field. The redaction
# must read keys the same way, and more widely (Python's escapes, a form's %-encoding, any case).

CARD = "6217001234567890"


def kept_payload(payload: bytes) -> bytes:
    point = dead_letter_point(GATE_TOPIC, payload, "schema", "d", 1, 60_000, HASH)
    return base64.b64decode(point.fields["payload_b64"])  # type: ignore[arg-type]


def test_a_json_escaped_credential_key_is_the_contracts_credential_and_is_redacted() -> None:
    event = {"event_id": "e1", "ts": 1_763_861_400_123, "door": 1, "kind": "granted", "method": "card"}
    escaped_key = json.dumps({**event, "credential": CARD}).replace('"credential"', '"\\u0063redential"').encode()
    decoded = decode(GATE_TOPIC, escaped_key)
    assert isinstance(decoded, Accepted) and decoded.message.credential == CARD  # type: ignore[union-attr]

    rejected = escaped_key.replace(b'"door": 1', b'"door": "x"')
    assert isinstance(decode(GATE_TOPIC, rejected), Rejected)
    kept = kept_payload(rejected)

    assert CARD.encode() not in kept
    assert json.loads(kept)["credential"] == f"redacted:{HASH(CARD)}"


def key_spellings(escapes: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``credential`` written character by character, each as itself, in upper case, or as one of ``escapes``
    (formatted with the character's ``code``, the ``character`` and its ``upper`` case)."""
    def spell(character: str) -> st.SearchStrategy[str]:
        escaped = escapes.map(lambda escape: escape.format(code=ord(character), character=character,
                                                           upper=character.upper()))
        return st.one_of(st.just(character), st.just(character.upper()), escaped)
    return st.tuples(*(spell(character) for character in "credential")).map("".join)


JSON_ESCAPES = st.sampled_from(["\\u{code:04x}", "\\u{code:04X}"])
PYTHON_ESCAPES = st.sampled_from(["\\u{code:04x}", "\\x{code:02x}", "\\{code:o}", "\\U{code:08x}",
                                  "\\N{{LATIN SMALL LETTER {upper}}}"])
FORM_ESCAPES = st.sampled_from(["%{code:02x}", "%{code:02X}"])
WORDS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-99_999, 99_999) | WORDS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WORDS, inner, max_size=4),
    max_leaves=12,
)
CARDS = st.text("0123456789", min_size=8, max_size=19)
CARD_VALUES = st.one_of(CARDS, st.integers(10_000_000, 10**19), CARDS.map(lambda card: [card]),
                        CARDS.map(lambda card: {"number": card}))
"""A card as a string, a number, or inside an array or an object (only cards have eight digits in a row)."""


@st.composite
def documents_with_credentials(draw: st.DrawFn, spellings: st.SearchStrategy[str]) -> str:
    """A JSON text with one or more credential members — several in one object (duplicate keys) or nested at
    any depth — each key spelt by ``spellings``."""
    spelt: dict[str, str] = {}

    def with_credentials(value: Any) -> Any:
        if isinstance(value, list):
            return [with_credentials(item) for item in value]
        if not isinstance(value, dict):
            return value
        value = {key: with_credentials(item) for key, item in value.items()}
        for _ in range(draw(st.integers(0, 2))):
            placeholder = f"@{len(spelt)}@"  # no WORDS key has an @
            spelt[placeholder] = draw(spellings)
            value[placeholder] = draw(CARD_VALUES)
        return value

    document = with_credentials(draw(st.dictionaries(WORDS, JSON_VALUES, max_size=4)))
    if not spelt:
        spelt["@x@"] = draw(spellings)
        document["@x@"] = draw(CARD_VALUES)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1, "\t"])),
                      separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])))
    for placeholder, spelling in spelt.items():
        text = text.replace(f'"{placeholder}"', f'"{spelling}"')
    return text


def as_pairs(text: bytes) -> Any:
    """A JSON document with every object as its list of [key, value] pairs, duplicate keys and all."""
    return json.loads(text, object_pairs_hook=lambda pairs: {"pairs": [[key, value] for key, value in pairs]})


def credential_values(value: Any) -> list[Any]:
    """The values of the credential members of a document read by :func:`as_pairs`, in document order."""
    if isinstance(value, dict):
        return [found for key, item in value["pairs"]
                for found in ([item] if key.casefold() == "credential" else credential_values(item))]
    if isinstance(value, list):
        return [found for item in value for found in credential_values(item)]
    return []


def without_credentials(value: Any) -> Any:
    if isinstance(value, dict):
        return [[key, "..." if key.casefold() == "credential" else without_credentials(item)]
                for key, item in value["pairs"]]
    if isinstance(value, list):
        return [without_credentials(item) for item in value]
    return value


def card_in(value: Any) -> str:
    return str(re.search(r"\d{8,}", json.dumps(value))[0])  # type: ignore[index]


def assert_redacted(payload: bytes, kept: bytes, encoding: str = "utf-8") -> None:
    original, redacted = as_pairs(payload), as_pairs(kept)
    cards = credential_values(original)
    assert cards, "the spellings are JSON's spellings of credential: the document has credential members"
    for card in cards:
        assert card_in(card) not in kept.decode(encoding), (payload, kept)
    assert without_credentials(redacted) == without_credentials(original), "everything else is kept as it was"
    for card, hashed in zip(cards, credential_values(redacted), strict=True):
        if isinstance(card, str | int):  # a card as the gate event's hash sees it, so the two can be matched
            assert hashed == f"redacted:{HASH(str(card))}"
        else:
            assert str(hashed).startswith("redacted:")


@settings(max_examples=100)
@given(documents_with_credentials(key_spellings(JSON_ESCAPES)))
def test_every_json_spelling_of_the_credential_key_at_any_depth_loses_its_card(text: str) -> None:
    payload = text.encode()

    assert_redacted(payload, kept_payload(payload))


@settings(max_examples=100)
@given(documents_with_credentials(key_spellings(JSON_ESCAPES)),
       st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]))
def test_a_payload_in_utf_16_or_utf_32_which_json_reads_too_loses_its_cards(text: str, encoding: str) -> None:
    payload = text.encode(encoding)

    assert_redacted(payload, kept_payload(payload), encoding)


@settings(max_examples=150)
@given(st.one_of(
    key_spellings(PYTHON_ESCAPES).map(lambda key: f"{{'door': 1, '{key}': '{CARD}'}}"),
    key_spellings(PYTHON_ESCAPES).map(lambda key: f'{{"door": 1, "{key}": "{CARD}"}}'),
    key_spellings(FORM_ESCAPES).map(lambda key: f"door=1&{key}={CARD}&x=2"),
))
def test_python_escapes_and_form_encoding_of_the_key_lose_the_card_too(payload: str) -> None:
    kept = kept_payload(payload.encode())

    assert CARD.encode() not in kept, payload
    assert f"redacted:{HASH(CARD)}".encode() in kept


@settings(max_examples=100)
@given(st.dictionaries(WORDS, JSON_VALUES, max_size=6), st.sampled_from(["utf-8", "utf-16", "utf-32-le"]))
def test_a_payload_without_a_credential_is_kept_byte_for_byte(document: dict[str, Any], encoding: str) -> None:
    payload = json.dumps(document, ensure_ascii=False).encode(encoding)

    assert redact_credentials(payload, HASH) == payload


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_without_a_credential_are_kept_byte_for_byte(payload: bytes) -> None:
    assume(b"credential" not in payload.lower() and b"%" not in payload and b"\\" not in payload)

    assert redact_credentials(payload, HASH) == payload


@pytest.mark.parametrize("key", ["credential", "Credential", "CREDENTIAL", "\\u0063redential", "cred\\u0065ntial",
                                 "\\u0043REDENTIAL", "\\x63redential", "\\143redential",
                                 "\\u0063\\u0072\\u0065\\u0064\\u0065\\u006e\\u0074\\u0069\\u0061\\u006c"])
def test_the_key_is_compared_as_json_or_python_reads_it_in_any_case(key: str) -> None:
    assert is_credential_key(f'"{key}"')
    assert is_credential_key(f"'{key}'")


@pytest.mark.parametrize("key", ['"credentials"', '"credential_hash"', '"\\\\u0063redential"', '"cred ential"',
                                 "credentialx", '"x"', "%2563redential"])
def test_other_keys_are_not_the_credential(key: str) -> None:
    assert not is_credential_key(key)


@pytest.mark.parametrize("unit", [b'"\\', b"'\\", b'"a', b"a:", b"credential:{", b"%63redential=", b"\\u0063"])
def test_redacting_a_hostile_payload_takes_linear_time(unit: bytes) -> None:
    payload = unit * (60_000 // len(unit))
    started = time.perf_counter()

    redact_credentials(payload, HASH)

    assert time.perf_counter() - started < 2, "a scan that rereads the payload from every quote takes minutes"
