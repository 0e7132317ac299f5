"""A trained group model as one picklable object: detector + FeatureSpec + threshold."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sensorguard.errors import ValidationFailed

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from sensorguard.detectors import Detector
    from sensorguard.specs import DetectorChoice, ModelSpec
    from sensorguard.transforms import FeatureSpec


@dataclass
class DetectorBundle:
    """What scoring needs: the fitted detector, the features it expects, the flag threshold.

    `predict` takes either readings (sensor_id, ts and the channel columns; each sensor's
    rows are its history in any order) or precomputed feature columns, and answers one row
    per input row: score (higher = more anomalous), flag (score > threshold), threshold.
    """

    group: str
    detector_label: str
    detector: Detector
    feature_spec: FeatureSpec
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        from sensorguard.transforms import feature_names

        return feature_names(self.feature_spec)

    def score_features(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        return self.detector.decision_function(features[self.feature_names])

    def features_of(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Features of readings of one or more sensors, aligned with the input rows."""
        import pandas as pd

        from sensorguard.training.dataset import compute_group_features

        missing = [c for c in ("ts", *self.feature_spec.channels) if c not in readings.columns]
        if missing:
            raise ValidationFailed(
                "model input",
                sorted(map(str, readings.columns)),
                f"the feature columns {self.feature_names[:3]}... or readings with columns "
                f"ts, {', '.join(self.feature_spec.channels)} (missing {missing[0]!r})",
            )
        frame = readings.reset_index(drop=True)
        if "sensor_id" not in frame.columns:
            # Rows without ids are one sensor's history.
            frame = frame.assign(sensor_id="_")
        frame = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))
        ordered = frame.sort_values(["sensor_id", "ts"], kind="stable")
        features = compute_group_features(ordered, self.feature_spec).sort_index()
        features.index = readings.index
        return features

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        names = self.feature_names
        features = frame if all(n in frame.columns for n in names) else self.features_of(frame)
        scores = self.score_features(features)
        return pd.DataFrame(
            {
                "score": scores,
                "flag": scores > self.threshold,
                "threshold": float(self.threshold),
            },
            index=frame.index,
        )


def fit_bundle(
    spec: ModelSpec, choice: DetectorChoice, train_features: pd.DataFrame
) -> tuple[DetectorBundle, npt.NDArray[np.float64]]:
    """Fit one candidate on training features; its threshold comes from those rows only.

    Returns the bundle and the candidate's scores on its training rows.
    """
    import numpy as np

    from sensorguard.detectors import make_detector

    policy = spec.threshold
    contamination = policy.contamination if policy.method == "contamination" else 1 - policy.level
    started = time.perf_counter()
    detector = make_detector(choice.name, contamination=contamination, **choice.params)
    names = list(train_features.columns)
    detector.fit(train_features[names])
    train_scores = detector.decision_function(train_features[names])
    threshold = float(np.quantile(train_scores, policy.level))
    if not np.isfinite(threshold):
        raise ValidationFailed(
            "threshold", threshold, f"a finite score quantile (detector {choice.label})"
        )
    bundle = DetectorBundle(
        group=spec.group,
        detector_label=choice.label,
        detector=detector,
        feature_spec=spec.feature_spec,
        threshold=threshold,
        info={
            "fit_seconds": time.perf_counter() - started,
            "n_train_rows": len(train_features),
            "threshold_method": policy.method,
            "threshold_level": policy.level,
        },
    )
    return bundle, train_scores
