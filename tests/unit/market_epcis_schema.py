"""A JSON Schema of the GS1 EPCIS 2.0 document and ObjectEvent structure (EPCIS 2.0 §9 JSON/JSON-LD
binding, CBV 2.0 vocabularies for bizStep, disposition and source/destination types), for the tests
that validate the market's EPCIS export: the domain's document and the one served over HTTP alike."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]

from market.epcis import EPCIS_CONTEXT

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


def validate(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(EPCIS_DOCUMENT_SCHEMA,
                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(document)
