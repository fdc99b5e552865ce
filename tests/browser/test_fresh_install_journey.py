"""From an empty database to a running compound and market (issue 13's "done means"), in Debian's Chromium against
`smartcity run` started without `--demo` in its own process on a new data directory:

the first administrator is made with `smartcity admin create` → signs in → creates a property company and a market
operator, a community and a market → invites a property manager and a market operator, who set their own passwords →
the manager imports an 800-unit compound from an XLSX file (a dry run refuses a row first; the corrected file is
imported) → prints activation letters → a resident activates on a phone, signs in and sees their unit; the manager
records the resident on the owners' committee (as the owners' assembly elected them), and they create a proposal from
the page, its roll frozen from the register when it opens; the operator registers a vendor with a licence scan, a
stall and a scale, and publishes prices.

Screenshots of every step go to test-artifacts/screenshots/ (the guides in docs/ use some of them)."""

from __future__ import annotations

import io
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.async_api import Browser, BrowserContext, Page, expect

from community.onboarding.columns import COLUMNS
from tests.browser.test_market_pages import _png
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in
from tests.integration.test_clean_start import environment, start, stop, wait_until_served
from tests.integration.test_embedded_mode import SMARTCITY
from tests.servers import free_port
from webkit.formatting import SHANGHAI

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ADMIN, ADMIN_PASSWORD = "root-admin", "tall-cedar-river-42"
MANAGER, MANAGER_PASSWORD = "zhao.min", "quiet-harbour-lamp-7"
OPERATOR, OPERATOR_PASSWORD = "qian.li", "green-market-morning-5"
RESIDENT_PASSWORD = "my-own-flat-key-61"
COMPANY, MARKET_COMPANY = "hexie-wuye", "nanhu-shichang"
COMMUNITY, SITE = "hexie", "nanhu"
BUILDINGS, ENTRANCES, FLOORS, ROOMS_A_FLOOR = 8, 2, 25, 2  # 8 × 2 × 25 × 2 = 800 units
RESIDENT = "H-B03-2-1201"
RESIDENT_UNIT = "B03-2-1201"
GATE, GROUP = "gate-east", "residents"


@dataclass
class Installation:
    url: str
    folder: Path


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """`smartcity admin create`, then `smartcity run` (no --demo, the embedded broker and store), as the README says."""
    folder = tmp_path_factory.mktemp("fresh-install")
    http_port = free_port()
    # a test installation: the journey opens its vote a minute after its notice (SC_VOTING_NOTICE_DAYS=0, warned
    # about at start); an installation for owners keeps the 15 days the law requires
    env = {**environment(http_port), "SC_VOTING_NOTICE_DAYS": "0"}
    made = subprocess.run([SMARTCITY, "admin", "create", ADMIN, "--name", "系统管理员", "--password-stdin"], cwd=folder,
                          env=env, input=ADMIN_PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    process = start(folder, ["run"], env)
    try:
        assert wait_until_served(process, folder, http_port, "/readyz") == 200
        assert "SC_VOTING_NOTICE_DAYS=0" in (folder / "err.log").read_text(), "a test installation is warned about"
        yield Installation(f"http://127.0.0.1:{http_port}", folder)
    finally:
        stop(process, folder)


def compound_rows(*, bad_area: bool) -> list[list[str]]:
    """800 units, one owner living in each with a phone, a card and the residents' access group; with ``bad_area``
    one unit's area is written in words."""
    rows: list[list[str]] = []
    for building in range(1, BUILDINGS + 1):
        for entrance in range(1, ENTRANCES + 1):
            for floor in range(1, FLOORS + 1):
                for room in range(1, ROOMS_A_FLOOR + 1):
                    unit = f"B{building:02d}-{entrance}-{floor}{room:02d}"
                    number = len(rows)
                    area = "八十" if bad_area and unit == "B05-1-701" else f"{78 + number % 5 * 12}.{number % 100:02d}"
                    rows.append([f"B{building:02d}", f"{building}号楼", f"{entrance}单元", f"{floor}{room:02d}", unit,
                                 area, f"H-{unit}", f"业主{number:03d}", "是", "业主", f"139{number:08d}",
                                 f"88{number:08d}", GROUP])
    return rows


def xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([column.header for column in COLUMNS])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def new_context(browser: Browser, device: str = "desktop") -> BrowserContext:
    return await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]


