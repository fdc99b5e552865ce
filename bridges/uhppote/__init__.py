"""The UHPPOTE (微耕) access controller bridge: UDP on port 60000 to the controllers, the gate contract over MQTT.

Pure pieces (no I/O, no clock): :mod:`.events` (controller event → gate event), :mod:`.event_log` (which event
indices to publish, reset detection), :mod:`.cards` (whitelist → cards and time profiles). I/O:
:mod:`.controller` (the ``uhppoted`` client, typed and checked), :mod:`.store` (durable per-controller state),
:mod:`.bridge` (the asyncio process). Configuration: :mod:`.config`; docs/devices.md.
"""
