"""Feature transforms: batch/stream parity, hand-checked values, column order, input errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorguard.errors import ValidationFailed
from sensorguard.transforms import FeatureSpec, FeatureState, compute_features, feature_names

START = datetime(2024, 3, 1, tzinfo=UTC)


def stream_features(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    state = FeatureState(spec)
    rows = []
    for row in frame.itertuples(index=False):
        values = {c: getattr(row, c) for c in spec.channels if c in frame.columns}
        rows.append(state.update(row.ts.to_pydatetime(), values))
    return np.array(rows)


def random_climate(seed: int, n: int = 260) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.choice([60, 60, 60, 300, 3600, 7200], size=n)  # irregular, with gaps
    ts = pd.Timestamp(START) + pd.to_timedelta(np.cumsum(steps), unit="s")
    temperature = 20 + 3 * np.sin(np.arange(n) / 20) + rng.normal(0, 0.3, n)
    humidity = 70 - 1.5 * temperature + rng.normal(0, 0.5, n)
    temperature[rng.random(n) < 0.1] = np.nan
    humidity[rng.random(n) < 0.1] = np.nan
    temperature[50:62] = 21.25  # stuck
    return pd.DataFrame({"ts": ts, "temperature": temperature, "humidity": humidity})


SPECS = [
    FeatureSpec(
        channels=("temperature", "humidity"),
        windows=(3, 10),
        baseline=40,
        pair_window=15,
        season_s=3600 * 6,
    ),
    FeatureSpec(
        channels=("temperature",), windows=(2, 25), window_stats=("slope", "z", "max"), baseline=5
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=["climate", "temperature-only"])
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_and_stream_agree(spec: FeatureSpec, seed: int) -> None:
    frame = random_climate(seed)
    batch = compute_features(frame, spec)
    assert list(batch.columns) == feature_names(spec)
    np.testing.assert_allclose(batch.to_numpy(), stream_features(frame, spec), rtol=1e-7, atol=1e-9)
    # Every feature is exercised: none is NaN everywhere.
    assert batch.notna().any().all()


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-1e3, 1e3, allow_nan=False), st.just(float("nan")), st.just(5.0)),
        min_size=1,
        max_size=40,
    ),
    gaps=st.lists(st.integers(1, 7200), min_size=40, max_size=40),
)
def test_batch_and_stream_agree_on_arbitrary_series(values: list[float], gaps: list[int]) -> None:
    spec = FeatureSpec(channels=("x",), windows=(2, 4), baseline=6, season_s=3600, season_smooth=3)
    ts = pd.Timestamp(START) + pd.to_timedelta(np.cumsum(gaps[: len(values)]), unit="s")
    frame = pd.DataFrame({"ts": ts, "x": values})
    np.testing.assert_allclose(
        compute_features(frame, spec).to_numpy(), stream_features(frame, spec), rtol=1e-7, atol=1e-7
    )


def one_channel(values: list[float], step_s: int = 60) -> pd.DataFrame:
    ts = [START + timedelta(seconds=step_s * i) for i in range(len(values))]
    return pd.DataFrame({"ts": ts, "x": values})


def test_point_features_by_hand() -> None:
    spec = FeatureSpec(
        channels=("x",),
        windows=(3,),
        point_features=("delta", "rate", "stale_s", "flat_len"),
        gap=True,
        time_of_day=False,
    )
    frame = one_channel([1.0, 1.0, 1.0, 4.0, float("nan"), 4.0, 4.0])
    f = compute_features(frame, spec)
    np.testing.assert_array_equal(f["x__flat_len"], [1, 2, 3, 1, 0, 1, 2])
    np.testing.assert_array_equal(f["x__delta"].fillna(-99), [-99, 0, 0, 3, -99, 0, 0])
    assert f["x__rate"].iloc[3] == pytest.approx(3.0 * 60)  # 3 units in one minute, per hour
    assert f["x__rate"].iloc[5] == pytest.approx(0.0)
    np.testing.assert_array_equal(f["x__stale_s"], [0, 0, 0, 0, 60, 0, 0])
    assert np.isnan(f["gap_s"].iloc[0])
    assert (f["gap_s"].iloc[1:] == 60).all()


def test_window_stats_by_hand() -> None:
    spec = FeatureSpec(
        channels=("x",), windows=(3,), point_features=(), gap=False, time_of_day=False
    )
    f = compute_features(one_channel([1.0, 2.0, 3.0, 10.0]), spec)
    assert f["x__mean_3"].tolist() == pytest.approx([1.0, 1.5, 2.0, 5.0])
    assert f["x__min_3"].tolist() == [1.0, 1.0, 1.0, 2.0]
    assert f["x__max_3"].tolist() == [1.0, 2.0, 3.0, 10.0]
    assert np.isnan(f["x__std_3"].iloc[0])
    assert f["x__std_3"].iloc[2] == pytest.approx(np.std([1.0, 2.0, 3.0]))
    assert f["x__slope_3"].iloc[2] == pytest.approx(60.0)  # +1 per minute = 60 per hour
    # z of 10 against the previous three readings (1, 2, 3): mean 2, population std 0.8165
    assert f["x__z_3"].iloc[3] == pytest.approx((10 - 2) / np.std([1.0, 2.0, 3.0]))


def test_zscore_against_a_flat_baseline_is_large_but_finite() -> None:
    spec = FeatureSpec(
        channels=("x",),
        windows=(),
        point_features=("zscore",),
        baseline=5,
        gap=False,
        time_of_day=False,
    )
    f = compute_features(one_channel([7.0] * 6 + [7.5]), spec)
    assert f["x__zscore"].iloc[5] == 0.0
    assert f["x__zscore"].iloc[6] == spec.z_clip


def test_time_of_day_and_seasonal_difference() -> None:
    spec = FeatureSpec(
        channels=("x",),
        windows=(),
        point_features=("seasonal",),
        season_s=86_400,
        season_smooth=1,
        gap=False,
    )
    hours = np.arange(72)
    frame = one_channel(list(10 + np.sin(2 * np.pi * hours / 24)), step_s=3600)
    frame.loc[60, "x"] += 5.0
    f = compute_features(frame, spec)
    assert f["x__seasonal"].iloc[:24].isna().all()  # no reading a day earlier yet
    np.testing.assert_allclose(f["x__seasonal"].iloc[24:60], 0.0, atol=1e-9)
    assert f["x__seasonal"].iloc[60] == pytest.approx(5.0)
    six_am = f.iloc[6]
    assert (six_am["tod_sin"], six_am["tod_cos"]) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_humidity_residual_on_temperature() -> None:
    spec = FeatureSpec(
        channels=("temperature", "humidity"),
        windows=(),
        point_features=(),
        pair_window=10,
        gap=False,
        time_of_day=False,
    )
    temperature = np.linspace(15, 25, 40)
    humidity = 90 - 2 * temperature
    humidity[30] += 6.0
    frame = pd.DataFrame(
        {
            "ts": [START + timedelta(minutes=i) for i in range(40)],
            "temperature": temperature,
            "humidity": humidity,
        }
    )
    resid = compute_features(frame, spec)["humidity__resid_on_temperature"]
    assert resid.iloc[:3].isna().all()
    np.testing.assert_allclose(resid.iloc[3:30], 0.0, atol=1e-9)
    assert resid.iloc[30] == pytest.approx(6.0)
    assert "humidity__resid_on_temperature" not in feature_names(
        FeatureSpec(channels=("humidity",))
    )


def test_feature_names_order_is_stable() -> None:
    spec = FeatureSpec(
        channels=("a", "b"), windows=(4,), window_stats=("mean",), point_features=("value",)
    )
    assert feature_names(spec) == [
        "a__value",
        "a__mean_4",
        "b__value",
        "b__mean_4",
        "gap_s",
        "tod_sin",
        "tod_cos",
    ]


def test_missing_channel_and_non_numeric_values_are_named() -> None:
    spec = FeatureSpec(channels=("x",))
    with pytest.raises(ValidationFailed, match="channel must be a column of"):
        compute_features(pd.DataFrame({"ts": [START], "y": [1.0]}), spec)
    with pytest.raises(ValidationFailed, match="x must be a number, got 'warm'"):
        compute_features(pd.DataFrame({"ts": [START, START], "x": [1.0, "warm"]}), spec)
    with pytest.raises(ValueError, match="at least 2 readings"):
        FeatureSpec(channels=("x",), windows=(1,))


def test_stream_state_reads_schema_readings() -> None:
    from sensorguard.schemas import Reading

    spec = FeatureSpec(channels=("temperature",), windows=(2,))
    state = FeatureState(spec)
    first = state.update_reading(
        Reading(sensor_id="th-1", ts=START, channels={"temperature": 20.0})
    )
    second = state.update_reading(
        Reading(sensor_id="th-1", ts=START + timedelta(minutes=1), channels={"temperature": 22.0})
    )
    names = feature_names(spec)
    assert first[names.index("temperature__value")] == 20.0
    assert second[names.index("temperature__delta")] == 2.0
    assert second[names.index("gap_s")] == 60.0
