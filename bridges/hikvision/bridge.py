"""The bridge process: Hikvision terminals on one side (ISAPI over HTTP), each one a contract gate on the MQTT side.

Per terminal, one contract gate (:class:`bridges.gate_bridge.GateBridge`: its own MQTT connection, client id and
last will, the whitelist commands, acks and retained state). The terminals push their events to the bridge's HTTP
listener (``POST /hikvision/<gate>``, taken only from that gate's terminal's addresses and with its push token when
it has one, :mod:`.push_admission`; 403 otherwise); a push is answered 200 only once the broker acknowledged the
event (QoS 1), 503 while the broker is away (the terminal pushes it again later: its resend is the queue), 4xx for
what the bridge cannot read (counted, logged and published with the reason, so the gateway dead-letters it).
Whitelist commands become persons, cards and schedules on the terminal (:mod:`.persons`), remote open
``RemoteControl/door``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final

from aiohttp import BodyPartReader, web

from bridges.config_files import BridgeConfigError
from bridges.gate_bridge import GateBridge, GateCounters, NotConnected
from bridges.hikvision.config import BridgeConfig, TerminalConfig, canonical_address
from bridges.hikvision.events import (
    EVENT_TABLE,
    MAX_NOTIFICATION_CHARS,
    Notice,
    OtherEvent,
    Rejected,
    RejectReason,
    TerminalEvent,
    Unmapped,
    event_id,
    looked_up_keys,
    parse_notification,
    remembered_keys,
    translate,
)
from bridges.hikvision.isapi import Failure, Terminal, TerminalError
from bridges.hikvision.persons import TerminalLoad, digest, plan_template_body, terminal_load, week_plan_body
from bridges.hikvision.pictures import PictureStore
from bridges.hikvision.push_admission import Refusal, refusal
from bridges.hikvision.read_back import read_page, search_condition
from bridges.hikvision.store import TerminalMemo, TerminalStore
from bridges.metrics import BridgeMetrics, serve_metrics
from devices.contract import AccessMethod, Command, DenialReason, GateEvent
from devices.gate_commands import CredentialKind, presented_credential_hash
from devices.gate_memory import Denied

log = logging.getLogger(__name__)

RECENT_KEPT: Final = 8192
"""Keys of the events published lately (two an event with a serialNo): a re-pushed event is answered, not
published again."""
UNREACHABLE_AFTER: Final = 3
READ_BACK_PAGES: Final = 1000  # pages of stored events read back at most in one go (the rest at the next poll)
JSON_PART_NAMES: Final = ("event_log", "AccessControllerEvent")
PICTURE_EXPIRY_EVERY_S: Final = 3600.0


@dataclass
class BridgeCounters(GateCounters):
    """Shown in each gate's retained state (``bridge``) and logged: what went wrong, by kind."""

    bad_pushes: int = 0  # invalid JSON, a notification without the fields an access event needs
    too_large: int = 0  # a push or its picture over the limits (413)
    unknown_gate: int = 0  # pushed to /hikvision/<gate> for a gate not configured
    refused_pushes: int = 0  # from an address not configured for the gate, or without its push token (403)
    duplicates: int = 0  # an event the terminal pushed again
    unmapped_events: int = 0  # dead-lettered with their code
    notices: int = 0
    other_events: int = 0  # heartBeat and other non-access notifications
    pictures: int = 0
    timeouts: int = 0
    unauthorized: int = 0
    refusals: int = 0
    bad_replies: int = 0
    resyncs: int = 0
    read_back: int = 0  # stored events forwarded by a read-back (the terminal's pushes did not bring them)
    unreadable_records: int = 0  # stored events a read-back could not read: dead-lettered once

    def count_failure(self, error: TerminalError) -> None:
        name = {Failure.TIMEOUT: "timeouts", Failure.UNAUTHORIZED: "unauthorized", Failure.REFUSED: "refusals",
                Failure.BAD_REPLY: "bad_replies"}[error.failure]
        setattr(self, name, getattr(self, name) + 1)


def credential_hashes(kind: str, raw: str, site_key: bytes) -> tuple[str, ...]:
    """The keyed hashes a card number or face reference may be enrolled under (a numeric card number also as the
    10 digits printed on most cards)."""
    hashes = [presented_credential_hash(kind, raw, site_key)]
    if kind == CredentialKind.CARD and raw.isdigit() and len(raw) < 10:
        hashes.append(presented_credential_hash(kind, raw.zfill(10), site_key))
    return tuple(hashes)


