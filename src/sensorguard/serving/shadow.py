"""Champion and challenger on the same live readings: the evidence shadow scoring collects.

The stream scorer writes the champion's verdicts to `scores` and the @challenger's to
`shadow_scores` (never alerted on). :func:`compare_shadow` pairs them by (sensor_id, ts) and
says how often they agree, how often each flags, and how many alerts each would have raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sensorguard.schemas import Score
    from sensorguard.settings import Settings
    from sensorguard.specs import GatePolicy
    from sensorguard.store import TimeSeriesStore


@dataclass(frozen=True)
class ShadowSide:
    versions: tuple[str, ...]
    flagged: int
    alerts: int  # episodes opened: what would have reached an operator
    alerts_per_sensor_day: float | None


@dataclass(frozen=True)
class ShadowComparison:
    readings: int  # scored by both
    sensors: int
    hours: float  # time the compared readings span
    agreement: float | None  # share of readings with the same flag
    score_correlation: float | None  # Spearman, over the compared readings
    champion: ShadowSide
    challenger: ShadowSide

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def episode_onsets(scores: Sequence[Score]) -> list[Score]:
    """The first flagged verdict of each episode (a flag after an unflagged reading of the
    same sensor, or a sensor's first verdict when flagged), in time order."""
    onsets: list[Score] = []
    before: dict[str, bool] = {}
    for s in sorted(scores, key=lambda s: (s.sensor_id, s.ts)):
        if s.flag and not before.get(s.sensor_id, False):
            onsets.append(s)
        before[s.sensor_id] = s.flag
    return sorted(onsets, key=lambda s: s.ts)


def _side(scores: Sequence[Score], sensor_days: float) -> ShadowSide:
    alerts = len(episode_onsets(scores))
    return ShadowSide(
        versions=tuple(sorted({s.model_version for s in scores})),
        flagged=sum(s.flag for s in scores),
        alerts=alerts,
        alerts_per_sensor_day=alerts / sensor_days if sensor_days > 0 else None,
    )


def compare_shadow(
    store: TimeSeriesStore, sensor_ids: Sequence[str], start: datetime, end: datetime
) -> ShadowComparison:
    """Pair the stored champion and challenger verdicts of these sensors in [start, end)."""
    from scipy.stats import spearmanr

    champion = {(s.sensor_id, s.ts): s for s in store.read_scores(sensor_ids, start, end)}
    challenger = {
        (s.sensor_id, s.ts): s for s in store.read_scores(sensor_ids, start, end, shadow=True)
    }
    keys = sorted(champion.keys() & challenger.keys())
    ours = [champion[k] for k in keys]
    theirs = [challenger[k] for k in keys]
    span_h = (keys[-1][1] - keys[0][1]).total_seconds() / 3600 if keys else 0.0
    sensors = {k[0] for k in keys}
    # Sensor-days actually covered, so a short window does not inflate alert rates.
    sensor_days = len(sensors) * span_h / 24
    agreement = float(np.mean([a.flag == b.flag for a, b in zip(ours, theirs, strict=True)]))
    correlation = None
    if len(keys) > 2:
        rho = spearmanr([a.score for a in ours], [b.score for b in theirs]).statistic
        correlation = float(rho) if np.isfinite(rho) else None
    return ShadowComparison(
        readings=len(keys),
        sensors=len(sensors),
        hours=span_h,
        agreement=agreement if keys else None,
        score_correlation=correlation,
        champion=_side(ours, sensor_days),
        challenger=_side(theirs, sensor_days),
    )


def shadow_problems(comparison: ShadowComparison, gate: GatePolicy) -> list[str]:
    """Why the shadow evidence does not (yet) allow promoting the challenger; empty: it does."""
    problems = []
    if comparison.readings == 0:
        problems.append("no reading was scored by both champion and challenger yet")
    if comparison.hours < gate.shadow_hours:
        problems.append(
            f"shadow scoring covers {comparison.hours:.1f} h, the gate wants "
            f"{gate.shadow_hours:g} h (gate.shadow_hours)"
        )
    cap = gate.max_false_alarms_per_sensor_day
    rate = comparison.challenger.alerts_per_sensor_day
    if cap is not None and (rate is None or rate > cap):
        shown = "unknown" if rate is None else f"{rate:.2f}"
        problems.append(
            f"the challenger would have raised {shown} alerts per sensor-day, above the cap "
            f"{cap:g} (gate.max_false_alarms_per_sensor_day)"
        )
    return problems


def group_shadow(
    settings: Settings, group: str, start: datetime, end: datetime
) -> ShadowComparison:
    """The shadow comparison of a group's sensors over [start, end), from the configured store."""
    from sensorguard.pipelines.training import group_sensor_ids
    from sensorguard.specs import load_configured_specs
    from sensorguard.wiring import open_configured_store

    spec = load_configured_specs(settings)[group]
    store = open_configured_store(settings)
    try:
        return compare_shadow(store, group_sensor_ids(settings, spec), start, end)
    finally:
        store.close()
