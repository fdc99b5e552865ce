"""The Hikvision bridge against the terminal emulator (real HTTP, digest authentication) and a real Mosquitto: what a
contract gate publishes and obeys, from a terminal that speaks only ISAPI. The pushed notifications are the
published shapes in tests/data/hikvision (README there names the sources)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time as time_module
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridges.hikvision.bridge import run_bridge
from bridges.hikvision.config import BridgeConfig, TerminalConfig
from config.settings import MqttEndpoint
from devices.contract import GateEvent
from devices.gate_commands import CredentialKind, presented_credential_hash
from devices.gate_memory import canonical_hash
from devices.topics import Channel, DeviceKind, topic_for
from gateway.processors.decoding import Rejected, decode
from tests.hikvision_emulator import EmulatedTerminal, TerminalServer, fixture, push
from tests.integration.gate_observer import Seen, observing, stop_left_running
from tests.metrics_scrape import sample, scrape, scraped_until
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

SITE, GATE = "north", "north-gate-02"
SITE_KEY = b"k" * 32
FACE = "FT0000A1B2C3D4"  # the person in face_granted.json, enrolled on the terminal
CARD = "10058400"  # the card in card_granted.json
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2048 + b"\xff\xd9"


@dataclass
class Rig:
    mosquitto: Mosquitto
    server: TerminalServer
    seen: Seen
    client: aiomqtt.Client
    state_dir: Path
    listen_port: int
    task: asyncio.Task[Any] | None = None
    stop: asyncio.Event | None = None

    @property
    def terminal(self) -> EmulatedTerminal:
        return self.server.terminal

    @property
    def listener(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def config(self, password: str | None = None, page_size: int = 30, **terminal: Any) -> BridgeConfig:
        return BridgeConfig(
            listen=f"127.0.0.1:{self.listen_port}", state_dir=str(self.state_dir), poll_seconds=0.3,
            request_timeout_seconds=2.0, max_picture_bytes=1024 * 1024, read_back_page_size=page_size,
            terminals=[TerminalConfig(gate=GATE, site=SITE, url=self.server.url, username="admin",
                                      password=password or self.terminal.password, doors=2, **terminal)])

    async def start_bridge(self, password: str | None = None, page_size: int = 30, metrics_port: int = 0,
                           **terminal: Any) -> None:
        self.stop = asyncio.Event()
        broker = MqttEndpoint.parse(self.mosquitto.url)
        self.task = asyncio.create_task(run_bridge(self.config(password, page_size, **terminal), broker, SITE_KEY,
                                                   [("face", FACE), ("card", CARD)], self.stop, metrics_port))
        await self.seen.until(lambda: self.seen.last_state().get("online"))

    async def stop_bridge(self) -> None:
        assert self.stop is not None and self.task is not None
        self.stop.set()
        await asyncio.wait_for(self.task, 10)
        assert self.seen.last_state() == {"online": False}

    async def command(self, cmd_id: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        await self.publish_command(cmd_id, op, args)
        return dict(await self.seen.until(
            lambda: next((ack for ack in self.seen.of(Channel.ACK) if ack["cmd_id"] == cmd_id), None)))

    async def publish_command(self, cmd_id: str, op: str, args: dict[str, Any]) -> None:
        await self.client.publish(topic_for(SITE, DeviceKind.GATE, GATE, Channel.CMD),
                                  json.dumps({"cmd_id": cmd_id, "op": op, "args": args}), qos=1)


@pytest.fixture
async def rig(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Rig]:
    server = TerminalServer(EmulatedTerminal(doors=2))
    await server.start()
    async with observing(mosquitto.port, SITE, GATE) as (client, seen):
        rig = Rig(mosquitto, server, seen, client, tmp_path / "state", free_port())
        try:
            yield rig
        finally:
            await stop_left_running(rig.stop, rig.task)
            await server.stop()


def whitelist_args(version: int = 1) -> dict[str, Any]:
    face = {"hash": presented_credential_hash(CredentialKind.FACE, FACE, SITE_KEY), "kind": "face",
            "grants": [{"group": "residents", "doors": [1, 2],
                        "windows": [{"days": list(range(7)), "start": "00:00:00", "end": "00:00:00"}]}]}
    card = {"hash": presented_credential_hash(CredentialKind.CARD, CARD, SITE_KEY), "kind": "card",
            "valid_to": "2027-01-01T00:00:00+08:00",
            "grants": [{"group": "workers", "doors": [2],
                        "windows": [{"days": [0, 1, 2, 3, 4], "start": "08:00:00", "end": "18:00:00"}]}]}
    whitelist = {"gate": GATE, "entries": sorted([face, card], key=lambda entry: entry["hash"]), "blacklist": []}
    return {"version": version, "content_hash": canonical_hash(whitelist), "whitelist": whitelist}


async def test_a_face_event_becomes_a_contract_gate_event_with_its_picture_kept_by_reference(rig: Rig) -> None:
    await rig.start_bridge()
    status, answer = await push(rig.listener, GATE, fixture("face_granted"), picture=JPEG)
    assert (status, answer["result"]) == (200, "published")
    raw = (await rig.seen.until(rig.seen.events))[0]
    event = GateEvent.model_validate_json(json.dumps(raw))
    assert (event.kind.value, event.method, event.door, event.credential) == ("granted", "face", 1, FACE)
    assert event.ts.isoformat() == "2026-11-23T00:30:12+00:00"
    assert "picture" not in json.dumps(raw).lower()  # never in the time series
    stored = rig.state_dir / "pictures" / GATE / f"{event.event_id}.jpg"
    assert stored.read_bytes() == JPEG and stored.stat().st_mode & 0o777 == 0o600
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()).get("last_event") and s)
    assert state["last_event"]["picture"] is True and state["bridge"]["pictures"] == 1


async def test_a_forced_door_becomes_an_alarm_kind_event(rig: Rig) -> None:
    await rig.start_bridge()
    status, _ = await push(rig.listener, GATE, fixture("door_forced"), multipart=False)
    assert status == 200
    event = (await rig.seen.until(rig.seen.events))[0]
    assert (event["kind"], event["door"]) == ("forced", 1) and "method" not in event


async def test_an_unknown_minor_code_is_published_for_dead_lettering_with_its_code(rig: Rig) -> None:
    await rig.start_bridge()
    status, answer = await push(rig.listener, GATE, fixture("doorbell"))
    assert (status, answer["result"]) == (200, "unmapped")
    unmapped = (await rig.seen.until(rig.seen.events))[0]
    assert unmapped["kind"] == "hikvision_unmapped"
    assert (unmapped["hikvision"]["major"], unmapped["hikvision"]["minor"]) == (5, 0x25)
    assert unmapped["hikvision"]["code"] == "0x5/0x25"
    topic = topic_for(SITE, DeviceKind.GATE, GATE, Channel.EVENT)
    rejected = decode(topic, json.dumps(unmapped).encode())
    assert isinstance(rejected, Rejected) and rejected.reason.value == "schema"
    state = await rig.seen.until(lambda: (s := rig.seen.last_state())["bridge"]["unmapped_events"] == 1 and s)
    assert state["online"] is True


async def test_an_event_the_terminal_pushes_again_is_published_once(rig: Rig) -> None:
    await rig.start_bridge()
    for _ in range(3):
        status, _ = await push(rig.listener, GATE, fixture("card_invalid"))
        assert status == 200
    await push(rig.listener, GATE, fixture("card_invalid", serialNo=1300, dateTime="2026-11-23T08:40:00+08:00"))
    await rig.seen.until(lambda: len(rig.seen.events()) == 2)
    await asyncio.sleep(0.5)
    events = rig.seen.events()
    assert len(events) == 2 and events[0]["event_id"] != events[1]["event_id"]
    assert (events[0]["kind"], events[0]["reason"], events[0]["credential"]) == ("denied", "unknown_credential",
                                                                                 "3735928559")
    assert rig.seen.last_state()["bridge"]["duplicates"] == 2


async def test_pictures_past_their_age_are_deleted_when_the_bridge_starts(rig: Rig) -> None:
    pictures = rig.state_dir / "pictures" / GATE
    pictures.mkdir(parents=True)
    old, young = pictures / "h1-1.jpg", pictures / "h2-1.jpg"
    for path, age_days in ((old, 181), (young, 179)):
        path.write_bytes(JPEG)
        moment = time_module.time() - age_days * 86_400
        os.utime(path, (moment, moment))
    await rig.start_bridge()
    await rig.seen.until(lambda: not old.exists())
    assert young.exists(), "the default keeps 180 days"


async def test_a_whitelist_command_creates_persons_and_cards_and_the_version_is_reported(rig: Rig) -> None:
    await rig.start_bridge()
    ack = await rig.command("c-1", "sync_whitelist", whitelist_args())
    assert ack["ok"] is True and ack["result"]["version"] == 1
    face = rig.terminal.persons[FACE]
    assert face["Valid"]["enable"] is True and face["doorRight"] == "1,2"
    assert face["RightPlan"] == [{"doorNo": 1, "planTemplateNo": "1"}, {"doorNo": 2, "planTemplateNo": "1"}]
    owner = rig.terminal.cards[CARD]
    worker = rig.terminal.persons[owner]
    assert owner.startswith("c") and worker["doorRight"] == "2"
    assert worker["Valid"]["endTime"] == "2026-12-31T23:59:59"
    template = int(worker["RightPlan"][0]["planTemplateNo"])
    assert template != 1 and rig.terminal.templates[template]["weekPlanNo"] == template
    segments = [row for row in rig.terminal.week_plans[template]["WeekPlanCfg"] if row["enable"]]
    assert [row["week"] for row in segments] == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    assert segments[0]["TimeSegment"] == {"beginTime": "08:00:00", "endTime": "17:59:59"}
    assert rig.terminal.week_plans[1]["WeekPlanCfg"][0]["TimeSegment"] == {"beginTime": "00:00:00",
                                                                            "endTime": "24:00:00"}
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()).get("whitelist_version") == 1 and s)
    assert state["whitelist_hash"] == whitelist_args()["content_hash"] and state["terminal"] == "ok"

    emptied = {"gate": GATE, "entries": [], "blacklist": []}
    ack = await rig.command("c-2", "sync_whitelist", {"version": 2, "content_hash": canonical_hash(emptied),
                                                      "whitelist": emptied})
    assert ack["ok"] is True
    assert owner not in rig.terminal.persons and CARD not in rig.terminal.cards  # the card person deleted
    assert rig.terminal.persons[FACE]["Valid"]["enable"] is False  # the face person kept, disabled


async def test_a_terminal_that_lost_its_persons_is_loaded_again(rig: Rig) -> None:
    await rig.start_bridge()
    await rig.command("c-1", "sync_whitelist", whitelist_args())
    rig.terminal.power_cut()
    await rig.seen.until(lambda: CARD in rig.terminal.cards and FACE in rig.terminal.persons)
    assert (await rig.seen.until(lambda: rig.seen.last_state()["bridge"]["resyncs"]))


async def test_remote_open_reaches_the_terminal_and_is_acked(rig: Rig) -> None:
    await rig.start_bridge()
    ack = await rig.command("open-1", "open", {"door": 2})
    assert ack["ok"] is True and ack["result"]["door"] == 2
    assert rig.terminal.opened == [2]
    ack = await rig.command("open-2", "open", {"door": 3})
    assert ack["ok"] is False and ack["error"].startswith("no_such_door")
    await rig.publish_command("open-1", "open", {"door": 2})  # redelivered: acked again, opened once
    await rig.seen.until(lambda: len([a for a in rig.seen.of(Channel.ACK) if a["cmd_id"] == "open-1"]) == 2)
    assert rig.terminal.opened == [2]


async def test_a_wrong_digest_password_is_refused_and_reported(rig: Rig) -> None:
    await rig.start_bridge(password="not-the-password")
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()).get("terminal") == "unauthorized" and s)
    assert state["bridge"]["unauthorized"] >= 1 and rig.terminal.refused_auth >= 1
    assert rig.terminal.persons == {} and rig.terminal.requests == []
    ack = await rig.command("open-1", "open", {"door": 1})
    assert ack["ok"] is False and "unauthorized" in ack["error"]
    assert rig.terminal.opened == []
    await rig.publish_command("c-1", "sync_whitelist", whitelist_args())
    await asyncio.sleep(1.0)
    assert not [ack for ack in rig.seen.of(Channel.ACK) if ack["cmd_id"] == "c-1"]  # not carried out: not acked
    assert rig.seen.last_state()["whitelist_version"] is None


async def test_bad_pushes_are_answered_4xx_counted_dead_lettered_and_the_bridge_keeps_running(rig: Rig) -> None:
    await rig.start_bridge()
    status, answer = await push(rig.listener, GATE, b'{"eventType": "AccessControllerEvent", "Access')
    assert (status, answer["error"]) == (400, "invalid_json")
    status, answer = await push(rig.listener, GATE, fixture("face_granted"), picture=b"\xff" * (10 * 1024 * 1024))
    assert (status, answer["error"]) == (413, "too_large")
    status, answer = await push(rig.listener, GATE, fixture("face_granted", majorEventType="five"))
    assert (status, answer["error"]) == (400, "bad_field")
    status, _ = await push(rig.listener, "no-such-gate", fixture("face_granted"))
    assert status == 404
    status, answer = await push(rig.listener, GATE, fixture("heartbeat"))
    assert (status, answer["ignored"]) == (200, "heartBeat")
    rejected = await rig.seen.until(lambda: len(rig.seen.events()) >= 3 and rig.seen.events())
    assert [event["hikvision"]["error"] for event in rejected] == ["invalid_json", "too_large", "bad_field"]
    assert all(isinstance(decode(topic_for(SITE, DeviceKind.GATE, GATE, Channel.EVENT), json.dumps(e).encode()),
                          Rejected) for e in rejected)
    status, _ = await push(rig.listener, GATE, fixture("face_granted"), picture=JPEG)
    assert status == 200
    await rig.seen.until(lambda: any(event.get("kind") == "granted" for event in rig.seen.events()))
    counters = (await rig.seen.until(lambda: (s := rig.seen.last_state())["bridge"]["pictures"] and s))["bridge"]
    assert (counters["bad_pushes"], counters["too_large"], counters["unknown_gate"],
            counters["other_events"]) == (2, 1, 1, 1)
    assert not list((rig.state_dir / "pictures").glob("*/*.tmp"))


async def test_events_stored_while_the_bridge_was_away_are_read_back_once_and_marked_offline(rig: Rig) -> None:
    await rig.start_bridge()
    before = rig.terminal.record("card_granted")
    assert (await push(rig.listener, GATE, before))[0] == 200
    await rig.seen.until(lambda: len(rig.seen.events()) == 1)
    await rig.stop_bridge()
    missed = [rig.terminal.record("face_granted"), rig.terminal.record("door_forced")]  # nobody listening
    await rig.start_bridge()
    events = await rig.seen.until(lambda: len(rig.seen.events()) >= 3 and rig.seen.events())
    assert [(event["kind"], event.get("offline", False)) for event in events] == [
        ("granted", False), ("granted", True), ("forced", True)]
    assert [event["event_id"] for event in events[1:]] == [
        f"h{n['AccessControllerEvent']['serialNo']}-{int(datetime.fromisoformat(n['dateTime']).timestamp())}"
        for n in missed]
    for notification in missed:  # the terminal pushes them late after all: answered, not published again
        status, answer = await push(rig.listener, GATE, notification)
        assert (status, answer["result"]) == (200, "duplicate")
    await rig.seen.until(lambda: rig.seen.last_state()["bridge"]["read_back"] == 2)
    await rig.stop_bridge()
    await rig.start_bridge()  # and a restart reads back nothing twice
    await rig.seen.until(lambda: len(rig.terminal.searches) >= 2)
    await asyncio.sleep(0.5)
    assert len(rig.seen.events()) == 3
    condition = rig.terminal.searches[-1]
    assert (condition["major"], condition["minor"]) == (0, 0) and condition["startTime"].endswith("+08:00")


async def test_a_terminal_storing_no_serial_numbers_has_a_pushed_event_read_back_as_the_same(rig: Rig) -> None:
    rig.terminal.stores_serial_no = False  # older firmware: its pushes carry serialNo, its search answers do not
    await rig.start_bridge()
    pushed = rig.terminal.record("card_granted")
    assert (await push(rig.listener, GATE, pushed))[0] == 200
    await rig.seen.until(lambda: len(rig.seen.events()) == 1)
    await rig.stop_bridge()
    missed = rig.terminal.record("door_forced")  # nobody listening
    await rig.start_bridge()  # reads back both stored records, neither with its serialNo
    events = await rig.seen.until(lambda: len(rig.seen.events()) >= 2 and rig.seen.events())
    await rig.seen.until(lambda: rig.seen.last_state()["bridge"]["read_back"] == 1)
    await asyncio.sleep(0.5)
    assert [(event["kind"], event.get("offline", False)) for event in rig.seen.events()] == [
        ("granted", False), ("forced", True)], "the pushed event is not forwarded again from its stored record"
    assert events[1]["event_id"].startswith("h-")
    status, answer = await push(rig.listener, GATE, missed)  # pushed late, with its serialNo: the same event
    assert (status, answer["result"]) == (200, "duplicate")
    assert len(rig.seen.events()) == 2


async def test_a_read_back_pages_through_the_search_until_it_is_not_more(rig: Rig) -> None:
    await rig.start_bridge(page_size=2)
    await rig.stop_bridge()
    start = datetime.now(UTC)
    for second in range(5):
        rig.terminal.record("card_invalid", at=start + timedelta(seconds=second))
    await rig.start_bridge(page_size=2)
    events = await rig.seen.until(lambda: len(rig.seen.events()) == 5 and rig.seen.events())
    assert [event["ts"] for event in events] == sorted(event["ts"] for event in events)
    assert all(event["offline"] is True for event in events)
    pages = [condition for condition in rig.terminal.searches if condition["searchID"] ==
             rig.terminal.searches[0]["searchID"]]
    assert [(page["searchResultPosition"], page["maxResults"]) for page in pages] == [(0, 2), (2, 2), (4, 2)]


async def test_a_terminal_that_does_not_answer_is_offline_with_the_reason_and_read_back_when_back(rig: Rig) -> None:
    await rig.start_bridge()
    await rig.server.stop()
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()).get("online") is False and s)
    assert state["terminal"] == "unreachable" and state["reason"].startswith("timeout: GET /ISAPI/")
    assert state["bridge"]["timeouts"] >= 3
    rig.terminal.record("face_granted")  # while the listener could not be reached
    await rig.server.start()
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()).get("online") and s)
    assert state["terminal"] == "ok" and "reason" not in state
    event = (await rig.seen.until(rig.seen.events))[0]
    assert (event["kind"], event["offline"], event["credential"]) == ("granted", True, FACE)


async def test_a_push_from_an_address_not_configured_for_the_gate_is_refused_403(rig: Rig) -> None:
    await rig.start_bridge()  # the terminal's url is 127.0.0.1: its pushes come from there
    status, answer = await push(rig.listener, GATE, fixture("face_granted"), source="127.0.0.2")
    assert (status, answer) == (403, {"error": "forbidden"})
    status, _ = await push(rig.listener, "no-such-gate", fixture("face_granted"), source="127.0.0.2")
    assert status == 403  # a stranger is not told which gates exist
    state = await rig.seen.until(lambda: (s := rig.seen.last_state())["bridge"]["refused_pushes"] == 2 and s)
    assert rig.seen.events() == [] and state["bridge"]["unknown_gate"] == 0
    await rig.stop_bridge()
    await rig.start_bridge(push_from=["127.0.0.2"])  # a terminal behind another address
    assert (await push(rig.listener, GATE, fixture("face_granted"), source="127.0.0.2"))[0] == 200
    assert (await push(rig.listener, GATE, fixture("card_granted")))[0] == 403  # 127.0.0.1 is not it now
    await rig.seen.until(lambda: len(rig.seen.events()) == 1)


async def test_a_gate_with_a_push_token_takes_pushes_on_its_path_only(rig: Rig,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bridges")
    token = "Zq8v-3kT_9wLm2Xr"
    await rig.start_bridge(push_token=token)
    assert (await push(rig.listener, GATE, fixture("face_granted")))[0] == 403
    assert (await push(rig.listener, GATE, fixture("face_granted"), token="Zq8v-3kT_9wLm2Xs"))[0] == 403
    status, answer = await push(rig.listener, GATE, fixture("face_granted"), token=token)
    assert (status, answer["result"]) == (200, "published")
    state = await rig.seen.until(lambda: (s := rig.seen.last_state())["bridge"]["refused_pushes"] == 2 and s)
    assert len(rig.seen.events()) == 1 and token not in json.dumps(state)
    refused = [record for record in caplog.records if record.getMessage() == "hikvision_push_refused"]
    assert [getattr(record, "reason", None) for record in refused] == ["token", "token"]
    assert not [record for record in caplog.records if token in repr(vars(record))]  # never logged


async def test_the_bridge_counts_on_prometheus(rig: Rig) -> None:
    port = free_port()
    await rig.start_bridge(metrics_port=port)
    url, gate = f"http://127.0.0.1:{port}/metrics", {"vendor": "hikvision", "gate": GATE}
    assert sample(await scrape(url), "sc_bridge_device_online", **gate) == 1
    assert (await push(rig.listener, GATE, fixture("face_granted")))[0] == 200
    assert (await push(rig.listener, GATE, fixture("doorbell")))[0] == 200
    assert (await push(rig.listener, GATE, b"{not json"))[0] == 400
    assert (await push(rig.listener, GATE, fixture("card_granted"), source="127.0.0.2"))[0] == 403
    assert (await rig.command("c-1", "sync_whitelist", whitelist_args()))["ok"] is True
    assert (await rig.command("open-9", "open", {"door": 9}))["ok"] is False
    await rig.client.publish(topic_for(SITE, DeviceKind.GATE, GATE, Channel.CMD), b'{"op": "open"}', qos=1)
    await rig.seen.until(lambda: rig.seen.last_state()["bridge"]["bad_commands"] == 1)
    samples = await scrape(url)
    assert sample(samples, "sc_bridge_events_forwarded_total", **gate) == 1
    assert sample(samples, "sc_bridge_events_dead_lettered_total", reason="unmapped", **gate) == 1
    assert sample(samples, "sc_bridge_events_dead_lettered_total", reason="invalid_json", **gate) == 1
    assert sample(samples, "sc_bridge_pushes_refused_total", vendor="hikvision", reason="address") == 1
    assert sample(samples, "sc_bridge_commands_total", op="sync_whitelist", outcome="applied", **gate) == 1
    assert sample(samples, "sc_bridge_commands_total", op="open", outcome="refused", **gate) == 1
    assert sample(samples, "sc_bridge_commands_total", op="other", outcome="invalid", **gate) == 1

    await rig.server.stop()  # the terminal stops answering: offline, and its stored event read back later
    await rig.seen.until(lambda: rig.seen.last_state().get("online") is False)
    assert sample(await scrape(url), "sc_bridge_device_online", **gate) == 0
    await rig.publish_command("open-1", "open", {"door": 1})  # not carried out: not acked
    await scraped_until(url, "sc_bridge_commands_total", 1, op="open", outcome="failed", **gate)
    rig.terminal.record("card_granted")
    await rig.server.start()
    await rig.seen.until(lambda: len([e for e in rig.seen.events() if e.get("offline")]) == 1)
    samples = await scrape(url)
    assert sample(samples, "sc_bridge_device_online", **gate) == 1
    assert sample(samples, "sc_bridge_events_read_back_total", **gate) == 1
    assert sample(samples, "sc_bridge_events_forwarded_total", **gate) == 2
    assert not [ack for ack in rig.seen.of(Channel.ACK) if ack["cmd_id"] == "open-1"]
