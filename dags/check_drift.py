"""
### check_drift

Compare each sensor group's recent data with its champion's training rows, count the
operators' false-alarm verdicts, and retrain the groups that drifted or were judged wrong.

1. **check**: per group (with a @champion), Evidently compares the champion's training
   snapshot (reference) with the recent window (current): drift of every feature (normed
   Wasserstein), shift of the champion's score distribution, change of its flag rate. The
   `drift:` policy of the group's model spec decides. Each check writes an HTML report under
   `<data_dir>/reports/drift/` and logs it with its metrics to the MLflow experiment
   `sensorguard.drift`.
2. **feedback**: per group, the false-alarm verdicts on its sensors' alerts since its
   champion was registered, against the spec's `feedback.false_alarms_to_retrain`.
3. **retraining_confs**: one `train_detectors` run conf per group to retrain, with
   `trigger_reason` = `drift: <group>: <reasons>` or `feedback: N false alarms on <group>`
   (drift first when both; none within the policy's cooldown of a previous retraining).
4. **trigger_training** (mapped over those confs): triggers `train_detectors` for the group.
   No drift, no conf, no mapped instance: the task is skipped and nothing retrains. The
   training run's quality gate still decides promotion.

Params: `group` (one group, default all), `hours` (window; default the spec's
`drift.window_hours`), `end` (ISO time; default now). Every task is one call into
`sensorguard.pipelines`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, get_current_context, task

DEFAULT_ARGS = {"owner": "sensorguard", "retries": 2, "retry_delay": timedelta(minutes=2)}


@dag(
    # Every 6 h over a 24 h window: drift shows within hours, and each check writes a ~4 MB
    # report per group.
    schedule="0 */6 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["sensorguard", "drift", "evidently", "mlflow"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={"group": None, "hours": None, "end": None},
)
def check_drift() -> None:
    @task
    def check() -> list[dict[str, Any]]:
        from sensorguard.pipelines import drift_checks
        from sensorguard.settings import get_settings

        p = get_current_context()["params"]
        return drift_checks(get_settings(), group=p["group"], hours=p["hours"], end=p["end"])

    @task
    def feedback() -> list[dict[str, Any]]:
        from sensorguard.pipelines import feedback_checks
        from sensorguard.settings import get_settings

        return feedback_checks(get_settings(), group=get_current_context()["params"]["group"])

    @task
    def retraining_confs(
        drift: list[dict[str, Any]], verdicts: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        from sensorguard.pipelines import retraining_confs

        return retraining_confs(drift + verdicts, end=get_current_context()["params"]["end"])

    confs = retraining_confs(check(), feedback())  # type: ignore[arg-type]
    # TaskFlow wiring passes XComArgs where the task bodies receive their values.
    TriggerDagRunOperator.partial(
        task_id="trigger_training",
        trigger_dag_id="train_detectors",
        # A retried trigger must not start a second training of the same group.
        trigger_run_id="drift__{{ run_id }}__{{ ti.map_index }}",
        skip_when_already_exists=True,
    ).expand(conf=confs)


check_drift()