def card_as_listed(raw: str, listed: set[str], site_key: bytes) -> str:
    """The card number as the platform enrolled it, so the event's credential hashes to the whitelist's entry and
    names the holder: the ten printed digits when the list holds that spelling's hash and not the reported one's
    (the terminal holds the number as the card roster gave it, ``8165538``); else as reported."""
    hashes = credential_hashes(CredentialKind.CARD, raw, site_key)
    if len(hashes) == 2 and hashes[1] in listed and hashes[0] not in listed:
        return raw.zfill(10)
    return raw


@dataclass(kw_only=True)
class TerminalGate(GateBridge[TerminalMemo]):
    """One terminal as one gate."""

    vendor: ClassVar[str] = "hikvision"
    device_error: ClassVar[type[Exception]] = TerminalError

    config: TerminalConfig
    bridge: BridgeConfig
    terminal: Terminal
    store: TerminalStore
    site_credentials: list[tuple[str, str]]  # (kind, raw) from the credentials file
    counters: BridgeCounters
    pictures: PictureStore
    push_sources: frozenset[str] = frozenset()  # the addresses its pushes may come from
    recent: OrderedDict[str, None] = field(default_factory=OrderedDict)
    push_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    terminal_status: str = "unknown"  # ok, unreachable, unauthorized
    unreachable_reason: str | None = None  # the last request that went unanswered
    silent_polls: int = 0
    read_back_due: bool = True  # the terminal may hold events its pushes did not bring: search them
    last_load: dict[str, int] | None = None
    last_event: dict[str, Any] | None = None

    @property
    def poll_seconds(self) -> float:
        return self.bridge.poll_seconds

    # -- the whitelist ------------------------------------------------------------------------------------------

    def _credentials(self) -> list[tuple[str, str]]:
        return [*self.site_credentials, *self.memo.learnt]

    def known(self) -> dict[str, str]:
        return {key: raw for kind, raw in self._credentials() for key in credential_hashes(kind, raw, self.site_key)}

    def desired_load(self) -> TerminalLoad:
        faces = sorted({raw for kind, raw in self._credentials() if kind == "face"})
        return terminal_load(self.entries(), self.known(), self.config.doors, self.bridge.max_templates, faces)

    async def load_device(self) -> None:
        """Make the terminal hold the persons, cards and schedules of the gate's whitelist: only what changed is
        written; what was written is remembered as it goes, so a failure half-way resumes where it stopped."""
        desired = self.desired_load()
        memo = self.memo
        try:
            for template, week in sorted(desired.templates.items()):
                if memo.templates.get(template) != digest(week):
                    await self.terminal.set_week_plan(template, week_plan_body(week))
                    await self.terminal.set_plan_template(template, plan_template_body(template))
                    memo.templates[template] = digest(week)
            gone = sorted(number for number in memo.persons if number not in desired.persons)
            if gone:
                await self.terminal.delete_persons(gone)  # their cards go with them
                for number in gone:
                    del memo.persons[number]
                for card, owner in list(memo.cards.items()):
                    if owner in gone:
                        del memo.cards[card]
            wanted_cards = {person.card_no: number for number, person in desired.persons.items() if person.card_no}
            stale = sorted(card for card, owner in memo.cards.items() if wanted_cards.get(card) != owner)
            if stale:
                await self.terminal.delete_cards(stale)
                for card in stale:
                    del memo.cards[card]
            for number, person in sorted(desired.persons.items()):
                if memo.persons.get(number) != digest(person):
                    await self.terminal.put_person(person.user_info())
                    memo.persons[number] = digest(person)
                if person.card_no and memo.cards.get(person.card_no) != number:
                    await self.terminal.put_card(number, person.card_no)
                    memo.cards[person.card_no] = number
        finally:
            self.store.save(memo)
        self.loaded, self.terminal_status = True, "ok"
        self.last_load = desired.counts()
        if desired.unknown or desired.narrowed_grants or desired.dropped_segments or desired.over_template_limit:
            log.warning("hikvision_whitelist_not_all_loaded", extra={"gate": self.device, **desired.counts()})

    def _learn(self, event: TerminalEvent) -> bool:
        """A card or face the whitelist has but the bridge had no clear value for: learnt from the event."""
        listed = {entry.hash for entry in self.entries()}
        known = self.known()
        learnt = False
        for kind, raw in ((CredentialKind.CARD.value, event.card_no), (CredentialKind.FACE.value, event.employee_no)):
            if raw is None:
                continue
            hashes = credential_hashes(kind, raw, self.site_key)
            if any(key in known for key in hashes) or not listed.intersection(hashes):
                continue
            self.memo.learnt.append((kind, raw))
            learnt = True
        return learnt

    def _listed(self) -> set[str]:
        """The hashes the gate's whitelist names: its entries' and its blacklist's."""
        content = self.memory.content()
        return {entry["hash"] for entry in content["entries"]} | set(content["blacklist"])

    def _verdict(self, event: TerminalEvent, method: AccessMethod | None) -> DenialReason | None:
        raw = event.card_no if method is AccessMethod.CARD else event.employee_no
        if self.memory.version is None or raw is None or method not in (AccessMethod.CARD, AccessMethod.FACE):
            return None
        present = self._listed()
        candidates = credential_hashes(method.value, raw, self.site_key)
        key = next((candidate for candidate in candidates if candidate in present), candidates[0])
        decision = self.memory.decide(key, event.door, event.ts)
        return decision.reason if isinstance(decision, Denied) else None

    # -- events -------------------------------------------------------------------------------------------------

    async def reject(self, reason: str, detail: str) -> None:
        """A push the bridge cannot read, published so the gateway dead-letters it with the reason."""
        body = {"kind": "hikvision_rejected", "ts": datetime.now(UTC).isoformat(),
                "hikvision": {"error": reason, "detail": detail[:200]}}
        with contextlib.suppress(NotConnected):
            await self.forward_unreadable(body, reason)

    async def on_event(self, event: TerminalEvent, picture: tuple[str, bytes] | None, read_back: bool = False) -> str:
        """Publish one pushed or read-back event, once: a re-push or an event read back again is recognised by its
        id; what happened, for the answer."""
        async with self.push_lock:
            identity = event_id(event)
            if any(key in self.recent or key in self.memo.forwarded for key in looked_up_keys(event)):
                if not read_back:  # a read-back overlaps the last one on purpose
                    self.counters.duplicates += 1
                return "duplicate"
            learnt = self._learn(event)
            mapped = EVENT_TABLE.get((event.major, event.minor))
            translated = translate(event, self.config.doors, self._verdict(event, mapped.method if mapped else None))
            if picture is not None:
                try:
                    self.pictures.save(self.device, identity, picture[0], picture[1])
                    self.counters.pictures += 1
                except OSError as error:  # a full or read-only disk costs the picture, never the event
                    log.warning("hikvision_picture_not_stored", extra={"gate": self.device, "error": str(error)})
                    picture = None
            if isinstance(translated, GateEvent) and translated.method is AccessMethod.CARD and translated.credential:
                translated = translated.model_copy(
                    update={"credential": card_as_listed(translated.credential, self._listed(), self.site_key)})
            if isinstance(translated, GateEvent):
                await self.forward(translated.model_copy(update={"offline": True}) if read_back else translated)
                self.last_event = {"kind": translated.kind.value, "ts": translated.ts.isoformat(),
                                   "picture": picture is not None}
                outcome = "published"
            elif isinstance(translated, Unmapped):
                self.counters.unmapped_events += 1
                log.warning("hikvision_event_unmapped", extra={
                    "gate": self.device, "major": event.major, "minor": event.minor, "detail": translated.detail})
                body = {"event_id": identity, "ts": event.ts.isoformat(), "door": event.door,
                        "kind": "hikvision_unmapped",
                        "hikvision": {"major": event.major, "minor": event.minor, "code": event.code,
                                      "detail": translated.detail}}
                await self.forward_unreadable(body, "unmapped")
                outcome = "unmapped"
            else:
                assert isinstance(translated, Notice)
                self.counters.notices += 1
                log.info("hikvision_notice", extra={"gate": self.device, "notice": translated.value})
                outcome = "notice"
            self._remember(remembered_keys(event), event.ts)
        if learnt:
            log.info("hikvision_credential_learnt", extra={"gate": self.device})  # never the value (STYLE 15)
            async with self.lock:
                with contextlib.suppress(TerminalError):
                    await self.load_device()
        return outcome

    def _remember(self, keys: tuple[str, ...], at: datetime) -> None:
        for key in keys:
            self.recent[key] = None
            self.memo.forwarded.add(key, at)
        while len(self.recent) > RECENT_KEPT:
            self.recent.popitem(last=False)
        self.store.save(self.memo)

    def session_started(self) -> None:
        self.read_back_due = True  # pushes were answered 503 while the broker was away, or nobody listened

    async def read_back(self) -> None:
        """Forward the events the terminal stored since the last one forwarded and nobody took from its pushes
        (the bridge or the broker was away, the terminal did not reach the listener), each once, as offline
        events; on first contact only remember where to start."""
        window = self.memo.forwarded.search_window(datetime.now(UTC))
        if window is None:
            self.memo.forwarded.begin(datetime.now(UTC))
            self.store.save(self.memo)
            self.read_back_due = False
            return
        search_id, position, forwarded = uuid.uuid4().hex, 0, 0
        for _ in range(READ_BACK_PAGES):
            condition = search_condition(search_id, position, self.bridge.read_back_page_size, window)
            async with self.lock:
                try:
                    page = read_page(await self.terminal.search_events(condition))
                except TerminalError as error:
                    self.device_failed(error, None)
                    return  # due still: tried again at the next poll
            if isinstance(page, Rejected):
                self.counters.bad_replies += 1
                log.warning("hikvision_bad_search_answer", extra={"gate": self.device, "detail": page.detail})
                return
            for event in page.events:
                if await self.on_event(event, None, read_back=True) != "duplicate":
                    forwarded += 1
                    self.counters.read_back += 1
            for record_id, rejected in page.unreadable:
                await self._unreadable_record(record_id, rejected)
            position += page.matches
            if not page.more or page.matches == 0:
                break
        self.read_back_due = False
        if forwarded:
            log.info("hikvision_events_read_back", extra={"gate": self.device, "events": forwarded})

    async def _unreadable_record(self, record_id: str, rejected: Rejected) -> None:
        async with self.push_lock:
            if record_id in self.memo.forwarded:
                return
            self.counters.unreadable_records += 1
            log.warning("hikvision_unreadable_record", extra={"gate": self.device, "reason": rejected.reason.value,
                                                              "detail": rejected.detail})
            await self.forward_unreadable({"kind": "hikvision_rejected", "ts": datetime.now(UTC).isoformat(),
                                           "hikvision": {"error": rejected.reason.value,
                                                         "detail": f"a stored event: {rejected.detail}"[:200]}},
                                          "unreadable_record")
            self._remember((record_id,), self.memo.forwarded.watermark or datetime.now(UTC))

    # -- commands -----------------------------------------------------------------------------------------------

    async def open_door(self, door: int) -> str | None:
        try:
            await self.terminal.open_door(door)
        except TerminalError as error:
            if error.failure not in (Failure.REFUSED, Failure.UNAUTHORIZED):
                raise  # not answered: no ack, the service retries
            self._count(error)
            prefix = "" if error.failure is Failure.UNAUTHORIZED else "door_jammed: "  # "unauthorized: …" says it
            return f"{prefix}{error}"
        self.terminal_status = "ok"
        return None

    def device_failed(self, error: Exception, command: Command | None) -> None:
        assert isinstance(error, TerminalError)
        self._count(error)
        log.warning("hikvision_terminal_error", extra={
            "gate": self.device, "op": command.op if command else "poll",
            "cmd_id": command.cmd_id if command else None, "error": str(error)})

    def _count(self, error: TerminalError) -> None:
        self.counters.count_failure(error)
        if error.failure is Failure.UNAUTHORIZED:
            self.terminal_status = "unauthorized"

    # -- status -------------------------------------------------------------------------------------------------

    def state_body(self) -> dict[str, Any]:
        if self.terminal_status == "unreachable":
            return {"online": False, "terminal": "unreachable", "reason": self.unreachable_reason,
                    "bridge": self.counters.as_dict()}
        report = self.memory.state_report() if self.loaded else {"whitelist_version": None, "whitelist_hash": None}
        return {"online": True, **report, "terminal": self.terminal_status, "last_event": self.last_event,
                "loaded": self.last_load, "bridge": self.counters.as_dict()}

    async def poll(self) -> None:
        """Reachability and the terminal's person count: one that holds fewer persons than were written lost them
        (reset, replaced) and is loaded again; then, when due, the read-back of the events it stored."""
        async with self.lock:
            try:
                count = await self.terminal.person_count()
                self.terminal_status, self.silent_polls, self.unreachable_reason = "ok", 0, None
                if self.memory.version is not None:
                    if count < len(self.memo.persons):
                        self.counters.resyncs += 1
                        log.warning("hikvision_terminal_resync", extra={
                            "gate": self.device, "holds": count, "should_hold": len(self.memo.persons)})
                        self.memo.persons.clear()
                        self.memo.cards.clear()
                        self.memo.templates.clear()
                        self.loaded = False
                    if not self.loaded:
                        await self.load_device()
            except TerminalError as error:
                self.device_failed(error, None)
                if error.failure is Failure.TIMEOUT:
                    self.silent_polls += 1
                    self.unreachable_reason = str(error)
                    self.read_back_due = True  # it may not have reached the listener either
                    if self.silent_polls >= UNREACHABLE_AFTER:
                        self.terminal_status = "unreachable"
        if self.read_back_due and self.terminal_status == "ok":
            await self.read_back()
        await self.publish_state()


