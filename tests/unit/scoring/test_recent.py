"""The recent-past stage: causal, chunk-independent, adapts to a new normal, never saturates."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt

from sensorguard.scoring.recent import MIN_RECENT_ROWS, RecentPrior, judge

F = npt.NDArray[np.float64]
ROWS, SHORT = 300, 10
PRIOR = RecentPrior(0.43, 0.43)  # surprise of normal rows: -log10 of a uniform


def score(surprise: F, values: F, past_s: F | None = None, past_v: F | None = None) -> F:
    return judge(
        surprise,
        values,
        past_surprise=np.empty(0) if past_s is None else past_s,
        past_values=np.empty((0, values.shape[1])) if past_v is None else past_v,
        rows=ROWS,
        short=SHORT,
        margin=0.02,
        prior=PRIOR,
    )


def normal_surprise(rng: np.random.Generator, n: int) -> F:
    result: F = -np.log10(rng.uniform(size=n))
    return result


def test_chunks_with_their_past_get_the_scores_of_the_whole_series() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    surprise = normal_surprise(rng, n)
    surprise[rng.integers(0, n, 40)] = np.nan  # rows without a score are skipped, not zeros
    values = np.column_stack([rng.normal(0, 1, n), rng.normal(5, 2, n)])
    values[700:720, 0] += 9  # a new extreme on one channel
    whole = score(surprise, values)
    cuts = np.unique(np.concatenate([[0, n], rng.integers(1, n, 30)]))
    parts = [
        score(surprise[a:b], values[a:b], surprise[:a], values[:a])
        for a, b in itertools.pairwise(cuts)
    ]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert whole[700] == math.log10(ROWS + 1), "the extreme must score for the test to mean much"


def test_a_lasting_new_normal_stops_scoring_once_the_window_has_seen_it() -> None:
    rng = np.random.default_rng(1)
    before, after = normal_surprise(rng, 1000), 3.0 + normal_surprise(rng, 1500)
    surprise = np.concatenate([before, after])  # the frozen model finds every later row odd
    values = np.zeros((len(surprise), 1))
    scores = score(surprise, values)
    assert scores[1000 + SHORT] > 5.0, "the change itself is news"
    settled = scores[1000 + ROWS + 2 * SHORT :]
    assert np.mean(settled >= 3.0) < 0.01, np.mean(settled >= 3.0)


def test_a_new_extreme_needs_a_margin_and_enough_past() -> None:
    rng = np.random.default_rng(2)
    past_v = rng.uniform(0.0, 10.0, (ROWS, 1))
    past_v[0, 0], past_v[1, 0] = 0.0, 10.0  # the range is exactly 0..10
    past_s = normal_surprise(rng, ROWS + SHORT)
    quiet = np.zeros(4)
    got = score(quiet, np.array([[10.1], [10.5], [-0.5], [5.0]]), past_s, past_v)
    extreme = math.log10(ROWS + 1)
    assert got[0] < extreme  # within 2 % of the range: not news
    assert got[1] == extreme and got[2] == extreme
    assert got[3] < extreme
    few = score(quiet[:1], np.array([[50.0]]), past_s[:20], past_v[: MIN_RECENT_ROWS - 1])
    assert few[0] < extreme, "too little past to know its range"


def test_a_new_sensor_is_judged_against_the_calibration_rows() -> None:
    typical = score(np.full(SHORT, PRIOR.mean), np.zeros((SHORT, 1)))
    assert abs(typical[-1] - -math.log10(0.5)) < 1e-9  # the prior's mean: one in two


def test_scores_keep_growing_far_into_the_tail() -> None:
    rng = np.random.default_rng(3)
    past = normal_surprise(rng, ROWS + SHORT)
    levels = np.array([5.0, 20.0, 80.0, 200.0])
    got = [
        score(np.full(SHORT, level), np.zeros((SHORT, 1)), past, np.zeros((ROWS, 1)))[-1]
        for level in levels
    ]
    assert all(np.isfinite(got)) and np.all(np.diff(got) > 0), got


def test_a_silence_longer_than_any_recent_one_is_news_after_earlier_faults() -> None:
    rng = np.random.default_rng(4)
    past_s = normal_surprise(rng, ROWS + SHORT)
    past_s[-50:-20] = 300.0  # an earlier fault: the window's spread is huge now
    past_gaps = np.full(ROWS, 60.0)
    past_gaps[5] = 200.0  # the longest silence seen lately
    got = judge(
        np.array([0.5, 0.5]),
        np.zeros((2, 1)),
        past_surprise=past_s,
        past_values=np.zeros((ROWS, 1)),
        rows=ROWS,
        short=SHORT,
        margin=0.02,
        prior=PRIOR,
        gaps=np.array([190.0, 600.0]),
        past_gaps=past_gaps,
    )
    extreme = math.log10(ROWS + 1)
    assert got[0] < extreme  # no longer than the 200 s seen lately
    assert got[1] == extreme
