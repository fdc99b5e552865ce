"""The ingestion gateway: MQTT source → decoding and validation → batching → time-series sinks.

The path reads in the tree the way data flows: ``mqtt_source`` → ``decoding`` → ``points`` →
``pipeline`` → ``sinks`` (InfluxDB, embedded SQLite) with ``spool`` for outages.
"""
