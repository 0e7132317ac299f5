"""The one scoring path (features -> detector -> calibrated score -> flag, kind, contributions).

Importing this package is cheap; numpy loads with the submodules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports

if TYPE_CHECKING:
    from sensorguard.scoring.calibration import Calibrator
    from sensorguard.scoring.episodes import Kind, SensorProfile
    from sensorguard.scoring.model import (
        ScoringModel,
        SensorHistory,
        SensorScorer,
        Verdict,
        Verdicts,
        fit_scoring_model,
    )
    from sensorguard.scoring.policy import ScoringPolicy

__all__ = [
    "Calibrator",
    "Kind",
    "ScoringModel",
    "ScoringPolicy",
    "SensorHistory",
    "SensorProfile",
    "SensorScorer",
    "Verdict",
    "Verdicts",
    "fit_scoring_model",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Calibrator": "calibration",
        "Kind": "episodes",
        "SensorProfile": "episodes",
        "ScoringModel": "model",
        "SensorHistory": "model",
        "SensorScorer": "model",
        "Verdict": "model",
        "Verdicts": "model",
        "fit_scoring_model": "model",
        "ScoringPolicy": "policy",
    },
)
