"""Which pushes the listener takes: a terminal signs nothing it pushes, so a push is taken only from the addresses
configured for its gate and, when the gate has a push token, only on the URL path that carries it.

Pure: the listener passes the request's source address, the gate's addresses and token, and the token in the path.
"""

from __future__ import annotations

import hmac
from enum import StrEnum


class Refusal(StrEnum):
    ADDRESS = "address"  # from an address not configured for the gate
    TOKEN = "token"  # the path's token missing, wrong, or given to a gate that has none


def refusal(source: str | None, allowed: frozenset[str], expected_token: str | None,
            given_token: str | None) -> Refusal | None:
    """Why a push to a gate is refused, or None when it is taken."""
    if source is None or source not in allowed:
        return Refusal.ADDRESS
    if expected_token is None:
        return None if given_token is None else Refusal.TOKEN
    if given_token is None or not hmac.compare_digest(given_token.encode(), expected_token.encode()):
        return Refusal.TOKEN
    return None
