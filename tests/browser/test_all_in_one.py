"""The running all-in-one, as people use it: `smartcity run --demo` (embedded broker, gateway, services,
simulated devices, demo data) in its own process, driven in Debian's Chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from accounts.demo import DEMO_PASSWORD
from community.voting.demo import LIFTS
from devices.provisioning import device_credentials
from messaging.embedded_broker import CREDENTIALS_FILE
from tests.integration.helpers import publish, token_once_started
from tests.servers import free_port
from webkit.identity import Role

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
RECEIPT = re.compile(r"^[0-9a-f]{4}(-[0-9a-f]{4}){3}$")


@dataclass
class AllInOne:
    url: str
    process: subprocess.Popen[bytes]
    mqtt_port: int
    token: str
    """An administrator's bearer token: the gateway's APIs answer administrators only."""
    broker_credentials: Path  # the embedded broker takes no anonymous client: its users, written by the run

    def device_login(self, device: str) -> tuple[str, str]:
        return device_credentials(self.broker_credentials.read_text())[device]

    def get_json(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)


@pytest.fixture(scope="module")
def all_in_one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AllInOne]:
    folder = tmp_path_factory.mktemp("all-in-one")
    port, mqtt_port = free_port(), free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {
        "SC_HTTP_PORT": str(port), "SC_EMBEDDED_MQTT_PORT": str(mqtt_port), "SC_LOG_LEVEL": "WARNING"}
    errors = folder / "err.log"
    with errors.open("wb") as err_file:  # a file, not a pipe: an undrained pipe fills up and stalls the process
        process = subprocess.Popen([SMARTCITY, "run", "--demo", "--gates", "3", "--scales", "4", "--rate", "30",
                                    "--seed", "8", "--bad-ratio", "0.01"], cwd=folder, env=environment,
                                   stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        token = token_once_started(SMARTCITY, folder, environment, port, process, "admin", Role.ADMIN)
        running = AllInOne(f"http://127.0.0.1:{port}", process, mqtt_port, token, folder / "var" / CREDENTIALS_FILE)
        _wait_for_sales(running, errors)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode == 0, errors.read_text()
        assert "Traceback" not in errors.read_text()


def _wait_for_sales(running: AllInOne, errors: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"smartcity run exited: {errors.read_text()}")
        try:
            if running.get_json("/api/recent/scale_record?limit=1")["points"]:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("no sales stored by the all-in-one")


async def sign_in(page: Page, account: str) -> None:
    await page.get_by_label("账号").fill(account)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()


async def test_an_owner_of_the_simulated_compound_votes_on_the_live_proposal(
    all_in_one: AllInOne, browser: Browser, screenshots: Path
) -> None:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(all_in_one.url + "/")
    await expect(page.get_by_role("link", name="登录").first).to_be_visible()
    await page.screenshot(path=str(screenshots / "all-in-one-01-portal.png"), full_page=True)

    await page.goto(all_in_one.url + "/voting")
    await sign_in(page, "P010001")  # owns two flats of building 1 in the demo register
    await expect(page).to_have_url(all_in_one.url + "/voting")
    await page.get_by_role("link", name="使用专项维修资金更换 1、2 栋电梯").click()
    await expect(page).to_have_url(f"{all_in_one.url}/voting/proposals/{LIFTS}")
    ballots = page.locator("#ballot fieldset")
    await expect(ballots).to_have_count(2)
    for index in range(2):
        await ballots.nth(index).get_by_text("同意").click()
    await page.screenshot(path=str(screenshots / "all-in-one-02-proposal.png"), full_page=True)
    await page.get_by_role("button", name="提交选票").click()

    await expect(page).to_have_url(re.compile(rf"/voting/proposals/{LIFTS}/receipt\?code="))
    codes = await page.locator("[data-receipt]").all_inner_texts()
    assert len(codes) == 2 and all(RECEIPT.match(code) for code in codes), codes
    await page.screenshot(path=str(screenshots / "all-in-one-03-receipt.png"), full_page=True)
    await context.close()


async def test_the_property_manager_sees_the_simulated_gates_live_on_the_console(
    all_in_one: AllInOne, browser: Browser, screenshots: Path
) -> None:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(all_in_one.url + "/signin")
    await sign_in(page, "pm-zhang")
    await expect(page).to_have_url(all_in_one.url + "/access/console")  # managers land on the console
    await expect(page.locator("[data-live-status]")).to_have_text("实时更新中")
    for gate in ("gate-01", "gate-02", "gate-03"):
        await expect(page.locator(f'[data-gate="{gate}"]')).to_contain_text("在线")
    await page.evaluate("window.notReloaded = true")
    # a gate event published over MQTT, as a controller would, reaches the open console
    event_id = f"e2e-{time.time_ns()}"
    publish(all_in_one.mqtt_port, [("sc/v1/demo/gate/gate-02/event", json.dumps({
        "event_id": event_id, "ts": int(time.time() * 1000), "door": 1, "kind": "denied", "method": "card",
        "credential": "0000000001", "direction": "in", "reason": "unknown_credential"}))],
        login=all_in_one.device_login("gate-02"))
    row = page.locator(f'[data-live-feed] > li[data-event="gate-02/{event_id}"]')
    await expect(row).to_be_visible(timeout=15_000)
    await expect(row).to_contain_text("未登记的卡或凭证")
    assert await page.evaluate("window.notReloaded === true"), "the row arrived without a reload"
    await page.screenshot(path=str(screenshots / "all-in-one-04-console.png"), full_page=True)
    await context.close()


async def test_a_price_the_operator_publishes_reaches_the_simulated_scales_and_the_stall_screen(
    all_in_one: AllInOne, browser: Browser, screenshots: Path
) -> None:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    manage = f"{all_in_one.url}/market/demo/manage"
    await page.goto(manage)
    await sign_in(page, "market-liu")
    await expect(page).to_have_url(manage)
    first_stall = page.locator("#stalls tbody tr td.name a").first
    stall = (await first_stall.inner_text()).split()[0]
    await first_stall.click()
    await page.get_by_role("link", name="发布价格").first.click()
    price = page.get_by_label("第 1 行 单价")
    product = await page.get_by_label("第 1 行 品名").input_value()
    yuan, fen = (await price.input_value()).split(".")
    new_fen = int(yuan) * 100 + int(fen) + 37
    new = f"{new_fen // 100}.{new_fen % 100:02d}"
    await price.fill(new)
    await page.get_by_role("button", name="下一步：确认").click()
    await page.get_by_role("button", name="确认发布").click()
    await expect(page.locator("[role=status]")).to_contain_text("价格已发布")
    # the simulated scales answer over MQTT; the page refreshes itself until they have
    await expect(page.locator("#scales [data-delivery='pending']")).to_have_count(0, timeout=20_000)
    await expect(page.locator("#scales [data-delivery='acked']").first).to_be_visible()
    await page.screenshot(path=str(screenshots / "all-in-one-05-published.png"), full_page=True)

    screen = await browser.new_page(locale="zh-CN", timezone_id="Asia/Shanghai",
                                    viewport={"width": 1280, "height": 800})
    await screen.goto(f"{all_in_one.url}/market/demo/stalls/{stall}/screen")
    await expect(screen.locator("section.prices tr", has_text=product).locator(".price")).to_contain_text(new)
    await screen.screenshot(path=str(screenshots / "all-in-one-06-stall-screen.png"))
    await screen.close()
    await context.close()


async def test_a_shopper_traces_a_receipt_printed_by_a_simulated_scale(
    all_in_one: AllInOne, browser: Browser, screenshots: Path
) -> None:
    sales = all_in_one.get_json("/api/recent/scale_record?limit=20")["points"]
    # a sale of the first market (the demo's north market has its own trace lookup)
    sale = next(point for point in sales if point.get("batch") and point["site"] == "demo")
    page = await browser.new_page(locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": 375, "height": 812}, is_mobile=True)
    await page.goto(all_in_one.url + "/")
    await page.get_by_role("link", name="溯源查询").first.click()
    await page.locator("#market-demo a").click()  # the demo has two markets: the portal offers both
    await page.get_by_label("追溯码").fill(str(sale["trace_code"]))
    await page.get_by_role("button", name="查询").click()
    await expect(page.locator("#sale")).to_contain_text(str(sale["product"]))
    await expect(page.locator("#batch")).to_contain_text(str(sale["batch"]))
    # the demo's batches passed their rapid tests: the exact outcome (negative: 阴性)
    await expect(page.locator("#tests [data-result]").first).to_have_text("阴性")
    await expect(page.locator("#tests [data-result]").first).to_have_attribute("data-result", "pass")
    await expect(page.locator('#tests [data-result="fail"]')).to_have_count(0)
    await page.screenshot(path=str(screenshots / "all-in-one-07-trace.png"), full_page=True)
    await page.close()


async def test_the_gateway_status_page_names_what_it_shows_in_chinese(
    all_in_one: AllInOne, browser: Browser, screenshots: Path
) -> None:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                        viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(all_in_one.url + "/gateway")
    # administrators only: the administrator signs in and comes back to the status page
    await expect(page).to_have_url(re.compile(r"/signin\?next=/gateway"))
    await sign_in(page, "admin")
    await expect(page).to_have_url(all_in_one.url + "/gateway")
    await expect(page.locator("h1")).to_contain_text("运行状态")
    await expect(page.locator("text=已连接")).to_be_visible()
    await expect(page.locator("td", has_text="gate-01").first).to_be_visible()
    await expect(page.locator("td >> text=在线").first).to_be_visible()
    events = await page.locator("section", has=page.locator("h2", has_text="门禁事件")).inner_text()
    assert "通行" in events
    assert "granted" not in events and "card" not in events, "codes show as Chinese names (dead letters keep theirs)"
    await page.screenshot(path=str(screenshots / "all-in-one-08-gateway-status.png"), full_page=True)
    await context.close()