# -- the listener -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Push:
    notification: bytes
    picture: tuple[str, bytes] | None


class PushTooLarge(Exception):
    pass


async def _read_capped(stream: Any, limit: int) -> bytes:
    """At most ``limit`` bytes of a request body or a multipart part; PushTooLarge past it (read no further)."""
    chunks, size = [], 0
    read = stream.read_chunk if isinstance(stream, BodyPartReader) else stream.readany
    while chunk := await read():
        size += len(chunk)
        if size > limit:
            raise PushTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def read_push(request: web.Request, max_picture_bytes: int) -> Push:
    """The notification (the JSON part, or the whole body) and the picture (an image part) of one push."""
    if not request.content_type.startswith("multipart/"):
        return Push(await _read_capped(request.content, MAX_NOTIFICATION_CHARS), None)
    reader = await request.multipart()
    notification: bytes | None = None
    picture: tuple[str, bytes] | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue  # a nested multipart: not what a terminal sends
        content_type = part.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type.startswith("image/"):
            picture = (content_type, await _read_capped(part, max_picture_bytes))
        elif notification is None and (content_type in ("application/json", "text/json", "text/plain")
                                       or part.name in JSON_PART_NAMES):
            notification = await _read_capped(part, MAX_NOTIFICATION_CHARS)
        else:
            await part.release()
    return Push(notification if notification is not None else b"", picture)


