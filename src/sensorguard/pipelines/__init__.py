"""Pipeline bodies shared by the Airflow DAGs, the CLI and the demo: one call per task.

Names resolve lazily so that a DAG file or the CLI importing this package pays nothing until
a step actually runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports

if TYPE_CHECKING:
    from sensorguard.pipelines.demo import demo_training
    from sensorguard.pipelines.drift import (
        check_drift,
        check_feedback,
        drift_checks,
        feedback_checks,
        retrain_drifted,
        retraining_confs,
    )
    from sensorguard.pipelines.features import (
        apply_features,
        export_features,
        materialize_features,
    )
    from sensorguard.pipelines.training import (
        evaluate_group,
        promote_group,
        register_group,
        run_training,
        train_group,
        training_groups,
    )

_WHERE = {
    "demo_training": "demo",
    "check_drift": "drift",
    "drift_checks": "drift",
    "check_feedback": "drift",
    "feedback_checks": "drift",
    "retrain_drifted": "drift",
    "retraining_confs": "drift",
    "apply_features": "features",
    "export_features": "features",
    "materialize_features": "features",
    "evaluate_group": "training",
    "promote_group": "training",
    "register_group": "training",
    "run_training": "training",
    "train_group": "training",
    "training_groups": "training",
}

__all__ = [
    "apply_features",
    "check_drift",
    "check_feedback",
    "demo_training",
    "drift_checks",
    "evaluate_group",
    "export_features",
    "feedback_checks",
    "materialize_features",
    "promote_group",
    "register_group",
    "retrain_drifted",
    "retraining_confs",
    "run_training",
    "train_group",
    "training_groups",
]


__getattr__ = lazy_exports(__name__, _WHERE)
