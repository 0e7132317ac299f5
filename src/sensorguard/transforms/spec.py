"""What features to compute for a sensor and in which column order (shared by training and serving)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WindowStat = Literal["mean", "std", "min", "max", "slope", "z"]
PointFeature = Literal["value", "zscore", "delta", "rate", "stale_s", "flat_len", "seasonal"]

WINDOW_STATS: tuple[WindowStat, ...] = ("mean", "std", "min", "max", "slope", "z")
POINT_FEATURES: tuple[PointFeature, ...] = (
    "value",
    "zscore",
    "delta",
    "rate",
    "stale_s",
    "flat_len",
    "seasonal",
)

# Column names join the channel and the feature with a double underscore so that channel names
# (lower-case with single underscores) never collide with feature names.
SEP = "__"


class FeatureSpec(BaseModel):
    """The feature set of one sensor type; every window counts readings, not seconds.

    Per channel and window ``w`` (the last ``w`` readings, current one included):
    ``mean``, ``std`` (population), ``min``, ``max``, ``slope`` (least squares against time, per
    hour) and ``z`` (the current value against the *previous* ``w`` readings' mean and std).
    Per channel: ``value``, ``zscore`` (against the previous ``baseline`` readings), ``delta``
    and ``rate`` (per hour) from the last present value, ``stale_s`` (seconds since the channel
    last had a value), ``flat_len`` (consecutive identical values), ``seasonal`` (the value
    minus the value ``season_s`` earlier, averaged over the last ``season_smooth`` readings: a
    daily cycle repeats itself, a fault does not). Per sensor: ``gap_s``
    (seconds since the previous reading) and the time of day as sin/cos (UTC). Per channel pair
    ``(x, y)`` present in ``channels``: ``y`` minus its least-squares fit on ``x`` over the
    previous ``pair_window`` readings (e.g. humidity against temperature).
    Missing values (NaN) are skipped inside windows; a feature with too little data is NaN.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[str, ...] = Field(min_length=1)
    windows: tuple[int, ...] = (5, 15, 60)
    window_stats: tuple[WindowStat, ...] = WINDOW_STATS
    baseline: int = Field(default=288, ge=2)
    point_features: tuple[PointFeature, ...] = POINT_FEATURES
    gap: bool = True
    time_of_day: bool = True
    pairs: tuple[tuple[str, str], ...] = (("temperature", "humidity"),)
    pair_window: int = Field(default=60, ge=3)
    season_s: int = Field(default=86_400, gt=0)
    season_smooth: int = Field(default=12, ge=1)
    z_clip: float = Field(default=1000.0, gt=0)

    @field_validator("windows")
    @classmethod
    def _windows_valid(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            return value
        if any(w < 2 for w in value):
            raise ValueError(f"every window must be at least 2 readings, got {list(value)}")
        if len(set(value)) != len(value):
            raise ValueError(f"windows must be distinct, got {list(value)}")
        return value

    @field_validator("channels")
    @classmethod
    def _channels_distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"channels must be distinct, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _no_duplicate_features(self) -> FeatureSpec:
        for name, items in (
            ("window_stats", self.window_stats),
            ("point_features", self.point_features),
        ):
            if len(set(items)) != len(items):
                raise ValueError(f"{name} must be distinct, got {list(items)}")
        return self

    @property
    def active_pairs(self) -> tuple[tuple[str, str], ...]:
        """The configured pairs whose two channels this sensor reports."""
        return tuple((x, y) for x, y in self.pairs if x in self.channels and y in self.channels)

    @property
    def history(self) -> int:
        """Readings a stream state must remember: the longest window, plus one for lookback."""
        longest = max((*self.windows, self.baseline, self.pair_window, self.season_smooth))
        return longest + 1


def feature_names(spec: FeatureSpec) -> list[str]:
    """Column order of the feature matrix: identical for the batch and the stream path."""
    names: list[str] = []
    for channel in spec.channels:
        names.extend(f"{channel}{SEP}{feature}" for feature in spec.point_features)
        for window in spec.windows:
            names.extend(f"{channel}{SEP}{stat}_{window}" for stat in spec.window_stats)
    names.extend(f"{y}{SEP}resid_on_{x}" for x, y in spec.active_pairs)
    if spec.gap:
        names.append("gap_s")
    if spec.time_of_day:
        names.extend(["tod_sin", "tod_cos"])
    return names
