"""Batches to the store, acknowledged in order once durable; the spool while the store is down."""
