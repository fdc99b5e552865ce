"""The device contract: MQTT topics, message models, and simulated devices.

Everything that speaks to or about a device imports its vocabulary from here, so the
gateway, the services and the simulators can never disagree on a topic or a field.
"""
