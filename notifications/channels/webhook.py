"""Signed webhooks: the versioned JSON event (:func:`notifications.events.event_document`) POSTed with
``Idempotency-Key``, ``X-Smartcity-Timestamp`` (Unix seconds) and ``X-Smartcity-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``timestamp + "." + body`` keyed by the endpoint's secret. Any 2xx is taken; anything else, or no
answer within the timeout, is a failed attempt."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp

from notifications.channels import DeliveryFailed, Outgoing
from notifications.channels.address_guard import AddressRefused, EndpointGuard, guarded_connector_args
from notifications.events import event_document
from notifications.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature


class HttpPoster:
    """The aiohttp client sessions of the HTTP channels, opened lazily in the dispatcher's loop. ``guard``: where
    an organisation's endpoint may be connected to, checked on the addresses its name resolves to at connect time
    (None: anywhere, as a test rig). The SMS provider's call (configured by the operator, perhaps a relay on the
    intranet) goes out unguarded, on a session of its own."""

    def __init__(self, timeout_s: float, guard: EndpointGuard | None = None) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._guard = guard
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def _session(self, guarded: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(guarded)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(**(guarded_connector_args(self._guard)
                                                if guarded and self._guard else {}))
            session = self._sessions[guarded] = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return session

    async def post(self, url: str, body: bytes, headers: dict[str, str], method: str = "POST",
                   guarded: bool = True) -> tuple[int, bytes]:
        if guarded and self._guard is not None:
            problem = self._guard.host_problem(urlsplit(url).hostname or "")
            if problem:
                raise DeliveryFailed(f"refused: the endpoint points at {problem}", permanent=True)
        try:
            async with self._session(guarded).request(method, url, data=body, headers=headers,
                                                      allow_redirects=False) as response:
                return response.status, await response.content.read(65_536)
        except aiohttp.ClientConnectorError as failed:
            if isinstance(failed.os_error, AddressRefused):
                raise DeliveryFailed(f"refused: {failed.os_error}", permanent=True) from None
            raise DeliveryFailed(f"no answer: {type(failed).__name__}") from None
        except (aiohttp.ClientError, TimeoutError) as failed:
            raise DeliveryFailed(f"no answer: {type(failed).__name__}") from None

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()


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
