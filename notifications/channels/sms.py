"""SMS behind a provider interface: the provider's HTTP call is configured, not coded (SC_NOTIFY_SMS_*), as most
Chinese SMS gateways take one templated request. ``$phone``, ``$text`` and ``$key`` (the idempotency key) are
substituted — URL-encoded in the URL template, JSON-escaped in the body template. docs/integrations.md has
examples. No provider is contacted in the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from string import Template
from urllib.parse import quote

from notifications.channels import DeliveryFailed, Outgoing, plain_text
from notifications.channels.webhook import HttpPoster
from notifications.signing import IDEMPOTENCY_HEADER

SMS_TEXT_CHARS = 300
"""Longer texts are cut: a provider splits beyond 70 characters and charges per part."""


@dataclass(frozen=True)
class SmsProvider:
    url_template: str
    method: str = "POST"
    body_template: str = '{"phone": "$phone", "text": "$text", "id": "$key"}'
    content_type: str = "application/json"
    authorization: str | None = None


def _json_escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


class SmsSender:
    def __init__(self, provider: SmsProvider, poster: HttpPoster) -> None:
        self._provider = provider
        self._poster = poster

    def request(self, outgoing: Outgoing) -> tuple[str, bytes]:
        """The provider's URL and body for ``outgoing``."""
        text = plain_text(outgoing.event)[:SMS_TEXT_CHARS]
        values = {"phone": outgoing.address, "text": text, "key": outgoing.idempotency_key}
        url = Template(self._provider.url_template).safe_substitute({k: quote(v) for k, v in values.items()})
        body = Template(self._provider.body_template).safe_substitute(
            {k: _json_escaped(v) for k, v in values.items()}) if self._provider.method != "GET" else ""
        return url, body.encode()

    async def send(self, outgoing: Outgoing) -> None:
        url, body = self.request(outgoing)
        headers = {"Content-Type": self._provider.content_type, IDEMPOTENCY_HEADER: outgoing.idempotency_key}
        if self._provider.authorization:
            headers["Authorization"] = self._provider.authorization
        status, _answer = await self._poster.post(url, body, headers, method=self._provider.method, guarded=False)
        if not 200 <= status < 300:
            raise DeliveryFailed(f"SMS provider answered HTTP {status}")
