"""The one scoring path is causal and gives the batch and the stream the same verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensorguard.backtest import backtest_frame
from sensorguard.detectors import available_detectors
from sensorguard.scoring import ScoringModel, ScoringPolicy

ROWS, TRAIN = 3600, 1600  # training covers more than one daily cycle


def series(seed: int = 0, rows: int = ROWS) -> pd.DataFrame:
    """Two channels with a daily cycle, a spike, a level shift and a stuck stretch."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    ts = pd.date_range("2026-03-01", periods=rows, freq="1min", tz="UTC")
    temperature = 21 + 2 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.1, rows)
    humidity = 50 - 2 * (temperature - 21) + rng.normal(0, 0.5, rows)
    temperature[2000] += 8
    temperature[2500:2620] += 4
    humidity[3000:3100] = humidity[3000]
    return pd.DataFrame(
        {"timestamp": ts, "temperature": temperature.round(2), "humidity": humidity.round(1)}
    )


CHANNELS = ["temperature", "humidity"]


@pytest.mark.parametrize("detector", available_detectors())
def test_the_first_k_rows_get_the_first_k_verdicts_of_the_whole_series(detector: str) -> None:
    frame = series()
    whole = backtest_frame(frame, "timestamp", CHANNELS, TRAIN, detector=detector).verdicts
    for k in (TRAIN, 2003, 2550, 3101):
        part = backtest_frame(frame.iloc[:k], "timestamp", CHANNELS, TRAIN, detector=detector)
        got = part.verdicts
        np.testing.assert_allclose(got.score, whole.score[:k], rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(got.flag, whole.flag[:k])
        np.testing.assert_array_equal(got.kind, whole.kind[:k])


def stream_verdicts(model: ScoringModel, frame: pd.DataFrame) -> pd.DataFrame:
    scorer = model.scorer()
    rows = []
    for record in frame.to_dict("records"):
        verdict = scorer.update(
            record["timestamp"].to_pydatetime(), {c: record[c] for c in CHANNELS}
        )
        rows.append((verdict.score, verdict.flag, verdict.kind, verdict.contributions))
    return pd.DataFrame(rows, columns=["score", "flag", "kind", "contributions"])


@pytest.mark.parametrize("detector", ["ecod", "iforest", "robust_z"])
def test_the_stream_gives_the_batch_verdicts(detector: str) -> None:
    frame = series(seed=1)
    run = backtest_frame(frame, "timestamp", CHANNELS, TRAIN, detector=detector)
    streamed = stream_verdicts(run.model, frame)
    batch = run.verdicts
    np.testing.assert_allclose(streamed["score"], batch.score, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(streamed["flag"].to_numpy(), batch.flag)
    np.testing.assert_array_equal(streamed["kind"].to_numpy(), batch.kind)
    flagged = np.flatnonzero(batch.flag)[:50]
    for i in flagged:
        assert streamed["contributions"][i] == batch.verdict(int(i)).contributions


def test_a_fault_stays_flagged_while_it_lasts() -> None:
    # The default detector: tree, histogram and tail-count detectors saturate at the edge of
    # their training data, so a fault twice as large is no more surprising to them.
    # The fleet's policy: the backtest's recent-past stage judges a lasting fault against the
    # sensor's own recent readings, which come to include it.
    run = backtest_frame(series(seed=2), "timestamp", CHANNELS, TRAIN, policy=ScoringPolicy())
    verdicts = run.verdicts
    shift = slice(2500, 2620)
    assert verdicts.flag[shift].mean() >= 0.8, verdicts.flag[shift].mean()
    assert verdicts.onset[shift].sum() <= 2
    kinds, counts = np.unique(verdicts.kind[shift][verdicts.flag[shift]], return_counts=True)
    assert kinds[counts.argmax()] == "level_shift", dict(zip(kinds, counts, strict=True))
    assert verdicts.flag[2000] and verdicts.kind[2000] == "spike"
    assert verdicts.lead()[2000] == "temperature"
    assert "stuck" in set(verdicts.kind[3000:3100])
    quiet = slice(TRAIN, 1990)  # no fault between the training rows and the spike
    assert verdicts.flag[quiet].mean() < 0.05
