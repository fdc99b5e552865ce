"""A batch's history as a GS1 EPCIS 2.0 JSON-LD document, to hand to any EPCIS repository.

Events (all ``ObjectEvent`` with ``action`` OBSERVE, class-level: the lot and its weight in grams,
``uom`` GRM, as loose produce has no serial numbers):

* receiving — ``bizStep`` receiving, ``disposition`` sellable_accessible: the lot arrives at the stall
  from the supplier (``sourceList``/``destinationList`` owning parties), with its certificates
  (``certificationInfo``, one URI each), origin, product and product category as extension fields;
* inspecting — one per rapid test: ``disposition`` conformant (negative), non_conformant (positive) or
  non_sellable_other (a suspected positive: held, not yet judged), the reading of a standard item in a
  ``sensorElementList`` (measurement type, value, ``uom``, the item as ``chemicalSubstance``, the method as
  ``dataProcessingMethod``, ALARM_CONDITION at or beyond the cutoff, the cutoff as ``sc:cutoff``), and the
  test (item, method, value, unit, cutoff, outcome) as an extension field;
* inspecting — the laboratory's result on a suspected positive: conformant (pass) or non_conformant (fail),
  at the laboratory, its report in ``certificationInfo``, the rapid test's event named in the extension;
* retail_selling — one per sale: ``disposition`` retail_sold, the scale as ``readPoint``, the stall the
  sale was made at as ``bizLocation`` (not necessarily the batch's), the receipt's trace code and price
  as extension fields;
* holding / recalled — when the batch was blocked, for what was left of it.

Identifiers are URIs under the market's base (``{base}/lot/{plu}/{batch}``, ``{base}/stall/{stall}``...);
extension fields use the ``sc:`` prefix declared in ``@context``. Event ids are name-based UUIDs, so
exporting the same history twice gives the same ids (an EPCIS repository can drop duplicates); two
tests of the same item at the same time get distinct ids (the repeat's ordinal is part of its name).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

from market.market_time import MARKET_TZ_OFFSET
from market.rapid_tests import LaboratoryVerdict, Reading, TestOutcome
from market.tracing import Batch, Certificate, RapidTest, Sale

EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EXTENSION_PREFIX: Final = "sc"
EXTENSION_NAMESPACE: Final = "urn:smartcity:ns:market:"
GRAMS: Final = "GRM"  # UN/ECE Recommendation 20 code of the gram
READING_UOM: Final = {"%": "P1", "μg/kg": "J33", "mg/kg": "NA", "g/kg": "H64"}
"""UN/ECE Recommendation 20 (Rev. 17, 2021) codes of the units a rapid test reads in: percent ``P1``, microgram per
kilogram ``J33``, milligram per kilogram ``NA``, and for gram per kilogram ``H64`` (milligram per gram: the same ratio,
10⁻³) — Rec. 20's own ``GK`` (gram per kilogram) is marked deleted (X) since, so a reader of the list would refuse
it."""
READING_TYPE: Final = "Dimensionless"
"""CBV 2.0 measurement type of every reading: an inhibition rate and a mass fraction (μg/kg) are ratios."""
SCREEN_DISPOSITION: Final = {TestOutcome.NEGATIVE: "conformant", TestOutcome.POSITIVE: "non_conformant",
                             TestOutcome.SUSPECTED_POSITIVE: "non_sellable_other"}
"""What a rapid screen says of the lot: a suspected positive is held, not judged (the laboratory judges it)."""


@dataclass(frozen=True)
class MarketIdentifiers:
    """URIs of the market's things under ``base`` (e.g. ``https://market.example.cn/epcis/demo``)."""

    base: str

    def _uri(self, *segments: str) -> str:
        return "/".join((self.base.rstrip("/"), *(quote(segment, safe="") for segment in segments)))

    def lot(self, batch: Batch) -> str:
        return self._uri("lot", batch.plu, batch.batch_id)

    def stall(self, stall: str) -> str:
        return self._uri("stall", stall)

    def stall_party(self, stall: str) -> str:
        return self._uri("party", "stall", stall)

    def supplier(self, name: str) -> str:
        return self._uri("party", "supplier", name)

    def scale(self, scale: str) -> str:
        return self._uri("scale", scale)

    def receiving_point(self) -> str:
        return self._uri("receiving")

    def test_point(self) -> str:
        return self._uri("rapid-test")

    def test_item(self, item: str) -> str:
        return self._uri("rapid-test", "item", item)

    def test_method(self, method: str) -> str:
        return self._uri("rapid-test", "method", method)

    def laboratory(self, name: str) -> str:
        return self._uri("laboratory", name)

    def laboratory_report(self, laboratory: str, report_number: str) -> str:
        return self._uri("laboratory", laboratory, "report", report_number)

    def certificate(self, certificate: Certificate) -> str:
        return self._uri("certificate", certificate.kind.value, certificate.number)

    def event_id(self, *parts: str) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, self._uri("event", *parts)).urn


