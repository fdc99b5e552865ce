"""Decode → batch → write → acknowledge. A message is acked only once its point is durable.

Points go to the time-series store in batches (flushed on size or age). A batch the store cannot
take after a few retries is written to the on-disk spool instead, then acked; the spool is replayed
oldest first once the store answers again. When the spool is full, the batch is held and retried
and intake pauses: backpressure instead of loss. Bad input becomes a dead-letter point in the same
batch, so it is exactly as durable as good input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from devices.contract import UplinkModel
from devices.topics import DeviceTopic
from gateway.batching.spool import Spool, SpoolFull
from gateway.inputs.mqtt import Inbound
from gateway.metrics import GatewayMetrics
from gateway.outputs import StoreRejected, StoreUnavailable, TimeSeriesStore
from gateway.processors.decoding import Accepted, Decoded, Decoder, Rejected, decode
from gateway.processors.hot_path import HotPath
from gateway.processors.points import CredentialHasher, Point, dead_letter_point, point_for

log = logging.getLogger(__name__)

T = TypeVar("T")
AckToken = tuple[int, int, int]  # (connection generation, mid, qos)


Stored = tuple[DeviceTopic, UplinkModel | None]
"""An accepted message once durable: its topic, and its model where one was built (None where the hot path,
:mod:`gateway.processors.hot_path`, stored a gate event or a scale record straight from its bytes)."""


class IngestListener(Protocol):
    """Told of accepted messages once they are durably stored (the device registry)."""

    def on_stored(self, messages: Sequence[Stored]) -> None: ...


class Intake(Protocol):
    """What the pipeline needs of its message source."""

    def ack(self, tokens: Sequence[AckToken]) -> int: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


@dataclass
class Batch:
    opened_at: float
    durable: bool = False
    messages: int = 0
    points: list[Point] = field(default_factory=list)
    acks: list[AckToken] = field(default_factory=list)
    accepted: list[Stored] = field(default_factory=list)
    waiters: list[asyncio.Future[str]] = field(default_factory=list)
    """Callers waiting for this batch to be durable (HTTP ingestion), told where it went: store or spool."""


class NotDurable(Exception):
    """A batch could not be made durable before the gateway stopped; its senders must send it again."""


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of messages handed in by :meth:`Pipeline.submit`: each one's decoding, in order, and the
    batches that hold them, done (``durable``) once every one of them is durable."""

    outcomes: list[Decoded]
    durable: asyncio.Future[list[str]]


@dataclass(frozen=True, slots=True)
class PipelineLimits:
    batch_size: int = 5000
    batch_interval_s: float = 0.1
    max_batches_in_flight: int = 4
    max_payload_bytes: int = 64 * 1024
    dead_letter_payload_bytes: int = 4096
    write_retries: int = 3


