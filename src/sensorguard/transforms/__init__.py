"""Feature transforms shared by training (batch) and serving (stream): one definition, two paths."""

from sensorguard.transforms.batch import compute_features
from sensorguard.transforms.spec import FeatureSpec, feature_names
from sensorguard.transforms.stream import FeatureState

__all__ = ["FeatureSpec", "FeatureState", "compute_features", "feature_names"]
