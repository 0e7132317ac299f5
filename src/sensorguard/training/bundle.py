"""A trained group model as one picklable object: the group's ScoringModel plus training facts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sensorguard.errors import ValidationFailed

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.scoring import ScoringModel, ScoringPolicy, Verdicts
    from sensorguard.specs import DetectorChoice, ModelSpec
    from sensorguard.training.dataset import GroupDataset
    from sensorguard.training.labels import LabelSet, LabelWindow
    from sensorguard.transforms import FeatureSpec

PREDICTION_COLUMNS = ("score", "flag", "threshold", "kind", "contributions")


@dataclass
class DetectorBundle:
    """What scoring needs, in the one scoring path's terms (:mod:`sensorguard.scoring`).

    `predict` takes readings (sensor_id, ts and the channel columns; each sensor's rows are
    its history in any order) and answers one row per input row: score (surprise, the same
    unit in every group), flag (inside a fault episode), threshold (the surprise that opens
    one), kind and contributions (JSON: source -> share) of flagged rows.
    """

    group: str
    detector_label: str
    model: ScoringModel
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_spec(self) -> FeatureSpec:
        return self.model.feature_spec

    @property
    def feature_names(self) -> list[str]:
        return self.model.feature_names

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def verdicts(self, readings: pd.DataFrame) -> Verdicts:
        """Verdicts of readings of one or more sensors, aligned with the input rows."""
        missing = [c for c in ("ts", *self.feature_spec.channels) if c not in readings.columns]
        if missing:
            raise ValidationFailed(
                "model input",
                sorted(map(str, readings.columns)),
                f"readings with columns sensor_id, ts, {', '.join(self.feature_spec.channels)} "
                f"(missing {missing[0]!r})",
            )
        return self.model.score_frame(readings)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        verdicts = self.verdicts(frame)
        contributions = [
            json.dumps(dict(verdicts.verdict(i).contributions)) if verdicts.flag[i] else "{}"
            for i in range(len(verdicts))
        ]
        return pd.DataFrame(
            {
                "score": verdicts.score,
                "flag": verdicts.flag,
                "threshold": float(verdicts.threshold),
                "kind": verdicts.kind.astype(str),
                "contributions": contributions,
            },
            index=frame.index,
        )


def fit_bundle(
    spec: ModelSpec,
    choice: DetectorChoice,
    dataset: GroupDataset,
    labels: LabelSet | Sequence[LabelWindow] = (),
    policy: ScoringPolicy | None = None,
) -> DetectorBundle:
    """Fit one candidate on the dataset's training rows through :func:`fit_scoring_model`.

    Training rows inside a labelled fault window are left out: a known fault must not teach
    the model (or its calibration) that faults are normal. So are maintenance windows. Rows
    of false-alarm windows are confirmed normal: kept, and calibrated on.
    """
    import numpy as np

    from sensorguard.scoring import SensorHistory, fit_scoring_model
    from sensorguard.training.dataset import per_sensor
    from sensorguard.training.labels import LabelSet, in_windows, row_truth

    known = LabelSet.of(labels)
    train = dataset.train_mask.to_numpy()
    readings = dataset.readings[train]
    keys = readings[["sensor_id", "ts"]]
    # Positions of `readings`, as per_sensor's row positions are.
    faulty = row_truth(keys, known.faults).astype(bool)
    excluded = in_windows(keys, known.excluded)
    normal = in_windows(keys, known.normal) & ~faulty & ~excluded
    unlearnable = faulty | excluded
    histories: list[SensorHistory] = []
    learnable = []
    confirmed = []
    for rows, ts, values, features in per_sensor(
        readings, spec.feature_spec, dataset.features[train]
    ):
        histories.append(SensorHistory(ts, values, features))
        learnable.append(~unlearnable[rows])
        confirmed.append(normal[rows])
    any_normal = bool(np.any(normal))
    started = time.perf_counter()
    model = fit_scoring_model(
        choice.name,
        histories,
        spec.feature_spec,
        params=choice.params,
        policy=policy or spec.scoring,
        ranges=dataset.ranges,
        label=choice.label,
        learnable=learnable,
        confirmed_normal=confirmed if any_normal else None,
    )
    return DetectorBundle(
        group=spec.group,
        detector_label=choice.label,
        model=model,
        info={
            "fit_seconds": time.perf_counter() - started,
            "n_train_rows": int(train.sum()),
            "confirmed_normal_rows": int(normal.sum()),
            "maintenance_rows": int(excluded.sum()),
            **model.info,
        },
    )
