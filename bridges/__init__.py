"""Bridges: device-side adapters that speak a vendor's protocol to its hardware and the device contract
(docs/protocol.md) over MQTT to the platform, so the services never learn a vendor exists."""
