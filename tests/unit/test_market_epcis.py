"""The EPCIS 2.0 export of a batch, validated against a JSON Schema of the standard's document and
ObjectEvent structure (GS1 EPCIS 2.0 §9 JSON/JSON-LD binding, CBV 2.0 vocabularies for bizStep,
disposition and source/destination types)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from market.epcis import READING_UOM, MarketIdentifiers, batch_document
from market.rapid_tests import UNITS, LaboratoryResult, LaboratoryVerdict, TestOutcome, TypedTest, judged_test
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


def _judged(value: str, accepts: bool = False, minutes: int = 40) -> RapidTest:
    typed = TypedTest(BATCH.batch_id, "organophosphate_carbamate", None, value, "%", "刘*",
                      ARRIVED + timedelta(minutes=minutes), accepts)
    test = judged_test(ProductCategory.VEGETABLES, typed)
    assert isinstance(test, RapidTest)
    return test


def _lab(verdict: LaboratoryVerdict) -> LaboratoryResult:
    return LaboratoryResult(verdict, "市食品检验所", "JC-2026/118", ARRIVED + timedelta(hours=6), "op-1")


def _inspections(*tests: RapidTest) -> list[dict[str, Any]]:
    document = batch_document(BATCH, tests, [], IDS, ARRIVED + timedelta(days=1))
    validate(document)
    return [e for e in document["epcisBody"]["eventList"] if e["bizStep"] == "inspecting"]


def test_a_rapid_test_carries_its_reading_as_sensor_data_with_item_method_unit_cutoff_and_outcome() -> None:
    (negative,) = _inspections(_judged("12.5"))
    assert negative["disposition"] == "conformant"
    (element,) = negative["sensorElementList"]
    (report,) = element["sensorReport"]
    assert report == {"type": "Dimensionless", "value": 12.5, "uom": "P1", "sc:cutoff": 50,
                      "chemicalSubstance": "https://market.example.cn/epcis/demo/rapid-test/item/"
                                           "organophosphate_carbamate",
                      "dataProcessingMethod": "https://market.example.cn/epcis/demo/rapid-test/method/"
                                              "enzyme_inhibition",
                      "time": "2026-11-22T22:10:00.000Z"}
    assert negative["sc:rapidTest"] == {
        "item": "有机磷和氨基甲酸酯类农药", "method": "酶抑制率法", "result": "pass", "value": "12.5 %",
        "outcome": "negative", "itemCode": "organophosphate_carbamate", "methodCode": "enzyme_inhibition",
        "measured": "12.5", "unit": "%", "cutoff": "50"}


def test_a_suspected_positive_is_held_not_judged_and_raises_the_sensor_alarm() -> None:
    (suspected,) = _inspections(_judged("62"))
    assert suspected["disposition"] == "non_sellable_other"
    assert suspected["sc:rapidTest"]["outcome"] == "suspected_positive"
    assert suspected["sensorElementList"][0]["sensorReport"][0]["exception"] == "ALARM_CONDITION"
    (positive,) = _inspections(_judged("62", accepts=True))
    assert positive["disposition"] == "non_conformant" and positive["sc:rapidTest"]["outcome"] == "positive"


@pytest.mark.parametrize(("verdict", "disposition"), [(LaboratoryVerdict.FAIL, "non_conformant"),
                                                      (LaboratoryVerdict.PASS, "conformant")])
def test_the_laboratory_result_is_an_inspection_of_its_own_naming_the_screen_and_the_report(
        verdict: LaboratoryVerdict, disposition: str) -> None:
    screen, laboratory = _inspections(replace(_judged("70"), laboratory=_lab(verdict)))
    assert screen["disposition"] == "non_sellable_other", "the screen says what it found then"
    assert laboratory["disposition"] == disposition and laboratory["eventTime"] == "2026-11-23T03:30:00.000Z"
    assert laboratory["readPoint"]["id"] == "https://market.example.cn/epcis/demo/laboratory/" \
                                            "%E5%B8%82%E9%A3%9F%E5%93%81%E6%A3%80%E9%AA%8C%E6%89%80"
    assert laboratory["certificationInfo"].endswith("/report/JC-2026%2F118")
    assert laboratory["sc:laboratoryResult"] == {
        "verdict": verdict.value, "laboratory": "市食品检验所", "reportNumber": "JC-2026/118",
        "rapidTestEventID": screen["eventID"], "item": "有机磷和氨基甲酸酯类农药", "outcome": "suspected_positive"}
    assert "sensorElementList" not in laboratory


@pytest.mark.parametrize("broken", [
    lambda report: report.update(type="InhibitionRate"),
    lambda report: report.update(value="12.5"),
    lambda report: report.update(uom="%"),
    lambda report: report.update(exception="ALARM"),
    lambda report: report.update(cutoff=50),
])
def test_the_schema_catches_broken_sensor_reports(broken) -> None:  # type: ignore[no-untyped-def]
    document = batch_document(BATCH, [_judged("62")], [], IDS, ARRIVED)
    broken(document["epcisBody"]["eventList"][1]["sensorElementList"][0]["sensorReport"][0])
    with pytest.raises(jsonschema.ValidationError):
        validate(document)


def test_every_reading_unit_has_its_rec_20_code_and_none_is_a_deleted_one() -> None:
    """Checked against UN/ECE Recommendation 20 Rev. 17 (2021), Annex I and Annexes II & III: P1 percent, J33
    microgram per kilogram, NA milligram per kilogram; GK (gram per kilogram) is marked deleted (X) there, so gram
    per kilogram goes as H64, milligram per gram — the same ratio, 10⁻³."""
    assert set(READING_UOM) == set(UNITS)
    assert READING_UOM == {"%": "P1", "μg/kg": "J33", "mg/kg": "NA", "g/kg": "H64"}
    assert "GK" not in READING_UOM.values()
