"""Prometheus metrics every SensorGuard process exposes (one registry, one place)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

READINGS_RECEIVED = Counter(
    "sensorguard_readings_received_total", "Readings received by ingest", ["source"]
)
READINGS_ACCEPTED = Counter(
    "sensorguard_readings_accepted_total", "Readings that passed validation", ["source"]
)
READINGS_REJECTED = Counter(
    "sensorguard_readings_rejected_total",
    "Readings refused by validation, by the field at fault",
    ["source", "field"],
)
RATE_LIMITED = Counter("sensorguard_rate_limited_total", "Requests refused with 429", ["scope"])
INGEST_SECONDS = Histogram(
    "sensorguard_ingest_batch_seconds", "Time to validate and publish one batch", ["source"]
)
WRITER_WRITTEN = Counter(
    "sensorguard_writer_readings_written_total", "Readings written to the store by the writer"
)
WRITER_RETRIES = Counter(
    "sensorguard_writer_retries_total", "Store writes retried after a backend error"
)
WRITER_BATCH = Gauge(
    "sensorguard_writer_last_batch_size", "Records in the writer's last polled batch"
)
