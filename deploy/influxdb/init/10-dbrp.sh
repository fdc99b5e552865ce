#!/bin/bash
# Run once by the influxdb:2 image after its initial setup (org, bucket, admin token from the
# DOCKER_INFLUXDB_INIT_* variables): map the v1 database the gateways write to with /write?db=
# and Grafana reads with InfluxQL onto the bucket. InfluxDB 2.4+ would also answer through a
# "virtual" mapping of the same name; an explicit one is what 2.0–2.3 need and what an operator
# sees with 'influx v1 dbrp list'.
set -euo pipefail
influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${DOCKER_INFLUXDB_INIT_BUCKET}" \
  --rp autogen \
  --default
