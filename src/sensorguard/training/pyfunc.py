"""The MLflow python_function flavour of a DetectorBundle: log it, load it, predict with it."""

from __future__ import annotations

import logging
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from sensorguard.training.bundle import DetectorBundle

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

BUNDLE_ARTIFACT = "bundle"
MODEL_NAME = "model"
# Pinned from the running environment: MLflow would otherwise infer requirements by loading
# the model in a subprocess, which costs seconds per candidate.
_REQUIREMENTS = ("numpy", "pandas", "scikit-learn", "pyod", "pydantic", "mlflow")


class DetectorModel(PythonModel):
    """Scores readings (sensor_id, ts, channels) or precomputed features: score, flag, threshold."""

    def load_context(self, context: Any) -> None:
        with Path(context.artifacts[BUNDLE_ARTIFACT]).open("rb") as handle:
            self.bundle: DetectorBundle = pickle.load(handle)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return self.bundle.predict(model_input)


def _signature(bundle: DetectorBundle) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    # Every input column is optional: callers send either readings or the feature columns,
    # and the bundle says which one is missing what.
    inputs: list[Any] = [
        ColSpec("string", "sensor_id", required=False),
        # MLflow's datetime type refuses timezone-aware values; readings carry UTC-aware ts.
        ColSpec(AnyType(), "ts", required=False),  # type: ignore[no-untyped-call]
        *(ColSpec("double", c, required=False) for c in bundle.feature_spec.channels),
        *(ColSpec("double", n, required=False) for n in bundle.feature_names),
    ]
    outputs: list[Any] = [
        ColSpec("double", "score"),
        ColSpec("boolean", "flag"),
        ColSpec("double", "threshold"),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def _requirements() -> list[str]:
    pins = []
    for name in _REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Hold back MLflow's per-model INFO/WARNING chatter (input-example checks, pip version)."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def log_bundle(bundle: DetectorBundle, input_example: pd.DataFrame) -> ModelInfo:
    """Log the bundle as the active run's pyfunc model `model` (signature + input example)."""
    with tempfile.TemporaryDirectory() as tmp, quiet_mlflow():
        path = Path(tmp) / "bundle.pkl"
        with path.open("wb") as handle:
            pickle.dump(bundle, handle, protocol=pickle.HIGHEST_PROTOCOL)
        info: ModelInfo = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            # Model from code: MLflow stores the entry file, not a cloudpickle of a live object.
            python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
            artifacts={BUNDLE_ARTIFACT: str(path)},
            signature=_signature(bundle),
            input_example=input_example,
            pip_requirements=_requirements(),
        )
        return info


def load_bundle(model_uri: str) -> DetectorBundle:
    """The DetectorBundle inside a logged pyfunc model (skips pyfunc's schema enforcement)."""
    model = mlflow.pyfunc.load_model(model_uri)
    wrapped = model.unwrap_python_model()
    bundle: DetectorBundle = wrapped.bundle
    return bundle
