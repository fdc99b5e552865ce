"""Signed webhooks: the versioned JSON event (:func:`notifications.events.event_document`) POSTed with
``Idempotency-Key``, ``X-Smartcity-Timestamp`` (Unix seconds) and ``X-Smartcity-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``timestamp + "." + body`` keyed by the endpoint's secret. Any 2xx is taken; anything else, or no
answer within the timeout, is a failed attempt."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import aiohttp

from notifications.channels import DeliveryFailed, Outgoing
from notifications.events import event_document
from notifications.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature


class HttpPoster:
    """One aiohttp client session for the HTTP channels, opened lazily in the dispatcher's loop."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(method, url, data=body, headers=headers,
                                             allow_redirects=False) as response:
                return response.status, await response.content.read(65_536)
        except (aiohttp.ClientError, TimeoutError) as failed:
            raise DeliveryFailed(f"no answer: {type(failed).__name__}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class WebhookSender:
    def __init__(self, poster: HttpPoster, clock: Callable[[], datetime]) -> None:
        self._poster = poster
        self._clock = clock

    async def send(self, outgoing: Outgoing) -> None:
        body = json.dumps(event_document(outgoing.event_id, outgoing.event), ensure_ascii=False,
                          separators=(",", ":")).encode()
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8", IDEMPOTENCY_HEADER: outgoing.idempotency_key,
            TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: webhook_signature(outgoing.secret, timestamp, body),
            "X-Smartcity-Event": outgoing.event.kind.value,
        }
        status, _answer = await self._poster.post(outgoing.address, body, headers)
        if not 200 <= status < 300:
            raise DeliveryFailed(f"receiver answered HTTP {status}")
