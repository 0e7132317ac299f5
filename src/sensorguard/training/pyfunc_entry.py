"""MLflow "model from code" entry: loading a SensorGuard pyfunc model runs this file."""

from mlflow.models import set_model

from sensorguard.training.pyfunc import DetectorModel

set_model(DetectorModel())