def _time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ext(name: str) -> str:
    return f"{EXTENSION_PREFIX}:{name}"


def batch_document(batch: Batch, tests: Iterable[RapidTest], sales: Iterable[Sale], ids: MarketIdentifiers,
                   created_at: datetime) -> dict[str, Any]:
    """The EPCIS document of a batch: receiving, inspections, sales and (if blocked) the recall, by time."""
    # (time, step order): a recall comes after the failed test of the same moment that caused it
    ranked = [(batch.arrived_at, 0, _receiving(batch, ids))]
    seen: dict[tuple[str, datetime], int] = {}
    for test in tests:
        # the same item tested twice at the same moment (a retest typed with the same minute) is two
        # events: the repeat gets its ordinal, so ids stay stable across exports in the stored order
        repeat = seen[test.item, test.tested_at] = seen.get((test.item, test.tested_at), -1) + 1
        screen = _inspecting(batch, test, repeat, ids)
        ranked.append((test.tested_at, 1, screen))
        if test.laboratory is not None:
            ranked.append((test.laboratory.reported_at, 1, _laboratory(batch, test, screen["eventID"], ids)))
    sold = 0
    for sale in sales:
        sold += sale.net_g
        ranked.append((sale.ts, 2, _selling(batch, sale, ids)))
    if batch.block is not None:
        ranked.append((batch.block.at, 3, _recalled(batch, max(0, batch.quantity_g - sold), ids)))
    ranked.sort(key=lambda item: (item[0], item[1], item[2]["eventID"]))
    events = [event for _, _, event in ranked]
    return {
        "@context": [EPCIS_CONTEXT, {EXTENSION_PREFIX: EXTENSION_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(created_at),
        "epcisBody": {"eventList": events},
    }


def _event(at: datetime, event_id: str, batch: Batch, grams: int, biz_step: str, disposition: str,
           read_point: str, ids: MarketIdentifiers, location: str | None = None) -> dict[str, Any]:
    """An ObjectEvent of the lot at ``location`` (a stall's code; the batch's own stall by default)."""
    return {
        "type": "ObjectEvent",
        "eventTime": _time(at),
        "eventTimeZoneOffset": MARKET_TZ_OFFSET,
        "eventID": event_id,
        "action": "OBSERVE",
        "bizStep": biz_step,
        "disposition": disposition,
        "quantityList": [{"epcClass": ids.lot(batch), "quantity": grams, "uom": GRAMS}],
        "readPoint": {"id": read_point},
        "bizLocation": {"id": ids.stall(location or batch.stall)},
    }


def _receiving(batch: Batch, ids: MarketIdentifiers) -> dict[str, Any]:
    event = _event(batch.arrived_at, ids.event_id("receiving", batch.batch_id), batch, batch.quantity_g,
                   "receiving", "sellable_accessible", ids.receiving_point(), ids)
    event["sourceList"] = [{"type": "owning_party", "source": ids.supplier(batch.supplier)}]
    event["destinationList"] = [
        {"type": "owning_party", "destination": ids.stall_party(batch.stall)},
        {"type": "location", "destination": ids.stall(batch.stall)},
    ]
    event["certificationInfo"] = [ids.certificate(certificate) for certificate in batch.certificates]
    event[_ext("batch")] = batch.batch_id
    event[_ext("product")] = {"plu": batch.plu, "name": batch.product,
                              "category": batch.category.value if batch.category else None}
    event[_ext("origin")] = {"regionCode": batch.origin_code, "name": batch.origin_name}
    event[_ext("supplier")] = batch.supplier
    event[_ext("certificates")] = [{"type": certificate.kind.value, "number": certificate.number}
                                   for certificate in batch.certificates]
    return event


def _inspecting(batch: Batch, test: RapidTest, repeat: int, ids: MarketIdentifiers) -> dict[str, Any]:
    """The rapid screen as it was at its time: what it read and what it found (not what the laboratory said
    later: that is an event of its own)."""
    parts = ("inspecting", batch.batch_id, test.item, _time(test.tested_at)) + ((str(repeat),) if repeat else ())
    event = _event(test.tested_at, ids.event_id(*parts), batch, batch.quantity_g, "inspecting",
                   SCREEN_DISPOSITION[test.outcome], ids.test_point(), ids)
    reading = test.reading
    if reading is not None:
        event["sensorElementList"] = [_sensor_element(test, reading, ids)]
    event[_ext("rapidTest")] = {
        "item": test.item, "method": test.method, "result": test.result.value, "value": test.value,
        "outcome": test.outcome.value,
        **({"itemCode": reading.item.value, "methodCode": reading.method.value, "measured": str(reading.value),
            "unit": reading.unit, "cutoff": str(reading.cutoff)} if reading is not None else {})}
    return event


def _sensor_element(test: RapidTest, reading: Reading, ids: MarketIdentifiers) -> dict[str, Any]:
    """The reading as EPCIS 2.0 sensor data: one report of the item's substance, in the item's unit."""
    report: dict[str, Any] = {
        "type": READING_TYPE, "chemicalSubstance": ids.test_item(reading.item.value),
        "dataProcessingMethod": ids.test_method(reading.method.value), "time": _time(test.tested_at),
        "value": _number(reading.value), "uom": READING_UOM[reading.unit], _ext("cutoff"): _number(reading.cutoff)}
    if reading.value >= reading.cutoff:  # at or beyond the cutoff: not negative
        report["exception"] = "ALARM_CONDITION"
    return {"sensorMetadata": {"time": _time(test.tested_at)}, "sensorReport": [report]}


def _number(value: Decimal) -> int | float:
    """A reading as a JSON number (at most 3 decimal places: a float holds it as typed)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _laboratory(batch: Batch, test: RapidTest, screen_id: str, ids: MarketIdentifiers) -> dict[str, Any]:
    """The laboratory's verdict on a suspected positive, at the laboratory, its report as the certificate."""
    laboratory = test.laboratory
    assert laboratory is not None
    passed = laboratory.verdict is LaboratoryVerdict.PASS
    event = _event(laboratory.reported_at, ids.event_id("laboratory", screen_id), batch, batch.quantity_g,
                   "inspecting", "conformant" if passed else "non_conformant", ids.laboratory(laboratory.laboratory),
                   ids)
    event["certificationInfo"] = ids.laboratory_report(laboratory.laboratory, laboratory.report_number)
    event[_ext("laboratoryResult")] = {
        "verdict": laboratory.verdict.value, "laboratory": laboratory.laboratory,
        "reportNumber": laboratory.report_number, "rapidTestEventID": screen_id, "item": test.item,
        "outcome": test.outcome.value}
    return event


def _selling(batch: Batch, sale: Sale, ids: MarketIdentifiers) -> dict[str, Any]:
    # where the sale happened: a neighbour's counter may sell from this batch
    event = _event(sale.ts, ids.event_id("retail_selling", sale.scale, sale.record_id), batch, sale.net_g,
                   "retail_selling", "retail_sold", ids.scale(sale.scale), ids, location=sale.stall)
    event[_ext("traceCode")] = sale.trace_code
    event[_ext("unitPriceFenPerKg")] = sale.unit_price_fen
    event[_ext("amountFen")] = sale.amount_fen
    return event


def _recalled(batch: Batch, remaining_g: int, ids: MarketIdentifiers) -> dict[str, Any]:
    assert batch.block is not None
    event = _event(batch.block.at, ids.event_id("recalled", batch.batch_id), batch, remaining_g, "holding",
                   "recalled", ids.stall(batch.stall), ids)
    event[_ext("recall")] = {"reason": batch.block.reason, "cause": batch.block.cause.value}
    return event
