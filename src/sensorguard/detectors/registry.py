"""Detector name registry: ``name -> (module, class, defaults)``, resolved lazily with importlib."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sensorguard.errors import ConfigError, NotFound


@dataclass(frozen=True)
class DetectorEntry:
    """Where a detector class lives, the settings we default to, and its training-row cap.

    ``max_train_rows`` bounds fit cost and model size: LOF/KNN/OCSVM fit grows about
    quadratically with rows, and their models keep training rows (all of them, or OCSVM's
    support vectors), so the cap also bounds their size and scoring cost. The others keep a
    fixed-size summary (trees, histograms, components, ECOD/COPOD's sorted sample of at most
    2,000 values per feature): their cap bounds only the fit time. Rows beyond the cap are
    thinned evenly across the training period (deterministic, keeps the whole period
    represented).
    """

    module: str
    cls: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    max_train_rows: int | None = None
    summary: str = ""

    def resolve(self) -> type[Any]:
        module = importlib.import_module(self.module)
        cls: type[Any] = getattr(module, self.cls)
        return cls


REGISTRY: Mapping[str, DetectorEntry] = MappingProxyType(
    {
        "iforest": DetectorEntry(
            "pyod.models.iforest",
            "IForest",
            {"n_estimators": 100, "random_state": 0},
            50_000,
            "isolation forest: random axis splits, anomalies isolate in few splits",
        ),
        "ecod": DetectorEntry(
            "sensorguard.detectors.tails",
            "ECOD",
            {},
            200_000,
            "empirical-CDF tail probabilities per feature, parameter free",
        ),
        "copod": DetectorEntry(
            "sensorguard.detectors.tails",
            "COPOD",
            {},
            200_000,
            "empirical copula tail probabilities, parameter free",
        ),
        "hbos": DetectorEntry(
            "pyod.models.hbos",
            "HBOS",
            {"n_bins": 20},
            200_000,
            "per-feature histograms; fastest, assumes feature independence",
        ),
        "lof": DetectorEntry(
            "pyod.models.lof",
            "LOF",
            {"n_neighbors": 20, "novelty": True},
            5_000,
            "local outlier factor: density relative to the neighbours",
        ),
        "knn": DetectorEntry(
            "pyod.models.knn",
            "KNN",
            {"n_neighbors": 5},
            5_000,
            "distance to the k-th nearest training point",
        ),
        "pca": DetectorEntry(
            "pyod.models.pca",
            "PCA",
            {"random_state": 0},
            200_000,
            "reconstruction error in the minor principal components",
        ),
        "loda": DetectorEntry(
            "pyod.models.loda",
            "LODA",
            {"random_state": 0},
            100_000,
            "ensemble of random 1-d projections with histograms",
        ),
        "ocsvm": DetectorEntry(
            "pyod.models.ocsvm",
            "OCSVM",
            {"nu": 0.1, "gamma": "scale"},
            5_000,
            "one-class SVM (RBF kernel) around the training data",
        ),
        "tail_max": DetectorEntry(
            "sensorguard.detectors.tailmax",
            "TailMax",
            {"tail": 0.02},
            200_000,
            "most surprising feature: rank-based tails, extrapolated past the training extremes",
        ),
        "robust_z": DetectorEntry(
            "sensorguard.detectors.robust_z",
            "RobustZ",
            {"top_k": 1},
            200_000,
            "largest robust z-score over the features; keeps one-feature faults visible",
        ),
        "ensemble": DetectorEntry(
            "sensorguard.detectors.ensemble",
            "ScoreAverage",
            {"members": ("iforest", "hbos", "ecod")},
            10_000,
            "average of member scores, each standardised on its training scores",
        ),
    }
)


class UnknownDetector(NotFound):
    """A detector name that is not in the registry."""

    def __init__(self, name: str):
        super().__init__("detector", name)
        self.args = (f"no detector named {name!r}; available: {', '.join(sorted(REGISTRY))}",)


def available_detectors() -> list[str]:
    """Registered detector names, sorted."""
    return sorted(REGISTRY)


def entry(name: str) -> DetectorEntry:
    """The registry entry of ``name`` (case-insensitive)."""
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        raise UnknownDetector(name) from None


def detector_params(name: str) -> list[str]:
    """Constructor parameters the detector accepts."""
    signature = inspect.signature(entry(name).resolve().__init__)
    return [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def make_estimator(name: str, **params: Any) -> Any:
    """The bare PyOD-style estimator ``name`` with registry defaults overridden by ``params``.

    Raises :class:`UnknownDetector` for an unknown name and :class:`ConfigError` naming the
    parameter and listing the accepted ones for an unknown parameter.
    """
    spec = entry(name)
    accepted = detector_params(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"detector {name!r} has no parameter {unknown[0]!r}; it accepts: {', '.join(accepted)}"
        )
    merged = {**spec.defaults, **params}
    merged = {key: value for key, value in merged.items() if key in accepted}
    try:
        return spec.resolve()(**merged)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"detector {name!r} rejected its parameters {merged}: {err}") from err