class Pipeline:
    def __init__(
        self,
        store: TimeSeriesStore,
        spool: Spool,
        metrics: GatewayMetrics,
        hash_credential: CredentialHasher,
        limits: PipelineLimits = PipelineLimits(),
        listeners: Sequence[IngestListener] = (),
        clock_ns: Callable[[], int] = time.time_ns,
        decoder: Decoder = decode,
    ) -> None:
        self._store = store
        self._decode = decoder
        # the models' decoding is the reference; a test that gives its own decoder means it to see every message
        self._hot_path = HotPath(hash_credential, limits.max_payload_bytes) if decoder is decode else None
        self._spool = spool
        self._metrics = metrics
        self._hash_credential = hash_credential
        self._limits = limits
        self._listeners = list(listeners)
        self._clock_ns = clock_ns
        self._last_ns = 0
        self._intake: Intake | None = None
        self._batch: Batch | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._store_up = True
        self._spool_changed = asyncio.Event()
        self._spool_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._ack_order: deque[Batch] = deque()
        self._holding = 0  # batches neither the store nor the spool takes now
        self._stopping = False
        self._metrics.store_up.set(1)
        self._update_spool_metrics()

    def attach(self, intake: Intake) -> None:
        self._intake = intake

    def add_listener(self, listener: IngestListener) -> None:
        self._listeners.append(listener)

    @property
    def store_up(self) -> bool:
        return self._store_up

    # -- intake (synchronous, on the event loop) -------------------------------------------------

    def on_messages(self, messages: list[Inbound]) -> None:
        batch_size = self._limits.batch_size
        hot_path = self._hot_path
        counts: Counter[str] = Counter()
        dead: Counter[str] = Counter()
        # one clock reading per burst, consecutive nanoseconds from it (a dead letter reads the clock: see _admit)
        received_ns = max(self._clock_ns(), self._last_ns + 1) - 1
        batch = self._batch
        for message in messages:
            if batch is None:
                batch = self._batch = Batch(time.monotonic())
            received_ns += 1
            taken = hot_path(message.topic, message.payload, received_ns) if hot_path is not None else None
            if taken is None:
                self._last_ns = received_ns
                self._admit(batch, message.topic, message.payload, counts, dead, None)
                received_ns = self._last_ns  # a dead letter read the clock itself
            else:
                topic, point = taken
                counts[topic.channel] += 1
                batch.messages += 1
                batch.points.append(point)
                batch.accepted.append((topic, None))
            batch.acks.append((message.generation, message.mid, message.qos))
            if len(batch.points) >= batch_size:
                self._seal()
                batch = None
        self._last_ns = received_ns
        self._count("mqtt", counts, dead)

    def submit(self, messages: Sequence[tuple[str, bytes]], transport: str = "http") -> Submission:
        """Take messages from a source that answers its sender (HTTP ingestion) instead of acknowledging to a
        broker: decoded, dead-lettered and batched exactly as :meth:`on_messages` does, with a future the caller
        awaits before answering — done once every batch holding them is durable (store or spool)."""
        loop = asyncio.get_running_loop()
        counts: Counter[str] = Counter()
        dead: Counter[str] = Counter()
        outcomes: list[Decoded] = []
        waiting: list[asyncio.Future[str]] = []
        for topic, payload in messages:
            batch = self._batch
            if batch is None:
                batch = self._batch = Batch(time.monotonic())
            outcomes.append(self._admit(batch, topic, payload, counts, dead, self._unique_now_ns()))
            if not batch.waiters or batch.waiters[-1] not in waiting:
                waiter: asyncio.Future[str] = loop.create_future()
                batch.waiters.append(waiter)
                waiting.append(waiter)
            if len(batch.points) >= self._limits.batch_size:
                self._seal()
        self._count(transport, counts, dead)
        return Submission(outcomes, asyncio.gather(*waiting))

    @property
    def saturated(self) -> bool:
        """Whether new messages should wait: as many batches in flight as allowed (the MQTT intake is paused), a
        batch that neither the store nor the spool takes (store down, spool full), or the gateway stopping."""
        return self._stopping or self._holding > 0 or len(self._in_flight) >= self._limits.max_batches_in_flight

    def _admit(self, batch: Batch, topic: str, payload: bytes, counts: Counter[str], dead: Counter[str],
               received_ns: int | None) -> Decoded:
        """One message into ``batch`` by the models: its point, or its dead letter, or nothing (our own downlink).

        A dead letter is keyed by its receive time alone (site and reason are its only tags), so it reads the clock
        itself when ``received_ns`` is None: a burst's times are consecutive nanoseconds from one reading, which
        two gateway workers could share."""
        limits = self._limits
        decoded = self._decode(topic, payload, limits.max_payload_bytes)
        if received_ns is None:
            received_ns = self._unique_now_ns()
        batch.messages += 1
        if isinstance(decoded, Accepted):
            counts[decoded.topic.channel] += 1
            batch.points.append(point_for(decoded.topic, decoded.message, received_ns, self._hash_credential))
            batch.accepted.append((decoded.topic, decoded.message))
        elif isinstance(decoded, Rejected):
            counts["invalid"] += 1
            dead[decoded.reason.value] += 1
            batch.points.append(
                dead_letter_point(
                    topic,
                    payload,
                    decoded.reason.value,
                    decoded.detail,
                    received_ns,
                    limits.dead_letter_payload_bytes,
                    self._hash_credential,
                )
            )
        else:
            counts["cmd"] += 1
        return decoded

    def _count(self, transport: str, counts: Counter[str], dead: Counter[str]) -> None:
        # counted once per burst: prometheus' labels() lookup costs as much as decoding a message
        for channel, count in counts.items():
            self._metrics.received.labels(channel, transport).inc(count)
        for reason, count in dead.items():
            self._metrics.dead_letters.labels(reason).inc(count)

    def add_internal_point(self, point: Point) -> None:
        """A point of the gateway's own (its counters): batched with the rest, nothing to ack."""
        if self._batch is None:
            self._batch = Batch(time.monotonic())
        self._batch.points.append(point)

    def _unique_now_ns(self) -> int:
        # dead letters are keyed by receive time: two in the same nanosecond must stay two points
        now = max(self._clock_ns(), self._last_ns + 1)
        self._last_ns = now
        return now

    def _seal(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None or not (batch.messages or batch.points):
            return
        self._ack_order.append(batch)
        task = asyncio.get_running_loop().create_task(self._flush(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._flushed)
        self._metrics.in_flight.set(len(self._in_flight))
        if len(self._in_flight) >= self._limits.max_batches_in_flight:
            self._pause_intake()

    def _pause_intake(self) -> None:
        if self._intake is not None:
            self._intake.pause()
            self._metrics.paused.set(1)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._metrics.in_flight.set(len(self._in_flight))
        if not task.cancelled() and task.exception() is not None:
            log.error("batch flush failed", exc_info=task.exception())
        # once stopping, intake stays paused: drain() must reach an end
        if not self._stopping and len(self._in_flight) < self._limits.max_batches_in_flight and self._intake:
            self._intake.resume()
            self._metrics.paused.set(0)

    def _release_acks(self) -> None:
        """Acknowledge durable batches in the order their messages arrived (MQTT 3.1.1 requires
        PUBACKs in receive order; batches written concurrently may finish out of order)."""
        while self._ack_order and self._ack_order[0].durable:
            batch = self._ack_order.popleft()
            if self._intake is not None and batch.acks:
                self._intake.ack(batch.acks)

    # -- background work ------------------------------------------------------------------------

    async def run(self) -> None:
        """Seal batches by age and replay the spool; runs until cancelled."""
        replay = asyncio.create_task(self._replay_loop(), name="spool-replay")
        try:
            interval = self._limits.batch_interval_s
            while True:
                await asyncio.sleep(interval / 2)
                batch = self._batch
                if batch is not None and time.monotonic() - batch.opened_at >= interval:
                    self._seal()
        finally:
            replay.cancel()

    async def drain(self, deadline_s: float = 30.0) -> None:
        """For a graceful shutdown: stop intake, write and acknowledge everything received.

        Gives up after ``deadline_s`` (store down and spool full): what is left unacknowledged is
        redelivered by the broker to the next gateway session.
        """
        self._stopping = True
        self._pause_intake()
        give_up = time.monotonic() + deadline_s
        while self._batch is not None or self._in_flight:
            self._seal()
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                log.warning("shutdown deadline reached with batches unwritten",
                            extra={"batches": len(self._in_flight)})
                for task in self._in_flight:
                    task.cancel()
                return
            await asyncio.wait(list(self._in_flight), timeout=remaining)

    # -- writing --------------------------------------------------------------------------------

    async def _flush(self, batch: Batch) -> None:
        try:
            destination = await self._make_durable(batch.points)
            batch.durable = True
        finally:
            if not batch.durable:  # cancelled at the shutdown deadline: its HTTP senders hear so, and resend
                for waiter in batch.waiters:
                    if not waiter.done():
                        waiter.set_exception(NotDurable("the gateway stopped before the batch was durable"))
        self._release_acks()
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(destination)
        self._metrics.stored.labels(destination).inc(batch.messages)
        self._metrics.batch_seconds.observe(time.monotonic() - batch.opened_at)
        log.debug("batch stored", extra={"to": destination, "points": len(batch.points)})
        if batch.accepted:
            for listener in self._listeners:
                try:
                    listener.on_stored(batch.accepted)
                except Exception:  # a listener's bug must not stop ingestion
                    log.exception("ingest listener failed", extra={"listener": type(listener).__name__})

    async def _make_durable(self, points: list[Point]) -> str:
        if not points:
            return "store"
        backoff = 0.5
        probe = False  # set once the batch is held: neither the store nor the spool took it
        try:
            while True:
                if (self._store_up or probe) and await self._write_with_retries(points):
                    return "store"
                try:
                    await self._in_spool_thread(self._spool.append, points)
                except (SpoolFull, OSError) as error:  # full, or the disk itself failing
                    log.warning("spool cannot take the batch, holding it", extra={"error": str(error),
                                                                                  "points": len(points)})
                    if not probe:
                        self._holding += 1
                        probe = True  # try the store again next round, without calling it up
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self._update_spool_metrics()
                self._spool_changed.set()
                return "spool"
        finally:
            if probe:
                self._holding -= 1

    async def _write_with_retries(self, points: Sequence[Point]) -> bool:
        """True once the store took the points (or refused them for good), False if it is down."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._limits.write_retries + 1),
                wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
                retry=retry_if_exception_type(StoreUnavailable),
                reraise=True,
            ):
                with attempt:
                    return await self._write_once(points)
        except StoreUnavailable as error:
            self._set_store_up(False, str(error))
        return False

    async def _write_once(self, points: Sequence[Point]) -> bool:
        """One write; raises StoreUnavailable for anything worth trying again later."""
        try:
            await self._store.write(points)
        except StoreRejected as error:
            # The store wrote what it could (InfluxDB keeps the valid lines of a partial write);
            # retrying the same lines cannot help, so count and log the refusal instead of looping.
            self._metrics.rejected_by_store.inc(len(points))
            log.error("store refused points", extra={"error": str(error), "points": len(points)})
        except StoreUnavailable:
            raise
        except Exception as error:  # a bug or an unforeseen client error: keep the data, retry later
            log.exception("unexpected error writing to the store")
            raise StoreUnavailable(f"unexpected {type(error).__name__}: {error}") from error
        self._set_store_up(True)
        return True

    def _set_store_up(self, up: bool, why: str = "") -> None:
        if up != self._store_up:
            log.warning("store is up" if up else "store is down, spooling", extra={"why": why})
        self._store_up = up
        self._metrics.store_up.set(1 if up else 0)

    async def _replay_loop(self) -> None:
        backoff = 0.5
        while True:
            if self._spool.depth_batches == 0:
                self._spool_changed.clear()
                await self._spool_changed.wait()
                continue
            try:
                replayed = await self._replay_oldest()
            except Exception:  # the replay must outlive any one bad spool file or bug
                log.exception("spool replay failed")
                replayed = False
            if replayed:
                backoff = 0.5
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _replay_oldest(self) -> bool:
        spooled = await self._in_spool_thread(self._spool.oldest)
        if spooled is None:
            return True
        try:
            await self._write_once(spooled.points)
        except StoreUnavailable as error:
            self._set_store_up(False, str(error))
            return False
        await self._in_spool_thread(self._spool.remove, spooled.sequence)
        self._metrics.replayed.inc(len(spooled.points))
        self._update_spool_metrics()
        return True

    async def _in_spool_thread(self, function: Callable[..., T], *args: object) -> T:
        # one worker thread: the spool is not thread-safe, and fsync must not block the loop
        return await asyncio.get_running_loop().run_in_executor(self._spool_executor, function, *args)

    def _update_spool_metrics(self) -> None:
        self._metrics.spool_points.set(self._spool.depth_points)
        self._metrics.spool_bytes.set(self._spool.depth_bytes)
