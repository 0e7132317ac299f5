"""Training and evaluation of per-group detectors: datasets, fitting, metrics, MLflow models.

The submodules import pandas, PyOD or MLflow; import them where they are used.
"""
