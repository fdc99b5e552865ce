"""The simulated site as the demos see it: which stall each scale serves and what it sells, which residents use
each gate with which cards. ``smartcity``'s demo data is made from these, so that the platform's records match the
devices' traffic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devices.simulator.catalogue import StallZone
from devices.simulator.firmware import CHINA_STANDARD_TIME
from devices.simulator.gate import GateController
from devices.simulator.scale import TraceabilityScale, batch_id


@dataclass(frozen=True, slots=True)
class SimulatedItem:
    """What a simulated scale sells: the product, its board price and the batch it prints today."""

    plu: str
    product: str
    price_fen_per_kg: int
    batch: str


@dataclass(frozen=True, slots=True)
class SimulatedStall:
    scale_id: str
    stall: str
    zone: StallZone
    items: tuple[SimulatedItem, ...]


@dataclass(frozen=True, slots=True)
class SimulatedResident:
    person_id: str
    card: str
    face_enrolled: bool
    face_ref: str  # what the face terminal reports for them: enrol this, not the person id


@dataclass(frozen=True, slots=True)
class SimulatedGate:
    """A simulated access controller and the people who use it, so the demo's platform data can match."""

    gate_id: str
    doors: int
    residents: tuple[SimulatedResident, ...]
    expired_cards: tuple[str, ...]
    blacklisted_cards: tuple[str, ...]


def stall_of(scale: TraceabilityScale, now: datetime) -> SimulatedStall:
    """The scale's stall and goods, with the batch ids it prints on ``now``'s day."""
    local = now.astimezone(CHINA_STANDARD_TIME)
    return SimulatedStall(scale.device_id, scale.stall, StallZone(scale.stall[0]), tuple(
        SimulatedItem(item.product.plu, item.product.name, item.price_fen, batch_id(scale.stall, item, local))
        for item in scale.items))


def people_of(gate: GateController) -> SimulatedGate:
    """The gate with its residents' cards and faces, and the lapsed and blacklisted cards."""
    return SimulatedGate(gate.device_id, gate.doors,
                         tuple(SimulatedResident(r.person_id, r.card, r.face_enrolled, r.face_ref)
                               for r in gate.residents),
                         gate.expired_cards, gate.blacklisted_cards)
