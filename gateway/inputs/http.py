"""The HTTP source: devices without MQTT post contract messages, answered only once they are durable.

``POST /ingest/v1/{site}/{kind}/{device}/{channel}`` mirrors the topic ``sc/v1/{site}/{kind}/{device}/{channel}``
the device would publish on; the body is one message or a JSON array of them (:mod:`gateway.inputs.http_framing`).
The messages go through the very pipeline MQTT messages go through (:meth:`Pipeline.submit`): decoded by the same
decoder, dead-lettered with the same reasons, in the same batches, spool and idempotent identities. Where MQTT
acknowledges a message once its batch is durable, this source answers the request then:

* 200 every message is in the time series (202: durable in the spool, in the time series when the store returns);
* 422 some message was dead-lettered (the others of the array are stored): ``results`` give each one's reason;
* 401 no token, or not a device token; 403 a token posting another device's topic (or a channel its device
  does not publish); 413 a body over ``SC_HTTP_INGEST_MAX_BODY_BYTES`` or an array over
  ``SC_HTTP_INGEST_MAX_MESSAGES``; 400 an empty array;
* 429 with Retry-After: backpressure — as many batches in flight as allowed, or the store down and the spool full,
  or the batch not durable within ``SC_HTTP_INGEST_WAIT_S``; 503 the gateway is stopping. Sending the same
  messages again is harmless: a message's identity is its own (docs/storage.md).

Refused requests are not dead-lettered: a dead letter is a durable point, and an anonymous caller must not be able
to write those at will. They are logged (without the token) and counted in ``sc_gateway_http_ingest_requests_total``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from devices.http_tokens import DeviceIdentity, TokenBook, TokensFileError, may_publish
from devices.topics import topic_for
from gateway.batching.pipeline import NotDurable, Pipeline
from gateway.inputs.http_framing import Unframed, frame
from gateway.metrics import GatewayMetrics
from gateway.processors.decoding import Accepted, Decoded, Rejected

log = logging.getLogger(__name__)

INGEST_PATH = "/ingest/v1/{site}/{kind}/{device}/{channel}"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="smartcity-devices"'}


@dataclass(frozen=True, slots=True)
class HttpIngestLimits:
    max_body_bytes: int = 256 * 1024
    max_messages: int = 100
    wait_s: float = 10.0
    retry_after_s: int = 5


class DeviceTokens:
    """The ``http-tokens`` file (SC_HTTP_TOKENS_FILE), read again when it changes, so that a new ``smartcity
    provision`` takes effect without a restart. A file that cannot be read keeps the tokens read last."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._seen: tuple[int, int] | None = None
        self._book = TokenBook.empty()
        self._refresh()

    def __len__(self) -> int:
        return len(self._book)

    def identify(self, token: str) -> DeviceIdentity | None:
        self._refresh()
        return self._book.identify(token)

    def _refresh(self) -> None:
        if self._path is None:
            return
        seen: tuple[int, int] | None = None
        try:
            status = self._path.stat()
            seen = (status.st_mtime_ns, status.st_size)
            if seen == self._seen:
                return
            self._book = TokenBook.parse(self._path.read_text(encoding="utf-8"))
            log.info("device tokens read", extra={"file": str(self._path), "tokens": len(self._book)})
        except (OSError, UnicodeDecodeError, TokensFileError) as error:
            if seen is None and self._seen is None:
                return  # still missing: said once already
            log.error("device tokens cannot be read; keeping the last ones",
                      extra={"file": str(self._path), "error": str(error)})
        self._seen = seen  # a broken file is read again only once it changes