def listener_app(gates: dict[str, TerminalGate], counters: BridgeCounters, metrics: BridgeMetrics,
                 max_picture_bytes: int) -> web.Application:
    max_body = max_picture_bytes + MAX_NOTIFICATION_CHARS + 16 * 1024

    known_sources = frozenset().union(*(gate.push_sources for gate in gates.values()))

    async def receive(request: web.Request) -> web.Response:
        source = _source(request.remote)
        if source not in known_sources:  # a stranger learns not even which gates exist
            return _refused(request, source, Refusal.ADDRESS)
        gate = gates.get(request.match_info["gate"])
        if gate is None:
            counters.unknown_gate += 1
            log.warning("hikvision_unknown_gate", extra={"source": request.remote})
            return web.json_response({"error": "no such gate"}, status=404)
        refused = refusal(source, gate.push_sources, gate.config.push_token, request.match_info.get("token"))
        if refused is not None:
            return _refused(request, source, refused)
        if request.content_length is not None and request.content_length > max_body:
            return await _too_large(gate, f"a push of {request.content_length} bytes, over {max_body}")
        try:
            push = await read_push(request, max_picture_bytes)
        except PushTooLarge:
            return await _too_large(gate, f"a picture or notification over the limits ({max_picture_bytes} bytes)")
        parsed = parse_notification(push.notification)
        if isinstance(parsed, Rejected):
            counters.bad_pushes += 1
            log.warning("hikvision_bad_push", extra={"gate": gate.device, "reason": parsed.reason.value,
                                                      "detail": parsed.detail})
            await gate.reject(parsed.reason.value, parsed.detail)
            status = 413 if parsed.reason is RejectReason.TOO_LARGE else 400
            return web.json_response({"error": parsed.reason.value, "detail": parsed.detail}, status=status)
        if isinstance(parsed, OtherEvent):
            counters.other_events += 1
            return web.json_response({"ignored": parsed.event_type})
        try:
            outcome = await gate.on_event(parsed, push.picture)
        except NotConnected:
            return web.json_response({"error": "the broker is not reachable; send it again"}, status=503)
        except ValueError as error:  # the picture store refused a name or size
            return await _too_large(gate, str(error))
        await gate.publish_state()
        return web.json_response({"result": outcome})

    def _refused(request: web.Request, source: str | None, reason: Refusal) -> web.Response:
        counters.refused_pushes += 1
        metrics.push_refused(reason.value)
        log.warning("hikvision_push_refused", extra={  # never the token
            "source": source or request.remote, "gate": request.match_info["gate"][:64], "reason": reason.value})
        return web.json_response({"error": "forbidden"}, status=403)

    async def _too_large(gate: TerminalGate, detail: str) -> web.Response:
        counters.too_large += 1
        log.warning("hikvision_push_too_large", extra={"gate": gate.device, "detail": detail})
        await gate.reject("too_large", detail)
        return web.json_response({"error": "too_large", "detail": detail}, status=413)

    app = web.Application(client_max_size=max_body)
    app.router.add_post("/hikvision/{gate}", receive)
    app.router.add_post("/hikvision/{gate}/{token}", receive)
    return app


