"""Simulated gates (门禁 access controllers) and traceability scales (追溯秤) speaking the device contract.

- ``traffic``: :class:`TrafficGenerator`, the site's deterministic traffic (pure: a seed and ``now`` values);
- ``gate`` and ``scale``: what a simulated controller and a simulated scale hold and do;
- ``catalogue``: what the market sells; ``roster``: the site as the demos see it;
- ``malformed``: good messages spoilt on purpose, one for each dead-letter reason of the gateway;
- ``firmware``: what every device shares (identity, record ids, the wire format);
- ``runner``: :func:`run_simulation`, the asyncio part, one MQTT connection per device; :func:`run_fleet`, several
  sites' simulators sharing one rate;
- ``uhppote``: a UHPPOTE (微耕) controller speaking its own UDP protocol, not the contract (imported on use): the
  bridge's tests, and ``smartcity run --demo --uhppote``, run it in place of a simulated gate.
"""

from devices.simulator.catalogue import PRODUCTS, Product, StallZone
from devices.simulator.firmware import SimMessage
from devices.simulator.gate import GateKeys
from devices.simulator.roster import SimulatedGate, SimulatedItem, SimulatedResident, SimulatedStall
from devices.simulator.runner import SimulationStats, run_fleet, run_simulation
from devices.simulator.traffic import TrafficGenerator

__all__ = [
    "PRODUCTS",
    "GateKeys",
    "Product",
    "SimMessage",
    "SimulatedGate",
    "SimulatedItem",
    "SimulatedResident",
    "SimulatedStall",
    "SimulationStats",
    "StallZone",
    "TrafficGenerator",
    "run_fleet",
    "run_simulation",
]
