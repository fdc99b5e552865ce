"""The operator's pages of licence rules as the law has them (SQLite and PostgreSQL): the market's own policy with
the law's table beside it, what a stall sells, its staff roster and each person's health certificate, a farmer
selling their own produce, and batches with the certificates their product needs from an origin of the GB/T 2260
list — every refusal next to its field, nothing written. The market of :mod:`tests.integration.test_pages_market`
(its fixture): everyone at every stall certified, A03 vegetables, A04 pre-packaged food, B01 meat with no vendor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from market.identity_numbers import credit_code_check_character
from market.licences import LicencePolicy, Offering, StaffMember
from market.service import NotFound
from market.tracing import CertificateType, ProductCategory
from tests.integration.test_pages_market import (
    MANAGE,
    NOW,
    SITE,
    Site,
    field_problem,
    opened_site,
    section,
    words,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def pages(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    """The market pages of :mod:`tests.integration.test_pages_market`, seeded as there."""
    async with opened_site(engine, tmp_path) as opened:
        yield opened


async def test_the_market_policy_is_changed_with_a_reason_beside_the_laws_table(pages: Site) -> None:
    token = await pages.sign_in("op-liu")
    page = await pages.page(MANAGE)
    policy = words(section(page, "policy"))
    for citation in ("《中华人民共和国食品安全法》第三十五条第一款", "《中华人民共和国食品安全法》第四十五条第二款",
                     "《无证无照经营查处办法》第三条第（一）项", "《中华人民共和国市场主体登记管理条例》第三条"):
        assert citation in policy
    assert "所有从业人员须持健康证明" in policy
    assert 'class="warn"' in section(page, "stall-A03"), "the market's rule: its person's certificate ends soon"

    no_reason = await pages.post(f"{MANAGE}/licence-policy", {"reason": ""}, token)
    body = await no_reason.text()
    assert no_reason.status == 422 and field_problem(body, "policy-reason") == "请填写更改原因"
    assert (await pages.service.market(SITE)).policy.health_certificate_every_stall, "nothing changed"
    same = await pages.post(f"{MANAGE}/licence-policy", {"health_certificate_every_stall": "yes", "reason": "再次"},
                           token)
    assert same.status == 422 and "与本市场现行规定相同" in words(await same.text())

    # back to the law alone: a vegetables stall needs its licence only
    done = await pages.post(f"{MANAGE}/licence-policy", {"reason": "按法律要求执行"}, token)
    assert done.status == 303 and done.headers["Location"] == f"{MANAGE}?notice=policy#policy"
    assert (await pages.service.market(SITE)).policy == LicencePolicy()
    after = await pages.page(f"{MANAGE}?notice=policy")
    assert "本市场证照规定已更新" in after and "按法律要求，无另行规定" in words(section(after, "policy"))
    assert 'class="ok"' in section(after, "stall-A03"), "a produce stall with its licence is compliant by law"
    a04 = words(section(after, "stall-A04"))
    assert "食品经营备案凭证 · 缺失" in a04 and "健康证明" not in a04, "pre-packaged food: a filing, no certificate"


async def test_the_roster_names_each_handler_and_finds_the_uncertified(pages: Site) -> None:
    token = await pages.sign_in("op-liu")
    stall = f"{MANAGE}/stalls/A03"
    page = await pages.page(stall)
    assert 'data-person="王建国"' in section(page, "documents") and 'value="王建国"' in section(page, "roster")
    form = {"rows": "3", "staff_name_0": "王建国", "staff_name_1": "赵强", "staff_rte_1": "yes",
            "staff_name_2": "赵强"}
    twice = await pages.post(f"{stall}/staff", form, token)
    assert twice.status == 422 and field_problem(await twice.text(), "roster-staff_name_2") == "赵强 已在名单中"
    assert (await pages.service.stall_display(SITE, "A03", NOW)).staff == (StaffMember("王建国", False),)
    broken = await pages.post(f"{stall}/staff", {"rows": "9999", "staff_name_0": "x"}, token)
    assert broken.status == 422 and "表单不完整" in words(await broken.text())

    saved = await pages.post(f"{stall}/staff", {**form, "staff_name_2": ""}, token)
    assert saved.status == 303 and saved.headers["Location"] == f"{stall}?notice=staff#staff"
    display = await pages.service.stall_display(SITE, "A03", NOW)
    assert display.staff == (StaffMember("王建国", False), StaffMember("赵强", True))
    shown = await pages.page(f"{stall}?notice=staff")
    documents = words(section(shown, "documents"))
    assert "从业人员名单已更新" in shown and "赵强 接触直接入口食品 缺失" in documents
    problems = words(section(await pages.page(MANAGE), "licence-problems"))
    assert "健康证明（赵强）" in problems and "本市场规定" in problems

    cleared = await pages.post(f"{stall}/staff", {"rows": "2", "staff_name_0": "王建国"}, token)
    assert cleared.status == 303
    assert (await pages.service.stall_display(SITE, "A03", NOW)).staff == (StaffMember("王建国", False),)


async def test_a_stall_says_what_it_sells_and_needs_what_the_law_asks_of_it(pages: Site) -> None:
    token = await pages.sign_in("op-liu")
    cooked = [("stall", "F01"), ("name", "王记熟食"), ("stall_type", "cooked_food"), ("vendor_id", "v-wang"),
              ("offerings", "ready_to_eat"), ("offerings", "prepackaged_food")]
    unknown = await pages.post(f"{MANAGE}/stalls", [*cooked[:4], ("offerings", "wine")], token)
    body = await unknown.text()
    assert unknown.status == 422 and field_problem(body, "stall-offerings") == "请从列出的经营品类中选择"
    added = await pages.post(f"{MANAGE}/stalls", cooked, token)
    assert added.status == 303
    display = await pages.service.stall_display(SITE, "F01", NOW)
    assert display.stall.offerings == {Offering.READY_TO_EAT, Offering.PREPACKAGED_FOOD}
    assert [s.required.value for s in display.licences.required] == [
        "business_licence", "food_business_permit", "health_certificate"]
    page = words(section(await pages.page(f"{MANAGE}/stalls/F01"), "documents"))
    assert "食品经营许可证 《中华人民共和国食品安全法》第三十五条第一款 缺失" in page
    edit = await pages.page(f"{MANAGE}/stalls/F01/edit")
    assert 'value="ready_to_eat" checked' in edit and 'value="farm_produce">' in edit
    changed = await pages.post(f"{MANAGE}/stalls/F01/edit", [("name", "王记熟食"), ("stall_type", "cooked_food"),
                                                             ("vendor_id", "v-wang")], token)
    assert changed.status == 303, "nothing ticked: what its type sells"
    assert (await pages.service.stall_display(SITE, "F01", NOW)).stall.offerings == {Offering.READY_TO_EAT}


async def test_a_farmer_selling_their_own_produce_is_marked_and_identified_instead_of_licensed(
        pages: Site) -> None:
    token = await pages.sign_in("op-liu")
    added = await pages.post(f"{MANAGE}/vendors", {"name": "刘大爷", "vendor_id": "v-farmer", "self_producing": "yes"},
                            token)
    assert added.status == 303
    assert (await pages.service.vendor(SITE, "v-farmer")).self_producing
    listed = await pages.page(f"{MANAGE}/vendors")
    assert "自产自销" in words(section(listed, "vendor-v-farmer"))
    vendor = f"{MANAGE}/vendors/v-wang"
    marked = await pages.post(f"{vendor}/farmer", {"self_producing": "yes"}, token)
    assert marked.status == 303 and marked.headers["Location"] == f"{vendor}?notice=farmer#vendor"
    page = await pages.page(f"{vendor}?notice=farmer")
    assert "自产自销农户" in words(section(page, "farmer-status")) and "无证无照经营查处办法" in page
    stall = words(section(await pages.page(f"{MANAGE}/stalls/A03"), "documents"))
    assert "自产自销农户身份证明 （营业执照）" in stall, "the licence the farmer holds meets it"
    unmarked = await pages.post(f"{vendor}/farmer", {}, token)
    assert unmarked.status == 303 and not (await pages.service.vendor(SITE, "v-wang")).self_producing
    missing = await pages.post(f"{MANAGE}/vendors/v-nobody/farmer", {"self_producing": "yes"}, token)
    assert missing.status == 404
    with pytest.raises(NotFound):
        await pages.service.vendor(SITE, "v-nobody")


BATCH = {"batch_id": "B-pork-1", "stall": "B01", "plu": "2001", "product": "猪肉", "category": "pork",
         "supplier": "临沂金锣肉制品有限公司", "origin_code": "371300", "quantity_kg": "80",
         "arrived_at": "2026-11-23T05:30", "cert_kind_0": "quarantine", "cert_number_0": "3200123456",
         "cert_kind_1": "meat_quality", "cert_number_1": "RP-2026-1123"}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"origin_code": "999999"}, "batch-origin_code", "没有这个行政区划代码（GB/T 2260，2024 年版代码表）"),
    ({"cert_kind_1": "", "cert_number_1": ""}, "batch-certificates",
     "猪肉须凭动物检疫合格证明和肉品品质检验合格证入场"),
    ({"category": "vegetables"}, "batch-cert_kind_0", "蔬菜不凭动物检疫合格证明入场"),
    ({"cert_kind_1": "market_entry"}, "batch-cert_kind_1", "请选择凭证类型"),
    ({"cert_number_1": ""}, "batch-cert_number_1", "请填写凭证编号"),
    ({"category": ""}, "batch-category", "肉禽摊位的批次请选择类别"),
])
async def test_a_batch_whose_origin_or_certificates_do_not_pass_is_refused_next_to_the_field(
        pages: Site, change: dict[str, str], field: str, says: str) -> None:
    token = await pages.sign_in("op-liu")
    refused = await pages.post(f"{MANAGE}/batches", {**BATCH, **change}, token)
    body = await refused.text()
    assert refused.status == 422 and field_problem(body, field).startswith(says), field_problem(body, field)
    assert 'value="临沂金锣肉制品有限公司"' in body, "what was typed stays in the form"
    with pytest.raises(NotFound):
        await pages.service.batch_detail(SITE, "B-pork-1")


async def test_pork_is_received_with_both_its_certificates_and_shown_with_them(pages: Site) -> None:
    token = await pages.sign_in("op-liu")
    form = words(section(await pages.page(f"{MANAGE}/batches?register"), "new"))
    assert "猪肉 动物检疫合格证明、肉品品质检验合格证（均须）" in form and "《生猪屠宰管理条例》第十五条" in form
    received = await pages.post(f"{MANAGE}/batches", BATCH, token)
    assert received.status == 303
    detail = await pages.service.batch_detail(SITE, "B-pork-1")
    assert detail.batch.category is ProductCategory.PORK and detail.batch.origin_name == "山东省临沂市"
    assert [c.kind for c in detail.batch.certificates] == [CertificateType.QUARANTINE, CertificateType.MEAT_QUALITY]
    facts = words(section(await pages.page(f"{MANAGE}/batches/B-pork-1"), "facts"))
    assert "猪肉" in facts and "动物检疫合格证明 3200123456 肉品品质检验合格证 RP-2026-1123" in facts


async def test_a_credit_code_with_a_wrong_organisation_code_digit_is_refused_at_its_field(pages: Site) -> None:
    """The 17th character is the organisation code's own check (GB 11714): wrong there, and the 18th made to fit,
    the code passed the earlier check and is refused now."""
    token = await pages.sign_in("op-liu")
    first_17 = "91440300708461137"
    response = await pages.client.post(f"{MANAGE}/vendors/v-li/documents", data={
        "csrf_token": token, "kind": "business_licence", "number": first_17 + credit_code_check_character(first_17),
        "valid_from": "2020-01-01"}, headers={"Accept": "text/html"}, allow_redirects=False)
    body = await response.text()
    assert response.status in (415, 422)
    assert "组织机构代码" in field_problem(body, "document-number")
