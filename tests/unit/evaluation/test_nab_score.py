"""The NAB scorer against hand-computed cases and against NAB's own published numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensorguard.evaluation import nab

STANDARD = nab.PROFILES["standard"]


def sigmoid_by_hand(x: float) -> float:
    return -1.0 if x > 3 else 2 / (1 + math.exp(5 * x)) - 1


def minutes(n: int) -> np.ndarray:
    return np.datetime64("2024-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(1, "m")


@pytest.mark.parametrize(
    ("position", "expected"),
    [(-1.0, 0.98661), (-0.5, 0.84828), (0.0, 0.0), (1.0, -0.98661), (3.5, -1.0)],
)
def test_scaled_sigmoid_matches_nab_documentation(position: float, expected: float) -> None:
    assert nab.scaled_sigmoid(np.array([position]))[0] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(("rows", "probation"), [(1127, 169), (4032, 604), (22695, 750), (10, 1)])
def test_probation_is_15_percent_capped_at_750(rows: int, probation: int) -> None:
    assert nab.probation_length(rows) == probation


def test_tiny_file_scored_by_hand() -> None:
    ts = minutes(20)
    window = [(ts[10], ts[13])]  # rows 10..13, width 4
    swept = nab.sweep_file(ts, window, probation=2)
    scores = np.zeros(20)
    scores[[1, 5, 11, 12, 15]] = 1.0  # 1: probation (ignored), 5: FP before the window,
    # 11 and 12: inside (only the earliest counts), 15: FP two rows after the window
    result = nab.score_file(swept, scores, 0.5, STANDARD)
    tp = sigmoid_by_hand(-(13 - 11 + 1) / 4) / sigmoid_by_hand(-1.0)
    fp_before = -1.0 * 0.11
    fp_after = sigmoid_by_hand((15 - 13) / (4 - 1)) * 0.11
    assert result.score == pytest.approx(tp + fp_before + fp_after)
    assert (result.tp, result.fp, result.fn) == (2, 2, 2)
    assert result.tn == 20 - 2 - 4 - 2


def test_missed_window_costs_fn_weight_and_detection_at_first_row_is_worth_tp_weight() -> None:
    ts = minutes(30)
    swept = nab.sweep_file(ts, [(ts[5], ts[9]), (ts[20], ts[24])], probation=0)
    scores = np.zeros(30)
    scores[20] = 1.0
    low_fn = nab.PROFILES["reward_low_FN_rate"]
    assert nab.score_file(swept, scores, 0.5, low_fn).score == pytest.approx(1.0 - 2.0)


def numenta_speed_7578(fixtures: Path) -> tuple[nab.SweptFile, np.ndarray]:
    data = pd.read_csv(fixtures / "speed_7578.csv")
    ts = pd.to_datetime(data["timestamp"])
    windows = json.loads((fixtures / "speed_7578_windows.json").read_text())
    swept = nab.sweep_file(
        ts.to_numpy("datetime64[ns]"),
        [(np.datetime64(a, "ns"), np.datetime64(b, "ns")) for a, b in windows],
    )
    sparse = pd.read_csv(fixtures / "numenta_speed_7578_sparse.csv", parse_dates=["timestamp"])
    scores = np.zeros(len(ts))
    row = {t: i for i, t in enumerate(ts)}
    for t, s in zip(sparse["timestamp"], sparse["anomaly_score"], strict=True):
        scores[row[t]] = s
    return swept, scores


@pytest.mark.parametrize("profile", sorted(nab.PROFILES))
def test_reproduces_numenta_htm_per_row_scores_published_by_nab(
    profile: str, nab_fixtures: Path
) -> None:
    """NAB's results/numenta/realTraffic/numenta_speed_7578.csv carries the scorer's own per-row
    output (S(t) columns): one missed window, three detected at different depths, three false
    positives at different distances from the preceding window."""
    fixtures = nab_fixtures
    swept, scores = numenta_speed_7578(fixtures)
    ours = nab.row_contributions(swept, scores, 0.5, nab.PROFILES[profile])
    expected = pd.read_csv(fixtures / "numenta_speed_7578_expected.csv", parse_dates=["timestamp"])
    ts = pd.to_datetime(pd.read_csv(fixtures / "speed_7578.csv")["timestamp"])
    published = np.zeros(len(ts))
    row = {t: i for i, t in enumerate(ts)}
    for t, value in zip(expected["timestamp"], expected[profile], strict=True):
        published[row[t]] = value
    np.testing.assert_allclose(ours, published, atol=1e-9)
    assert nab.score_file(swept, scores, 0.5, nab.PROFILES[profile]).score == pytest.approx(
        published.sum()
    )


def test_threshold_sweep_equals_scoring_every_threshold() -> None:
    rng = np.random.default_rng(7)
    files = []
    for i in range(4):
        n = 300
        ts = minutes(n)
        starts = sorted(rng.choice(np.arange(60, n - 30), size=2, replace=False))
        windows = [(ts[s], ts[s + 10]) for s in starts]
        scores = np.round(rng.random(n), 2)  # ties on purpose
        files.append((nab.sweep_file(ts, windows, name=str(i)), scores))
    for profile in nab.PROFILES.values():
        sweep = nab.sweep_thresholds(files, profile)
        for threshold, score in zip(sweep.thresholds, sweep.scores, strict=True):
            assert nab.score_corpus(files, threshold, profile)[0].score == pytest.approx(score)
        best_threshold, best = nab.optimize_threshold(files, profile)
        candidates = np.unique(np.concatenate([s for _, s in files]))
        brute = max(nab.score_corpus(files, t, profile)[0].score for t in candidates)
        assert best == pytest.approx(max(brute, nab.null_score([f for f, _ in files], profile)))
        assert nab.score_corpus(files, best_threshold, profile)[0].score == pytest.approx(best)


def test_null_detector_reproduces_published_per_file_results(nab_corpus: Path) -> None:
    windows = nab.load_windows(nab_corpus / "labels" / "combined_windows.json")
    for profile_name, profile in nab.load_profiles(nab_corpus / "config" / "profiles.json").items():
        path = nab_corpus / "results" / "null" / f"null_{profile_name}_scores.csv"
        published = pd.read_csv(path, keep_default_na=False)  # "null" is the detector's name
        published = published[published["Detector"] == "null"].set_index("File")
        assert len(published) == 58
        for name, row in published.iterrows():
            data = pd.read_csv(nab_corpus / "data" / str(name))
            swept = nab.sweep_file(data["timestamp"].to_numpy("datetime64[ns]"), windows[str(name)])
            ours = nab.score_file(swept, np.zeros(len(data)), 0.5, profile)
            assert (ours.tp, ours.tn, ours.fp, ours.fn) == (row.TP, row.TN, row.FP, row.FN), name
            assert ours.score == pytest.approx(row.Score), name


def test_normalisation_reproduces_the_published_scoreboard(nab_corpus: Path) -> None:
    windows = nab.load_windows(nab_corpus / "labels" / "combined_windows.json")
    n_windows = sum(len(w) for w in windows.values())
    profiles = nab.load_profiles(nab_corpus / "config" / "profiles.json")
    final = json.loads((nab_corpus / "results" / "final_results.json").read_text())
    # NAB's null detector misses every window: -fnWeight each (no window is in a probation).
    null_raw = {p: -profiles[p].fn_weight * n_windows for p in profiles}
    checked = 0
    for detector, scores in final.items():
        for profile_name, published in scores.items():
            path = nab_corpus / "results" / detector / f"{detector}_{profile_name}_scores.csv"
            table = pd.read_csv(path)
            if table["File"].notna().sum() != len(windows):
                continue  # "random" kept score files from an older, smaller corpus
            raw = float(table["Score"].iloc[-1])  # the "Totals" row
            checked += 1
            perfect = nab.perfect_score(n_windows, profiles[profile_name])
            ours = nab.normalized_score(raw, null_raw[profile_name], perfect)
            assert ours == pytest.approx(published, abs=1e-6), (detector, profile_name)
    assert checked >= 3 * 13
