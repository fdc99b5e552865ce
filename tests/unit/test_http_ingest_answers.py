"""The HTTP source's answers before and after the pipeline: who may post what, how much, and when to come back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devices.http_tokens import DeviceIdentity, IssuedToken, issue_token, tokens_file
from devices.topics import DeviceKind
from gateway.batching.pipeline import Pipeline, PipelineLimits
from gateway.batching.spool import Spool
from gateway.inputs.http import DeviceTokens, HttpIngestLimits, HttpSource
from gateway.metrics import GatewayMetrics
from gateway.outputs import StoreUnavailable
from gateway.processors.points import CredentialHasher
from tests.unit.test_pipeline import FakeIntake, FakeStore, running

GATE = DeviceIdentity("site-a", DeviceKind.GATE, "gate-01")
EVENT_PATH = "/ingest/v1/site-a/gate/gate-01/event"
EVENT = {"event_id": "e-1", "ts": 1_795_000_000_000, "door": 1, "kind": "granted", "method": "card"}


@dataclass
class Ingest:
    client: TestClient[Any, Any]
    token: IssuedToken
    store: FakeStore
    pipeline: Pipeline
    metrics: GatewayMetrics
    tokens_path: Path

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token.token}"}


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Ingest]:
    token = issue_token(GATE)
    path = tmp_path / "http-tokens"
    path.write_text(tokens_file([token]))
    store, metrics = FakeStore(), GatewayMetrics()
    pipeline = Pipeline(store, Spool(tmp_path / "spool", 2048), metrics, CredentialHasher(b"k"),
                        PipelineLimits(batch_size=100, batch_interval_s=0.01, max_batches_in_flight=2,
                                       write_retries=0))
    pipeline.attach(FakeIntake())
    source = HttpSource(pipeline, DeviceTokens(path), HttpIngestLimits(max_body_bytes=4096, max_messages=5,
                                                                         wait_s=1.0, retry_after_s=7), metrics)
    app = web.Application()
    source.mount(app)
    async with running(pipeline), TestClient(TestServer(app)) as client:
        yield Ingest(client, token, store, pipeline, metrics, path)


async def test_without_a_token_or_with_a_wrong_one_the_answer_is_401(ingest: Ingest) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, ingest.auth(ingest.token.token_id + ".wrong"),
                    ingest.auth("nonsense")):
        response = await ingest.client.post(EVENT_PATH, json=EVENT, headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "device token" in (await response.json())["error"]
    assert not ingest.store.points
    assert ingest.metrics.value("sc_gateway_http_ingest_requests_total", status="401") == 4


@pytest.mark.parametrize("path", ["/ingest/v1/site-a/gate/gate-02/event", "/ingest/v1/site-b/gate/gate-01/event",
                                  "/ingest/v1/site-a/scale/gate-01/record", "/ingest/v1/site-a/gate/gate-01/cmd",
                                  "/ingest/v1/site-a/gate/gate-01/record", "/ingest/v1/site-a/gate/gate.01/event",
                                  "/ingest/v1/site-a/lamp/gate-01/event"])
async def test_a_token_posting_another_devices_topic_gets_403(ingest: Ingest, path: str) -> None:
    response = await ingest.client.post(path, json=EVENT, headers=ingest.auth())
    assert response.status == 403
    assert "gate-01" in (await response.json())["error"]
    assert not ingest.store.points


async def test_a_body_over_the_limit_is_413_whether_its_length_is_announced_or_not(ingest: Ingest) -> None:
    big = json.dumps({**EVENT, "pad": "x" * 5000}).encode()
    announced = await ingest.client.post(EVENT_PATH, data=big, headers=ingest.auth())
    assert announced.status == 413 and (await announced.json())["max_bytes"] == 4096

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    streamed = await ingest.client.post(EVENT_PATH, data=chunks(), headers=ingest.auth())
    assert streamed.status == 413
    assert not ingest.store.points


async def test_too_many_messages_are_413_and_an_empty_array_400(ingest: Ingest) -> None:
    many = [{**EVENT, "event_id": f"e-{n}"} for n in range(6)]
    assert (await ingest.client.post(EVENT_PATH, json=many, headers=ingest.auth())).status == 413
    assert (await ingest.client.post(EVENT_PATH, json=[], headers=ingest.auth())).status == 400
    assert not ingest.store.points


async def test_a_valid_message_is_answered_200_after_the_store_took_it(ingest: Ingest) -> None:
    ingest.store.gate = asyncio.Event()
    posted = asyncio.create_task(ingest.client.post(EVENT_PATH, json=EVENT, headers=ingest.auth()))
    await asyncio.sleep(0.1)
    assert not posted.done(), "no answer before the batch is durable"
    ingest.store.gate.set()
    response = await posted
    assert response.status == 200
    assert await response.json() == {"stored": 1, "dead_letters": 0, "to": "store",
                                     "results": [{"index": 0, "status": "stored"}]}
    assert [point.fields["event_id"] for point in ingest.store.points] == ["e-1"]
    assert ingest.metrics.value("sc_gateway_messages_received_total", channel="event", transport="http") == 1


async def test_store_down_spools_and_answers_202_then_429_once_the_spool_is_full(ingest: Ingest) -> None:
    ingest.store.failure = StoreUnavailable("down")
    first = await ingest.client.post(EVENT_PATH, json=EVENT, headers=ingest.auth())
    assert first.status == 202 and (await first.json())["to"] == "spool"

    answers = []
    for n in range(2, 40):  # the 2 KiB spool fills up within a few messages
        response = await ingest.client.post(EVENT_PATH, json={**EVENT, "event_id": f"e-{n}"}, headers=ingest.auth())
        answers.append(response.status)
        if response.status == 429:
            assert response.headers["Retry-After"] == "7"
            break
    assert answers[-1] == 429 and set(answers[:-1]) <= {202}
    refused_at_once = await ingest.client.post(EVENT_PATH, json={**EVENT, "event_id": "late"}, headers=ingest.auth())
    assert refused_at_once.status == 429, "while a batch is held, new posts are refused without waiting"


async def test_a_new_tokens_file_takes_effect_without_a_restart(ingest: Ingest) -> None:
    other = issue_token(GATE)
    ingest.tokens_path.write_text(tokens_file([other]) + "# rewritten\n")
    assert (await ingest.client.post(EVENT_PATH, json=EVENT, headers=ingest.auth())).status == 401
    assert (await ingest.client.post(EVENT_PATH, json=EVENT, headers=ingest.auth(other.token))).status == 200
    ingest.tokens_path.write_text("broken line\n")
    assert (await ingest.client.post(EVENT_PATH, json=EVENT, headers=ingest.auth(other.token))).status == 200, \
        "a file that cannot be read keeps the tokens read last"
