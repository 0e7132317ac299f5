"""The Numenta Anomaly Benchmark score: windows, scaled-sigmoid weighting, threshold sweep.

Follows NAB v1.1 (`nab/sweeper.py`, `nab/optimizer.py`, `nab/runner.py`) exactly:

* Every labelled window is worth ``tpWeight`` if detected at its first row, less the later the
  first detection inside it comes (scaled sigmoid of the position relative to the window's right
  edge); only the earliest detection in a window counts, an undetected window costs ``fnWeight``.
* A detection outside any window costs ``fpWeight`` times a scaled sigmoid of its distance past
  the preceding window (a full ``fpWeight`` before the first window).
* The first 15 % of each file (at most 750 rows) is the probationary period: never scored.
* A corpus is scored at one threshold (detection = anomaly score >= threshold); the published
  scores use the single best threshold per profile over the whole corpus, then normalise
  ``100 * (raw - null) / (perfect - null)`` where the null detector misses every window and the
  perfect one detects every window at its first row.

Vectorised with numpy: a whole-corpus threshold sweep over ~365k rows takes well under a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sensorguard.errors import ConfigError, ValidationFailed
from sensorguard.evaluation.metrics import runs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PROBATION_FRACTION = 0.15
"""NAB's probationary period: this fraction of each file ..."""
PROBATION_MAX_ROWS_BASE = 5000
"""... capped at ``PROBATION_FRACTION * PROBATION_MAX_ROWS_BASE`` (= 750) rows."""

# Row kinds inside a swept file.
_PROBATION = -2
_OUTSIDE = -1


@dataclass(frozen=True)
class CostMatrix:
    """One NAB application profile: how much a detected window, a miss and a false alarm weigh."""

    tp_weight: float
    fp_weight: float
    fn_weight: float
    tn_weight: float = 1.0


# Verbatim from NAB's config/profiles.json; `load_profiles` reads the file itself when given.
PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": CostMatrix(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


def load_profiles(path: Path) -> dict[str, CostMatrix]:
    """Read a NAB ``profiles.json`` (``{name: {"CostMatrix": {"tpWeight": ...}}}``)."""
    try:
        raw = json.loads(path.read_text())
        return {
            name: CostMatrix(
                tp_weight=float(body["CostMatrix"]["tpWeight"]),
                fp_weight=float(body["CostMatrix"]["fpWeight"]),
                fn_weight=float(body["CostMatrix"]["fnWeight"]),
                tn_weight=float(body["CostMatrix"].get("tnWeight", 1.0)),
            )
            for name, body in raw.items()
        }
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path}: not a NAB profiles file ({err})") from err


Window = tuple[np.datetime64, np.datetime64]


def load_windows(path: Path) -> dict[str, list[Window]]:
    """Read NAB's ``combined_windows.json``: data file -> list of (start, end) timestamps."""
    try:
        raw: dict[str, list[list[str]]] = json.loads(path.read_text())
        return {
            name: [(np.datetime64(start, "ns"), np.datetime64(end, "ns")) for start, end in pairs]
            for name, pairs in raw.items()
        }
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"{path}: not a NAB windows file ({err})") from err


def probation_length(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """Rows at the start of a file that NAB never scores: min(floor(15 %), 750)."""
    return int(min(math.floor(fraction * n_rows), fraction * PROBATION_MAX_ROWS_BASE))


def scaled_sigmoid(position: FloatArray) -> FloatArray:
    """NAB's weighting: ~+1 at a window's left edge (-1.0), 0 at its right edge, -> -1 after.

    ``2 * sigmoid(-5 x) - 1``, and exactly -1 beyond 3 window-lengths past the edge.
    """
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position > 3.0, -1.0, value)


_MAX_TP = float(scaled_sigmoid(np.array([-1.0]))[0])


@dataclass(frozen=True)
class SweptFile:
    """Profile-free, per-row NAB weights of one file, ready to be scored at any threshold.

    ``kind[i]`` is the window index the row belongs to, ``-1`` outside every window and ``-2``
    inside the probationary period; ``weight[i]`` is the unweighted scaled sigmoid (divided by
    its maximum inside windows, so the first row of a window is worth exactly 1).
    """

    name: str
    kind: IntArray
    weight: FloatArray
    n_windows: int  # windows with at least one row past the probationary period

    @property
    def n_rows(self) -> int:
        return len(self.kind)


