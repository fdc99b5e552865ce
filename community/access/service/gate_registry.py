"""The registered gates uplinks may come from, remembered: each gate's record and community by gate id, and the ids
heard from that are not registered (ignored, and logged once rather than on every uplink)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.directory import Community, Gate
from community.access.storage import DirectoryRepository
from devices.topics import DeviceKind, DeviceTopic

log = logging.getLogger(__name__)


class GateRegistry:
    def __init__(self) -> None:
        self._gates: dict[str, tuple[Gate, Community]] = {}
        self._unregistered: set[str] = set()

    async def of_topic(self, connection: AsyncConnection, topic: DeviceTopic) -> tuple[Gate, Community] | None:
        """The registered gate of a topic, whose site must be the gate's community's."""
        if topic.kind is not DeviceKind.GATE:
            return None
        known = await self._known(connection, topic.device)
        if known is not None and topic.site != known[1].site:
            log.warning("gate uplink from another site ignored", extra={"gate": topic.device, "site": topic.site})
            return None
        return known

    async def of_id(self, connection: AsyncConnection, gate_id: str, *,
                    ask_again: bool = False) -> tuple[Gate, Community] | None:
        """The registered gate of an id; `ask_again` looks in the database even for a gate not registered when
        last heard from."""
        if ask_again:
            self._unregistered.discard(gate_id)
        return await self._known(connection, gate_id)

    def registered(self, gate_ids: Iterable[str]) -> None:
        """Gates just registered: an uplink from them counts from now on."""
        self._unregistered.difference_update(gate_ids)

    async def _known(self, connection: AsyncConnection, gate_id: str) -> tuple[Gate, Community] | None:
        known = self._gates.get(gate_id)
        if known is None and gate_id not in self._unregistered:
            directory = DirectoryRepository(connection)
            gate = await directory.gate(gate_id)
            community = None if gate is None else await directory.community(gate.community_id)
            if gate is None or community is None:
                self._unregistered.add(gate_id)
                log.info("uplink from an unregistered gate ignored", extra={"gate": gate_id})
                return None
            known = self._gates[gate_id] = (gate, community)
        return known
