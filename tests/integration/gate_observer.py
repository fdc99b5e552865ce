"""What a bridged gate publishes, as the bridges' tests watch it: an MQTT observer on the gate's topics that keeps
every message by channel, and the stopping of a bridge left running by a test that failed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from devices.topics import Channel


@dataclass
class Seen:
    """Everything the gate publishes, by channel, in order."""

    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of(self, channel: Channel) -> list[dict[str, Any]]:
        return self.messages.setdefault(channel.value, [])

    async def until(self, check: Callable[[], Any], timeout: float = 8.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := check()):  # None, False, an empty list or state: not yet
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not seen within {timeout}s; seen: {json.dumps(self.messages)[:3000]}")
            await asyncio.sleep(0.05)
        return result

    def events(self) -> list[dict[str, Any]]:
        return self.of(Channel.EVENT)

    def last_state(self) -> dict[str, Any]:
        """The gate's latest retained state; empty before the first."""
        states = self.of(Channel.STATE)
        return states[-1] if states else {}


@contextlib.asynccontextmanager
async def observing(broker_port: int, site: str, gate: str) -> AsyncIterator[tuple[aiomqtt.Client, Seen]]:
    """A client subscribed to every channel of ``gate`` (it publishes the tests' commands too), and what it saw."""
    seen = Seen()
    async with aiomqtt.Client("127.0.0.1", broker_port, identifier="test-observer") as client:
        await client.subscribe(f"sc/v1/{site}/gate/{gate}/#", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                channel = str(message.topic).rsplit("/", 1)[1]
                assert isinstance(message.payload, bytes)
                seen.messages.setdefault(channel, []).append(json.loads(message.payload))

        collector = asyncio.create_task(collect())
        try:
            yield client, seen
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector


async def stop_left_running(stop: asyncio.Event | None, task: asyncio.Task[Any] | None) -> None:
    """Stop a bridge a test left running (it failed half-way): its error, if any, is the test's concern, not this."""
    if task is not None and not task.done():
        assert stop is not None
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
