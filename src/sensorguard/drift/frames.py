"""The two sides of a drift check, built by the shared transforms and scored by the champion.

Reference: the champion's training rows (the Parquet snapshot its training run wrote, or the
same rows rebuilt from the store by its `training_window` tag when the file is not on this
machine). Current: the recent window's readings. Both get features from
`sensorguard.transforms` with the champion's own feature spec and scores and flags from the
champion through the one scoring path, so the two sides differ only in their data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sensorguard.errors import NotFound

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.store import TimeSeriesStore
    from sensorguard.training.bundle import DetectorBundle

# Readings a feature needs before its first full window come from before the window; at one
# reading a minute this is ~4.8 h for the shipped specs. Assumed when the data cannot tell.
DEFAULT_INTERVAL_S = 60.0
SAMPLE_SEED = 0


def scored(
    readings: pd.DataFrame, bundle: DetectorBundle, features: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Readings + the champion's feature columns + `score` and `flag` from the champion.

    `features` (row-aligned, e.g. the training snapshot's) saves computing them again; else
    they are computed per sensor by the shared transforms with the champion's feature spec.
    """
    from sensorguard.training.dataset import compute_group_features

    names = bundle.feature_names
    if features is None:
        features = compute_group_features(readings, bundle.feature_spec)
    verdicts = bundle.model.score_frame(readings, features[names])
    out = readings[["sensor_id", "ts"]].join(features[names])
    return out.assign(score=verdicts.score, flag=verdicts.flag)


def median_interval_s(frame: pd.DataFrame) -> float:
    """The median time between a sensor's consecutive readings (DEFAULT_INTERVAL_S if unknown)."""
    import pandas as pd

    if frame.empty:
        return DEFAULT_INTERVAL_S
    gaps = frame.sort_values(["sensor_id", "ts"]).groupby("sensor_id")["ts"].diff().dropna()
    if gaps.empty:
        return DEFAULT_INTERVAL_S
    value = float(pd.to_timedelta(gaps).median().total_seconds())
    return value if value > 0 else DEFAULT_INTERVAL_S


def window_frame(
    store: TimeSeriesStore,
    sensor_ids: Sequence[str],
    bundle: DetectorBundle,
    start: datetime,
    end: datetime,
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> pd.DataFrame:
    """Scored feature rows of readings in [start, end), features warmed up on earlier readings."""
    import pandas as pd

    from sensorguard.training.dataset import readings_frame

    warmup = timedelta(seconds=bundle.feature_spec.history * interval_s)
    raw = store.read_readings(list(sensor_ids), start - warmup, end)
    readings = readings_frame(raw, bundle.feature_spec.channels)
    frame = scored(readings, bundle)
    return frame[frame["ts"] >= pd.Timestamp(start)].reset_index(drop=True)


def reference_frame(
    tags: Mapping[str, str],
    bundle: DetectorBundle,
    *,
    store: TimeSeriesStore,
    sensor_ids: Sequence[str],
    max_rows: int,
) -> tuple[pd.DataFrame, str]:
    """The champion version's training rows, scored, sampled to `max_rows`; and where from.

    The snapshot is scored whole before sampling: a score depends on the sensor's history.
    """
    import pandas as pd

    from sensorguard.training.dataset import KEY_COLUMNS

    path = Path(tags.get("training_snapshot", ""))
    if tags.get("training_snapshot") and path.is_file():
        snapshot = pd.read_parquet(path)
        snapshot["ts"] = pd.to_datetime(snapshot["ts"], utc=True)
        names = [*KEY_COLUMNS, *bundle.feature_spec.channels]
        frame = scored(snapshot[names], bundle, snapshot)
        source = str(path)
    else:
        window = tags.get("training_window", "")
        try:
            start, split = (datetime.fromisoformat(part) for part in window.split("/"))
        except ValueError:
            raise NotFound(
                "training rows of champion",
                tags.get("group", "?"),
                context="neither its training_snapshot file nor a training_window tag: ",
            ) from None
        frame = window_frame(store, sensor_ids, bundle, start, split)
        source = f"store {window}"
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=SAMPLE_SEED).sort_index()
    return frame.reset_index(drop=True), source