def sweep_file(
    timestamps: npt.ArrayLike,
    windows: Sequence[Window],
    *,
    probation: int | None = None,
    name: str = "",
) -> SweptFile:
    """Place every row of a file relative to its labelled windows (NAB's ``calcSweepScore``).

    Rows are taken in file order (NAB's own data has a few out-of-order and repeated
    timestamps). A window runs from the first row at or after its start to the first row
    stamped with its end (else the last row at or before it). ``probation`` defaults to NAB's
    :func:`probation_length`.
    """
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    n = len(ts)
    prob = probation_length(n) if probation is None else int(probation)
    kind = np.full(n, _OUTSIDE, dtype=np.int64)
    weight = np.full(n, -1.0)  # before any window: a full false positive
    bounds: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        after_start = np.flatnonzero(ts >= start)
        exact_end = np.flatnonzero(ts == end)
        before_end = np.flatnonzero(ts <= end)
        if not len(after_start) or not len(before_end):
            continue
        left = int(after_start[0])
        right = int(exact_end[0]) if len(exact_end) else int(before_end[-1])
        if right >= left:
            bounds.append((left, right))
    for k, (left, right) in enumerate(bounds):
        width = right - left + 1
        rows = np.arange(left, right + 1)
        kind[left : right + 1] = k
        weight[left : right + 1] = scaled_sigmoid(-(right - rows + 1) / width) / _MAX_TP
        stop = bounds[k + 1][0] if k + 1 < len(bounds) else n
        after = np.arange(right + 1, stop)
        if len(after):
            # NAB divides by (width - 1); a one-row window would divide by zero there.
            weight[right + 1 : stop] = scaled_sigmoid((after - right) / max(width - 1, 1))
    kind[: min(prob, n)] = _PROBATION
    scored = np.unique(kind[kind >= 0])
    return SweptFile(name=name, kind=kind, weight=weight, n_windows=len(scored))


