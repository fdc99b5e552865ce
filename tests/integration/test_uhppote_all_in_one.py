"""`smartcity run --demo --uhppote`: the demo compound's gate-01 is the emulated UHPPOTE controller behind the UHPPOTE
bridge, in the all-in-one's own process. Its card swipes reach the access service (the API's access log and the live
feed) as gate-01's events, after the whitelist sync loaded the residents' cards into it; a remote open through the API
reaches the controller, which records the opening: that record comes back as the gate's event, and the ack as the
remote open's outcome."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from devices.simulator import TrafficGenerator
from smartcity.emulated_gate import EMULATED_GATE, SERIAL
from tests.integration.helpers import token_once_started
from tests.servers import free_port
from webkit.identity import Role

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
EMULATED = f"u{SERIAL}-"
"""The start of the event ids the bridge gives the emulated controller's events (no simulated gate's look so)."""
POLL_S = 1.5
"""Between two reads of the API: gently, as each read is a transaction of the SQLite database the services write to
(with every reading client hammering it, the access service's own writes would wait)."""
SEED = 4
T = TypeVar("T")


async def until(fetch: Callable[[], Awaitable[T]], check: Callable[[T], Any], what: str, timeout: float = 60) -> T:
    """``fetch()`` again until ``check`` passes on it (its result returned), failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await fetch()
        if result := check(found):
            return result  # type: ignore[no-any-return]
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last seen: {json.dumps(found, default=str)[:3000]}")
        await asyncio.sleep(POLL_S)


async def first_sse_event(response: aiohttp.ClientResponse, check: Callable[[dict[str, Any]], bool],
                          timeout: float = 60) -> dict[str, Any]:
    """The data of the first ``event`` message of the live feed that passes ``check``."""
    async with asyncio.timeout(timeout):
        kind = None
        while True:
            line = (await response.content.readline()).decode().rstrip("\r\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "event":
                data: dict[str, Any] = json.loads(line.removeprefix("data: "))
                if check(data):
                    return data


def zero_led_holders() -> set[str]:
    """The residents of the emulated gate whose card number starts with 0 (about one in four), from the demo roster
    the run with ``SEED`` draws."""
    gates = TrafficGenerator("demo", 2, 1, seed=SEED, bad_ratio=0.02).community_roster()
    gate = next(gate for gate in gates if gate.gate_id == EMULATED_GATE)
    holders = {resident.person_id for resident in gate.residents if resident.card.startswith("0")}
    assert holders, "the roster has cards with leading zeros"
    return holders


def our_tracebacks(log: str) -> list[str]:
    """The tracebacks in ``log`` but the embedded broker's (amqtt) own PUBACK timeouts: amqtt waits 5 s for a
    subscriber's PUBACK and logs a traceback past that, though the message is acked later and nothing is lost; on a
    loaded test machine the services' consumers, which ack once a burst is stored, can take that long."""
    blocks = log.split("Traceback (most recent call last):")[1:]
    return [block for block in blocks
            if not ("amqtt/broker.py" in block and "TimeoutError: Timeout waiting for PUBACK" in block)]


async def test_the_emulated_controller_is_a_gate_of_the_all_in_one(tmp_path: Path) -> None:
    http_port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {
        "SC_HTTP_PORT": str(http_port), "SC_EMBEDDED_MQTT_PORT": str(free_port()), "SC_LOG_LEVEL": "WARNING"}
    errors = tmp_path / "err.log"
    with errors.open("wb") as err_file:  # a file, not a pipe: an undrained pipe fills up and stalls the process
        process = subprocess.Popen(
            [SMARTCITY, "run", "--demo", "--uhppote", "--gates", "2", "--scales", "1", "--rate", "5",
             "--seed", str(SEED)],
            cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL, stderr=err_file)
    base = f"http://127.0.0.1:{http_port}"
    try:
        token = token_once_started(SMARTCITY, tmp_path, environment, http_port, process, "admin", Role.ADMIN)
        async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"}) as http:

            async def get(path: str) -> Any:
                async with http.get(path) as response:
                    assert response.status == 200, (path, response.status, await response.text())
                    return await response.json()

            async def emulated_events() -> list[dict[str, Any]]:
                assert process.poll() is None, errors.read_text()
                page = await get(f"/api/access/events?gate_id={EMULATED_GATE}&limit=50")
                return [event for event in page["events"] if event["event_id"].startswith(EMULATED)]

            live = await http.get(f"/api/access/live?gate_id={EMULATED_GATE}",
                                  timeout=aiohttp.ClientTimeout(total=None, sock_read=90))
            assert live.status == 200

            # the bridge reports the controller online and, once it loaded the whitelist's cards, in sync
            gate = await until(lambda: get(f"/api/access/gates/{EMULATED_GATE}"),
                               lambda g: g["online"] and g["in_sync"] and g, "gate-01 online with its whitelist")
            assert gate["acked_version"] == gate["desired_version"] is not None

            # people swipe at the controller: residents' loaded cards let in, other cards refused
            granted = await until(emulated_events, lambda events: [
                e for e in events if (e["kind"], e["method"]) == ("granted", "card")], "a granted card swipe")
            denied = await until(emulated_events, lambda events: [
                e for e in events if (e["kind"], e["method"]) == ("denied", "card")], "a refused card swipe")
            assert all(1 <= e["door"] <= len(gate["doors"]) for e in [*granted, *denied])
            assert any(e["resident_id"] for e in granted), "a resident's card names them in the log"
            # a card enrolled with leading zeros (as ten digits) names its holder too, though the controller reports
            # the number without them: the bridge reports it as the whitelist spells it
            holders = zero_led_holders()
            await until(emulated_events, lambda events: [
                e for e in events if (e["kind"], e["method"]) == ("granted", "card") and e["resident_id"] in holders],
                "a leading-zero card's swipe naming its holder", timeout=150)
            granted = [e for e in await emulated_events() if (e["kind"], e["method"]) == ("granted", "card")]
            assert all(e["resident_id"] for e in granted), "every card the controller let in is a resident's"
            streamed = await first_sse_event(live, lambda data: data["event_id"].startswith(EMULATED))
            assert streamed["gate_id"] == EMULATED_GATE
            live.close()

            # a remote open from the API reaches the controller: its ack is the outcome, its record the gate's event
            async with http.post(f"/api/access/gates/{EMULATED_GATE}/doors/1/open",
                                 json={"reason": "送快递 (uhppote test)"}) as response:
                assert response.status == 202, await response.text()
                cmd_id = (await response.json())["cmd_id"]
            outcome = await until(lambda: get(f"/api/access/remote-opens/{cmd_id}"),
                                  lambda found: found["status"] != "pending" and found, "the remote open's outcome")
            assert outcome["status"] == "opened", outcome
            remote = await until(emulated_events, lambda events: [
                e for e in events if e["method"] == "remote" and e["door"] == 1], "the controller's remote open")
            assert remote[0]["kind"] == "granted"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    text = errors.read_text()
    assert process.returncode == 0, text
    assert not our_tracebacks(text), text
    assert f"{EMULATED_GATE} is an emulated UHPPOTE controller (serial {SERIAL}" in text
