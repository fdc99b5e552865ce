"""The EPCIS 2.0 export of a batch, validated against a JSON Schema of the standard's document and
ObjectEvent structure (GS1 EPCIS 2.0 §9 JSON/JSON-LD binding, CBV 2.0 vocabularies for bizStep,
disposition and source/destination types)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from market.epcis import EPCIS_CONTEXT, MarketIdentifiers, batch_document
from market.tracing import Batch, BlockCause, CertificateType, RapidTest, RapidTestResult, Sale, block_batch

URI = {"type": "string", "format": "uri", "pattern": r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$"}
TIME = {"type": "string", "format": "date-time"}
# CBV 2.0 standard vocabularies (bare words in JSON-LD), or any URI for a user vocabulary
CBV_BIZ_STEPS = ["accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
                 "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
                 "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
                 "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
                 "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
                 "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
                 "transporting", "unloading", "unpacking", "void_shipping"]
CBV_DISPOSITIONS = ["active", "available", "completeness_inferred", "completeness_verified", "conformant",
                    "container_closed", "container_open", "damaged", "destroyed", "dispensed", "disposed",
                    "encoded", "expired", "in_progress", "in_transit", "inactive", "mismatch_instance",
                    "mismatch_class", "mismatch_quantity", "needs_replacement", "no_pedigree_match",
                    "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
                    "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
                    "unavailable", "unknown"]
SOURCE_DEST_TYPES = ["owning_party", "possessing_party", "location"]
STANDARD_EVENT_KEYS = ["type", "eventTime", "eventTimeZoneOffset", "eventID", "recordTime", "errorDeclaration",
                       "certificationInfo", "epcList", "quantityList", "action", "bizStep", "disposition",
                       "persistentDisposition", "readPoint", "bizLocation", "bizTransactionList", "sourceList",
                       "destinationList", "sensorElementList", "ilmd"]

EPCIS_DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
    "properties": {
        "@context": {"type": "array", "minItems": 1, "prefixItems": [{"const": EPCIS_CONTEXT}],
                     "items": {"anyOf": [URI, {"type": "object", "additionalProperties": URI}]}},
        "type": {"const": "EPCISDocument"},
        "schemaVersion": {"const": "2.0"},
        "creationDate": TIME,
        "epcisBody": {"type": "object", "required": ["eventList"], "additionalProperties": False,
                      "properties": {"eventList": {"type": "array", "items": {"$ref": "#/$defs/ObjectEvent"}}}},
    },
    "$defs": {
        "quantityElement": {"type": "object", "required": ["epcClass", "quantity"], "additionalProperties": False,
                            "properties": {"epcClass": URI, "quantity": {"type": "number", "minimum": 0},
                                           "uom": {"type": "string", "pattern": "^[A-Z0-9]{2,3}$"}}},
        "source": {"type": "object", "required": ["type", "source"], "additionalProperties": False,
                   "properties": {"type": {"enum": SOURCE_DEST_TYPES}, "source": URI}},
        "destination": {"type": "object", "required": ["type", "destination"], "additionalProperties": False,
                        "properties": {"type": {"enum": SOURCE_DEST_TYPES}, "destination": URI}},
        "ObjectEvent": {
            "type": "object",
            "required": ["type", "eventTime", "eventTimeZoneOffset", "action"],
            "anyOf": [{"required": ["epcList"]}, {"required": ["quantityList"]}],
            "properties": {
                "type": {"const": "ObjectEvent"},
                "eventTime": TIME,
                "eventTimeZoneOffset": {"type": "string", "pattern": r"^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$"},
                "eventID": URI,
                "certificationInfo": {"anyOf": [URI, {"type": "array", "items": URI}]},
                "action": {"enum": ["ADD", "OBSERVE", "DELETE"]},
                "bizStep": {"anyOf": [{"enum": CBV_BIZ_STEPS}, URI]},
                "disposition": {"anyOf": [{"enum": CBV_DISPOSITIONS}, URI]},
                "epcList": {"type": "array", "items": URI, "uniqueItems": True},
                "quantityList": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/quantityElement"}},
                "readPoint": {"type": "object", "required": ["id"], "properties": {"id": URI}},
                "bizLocation": {"type": "object", "required": ["id"], "properties": {"id": URI}},
                "sourceList": {"type": "array", "items": {"$ref": "#/$defs/source"}},
                "destinationList": {"type": "array", "items": {"$ref": "#/$defs/destination"}},
            },
            # anything else is a user extension, named by a compact IRI of a prefix in @context
            "propertyNames": {"anyOf": [{"enum": STANDARD_EVENT_KEYS}, {"pattern": "^sc:[A-Za-z][A-Za-z0-9]*$"}]},
        },
    },
}

ARRIVED = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)
IDS = MarketIdentifiers("https://market.example.cn/epcis/demo")
BATCH = Batch("B20261123-A03-01", "A03", "1001", "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市", 50_000,
              CertificateType.ORIGIN, "CD 2026/0042", ARRIVED, supplier_contact="13800000000")
TESTS = [RapidTest(BATCH.batch_id, "农药残留", "酶抑制法", RapidTestResult.PASS, "抑制率 12%", "刘*",
                   ARRIVED + timedelta(minutes=40))]
SALES = [Sale("scale-01", f"r-{n}", ARRIVED + timedelta(hours=2, minutes=n), "A03", "1001", "西红柿", 1250, 680, 850,
              f"demo-A03-{n:04d}", BATCH.batch_id, BATCH.batch_id) for n in range(3)]


def validate(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(EPCIS_DOCUMENT_SCHEMA,
                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(document)


def test_a_batch_history_is_a_valid_epcis_document() -> None:
    document = batch_document(BATCH, TESTS, SALES, IDS, ARRIVED + timedelta(days=1))
    validate(document)
    steps = [(e["bizStep"], e["disposition"]) for e in document["epcisBody"]["eventList"]]
    assert steps == [("receiving", "sellable_accessible"), ("inspecting", "conformant")] + [
        ("retail_selling", "retail_sold")] * 3


def test_the_receiving_event_says_what_came_from_whom_with_which_certificate() -> None:
    receiving = batch_document(BATCH, [], [], IDS, ARRIVED)["epcisBody"]["eventList"][0]
    assert receiving["quantityList"] == [{"epcClass": "https://market.example.cn/epcis/demo/lot/1001/B20261123-A03-01",
                                          "quantity": 50_000, "uom": "GRM"}]
    assert receiving["eventTime"] == "2026-11-22T21:30:00.000Z" and receiving["eventTimeZoneOffset"] == "+08:00"
    assert receiving["sourceList"][0]["type"] == "owning_party"
    assert receiving["certificationInfo"].endswith("/certificate/origin/CD%202026%2F0042")
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
    failed = [RapidTest(BATCH.batch_id, "农药残留", "酶抑制法", RapidTestResult.FAIL, "抑制率 65%", "刘*",
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