@dataclass(frozen=True)
class NabResult:
    """Raw NAB score of a file or corpus at one threshold, with NAB's row counts."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.tn + self.fp + self.fn


def score_file(
    swept: SweptFile, anomaly_scores: npt.ArrayLike, threshold: float, profile: CostMatrix
) -> NabResult:
    """NAB score of one file when every row with ``anomaly_score >= threshold`` is a detection."""
    scores = np.asarray(anomaly_scores, dtype=np.float64)
    if scores.shape != swept.kind.shape:
        raise ValidationFailed(
            "anomaly_scores", scores.shape, f"one score per row {swept.kind.shape}"
        )
    detected = scores >= threshold
    scorable = swept.kind != _PROBATION
    inside = swept.kind >= 0
    outside = swept.kind == _OUTSIDE
    total = profile.fp_weight * float(swept.weight[detected & outside].sum())
    for k in np.unique(swept.kind[inside]):
        hits = detected & (swept.kind == k)
        if hits.any():
            total += profile.tp_weight * float(swept.weight[hits].max())
        else:
            total -= profile.fn_weight
    return NabResult(
        threshold=float(threshold),
        score=total,
        tp=int((detected & inside).sum()),
        fp=int((detected & outside).sum()),
        tn=int((~detected & outside).sum()),
        fn=int((~detected & inside & scorable).sum()),
    )


def row_contributions(
    swept: SweptFile, anomaly_scores: npt.ArrayLike, threshold: float, profile: CostMatrix
) -> FloatArray:
    """Each row's share of the file score, laid out like NAB's ``S(t)_<profile>`` column.

    A window's whole contribution (its earliest detection, or the miss) sits on its first
    scorable row; each false positive carries its own weight; every other row is 0.
    """
    scores = np.asarray(anomaly_scores, dtype=np.float64)
    detected = scores >= threshold
    out = np.zeros(len(scores))
    fp = detected & (swept.kind == _OUTSIDE)
    out[fp] = profile.fp_weight * swept.weight[fp]
    for k in np.unique(swept.kind[swept.kind >= 0]):
        rows = np.flatnonzero(swept.kind == k)
        hits = detected[rows]
        out[rows[0]] = (
            profile.tp_weight * float(swept.weight[rows[hits]].max())
            if hits.any()
            else -profile.fn_weight
        )
    return out


def score_corpus(
    files: Iterable[tuple[SweptFile, npt.ArrayLike]], threshold: float, profile: CostMatrix
) -> tuple[NabResult, list[NabResult]]:
    """Score every file at one threshold; returns the corpus total and the per-file results."""
    per_file = [score_file(swept, scores, threshold, profile) for swept, scores in files]
    total = NabResult(
        threshold=float(threshold),
        score=sum(r.score for r in per_file),
        tp=sum(r.tp for r in per_file),
        tn=sum(r.tn for r in per_file),
        fp=sum(r.fp for r in per_file),
        fn=sum(r.fn for r in per_file),
    )
    return total, per_file


@dataclass(frozen=True)
class ThresholdSweep:
    """Raw corpus score at every distinct threshold, highest threshold first."""

    thresholds: FloatArray
    scores: FloatArray

    def best(self) -> tuple[float, float]:
        """(threshold, score) of the best threshold; ties go to the higher threshold, as NAB."""
        i = int(np.argmax(self.scores))
        return float(self.thresholds[i]), float(self.scores[i])


def sweep_thresholds(
    files: Iterable[tuple[SweptFile, npt.ArrayLike]], profile: CostMatrix
) -> ThresholdSweep:
    """The corpus score for every threshold at once (NAB's ``calcScoreByThreshold``).

    Rows are taken from the highest anomaly score down; each one either adds its false-positive
    weight or, inside a window, may improve that window's best (earliest) detection. The score
    at threshold ``t`` counts every row with ``anomaly_score >= t``.
    """
    all_scores: list[FloatArray] = []
    increments: list[FloatArray] = []
    base = 0.0
    for swept, raw in files:
        scores = np.asarray(raw, dtype=np.float64)
        if scores.shape != swept.kind.shape:
            raise ValidationFailed(
                "anomaly_scores", scores.shape, f"one score per row of {swept.name or 'file'}"
            )
        keep = swept.kind != _PROBATION
        kind, weight, scores = swept.kind[keep], swept.weight[keep], scores[keep]
        inc = np.where(kind == _OUTSIDE, profile.fp_weight * weight, 0.0)
        order = np.argsort(-scores, kind="stable")
        for k in np.unique(kind[kind >= 0]):
            rows = order[kind[order] == k]  # this window's rows, highest anomaly score first
            best = np.maximum.accumulate(profile.tp_weight * weight[rows])
            inc[rows] = np.diff(best, prepend=-profile.fn_weight)
            base -= profile.fn_weight
        all_scores.append(scores)
        increments.append(inc)
    scores = np.concatenate(all_scores) if all_scores else np.empty(0)
    inc = np.concatenate(increments) if increments else np.empty(0)
    order = np.argsort(-scores, kind="stable")
    scores, running = scores[order], base + np.cumsum(inc[order])
    # The last row of each run of equal anomaly scores closes that threshold.
    last_of_run = np.append(scores[1:] != scores[:-1], True) if len(scores) else np.empty(0, bool)
    top = 1.1 if not len(scores) or scores[0] <= 1.0 else float(np.nextafter(scores[0], np.inf))
    return ThresholdSweep(
        thresholds=np.concatenate([[top], scores[last_of_run]]),
        scores=np.concatenate([[base], running[last_of_run]]),
    )


def optimize_threshold(
    files: Sequence[tuple[SweptFile, npt.ArrayLike]], profile: CostMatrix
) -> tuple[float, float]:
    """NAB's optimiser: the single threshold with the best raw score over the corpus."""
    return sweep_thresholds(files, profile).best()


def null_score(files: Iterable[SweptFile], profile: CostMatrix) -> float:
    """Raw score of the detector that never fires: every scorable window missed."""
    return -profile.fn_weight * sum(f.n_windows for f in files)


def perfect_score(n_windows: int, profile: CostMatrix) -> float:
    """Raw score of the detector that fires on the first row of every window."""
    return profile.tp_weight * n_windows


def normalized_score(raw: float, null: float, perfect: float) -> float | None:
    """NAB's 0 (null detector) .. 100 (perfect) scale; None when nothing can be detected."""
    if perfect == null:
        return None
    return 100.0 * (raw - null) / (perfect - null)


def windows_from_labels(timestamps: npt.ArrayLike, labels: npt.ArrayLike) -> list[Window]:
    """Contiguous runs of label 1 as (first, last) timestamp windows."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    starts, ends = runs(labels)
    return [(ts[s], ts[e]) for s, e in zip(starts, ends, strict=True)]


def file_report(
    timestamps: npt.ArrayLike,
    detections: npt.ArrayLike,
    windows: Sequence[Window],
    *,
    probation: int,
    profiles: Mapping[str, CostMatrix] = PROFILES,
) -> dict[str, Any]:
    """NAB scores of one file's binary detections on every profile (raw and normalised)."""
    swept = sweep_file(timestamps, windows, probation=probation)
    flags = np.asarray(detections, dtype=np.float64)
    out: dict[str, Any] = {"windows": swept.n_windows}
    for name, profile in profiles.items():
        result = score_file(swept, flags, 0.5, profile)
        out[name] = {
            "raw": result.score,
            "normalized": normalized_score(
                result.score, null_score([swept], profile), perfect_score(swept.n_windows, profile)
            ),
        }
    return out
