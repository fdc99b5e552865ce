"""Signatures, pure functions of their inputs: our webhooks' HMAC-SHA256 over ``timestamp + "." + body``
(docs/integrations.md has the receiver's recipe) and DingTalk's robot signing (HMAC-SHA256 keyed by the robot's
secret over ``timestamp + "\\n" + secret``, Base64, URL-encoded, sent as the ``sign`` query parameter beside the
millisecond ``timestamp``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

TIMESTAMP_HEADER = "X-Smartcity-Timestamp"
SIGNATURE_HEADER = "X-Smartcity-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_WINDOW_S = 300
"""A receiver refuses a signed request whose timestamp is further than this from its own clock (both ways)."""


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Smartcity-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``f"{timestamp}."`` + body, keyed
    by the endpoint's secret (UTF-8)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_signature_valid(secret: str, timestamp: str, signature: str, body: bytes, now_s: int,
                            window_s: int = REPLAY_WINDOW_S) -> bool:
    """A receiver's check: the timestamp within ``window_s`` of ``now_s`` and the signature ours."""
    if not timestamp.isdigit() or abs(now_s - int(timestamp)) > window_s:
        return False
    return hmac.compare_digest(signature.encode(), webhook_signature(secret, int(timestamp), body).encode())


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` query parameter (URL-encoded) for ``timestamp_ms``."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))
