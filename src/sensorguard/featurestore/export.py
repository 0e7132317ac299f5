"""Feature rows for Feast's offline store: the shared transforms' output split into two tables."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.settings import Settings
    from sensorguard.transforms import FeatureSpec


def window_feature_names(spec: FeatureSpec) -> list[str]:
    """The names `feature_names(spec)` owes to the rolling windows (the rest is point state)."""
    from sensorguard.transforms import feature_names

    point_only = set(feature_names(spec.model_copy(update={"windows": ()})))
    return [n for n in feature_names(spec) if n not in point_only]


def entity_rows(frame: pd.DataFrame, index: pd.Index | None = None) -> pd.DataFrame:
    """Feast's entity columns (sensor_id, event_timestamp in UTC) of a frame's sensor_id and ts."""
    import pandas as pd

    keys = pd.DataFrame(
        {
            "sensor_id": frame["sensor_id"].to_numpy(),
            "event_timestamp": pd.to_datetime(frame["ts"], utc=True).to_numpy(),
        },
        index=index,
    )
    keys["event_timestamp"] = pd.to_datetime(keys["event_timestamp"], utc=True)
    return keys


def feature_rows(readings: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """sensor_id, event_timestamp and the features of each reading."""
    return entity_rows(readings, features.index).join(features)


def write_tables(
    settings: Settings, parts: Sequence[tuple[pd.DataFrame, FeatureSpec]]
) -> dict[str, Any]:
    """Write (feature rows, spec) of every group as the two Parquet tables the sources read.

    Columns are the union over groups (a climate sensor has NaN sound_level features), so
    one source per table serves every group.
    """
    import pandas as pd

    from sensorguard.featurestore.config import (
        CHANNEL_STATE_TABLE,
        WINDOW_STATS_TABLE,
        feast_dir,
    )

    keys = ["sensor_id", "event_timestamp"]
    windows: list[pd.DataFrame] = []
    states: list[pd.DataFrame] = []
    for rows, spec in parts:
        window_names = window_feature_names(spec)
        windows.append(rows[[*keys, *window_names]])
        states.append(rows[[c for c in rows.columns if c not in window_names]])
    folder = feast_dir(settings)
    out: dict[str, Any] = {"tables": {}, "rows": 0}
    for table, frames in ((WINDOW_STATS_TABLE, windows), (CHANNEL_STATE_TABLE, states)):
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=keys)
        feature_cols = [c for c in frame.columns if c not in keys]
        frame[feature_cols] = frame[feature_cols].astype("float64")
        frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
        path = folder / table
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        out["tables"][Path(table).stem] = {
            "path": str(path),
            "rows": len(frame),
            "columns": len(feature_cols),
            "sha256_16": _file_hash(path),
        }
        out["rows"] = len(frame)
    return out


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
