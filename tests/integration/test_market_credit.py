"""Vendor credit (信用评价) against real databases (SQLite and PostgreSQL): the facts gathered from the market's
records over the window — each the vendor's who held the stall then — rated; the API to the market's operators and
its supervisor (404 outside their markets, 400 on a bad window); the grade and its deductions on the vendor's page,
and the grade alone on the stall screen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from market.complaints import ComplaintAction, ComplaintCategory, ComplaintConclusion
from market.credit import CreditRating, CreditSource, Grade
from market.findings import Finding, FindingKind, finding_key
from market.licences import StallType
from market.rapid_tests import TypedTest
from market.service import ComplaintForm, NotFound
from market.stalls import Stall, Vendor
from market.storage import MarketRepository
from tests.integration.test_market_scope import NOW, A, B, Installation, installation
from tests.integration.test_market_service import SITE, Market_, receive
from tests.integration.test_market_service import market as service_market

pytestmark = pytest.mark.integration
market = service_market  # the service with its simulated scales and clock, as test_market_service has it
scoped = installation  # two markets with their operators and supervisors, as test_market_scope has them


async def add_findings(engine: AsyncEngine, market: Market_, *found: tuple[FindingKind, str, timedelta]) -> None:
    """Findings raised at ``stall``, ``ago`` before the clock's now (each its own key), as a sale would raise them."""
    now = market.clock.now
    async with engine.begin() as connection:
        await MarketRepository(connection).add_findings(SITE, [
            Finding(kind, finding_key(kind, stall, str(number), str(ago)), stall, now - ago)
            for number, (kind, stall, ago) in enumerate(found)], now)


async def complain(market: Market_, action: ComplaintAction,
                   conclusion: ComplaintConclusion | None = ComplaintConclusion.UPHELD) -> None:
    now = market.clock.now
    filed = await market.service.file_complaint(SITE, ComplaintForm("A03", None, ComplaintCategory.SHORT_WEIGHT,
                                                                    "称重少了二两，复秤为准"), now)
    assert filed.complaint_id is not None
    await market.service.act_on_complaint(SITE, filed.complaint_id, action, "经复秤核实", "op-1", now,
                                          conclusion if action is ComplaintAction.RESOLVE else None)


def rules_of(rating: CreditRating) -> list[tuple[str, int]]:
    return sorted((d.rule, d.points) for d in rating.deductions)


async def test_a_vendors_record_is_gathered_from_their_stalls_and_rated(market: Market_, engine: AsyncEngine
                                                                       ) -> None:
    now = market.clock.now
    await receive(market, "B1")
    await market.service.record_test(SITE, TypedTest("B1", "organophosphate_carbamate", None, "70", "%", "刘*", now,
                                                     seller_accepts=True), "op-1", now)
    await receive(market, "B2", plu="1002")
    await market.service.recall(SITE, "B2", "供货商通报问题批次", "op-1", now)
    await receive(market, "B3", plu="1003")
    await market.service.recall(SITE, "B3", "误操作", "op-1", now)
    await market.service.release(SITE, "B3", "召回有误", "op-1", now)
    await receive(market, "B4", plu="1004", stall="A04")
    await market.service.recall(SITE, "B4", "他人摊位的批次", "op-1", now)
    await complain(market, ComplaintAction.RESOLVE)
    await complain(market, ComplaintAction.RESOLVE, ComplaintConclusion.NOT_UPHELD)  # looked into: not so
    await complain(market, ComplaintAction.REJECT)
    await add_findings(engine, market, (FindingKind.PRICE_DIFFERS, "A03", timedelta(hours=1)),
                       (FindingKind.PRICE_DIFFERS, "A03", timedelta(hours=2)),
                       (FindingKind.PRICE_DIFFERS, "A03", timedelta(hours=3)),
                       (FindingKind.UNREGISTERED_SCALE, "A03", timedelta(hours=1)),
                       (FindingKind.PRICE_DIFFERS, "A04", timedelta(hours=1)),
                       (FindingKind.AMOUNT_MISMATCH, "A03", timedelta(days=200)),
                       (FindingKind.SALE_OF_BLOCKED_BATCH, "A03", timedelta(days=400)))

    rating = await market.service.vendor_credit(SITE, "v-wang", now)
    assert rules_of(rating) == [("amount_mismatch", 3), ("complaint_upheld", 5), ("licence_missing", 15),
                                ("price_differs", 3), ("recall", 10), ("test_positive", 20)]
    assert (rating.score, rating.grade) == (44, Grade.D)
    considered = {t.source: t.considered for t in rating.totals}
    assert considered == {CreditSource.LICENCE: 1, CreditSource.FINDING: 5, CreditSource.RAPID_TEST: 1,
                          CreditSource.COMPLAINT: 3, CreditSource.RECALL: 2}  # B1 stopped by its test, B2
    assert next(d for d in rating.deductions if d.rule == "recall").fact == "batch:B2"
    assert next(d for d in rating.deductions if d.rule == "amount_mismatch").older
    # the last 30 days only: the 200-day-old finding drops out
    assert (await market.service.vendor_credit(SITE, "v-wang", now, days=30)).score == 47


