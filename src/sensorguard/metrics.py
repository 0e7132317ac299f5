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
SCORES = Counter(
    "sensorguard_scores_total",
    "Readings scored, by surface (service, stream), group and outcome (normal or a fault kind)",
    ["surface", "group", "outcome"],
)
UNSCORED = Counter(
    "sensorguard_unscored_total",
    "Readings no model could score (unregistered sensor, group without a model)",
    ["surface"],
)
SCORE_VALUE = Histogram(
    "sensorguard_score",
    "Scores (surprise, -log10 P) of scored readings",
    ["surface", "group"],
    buckets=(0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 20),
)
SCORE_SECONDS = Histogram(
    "sensorguard_score_seconds",
    "Time to score one call (a request, a polled batch)",
    ["surface"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
MODEL_VERSION = Gauge(
    "sensorguard_model_version",
    "Version of the model serving each group under each alias (0: none)",
    ["surface", "group", "alias"],
)
STREAM_SCORER_RETRIES = Counter(
    "sensorguard_stream_scorer_retries_total", "Score writes or publishes retried"
)
STREAM_SCORER_COMMIT_FAILURES = Counter(
    "sensorguard_stream_scorer_commit_failures_total",
    "Offset commits refused (typically after a rebalance); the batch is scored again",
)
# Labels stay low-cardinality: site, kind, group, rule, topic are bounded by configuration;
# sensor ids never become labels (one series per sensor would swamp Prometheus).
DEAD_LETTERS = Counter(
    "sensorguard_dead_letters_total",
    "Records published to sensor-data-dlq, by the process that sent them (http, mqtt, writer)",
    ["source"],
)
DEAD_LETTER_RECORDS = Gauge(
    "sensorguard_dead_letter_records",
    "Records held in sensor-data-dlq (what the stream retains), as the last check found",
)
CONSUMER_LAG = Gauge(
    "sensorguard_consumer_lag",
    "Records a consumer group has not committed yet, per topic (sum over partitions)",
    ["group", "topic"],
)
STORE_WRITE_SECONDS = Histogram(
    "sensorguard_store_write_seconds",
    "Time of one store write call, by what it writes (readings, scores, shadow_scores)",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FLAGS = Counter(
    "sensorguard_flags_total",
    "Readings flagged anomalous, by surface, site and fault kind",
    ["surface", "site", "kind"],
)
DRIFT_SHARE = Gauge(
    "sensorguard_drift_share",
    "Share of a group's features that drifted in its last drift check",
    ["group"],
)
DRIFT_SCORE_PSI = Gauge(
    "sensorguard_drift_score_psi",
    "PSI of the anomaly-score distribution, reference vs current, in the last drift check",
    ["group"],
)
DRIFT_DETECTED = Gauge(
    "sensorguard_drift_detected",
    "1 if a group's last drift check found drift under its spec's policy, else 0",
    ["group"],
)
ALERTS = Counter(
    "sensorguard_alerts_total",
    "Alert changes made by the engine, by rule, severity and change (opened, resolved, ...)",
    ["rule", "severity", "change"],
)
LOOP_HEARTBEAT = Gauge(
    "sensorguard_loop_heartbeat_timestamp_seconds",
    "When a long-running loop last went round (a stuck loop stops moving it)",
    ["process"],
)
SYSTEM_METRICS_PUBLISHED = Counter(
    "sensorguard_system_metrics_published_total",
    "Summary records published to the system-metrics topic",
    ["process"],
)
