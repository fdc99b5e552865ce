"""A JSON Schema of the GS1 EPCIS 2.0 document and ObjectEvent structure (EPCIS 2.0 §9 JSON/JSON-LD
binding, CBV 2.0 vocabularies for bizStep, disposition, source/destination types and measurement types; sensor
data as GS1's EPCIS-JSON-Schema.json defines sensorElement, sensorMetadata and sensorReport), for the tests
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
# CBV 2.0 measurement types (sensorReport ``type``), or any URI outside GS1's web vocabulary
CBV_MEASUREMENT_TYPES = ["AbsoluteHumidity", "AbsorbedDose", "AbsorbedDoseRate", "Acceleration", "Radioactivity",
                         "Altitude", "AmountOfSubstance", "AmountOfSubstancePerUnitVolume", "Angle",
                         "AngularAcceleration", "AngularMomentum", "AngularVelocity", "Area", "Capacitance",
                         "Conductance", "Conductivity", "Count", "Density", "Dimensionless", "DoseEquivalent",
                         "DoseEquivalentRate", "DynamicViscosity", "ElectricCharge", "ElectricCurrent",
                         "ElectricCurrentDensity", "ElectricFieldStrength", "Energy", "Exposure", "Force",
                         "Frequency", "Illuminance", "Inductance", "Irradiance", "KinematicViscosity", "Length",
                         "LinearMomentum", "Luminance", "LuminousFlux", "LuminousIntensity", "MagneticFlux",
                         "MagneticFluxDensity", "MagneticVectorPotential", "Mass", "MassConcentration",
                         "MassFlowRate", "MassPerAreaTime", "MemoryCapacity", "MolalityOfSolute", "MolarEnergy",
                         "MolarMass", "MolarVolume", "Power", "Pressure", "RadiantFlux", "RadiantIntensity",
                         "RelativeHumidity", "Resistance", "Resistivity", "SolidAngle", "SpecificVolume", "Speed",
                         "SurfaceDensity", "SurfaceTension", "Temperature", "Time", "Torque", "Voltage", "Volume",
                         "VolumeFlowRate", "VolumeFraction", "VolumetricFlux", "Wavenumber"]
NON_GS1_VOCABULARY_URI = {**URI, "not": {"pattern": r"^https?://(www\.)?gs1\.org/voc/"}}
SENSOR_METADATA_KEYS = ["time", "deviceID", "deviceMetadata", "rawData", "startTime", "endTime",
                        "dataProcessingMethod", "bizRules"]
SENSOR_REPORT_KEYS = ["type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
                      "bizRules", "time", "microorganism", "chemicalSubstance", "coordinateReferenceSystem", "value",
                      "component", "stringValue", "booleanValue", "hexBinaryValue", "uriValue", "minValue",
                      "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom"]
EXTENSION_KEY = {"pattern": "^sc:[A-Za-z][A-Za-z0-9]*$"}
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
        # EPCIS 2.0 §7.3.6 sensor data, as GS1's EPCIS-JSON-Schema.json defines sensorElement
        "sensorElement": {
            "type": "object", "required": ["sensorReport"],
            "properties": {"sensorMetadata": {"$ref": "#/$defs/sensorMetadata"},
                           "sensorReport": {"type": "array", "minItems": 1,
                                            "items": {"$ref": "#/$defs/sensorReport"}}},
            "propertyNames": {"anyOf": [{"enum": ["sensorMetadata", "sensorReport"]}, EXTENSION_KEY]},
        },
        "sensorMetadata": {
            "type": "object",
            "properties": {"time": TIME, "startTime": TIME, "endTime": TIME, "deviceID": URI,
                           "deviceMetadata": URI, "rawData": URI, "dataProcessingMethod": URI, "bizRules": URI},
            "propertyNames": {"anyOf": [{"enum": SENSOR_METADATA_KEYS}, EXTENSION_KEY]},
        },
        "sensorReport": {
            "type": "object", "required": ["type"],
            "properties": {
                "type": {"anyOf": [{"enum": CBV_MEASUREMENT_TYPES}, NON_GS1_VOCABULARY_URI]},
                "exception": {"anyOf": [{"enum": ["ALARM_CONDITION", "ERROR_CONDITION"]}, NON_GS1_VOCABULARY_URI]},
                "time": TIME, "deviceID": URI, "deviceMetadata": URI, "rawData": URI, "dataProcessingMethod": URI,
                "bizRules": URI, "microorganism": URI, "chemicalSubstance": URI, "coordinateReferenceSystem": URI,
                "uriValue": URI, "stringValue": {"type": "string"}, "booleanValue": {"type": "boolean"},
                "hexBinaryValue": {"type": "string", "pattern": "^[A-Fa-f0-9]+$"},
                **{name: {"type": "number"} for name in ("value", "minValue", "maxValue", "meanValue", "sDev",
                                                         "percRank", "percValue")},
                "uom": {"type": "string", "pattern": "^[A-Z0-9]{2,3}$"},
            },
            "propertyNames": {"anyOf": [{"enum": SENSOR_REPORT_KEYS}, EXTENSION_KEY]},
        },
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
                "sensorElementList": {"type": "array", "items": {"$ref": "#/$defs/sensorElement"}},
            },
            # anything else is a user extension, named by a compact IRI of a prefix in @context
            "propertyNames": {"anyOf": [{"enum": STANDARD_EVENT_KEYS}, EXTENSION_KEY]},
        },
    },
}


def validate(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(EPCIS_DOCUMENT_SCHEMA,
                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(document)