async def test_a_stall_handed_over_takes_nobodys_record_with_it(market: Market_, engine: AsyncEngine) -> None:
    await add_findings(engine, market, (FindingKind.AMOUNT_MISMATCH, "A03", timedelta(hours=1)))
    later = market.clock.advance(days=1)
    await market.service.add_vendor(SITE, Vendor("v-li", "李秀英"), later)
    await market.service.update_stall(SITE, Stall("A03", "李记蔬菜", StallType.VEGETABLES, "v-li"), later)
    market.clock.advance(hours=2)
    await add_findings(engine, market, (FindingKind.NO_PUBLISHED_PRICE, "A03", timedelta(hours=1)))
    now = market.clock.now
    wang = await market.service.vendor_credit(SITE, "v-wang", now)
    li = await market.service.vendor_credit(SITE, "v-li", now)
    assert rules_of(wang) == [("amount_mismatch", 5)], "holds no stall now: no licence of theirs is wanted"
    assert rules_of(li) == [("licence_missing", 15), ("no_published_price", 2)]
    assert {d.stall for d in li.deductions} == {"A03"}


async def test_an_unknown_vendor_or_market_is_not_found(market: Market_) -> None:
    with pytest.raises(NotFound):
        await market.service.vendor_credit(SITE, "v-nobody", market.clock.now)
    with pytest.raises(NotFound):
        await market.service.vendor_credit("nowhere", "v-wang", market.clock.now)


# --- the API and the pages ---------------------------------------------------------------------------


async def test_operators_and_the_supervisor_read_a_vendors_credit_within_their_markets(scoped: Installation) -> None:
    a, b = scoped.a, scoped.b
    path = f"/api/markets/{A}/vendors/{a.vendor}/credit"
    status, body = await scoped.call("GET", path, "op-a")
    assert status == 200, body
    assert (body["score"], body["grade"], body["grade_zh"]) == (97, "A", "诚信经营")
    (deduction,) = body["deductions"]
    assert (deduction["rule"], deduction["points"], deduction["fact"]) == ("price_differs", 3,
                                                                          f"finding:{a.finding}")
    assert {t["source"] for t in body["totals"]} == {s.value for s in CreditSource}
    assert body["rules"]["window_days"] == 365
    assert await scoped.call("GET", path, "sup-a") == (200, body)
    assert await scoped.call("GET", path, "root") == (200, body)
    # another market's vendor: as for a market that does not exist; an unknown vendor: not found
    assert await scoped.call("GET", f"/api/markets/{B}/vendors/{b.vendor}/credit", "sup-a") == (
        404, {"error": f"no market {B!r}"})
    assert await scoped.call("GET", f"/api/markets/{B}/vendors/{b.vendor}/credit", "op-a") == (
        404, {"error": f"no market {B!r}"})
    assert await scoped.call("GET", f"/api/markets/{A}/vendors/{b.vendor}/credit", "op-a") == (
        404, {"error": f"no vendor {b.vendor!r} at market {A!r}"})
    assert (await scoped.call("GET", path, None))[0] == 401


@pytest.mark.parametrize("days", ["0", "-1", "abc", "1099", "1.5", ""])
async def test_a_bad_window_is_refused_with_the_reason(scoped: Installation, days: str) -> None:
    status, body = await scoped.call("GET", f"/api/markets/{A}/vendors/{scoped.a.vendor}/credit?days={days}", "op-a")
    assert status == 400 and "days must be a whole number from 1 to 1098" in body["error"]


async def test_a_window_of_days_is_taken(scoped: Installation) -> None:
    status, body = await scoped.call("GET", f"/api/markets/{A}/vendors/{scoped.a.vendor}/credit?days=30", "op-a")
    assert status == 200 and body["rules"]["window_days"] == 30 and body["score"] == 97


async def test_the_vendors_page_shows_the_grade_and_each_deduction(scoped: Installation) -> None:
    a = scoped.a
    for account in ("op-a", "sup-a"):
        await scoped.sign_in(account)
        page = await scoped.page(f"/market/{A}/manage/vendors/{a.vendor}")
        assert 'id="credit" data-credit-grade="A" data-credit-score="97"' in page
        assert 'data-rule="price_differs"' in page and "售价与公示价格不符" in page
        assert f"/market/{A}/manage/findings?kind=price_differs&amp;stall={a.stall}&amp;state=all" in page