def _source(remote: str | None) -> str | None:
    try:
        return canonical_address(remote) if remote else None
    except ValueError:
        return None


async def push_sources(terminal: TerminalConfig) -> frozenset[str]:
    """The addresses a terminal's pushes may come from: configured, the url's address, or its host name resolved."""
    configured = terminal.push_addresses()
    if configured is not None:
        return configured
    try:
        found = await asyncio.get_running_loop().getaddrinfo(terminal.host, None)
    except OSError as error:
        raise BridgeConfigError(f"terminals: {terminal.gate}: cannot resolve {terminal.host} to take its pushes "
                                f"({error}); give push_from") from None
    return frozenset(canonical_address(str(address[4][0])) for address in found)


def known_credentials(lines: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(kind, raw) for kind, raw in lines if kind in ("card", "face")]


async def run_bridge(config: BridgeConfig, broker: Any, site_key: bytes, credentials: Iterable[tuple[str, str]],
                     stop: asyncio.Event, metrics_port: int = 0, metrics_host: str = "127.0.0.1") -> BridgeCounters:
    """Run every configured terminal as a gate until ``stop`` is set; ``broker`` has host, port, username and
    password (config.settings.MqttEndpoint); Prometheus metrics on ``metrics_host:metrics_port`` unless 0."""
    counters = BridgeCounters()
    metrics = BridgeMetrics("hikvision")
    state_dir = Path(config.state_dir)
    pictures = PictureStore(state_dir / "pictures", config.max_picture_bytes, config.pictures_max_total_bytes,
                            max_age_s=config.pictures_keep_days * 86_400.0)
    site_credentials = known_credentials(credentials)
    async with contextlib.AsyncExitStack() as stack:
        gates: dict[str, TerminalGate] = {}
        for terminal_config in config.terminals:
            terminal = await stack.enter_async_context(Terminal(terminal_config, config.request_timeout_seconds))
            gates[terminal_config.gate] = TerminalGate(
                config=terminal_config, bridge=config, terminal=terminal, site_key=site_key,
                store=TerminalStore(state_dir, terminal_config.gate), site_credentials=site_credentials,
                counters=counters, metrics=metrics, pictures=pictures, push_sources=await push_sources(terminal_config))
        runner = web.AppRunner(listener_app(gates, counters, metrics, config.max_picture_bytes), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, config.listen_host, config.listen_port).start()
        if metrics_port:
            stack.push_async_callback((await serve_metrics(metrics, metrics_host, metrics_port)).cleanup)
        log.info("hikvision_bridge_started", extra={"terminals": len(gates), "listen": config.listen})
        await asyncio.gather(*(gate.run(broker, stop) for gate in gates.values()), expire_pictures(pictures, stop))
    return counters


async def expire_pictures(pictures: PictureStore, stop: asyncio.Event, every_s: float = PICTURE_EXPIRY_EVERY_S) -> None:
    """Delete the pictures past their age at start, then every ``every_s``, until ``stop``."""
    while not stop.is_set():
        try:
            deleted = await asyncio.to_thread(pictures.expire, time.time())  # a directory walk: off the loop
        except OSError as error:  # the disk may be away for a while: say so, and try again next time
            log.warning("hikvision_pictures_expiry_failed", extra={"error": str(error)})
        else:
            if deleted:
                log.info("hikvision_pictures_expired", extra={"deleted": deleted})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
