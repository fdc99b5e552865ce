"""The ingestion gateway: the path from the broker to the time series, and nothing else.

The tree reads the way data flows, as Telegraf's plugin tree does:

* ``inputs/mqtt.py`` — the source: a persistent MQTT session (paho on the asyncio loop), acknowledging a message
  only once its batch is durable;
* ``inputs/http.py`` — the second source, for devices without MQTT: ``POST /ingest/v1/...`` with a device token,
  answered only once its batch is durable (``inputs/http_framing.py`` splits a body into payloads, no I/O);
* ``processors/decoding.py`` — decode and validate against the device contract; bad input becomes a
  :class:`~gateway.processors.decoding.Rejected` value, never an exception (a new decoder is one module that is a
  :class:`~gateway.processors.decoding.Decoder`);
* ``processors/points.py`` — the measurement schema and each point's idempotent identity; dead letters are points;
* ``batching/pipeline.py`` and ``batching/spool.py`` — batches by size or age, bounded in flight, the on-disk spool
  while the store is down, acknowledgements in receive order;
* ``outputs/`` — the stores behind one :class:`~gateway.outputs.TimeSeriesStore` Protocol: InfluxDB over its HTTP
  API, the embedded SQLite store (a new output is one module implementing it);
* ``service.py`` assembles them (given its store by the composition root); ``registry.py``, ``metrics.py`` and
  ``web.py`` (status page, health, metrics; for staff only: ``staff_access.py``) watch them.

The gateway imports no domain service: the market and community read the time series through ``outputs``.
"""
