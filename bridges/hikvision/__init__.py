"""The Hikvision ISAPI access terminal bridge: the terminals' HTTP event push and ISAPI requests (digest
authentication) on one side, the gate contract over MQTT on the other.

Pure pieces (no I/O, no clock): :mod:`.events` (an ``AccessControllerEvent`` notification → gate event),
:mod:`.persons` (whitelist → persons, cards and schedules). I/O: :mod:`.isapi` (the terminal's ISAPI endpoints),
:mod:`.pictures` (event pictures on disk, by reference), :mod:`.store` (durable per-terminal state),
:mod:`.bridge` (the asyncio process and the HTTP listener). Configuration: :mod:`.config`; docs/devices.md.
"""
