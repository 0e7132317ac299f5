"""Robust location/scale, even row thinning, bounded score samples: detector helpers (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]


def robust_location_scale(values: F) -> tuple[float, float]:
    """Median and a robust spread (IQR / 1.349, else std, else 1) of the finite values."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, 1.0
    center = float(np.median(finite))
    q1, q3 = np.percentile(finite, [25, 75])
    scale = float(q3 - q1) / 1.349
    if not scale > 0:
        scale = float(np.std(finite))
    if not scale > 0:
        scale = 1.0
    return center, scale


def robust_columns(matrix: F) -> tuple[F, F]:
    """Per-column :func:`robust_location_scale` of a (rows x features) matrix."""
    pairs = [robust_location_scale(matrix[:, j]) for j in range(matrix.shape[1])]
    return np.array([c for c, _ in pairs]), np.array([s for _, s in pairs])


def thin_evenly(n_rows: int, cap: int | None) -> npt.NDArray[np.intp]:
    """Indices of at most ``cap`` rows spread evenly over ``n_rows`` (all rows if under the cap)."""
    if cap is None or n_rows <= cap:
        return np.arange(n_rows)
    return np.unique(np.linspace(0, n_rows - 1, cap).round().astype(np.intp))


# Training scores kept after a fit: enough for the quantiles read from them (the median, the
# 99.5th percentile in backtest) to within 1/2000 in rank, whatever the training rows.
SCORE_SAMPLE_SIZE = 2_000


def score_sample(scores: F, size: int = SCORE_SAMPLE_SIZE) -> F:
    """At most ``size`` of ``scores``, sorted and evenly spaced in rank (minimum and maximum kept).

    Its quantiles are those of ``scores`` to within ``1 / size`` in rank, in bounded memory.
    """
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    return ordered[thin_evenly(len(ordered), size)]


def forget_training_rows(estimator: Any, scores: F) -> None:
    """Replace a fitted PyOD estimator's per-training-row arrays by a bounded sample of ``scores``.

    PyOD keeps ``decision_scores_`` and ``labels_`` for every training row, so a pickled model
    grows with the training set. Its ``check_is_fitted`` wants both attributes to exist, so they
    are replaced (by :func:`score_sample` and its labels), not deleted.
    """
    estimator.decision_scores_ = score_sample(scores)
    estimator.labels_ = (estimator.decision_scores_ > estimator.threshold_).astype(np.int64)