async def fill(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = page.locator(f"form [name={name}]").last
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)


async def invitation_link(page: Page, url: str, name: str, role: str, *, organisation: str | None = None,
                          community: str | None = None, market: str | None = None) -> str:
    await page.goto(url + "/accounts/invitations")
    await page.get_by_label("被邀请人姓名").fill(name)
    await page.get_by_label("角色").select_option(role)
    if organisation is not None:
        await page.get_by_label("单位").select_option(organisation)
    if community is not None:
        await page.locator(f"input[name=community][value='{community}']").check()
    if market is not None:
        await page.locator(f"input[name=market][value='{market}']").check()
    await page.get_by_role("button", name="生成邀请链接").click()
    link = await page.get_by_label("邀请链接").input_value()
    assert re.fullmatch(r"https?://[^/]+/invite/[A-Za-z0-9_-]{20,}", link), link
    return url + "/invite/" + link.rsplit("/", 1)[1]  # the page names the installation as its base URL says


async def accept(browser: Browser, link: str, account: str, name: str, password: str, shots: Path,
                 shot: str) -> Page:
    """The invitee opens the link, chooses their account and password, and signs in; their page is returned."""
    page = await (await new_context(browser)).new_page()
    await page.goto(link)
    await page.get_by_label("账号").fill(account)
    await page.get_by_label("姓名").fill(name)
    await page.get_by_label("新密码", exact=False).first.fill(password)
    await page.get_by_label("再次输入新密码").fill(password)
    await shoot(page, shots, shot)
    await page.get_by_role("button", name="开通账号").click()
    await expect(page.locator("[role=status]")).to_contain_text(account)
    await page.get_by_role("link", name="去登录").click()
    await sign_in(page, account, password)
    await expect(page.get_by_role("button", name="退出")).to_be_visible()
    return page


