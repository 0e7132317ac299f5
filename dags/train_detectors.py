"""
### train_detectors

Retrain every sensor group's anomaly detector and promote the winners.

1. **export_features**: readings from the time-series store -> features by the shared
   transforms (`sensorguard.transforms`) -> Feast's offline Parquet tables.
2. **materialize_features**: `feast apply` + materialize into the online store.
3. **list_groups** -> **train** (one mapped task per model spec in `models/`): fit each
   candidate detector on point-in-time features read back from Feast; log runs and pyfunc
   models to MLflow.
4. **evaluate**: score the held-out window against labelled faults (and re-score the current
   champion on the same rows); metrics and plots go to the runs.
5. **register**: every candidate becomes a version of `sensorguard-<group>` with tags.
6. **promote**: the quality gate moves `@champion` (the former one keeps `@previous`).

Params: `group` (one group, default all), `days` (history to read), `labels` (CSV of fault
windows; default `SENSORGUARD_LABELS_PATH`), `trigger_reason` (e.g. `drift:<group>`), `end`
(ISO time; default now). Every task is one call into `sensorguard.pipelines`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

DEFAULT_ARGS = {"owner": "sensorguard", "retries": 2, "retry_delay": timedelta(minutes=2)}


def _params() -> dict[str, Any]:
    return dict(get_current_context()["params"])


def _actor() -> str:
    """Whom the audit log credits with this DAG's registry changes."""
    return f"airflow:{get_current_context()['dag'].dag_id}"


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["sensorguard", "training", "mlflow", "feast"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        "group": None,
        "days": None,
        "labels": None,
        "trigger_reason": "scheduled",
        "end": None,
    },
)
def train_detectors() -> None:
    @task
    def export_features() -> dict[str, Any]:
        from sensorguard.pipelines import export_features
        from sensorguard.settings import get_settings

        p = _params()
        return export_features(get_settings(), end=p["end"], days=p["days"], group=p["group"])

    @task
    def materialize_features(exported: dict[str, Any]) -> dict[str, Any]:
        from sensorguard.pipelines import materialize_features
        from sensorguard.settings import get_settings

        return {**materialize_features(get_settings(), end=exported["end"]), "end": exported["end"]}

    @task
    def list_groups(materialized: dict[str, Any]) -> list[str]:
        from sensorguard.pipelines import training_groups
        from sensorguard.settings import get_settings

        return training_groups(get_settings(), _params()["group"])

    @task
    def train(group: str, materialized: dict[str, Any]) -> dict[str, Any]:
        from sensorguard.pipelines import train_group
        from sensorguard.settings import get_settings

        p = _params()
        return train_group(
            get_settings(),
            group,
            end=materialized["end"],
            days=p["days"],
            source="feast",
            trigger_reason=p["trigger_reason"] or "scheduled",
        )

    @task
    def evaluate(trained: dict[str, Any]) -> dict[str, Any]:
        from sensorguard.pipelines import evaluate_group
        from sensorguard.settings import get_settings

        return evaluate_group(get_settings(), trained, labels_path=_params()["labels"])

    @task
    def register(evaluated: dict[str, Any]) -> dict[str, Any]:
        from sensorguard.pipelines import register_group
        from sensorguard.settings import get_settings

        return register_group(get_settings(), evaluated, actor=_actor())

    @task
    def promote(registered: dict[str, Any]) -> dict[str, Any]:
        from sensorguard.pipelines import promote_group
        from sensorguard.settings import get_settings

        return promote_group(get_settings(), registered, actor=_actor())

    materialized = materialize_features(export_features())  # type: ignore[arg-type]
    # TaskFlow wiring passes XComArgs where the task bodies receive their values.
    groups = list_groups(materialized)  # type: ignore[arg-type]
    trained = train.partial(materialized=materialized).expand(group=groups)
    promote.expand(registered=register.expand(evaluated=evaluate.expand(trained=trained)))


train_detectors()
