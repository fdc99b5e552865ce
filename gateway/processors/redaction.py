"""Credentials out of dead letters: every value of a ``credential`` member of a rejected payload replaced by its
keyed hash, whatever the payload's shape and however the member's name is spelt.

A key is compared as a decoder would read it, not as its bytes look: ``"\\u0063redential"`` is ``credential`` to
JSON (and so to the contract's pydantic models), ``'\\x63redential'`` to a Python repr, ``%63redential`` in a form.
The comparison ignores case although the contract's field name does not (pydantic takes only ``credential``; a
``Credential`` member is refused as unknown): a device that spells it otherwise most likely still sends a card.
Every occurrence is replaced — nested at any depth, repeated (JSON keeps the last of duplicate keys, a person
reading the dead letter sees them all) — and so is a value that is an object or an array as a whole.

The scan works on text that round-trips to the same bytes (UTF-8 with undecodable bytes kept as they are, so
payloads that are not UTF-8 or not JSON are covered too), and once more in UTF-16 or UTF-32 when the payload
looks like JSON in one of those (as :func:`json.detect_encoding` tells), since Python's JSON reads those too.
No I/O here: :func:`gateway.processors.points.dead_letter_point` calls it on every dead letter.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote_plus

REDACTED = "redacted"
CREDENTIAL = "credential"

HashCredential = Callable[[str], str]

MAX_KEY_CHARS = 300
"""The longest key looked at: ``credential`` with every letter written ``\\N{LATIN CAPITAL LETTER C}`` fits."""
_KEY_CHARACTER = r"[\w\\{} -]"
"""What a spelling of ``credential`` is made of: letters, and escapes (a backslash, hex or octal digits, a
``\\N{NAME}``). A quoted candidate holds only these, so it ends at the next quote at the latest: each character is
read by one candidate of each kind, and the scan stays linear whatever a device sends."""
# A key and its separator, found at every position (a zero-width lookahead, so the matches overlap and a candidate
# that turns out not to be a key never hides a real one behind it): a double- or single-quoted string, or a bare
# word (a form's key=value, maybe %-encoded, maybe with a stray quote after it).
_KEY = re.compile(
    rf"""(?=(?P<key>"{_KEY_CHARACTER}{{1,{MAX_KEY_CHARS}}}"|'{_KEY_CHARACTER}{{1,{MAX_KEY_CHARS}}}'"""
    rf"""|(?<![\w%+-])[\w%+-]{{1,{MAX_KEY_CHARS}}}["']?)(?P<separator>\s*[:=]\s*))"""
)
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|N\{[^}]{1,100}\}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a"}
_BARE_VALUE = re.compile(r"[^\s,;&}\]]*")
_WIDE_ENCODINGS = {"utf-16": 2, "utf-16-be": 2, "utf-16-le": 2, "utf-32": 4, "utf-32-be": 4, "utf-32-le": 4}


def redact_credentials(payload: bytes, hash_credential: HashCredential | None) -> bytes:
    """``payload`` with the value of every ``credential`` member (JSON, a Python repr, key=value; quoted or not,
    closed or cut off) replaced by ``"redacted:<keyed hash>"`` (``"redacted"`` without a hasher); every other
    byte as it was."""
    redacted = _redact_text(payload.decode("utf-8", "surrogateescape"), hash_credential)
    payload = redacted.encode("utf-8", "surrogateescape")
    encoding = json.detect_encoding(payload)
    if encoding in _WIDE_ENCODINGS:
        payload = _redact_wide(payload, encoding, hash_credential)
    return payload


def _redact_wide(payload: bytes, encoding: str, hash_credential: HashCredential | None) -> bytes:
    """The same in UTF-16 or UTF-32; a cut-off last code unit is kept as it is."""
    if encoding in ("utf-16", "utf-32"):  # a byte order mark says which end first: keep it, and that order
        little = payload.startswith(codecs.BOM_UTF32_LE if encoding == "utf-32" else codecs.BOM_UTF16_LE)
        encoding += "-le" if little else "-be"
    whole = len(payload) - len(payload) % _WIDE_ENCODINGS[encoding]
    try:
        text = payload[:whole].decode(encoding, "surrogatepass")
    except UnicodeDecodeError:  # not that encoding after all (UTF-32 past U+10FFFF): the UTF-8 pass stands
        return payload
    return _redact_text(text, hash_credential).encode(encoding, "surrogatepass") + payload[whole:]


def _redact_text(text: str, hash_credential: HashCredential | None) -> str:
    pieces: list[str] = []
    done = 0
    for match in _KEY.finditer(text):
        if match.start() < done or not is_credential_key(match["key"]):
            continue  # inside a value already replaced, or another key
        value_start = match.start() + len(match["key"]) + len(match["separator"])
        value_end = _value_end(text, value_start)
        pieces += [text[done:value_start], _replacement(text[value_start:value_end], hash_credential)]
        done = value_end
    pieces.append(text[done:])
    return "".join(pieces)


def is_credential_key(token: str) -> bool:
    """Whether ``token`` — a quoted key as written, or a bare one — reads ``credential`` in any case, with its
    escapes (JSON's and Python's) or its form %-encoding decoded."""
    if token[:1] in ("'", '"') and token[-1:] == token[:1] and len(token) > 1:
        name = _unescape(token[1:-1])
    else:
        name = _unescape(unquote_plus(token.rstrip("'\"")))
    return name.casefold() == CREDENTIAL


def _unescape(text: str) -> str:
    """Backslash escapes decoded as JSON or Python would (an unknown one, ``\\c``, as the letter: JavaScript's
    reading, which only widens what counts as the key)."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_escaped_character, text)


def _escaped_character(match: re.Match[str]) -> str:
    escape = match[1]
    if escape[0] in "xuU" and len(escape) > 1:
        code = int(escape[1:], 16)
        return chr(code) if code <= sys.maxunicode else escape
    if escape[0] in "01234567":
        return chr(int(escape, 8))
    if escape.startswith("N{"):
        try:
            return unicodedata.lookup(escape[2:-1])
        except KeyError:
            return escape
    return _SIMPLE_ESCAPES.get(escape, escape)


def _value_end(text: str, start: int) -> int:
    """Where the value beginning at ``start`` ends: a quoted string, an object or array (balanced, strings inside
    skipped), or a bare word; the end of ``text`` when it is cut off."""
    opening = text[start:start + 1]
    if opening in ('"', "'"):
        return _string_end(text, start)
    if opening in ("{", "["):
        depth, position = 0, start
        while position < len(text):
            character = text[position]
            if character in ('"', "'"):
                position = _string_end(text, position)
                continue
            depth += character in "{["
            depth -= character in "}]"
            position += 1
            if depth == 0:
                break
        return position
    bare = _BARE_VALUE.match(text, start)
    return bare.end() if bare else start


def _string_end(text: str, start: int) -> int:
    quote, position = text[start], start + 1
    while position < len(text):
        if text[position] == "\\":
            position += 2
        elif text[position] == quote:
            return position + 1
        else:
            position += 1
    return len(text)


def _replacement(value: str, hash_credential: HashCredential | None) -> str:
    if hash_credential is None:
        return f'"{REDACTED}"'
    return f'"{REDACTED}:{hash_credential(_credential_text(value))}"'


def _credential_text(value: str) -> str:
    """The credential as the gate event's hash would see it: a JSON string unescaped where it is one; else the
    value as written (undecodable bytes as U+FFFD), without its quotes."""
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = None
    if isinstance(decoded, str) and _is_encodable(decoded):
        return decoded
    raw = value.encode("utf-8", "surrogateescape") if _is_escaped_bytes(value) else value.encode("utf-8", "replace")
    return raw.strip(b"\"'").decode("utf-8", "replace")


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_escaped_bytes(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True