async def test_a_fresh_installation_from_the_first_administrator_to_a_vote_and_a_price(
    installation: Installation, browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    url = installation.url
    shots = screenshots
    admin = await (await new_context(browser)).new_page()

    # the administrator signs in and sets up the organisations, the community and the market
    await admin.goto(url + "/signin")
    await sign_in(admin, ADMIN, ADMIN_PASSWORD)
    await expect(admin).to_have_url(url + "/admin/organisations")  # an administrator lands on the administration
    for organisation_id, name, kind in ((COMPANY, "和谐物业服务有限公司", "property_company"),
                                        (MARKET_COMPANY, "南湖市场管理有限公司", "market_operator")):
        await fill(admin, {"organisation_id": organisation_id, "name": name, "kind": kind})
        await admin.locator("form:has([name=organisation_id]) [type=submit]").click()
        await expect(admin.locator("body")).to_contain_text(name)
    await shoot(admin, shots, "journey-01-organisations")

    await admin.goto(url + "/admin/communities")
    await fill(admin, {"community_id": COMMUNITY, "name": "和谐家园", "site": COMMUNITY, "organisation_id": COMPANY})
    await admin.locator("form:has([name=community_id]) [type=submit]").click()
    await expect(admin.locator("body")).to_contain_text("和谐家园")
    await shoot(admin, shots, "journey-02-community")

    await admin.goto(url + "/admin/markets")
    await fill(admin, {"site": SITE, "name": "南湖农贸市场", "address": "南湖路 18 号", "complaint_hotline": "12315",
                       "organisation_id": MARKET_COMPANY})
    await admin.locator("form:has([name=site]) [type=submit]").click()
    await expect(admin.locator("body")).to_contain_text("南湖农贸市场")
    await shoot(admin, shots, "journey-03-market")

    # the administrator invites the property manager and the market operator
    manager_link = await invitation_link(admin, url, "赵敏", "property_manager", organisation=COMPANY,
                                         community=COMMUNITY)
    await shoot(admin, shots, "journey-04-invitation")
    operator_link = await invitation_link(admin, url, "钱立", "market_operator", organisation=MARKET_COMPANY,
                                          market=SITE)

    # the manager accepts and imports the compound: a dry run refuses a row, nothing is written; then the whole file
    manager = await accept(browser, manager_link, MANAGER, "赵敏", MANAGER_PASSWORD, shots, "journey-05-accept")
    # before the residents: the gate at the east entrance, and the residents' access group through it
    await manager.goto(url + "/access/console/gates")
    await manager.locator("#new-gate summary").click()
    await manager.get_by_label("门禁编号").fill(GATE)
    await manager.get_by_label("门禁名称").fill("东门")
    await manager.locator("#new-gate-d0_number").fill("1")
    await manager.locator("#new-gate-d0_name").fill("东门人行")
    await manager.get_by_role("button", name="登记门禁").click()
    await expect(manager.locator("#added")).to_contain_text("门禁“东门”已登记")
    await manager.goto(url + "/access/console/groups")
    await manager.locator("#new-group summary").click()
    await manager.get_by_label("权限组编号").fill(GROUP)
    await manager.get_by_label("名称", exact=True).fill("全体住户")
    await manager.locator('#new-group-doors input[name="door"]').first.check()
    for day in "一二三四五六日":
        await manager.get_by_label(f"时段 1 周{day}").check(force=True)
    await manager.locator("#new-group-w0_start").fill("00:00")
    await manager.locator("#new-group-w0_end").fill("23:59")
    await shoot(manager, shots, "journey-05b-access-group")
    await manager.get_by_role("button", name="创建权限组").click()
    await expect(manager.locator("#saved")).to_contain_text("权限组“全体住户”已保存")

    await manager.goto(url + "/access/console/import")
    refused, corrected = tmp_path / "和谐家园-有误.xlsx", tmp_path / "和谐家园.xlsx"
    refused.write_bytes(xlsx(compound_rows(bad_area=True)))
    corrected.write_bytes(xlsx(compound_rows(bad_area=False)))
    await manager.get_by_label("电子表格").set_input_files(refused)
    await manager.get_by_role("button", name="预览（不写入）").click()
    await expect(manager.locator("#count-refused .value")).to_contain_text("1")
    await expect(manager.locator("tbody").first).to_contain_text("专有面积「八十」")
    await expect(manager.get_by_role("button", name="确认导入")).to_have_count(0)
    await shoot_top(manager, shots, "journey-06-dry-run-refused")
    await manager.goto(url + "/access/console/import")
    await manager.get_by_label("电子表格").set_input_files(corrected)
    await manager.get_by_role("button", name="预览（不写入）").click()
    await expect(manager.locator("#count-created .value")).to_contain_text("800")
    await expect(manager.locator("#count-refused .value")).to_contain_text("0")
    await shoot_top(manager, shots, "journey-07-dry-run")
    await manager.get_by_role("button", name="确认导入").click()
    await expect(manager.locator("[role=status]").first).to_contain_text("导入")
    await shoot_top(manager, shots, "journey-08-imported")
    await manager.goto(url + "/access/console/residents")
    await manager.get_by_label("查找住户").fill(RESIDENT_UNIT)
    await manager.get_by_role("button", name="查找").click()
    await expect(manager.locator("main")).to_contain_text(f"业主{_number(RESIDENT_UNIT):03d}")
    await shoot_top(manager, shots, "journey-08b-residents")
    await manager.goto(url + "/access/console/gates")
    await expect(manager.locator(f'[data-gate="{GATE}"]')).to_contain_text("800")  # every resident on its whitelist
    await shoot(manager, shots, "journey-08c-gates")

    # activation letters for a household, printed (the code shown once)
    await manager.goto(url + f"/accounts/activation-letters?community={COMMUNITY}")
    await manager.get_by_label(f"为 业主{_number(RESIDENT_UNIT):03d} 发放").check()
    await manager.get_by_role("button", name="生成激活码并打开打印页").click()
    letter = manager.locator(f"article.letter[data-resident='{RESIDENT}']")
    await expect(letter).to_be_visible()
    code = (await letter.locator(".code").inner_text()).strip()
    await letter.screenshot(path=str(shots / "journey-09-activation-letter.png"))

    # the resident activates on their phone, signs in and sees their unit
    resident = await (await new_context(browser, "phone")).new_page()
    await resident.goto(url + "/activate")
    await resident.get_by_label("激活码").fill(code)
    await resident.get_by_label("新密码", exact=False).first.fill(RESIDENT_PASSWORD)
    await resident.get_by_label("再次输入新密码").fill(RESIDENT_PASSWORD)
    await shoot(resident, shots, "journey-10-activate")
    await resident.get_by_role("button", name="激活并设置密码").click()
    await expect(resident.locator("[role=status]")).to_contain_text(RESIDENT)
    await resident.get_by_role("link", name="去登录").click()
    await sign_in(resident, RESIDENT, RESIDENT_PASSWORD)
    await resident.goto(url + "/access/my")
    await expect(resident.locator("main")).to_contain_text(RESIDENT_UNIT)
    await shoot(resident, shots, "journey-11-my-unit")
    await resident.goto(url + "/activate")
    await resident.get_by_label("激活码").fill(code)  # a used code: a clear page, not an error
    await resident.get_by_label("新密码", exact=False).first.fill(RESIDENT_PASSWORD)
    await resident.get_by_label("再次输入新密码").fill(RESIDENT_PASSWORD)
    await resident.get_by_role("button", name="激活并设置密码").click()
    await expect(resident.locator("#code-problem")).to_contain_text("已经用过")

    # the owners' assembly elected the resident to the committee: the manager records it, the resident signs in again
    await manager.goto(url + f"/accounts/people?q={RESIDENT}")
    await manager.locator(f"#account-{RESIDENT}").get_by_role("button", name="设为业委会成员").click()
    await manager.get_by_role("button", name="确认登记").click()
    await expect(manager.locator("[role=status]")).to_contain_text(f"已登记 {RESIDENT} 为业主委员会成员")
    await shoot(manager, shots, "journey-12-committee-recorded")
    committee = resident
    await committee.context.clear_cookies()  # signed out: the new role comes with the next sign-in
    await committee.goto(url + "/signin")
    await sign_in(committee, RESIDENT, RESIDENT_PASSWORD)
    await committee.goto(url + "/voting/new")
    await committee.get_by_label("标题").fill("续聘物业服务企业")
    await committee.get_by_label("表决事项").select_option("property_manager")
    await committee.get_by_label("议题说明").fill("续聘和谐物业服务有限公司，服务期三年。")
    # opening at the next minute (the register as the import left it): the roll is frozen then
    opens = datetime.now(SHANGHAI).replace(second=0, microsecond=0) + timedelta(minutes=1)
    await committee.get_by_label("开始时间").fill(f"{opens:%Y-%m-%dT%H:%M}")
    await committee.get_by_label("截止时间").fill(f"{opens + timedelta(days=10):%Y-%m-%dT%H:%M}")
    await shoot(committee, shots, "journey-13-proposal-form")
    await committee.get_by_role("button", name="发起表决").click()
    await expect(committee).to_have_url(re.compile(r"/voting/proposals/p-[0-9]{8}-[0-9a-f]{8}$"))
    await expect(committee.get_by_role("heading", name="续聘物业服务企业")).to_be_visible()
    await expect(committee.locator("#roll-not-frozen")).to_be_visible()
    await shoot(committee, shots, "journey-14-proposal")
    await _reload_until_frozen(committee, opens)
    await expect(committee.locator("#roll")).to_contain_text("800 个专有部分")  # frozen from the imported register
    await shoot(committee, shots, "journey-14b-proposal-open")

    # the market operator registers a vendor with a licence scan, a stall and a scale, and publishes prices
    operator = await accept(browser, operator_link, OPERATOR, "钱立", OPERATOR_PASSWORD, shots,
                            "journey-15-operator-accept")
    await operator.goto(f"{url}/market/{SITE}/manage")
    await expect(operator.locator("#stalls")).to_contain_text("还没有登记摊位")
    await operator.get_by_role("link", name="登记经营者").click()
    await operator.get_by_label("姓名或名称").fill("李红")
    await operator.get_by_label("联系电话（选填，不公开）").fill("13712345678")
    await operator.get_by_role("button", name="登记经营者").click()
    await expect(operator.locator("[role=status]")).to_contain_text("经营者已登记")
    photo = tmp_path / "营业执照.png"
    photo.write_bytes(_png())
    await operator.get_by_label("证照类型").select_option("business_licence")
    await operator.get_by_label("证照编号").fill("91440300708461136T")
    await operator.get_by_label("生效日期").fill("2025-03-01")
    await operator.get_by_label("扫描件或照片").set_input_files(photo)
    await operator.get_by_role("button", name="录入证照").click()
    await expect(operator.locator("[role=status]")).to_contain_text("证照已登记")
    await expect(operator.locator("#documents img.scan-thumb").first).to_be_visible()
    await shoot(operator, shots, "journey-16-vendor-licence")
    await operator.get_by_role("link", name="为该经营者登记摊位").click()
    await operator.get_by_label("摊位编号").fill("A01")
    await operator.get_by_label("摊位名称").fill("李红蔬菜")
    await operator.get_by_label("经营类别").select_option("vegetables")
    await operator.get_by_role("button", name="登记摊位").click()
    await expect(operator).to_have_url(re.compile(r"/stalls/A01\?notice=added$"))
    await operator.get_by_label("登记电子秤：设备编号").fill("scale-a01")
    await operator.get_by_role("button", name="登记电子秤").click()
    await expect(operator.locator("[role=status]")).to_contain_text("电子秤已登记")
    await operator.locator("#scales").get_by_role("link", name="发布价格").click()
    await operator.get_by_label("第 1 行 商品编码").fill("1001")
    await operator.get_by_label("第 1 行 品名").fill("西红柿")
    await operator.get_by_label("第 1 行 单价").fill("6.80")
    await operator.get_by_role("button", name="下一步：确认").click()
    await operator.get_by_role("button", name="确认发布").click()
    await expect(operator.locator("[role=status]").first).to_contain_text("价格已发布")
    await shoot(operator, shots, "journey-17-prices-published")

    # and the shopper sees the price on the market's public board
    with urllib.request.urlopen(f"{url}/market/{SITE}/stalls/A01", timeout=10) as response:
        assert "西红柿" in response.read().decode()


def _number(unit: str) -> int:
    """The row number :func:`compound_rows` gave ``unit`` (its owner is 业主<number>)."""
    return next(number for number, row in enumerate(compound_rows(bad_area=False)) if row[4] == unit)


async def _reload_until_frozen(page: Page, opens: datetime) -> None:
    """Reload the proposal's page until voting has opened and its roll is frozen (the services' clock ticks)."""
    deadline = opens + timedelta(seconds=60)
    while await page.locator("#roll-not-frozen").count() and datetime.now(SHANGHAI) < deadline:
        await page.wait_for_timeout(2000)
        await page.reload()


async def shoot_top(page: Page, folder: Path, name: str) -> None:
    """The viewport only: a page listing hundreds of rows makes a full-page picture no guide can show."""
    await page.screenshot(path=str(folder / f"{name}.png"))
