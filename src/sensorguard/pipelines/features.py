"""Feature pipeline steps: store -> shared transforms -> Feast offline tables -> online store."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sensorguard.settings import Settings


def export_features(
    settings: Settings,
    *,
    end: str | None = None,
    days: float | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """Compute every group's features over its training window and write Feast's tables.

    `days` defaults to the longest training window of the specs, so training on Feast finds
    every row it asks for.
    """
    from sensorguard.featurestore.export import feature_rows, write_tables
    from sensorguard.pipelines.training import StepContext, parse_time
    from sensorguard.schemas import utc_now
    from sensorguard.training.dataset import compute_group_features, readings_frame
    from sensorguard.wiring import open_configured_store

    stop = parse_time(end) or utc_now()
    ctx = StepContext(settings)
    specs = [ctx.spec(g) for g in ctx.groups(group)]
    span = timedelta(days=days if days is not None else max(s.training.days for s in specs))
    parts = []
    per_group: dict[str, int] = {}
    store = open_configured_store(settings)
    try:
        for spec in specs:
            ids = ctx.sensor_ids(spec)
            readings = readings_frame(store.read_readings(ids, stop - span, stop), spec.channels)
            features = compute_group_features(readings, spec.feature_spec)
            parts.append((feature_rows(readings, features), spec.feature_spec))
            per_group[spec.group] = len(readings)
    finally:
        store.close()
    written = write_tables(settings, parts)
    return {
        **written,
        "groups": per_group,
        "start": (stop - span).isoformat(),
        "end": stop.isoformat(),
    }


def apply_features(settings: Settings) -> dict[str, Any]:
    """Register the Feast declarations of features/ (after an export)."""
    from sensorguard.featurestore import apply

    return apply(settings)


def materialize_features(
    settings: Settings, *, start: str | None = None, end: str | None = None
) -> dict[str, Any]:
    """Apply, then load the latest feature row per sensor in [start, end] into the online store."""
    from sensorguard.featurestore import apply, materialize
    from sensorguard.pipelines.training import parse_time
    from sensorguard.schemas import utc_now

    stop = parse_time(end) or utc_now()
    begin = parse_time(start, "start") or stop - timedelta(days=1)
    applied = apply(settings)
    done = materialize(settings, begin, stop)
    return {**done, "features": applied["features"]}
