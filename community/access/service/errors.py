"""The refusals of the access use cases: an `AccessError` whose message says why, shown to the caller as it is, one
subclass per kind of refusal (the web layer maps each to its HTTP status), and the wording of a value the database
cannot store."""

from __future__ import annotations

UNSTORABLE_VALUE = "a value is too long, out of range or holds characters that cannot be stored"


class AccessError(Exception):
    """A use case refused; the message says why (shown to the caller). A refusal a resident meets says it in Chinese
    too (`message_zh`) and names its rule (`reason`, a stable code), as the voting API's refusals do."""

    def __init__(self, message: str, *, message_zh: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message_zh = message_zh
        self.reason = reason


class NotFound(AccessError):
    pass


class Conflict(AccessError):
    """It exists already, or the state does not allow it now."""


class Refused(AccessError):
    """It breaks a rule (an unknown group, a door of another community, a pass too long)."""


class NotAllowed(AccessError):
    """The caller may not do this to this thing (a resident inviting to a door they cannot open)."""


def not_found(what: str, key: str | int) -> NotFound:
    """The refusal of an id that names nothing (``no gate 'gate-09'``, ``no alarm 7``) — worded in one place, because
    an id outside the caller's scope is answered with it too: the two must not be told apart."""
    return NotFound(f"no {what} {key!r}" if isinstance(key, str) else f"no {what} {key}")
