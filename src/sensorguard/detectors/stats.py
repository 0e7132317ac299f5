"""Robust location/scale and even row thinning, shared by the detectors (numpy only, cheap)."""

from __future__ import annotations

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
