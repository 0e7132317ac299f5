"""Live scoring (context kept between calls) gives the verdicts of scoring the whole history."""

from __future__ import annotations

import itertools
from datetime import UTC

import numpy as np
import pandas as pd
import pytest

from sensorguard.backtest import BacktestRun, backtest_frame, default_policy
from sensorguard.schemas import Reading
from sensorguard.scoring.live import SensorContext, advance, arrays, warm_context
from sensorguard.transforms.batch import feature_matrix
from sensorguard.transforms.spec import FeatureSpec

CHANNELS = ["temperature", "humidity"]
ROWS, TRAIN = 3000, 1500


def series(seed: int = 3) -> pd.DataFrame:
    """A daily cycle with a spike, a stuck value and a dropout longer than a live context."""
    rng = np.random.default_rng(seed)
    t = np.arange(ROWS)
    ts = pd.date_range("2026-03-01", periods=ROWS, freq="1min", tz="UTC")
    temperature = 21 + 2 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.1, ROWS)
    humidity = 50 - 2 * (temperature - 21) + rng.normal(0, 0.5, ROWS)
    temperature[1700] += 8
    humidity[1900:2400] = humidity[1900]  # stuck for 500 readings
    temperature[2500:2950] = np.nan  # a channel silent for 450 readings
    return pd.DataFrame(
        {"timestamp": ts, "temperature": temperature.round(2), "humidity": humidity.round(1)}
    )


# Without `seasonal` a context keeps only the windows' rows: the stuck run and the dropout
# outlast it, so their flat_len / stale_s come from the carry.
SHORT = FeatureSpec(
    channels=tuple(CHANNELS),
    windows=(5, 30),
    baseline=100,
    point_features=("value", "zscore", "delta", "stale_s", "flat_len"),
)


@pytest.fixture(scope="module", params=["backtest", "no-seasonal"])
def run(request: pytest.FixtureRequest) -> BacktestRun:
    spec = SHORT if request.param == "no-seasonal" else None
    # A recent-past window shorter than the stuck run and the dropout, so that a context
    # keeping only what it needs still leaves them to the carry.
    policy = default_policy().model_copy(update={"recent_rows": 200})
    return backtest_frame(series(), "timestamp", CHANNELS, TRAIN, spec=spec, policy=policy)


def readings(frame: pd.DataFrame) -> list[Reading]:
    out = []
    for rec in frame.to_dict("records"):
        channels = {c: float(rec[c]) for c in CHANNELS if np.isfinite(rec[c])}
        out.append(
            Reading.model_construct(
                sensor_id="s1",
                ts=rec["timestamp"].to_pydatetime().astimezone(UTC),
                channels=channels,
                units=None,
                seq=None,
            )
        )
    return out


def test_features_of_later_rows_do_not_need_the_earlier_ones_computed() -> None:
    frame = series()
    spec = FeatureSpec(channels=tuple(CHANNELS), windows=(5, 30), baseline=60)
    ts, values = arrays(readings(frame), CHANNELS)
    whole = feature_matrix(ts, values, spec)
    for first in (1, 100, 2222):
        np.testing.assert_array_equal(feature_matrix(ts, values, spec, first=first), whole[first:])


def test_chunked_live_scoring_gives_the_backtest_verdicts(run: BacktestRun) -> None:
    model = run.model
    # Shorter than the stuck run and the dropout: their flat_len / stale_s need the carry.
    keep = model.feature_spec.history + model.recent_lookback
    context = SensorContext(
        "m/1", np.empty(0, dtype=np.int64), {c: np.empty(0) for c in CHANNELS}, model.new_tracker()
    )
    ts, values = arrays(readings(series()), CHANNELS)
    rng = np.random.default_rng(0)
    cuts = np.unique(np.concatenate([[0, ROWS], rng.integers(1, ROWS, 60)]))
    parts = []
    for start, end in itertools.pairwise(cuts):
        chunk = {c: v[start:end] for c, v in values.items()}
        parts.append(advance(model, context, ts[start:end], chunk, keep=keep))
    score = np.concatenate([p.score for p in parts])
    flag = np.concatenate([p.flag for p in parts])
    kind = np.concatenate([p.kind for p in parts])
    batch = run.verdicts
    np.testing.assert_allclose(score, batch.score, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(flag, batch.flag)
    np.testing.assert_array_equal(kind, batch.kind)
    assert batch.flag[1700], "the spike must be flagged for the comparison to mean something"


def test_a_context_warmed_from_stored_readings_scores_like_the_whole_history(
    run: BacktestRun,
) -> None:
    model = run.model
    batch = run.verdicts
    stored = readings(series())
    cut = 1650  # no episode open here
    context = warm_context(model, "m/1", stored[:cut])
    ts, values = arrays(stored[cut:1800], CHANNELS)
    verdicts = advance(model, context, ts, values, keep=len(context))
    np.testing.assert_allclose(verdicts.score, batch.score[cut:1800], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(verdicts.flag, batch.flag[cut:1800])