async def test_the_stall_screen_shows_the_grade_alone(scoped: Installation) -> None:
    a = scoped.a
    for tail in ("/screen", ""):
        response = await scoped.client.get(f"/market/{A}/stalls/{a.stall}{tail}")
        page = await response.text()
        assert response.status == 200, page
        assert 'data-credit-grade="A"' in page and "信用等级 <strong>A</strong> 诚信经营" in page
        assert "售价与公示价格不符" not in page and "扣分" not in page


async def test_closing_a_complaint_through_the_api_says_whether_it_was_upheld_and_only_upheld_ones_count(
        scoped: Installation) -> None:
    """The operator closes a complaint with its conclusion (upheld / not upheld), stored, published with the
    outcome, and the vendor's credit counts only the upheld one."""
    a = scoped.a
    state = f"/api/markets/{A}/complaints/{a.complaint}/state"
    for body, refused in (({"action": "resolve", "outcome": "经复秤核实"}, 422),
                          ({"action": "reject", "outcome": "经复秤核实", "conclusion": "upheld"}, 422),
                          ({"action": "start", "conclusion": "not_upheld"}, 422),
                          ({"action": "resolve", "outcome": "经复秤核实", "conclusion": "maybe"}, 400)):  # the schema's
        status, answer = await scoped.call("POST", state, "op-a", json=body)
        assert status == refused, (body, answer)
        assert [d["field"] for d in answer["details"]] == ["conclusion"], answer
    status, answer = await scoped.call("POST", state, "op-a", json={
        "action": "resolve", "outcome": "经复秤重量无误，已向投诉人说明", "conclusion": "not_upheld"})
    assert status == 200, answer
    assert (answer["state"], answer["conclusion"], answer["conclusion_zh"]) == ("resolved", "not_upheld", "投诉不属实")
    credit = f"/api/markets/{A}/vendors/{a.vendor}/credit"
    _, rating = await scoped.call("GET", credit, "op-a")
    assert not [d for d in rating["deductions"] if d["source"] == "complaint"], "not upheld: counts nothing"
    assert rating["score"] == 97

    upheld = await scoped.service.file_complaint(A, ComplaintForm(a.stall, None, ComplaintCategory.PRICE,
                                                                  "价格与公示不符，多收了钱"), NOW)
    status, answer = await scoped.call("POST", f"/api/markets/{A}/complaints/{upheld.complaint_id}/state", "op-a",
                                       json={"action": "resolve", "outcome": "已退还多收款项", "conclusion": "upheld"})
    assert status == 200 and answer["conclusion"] == "upheld", answer
    _, rating = await scoped.call("GET", credit, "op-a")
    (deduction,) = [d for d in rating["deductions"] if d["source"] == "complaint"]
    assert (deduction["rule"], deduction["points"], deduction["fact"]) == ("complaint_upheld", 5,
                                                                          f"complaint:{upheld.complaint_id}")
    _, display = await scoped.call("GET", f"/api/markets/{A}/stalls/{a.stall}/display", None)
    assert [(o["outcome"], o["conclusion"], o["conclusion_zh"]) for o in display["complaint_outcomes"]] == [
        ("已退还多收款项", "upheld", "投诉属实（查实）"),
        ("经复秤重量无误，已向投诉人说明", "not_upheld", "投诉不属实")]
    _, followed = await scoped.call("GET", f"/api/markets/{A}/complaint-status/{a.reference}", None)
    assert followed["conclusion"] == "not_upheld"


async def test_the_district_drill_down_to_a_stall_shows_its_vendors_grade(scoped: Installation) -> None:
    a = scoped.a
    for account in ("sup-a", "op-a"):
        await scoped.sign_in(account)
        page = await scoped.page(f"/market/{A}/manage/oversight/stalls/{a.stall}")
        card = page[page.index('id="vendor-credit"'):]
        card = card[:card.index("</section>")]
        assert 'data-credit-grade="A"' in card and "<strong>A</strong> 诚信经营" in card and "97 分" in card
        assert f'/market/{A}/manage/vendors/{a.vendor}#credit' in card
    other = await scoped.client.get(f"/market/{B}/manage/oversight/stalls/{scoped.b.stall}")
    assert other.status == 404, "another office's stall, as one that does not exist"


async def test_the_public_display_json_carries_the_grade_alone(scoped: Installation) -> None:
    a = scoped.a
    status, display = await scoped.call("GET", f"/api/markets/{A}/stalls/{a.stall}/display", None)
    assert status == 200, display
    assert (display["credit_grade"], display["credit_grade_zh"]) == ("A", "诚信经营")
    shown = str(display)
    assert "deductions" not in display and "score" not in shown and "售价与公示价格不符" not in shown
    await scoped.service.update_stall(A, Stall(a.stall, "空摊位", StallType.VEGETABLES, None), NOW)
    _, vacant = await scoped.call("GET", f"/api/markets/{A}/stalls/{a.stall}/display", None)
    assert (vacant["credit_grade"], vacant["credit_grade_zh"]) == (None, None), "no vendor, no grade"
