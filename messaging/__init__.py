"""Messaging with devices for the services: commands out (the Downlink Protocol, its MQTT implementation), uplinks
in (the service feed), and the embedded broker of the no-server default."""
