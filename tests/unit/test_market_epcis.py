"""The EPCIS 2.0 export of a batch, validated against a JSON Schema of the standard's document and
ObjectEvent structure (GS1 EPCIS 2.0 §9 JSON/JSON-LD binding, CBV 2.0 vocabularies for bizStep,
disposition and source/destination types)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema  # type: ignore[import-untyped]
import pytest

from market.epcis import MarketIdentifiers, batch_document
from market.rapid_tests import TestOutcome
from market.tracing import (
    Batch,
    BlockCause,
    Certificate,
    CertificateType,
    ProductCategory,
    RapidTest,
    Sale,
    block_batch,
)
from tests.unit.market_epcis_schema import validate

ARRIVED = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)
IDS = MarketIdentifiers("https://market.example.cn/epcis/demo")
BATCH = Batch("B20261123-A03-01", "A03", "1001", "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市", 50_000,
              (Certificate(CertificateType.COMMITMENT, "CD 2026/0042"), Certificate(CertificateType.ORIGIN, "寿-7")),
              ARRIVED, supplier_contact="13800000000", category=ProductCategory.VEGETABLES)
TESTS = [RapidTest(BATCH.batch_id, "农药残留", "酶抑制法", TestOutcome.NEGATIVE, "抑制率 12%", "刘*",
                   ARRIVED + timedelta(minutes=40))]
SALES = [Sale("scale-01", f"r-{n}", ARRIVED + timedelta(hours=2, minutes=n), "A03", "1001", "西红柿", 1250, 680, 850,
              f"demo-A03-{n:04d}", BATCH.batch_id, BATCH.batch_id) for n in range(3)]


def test_a_batch_history_is_a_valid_epcis_document() -> None:
    document = batch_document(BATCH, TESTS, SALES, IDS, ARRIVED + timedelta(days=1))
    validate(document)
    steps = [(e["bizStep"], e["disposition"]) for e in document["epcisBody"]["eventList"]]
    assert steps == [("receiving", "sellable_accessible"), ("inspecting", "conformant")] + [
        ("retail_selling", "retail_sold")] * 3


def test_the_receiving_event_says_what_came_from_whom_with_which_certificates() -> None:
    receiving = batch_document(BATCH, [], [], IDS, ARRIVED)["epcisBody"]["eventList"][0]
    assert receiving["quantityList"] == [{"epcClass": "https://market.example.cn/epcis/demo/lot/1001/B20261123-A03-01",
                                          "quantity": 50_000, "uom": "GRM"}]
    assert receiving["eventTime"] == "2026-11-22T21:30:00.000Z" and receiving["eventTimeZoneOffset"] == "+08:00"
    assert receiving["sourceList"][0]["type"] == "owning_party"
    assert receiving["certificationInfo"] == [
        "https://market.example.cn/epcis/demo/certificate/commitment/CD%202026%2F0042",
        "https://market.example.cn/epcis/demo/certificate/origin/%E5%AF%BF-7"]
    assert receiving["sc:certificates"] == [{"type": "commitment", "number": "CD 2026/0042"},
                                            {"type": "origin", "number": "寿-7"}]
    assert receiving["sc:product"] == {"plu": "1001", "name": "西红柿", "category": "vegetables"}
    assert receiving["sc:origin"] == {"regionCode": "370783", "name": "山东省寿光市"}
    assert "13800000000" not in str(receiving), "the supplier's contact stays private"


def test_sales_are_retail_selling_events_at_the_scale_with_their_trace_code() -> None:
    events = batch_document(BATCH, [], SALES, IDS, ARRIVED)["epcisBody"]["eventList"]
    sold = [e for e in events if e["bizStep"] == "retail_selling"]
    assert [e["sc:traceCode"] for e in sold] == ["demo-A03-0000", "demo-A03-0001", "demo-A03-0002"]
    assert all(e["readPoint"]["id"].endswith("/scale/scale-01") and e["quantityList"][0]["quantity"] == 1250
               for e in sold)


def test_a_recalled_batch_ends_with_a_recalled_event_for_what_was_left() -> None:
    recalled = block_batch(BATCH, ARRIVED + timedelta(hours=3), "快检不合格：农药残留", "op-1", BlockCause.FAILED_TEST)
    failed = [RapidTest(BATCH.batch_id, "农药残留", "酶抑制法", TestOutcome.POSITIVE, "抑制率 65%", "刘*",
                        ARRIVED + timedelta(hours=3))]
    document = batch_document(recalled, failed, SALES, IDS, ARRIVED + timedelta(days=1))
    validate(document)
    events = document["epcisBody"]["eventList"]
    assert events[-1]["disposition"] == "recalled" and events[-1]["bizStep"] == "holding"
    assert events[-1]["quantityList"][0]["quantity"] == 50_000 - 3 * 1250
    assert any(e["disposition"] == "non_conformant" for e in events)


def test_exporting_twice_gives_the_same_event_ids() -> None:
    first = batch_document(BATCH, TESTS, SALES, IDS, ARRIVED)
    again = batch_document(BATCH, TESTS, SALES, IDS, ARRIVED + timedelta(days=2))
    ids = [e["eventID"] for e in first["epcisBody"]["eventList"]]
    assert ids == [e["eventID"] for e in again["epcisBody"]["eventList"]] and len(set(ids)) == len(ids)
    assert all(i.startswith("urn:uuid:") for i in ids)


@pytest.mark.parametrize("broken", [
    lambda d: d.pop("@context"),
    lambda d: d["epcisBody"]["eventList"][0].pop("eventTimeZoneOffset"),
    lambda d: d["epcisBody"]["eventList"][0].update(action="SELL"),
    lambda d: d["epcisBody"]["eventList"][0].update(quantityList=[{"epcClass": "not a uri", "quantity": 1}]),
    lambda d: d["epcisBody"]["eventList"][0].update(unprefixed="x"),
    lambda d: d["epcisBody"]["eventList"][0]["sourceList"].append({"type": "owner", "source": "urn:x:y"}),
])
def test_the_schema_catches_broken_documents(broken) -> None:  # type: ignore[no-untyped-def]
    document = batch_document(BATCH, TESTS, SALES, IDS, ARRIVED)
    broken(document)
    with pytest.raises(jsonschema.ValidationError):
        validate(document)


def test_a_sale_is_located_at_the_stall_it_was_made_at_not_the_batchs() -> None:
    neighbour = Sale("scale-07", "r-9", ARRIVED + timedelta(hours=3), "A04", "1001", "西红柿", 500, 700, 350,
                     "demo-A04-0009", BATCH.batch_id, BATCH.batch_id)
    document = batch_document(BATCH, [], [*SALES, neighbour], IDS, ARRIVED)
    validate(document)
    located = {e["sc:traceCode"]: e["bizLocation"]["id"] for e in document["epcisBody"]["eventList"]
               if e["bizStep"] == "retail_selling"}
    assert located["demo-A04-0009"] == "https://market.example.cn/epcis/demo/stall/A04"
    assert located["demo-A03-0000"] == "https://market.example.cn/epcis/demo/stall/A03"
    receiving = document["epcisBody"]["eventList"][0]
    assert receiving["bizLocation"]["id"].endswith("/stall/A03"), "the batch was received at its own stall"


def test_two_tests_of_the_same_item_at_the_same_moment_are_two_events_with_stable_ids() -> None:
    first = TESTS[0]
    twice = [first, RapidTest(BATCH.batch_id, first.item, "酶抑制法（复检）", TestOutcome.NEGATIVE, "抑制率 10%", "王*",
                              first.tested_at)]
    events = [e for e in batch_document(BATCH, twice, [], IDS, ARRIVED)["epcisBody"]["eventList"]
              if e["bizStep"] == "inspecting"]
    ids = [e["eventID"] for e in events]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert ids == [e["eventID"] for e in batch_document(BATCH, twice, [], IDS, ARRIVED)["epcisBody"]["eventList"]
                   if e["bizStep"] == "inspecting"], "exported again: the same ids"
    single = batch_document(BATCH, [first], [], IDS, ARRIVED)["epcisBody"]["eventList"][1]["eventID"]
    assert single in ids, "a test alone keeps the id it always had"
