"""The market API over HTTP on both databases: roles, 4xx on bad input, pagination, the public views
(and what they must not reveal), the stall screen, rate limiting, and /openapi.json against the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.contract import CommandAck, Payment, ScaleRecord
from devices.topics import Channel, DeviceKind, parse_topic, topic_for
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.points import CredentialHasher, point_for
from market.identity_numbers import credit_code_check_character
from market.rate_limit import RateLimit
from market.service import MarketService, MarketSettings
from market.web import create_app
from market.web.presenting import mask_name, yuan
from messaging.downlink import RecordingDownlink
from relational.database import migrate
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.helpers import assert_openapi_describes_the_routes
from tests.unit.market_epcis_schema import validate
from webkit.identity import Role, TokenAuthority

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai
AUTHORITY = TokenAuthority(b"m" * 32)
SITE = "xinfadi"
M = f"/api/markets/{SITE}"


def bearer(subject: str, *roles: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, roles, NOW - timedelta(days=1), timedelta(days=30))}"}


SUBJECTS = {"op-zhang": [Role.MARKET_OPERATOR], "root": [Role.ADMIN], "wang": [Role.RESIDENT]}
"""Everyone the tests issue tokens for has an account (the API refuses a token of a subject without one)."""
OPERATOR = bearer("op-zhang", Role.MARKET_OPERATOR)
ADMIN = bearer("root", Role.ADMIN)
RESIDENT = bearer("wang", Role.RESIDENT)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Api:
    def __init__(self, client: TestClient[Any, Any], service: MarketService, downlink: RecordingDownlink,
                 store: EmbeddedStore, clock: Clock) -> None:
        self.client, self.service, self.downlink, self.store, self.clock = client, service, downlink, store, clock

    async def call(self, method: str, path: str, status: int, headers: dict[str, str] | None = OPERATOR,
                   **kwargs: Any) -> Any:
        response = await self.client.request(method, path, headers=headers, **kwargs)
        body = await response.text()
        assert response.status == status, body
        return await response.json() if response.content_type.endswith("json") else body

    async def sell(self, scale: str, record: ScaleRecord) -> None:
        topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, scale, Channel.RECORD))
        await self.service.handle([(topic, record)])
        await self.store.write([point_for(topic, record, 0, CredentialHasher(b"k"))])


@pytest.fixture
async def api(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    await migrate(engine, "market")
    clock, downlink = Clock(), RecordingDownlink()
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    settings = MarketSettings(trace_rate=RateLimit(capacity=3, refill_per_minute=6),
                              public_base_url="https://market.example.cn")
    service = MarketService(engine, downlink, store, clock, settings)
    app = await check_tokens_with_accounts(create_app(service, AUTHORITY, clock), engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, service, downlink, store, clock)
    await store.close()


MARKET = {"site": SITE, "name": "新发地农贸市场", "address": "北京市丰台区新发地", "complaint_hotline": "12315"}
VENDOR = {"vendor_id": "v-wang", "name": "王建国", "photo_ref": "https://photos.example.cn/v-wang.jpg",
          "contact_phone": "13800000000"}
BATCH_ID = "B20261123-A03-01"
BATCH: dict[str, Any] = {"batch_id": BATCH_ID, "stall": "A03", "plu": "1001", "product": "西红柿",
         "supplier": "寿光蔬菜合作社", "supplier_contact": "13900000000", "origin_code": "370783",
         "origin_name": "山东省寿光市", "quantity_g": 50_000, "certificate_type": "commitment",
         "certificate_number": "CD-2026-1123", "arrived_at": "2026-11-23T05:30:00+08:00"}
EVERY_STALL = {"health_certificate_every_stall": True, "licence_for_farmers": False, "reason": "全员持证上岗"}


async def seeded(api: Api) -> None:
    await api.call("POST", "/api/markets", 201, json=MARKET)
    await api.call("POST", f"{M}/vendors", 201, json=VENDOR)
    await api.call("POST", f"{M}/vendors/v-wang/documents", 201, json={
        "kind": "business_licence", "number": "91440300708461136T", "valid_from": "2020-01-01"})
    await api.call("POST", f"{M}/vendors/v-wang/documents", 201, json={
        "kind": "food_filing", "number": "YB11010600012345", "valid_from": "2024-01-01"})
    await api.call("POST", f"{M}/vendors/v-wang/documents", 201, json={
        "kind": "health_certificate", "number": "JK-2026-0042", "valid_from": "2025-12-01",
        "valid_to": "2026-11-30", "holder": "王建国"})
    await api.call("POST", f"{M}/stalls", 201, json={"stall": "A03", "name": "王记蔬菜", "stall_type": "vegetables",
                                                     "vendor_id": "v-wang"})
    await api.call("POST", f"{M}/stalls", 201, json={"stall": "A04", "name": "老李蔬菜", "stall_type": "vegetables"})
    await api.call("POST", f"{M}/scales", 201, json={"scale_id": "scale-01", "stall": "A03"})
    await api.call("POST", f"{M}/stalls/A03/prices", 201, json={"prices": [
        {"plu": "1001", "product": "西红柿", "unit_price_fen": 680},
        {"plu": "1002", "product": "大白菜", "unit_price_fen": 200}]})
    await api.call("POST", f"{M}/stalls/A04/prices", 201, json={"prices": [
        {"plu": "1001", "product": "西红柿", "unit_price_fen": 700}]})


def record(n: int, fen: int = 680, batch: str | None = None, stall: str = "A03") -> ScaleRecord:
    return ScaleRecord(record_id=f"r-{n}", ts=NOW + timedelta(minutes=n), stall=stall, plu="1001", product="西红柿",
                       net_g=1250, unit_price_fen=fen, amount_fen=(1250 * fen + 500) // 1000,
                       trace_code=f"{SITE}-{stall}-{n:04d}", batch=batch, payment=Payment.WECHAT)


async def test_the_openapi_document_matches_the_routes(api: Api) -> None:
    document = await api.call("GET", "/openapi.json", 200, headers=None)
    assert_openapi_describes_the_routes(document, api.client.app)
    publish = document["paths"]["/api/markets/{site}/stalls/{stall}/prices"]["post"]
    assert publish["security"] == [{"bearer": []}] and {"201", "401", "403", "422"} <= set(publish["responses"])
    trace = document["paths"]["/api/markets/{site}/trace/{trace_code}"]["get"]
    assert "security" not in trace and "429" in trace["responses"]


async def test_operators_and_admins_manage_others_are_refused(api: Api) -> None:
    await api.call("POST", "/api/markets", 401, headers=None, json=MARKET)
    await api.call("POST", "/api/markets", 403, headers=RESIDENT, json=MARKET)
    await api.call("POST", "/api/markets", 201, headers=ADMIN, json=MARKET)
    await api.call("GET", f"{M}/findings", 401, headers=None)
    await api.call("GET", f"{M}/findings", 403, headers=RESIDENT)
    await api.call("GET", f"{M}/findings", 200)


async def test_bad_input_is_a_clear_4xx(api: Api) -> None:
    await seeded(api)
    extra = await api.call("POST", f"{M}/stalls", 400, json={"stall": "A09", "name": "x", "stall_type": "fruit",
                                                             "colour": "red"})
    assert extra["details"][0]["field"] == "colour"
    await api.call("POST", f"{M}/stalls", 400, json={"stall": "A 9", "name": "x", "stall_type": "fruit"})
    text_price = await api.call("POST", f"{M}/stalls/A03/prices", 400, json={"prices": [
        {"plu": "1001", "product": "西红柿", "unit_price_fen": "680"}]})
    assert text_price["details"][0]["field"] == "prices.0.unit_price_fen"
    await api.call("POST", f"{M}/stalls/A03/prices", 400, json={"prices": [
        {"plu": "1001", "product": "西红柿", "unit_price_fen": 6.8}]})
    await api.call("POST", f"{M}/stalls/A03/prices", 400, data=b"{not json")
    bad_code = await api.call("POST", f"{M}/vendors/v-wang/documents", 422, json={
        "kind": "business_licence", "number": "91440300708461136U", "valid_from": "2020-01-01"})
    assert "check character" in bad_code["error"]
    await api.call("POST", f"{M}/vendors/v-wang/documents", 422, json={
        "kind": "health_certificate", "number": "JK-1", "valid_from": "2026-01-01", "valid_to": "2025-01-01",
        "holder": "王"})
    await api.call("POST", f"{M}/vendors/v-nobody/documents", 404, json={
        "kind": "food_filing", "number": "YB1", "valid_from": "2024-01-01"})
    await api.call("POST", f"{M}/stalls/Z99/prices", 404, json={"prices": [
        {"plu": "1001", "product": "西红柿", "unit_price_fen": 680}]})
    await api.call("POST", f"{M}/stalls/A03/prices", 422, json={"effective_from": "2026-11-01T00:00:00+08:00",
                                                                 "prices": [{"plu": "1001", "product": "西红柿",
                                                                             "unit_price_fen": 680}]})
    await api.call("POST", f"{M}/stalls", 409, json={"stall": "A03", "name": "again", "stall_type": "fruit"})
    await api.call("POST", f"{M}/stalls", 422, json={"stall": "A09", "name": "x", "stall_type": "fruit",
                                                     "vendor_id": "v-nobody"})
    await api.call("POST", "/api/markets", 409, json=MARKET)
    await api.call("GET", "/api/markets/nowhere/prices/board", 404, headers=None)
    await api.call("GET", f"{M}/stalls?limit=0", 400)
    await api.call("GET", f"{M}/stalls?offset=-1", 400)
    await api.call("GET", f"{M}/findings?kind=bad", 400)
    await api.call("GET", f"{M}/prices/history", 400, headers=None)
    await api.call("GET", f"{M}/prices/history?plu=1001&days=99", 400, headers=None)
    await api.call("POST", f"{M}/findings/abc/resolve", 404, json={"resolution": "x"})


async def test_lists_are_paginated(api: Api) -> None:
    await seeded(api)
    first = await api.call("GET", f"{M}/stalls?limit=1", 200)
    assert [s["stall"] for s in first["items"]] == ["A03"] and first["next_offset"] == 1
    second = await api.call("GET", f"{M}/stalls?limit=1&offset=1", 200)
    assert [s["stall"] for s in second["items"]] == ["A04"] and second["next_offset"] is None
    vendors = await api.call("GET", f"{M}/vendors", 200)
    assert vendors["items"][0]["contact_phone"] == "13800000000", "operators see the contact"
    assert len(vendors["items"][0]["documents"]) == 3


async def test_publishing_pushes_to_the_scales_and_the_ack_is_visible(api: Api) -> None:
    await seeded(api)
    (command,) = [c for c in api.downlink.commands_to("scale-01") if c.args["prices"][0]["unit_price_fen"] == 680]
    ack_topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, "scale-01", Channel.ACK))
    await api.service.handle([(ack_topic, CommandAck(cmd_id=command.cmd_id, ok=True))])
    scales = await api.call("GET", f"{M}/scales", 200)
    assert scales["items"][0]["last_price_push"]["status"] == "acked"
    acked = await api.call("GET", f"{M}/deliveries?status=acked", 200)
    assert [d["cmd_id"] for d in acked["items"]] == [command.cmd_id]
    history = await api.call("GET", f"{M}/stalls/A03/prices?plu=1001", 200)
    assert history["items"][0]["unit_price_fen"] == 680 and history["items"][0]["published_by"] == "op-zhang"


async def test_the_public_board_and_history(api: Api) -> None:
    await seeded(api)
    board = await api.call("GET", f"{M}/prices/board", 200, headers=None)
    tomatoes = next(line for line in board["lines"] if line["plu"] == "1001")
    assert (tomatoes["stalls"], tomatoes["min_fen"], tomatoes["avg_fen"], tomatoes["max_fen"]) == (2, 680, 690, 700)
    await api.sell("scale-01", record(1))
    await api.sell("scale-01", record(2, fen=700))
    history = await api.call("GET", f"{M}/prices/history?plu=1001&days=2", 200, headers=None)
    assert [(d["day"], d["sales"], d["min_fen"], d["avg_fen"], d["max_fen"]) for d in history["days"]] == [
        ("2026-11-23", 2, 680, 690, 700)]


async def test_findings_are_listed_and_resolved(api: Api) -> None:
    await seeded(api)
    await api.sell("scale-01", record(1, fen=720))
    found = await api.call("GET", f"{M}/findings?kind=price_differs", 200)
    (finding,) = found["items"]
    assert finding["kind_zh"] == "售价与公示价格不符" and finding["detail"]["published_fen"] == 680
    resolved = await api.call("POST", f"{M}/findings/{finding['finding_id']}/resolve", 200,
                              json={"resolution": "已约谈经营者，重新标价"})
    assert resolved["resolved_by"] == "op-zhang"
    await api.call("POST", f"{M}/findings/{finding['finding_id']}/resolve", 409, json={"resolution": "again"})
    assert (await api.call("GET", f"{M}/findings?kind=price_differs", 200))["items"] == []
    assert len((await api.call("GET", f"{M}/findings?kind=price_differs&open=false", 200))["items"]) == 1


async def test_the_stall_display_is_public_and_keeps_private_data_out(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)
    await api.call("POST", f"{M}/batches/{BATCH['batch_id']}/tests", 201, json={
        "item": "organophosphate_carbamate", "value": "12", "unit": "%", "tester": "刘晓明",
        "tested_at": "2026-11-23T06:10:00+08:00"})
    display = await api.call("GET", f"{M}/stalls/A03/display", 200, headers=None)
    assert display["vendor_name"] == "王建国" and display["complaint_hotline"] == "12315"
    assert [(s["required"], s["validity"]) for s in display["licences"]] == [("business_licence", "valid")], \
        "a vegetables stall shows its licence: no filing, no health certificate (Food Safety Law Arts. 35, 45)"
    assert display["offerings_zh"] == ["食用农产品"] and display["health_certificates"] == []
    # the market asks more: every stall's staff certified
    await api.call("PUT", f"{M}/licence-policy", 200, json=EVERY_STALL)
    await api.call("PUT", f"{M}/stalls/A03/staff", 200, json={"staff": [{"name": "王建国"}]})
    display = await api.call("GET", f"{M}/stalls/A03/display", 200, headers=None)
    assert [(s["required"], s["validity"], s["basis"]) for s in display["licences"]] == [
        ("business_licence", "valid", "《中华人民共和国市场主体登记管理条例》第三条"),
        ("health_certificate", "expiring", "本市场规定")]
    assert (display["health_certificates"][0]["holder"], display["health_certificates"][0]["person"]) == (
        "王**", "王**"), "the public sees the family name only"
    assert [(p["plu"], p["unit_price_fen"]) for p in display["prices"]] == [("1001", 680), ("1002", 200)]
    assert display["batches"][0]["tests"][0]["result_zh"] == "合格"
    assert display["public_url"] == "https://market.example.cn/market/xinfadi/stalls/A03"
    text = str(display)
    for private in ("13800000000", "13900000000", "刘晓明", "JK-2026-0042"):
        assert private not in text
    problems = await api.call("GET", f"{M}/licences/problems", 200)
    assert [(p["stall"], p["document"]["required"], p["document"]["validity"], p["document"]["warning_days"])
            for p in problems["items"]] == [
        ("A04", "business_licence", "missing", None), ("A04", "health_certificate", "missing", None),
        ("A03", "health_certificate", "expiring", 7)]


async def test_the_stall_screen_is_a_self_refreshing_page_with_a_qr_code(api: Api) -> None:
    await seeded(api)
    screen = await api.call("GET", f"/market/{SITE}/stalls/A03/screen", 200, headers=None)
    assert '<meta http-equiv="refresh" content="30">' in screen and "<svg" in screen
    assert "王记蔬菜" in screen and "6.80" in screen and "投诉举报电话" in screen and "12315" in screen
    assert "13800000000" not in screen
    page = await api.call("GET", f"/market/{SITE}/stalls/A03", 200, headers=None)
    assert 'http-equiv="refresh"' not in page and "亮证经营" in page
    await api.call("GET", f"/market/{SITE}/stalls/Z99/screen", 404, headers=None)
    assert yuan(680) == "6.80" and yuan(5) == "0.05" and mask_name("李四") == "李*"


async def test_a_trace_code_shows_sale_batch_and_tests_but_nothing_private(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)
    await api.call("POST", f"{M}/batches/{BATCH['batch_id']}/tests", 201, json={
        "item": "organophosphate_carbamate", "value": "12", "unit": "%", "tester": "刘晓明",
        "tested_at": "2026-11-23T06:10:00+08:00"})
    await api.sell("scale-01", record(1, batch=BATCH_ID))
    found = await api.call("GET", f"{M}/trace/{SITE}-A03-0001", 200, headers=None)
    assert found["sale"]["net_g"] == 1250 and found["sale"]["stall_name"] == "王记蔬菜"
    assert found["batch"]["origin_name"] == "山东省寿光市" and found["batch"]["supplier"] == "寿光蔬菜合作社"
    assert found["batch"]["tests"][0]["item"] == "有机磷和氨基甲酸酯类农药" and found["batch"]["recalled"] is False
    text = str(found)
    for private in ("13800000000", "13900000000", "刘晓明", "wechat", "scale-01", "payment", "tester"):
        assert private not in text
    await api.call("GET", f"{M}/trace/unknown-code", 404, headers=None)


async def test_the_trace_lookup_is_rate_limited_per_client(api: Api) -> None:
    await seeded(api)
    for _ in range(3):
        await api.call("GET", f"{M}/trace/nothing", 404, headers=None)
    limited = await api.client.get(f"{M}/trace/nothing")
    assert limited.status == 429 and limited.headers["Retry-After"] == "10"
    assert (await limited.json())["retry_after_s"] == 10
    api.clock.now += timedelta(seconds=10)
    await api.call("GET", f"{M}/trace/nothing", 404, headers=None)


async def test_a_recall_over_http_blocks_the_batch_and_lists_its_sales(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)
    await api.call("POST", f"{M}/batches", 409, json=BATCH)
    await api.call("POST", f"{M}/batches", 422, json={**BATCH, "batch_id": "B-x", "origin_code": "370783",
                                                      "stall": "A03", "arrived_at": "2027-01-01T00:00:00+08:00"})
    for n in (1, 2):
        await api.sell("scale-01", record(n, batch=BATCH_ID))
    recall = await api.call("POST", f"{M}/batches/{BATCH['batch_id']}/recall", 201,
                            json={"reason": "供货商通报：同批次农药残留超标"})
    assert recall["block"]["cause"] == "operator" and recall["trace"]["sales_count"] == 2
    assert [s["trace_code"] for s in recall["trace"]["sales"]] == [f"{SITE}-A03-0001", f"{SITE}-A03-0002"]
    assert [d["op"] for d in recall["deliveries"]] == ["block_batch"]
    await api.call("POST", f"{M}/batches/{BATCH['batch_id']}/recall", 409, json={"reason": "again"})
    sales = await api.call("GET", f"{M}/batches/{BATCH['batch_id']}/sales?limit=1", 200)
    assert len(sales["sales"]) == 1 and sales["next_offset"] == 1 and sales["blocked"] is True
    detail = await api.call("GET", f"{M}/batches/{BATCH['batch_id']}", 200)
    assert (detail["received_g"], detail["sold_g"], detail["remaining_g"]) == (50_000, 2_500, 47_500)
    assert detail["batch"]["supplier_contact"] == "13900000000", "operators see the supplier's contact"
    trace = await api.call("GET", f"{M}/trace/{SITE}-A03-0001", 200, headers=None)
    assert trace["batch"]["recalled"] is True and "农药残留超标" in trace["batch"]["recall_reason"]


async def test_a_failed_test_over_http_recalls_by_itself(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)
    recorded = await api.call("POST", f"{M}/batches/{BATCH['batch_id']}/tests", 201, json={
        "item": "organophosphate_carbamate", "value": "65", "unit": "%", "seller_accepts": True, "tester": "刘晓明",
        "tested_at": "2026-11-23T06:10:00+08:00"})
    assert recorded["recall"]["block"]["cause"] == "failed_test"
    display = await api.call("GET", f"{M}/stalls/A03/display", 200, headers=None)
    assert display["batches"][0]["recalled"] is True


async def test_the_epcis_export_is_json_ld_for_operators(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)
    await api.sell("scale-01", record(1, batch=BATCH_ID))
    await api.call("GET", f"{M}/batches/{BATCH['batch_id']}/epcis", 401, headers=None)
    response = await api.client.get(f"{M}/batches/{BATCH['batch_id']}/epcis", headers=OPERATOR)
    assert response.status == 200 and response.content_type == "application/ld+json"
    document = await response.json(content_type=None)
    assert document["type"] == "EPCISDocument" and document["schemaVersion"] == "2.0"
    steps = [event["bizStep"] for event in document["epcisBody"]["eventList"]]
    assert steps == ["receiving", "retail_selling"]
    lot = document["epcisBody"]["eventList"][0]["quantityList"][0]["epcClass"]
    assert lot == "https://market.example.cn/market/xinfadi/lot/1001/B20261123-A03-01"
    await api.call("GET", f"{M}/batches/nope/epcis", 404)
    validate(document)  # the same structural schema as the unit tests'
    sales = [e for e in document["epcisBody"]["eventList"] if e["bizStep"] == "retail_selling"]
    assert [e["bizLocation"]["id"] for e in sales] == ["https://market.example.cn/market/xinfadi/stall/A03"]


async def test_an_intake_suspected_positive_and_its_laboratory_result_are_exported_as_inspections(api: Api) -> None:
    await seeded(api)
    received = await api.call("POST", f"{M}/batches", 201, json={**BATCH, "tests": [
        {"item": "organophosphate_carbamate", "value": "62.5", "unit": "%", "tester": "刘晓明",
         "tested_at": "2026-11-23T06:10:00+08:00"}]})
    assert received["block"]["cause"] == "suspected_test", "received, and held for the laboratory"
    (test,) = (await api.call("GET", f"{M}/batches/{BATCH_ID}", 200))["tests"]
    await api.call("POST", f"{M}/batches/{BATCH_ID}/tests/{test['test_id']}/laboratory", 200, json={
        "verdict": "fail", "laboratory": "市食品药品检验所", "report_number": "JC-2026-118",
        "reported_at": "2026-11-23T06:50:00+08:00"})
    response = await api.client.get(f"{M}/batches/{BATCH_ID}/epcis", headers=OPERATOR)
    document = await response.json(content_type=None)
    validate(document)
    screen, laboratory = [e for e in document["epcisBody"]["eventList"] if e["bizStep"] == "inspecting"]
    assert screen["disposition"] == "non_sellable_other" and screen["sc:rapidTest"]["outcome"] == "suspected_positive"
    (report,) = screen["sensorElementList"][0]["sensorReport"]
    assert (report["value"], report["uom"], report["sc:cutoff"], report["exception"]) == (62.5, "P1", 50,
                                                                                         "ALARM_CONDITION")
    assert laboratory["disposition"] == "non_conformant"
    assert laboratory["sc:laboratoryResult"]["rapidTestEventID"] == screen["eventID"]
    assert document["epcisBody"]["eventList"][-1]["disposition"] == "recalled"


async def test_a_sale_at_a_neighbours_counter_is_exported_at_that_stall(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)
    await api.sell("scale-01", record(1, batch=BATCH_ID))
    await api.sell("scale-09", record(2, batch=BATCH_ID, stall="A04", fen=700))
    response = await api.client.get(f"{M}/batches/{BATCH_ID}/epcis", headers=OPERATOR)
    document = await response.json(content_type=None)
    validate(document)
    located = {e["sc:traceCode"]: e["bizLocation"]["id"] for e in document["epcisBody"]["eventList"]
               if e["bizStep"] == "retail_selling"}
    assert located == {f"{SITE}-A03-0001": "https://market.example.cn/market/xinfadi/stall/A03",
                       f"{SITE}-A04-0002": "https://market.example.cn/market/xinfadi/stall/A04"}


async def test_a_credit_code_typed_in_lower_case_is_stored_in_capitals(api: Api) -> None:
    await seeded(api)
    created = await api.call("POST", f"{M}/vendors/v-wang/documents", 201, json={
        "kind": "business_licence", "number": "91350100m000100y43", "valid_from": "2021-01-01"})
    assert created["number"] == "91350100M000100Y43" and isinstance(created["document_id"], int)
    vendors = await api.call("GET", f"{M}/vendors", 200)
    assert "91350100M000100Y43" in [d["number"] for d in vendors["items"][0]["documents"]]
    wrong = await api.call("POST", f"{M}/vendors/v-wang/documents", 422, json={
        "kind": "business_licence", "number": "91350100m000100y44", "valid_from": "2021-01-01"})
    assert "check character" in wrong["error"]


async def test_a_rapid_test_dated_before_its_batch_arrived_is_422(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)  # arrived 05:30
    early = await api.call("POST", f"{M}/batches/{BATCH_ID}/tests", 422, json={
        "item": "organophosphate_carbamate", "value": "70", "unit": "%", "seller_accepts": True, "tester": "刘晓明",
        "tested_at": "2026-11-23T05:29:00+08:00"})
    assert "before it arrived" in early["error"]
    detail = await api.call("GET", f"{M}/batches/{BATCH_ID}", 200)
    assert detail["tests"] == [] and detail["batch"]["block"] is None, "nothing recorded, nothing recalled"


async def test_corrections_over_http_refuse_nonsense_and_are_audited(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/batches", 201, json=BATCH)
    release = f"{M}/batches/{BATCH_ID}/release"
    not_blocked = await api.call("POST", release, 409, json={"reason": "复检合格"})
    assert "not blocked" in not_blocked["error"]
    await api.call("POST", f"{M}/batches/{BATCH_ID}/tests", 201, json={
        "item": "organophosphate_carbamate", "value": "65", "unit": "%", "seller_accepts": True, "tester": "刘晓明",
        "tested_at": "2026-11-23T06:10:00+08:00"})
    standing = await api.call("POST", release, 422, json={"reason": "复检合格"})
    assert "有机磷和氨基甲酸酯类农药" in standing["error"] and "retest" in standing["error"]
    await api.call("POST", release, 400, json={"reason": ""})
    await api.call("POST", release, 400, json={"reason": "x", "force": True})
    await api.call("POST", f"{M}/batches/nope/release", 404, json={"reason": "x"})
    await api.call("POST", release, 401, headers=None, json={"reason": "x"})
    await api.call("POST", f"{M}/batches/{BATCH_ID}/tests", 201, json={
        "item": "organophosphate_carbamate", "value": "10", "unit": "%", "tester": "刘晓明",
        "tested_at": "2026-11-23T06:40:00+08:00"})
    released = await api.call("POST", release, 200, json={"reason": "复检合格"})
    assert released["batch"]["block"] is None and [d["op"] for d in released["deliveries"]] == ["unblock_batch"]
    assert released["correction"]["kind"] == "release_batch" and released["correction"]["corrected_by"] == "op-zhang"
    assert [c.op for c in api.downlink.commands_to("scale-01")][-1] == "unblock_batch"

    quantity = f"{M}/batches/{BATCH_ID}/quantity"
    await api.call("POST", quantity, 422, json={"quantity_g": 50_000, "reason": "same"})
    await api.call("POST", quantity, 400, json={"quantity_g": "5kg", "reason": "x"})
    await api.call("POST", quantity, 400, json={"quantity_g": 0, "reason": "x"})
    await api.call("POST", f"{M}/batches/nope/quantity", 404, json={"quantity_g": 1, "reason": "x"})
    corrected = await api.call("POST", quantity, 200, json={"quantity_g": 500_000, "reason": "多录了一个零"})
    assert corrected["received_g"] == 500_000 and corrected["batch"]["quantity_g"] == 500_000

    vendors = await api.call("GET", f"{M}/vendors", 200)
    document_id = vendors["items"][0]["documents"][0]["document_id"]
    void = f"{M}/vendors/v-wang/documents/{document_id}/void"
    await api.call("POST", f"{M}/vendors/v-wang/documents/abc/void", 404, json={"reason": "x"})
    await api.call("POST", f"{M}/vendors/v-nobody/documents/{document_id}/void", 404, json={"reason": "x"})
    await api.call("POST", void, 400, json={})
    voided = await api.call("POST", void, 200, json={"reason": "证号录入错误"})
    assert voided["voided_by"] == "op-zhang" and voided["void_reason"] == "证号录入错误"
    await api.call("POST", void, 409, json={"reason": "again"})
    display = await api.call("GET", f"{M}/stalls/A03/display", 200, headers=None)
    assert display["licences"][0]["validity"] == "missing", "the voided licence no longer counts"

    audit = await api.call("GET", f"{M}/corrections", 200)
    assert [c["kind"] for c in audit["items"]] == ["void_document", "correct_quantity", "release_batch"]
    assert audit["items"][1]["detail"] == {"before_g": 50_000, "after_g": 500_000, "sold_g": 0}
    only = await api.call("GET", f"{M}/corrections?kind=release_batch&subject={BATCH_ID}&limit=1", 200)
    assert [c["reason"] for c in only["items"]] == ["复检合格"] and only["next_offset"] is None
    await api.call("GET", f"{M}/corrections?kind=undo", 400)
    await api.call("GET", f"{M}/corrections", 403, headers=RESIDENT)


async def test_licence_problems_are_paginated(api: Api) -> None:
    await seeded(api)
    await api.call("PUT", f"{M}/licence-policy", 200, json=EVERY_STALL)
    await api.call("PUT", f"{M}/stalls/A03/staff", 200, json={"staff": [{"name": "王建国"}]})
    first = await api.call("GET", f"{M}/licences/problems?limit=2", 200)
    assert [(p["stall"], p["document"]["required"]) for p in first["items"]] == [
        ("A04", "business_licence"), ("A04", "health_certificate")]
    assert first["next_offset"] == 2
    rest = await api.call("GET", f"{M}/licences/problems?limit=2&offset=2", 200)
    assert [(p["stall"], p["document"]["required"], p["document"]["person"]) for p in rest["items"]] == [
        ("A03", "health_certificate", "王建国")] and rest["next_offset"] is None


async def test_the_stall_screens_qr_code_scales_and_rows_that_do_not_fit_are_counted(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/stalls/A03/prices", 201, json={"prices": [
        {"plu": f"2{n:03d}", "product": f"蔬菜{n}", "unit_price_fen": 100 + n} for n in range(20)]})
    screen = await api.call("GET", f"/market/{SITE}/stalls/A03/screen", 200, headers=None)
    svg = screen[screen.index("<svg"):screen.index(">", screen.index("<svg")) + 1]
    assert 'viewBox="0 0 ' in svg and "width=" not in svg and "height=" not in svg
    prices = screen[screen.index('id="prices"'):screen.index('id="tests"')]
    assert prices.count('class="price"') == 12 and "另有 10 项" in prices, "22 prices: 12 shown, 10 counted"
    page = await api.call("GET", f"/market/{SITE}/stalls/A03", 200, headers=None)
    assert page.count('class="price"') == 22 and "另有" not in page, "the public page shows every price"


@pytest.fixture
async def proxied(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    """The API behind a reverse proxy on this host (the test client connects from 127.0.0.1)."""
    await migrate(engine, "market")
    clock, downlink = Clock(), RecordingDownlink()
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    settings = MarketSettings(trace_rate=RateLimit(capacity=1, refill_per_minute=1), trusted_proxies=("127.0.0.1",))
    service = MarketService(engine, downlink, store, clock, settings)
    app = await check_tokens_with_accounts(create_app(service, AUTHORITY, clock), engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, service, downlink, store, clock)
    await store.close()


async def test_behind_a_trusted_proxy_each_shopper_has_a_bucket_of_their_own(proxied: Api) -> None:
    await proxied.call("POST", "/api/markets", 201, json=MARKET)
    for shopper in ("198.51.100.1", "198.51.100.2"):
        forwarded = {"X-Forwarded-For": f"6.6.6.6, {shopper}"}
        await proxied.call("GET", f"{M}/trace/nothing", 404, headers=forwarded)
        await proxied.call("GET", f"{M}/trace/nothing", 429, headers=forwarded)
    await proxied.call("GET", f"{M}/trace/nothing", 404, headers=None)  # the proxy's own lookups: its own bucket


async def test_without_trusted_proxies_a_forwarded_address_is_ignored(api: Api) -> None:
    await seeded(api)
    for n in range(3):
        await api.call("GET", f"{M}/trace/nothing", 404, headers={"X-Forwarded-For": f"198.51.100.{n}"})
    await api.call("GET", f"{M}/trace/nothing", 429, headers={"X-Forwarded-For": "198.51.100.99"})


PORK = {**BATCH, "batch_id": "B-pork", "stall": "B01", "plu": "2001", "product": "猪肉", "category": "pork",
        "certificate_type": None, "certificate_number": None, "origin_code": "371300", "origin_name": None,
        "certificates": [{"kind": "quarantine", "number": "3200123456"}, {"kind": "meat_quality", "number": "RP-7"}]}


async def test_a_batch_comes_with_the_certificates_its_product_needs_from_a_division_of_the_list(api: Api) -> None:
    await seeded(api)
    await api.call("POST", f"{M}/stalls", 201, json={"stall": "B01", "name": "王记肉铺", "stall_type": "meat",
                                                     "vendor_id": "v-wang"})
    pork = await api.call("POST", f"{M}/batches", 201, json={k: v for k, v in PORK.items() if v is not None})
    assert [(c["kind"], c["kind_zh"]) for c in pork["certificates"]] == [
        ("quarantine", "动物检疫合格证明"), ("meat_quality", "肉品品质检验合格证")]
    # the origin's name, when none is sent, is the division's in the GB/T 2260 list
    assert (pork["category"], pork["origin_name"], pork["origin_division"]) == ("pork", "山东省临沂市", "山东省临沂市")
    assert pork["certificate_type"] == "quarantine", "the first certificate, as before"
    vegetables = await api.call("POST", f"{M}/batches", 201, json={**BATCH, "origin_code": "330106"})
    assert (vegetables["category"], vegetables["origin_division"]) == ("vegetables", "浙江省杭州市西湖区")

    refusals = [  # (what changes, the fields named)
        ({"origin_code": "999999"}, ["origin_code"]),
        ({"origin_code": "371200"}, ["origin_code"]),  # 莱芜市, merged into Jinan: retired from the list
        ({"certificates": [{"kind": "quarantine", "number": "3200123456"}]}, ["certificates"]),
        ({"category": None}, ["category"]),
        ({"stall": "A03", "category": "vegetables"}, ["certificates.0.kind", "certificates.1.kind", "certificates"]),
    ]
    for change, fields in refusals:
        body = {k: v for k, v in {**PORK, "batch_id": "B-refused", **change}.items() if v is not None}
        refused = await api.call("POST", f"{M}/batches", 422, json=body)
        assert [d["field"] for d in refused["details"]] == fields, (change, refused)
    assert "no administrative division" in (await api.call("POST", f"{M}/batches", 422, json={
        **BATCH, "batch_id": "B-refused", "origin_code": "999999"}))["details"][0]["problem"]
    await api.call("GET", f"{M}/batches/B-refused", 404)  # nothing half-written
    both = await api.call("POST", f"{M}/batches", 400, json={**BATCH, "batch_id": "B-x", "certificates": [
        {"kind": "commitment", "number": "C-1"}]})
    assert "not both" in str(both["details"])
    await api.call("POST", f"{M}/batches", 400, json={k: v for k, v in BATCH.items()
                                                      if k not in ("certificate_type", "certificate_number")})
    await api.call("POST", f"{M}/batches", 400, json={**BATCH, "batch_id": "B-x", "origin_code": "37078３"})
    await api.call("POST", f"{M}/batches", 400, json={**BATCH, "batch_id": "B-x", "certificate_type": "bribe"})


async def test_credit_codes_are_checked_for_their_organisation_code_authority_and_type(api: Api) -> None:
    await seeded(api)
    for number, problem in (("91440300708461137X", "organisation code"), ("B1440300708461136T", "authority"),
                            ("94440300708461136T", "entity type")):
        first_17 = number[:17]
        answer = await api.call("POST", f"{M}/vendors/v-wang/documents", 422, json={
            "kind": "business_licence", "number": first_17 + credit_code_check_character(first_17),
            "valid_from": "2020-01-01"})
        assert problem in answer["error"], answer


async def test_stalls_say_what_they_sell_and_their_rosters_and_farmers_are_kept(api: Api) -> None:
    await seeded(api)
    cooked = await api.call("POST", f"{M}/stalls", 201, json={
        "stall": "F01", "name": "王记熟食", "stall_type": "cooked_food", "vendor_id": "v-wang",
        "offerings": ["ready_to_eat", "prepackaged_food", "ready_to_eat"]})
    assert cooked["offerings"] == ["prepackaged_food", "ready_to_eat"]
    assert [(s["required"], s["validity"]) for s in cooked["licences"]] == [
        ("business_licence", "valid"), ("food_business_permit", "missing"), ("health_certificate", "missing")]
    staffed = await api.call("PUT", f"{M}/stalls/F01/staff", 200, json={"staff": [
        {"name": "王建国"}, {"name": "赵强"}, {"name": "收银员", "handles_ready_to_eat": False}]})
    assert [(s["name"], s["handles_ready_to_eat"]) for s in staffed["staff"]] == [
        ("收银员", False), ("王建国", True), ("赵强", True)]
    assert [(s["person"], s["validity"]) for s in staffed["health_certificates"]] == [
        ("王建国", "expiring"), ("赵强", "missing")]
    await api.call("PUT", f"{M}/stalls/F01/staff", 422, json={"staff": [{"name": "赵强"}, {"name": "赵强"}]})
    await api.call("PUT", f"{M}/stalls/F01/staff", 400, json={"staff": [{"name": "x" * 65}]})
    await api.call("PUT", f"{M}/stalls/Z99/staff", 404, json={"staff": []})
    await api.call("POST", f"{M}/stalls", 400, json={"stall": "F02", "name": "x", "stall_type": "cooked_food",
                                                     "offerings": []})
    await api.call("POST", f"{M}/stalls", 400, json={"stall": "F02", "name": "x", "stall_type": "cooked_food",
                                                     "offerings": ["wine"]})

    farmer = await api.call("PUT", f"{M}/vendors/v-wang/farmer", 200, json={"self_producing": True})
    assert farmer["self_producing"] and farmer["documents"]
    await api.call("PUT", f"{M}/vendors/v-nobody/farmer", 404, json={"self_producing": True})
    a03 = next(s for s in (await api.call("GET", f"{M}/stalls", 200))["items"] if s["stall"] == "A03")
    assert a03["vendor_self_producing"] and [(s["required"], s["validity"]) for s in a03["licences"]] == [
        ("farmer_identity", "valid")], "the licence the farmer holds anyway meets the identity requirement"
    await api.call("POST", f"{M}/vendors/v-wang/documents", 201, json={
        "kind": "resident_id", "number": "11010519491231002x", "valid_from": "2015-01-01", "holder": "王建国"})
    await api.call("POST", f"{M}/vendors/v-wang/documents", 422, json={
        "kind": "resident_id", "number": "110105194912310021", "valid_from": "2015-01-01", "holder": "王建国"})

    market = await api.call("GET", M, 200)
    assert market["licence_policy"] == {"health_certificate_every_stall": False, "licence_for_farmers": False}
    changed = await api.call("PUT", f"{M}/licence-policy", 200, json={**EVERY_STALL, "licence_for_farmers": True})
    assert changed["licence_policy"] == {"health_certificate_every_stall": True, "licence_for_farmers": True}
    await api.call("PUT", f"{M}/licence-policy", 422, json={**EVERY_STALL, "licence_for_farmers": True})
    await api.call("PUT", f"{M}/licence-policy", 400, json={"health_certificate_every_stall": "yes",
                                                            "licence_for_farmers": False, "reason": "x"})
    await api.call("PUT", f"{M}/licence-policy", 400, json={"health_certificate_every_stall": True,
                                                            "licence_for_farmers": False})
    audit = await api.call("GET", f"{M}/corrections?kind=licence_policy", 200)
    assert [(c["subject"], c["reason"]) for c in audit["items"]] == [(SITE, "全员持证上岗")]
