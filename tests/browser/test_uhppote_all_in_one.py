"""`smartcity run --demo --uhppote` in Debian's Chromium: the demo's gate-01 is the emulated UHPPOTE controller behind
the UHPPOTE bridge, in the all-in-one's own process. The property manager sees its swipes arrive in the console's live
feed, opens its door 1 remotely and sees it opened once the bridge acked; the controller's own record of the opening
comes back as the gate's event (the emulator runs in that process: the events API is where the test sees it)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from smartcity.emulated_gate import EMULATED_GATE
from tests.browser.test_all_in_one import SMARTCITY, sign_in
from tests.integration.helpers import token_once_started
from tests.integration.test_uhppote_all_in_one import EMULATED, our_tracebacks
from tests.servers import free_port
from webkit.identity import Role

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

MANAGER = "pm-zhang"  # the property manager of the demo compound whose gate-01 the controller stands in for
REASON = "快递员送大件家具 (uhppote browser test)"


@dataclass
class EmulatedAllInOne:
    url: str
    process: subprocess.Popen[bytes]
    errors: Path
    token: str  # an administrator's bearer token, for the API

    def get_json(self, path: str) -> Any:
        assert self.process.poll() is None, self.errors.read_text()
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def emulated_events(self) -> list[dict[str, Any]]:
        """gate-01's latest events that came from the emulated controller (the bridge's event ids)."""
        page = self.get_json(f"/api/access/events?gate_id={EMULATED_GATE}&limit=50")
        return [event for event in page["events"] if event["event_id"].startswith(EMULATED)]


def until(fetch: Callable[[], Any], check: Callable[[Any], Any], what: str, timeout: float = 60) -> Any:
    """``check(fetch())`` until it is truthy (returned), failing after ``timeout`` seconds; read gently, as every
    read is a transaction of the SQLite database the services write to."""
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if result := check(found):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last seen: {json.dumps(found, default=str)[:2000]}")
        time.sleep(1.5)


@pytest.fixture(scope="module")
def emulated_all_in_one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedAllInOne]:
    folder = tmp_path_factory.mktemp("uhppote-all-in-one")
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {
        "SC_HTTP_PORT": str(port), "SC_EMBEDDED_MQTT_PORT": str(free_port()), "SC_LOG_LEVEL": "WARNING"}
    errors = folder / "err.log"
    with errors.open("wb") as err_file:  # a file, not a pipe: an undrained pipe fills up and stalls the process
        process = subprocess.Popen(
            [SMARTCITY, "run", "--demo", "--uhppote", "--gates", "2", "--scales", "1", "--rate", "2", "--seed", "4"],
            cwd=folder, env=environment, stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        token = token_once_started(SMARTCITY, folder, environment, port, process, "admin", Role.ADMIN)
        yield EmulatedAllInOne(f"http://127.0.0.1:{port}", process, errors, token)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    text = errors.read_text()
    assert process.returncode == 0, text
    assert not our_tracebacks(text), text


async def test_the_property_manager_sees_the_emulated_controller_live_and_opens_its_door(
    emulated_all_in_one: EmulatedAllInOne, browser: Browser, screenshots: Path
) -> None:
    site = emulated_all_in_one
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(site.url + "/signin")
    await sign_in(page, MANAGER)
    await expect(page).to_have_url(site.url + "/access/console")  # managers land on the console
    # the bridge logs in to the broker as gate-01 and reports the controller online
    await expect(page.locator(f'[data-gate="{EMULATED_GATE}"]')).to_contain_text("在线", timeout=60_000)

    # gate-01 alone, so the other gates' traffic does not push its rows out of the feed
    await page.locator(f'[data-gate="{EMULATED_GATE}"] a.name').click()
    await expect(page).to_have_url(re.compile(rf"/access/console\?.*gate={EMULATED_GATE}"))
    await expect(page.locator("[data-live-status]")).to_have_text("实时更新中")
    shown = set(await page.locator("[data-live-feed] > li").evaluate_all("rows => rows.map(r => r.dataset.event)"))
    await page.evaluate("window.notReloaded = true")
    # someone swipes at the controller: the bridge publishes it as gate-01's, and the row arrives without a reload
    emulated_rows = page.locator(f'[data-live-feed] > li[data-event^="{EMULATED_GATE}/{EMULATED}"]')
    deadline = time.monotonic() + 90
    while not set(await emulated_rows.evaluate_all("rows => rows.map(r => r.dataset.event)")) - shown:
        assert time.monotonic() < deadline, "no event of the emulated controller reached the live feed in 90 s"
        await page.wait_for_timeout(500)
    assert await page.evaluate("window.notReloaded === true"), "the row arrived without a reload"
    # a card swipe among them (the door opening and closing after it are the controller's events too)
    await expect(emulated_rows.filter(has_text="刷卡").first).to_be_visible(timeout=60_000)
    await page.screenshot(path=str(screenshots / "uhppote-all-in-one-01-console.png"), full_page=True)

    # a remote open of door 1, confirmed; the page refreshes itself until the bridge acked it
    await page.locator(f'[data-gate="{EMULATED_GATE}"]').get_by_role("link", name="远程开门").click()
    await page.locator("label.door-choice", has=page.locator(f'input[value="{EMULATED_GATE}:1"]')).click()
    await page.get_by_label("开门原因").fill(REASON)
    await page.get_by_role("button", name="下一步：确认").click()
    await expect(page.get_by_role("heading", name="确定要打开这扇门吗？")).to_be_visible()
    opened_after = time.time()
    await page.get_by_role("button", name="确认开门").click()
    outcome = page.locator("#outcome")
    await expect(outcome).to_have_attribute("data-status", "opened", timeout=45_000)
    await expect(outcome).to_contain_text("已开门")
    cmd_id = (await page.locator("#details .code").inner_text()).strip()
    await page.screenshot(path=str(screenshots / "uhppote-all-in-one-02-opened.png"), full_page=True)

    # the open was the controller's: its ack made the outcome, and its own record of the opening is gate-01's event
    remote_open = site.get_json(f"/api/access/remote-opens/{cmd_id}")
    assert (remote_open["gate_id"], remote_open["door"], remote_open["status"]) == (EMULATED_GATE, 1, "opened")
    remote = until(site.emulated_events, lambda events: [
        e for e in events if e["method"] == "remote" and e["door"] == 1], "the controller's record of the open")
    assert remote[0]["kind"] == "granted"
    recorded = datetime.fromisoformat(remote[0]["ts"]).timestamp()
    assert recorded >= opened_after - 5, "recorded by the controller when the manager opened it"
    await context.close()
