"""Drift measures of two frames by Evidently (features, scores) and the policy's verdict on them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sensorguard.drift.records import ColumnDrift
from sensorguard.errors import ValidationFailed

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.specs import DriftPolicy

SCORE_COLUMN = "score"
FLAG_COLUMN = "flag"
# Normed Wasserstein distance: the shift in units of the reference's standard deviation, the
# same scale for every feature and every sample size (a p-value test flags everything once
# the windows hold thousands of rows).
FEATURE_METHOD = "wasserstein"
# Below one flagged reading in a hundred a ratio of flag rates is noise: rates are compared
# against at least this.
FLAG_RATE_FLOOR = 0.01


@dataclass(frozen=True)
class DriftMeasures:
    """What Evidently measured between a reference and a current frame (before any verdict)."""

    features: tuple[ColumnDrift, ...]
    drifted_share: float
    score_shift: float | None
    score_psi: float | None
    reference_flag_rate: float | None
    current_flag_rate: float | None
    reference_rows: int
    current_rows: int
    skipped_columns: tuple[str, ...] = ()
    report_path: str | None = None


def _flag_rate(frame: pd.DataFrame) -> float | None:
    if FLAG_COLUMN not in frame.columns or frame.empty:
        return None
    return float(frame[FLAG_COLUMN].astype(bool).mean())


def _value_drifts(snapshot: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(column, method) -> drift score of every ValueDrift metric in a snapshot's `.dict()`."""
    out: dict[tuple[str, str], float] = {}
    for metric in snapshot.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        value = metric.get("value")
        if isinstance(value, int | float):
            out[(str(config["column"]), str(config.get("method", "")))] = float(value)
    return out


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    policy: DriftPolicy,
    *,
    html_path: Path | None = None,
) -> DriftMeasures:
    """Evidently's drift of each of `columns` and of the score column; flag rates; HTML report.

    Both frames carry `columns`, and optionally `score` (the champion's surprise) and `flag`.
    A column that is NaN throughout either frame cannot be compared and is left out (and
    listed in `skipped_columns`).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    missing = [c for c in columns if c not in reference.columns or c not in current.columns]
    if missing:
        raise ValidationFailed(
            "drift columns", missing[0], "a column of both the reference and the current rows"
        )
    usable = [c for c in columns if reference[c].notna().any() and current[c].notna().any()]
    skipped = tuple(c for c in columns if c not in usable)
    if not usable:
        raise ValidationFailed("drift columns", list(columns), "at least one column with values")
    has_score = SCORE_COLUMN in reference.columns and SCORE_COLUMN in current.columns
    numeric = [*usable, *([SCORE_COLUMN] if has_score else [])]
    definition = DataDefinition(numerical_columns=numeric)

    def dataset(frame: pd.DataFrame) -> Dataset:
        return Dataset.from_pandas(frame[numeric].astype(float), data_definition=definition)

    metrics: list[Any] = [
        DataDriftPreset(
            columns=usable,
            method=FEATURE_METHOD,
            threshold=policy.column_threshold,
            drift_share=policy.max_drifted_share,
        )
    ]
    if has_score:
        metrics += [
            ValueDrift(column=SCORE_COLUMN, method=FEATURE_METHOD),
            ValueDrift(column=SCORE_COLUMN, method="psi"),
        ]
    with warnings.catch_warnings():
        # Constant columns (stale_s of a sensor that never goes quiet) make Evidently divide
        # by zero in its histograms; their distance is still defined and 0.
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = Report(metrics).run(
            current_data=dataset(current), reference_data=dataset(reference)
        )
    values = _value_drifts(snapshot.dict())
    features = tuple(
        ColumnDrift(c, score, score >= policy.column_threshold)
        for c in usable
        for score in [values.get((c, FEATURE_METHOD), math.nan)]
    )
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    return DriftMeasures(
        features=features,
        drifted_share=sum(c.drifted for c in features) / len(features),
        score_shift=values.get((SCORE_COLUMN, FEATURE_METHOD)) if has_score else None,
        score_psi=values.get((SCORE_COLUMN, "psi")) if has_score else None,
        reference_flag_rate=_flag_rate(reference),
        current_flag_rate=_flag_rate(current),
        reference_rows=len(reference),
        current_rows=len(current),
        skipped_columns=skipped,
        report_path=None if html_path is None else str(html_path.absolute()),
    )


def judge(measures: DriftMeasures, policy: DriftPolicy) -> tuple[bool, list[str]]:
    """Whether the measures pass the policy's limits, and a reason per limit passed."""
    reasons = []
    drifted = [c for c in measures.features if c.drifted]
    if measures.features and measures.drifted_share >= policy.max_drifted_share:
        worst = sorted(drifted, key=lambda c: c.score, reverse=True)[:3]
        reasons.append(
            f"{len(drifted)} of {len(measures.features)} features drifted "
            f"(share {measures.drifted_share:.2f} >= {policy.max_drifted_share:g}; most: "
            + ", ".join(f"{c.column} {c.score:.2f}" for c in worst)
            + ")"
        )
    shift = measures.score_shift
    if policy.max_score_shift is not None and shift is not None and shift >= policy.max_score_shift:
        reasons.append(f"score shift {shift:.2f} >= {policy.max_score_shift:g}")
    before, now = measures.reference_flag_rate, measures.current_flag_rate
    ratio = policy.max_flag_rate_ratio
    if ratio is not None and before is not None and now is not None:
        expected = max(before, FLAG_RATE_FLOOR)
        if now >= ratio * expected:
            reasons.append(f"flag rate {before:.1%} -> {now:.1%} (>= {ratio:g} x {expected:.1%})")
    return bool(reasons), reasons
