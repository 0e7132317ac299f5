"""A sensor group's training data: readings from the store, features, and the train/eval split."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sensorguard.errors import NotFound, ValidationFailed

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from sensorguard.schemas import Reading
    from sensorguard.specs import ModelSpec
    from sensorguard.store import TimeSeriesStore
    from sensorguard.transforms import FeatureSpec

    F = npt.NDArray[np.float64]

KEY_COLUMNS = ["sensor_id", "ts"]

# Fetches features for (sensor_id, ts) keys; used to read them from Feast instead of computing.
FeatureFetcher = Callable[["pd.DataFrame", "FeatureSpec"], "pd.DataFrame"]


@dataclass
class GroupDataset:
    """Readings and features of one group's sensors over [start, end), split at `split`.

    `readings` has sensor_id, ts (UTC) and one column per channel, rows ordered by sensor then
    time; `features` is aligned with it row for row (same index). Rows before `split` train,
    rows from `split` on evaluate. Features are causal, so computing them once over the whole
    span leaks nothing from the evaluation rows into the training rows.
    """

    group: str
    readings: pd.DataFrame
    features: pd.DataFrame
    start: datetime
    split: datetime
    end: datetime
    source: str
    feature_spec: FeatureSpec
    # Each channel's physical range (from the group's sensor types): out_of_range evidence.
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def train_mask(self) -> pd.Series:
        import pandas as pd

        return self.readings["ts"] < pd.Timestamp(self.split)

    @property
    def eval_mask(self) -> pd.Series:
        return ~self.train_mask

    @property
    def sensor_ids(self) -> list[str]:
        return sorted(self.readings["sensor_id"].unique().tolist())

    def fingerprint(self) -> str:
        """Content hash of the readings: tells whether two runs trained on the same data."""
        import pandas as pd

        digest = hashlib.sha256()
        digest.update(pd.util.hash_pandas_object(self.readings, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]


def readings_frame(readings: Sequence[Reading], channels: Sequence[str]) -> pd.DataFrame:
    """Readings as a frame: sensor_id, ts (UTC), one float column per channel (NaN if absent)."""
    import numpy as np
    import pandas as pd

    nan = float("nan")
    data: dict[str, object] = {
        "sensor_id": [r.sensor_id for r in readings],
        "ts": pd.to_datetime([r.ts for r in readings], utc=True),
    }
    for channel in channels:
        data[channel] = np.array([r.channels.get(channel, nan) for r in readings], dtype=float)
    frame = pd.DataFrame(data)
    return frame.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)


def compute_group_features(readings: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Shared batch transforms per sensor, aligned with `readings` (ordered by sensor, time)."""
    import pandas as pd

    from sensorguard.transforms import compute_features, feature_names

    parts = [
        compute_features(frame, spec) for _, frame in readings.groupby("sensor_id", sort=False)
    ]
    if not parts:
        return pd.DataFrame(columns=feature_names(spec), index=readings.index, dtype=float)
    return pd.concat(parts).loc[readings.index]


def per_sensor(
    readings: pd.DataFrame, spec: FeatureSpec, features: pd.DataFrame | None = None
) -> Iterator[tuple[npt.NDArray[np.intp], npt.NDArray[np.int64], dict[str, F], F]]:
    """Each sensor's (row positions, ts ns, channel values, feature matrix), in time order.

    Rows of ``readings`` (sensor_id, ts, channels; any order) are grouped by sensor and sorted
    by time; features come from ``features`` (row-aligned with ``readings``) when given, else
    they are computed over each sensor's history.
    """
    import numpy as np
    import pandas as pd

    from sensorguard.transforms import compute_features, feature_names

    frame = readings.reset_index(drop=True)
    if "sensor_id" not in frame.columns:
        frame = frame.assign(sensor_id="_")  # rows without ids are one sensor's history
    ts_all = pd.to_datetime(frame["ts"], utc=True).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    names = feature_names(spec)
    given = None if features is None else features[names].to_numpy(dtype=np.float64)
    sensor = frame["sensor_id"].to_numpy()
    order = np.lexsort((ts_all, sensor))
    sorted_ids = sensor[order]
    bounds = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1], True])
    for lo, hi in itertools.pairwise(bounds.tolist()):
        rows = order[lo:hi]
        part = frame.iloc[rows]
        values = {
            c: pd.to_numeric(part[c], errors="coerce").to_numpy(dtype=np.float64)
            for c in spec.channels
        }
        matrix = (
            compute_features(part.assign(ts=ts_all[rows]), spec).to_numpy(dtype=np.float64)
            if given is None
            else given[rows]
        )
        yield rows, ts_all[rows], values, matrix


def window(
    spec: ModelSpec, *, end: datetime, days: float | None = None
) -> tuple[datetime, datetime, datetime]:
    """(start, split, end) of a training run ending at `end`."""
    total = timedelta(days=days if days is not None else spec.training.days)
    held_out = timedelta(days=spec.training.eval_days)
    if held_out >= total:
        raise ValidationFailed(
            "days",
            total.total_seconds() / 86_400,
            f"more than eval_days ({spec.training.eval_days:g})",
        )
    return end - total, end - held_out, end


def load_group_dataset(
    store: TimeSeriesStore,
    spec: ModelSpec,
    sensor_ids: Sequence[str],
    *,
    end: datetime,
    days: float | None = None,
    fetch_features: FeatureFetcher | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> GroupDataset:
    """Read the group's readings for its window and attach features (computed or fetched)."""
    start, split, end = window(spec, end=end, days=days)
    if not sensor_ids:
        raise NotFound("sensors of model group", spec.group)
    readings = readings_frame(store.read_readings(sensor_ids, start, end), spec.channels)
    if readings.empty:
        raise NotFound(
            "readings for model group",
            f"{spec.group} between {start.isoformat()} and {end.isoformat()}",
        )
    feature_spec = spec.feature_spec
    if fetch_features is None:
        features = compute_group_features(readings, feature_spec)
        source = "store"
    else:
        features = fetch_features(readings[KEY_COLUMNS], feature_spec)
        source = "feast"
    dataset = GroupDataset(
        group=spec.group,
        readings=readings,
        features=features,
        start=start,
        split=split,
        end=end,
        source=source,
        feature_spec=feature_spec,
        ranges=dict(ranges or {}),
    )
    n_train = int(dataset.train_mask.sum())
    if n_train < spec.training.min_train_rows:
        raise ValidationFailed(
            "training rows",
            n_train,
            f"at least {spec.training.min_train_rows} before {split.isoformat()} "
            f"(group {spec.group}: is there enough history in the store?)",
        )
    if not dataset.eval_mask.any():
        raise ValidationFailed("evaluation rows", 0, f"readings after {split.isoformat()}")
    return dataset