class HttpSource:
    """Takes ``POST /ingest/v1/...`` into ``pipeline``; counts its answers on ``metrics``."""

    def __init__(self, pipeline: Pipeline, tokens: DeviceTokens, limits: HttpIngestLimits,
                 metrics: GatewayMetrics) -> None:
        self._pipeline = pipeline
        self._tokens = tokens
        self._limits = limits
        self._metrics = metrics

    def mount(self, app: web.Application) -> None:
        app.router.add_post(INGEST_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        response = await self._answer(request)
        self._metrics.http_answers.labels(str(response.status)).inc()
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        parts, path, peer = request.match_info, request.path, request.remote
        identity = self._authenticate(request)
        if identity is None:
            return _refusal(path, peer, 401, "send Authorization: Bearer <device token> (from 'smartcity "
                            "provision', http-credentials.csv)", headers=CHALLENGE)
        try:
            topic = topic_for(parts["site"], parts["kind"], parts["device"], parts["channel"])
        except ValueError:  # TopicError too: a bad site or device id, an unknown kind or channel
            topic = None
        if topic is None or not may_publish(identity, topic):
            return _refusal(path, peer, 403, f"this token is {identity.kind.value} {identity.device!r} of site "
                            f"{identity.site!r}: it posts only that device's own uplinks (data, state, ack)")
        limits = self._limits
        if request.content_length is not None and request.content_length > limits.max_body_bytes:
            return _too_large(path, peer, limits.max_body_bytes)
        if self._pipeline.saturated:
            return self._busy(path, peer, "the gateway cannot make more messages durable now (as many batches in "
                              "flight as allowed, or the store down and the spool full)")
        body = await _read_bounded(request, limits.max_body_bytes)
        if body is None:
            return _too_large(path, peer, limits.max_body_bytes)
        return await self.ingest(topic, body, peer=peer)

    async def ingest(self, topic: str, body: bytes, *, peer: str | None = None) -> web.Response:
        """The answer to ``body`` posted on ``topic`` by a device allowed to: its messages framed, handed to the
        pipeline and waited for until durable."""
        limits = self._limits
        framed = frame(body, limits.max_messages)
        if isinstance(framed, Unframed):
            return _refusal(topic, peer, 413 if framed.too_many else 400, framed.why)
        submission = self._pipeline.submit([(topic, payload) for payload in framed.payloads])
        durable = submission.durable
        durable.add_done_callback(_retrieve)
        try:
            destinations = await asyncio.wait_for(asyncio.shield(durable), limits.wait_s)
        except TimeoutError:
            return self._busy(topic, peer, f"the messages were not durable within {limits.wait_s:g} s "
                              "(SC_HTTP_INGEST_WAIT_S); send them again")
        except NotDurable as stopping:
            return _refusal(topic, peer, 503, str(stopping), headers={"Retry-After": str(limits.retry_after_s)})
        return _result(submission.outcomes, framed.batch, "spool" if "spool" in destinations else "store")

    def _authenticate(self, request: web.Request) -> DeviceIdentity | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._tokens.identify(token.strip())

    def _busy(self, where: str, peer: str | None, why: str) -> web.Response:
        return _refusal(where, peer, 429, why, headers={"Retry-After": str(self._limits.retry_after_s)})


def _retrieve(future: asyncio.Future[list[str]]) -> None:
    # the future may end after its request was answered (a 429 on timeout): its outcome is read here, not lost
    # in an "exception was never retrieved" warning
    if not future.cancelled():
        future.exception()


async def _read_bounded(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(where: str, peer: str | None, limit: int) -> web.Response:
    return _refusal(where, peer, 413, f"the body is larger than {limit} bytes (SC_HTTP_INGEST_MAX_BODY_BYTES)",
                    max_bytes=limit)


def _refusal(where: str, peer: str | None, status: int, why: str, headers: dict[str, str] | None = None,
             **details: Any) -> web.Response:
    log.info("http ingestion refused", extra={"status": status, "why": why, "where": where, "peer": peer})
    return web.json_response({"error": why, **details}, status=status, headers=headers)


def _result(outcomes: Sequence[Decoded], batch: bool, destination: str) -> web.Response:
    """200 (202 when spooled) when every message was accepted; 422 with each dead letter's reason otherwise."""
    results: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Accepted):
            results.append({"index": index, "status": "stored"})
        elif isinstance(outcome, Rejected):
            rejected.append(outcome)
            results.append({"index": index, "status": "dead_letter", "reason": outcome.reason.value,
                            "detail": outcome.detail})
        else:  # cannot happen: a device may not post to cmd (403 above)
            results.append({"index": index, "status": "ignored"})
    body: dict[str, Any] = {"stored": len(results) - len(rejected), "dead_letters": len(rejected),
                            "to": destination, "results": results}
    if not rejected:
        return web.json_response(body, status=202 if destination == "spool" else 200)
    first = rejected[0]
    error = first.detail if not batch else f"{len(rejected)} of {len(outcomes)} messages were dead-lettered"
    return web.json_response({"error": error, "reason": first.reason.value, **body}, status=422)
