"""Where messages come from: the MQTT source."""
