"""The notification centre in Debian's Chromium, against `smartcity services` in its own process on a real Mosquitto:
a simulated gate raises alarms over MQTT; the signed-in property manager sees the unread count in every page's
header, opens 通知, marks one read and then all read, and the count goes to zero — on a desktop and on a phone
(375 px), where no page scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from devices.contract import GateEventKind
from tests.browser.test_console_doors import no_sideways_scroll
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in
from tests.integration.services_process import (
    MANAGER,
    MANAGER_PASSWORD,
    Installation,
    gate_publishes,
    services_environment,
    wait_until,
)
from tests.servers import Mosquitto, free_port, have

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ALARMS = {"desktop": GateEventKind.FORCED, "phone": GateEventKind.TAMPER}
"""Each run raises two alarms of its own (doors 1 and 2), so the runs share one installation."""
TITLES = {GateEventKind.FORCED: "强行开门", GateEventKind.TAMPER: "防拆"}


@pytest.fixture(scope="module")
def mosquitto_server() -> Iterator[Mosquitto]:
    if not have("mosquitto"):
        pytest.skip("mosquitto is not installed: `make test` installs Debian's mosquitto package when run as root")
    server = Mosquitto()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory, mosquitto_server: Mosquitto) -> Iterator[Installation]:
    http_port = free_port()
    made = Installation(tmp_path_factory.mktemp("notification-centre"),
                        services_environment(http_port, mosquitto_server.url, smtp_port=None), http_port)
    try:
        made.set_up({}, email=False)
        made.wait_until_gate_online(mosquitto_server.port)
        yield made
    finally:
        made.stop()


def unread(installation: Installation, token: str) -> int:
    count: int = installation.api("GET", "/api/notifications?limit=1", token=token)["unread"]
    return count


async def header_shows(page: Page, count: int) -> None:
    link = page.locator("header a.notices")
    await expect(link).to_have_attribute("aria-label", f"通知，{count} 条未读")
    if count:
        await expect(link.locator(".badge")).to_have_text(str(count))
    else:
        await expect(link.locator(".badge")).to_have_count(0)


@pytest.mark.parametrize("device", ["desktop", "phone"])
async def test_the_manager_sees_the_unread_count_after_an_alarm_and_reads_them_in_the_centre(
        installation: Installation, mosquitto_server: Mosquitto, browser: Browser, screenshots: Path,
        device: str) -> None:
    manager = installation.cli("token", "issue", "--subject", MANAGER, "--role", "property_manager")
    kind = ALARMS[device]
    gate_publishes(mosquitto_server.port, [(kind, 1), (kind, 2)])
    wait_until(lambda: unread(installation, manager) == 2, 30, "two unread notifications", installation)

    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(installation.url + "/signin")
    await sign_in(page, MANAGER, MANAGER_PASSWORD)
    await expect(page.get_by_role("button", name="退出")).to_be_visible()
    await header_shows(page, 2)  # on the page they land on, before opening the centre
    await no_sideways_scroll(page)

    await page.locator("header a.notices").click()
    await expect(page).to_have_url(installation.url + "/notifications")
    unread_items = page.locator("li.unread")
    await expect(unread_items).to_have_count(2)
    await expect(unread_items.first).to_contain_text(TITLES[kind])
    await expect(unread_items.first).to_contain_text("紧急")
    await no_sideways_scroll(page)
    await shoot(page, screenshots, f"notifications-01-centre-{device}")

    read_before = await page.locator("li.read").count()  # the other device's run's, read by then
    await unread_items.first.get_by_role("button", name="标为已读").click()
    await header_shows(page, 1)
    await expect(page.locator("li.unread")).to_have_count(1)
    await expect(page.locator("li.read")).to_have_count(read_before + 1)
    await no_sideways_scroll(page)

    await page.get_by_role("button", name="全部标为已读").click()
    await header_shows(page, 0)
    await expect(page.locator("li.unread")).to_have_count(0)
    await expect(page.get_by_role("button", name="全部标为已读")).to_have_count(0)
    await no_sideways_scroll(page)
    await shoot(page, screenshots, f"notifications-02-all-read-{device}")
    assert unread(installation, manager) == 0
    await context.close()
