"""Feast declarations of SensorGuard's features: entity, sources, feature views, feature service.

Declarations only. The values are computed by `sensorguard.transforms` (the same code the
stream scorer runs) and written to the Parquet tables below by
`sensorguard.pipelines.export_features`; the feature columns are inferred from those tables
at apply time, so a new window or channel in a model spec needs no edit here.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, FileSource
from feast.value_type import ValueType

# The paths `sensorguard features export` writes to: one definition for both sides.
from sensorguard.featurestore.config import CHANNEL_STATE_TABLE, WINDOW_STATS_TABLE

# A day-old row says nothing about the sensor now: older rows are not served or joined.
ROW_TTL = timedelta(days=1)

# One device; every feature row belongs to one sensor at one reading time.
sensor = Entity(
    name="sensor",
    join_keys=["sensor_id"],
    value_type=ValueType.STRING,
    description="A registered SensorGuard sensor.",
)

# Rolling-window statistics (z, std, slope per window): kept apart from the point state so
# a view can be materialised or dropped without touching the other.
sensor_window_stats_source = FileSource(
    name="sensor_window_stats_source",
    path=WINDOW_STATS_TABLE,
    timestamp_field="event_timestamp",
    description="Per-reading window features exported from the time-series store.",
)

# Per-reading channel state (z-score, delta, flat run, staleness, gap, pair residuals).
sensor_channel_state_source = FileSource(
    name="sensor_channel_state_source",
    path=CHANNEL_STATE_TABLE,
    timestamp_field="event_timestamp",
    description="Per-reading point features exported from the time-series store.",
)

# Online as well as offline: `sensorguard features online` answers from the same view.
sensor_window_stats_fv = FeatureView(
    name="sensor_window_stats_fv",
    entities=[sensor],
    ttl=ROW_TTL,
    source=sensor_window_stats_source,
    online=True,
    tags={"owner": "sensorguard", "kind": "window"},
)

# Same freshness and serving as the window view; only its table differs.
sensor_channel_state_fv = FeatureView(
    name="sensor_channel_state_fv",
    entities=[sensor],
    ttl=ROW_TTL,
    source=sensor_channel_state_source,
    online=True,
    tags={"owner": "sensorguard", "kind": "point"},
)

# Everything a detector reads; training and online lookups ask for this one service.
detector_inputs_fs = FeatureService(
    name="detector_inputs_fs",
    features=[sensor_window_stats_fv, sensor_channel_state_fv],
    description="Inputs of SensorGuard's anomaly detectors.",
)
